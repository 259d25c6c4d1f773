"""Parsers for LAMMPS exploration outputs: the inline ``model_devi.out`` table and ``traj.dump`` frames.

Both are streamed: memory grows with the frames asked for, not with the file. This is the one reader of
``model_devi.out``: the selector's screening (:mod:`heal.select.screen`) classifies its blocks.
Units: deviations eV/Å (force) and eV (virial, as DeePMD writes it), lengths Å.
"""

from __future__ import annotations

import io
import math
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
from ase import Atoms

#: columns of DeePMD's model_devi.out
DEVI_COLUMNS = ("step", "max_devi_v", "min_devi_v", "avg_devi_v", "max_devi_f", "min_devi_f", "avg_devi_f")
DEVI_DTYPE = np.dtype([(c, np.int64 if c == "step" else np.float64) for c in DEVI_COLUMNS])


#: bytes DeePMD writes per model_devi.out row (to size the blocks read at a time)
_BYTES_PER_ROW = 128


def read_model_devi(path: Path) -> np.ndarray:
    """Read ``model_devi.out`` into a structured array (fields ``DEVI_COLUMNS``).

    A missing or empty file gives an empty array; a torn last line (killed run) is dropped; values that
    are not numbers (``nan``, ``-nan``, ``inf``) become NaN so the selector classes them as failed.
    """
    blocks = list(iter_devi_blocks(path))
    return np.concatenate(blocks) if blocks else np.zeros(0, dtype=DEVI_DTYPE)


def iter_devi_blocks(path: Path, chunk_rows: int = 50_000,
                     columns: tuple[str, ...] = DEVI_COLUMNS) -> Iterator[np.ndarray]:
    """The rows of ``model_devi.out`` as structured arrays of about `chunk_rows` rows each, with the fields
    `columns` (a subset of ``DEVI_COLUMNS``; fewer columns parse faster).

    The one reader of the table: memory is one block. Each block of whole lines is parsed by numpy's C
    reader (``np.loadtxt``); a block it cannot vouch for (a ``#`` that does not start a line, ``\\r``, short
    rows, non-numbers such as ``1_0``, undecodable bytes, a non-finite step) is re-read line by line with
    :func:`iter_devi_rows`'s rules, so both paths give the same rows. A missing file yields nothing.
    """
    path = Path(path)
    if not path.is_file():
        return
    dtype = np.dtype([(c, DEVI_DTYPE[c]) for c in columns])
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
            rows = _parse_fast(block, dtype)
            yield _parse_slow(block, dtype) if rows is None else rows
    if rest:  # no final newline: the slow path applies the torn-line rule
        yield _parse_slow(rest, dtype)


def _parse_fast(block: bytes, dtype: np.dtype = DEVI_DTYPE) -> np.ndarray | None:
    """The rows of a block of complete lines, or None when the line-by-line rules must decide.

    Only the columns of `dtype` are converted, plus the step and the 7th column (which makes a row with
    fewer than 7 fields an error: the line rules skip such rows)."""
    if b"\r" in block:
        return None
    if b"#" in block:
        block = b"\n".join(ln for ln in block.split(b"\n") if not ln.startswith(b"#"))
        if b"#" in block:
            return None
    if not block or block.isspace():
        return np.zeros(0, dtype=dtype)
    cols = sorted({0, 6} | {DEVI_COLUMNS.index(c) for c in dtype.names})
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            arr = np.loadtxt(io.BytesIO(block), dtype=np.float64, comments=None, usecols=cols, ndmin=2,
                             encoding="utf-8")
    except (ValueError, UnicodeDecodeError, IndexError):
        return None
    step = arr[:, 0]
    if not (np.isfinite(step).all() and (np.abs(step) < 2.0**62).all()):
        return None
    out = np.empty(len(arr), dtype=dtype)
    for c in dtype.names:
        v = arr[:, cols.index(DEVI_COLUMNS.index(c))]
        out[c] = v.astype(np.int64) if c == "step" else np.where(np.isfinite(v), v, np.nan)  # inf -> NaN
    return out


def _parse_slow(block: bytes, dtype: np.dtype = DEVI_DTYPE) -> np.ndarray:
    """Line-by-line parse with :func:`iter_devi_rows` (same decoding and newlines as ``open()``)."""
    rows = [(step, *vals) for step, vals in iter_devi_rows(io.TextIOWrapper(io.BytesIO(block), errors="replace"))]
    full = np.array(rows, dtype=DEVI_DTYPE) if rows else np.zeros(0, dtype=DEVI_DTYPE)
    out = np.empty(len(full), dtype=dtype)
    for c in dtype.names:
        out[c] = full[c]
    return out


def iter_devi_rows(lines: Iterable[str]) -> Iterator[tuple[int, list[float]]]:
    """``(step, [6 deviations])`` per data line: comments, blank and short lines skipped, values that are
    not finite numbers -> NaN, a line whose step is not a number skipped, a last line without its newline
    (cut by a kill) ends the table."""
    for line in lines:
        if line.startswith("#") or not line.strip():
            continue
        if not line.endswith("\n"):
            return
        parts = line.split()
        if len(parts) < 7:
            continue
        try:
            step = int(float(parts[0]))
        except (ValueError, OverflowError):
            continue
        vals = []
        for p in parts[1:7]:
            try:
                v = float(p)
            except ValueError:
                v = math.nan
            vals.append(v if math.isfinite(v) else math.nan)
        yield step, vals


def _box(lines: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Cell vectors and origin from a dump's BOX BOUNDS lines (orthogonal or triclinic)."""
    vals = [list(map(float, ln.split())) for ln in lines]
    if len(vals[0]) == 3:  # triclinic: xlo_bound xhi_bound xy, ...
        (xlob, xhib, xy), (ylob, yhib, xz), (zlo, zhi, yz) = vals
        xlo = xlob - min(0.0, xy, xz, xy + xz)
        xhi = xhib - max(0.0, xy, xz, xy + xz)
        ylo = ylob - min(0.0, yz)
        yhi = yhib - max(0.0, yz)
    else:
        (xlo, xhi), (ylo, yhi), (zlo, zhi) = vals
        xy = xz = yz = 0.0
    cell = np.array([[xhi - xlo, 0.0, 0.0], [xy, yhi - ylo, 0.0], [xz, yz, zhi - zlo]])
    return cell, np.array([xlo, ylo, zlo])


def iter_dump(path: Path, type_map: list[str], steps: Iterable[int] | None = None) -> Iterator[tuple[int, Atoms]]:
    """Yield ``(step, atoms)`` from a ``dump custom ... id type x y z`` file, only for `steps` if given.

    A frame torn by a killed run (cut anywhere: header, box or atom lines) ends the iteration quietly.
    """
    wanted = None if steps is None else set(int(s) for s in steps)
    with open(path, errors="replace") as fh:
        while True:
            line = fh.readline()
            if not line:
                return
            if not line.startswith("ITEM: TIMESTEP"):
                continue
            frame = _read_frame(fh)
            if frame is None:
                return
            step, box_lines, header, body = frame
            if wanted is not None and step not in wanted:
                continue
            yield step, _frame_atoms(step, box_lines, header, body, type_map)


def _read_frame(fh) -> tuple[int, list[str], list[str], list[str]] | None:
    """Read one frame after its TIMESTEP line; None if the file ends (or is torn) inside it."""
    head = [fh.readline() for _ in range(7)]  # step, NUMBER OF ATOMS, n, BOX BOUNDS, 3 box lines
    if not all(h.endswith("\n") for h in head) or not head[3].startswith("ITEM: BOX"):
        return None
    atoms_header = fh.readline()
    if not atoms_header.startswith("ITEM: ATOMS") or not atoms_header.endswith("\n"):
        return None
    try:
        step, n = int(head[0].split()[0]), int(head[2])
    except (ValueError, IndexError):
        return None
    body = [fh.readline() for _ in range(n)]
    if not body or not body[-1].endswith("\n"):
        return None
    return step, head[4:7], atoms_header.split()[2:], body


def _frame_atoms(step: int, box_lines: list[str], header: list[str], body: list[str], type_map: list[str]) -> Atoms:
    data = np.array([b.split() for b in body], dtype=float)
    col = {name: i for i, name in enumerate(header)}
    data = data[np.argsort(data[:, col["id"]])]
    cell, origin = _box(box_lines)
    types = data[:, col["type"]].astype(int)
    atoms = Atoms(symbols=[type_map[t - 1] for t in types],
                  positions=data[:, [col["x"], col["y"], col["z"]]] - origin, cell=cell, pbc=True)
    atoms.wrap()
    atoms.info["step"] = step
    return atoms
