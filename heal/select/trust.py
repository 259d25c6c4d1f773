"""Trust-level classification of explored frames and the candidate pick.

A frame with max force deviation ``devi_f``:
  - ``devi_f < f_lo``            -> accurate (the ensemble agrees: no label needed)
  - ``f_lo <= devi_f < f_hi``    -> candidate (worth a label)
  - ``devi_f >= f_hi`` or NaN    -> failed (unphysical or far outside the data: never labeled)
With ``v_lo``/``v_hi`` the virial deviation (eV, per atom as compared here) is a second criterion: a frame is
accurate only if both are below lo, failed if either is at or above hi, otherwise a candidate.
Units: eV/Å for force deviations.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from heal.config import SelectSpec

ACCURATE, CANDIDATE, FAILED = 0, 1, 2


def classify(devi_f: np.ndarray, spec: SelectSpec, devi_v: np.ndarray | None = None) -> np.ndarray:
    """Class per frame (ACCURATE / CANDIDATE / FAILED); NaN in any used column -> FAILED."""
    f = np.asarray(devi_f, dtype=float)
    cls = np.full(f.shape, CANDIDATE, dtype=np.int8)
    with np.errstate(invalid="ignore"):
        acc = f < spec.f_lo
        fail = ~(f < spec.f_hi)  # True for >= hi and for NaN
        if spec.v_lo is not None and devi_v is not None:
            v = np.asarray(devi_v, dtype=float)
            acc &= v < spec.v_lo
            fail |= ~(v < spec.v_hi)
    cls[acc] = ACCURATE
    cls[fail] = FAILED
    return cls


@dataclass
class Counts:
    accurate: int
    candidate: int
    failed: int

    @property
    def total(self) -> int:
        return self.accurate + self.candidate + self.failed

    def ratios(self) -> dict[str, float]:
        n = max(self.total, 1)
        return {"accurate": self.accurate / n, "candidate": self.candidate / n, "failed": self.failed / n}


def count(cls: np.ndarray) -> Counts:
    b = np.bincount(np.asarray(cls, dtype=np.int64), minlength=3)
    return Counts(int(b[ACCURATE]), int(b[CANDIDATE]), int(b[FAILED]))


def pick_random(n_candidates: int, cap: int, seed: int | list[int]) -> np.ndarray:
    """DP-GEN's rule: a uniform random pick of at most `cap` candidates (indices, sorted)."""
    rng = np.random.default_rng(seed)
    k = min(cap, n_candidates)
    return np.sort(rng.choice(n_candidates, size=k, replace=False)) if k else np.zeros(0, dtype=np.int64)
