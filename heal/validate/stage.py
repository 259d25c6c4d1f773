"""The validate stage of an iteration: the model's properties every iteration, the oracle's once per campaign.

Both sides run as jobs of heal's own Python (``<commands.heal_python> -m heal.validate.runner spec.json``)
through the campaign's executor, in one submission, so a cluster runs them like every other stage:

- ``iter-XXX/validate/model/``: the first ensemble member (its E-V curves, elastic constants, MD with
  LAMMPS ``pair_style deepmd``); the other members give the spread of the 0 K lattice constant;
- ``validate/oracle/<key>/``: the oracle's values, computed once and reused by every iteration (the key is a
  hash of the oracle, its parameters, the elements and the ``validate:`` settings but the model-only
  ``spread`` and ``max_candidates``: change any other, e.g. ``npt_steps``, and the oracle is computed again).
  An oracle that computes in external jobs (VASP, GPAW) is not a runner job: this stage sends its single
  points through the labeling stage (:mod:`heal.validate.external`, smallest ordered cells, 0 K only).

``iter-XXX/validate/validate.json`` (written last, atomically) holds the side-by-side rows
(:mod:`heal.validate.compare`) and the verdict against ``loop.validate``; it is the stage's done-marker.
Frames of unstable model MD are in ``model/unstable.extxyz``: :func:`unstable_candidates` hands them to the
select stage, which sends them to the next label step.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

from heal.campaign import Campaign
from heal.errors import FatalError
from heal.exec.base import Job, run_jobs
from heal.fsutil import atomic_write_json, link_dir
from heal.validate.compare import rows, verdict
from heal.validate.external import is_external, oracle_values
from heal.validate.runner import RESULTS, UNSTABLE

DONE = "validate.json"


def validate_dir(camp: Campaign, it: int) -> Path:
    return camp.iter_dir(it) / "validate"


def _spec(camp: Campaign, side: str) -> dict:
    vs = camp.cfg.validation
    own = vs.oracle is None
    return {"side": side, "type_map": camp.type_map, "oracle": camp.cfg.label.oracle if own else vs.oracle,
            "params": camp.cfg.label.params if own else vs.oracle_params,
            "elements": list(camp.cfg.system.elements or []),
            "composition": camp.cfg.system.composition, "validate": vs.model_dump(mode="json"),
            "d_min": camp.cfg.label.d_min}


def oracle_key(spec: dict) -> str:
    """A short hash of what the oracle's values depend on (the model-only settings left out)."""
    v = {k: x for k, x in spec["validate"].items() if k not in ("spread", "max_candidates")}
    blob = json.dumps({**{k: x for k, x in spec.items() if k not in ("side", "models", "type_map", "validate")},
                       "validate": v}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _job(workdir: Path, spec: dict) -> Job:
    atomic_write_json(workdir / "spec.json", spec)
    (workdir / RESULTS).unlink(missing_ok=True)
    fwd = ["spec.json"] + (["models"] if spec.get("models") else [])
    back = [RESULTS] + ([UNSTABLE] if spec["side"] == "model" else [])
    return Job("heal_python", ["-m", "heal.validate.runner", "spec.json"], workdir, log="validate",
               forward=fwd, backward=back)


def _read(p: Path) -> dict | None:
    try:
        return json.loads(p.read_text())
    except (OSError, ValueError):
        return None


def stage_validate(camp: Campaign, it: int, models: list[Path]) -> dict:
    """Validate iteration `it`'s models (first member; the others for the spread); idempotent."""
    vdir = validate_dir(camp, it)
    done = _read(vdir / DONE)
    if done is not None:
        return done
    t0 = time.monotonic()
    mdir = vdir / "model"
    mspec = _spec(camp, "model")
    oracle_spec = _spec(camp, "oracle")
    odir = camp.root / "validate" / "oracle" / oracle_key(oracle_spec)
    jobs, names = [], []
    if _read(mdir / RESULTS) is None:
        mdir.mkdir(parents=True, exist_ok=True)
        members = models if camp.cfg.validation.spread else models[:1]
        mspec["models"] = link_dir(mdir / "models", members, "m{}.pb")
        jobs.append(_job(mdir, mspec))
        names.append("model")
    cached = _read(odir / RESULTS) is not None
    if not cached:
        odir.mkdir(parents=True, exist_ok=True)
        if is_external(oracle_spec["oracle"]):  # DFT: single-point label jobs from here (heal.validate.external)
            oracle_values(oracle_spec, odir, camp.cfg.label, camp.executor)
        else:
            jobs.append(_job(odir, oracle_spec))
            names.append("oracle")
    outcomes = run_jobs(camp.executor, jobs) if jobs else []
    failed = [(n, o) for n, o in zip(names, outcomes) if isinstance(o, Exception)]
    if failed:
        n, exc = failed[0]
        raise FatalError(f"iteration {it} validate ({n}): {exc}; see {(mdir if n == 'model' else odir)}/validate.err")
    model, oracle = _read(mdir / RESULTS), _read(odir / RESULTS)
    if model is None or oracle is None:
        which = mdir if model is None else odir
        raise FatalError(f"iteration {it} validate: {which / RESULTS} was not written; see {which}/validate.err")
    table = rows(model, oracle, camp.cfg.loop.validation)
    out = {"iteration": it, "rows": table, "ok": verdict(table), "oracle_dir": str(odir), "oracle_cached": cached,
           "model_seconds": model.get("seconds"), "oracle_seconds": oracle.get("seconds"),
           "unstable_frames": model.get("unstable_frames", 0), "seconds": time.monotonic() - t0}
    atomic_write_json(vdir / DONE, out)
    return out


def read_validation(camp: Campaign, it: int) -> dict | None:
    """Iteration `it`'s ``validate.json`` (None before the stage finished or without a validate stage)."""
    return _read(validate_dir(camp, it) / DONE)


def unstable_candidates(camp: Campaign, it: int, limit: int | None = None) -> list:
    """Frames of the iteration's unstable validation MD (at most ``validate.max_candidates``) for labeling."""
    path = validate_dir(camp, it) / "model" / UNSTABLE
    if camp.cfg.validation is None or not path.is_file() or path.stat().st_size == 0:
        return []
    from ase.io import read

    frames = read(path, index=":", format="extxyz")
    cap = camp.cfg.validation.max_candidates if limit is None else min(limit, camp.cfg.validation.max_candidates)
    step = max(1, len(frames) // max(cap, 1))
    picked = frames[::step][:cap]
    for a in picked:
        a.info["source"] = "validation"
    return picked


def validation_rows(camp: Campaign, it: int) -> dict | None:
    """For status / web pages: ``{"ok", "rows", "seconds"}`` of iteration `it`, or None."""
    d = read_validation(camp, it)
    if d is None:
        return None
    return {"ok": d.get("ok"), "rows": d.get("rows", []), "seconds": d.get("seconds")}
