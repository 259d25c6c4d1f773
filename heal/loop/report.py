"""Iteration reports, gathered from the stage outputs on disk.

``iter-XXX/report.json`` is written by the plan stage (:func:`heal.loop.stages.stage_plan`) from these; ``heal status`` reads
these reports (and the live FireWorks states for iterations still running).
Units: RMSE of forces eV/Å, energies eV/atom.
"""

from __future__ import annotations

import numpy as np

from heal.campaign import Campaign
from heal.fsutil import read_json_or_none
from heal.plan import IterationSummary


def collect(camp: Campaign, it: int, stage: int | None = None) -> dict:
    """Everything known about iteration `it` from its files (works on a finished or a running iteration)."""
    idir = camp.iter_dir(it)
    models = []
    for k in range(camp.cfg.n_models):
        mdir = camp.model_dir(it, k)
        d = read_json_or_none(mdir / "heal.json") or read_json_or_none(mdir / "done.json")  # heal.json: engines whose done.json differs
        if d:
            models.append(d)
    tests = [m["test"] for m in models if m.get("test")]
    sel = read_json_or_none(idir / "select" / "select.json") or {}
    batches = [b for b in (read_json_or_none(p) for p in sorted((idir / "label").glob("batch-*.json"))) if b]
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
    return [r for r in (read_json_or_none(camp.report_path(i)) for i in camp.iterations()) if r]
