"""Fast streaming trust classification of a large ``model_devi.out`` table.

``screen_file`` reads the file in blocks of whole lines, parses each block with numpy's C reader
(``np.loadtxt``) and classifies it with :func:`heal.select.trust.classify`; only the candidates' steps and
deviations are kept, so memory is one block plus the candidates. The result equals
``classify(read_model_devi(path)["max_devi_f"], ...)`` exactly: any block the fast reader cannot vouch for
(a ``#`` that does not start a line, ``\\r``, short rows, non-numbers such as ``1_0``, undecodable bytes, a
non-finite step) is re-read line by line with ``read_model_devi``'s rules (comments / blank / short lines
skipped, values that are not finite numbers → NaN → failed, the torn last line of a killed run dropped).
One deliberate difference: a row whose step is ``inf`` is skipped here, where ``read_model_devi`` raises
OverflowError.
Units: deviations eV/Å (force), eV (virial, as DeePMD writes it).
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np

from heal.explore.parse import iter_devi_rows

from heal.select.trust import CANDIDATE, Counts, classify, count

# the fast reader converts only step, max_devi_v, max_devi_f and the 7th column (which makes a row with
# fewer than 7 fields an error, as read_model_devi skips such rows); other columns never affect the class
_USECOLS = (0, 1, 4, 6)
_BYTES_PER_ROW = 128  # DeePMD writes ~127 bytes per row


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


def _parse_fast(block: bytes) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(steps, max_devi_f, max_devi_v) of a block of complete lines, or None when the slow path must decide."""
    if b"\r" in block:
        return None
    if b"#" in block:
        block = b"\n".join(ln for ln in block.split(b"\n") if not ln.startswith(b"#"))
        if b"#" in block:
            return None
    if not block or block.isspace():
        return np.zeros(0, dtype=np.int64), np.zeros(0), np.zeros(0)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            arr = np.loadtxt(io.BytesIO(block), dtype=np.float64, comments=None, usecols=_USECOLS, ndmin=2,
                             encoding="utf-8")
    except (ValueError, UnicodeDecodeError, IndexError):
        return None
    step = arr[:, 0]
    if not (np.isfinite(step).all() and (np.abs(step) < 2.0**62).all()):
        return None
    return step.astype(np.int64), arr[:, 2].copy(), arr[:, 1].copy()


def _parse_slow(block: bytes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Line-by-line parse with ``read_model_devi``'s rules (a last line without a newline is dropped)."""
    steps: list[int] = []
    rows: list[list[float]] = []
    # same decoding / newlines as open()
    for step, vals in iter_devi_rows(io.TextIOWrapper(io.BytesIO(block), errors="replace")):
        steps.append(step)
        rows.append(vals)
    vals = np.asarray(rows, dtype=float).reshape(len(rows), 6)
    return np.asarray(steps, dtype=np.int64), vals[:, 3].copy(), vals[:, 0].copy()


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

    def take(parsed: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
        steps, devi_f, devi_v = parsed
        if steps.size == 0:
            return
        cls = classify(devi_f, levels, devi_v=devi_v)  # inf is failed like NaN, as read_model_devi's NaN
        c = count(cls)
        totals[:] += (c.accurate, c.candidate, c.failed)
        cand = cls == CANDIDATE
        steps_out.append(steps[cand])
        devi_out.append(devi_f[cand])

    path = Path(path)
    if path.is_file():
        size = max(int(chunk_rows), 1) * _BYTES_PER_ROW
        rest = b""
        with open(path, "rb") as fh:
            while True:
                buf = fh.read(size)
                if not buf:
                    break
                buf = rest + buf if rest else buf
                cut = buf.rfind(b"\n")
                if cut < 0:
                    rest = buf
                    continue
                block, rest = buf[:cut + 1], buf[cut + 1:]
                take(_parse_fast(block) or _parse_slow(block))
        if rest:  # no final newline: the slow path applies the torn-line rule
            take(_parse_slow(rest))
    steps = np.concatenate(steps_out) if steps_out else np.zeros(0, dtype=np.int64)
    devi = np.concatenate(devi_out) if devi_out else np.zeros(0)
    return ScreenResult(Counts(int(totals[0]), int(totals[1]), int(totals[2])), steps, devi)
