"""Parsers for LAMMPS exploration outputs: the inline ``model_devi.out`` table and ``traj.dump`` frames.

Both are streamed: memory grows with the frames asked for, not with the file.
Units: deviations eV/Å (force) and eV (virial, as DeePMD writes it), lengths Å.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
from ase import Atoms

#: columns of DeePMD's model_devi.out
DEVI_COLUMNS = ("step", "max_devi_v", "min_devi_v", "avg_devi_v", "max_devi_f", "min_devi_f", "avg_devi_f")
DEVI_DTYPE = np.dtype([(c, np.int64 if c == "step" else np.float64) for c in DEVI_COLUMNS])


def read_model_devi(path: Path) -> np.ndarray:
    """Read ``model_devi.out`` into a structured array (fields ``DEVI_COLUMNS``).

    A missing or empty file gives an empty array; a torn last line (killed run) is dropped; values that
    are not numbers (``nan``, ``-nan``, ``inf``) become NaN so the selector classes them as failed.
    """
    path = Path(path)
    if not path.is_file():
        return np.zeros(0, dtype=DEVI_DTYPE)
    with open(path, errors="replace") as fh:
        rows = [(step, *vals) for step, vals in iter_devi_rows(fh)]
    return np.array(rows, dtype=DEVI_DTYPE)


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
