"""The stage functions of one iteration: ``(campaign, iteration, index) -> small JSON-able dict``.

Each stage reads its inputs from deterministic paths of the campaign directory, writes its outputs there,
and is idempotent: finished work is found by its done-markers (written last, atomically) and never redone.
The FireTasks in :mod:`heal.fw.tasks` are thin shells around these functions.
"""

from __future__ import annotations

import json
import logging
import math
import time
from pathlib import Path

import numpy as np
from ase.io import read, write

from heal.campaign import Campaign
from heal.errors import FatalError
from heal.explore.lammps import ladder_runs, run_groups
from heal.fsutil import atomic_write_json

log = logging.getLogger("heal.loop")


# -- initial data ---------------------------------------------------------------------------------------
def initial_frames(camp: Campaign) -> list:
    """Rattled copies of the seed structures (cycled), deterministic for the seed-set seed."""
    from heal.systems import read_seed_set

    seeds = read_seed_set(camp.seeds_dir)
    rng = np.random.default_rng([camp.cfg.seeds.seed, 12345])
    frames = []
    for i in range(camp.cfg.init.n_seed_labels):
        a = seeds[i % len(seeds)].atoms.copy()
        a.positions += rng.normal(0.0, camp.cfg.init.rattle, size=a.positions.shape)
        a.wrap()
        a.info = {"seed": seeds[i % len(seeds)].name, "init_index": i}
        frames.append(a)
    return frames


def stage_init(camp: Campaign) -> dict:
    """Import the campaign's AIMD data and label rattled seeds with the oracle (iteration 0's data)."""
    from heal.label.runner import label_frames

    done = camp.root / "init" / "init.json"
    if done.is_file():
        return json.loads(done.read_text())
    out: dict = {"imported": 0, "import_reports": []}
    if camp.cfg.init.data:
        from heal.data.importer import import_files

        src = camp.cfg.source.parent if camp.cfg.source else Path.cwd()
        paths = [p if Path(p).is_absolute() else str(src / p) for p in camp.cfg.init.data]
        reports = import_files(paths, camp.dataset, trim=camp.cfg.init.trim, d_min=camp.cfg.label.d_min)
        out["imported"] = sum(r.added for r in reports)
        out["import_reports"] = [{"file": str(r.path), "added": r.added, "error": r.error} for r in reports]
    frames = initial_frames(camp)
    res = label_frames(frames, camp.cfg.label, camp.root / "init" / "label", camp.executor, partial=True)
    added = camp.append_labels(res.labeled, {"stage": "init", "iteration": -1, "oracle": camp.cfg.label.oracle})
    if res.stopped_by is not None:
        raise res.stopped_by  # what was labeled before it is stored; 'heal resume' labels the rest
    out.update(labeled=len(res.labeled), rejected=res.rejected, **added)
    if len(camp.dataset) == 0:
        raise FatalError(f"{camp.root}: no initial training data: all {len(frames)} initial labels were rejected "
                         f"({res.rejected[:3]}...) and init.data imported nothing; fix the oracle or add data")
    atomic_write_json(done, out)
    return out


# -- train ----------------------------------------------------------------------------------------------
def stage_train(camp: Campaign, it: int, k: int | None = None) -> dict:
    """Train the iteration's ensemble (every member in one submission), or only member `k`."""
    from heal.train.deepmd import Member, train_ensemble

    spec = camp.cfg.train
    if spec.engine == "mtp":
        from heal.loop import mtp_stages

        res = mtp_stages.train(camp, it)
        test = res.get("test") or {}
        return {"models": [res["model"]], "seconds": res.get("seconds"), "rmse_f": test.get("rmse_f"),
                "rmse_e_per_atom": test.get("rmse_e_per_atom")}
    members = []
    for j in range(camp.cfg.n_models) if k is None else [k]:
        prev = camp.model_dir(it - 1, j) / "graph.pb" if it > 0 and spec.init_from_previous else None
        tested = spec.test_members is None or j < spec.test_members
        members.append(Member(camp.model_dir(it, j), seed=(spec.seed * 1_000_003 + it * 101 + j) % (2**31 - 1),
                              init_model=prev if prev is not None and prev.is_file() else None,
                              test_systems=(camp.testset.system_dirs() or None) if tested else None))
    results = train_ensemble(spec, camp.type_map, camp.dataset.system_dirs(), members, camp.executor)
    tests = [r.test for r in results if r.test is not None]
    return {"models": [r.model for r in results], "seconds": max(r.seconds for r in results),
            "rmse_f": float(np.mean([t.rmse_f for t in tests])) if tests else None,
            "rmse_e_per_atom": float(np.mean([t.rmse_e_per_atom for t in tests])) if tests else None}


def models_of(camp: Campaign, it: int) -> list[Path]:
    return [camp.model_dir(it, k) / "graph.pb" for k in range(camp.cfg.n_models)]


# -- explore --------------------------------------------------------------------------------------------
def explore_plan(camp: Campaign, it: int, stage: int) -> list[list[tuple[str, object]]]:
    """The MD runs of an iteration, grouped into tasks of ``explore.runs_per_task``."""
    from heal.systems import read_seed_set

    ex = camp.cfg.explore
    st = ex.stages[min(stage, len(ex.stages) - 1)]
    names = [s.name for s in read_seed_set(camp.seeds_dir)]
    chosen = [names[(it * ex.structures_per_iter + j) % len(names)] for j in range(ex.structures_per_iter)]
    runs = ladder_runs(st.temperatures, st.pressures, st.nsteps, chosen, it, camp.cfg.seeds.seed)
    return [runs[i:i + ex.runs_per_task] for i in range(0, len(runs), ex.runs_per_task)]


def stage_explore(camp: Campaign, it: int, stage: int, task: int | None = None) -> dict:
    """Run the iteration's MD tasks (every task in one submission), or only `task`."""
    from heal.systems import read_seed_set

    seeds = {s.name: s.atoms for s in read_seed_set(camp.seeds_dir)}
    plan = explore_plan(camp, it, stage)
    which = range(len(plan)) if task is None else [task]
    if camp.cfg.train.engine == "mtp":
        from heal.loop import mtp_stages

        outs = [mtp_stages.explore(camp, it, [(run, seeds[sname]) for sname, run in plan[j]],
                                   camp.explore_task_dir(it, j)) for j in which]
        return {"runs": sum(o["runs"] for o in outs), "frames": sum(o["frames"] for o in outs),
                "errors": [e for o in outs for e in o["errors"]]}
    tasks = [([(run, seeds[sname]) for sname, run in plan[j]], camp.explore_task_dir(it, j)) for j in which]
    outs = [o for group in run_groups(tasks, models_of(camp, it), camp.type_map, camp.cfg.explore, camp.executor)
            for o in group]
    return {"runs": len(outs), "frames": sum(o.n_frames for o in outs),
            "errors": [f"{o.name}: {o.error}" for o in outs if o.error]}


# -- select ---------------------------------------------------------------------------------------------
def stage_select(camp: Campaign, it: int) -> dict:
    """Classify every explored frame, pick candidates, write them to ``select/candidates.extxyz``."""
    sdir = camp.iter_dir(it) / "select"
    done = sdir / "select.json"
    if done.is_file():
        return json.loads(done.read_text())
    if camp.cfg.train.engine == "mtp":
        from heal.loop import mtp_stages

        return mtp_stages.select(camp, it)
    from heal.select.pipeline import pick, screen_runs
    from heal.systems import read_seed_set

    calibrated = camp.cfg.select.trust == "calibrated"  # groups are named after the seeds' composition/phase
    seeds = {s.name: s.atoms for s in read_seed_set(camp.seeds_dir)} if calibrated else {}
    run_dirs = sorted(p.parent for p in (camp.iter_dir(it) / "explore").glob("task-*/*/done.json"))
    totals, cands, levels = screen_runs(camp, run_dirs, seeds, it)
    frames, stats = pick(camp, it, cands, models_of(camp, it), selection_cap(camp, it))
    if camp.cfg.validation is not None:  # frames of unstable validation MD go to the next label step too
        from heal.validate.stage import unstable_candidates

        extra = unstable_candidates(camp, it, max(0, selection_cap(camp, it) - len(frames)))
        frames, stats = frames + extra, {**stats, "from_validation": len(extra)}
    counts = {"accurate": int(totals[0]), "candidate": int(totals[1]), "failed": int(totals[2])}
    return finish_select(camp, it, frames, counts, strategy=camp.cfg.select.strategy, runs=len(run_dirs),
                         levels=levels, **stats)


def selection_cap(camp: Campaign, it: int) -> int:
    """Frames iteration `it` may select: ``select.max_per_iter``, but never past ``loop.label_budget``
    (labels of the iterations before `it`; initial labels do not count, as in the plan's budget rule)."""
    cap = camp.cfg.select.max_per_iter
    budget = camp.cfg.loop.label_budget
    if budget is None:
        return cap
    from heal.loop.report import history

    used = sum(r.get("labeled", 0) for r in history(camp) if r["iteration"] < it)
    return max(0, min(cap, budget - used))


def finish_select(camp: Campaign, it: int, frames: list, counts: dict, **extra) -> dict:
    """Write the picked frames (``candidates.extxyz``) and ``select.json`` (the done-marker, last)."""
    sdir = camp.iter_dir(it) / "select"
    for a in frames:
        a.info["iteration"] = it
    sdir.mkdir(parents=True, exist_ok=True)
    write(sdir / "candidates.extxyz.tmp", frames, format="extxyz")
    (sdir / "candidates.extxyz.tmp").replace(sdir / "candidates.extxyz")
    bs = camp.cfg.label.batch_size
    out = {**counts, "selected": len(frames), "n_batches": math.ceil(len(frames) / bs) if frames else 0, **extra}
    atomic_write_json(sdir / "select.json", out)
    return out


# -- label ----------------------------------------------------------------------------------------------
def stage_label(camp: Campaign, it: int, batch: int) -> dict:
    from heal.label.runner import label_frames

    ldir = camp.iter_dir(it) / "label"
    bs = camp.cfg.label.batch_size
    cands = read(camp.iter_dir(it) / "select" / "candidates.extxyz", index=":")
    frames = cands[batch * bs:(batch + 1) * bs]
    t0 = time.monotonic()
    res = label_frames(frames, camp.cfg.label, ldir, camp.executor, partial=True)
    added = camp.append_labels(res.labeled, {"stage": "label", "iteration": it, "batch": batch,
                                             "oracle": camp.cfg.label.oracle})
    if res.stopped_by is not None:
        raise res.stopped_by  # what was labeled before it is stored; 'heal resume' labels the rest
    out = {"batch": batch, "frames": len(frames), "labeled": len(res.labeled), "rejected": res.rejected,
           "reused": res.reused, "seconds": time.monotonic() - t0, **added}
    if frames and len(res.rejected) / len(frames) > camp.cfg.label.max_fail_fraction:
        atomic_write_json(ldir / f"batch-{batch:03d}.json", out)
        raise FatalError(f"iteration {it} label batch {batch}: {len(res.rejected)} of {len(frames)} labels "
                         f"rejected (> label.max_fail_fraction = {camp.cfg.label.max_fail_fraction}); first "
                         f"reasons: {[r['reason'] for r in res.rejected[:3]]}; the labeled frames are kept")
    atomic_write_json(ldir / f"batch-{batch:03d}.json", out)
    return out
