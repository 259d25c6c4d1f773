"""What ``heal report`` and the ``/heal`` pages show, read from what a campaign already stores.

Per iteration: the status row (``heal status --json``), accurate / candidate / failed per composition × phase
group (each run's ``model_devi.out`` screened again with the levels its selection used, ``select.json``),
the max force deviations (eV/Å) with those levels, the held-out RMSEs of every model (force eV/Å, energy and
virial eV/atom, force per element), oracle against model forces on the held-out frames of the latest ensemble
(``dp test`` details), the (deviation, true error) calibration pairs and fitted levels, labels against the
budget, the wall time of each stage (the FireWorks launches), and the validation rows (model, oracle, thesis) of
every validated iteration with the campaign's tolerances.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from heal.campaign import Campaign


def _read(p: Path):
    try:
        return json.loads(Path(p).read_text())
    except (OSError, ValueError):
        return None


def run_dirs(camp: Campaign, it: int) -> list[Path]:
    """The exploration runs of iteration `it` (directories holding ``model_devi.out``)."""
    return sorted(p.parent for p in (camp.iter_dir(it) / "explore").glob("task-*/*/model_devi.out"))


def deviations(camp: Campaign, it: int) -> dict:
    """Max force deviations (eV/Å) of every explored frame, the levels used and counts per group."""
    from heal.explore.parse import read_model_devi
    from heal.select.pipeline import run_calibration_group
    from heal.select.screen import screen_file
    from heal.systems import read_seed_set

    spec = camp.cfg.select
    sel = _read(camp.iter_dir(it) / "select" / "select.json") or {}
    used = sel.get("levels") or {}
    seeds = {s.name: s.atoms for s in read_seed_set(camp.seeds_dir)} if camp.seeds_dir.is_dir() else {}
    devi: list[np.ndarray] = []
    groups: dict[str, dict] = {}
    levels: set[tuple[float, float]] = set()
    for rd in run_dirs(camp, it):
        devi.append(read_model_devi(rd / "model_devi.out")["max_devi_f"])
        if rd.name not in used:
            continue  # selection has not run yet for this iteration
        lo, hi = used[rd.name]
        levels.add((float(lo), float(hi)))
        res = screen_file(rd / "model_devi.out", lo, hi, spec.v_lo, spec.v_hi)
        g = groups.setdefault(run_calibration_group(rd, seeds), {"accurate": 0, "candidate": 0, "failed": 0})
        g["accurate"] += int(res.counts.accurate)
        g["candidate"] += int(res.counts.candidate)
        g["failed"] += int(res.counts.failed)
    return {"max_devi_f": np.concatenate(devi) if devi else np.zeros(0), "levels": sorted(levels),
            "groups": dict(sorted(groups.items()))}


def model_tests(camp: Campaign, it: int) -> list[dict]:
    """The held-out test of each model of iteration `it` (models that were tested)."""
    out = []
    for k in range(camp.cfg.n_models):
        mdir = camp.model_dir(it, k)
        d = _read(mdir / "heal.json") or _read(mdir / "done.json")
        if d and d.get("test"):
            out.append({"model": k, "dir": str(mdir), **d["test"]})
    return out


def force_parity(camp: Campaign, it: int) -> dict | None:
    """Oracle against model force components (eV/Å) on the held-out frames: ``dp test`` details of the
    first tested model of iteration `it` (None if there are none)."""
    for k in range(camp.cfg.n_models):
        f = camp.model_dir(it, k) / "test_detail.f.out"
        if f.is_file():
            a = np.loadtxt(f, ndmin=2)
            if a.size:
                return {"model": k, "oracle": a[:, :3].reshape(-1), "model_f": a[:, 3:6].reshape(-1)}
    return None


def learning_curve(camp: Campaign, it: int) -> dict | None:
    """Training curve (step, force RMSE on the training batch) of model 0 of iteration `it`."""
    from heal.train.deepmd import read_lcurve

    p = camp.model_dir(it, 0) / "lcurve.out"
    if not p.is_file():
        return None
    rows = read_lcurve(p)
    if not rows or "rmse_f_trn" not in rows[0]:
        return None
    return {"step": [r["step"] for r in rows], "rmse_f_trn": [r["rmse_f_trn"] for r in rows]}


def stage_times(lp, camp: Campaign) -> dict[int, dict[str, float]]:
    """Iteration -> stage (train, explore, select, label, plan, init) -> wall seconds of its launches."""
    out: dict[int, dict[str, float]] = {}
    if lp is None:
        return out
    for doc in lp.fireworks.find({"spec.campaign": str(camp.root)},
                                 projection=["name", "launches", "spec.iteration"]):
        stage = (doc.get("name") or "?").split()[-1].split("-")[0]  # "demo it1 label-0" -> "label"
        it = int((doc.get("spec") or {}).get("iteration") or 0)
        for lid in doc.get("launches") or []:
            launch = lp.launches.find_one({"launch_id": lid}, projection=["runtime_secs", "time_start", "time_end"])
            secs = (launch or {}).get("runtime_secs")
            if secs:
                d = out.setdefault(it, {})
                d[stage] = d.get(stage, 0.0) + float(secs)
    return out


def report_data(camp: Campaign, lp=None) -> dict:
    """Everything the report and the live pages draw, from the campaign's files and its LaunchPad."""
    from heal.report.status import campaign_status

    st = campaign_status(camp, lp)
    times = stage_times(lp, camp)
    its = []
    for row in st["iterations"]:
        it = row["iteration"]
        tests = model_tests(camp, it)
        its.append({
            "row": row,
            "deviation": deviations(camp, it),
            "tests": tests,
            "rmse_virial_per_atom": (float(np.mean([t["rmse_v_per_atom"] for t in tests
                                                    if t.get("rmse_v_per_atom") is not None]))
                                     if any(t.get("rmse_v_per_atom") is not None for t in tests) else None),
            "parity": force_parity(camp, it),
            "lcurve": learning_curve(camp, it),
            "calibration": _read(camp.iter_dir(it) / "calibration.json"),
            "pairs": _read(camp.iter_dir(it) / "calibration_pairs.json") or [],
            "times": times.get(it, {}),
        })
    tol = camp.cfg.loop.validation
    return {"status": st, "iterations": its, "label_budget": camp.cfg.loop.label_budget,
            "validate_tolerance": tol.model_dump(mode="json") if tol is not None else None,
            "init_times": {k: v for k, v in times.get(0, {}).items() if k == "init"}}
