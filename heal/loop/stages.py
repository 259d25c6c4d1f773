"""The stage functions of one iteration: ``(campaign, iteration, index) -> small JSON-able dict``.

Each stage reads its inputs from deterministic paths of the campaign directory, writes its outputs there,
and is idempotent: finished work is found by its done-markers (written last, atomically) and never redone.
The FireTasks in :mod:`heal.fw.tasks` are thin shells around these functions.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict

import numpy as np
from ase.io import read

from heal.campaign import Campaign
from heal.errors import ConfigError, FatalError
from heal.engines import get_engine
from heal.explore.lammps import ladder_runs
from heal.fsutil import atomic_write_json
from heal.loop.report import collect, history, summary_of
from heal.plan import Decision, decide

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
    if camp.cfg.grow_from:  # heal.grow: the parent's frames first (they form the first chunks)
        from heal.grow.start import import_parent

        out["grown_from"] = import_parent(camp)
    for field, into, key in (("data", camp.dataset, "imported"), ("heldout", camp.testset, "heldout_imported")):
        if getattr(camp.cfg.init, field):
            from heal.data.importer import import_files

            paths = list(getattr(camp.cfg.init, field))  # absolute since Campaign.create froze them
            reports = import_files(paths, into, trim=camp.cfg.init.trim if field == "data" else 0,
                                   d_min=camp.cfg.label.d_min)
            out[key] = sum(r.added for r in reports)
            out["import_reports"] += [{"file": str(r.path), "field": f"init.{field}", "added": r.added,
                                       "error": r.error} for r in reports]
            if field == "heldout" and not out[key]:
                raise ConfigError(f"{camp.cfg.source}: field 'init.heldout': no frame could be imported from "
                                  f"{', '.join(paths)} ({'; '.join(str(r.error) for r in reports if r.error)}); "
                                  f"give labeled frames (vasprun.xml, OUTCAR, extxyz with energies and forces, "
                                  f"DeePMD systems) or remove the field")
    frames = initial_frames(camp)
    res = label_frames(frames, camp.cfg.label, camp.root / "init" / "label", camp.executor, partial=True)
    added = camp.append_labels(res.labeled, {"stage": "init", "iteration": -1, "oracle": camp.cfg.label.oracle})
    if res.stopped_by is not None:
        raise res.stopped_by  # what was labeled before it is stored; 'heal resume' labels the rest
    out.update(labeled=len(res.labeled), rejected=res.rejected, **added)
    if len(camp.dataset) == 0:
        raise FatalError(f"{camp.root}: no initial training data: all {len(frames)} initial labels were rejected "
                         f"({res.rejected[:3]}...) and init.data imported nothing; fix the oracle or add data")
    from heal.loop.heldout import make_heldout

    out["heldout"] = make_heldout(camp)  # init.heldout_md: held-out frames from the oracle's MD
    atomic_write_json(done, out)
    return out


# -- train ----------------------------------------------------------------------------------------------
def stage_train(camp: Campaign, it: int, k: int | None = None) -> dict:
    """Train the iteration's models with the campaign's engine (every member in one submission), or only `k`."""
    return get_engine(camp.cfg.train.engine).train(camp, it, k)


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
    tasks = [([(run, seeds[sname]) for sname, run in plan[j]], camp.explore_task_dir(it, j)) for j in which]
    return get_engine(camp.cfg.train.engine).explore(camp, it, tasks)


# -- select ---------------------------------------------------------------------------------------------
def stage_select(camp: Campaign, it: int) -> dict:
    """Classify every explored frame, pick candidates, write them to ``select/candidates.extxyz`` (engine's hook)."""
    sdir = camp.iter_dir(it) / "select"
    done = sdir / "select.json"
    if done.is_file():
        return json.loads(done.read_text())
    return get_engine(camp.cfg.train.engine).select(camp, it)


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


# -- plan -----------------------------------------------------------------------------------------------
def stage_plan(camp: Campaign, it: int, stage: int) -> tuple[dict, Decision]:
    """Write iteration `it`'s report and decide what follows (:func:`heal.plan.decide` on the reports)."""
    rep = collect(camp, it, stage)
    rep.update(get_engine(camp.cfg.train.engine).after_iteration(camp, it) or {})
    from heal.grow.guard import check_forgetting, guarded

    fg = check_forgetting(camp, it)  # None unless the campaign grows from another (grow_from)
    if fg is not None:
        rep["forgetting"] = fg
    past = [r for r in history(camp) if r["iteration"] < it]
    dec = decide([summary_of(r) for r in past + [rep]], camp.cfg.loop, len(camp.cfg.explore.stages))
    dec = guarded(dec, fg, camp.cfg.grow.strict)
    rep["decision"] = asdict(dec)
    rep["state"] = "completed"
    atomic_write_json(camp.report_path(it), rep)
    if dec.stop:
        atomic_write_json(camp.root / "finished.json", {"iteration": it, **asdict(dec)})
    return rep, dec
