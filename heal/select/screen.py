"""Streaming trust classification of a large ``model_devi.out`` table.

``screen_file`` classifies the blocks that :func:`heal.explore.parse.iter_devi_blocks` (the one reader of
the table) yields with :func:`heal.select.trust.classify`; only the candidates' steps and deviations are
kept, so memory is one block plus the candidates. The result equals
``classify(read_model_devi(path)["max_devi_f"], ...)`` exactly: values that are not finite numbers are NaN,
hence failed; the torn last line of a killed run is dropped.
Units: deviations eV/Å (force), eV (virial, as DeePMD writes it).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np

from heal.explore.parse import iter_devi_blocks
from heal.select.trust import CANDIDATE, Counts, classify, count

@dataclass(frozen=True)
class _Levels:
    f_lo: float
    f_hi: float
    v_lo: float | None = None
    v_hi: float | None = None


class ScreenResult(NamedTuple):
    """Class counts of every row, and the candidate rows' steps (int64) and max_devi_f (eV/Å), in file order."""

    counts: Counts
    steps: np.ndarray
    devi: np.ndarray


def screen_file(path: Path, f_lo: float, f_hi: float, v_lo: float | None = None, v_hi: float | None = None,
                chunk_rows: int = 50_000) -> ScreenResult:
    """Classify every row of `path` (accurate / candidate / failed) with the trust levels (eV/Å; virial eV).

    Reads about `chunk_rows` rows at a time. A missing file gives zero counts. NaN / inf deviations are
    failed, never an error. Memory: one chunk (~128 bytes/row on disk, 32 bytes/row parsed) plus 16 bytes
    per candidate.
    """
    levels = _Levels(float(f_lo), float(f_hi), v_lo, v_hi)
    totals = np.zeros(3, dtype=np.int64)
    steps_out: list[np.ndarray] = []
    devi_out: list[np.ndarray] = []

    def take(rows: np.ndarray) -> None:
        if rows.size == 0:
            return
        steps, devi_f = rows["step"], rows["max_devi_f"]
        cls = classify(devi_f, levels, devi_v=rows["max_devi_v"])  # NaN (not a number, inf) is failed
        c = count(cls)
        totals[:] += (c.accurate, c.candidate, c.failed)
        cand = cls == CANDIDATE
        steps_out.append(steps[cand])
        devi_out.append(devi_f[cand])

    for rows in iter_devi_blocks(Path(path), chunk_rows, columns=("step", "max_devi_v", "max_devi_f")):
        take(rows)
    steps = np.concatenate(steps_out) if steps_out else np.zeros(0, dtype=np.int64)
    devi = np.concatenate(devi_out) if devi_out else np.zeros(0)
    return ScreenResult(Counts(int(totals[0]), int(totals[1]), int(totals[2])), steps, devi)
