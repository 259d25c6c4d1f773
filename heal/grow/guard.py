"""The forgetting guard: a grown campaign's models on every ancestor's held-out frames.

Before growth (``grow/baseline.json``): the parent's final models on each ancestor's held-out set (its
``testset/``). After each training of the child (``iter-XXX/forgetting.json``): every child model on the same
sets. Per ancestor: force RMSE (eV/Å) and energy RMSE (eV/atom) per model and their means, and the relative
rise of the mean force RMSE over the baseline. A rise above ``grow.max_forgetting`` is a warning with the
numbers; with ``grow.strict`` the plan step stops the campaign (heal.loop.report.stage_plan).
All ``dp test`` runs of one check go to the executor together (one submission).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from heal.fsutil import atomic_write_json

log = logging.getLogger("heal.grow")


def _ancestor_sets(camp) -> list[tuple[dict, list[Path]]]:
    from heal.data.dataset import Dataset
    from heal.grow.start import grow_dir

    lin = json.loads((grow_dir(camp.root) / "lineage.json").read_text())
    out = []
    for a in lin["ancestors"]:
        ts = Dataset(Path(a["root"]) / "testset")
        dirs = ts.system_dirs() if ts.exists else []
        if dirs:
            out.append((a, dirs))
    return out


def _key(a: dict) -> str:
    return f"{a['name']}" + (f" ({a['family']})" if a.get("family") else "")


def _test_all(camp, cases: list[tuple[Path, list[Path], Path]]) -> list:
    from heal.train.deepmd import run_dp_tests

    res = run_dp_tests(cases, camp.cfg.model_type_map, camp.executor)
    for r in res:
        if isinstance(r, Exception):
            raise r
    return res


def _summary(tests: list) -> dict:
    f = [t.rmse_f for t in tests]
    e = [t.rmse_e_per_atom for t in tests]
    return {"n_frames": tests[0].n_frames, "rmse_f": f, "rmse_e_per_atom": e,
            "rmse_f_mean": float(np.mean(f)), "rmse_e_per_atom_mean": float(np.mean(e))}


def baseline(camp) -> dict:
    """The parent's final models on every ancestor's held-out set (computed once; ``grow/baseline.json``)."""
    from heal.grow.start import grow_dir, parent_models

    path = grow_dir(camp.root) / "baseline.json"
    if path.is_file():
        return json.loads(path.read_text())
    sets = _ancestor_sets(camp)
    models = parent_models(camp.root)
    cases = [(m, dirs, grow_dir(camp.root) / "baseline" / f"a{i}-m{k}") for i, (_, dirs) in enumerate(sets)
             for k, m in enumerate(models)]
    for _, _, wd in cases:
        wd.mkdir(parents=True, exist_ok=True)
    res = _test_all(camp, cases)
    out, n = {}, len(models)
    for i, (a, _) in enumerate(sets):
        out[_key(a)] = _summary(res[i * n:(i + 1) * n])
    atomic_write_json(path, out)
    return out


def check_forgetting(camp, it: int) -> dict | None:
    """Test iteration `it`'s models on every ancestor's held-out set; None unless the campaign is grown.

    Returns (and writes to ``iter-XXX/forgetting.json``) ``{"families": {name: {rmse_f, rmse_e_per_atom,
    rmse_f_mean, before_rmse_f, rise, ...}}, "max_forgetting", "exceeded": [names], "message"}``.
    """
    if not camp.cfg.grow_from or camp.cfg.train.engine != "deepmd":
        return None
    path = camp.iter_dir(it) / "forgetting.json"
    if path.is_file():
        return json.loads(path.read_text())
    before = baseline(camp)
    sets = _ancestor_sets(camp)
    models = [camp.model_dir(it, k) / "graph.pb" for k in range(camp.cfg.n_models)]
    cases = [(m, dirs, camp.iter_dir(it) / "forgetting" / f"a{i}-m{k}") for i, (_, dirs) in enumerate(sets)
             for k, m in enumerate(models)]
    for _, _, wd in cases:
        wd.mkdir(parents=True, exist_ok=True)
    res = _test_all(camp, cases)
    n = len(models)
    now = {_key(a): _summary(res[i * n:(i + 1) * n]) for i, (a, _) in enumerate(sets)}
    out = {"iteration": it, **assess(now, before, camp.cfg.grow.max_forgetting)}
    exceeded = out["exceeded"]
    if exceeded:
        log.warning("%s iteration %d: %s", camp.root, it, out["message"])
    atomic_write_json(path, out)
    return out


def assess(now: dict, before: dict, limit: float) -> dict:
    """Compare per-family summaries with the baseline: adds ``before_*`` and ``rise`` (relative change of the
    mean force RMSE) to each family; ``exceeded``: families whose rise is above `limit`; ``message``."""
    fams, exceeded = {}, []
    for key, s in now.items():
        s = dict(s)
        b = before.get(key)
        s["before_rmse_f"] = b["rmse_f_mean"] if b else None
        s["before_rmse_e_per_atom"] = b["rmse_e_per_atom_mean"] if b else None
        s["rise"] = s["rmse_f_mean"] / b["rmse_f_mean"] - 1.0 if b and b["rmse_f_mean"] > 0 else None
        if s["rise"] is not None and s["rise"] > limit:
            exceeded.append(key)
        fams[key] = s
    msg = "; ".join(f"{k}: held-out force RMSE {fams[k]['before_rmse_f']:.4f} -> {fams[k]['rmse_f_mean']:.4f} eV/Å "
                    f"(+{fams[k]['rise']:.1%} > grow.max_forgetting {limit:.0%})" for k in exceeded)
    return {"families": fams, "max_forgetting": limit, "exceeded": exceeded,
            "message": f"forgetting: {msg}" if exceeded else ""}


def guarded(decision, forgetting: dict | None, strict: bool):
    """The plan's decision, or a stop naming the forgetting when the guard tripped and ``grow.strict`` is set."""
    from heal.plan import Decision

    if forgetting and forgetting["exceeded"] and strict:
        return Decision("stop", decision.next_stage, f"{forgetting['message']} (grow.strict)")
    return decision
