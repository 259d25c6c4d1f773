"""Calibrated trust levels, fitted after each labeling step (``select.trust: calibrated``).

For every frame labeled in an iteration, the ensemble's predicted deviation (``max_devi_f``, recorded at
selection) is paired with the ensemble's true error against the oracle: the largest per-atom norm of
(mean predicted force − oracle force), eV/Å. Pairs accumulate over iterations (``calibration_pairs.json``
per iteration); the levels are refitted on all of them per composition × phase (``calibration.json``) and
the next iteration's selection uses them.
"""

from __future__ import annotations

import json

import numpy as np
from ase.io import read

from heal.campaign import Campaign
from heal.fsutil import atomic_write_json
from heal.select.calibrate import calibrate, true_force_error
from heal.select.pipeline import run_calibration_group, seed_name


def ensemble_forces(models, frames, type_map) -> list[np.ndarray]:
    """Mean force (eV/Å) of the ensemble on each frame. Atom types index into each model's own type map (a
    grown chain's model may list more elements than the campaign, in another order); `type_map` names the
    campaign's elements, which every model must know."""
    from deepmd.infer import DeepPot

    pots = [DeepPot(str(m)) for m in models]
    maps = [list(p.get_type_map()) for p in pots]
    for m, tm in zip(models, maps):
        missing = [el for el in type_map if el not in tm]
        if missing:
            raise ValueError(f"model {m} has no type for {missing} (its type map: {tm})")
    out = []
    for a in frames:
        syms = a.get_chemical_symbols()
        fs = [p.eval(a.positions.reshape(1, -1), a.cell.array.reshape(1, -1),
                     np.array([tm.index(s) for s in syms]))[1].reshape(-1, 3) for p, tm in zip(pots, maps)]
        out.append(np.mean(fs, axis=0))
    return out


def iteration_pairs(camp: Campaign, it: int, models) -> list[dict]:
    """(deviation, true error, group) for every frame labeled in iteration `it`."""
    from heal.systems import read_seed_set

    path = camp.iter_dir(it) / "calibration_pairs.json"
    if path.is_file():
        return json.loads(path.read_text())
    seeds = {s.name: s.atoms for s in read_seed_set(camp.seeds_dir)}
    labeled = [read(p, format="extxyz") for p in sorted((camp.iter_dir(it) / "label").glob("*/result.extxyz"))]
    labeled = [a for a in labeled if "max_devi_f" in a.info]
    pairs = []
    if labeled:
        preds = ensemble_forces(models, labeled, camp.type_map)
        for a, f in zip(labeled, preds):
            run = camp.iter_dir(it) / "explore" / "x" / str(a.info.get("run", ""))
            pairs.append({"devi": float(a.info["max_devi_f"]), "err": float(true_force_error(f, a.get_forces())),
                          "group": run_calibration_group(run, seeds), "seed": seed_name(run)})
    atomic_write_json(path, pairs)
    return pairs


def calibrate_after(camp: Campaign, it: int, models) -> dict | None:
    """Refit the levels on all pairs so far; write ``iter-XXX/calibration.json``; return it (or None)."""
    spec = camp.cfg.select
    if spec.trust != "calibrated":
        return None
    pairs = [p for j in range(it + 1) for p in (iteration_pairs(camp, j, models) if j == it else
                                                _read_pairs(camp, j))]
    cal = calibrate(np.array([p["devi"] for p in pairs]), np.array([p["err"] for p in pairs]),
                    [p["group"] for p in pairs], target_error=spec.target_error, coverage=spec.coverage,
                    fixed=(spec.f_lo, spec.f_hi), min_pairs=spec.min_pairs, hopeless_error=spec.hopeless_error,
                    hi_factor=spec.hi_factor)
    out = cal.to_json()
    out["table"] = cal.table()
    out["n_pairs"] = len(pairs)
    atomic_write_json(camp.iter_dir(it) / "calibration.json", out)
    return out


def _read_pairs(camp: Campaign, j: int) -> list[dict]:
    p = camp.iter_dir(j) / "calibration_pairs.json"
    return json.loads(p.read_text()) if p.is_file() else []
