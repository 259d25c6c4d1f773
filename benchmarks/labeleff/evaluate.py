"""Held-out errors of frozen DeePMD models on the benchmark's test set, and labels-to-target from a curve.

Models are evaluated in this process through deepmd-kit's inference API (one TensorFlow start for every model
of every arm). Errors are the usual ones: force RMSE over all force components (eV/Å) and energy RMSE per atom
(eV/atom), over every frame of the test set.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from heal.data.dataset import Dataset


def load_frames(ds: Dataset) -> list[tuple[np.ndarray, np.ndarray, np.ndarray, float, np.ndarray, float]]:
    """(coords, cell, types, energy, forces, temperature) per test frame, types indexed by the type map."""
    tm = ds.type_map
    out = []
    for a in ds.iter_frames():
        types = np.array([tm.index(s) for s in a.get_chemical_symbols()])
        out.append((a.positions.reshape(1, -1), a.cell.array.reshape(1, 9), types, a.get_potential_energy(),
                    a.get_forces(), float(a.info.get("temperature", math.nan))))
    return out


def model_errors(model: str | Path, frames, type_map: list[str]) -> dict:
    """Force RMSE (eV/Å) and energy RMSE (eV/atom) of one frozen model over `frames` (see load_frames)."""
    from deepmd.infer import DeepPot

    dp = DeepPot(str(model))
    remap = [dp.get_type_map().index(el) for el in type_map]  # test-set type index -> model type index
    df2, n_f, de2 = 0.0, 0, []
    for coords, cell, types, e_ref, f_ref, _t in frames:
        e, f, _v = dp.eval(coords, cell, [remap[t] for t in types])
        df2 += float(((f.reshape(-1, 3) - f_ref) ** 2).sum())
        n_f += f_ref.size
        de2.append(((float(np.ravel(e)[0]) - e_ref) / len(types)) ** 2)
    return {"rmse_force": math.sqrt(df2 / n_f), "rmse_energy_per_atom": math.sqrt(float(np.mean(de2)))}


def ensemble_errors(models: list[str], frames, type_map: list[str]) -> dict:
    """Errors of each member, and their mean (the number reported: less noise than one member)."""
    per = [model_errors(m, frames, type_map) for m in models]
    return {"rmse_force": float(np.mean([p["rmse_force"] for p in per])),
            "rmse_energy_per_atom": float(np.mean([p["rmse_energy_per_atom"] for p in per])),
            "members": per}


def labels_to_reach(curve: list[tuple[int, float]], target: float) -> float | None:
    """Labels at which the error curve first drops to `target` (linear between points); None if it never does."""
    pts = sorted(curve)
    for i, (n, err) in enumerate(pts):
        if err <= target:
            if i == 0:
                return float(n)
            n0, e0 = pts[i - 1]
            return n0 + (n - n0) * (e0 - target) / (e0 - err)
    return None


def ratios(arms: dict, key: str) -> dict:
    """heal / other arm of `key` (e.g. ``labels_to_target``) for each arm where both are known."""
    need = {k: v[key] for k, v in arms.items()}
    out = {}
    for ref in ("dpgen", "dpgen-rule", "random"):
        if need.get("heal") is not None and need.get(ref):
            out[f"heal/{ref}"] = need["heal"] / need[ref]
    return out


def separation(a: list[dict], b: list[dict], target: float | None = None) -> dict:
    """Whether two arms' curves differ by more than training noise where it decides labels-to-target.

    `a`, `b`: the arms' points (``rmse_force`` and ``members`` as from ensemble_errors). Training noise is
    ``sigma``, the pooled standard deviation of one member's error around its arm's mean at the same
    iteration (members see the same labels and differ only in their training seed), over both arms and every
    iteration after 0 (iteration 0 trains on the shared initial labels). A difference of two n-member means
    then has standard error ``sigma * sqrt(2 / n)``. Per iteration: ``gap`` (b - a: > 0 when `a` is better)
    and ``z`` = gap / standard error. The *deciding* iterations run from 1 to the first one at which either arm
    is at or below `target` (all of them without a target, or if neither arm gets there): labels-to-target is
    read off those points. ``separated``: |z| > 2 at one of the deciding iterations.
    """
    n_it = min(len(a), len(b))
    ss, dof, n = 0.0, 0, 0
    for i in range(1, n_it):
        for p in (a, b):
            x = np.array([m["rmse_force"] for m in p[i]["members"]])
            ss, dof, n = ss + float(((x - x.mean()) ** 2).sum()), dof + len(x) - 1, len(x)
    sigma = math.sqrt(ss / dof) if dof else math.nan
    se = sigma * math.sqrt(2.0 / n) if n else math.nan
    rows = {}
    for i in range(1, n_it):
        gap = b[i]["rmse_force"] - a[i]["rmse_force"]
        rows[i] = {"gap": gap, "z": gap / se if se > 0 else math.nan}
    last = n_it - 1
    if target is not None:
        last = next((i for i in range(1, n_it) if min(a[i]["rmse_force"], b[i]["rmse_force"]) <= target), last)
    deciding = [i for i in rows if i <= last]
    return {"sigma": sigma, "iterations": rows, "deciding": deciding,
            "separated": any(abs(rows[i]["z"]) > 2.0 for i in deciding)}
