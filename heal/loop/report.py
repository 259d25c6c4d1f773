"""Iteration reports and the plan stage.

``iter-XXX/report.json`` is written by the plan step from the stage outputs on disk; ``heal status`` reads
these reports (and the live FireWorks states for iterations still running).
Units: RMSE of forces eV/Å, energies eV/atom.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import numpy as np

from heal.campaign import Campaign
from heal.fsutil import atomic_write_json
from heal.plan import Decision, IterationSummary, decide


def _read(p: Path) -> dict | None:
    try:
        return json.loads(p.read_text())
    except (OSError, ValueError):
        return None


def collect(camp: Campaign, it: int, stage: int | None = None) -> dict:
    """Everything known about iteration `it` from its files (works on a finished or a running iteration)."""
    idir = camp.iter_dir(it)
    models = []
    for k in range(camp.cfg.n_models):
        mdir = camp.model_dir(it, k)
        d = _read(mdir / "heal.json") or _read(mdir / "done.json")  # heal.json: engines whose done.json differs
        if d:
            models.append(d)
    tests = [m["test"] for m in models if m.get("test")]
    sel = _read(idir / "select" / "select.json") or {}
    batches = [b for b in (_read(p) for p in sorted((idir / "label").glob("batch-*.json"))) if b]
    rmse_f = float(np.mean([t["rmse_f"] for t in tests])) if tests else None
    rmse_e = float(np.mean([t["rmse_e_per_atom"] for t in tests])) if tests else None
    explored = sel.get("accurate", 0) + sel.get("candidate", 0) + sel.get("failed", 0)
    rep = {
        "iteration": it,
        "stage": stage,
        "models": [m["model"] for m in models],
        "explored": explored,
        "accurate": sel.get("accurate", 0),
        "candidate": sel.get("candidate", 0),
        "failed": sel.get("failed", 0),
        "accurate_ratio": sel.get("accurate", 0) / explored if explored else None,
        "candidate_ratio": sel.get("candidate", 0) / explored if explored else None,
        "failed_ratio": sel.get("failed", 0) / explored if explored else None,
        "selected": sel.get("selected", 0),
        "labeled": sum(b["labeled"] for b in batches),
        "rejected": sum(len(b["rejected"]) for b in batches),
        "rejections": [r for b in batches for r in b["rejected"]],
        "rmse_force": rmse_f,
        "rmse_energy_per_atom": rmse_e,
        "rmse_force_by_element": _mean_dicts([t.get("rmse_f_by_element", {}) for t in tests]),
        "train_seconds": sum(m.get("seconds", 0.0) for m in models),
        "label_seconds": sum(b.get("seconds", 0.0) for b in batches),
    }
    if camp.cfg.validation is not None:  # the validate stage's verdict and rows (heal.validate.stage)
        from heal.validate.stage import validation_rows

        rep["validation"] = validation_rows(camp, it)
    return rep


def _mean_dicts(ds: list[dict]) -> dict:
    keys = sorted({k for d in ds for k in d})
    return {k: float(np.mean([d[k] for d in ds if k in d])) for k in keys}


def summary_of(rep: dict) -> IterationSummary:
    return IterationSummary(iteration=rep["iteration"], stage=rep["stage"] or 0, accurate=rep["accurate"],
                            candidate=rep["candidate"], failed=rep["failed"], labeled=rep["labeled"],
                            rejected=rep["rejected"], validated=(rep.get("validation") or {}).get("ok"))


def history(camp: Campaign) -> list[dict]:
    """Reports of the finished iterations, in order."""
    return [r for r in (_read(camp.report_path(i)) for i in camp.iterations()) if r]


def stage_plan(camp: Campaign, it: int, stage: int) -> tuple[dict, Decision]:
    """Write iteration `it`'s report and decide what follows (pure decision on the reports)."""
    rep = collect(camp, it, stage)
    if camp.cfg.select.trust == "calibrated" and camp.cfg.train.engine == "deepmd":
        from heal.loop.stages import models_of
        from heal.select.calibration_stage import calibrate_after

        cal = calibrate_after(camp, it, models_of(camp, it))
        rep["calibration"] = {k: v for k, v in cal.items() if k != "table"}
        rep["calibration_table"] = cal["table"]
    past = [r for r in history(camp) if r["iteration"] < it]
    dec = decide([summary_of(r) for r in past + [rep]], camp.cfg.loop, len(camp.cfg.explore.stages))
    rep["decision"] = asdict(dec)
    rep["state"] = "completed"
    atomic_write_json(camp.report_path(it), rep)
    if dec.stop:
        atomic_write_json(camp.root / "finished.json", {"iteration": it, **asdict(dec)})
    return rep, dec
