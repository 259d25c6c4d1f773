"""The MTP engine (``train: {engine: mtp}``): the hooks of :mod:`heal.engines` on motep.

One MTP per iteration (``model-00/pot.mtp`` with its active set ``state.npz``); exploration is ASE MD with
the extrapolation grade γ per step (save / break thresholds as in MLIP); selection is ``select-add`` on the
MTP basis. Labeling, the dataset and the plan step are shared with the DeePMD path.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from heal.campaign import Campaign
from heal.fsutil import atomic_write_json


def train(camp: Campaign, it: int, member: int | None = None) -> dict:
    """The iteration's one MTP (`member` is ignored: there is no ensemble)."""
    res = train_potential(camp, it)
    test = res.get("test") or {}
    return {"models": [res["model"]], "seconds": res.get("seconds"), "rmse_f": test.get("rmse_f"),
            "rmse_e_per_atom": test.get("rmse_e_per_atom")}


def train_potential(camp: Campaign, it: int) -> dict:
    """Train ``model-00/pot.mtp``; write what the iteration report reads (``heal.json``)."""
    from heal.train.mtp import train_mtp, training_errors

    spec = camp.cfg.train
    prev = camp.model_dir(it - 1, 0) / "pot.mtp" if it > 0 and spec.init_from_previous else None
    res = train_mtp(spec, camp.type_map, list(camp.dataset.iter_frames()), camp.model_dir(it, 0),
                    seed=(spec.seed * 1_000_003 + it * 101) % (2**31 - 1),
                    init_potential=prev if prev is not None and prev.is_file() else None,
                    executor=camp.executor, grade_mode=camp.cfg.select.mtp_grade_mode)
    out = res.to_dict()
    out["model"] = res.potential
    test = list(camp.testset.iter_frames()) if camp.testset.exists else []
    if test:  # held-out errors, the same fields the DeePMD path reports
        err = training_errors(Path(res.potential), camp.type_map, test)
        out["test"] = {"n_frames": len(test), "rmse_e_per_atom": err.get("rmse_e_per_atom"),
                       "rmse_f": err.get("rmse_f"), "rmse_v_per_atom": err.get("rmse_v_per_atom"),
                       "rmse_f_by_element": {}}
    atomic_write_json(camp.model_dir(it, 0) / "heal.json", out)  # what the iteration report reads
    return out


def explore(camp: Campaign, it: int, tasks: list) -> dict:
    """Run the tasks' MD runs (ASE MD with γ per step) with the iteration's MTP, one task after the other."""
    from heal.explore.mtp import run_mtp_group

    m, ex = camp.model_dir(it, 0), camp.cfg.explore
    outs = [o for items, task_dir in tasks
            for o in run_mtp_group(items, m / "pot.mtp", m / "state.npz", camp.type_map, ex, task_dir,
                                   save=ex.mtp_save, brk=ex.mtp_break)]
    return {"runs": len(outs), "frames": sum(o.frames for o in outs),
            "errors": [f"{o.name}: {o.error}" for o in outs if o.error]}


def select(camp: Campaign, it: int) -> dict:
    """select-add over the runs' preselected frames; counts per MD step by γ (accurate / candidate / failed)."""
    from heal.explore.mtp import count_grades
    from heal.loop.selection import finish_select, selection_cap
    from heal.select.mtp_select import select_from_runs

    run_dirs = sorted(p.parent for p in (camp.iter_dir(it) / "explore").glob("task-*/*/done.json"))
    m = camp.model_dir(it, 0)
    frames, st = select_from_runs(run_dirs, m / "pot.mtp", m / "state.npz", camp.type_map,
                                  selection_cap(camp, it), d_min=camp.cfg.label.d_min,
                                  known=camp.dataset.hashes() | camp.testset.hashes())
    counts = count_grades(run_dirs, camp.cfg.explore.mtp_save, camp.cfg.explore.mtp_break)
    return finish_select(camp, it, frames, counts, runs=len(run_dirs), mtp=asdict(st))


def after_iteration(camp: Campaign, it: int) -> dict | None:
    """Nothing to add: MTP trust is the γ thresholds, not calibrated levels."""
    return None
