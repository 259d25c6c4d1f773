"""The DeePMD engine (``train: {engine: deepmd}``, the default): the hooks of :mod:`heal.engines`.

An ensemble of N frozen DeePMD models (``model-XX/graph.pb``) per iteration; exploration is LAMMPS with
``pair_style deepmd`` and the inline model deviation; selection is trust levels (fixed or calibrated) plus a
max-volume pick; with ``select.trust: calibrated`` the levels are refitted after each iteration's labels.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from heal.campaign import Campaign
from heal.loop.selection import finish_select, selection_cap


def models_of(camp: Campaign, it: int) -> list[Path]:
    return [camp.model_dir(it, k) / "graph.pb" for k in range(camp.cfg.n_models)]


def train(camp: Campaign, it: int, member: int | None = None) -> dict:
    """Train the iteration's ensemble (every member in one submission), or only `member`."""
    from heal.train.deepmd import Member, train_ensemble

    from heal.grow.start import train_plan

    grow = train_plan(camp, it)  # a grown campaign: its first training is a finetune of the parent's models
    spec = grow["spec"] if grow else camp.cfg.train
    members = []
    for j in range(camp.cfg.n_models) if member is None else [member]:
        prev = camp.model_dir(it - 1, j) / "graph.pb" if it > 0 and spec.init_from_previous else None
        prev = grow["init"][j] if grow and grow["init"] else prev
        tested = spec.test_members is None or j < spec.test_members
        members.append(Member(camp.model_dir(it, j), seed=(spec.seed * 1_000_003 + it * 101 + j) % (2**31 - 1),
                              init_model=prev if prev is not None and prev.is_file() else None,
                              test_systems=(camp.testset.system_dirs() or None) if tested else None))
    results = train_ensemble(spec, camp.cfg.model_type_map, grow["systems"] if grow else camp.dataset.system_dirs(),
                             members, camp.executor, auto_prob=grow["auto_prob"] if grow else None)
    tests = [r.test for r in results if r.test is not None]
    return {"models": [r.model for r in results], "seconds": max(r.seconds for r in results),
            "rmse_f": float(np.mean([t.rmse_f for t in tests])) if tests else None,
            "rmse_e_per_atom": float(np.mean([t.rmse_e_per_atom for t in tests])) if tests else None}


def explore(camp: Campaign, it: int, tasks: list) -> dict:
    """Every task's MD runs in one LAMMPS process, all tasks in one submission."""
    from heal.explore.lammps import run_tasks_together

    outs = [o for group in run_tasks_together(tasks, models_of(camp, it), camp.type_map, camp.cfg.explore,
                                              camp.executor)
            for o in group]
    return {"runs": len(outs), "frames": sum(o.n_frames for o in outs),
            "errors": [f"{o.name}: {o.error}" for o in outs if o.error]}


def select(camp: Campaign, it: int) -> dict:
    """Classify every explored frame by the ensemble deviation, then pick candidates (max-volume)."""
    from heal.select.pipeline import pick, screen_runs
    from heal.systems import read_seed_set

    calibrated = camp.cfg.select.trust == "calibrated"  # groups are named after the seeds' composition/phase
    seeds = {s.name: s.atoms for s in read_seed_set(camp.seeds_dir)} if calibrated else {}
    run_dirs = sorted(p.parent for p in (camp.iter_dir(it) / "explore").glob("task-*/*/done.json"))
    totals, cands, levels = screen_runs(camp, run_dirs, seeds, it)
    cap, extra = selection_cap(camp, it), []
    if camp.cfg.validation is not None:  # frames of unstable validation MD: a failure the exploration did not
        from heal.validate.stage import unstable_candidates  # see; they take their places first

        extra = unstable_candidates(camp, it, cap)
    frames, stats = pick(camp, it, cands, models_of(camp, it), max(0, cap - len(extra)))
    if camp.cfg.validation is not None:
        frames, stats = frames + extra, {**stats, "from_validation": len(extra)}
    counts = {"accurate": int(totals[0]), "candidate": int(totals[1]), "failed": int(totals[2])}
    return finish_select(camp, it, frames, counts, strategy=camp.cfg.select.strategy, runs=len(run_dirs),
                         levels=levels, **stats)


def after_iteration(camp: Campaign, it: int) -> dict | None:
    """With ``select.trust: calibrated``: refit the trust levels on this iteration's labels."""
    if camp.cfg.select.trust != "calibrated":
        return None
    from heal.select.calibration_stage import calibrate_after

    cal = calibrate_after(camp, it, models_of(camp, it))
    return {"calibration": {k: v for k, v in cal.items() if k != "table"}, "calibration_table": cal["table"]}
