"""One frame's label directory: ``<label dir>/<frame_hash>/``, its done-markers and its audit trail.

- ``result.extxyz``: the labeled frame (energy eV, forces eV/Å, stress eV/Å^3), or
- ``rejected.json``: ``{"hash", "reason", "stage", ...}``, stage ``precheck`` | ``oracle`` | ``sanity``;
- ``rejected-N.json``: earlier rejections moved aside on purpose (``heal resume --retry-rejected``);
- ``oracle/``: where the oracle runs (inputs, outputs, logs);
- ``../oracle_calls.jsonl``: one line per oracle start / finish / reuse, for exactly-once audits.

Markers are written atomically (temp file, fsync, rename) as the very last step of a frame.
"""

from __future__ import annotations

import io
import json
import logging
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import read, write

from heal.errors import FatalError
from heal.fsutil import atomic_rename, atomic_write_json, atomic_write_text

log = logging.getLogger("heal.label")

RESULT = "result.extxyz"
REJECTED = "rejected.json"
ORACLE_DIR = "oracle"
JOURNAL = "oracle_calls.jsonl"


def extxyz_text(frames: Atoms | list[Atoms]) -> str:
    """The extxyz text of one frame or a list of frames (labels included)."""
    buf = io.StringIO()
    write(buf, frames, format="extxyz")
    return buf.getvalue()


def plain_info(info: dict[str, Any]) -> dict[str, Any]:
    """Keep the info entries extxyz can store faithfully (str, numbers, bools, numeric arrays)."""
    out = {}
    for k, v in info.items():
        if isinstance(v, (str, bool, int, float, np.integer, np.floating)):
            out[k] = v
        elif isinstance(v, np.ndarray) and v.dtype.kind in "biuf":
            out[k] = v
    return out


def read_finished(fdir: Path) -> tuple[str, Any] | None:
    """('labeled', Atoms) or ('rejected', dict) for a finished frame directory; None if unfinished."""
    if (fdir / RESULT).is_file():
        return "labeled", read(fdir / RESULT, format="extxyz")
    if (fdir / REJECTED).is_file():
        return "rejected", json.loads((fdir / REJECTED).read_text())
    return None


def write_result(fdir: Path, labeled: Atoms) -> tuple[str, Atoms]:
    """Write the done-marker of a labeled frame; return what a relaunch would read back."""
    atomic_write_text(fdir / RESULT, extxyz_text(labeled))
    return "labeled", read(fdir / RESULT, format="extxyz")


def reject(fdir: Path, h: str, reason: str, stage: str, **extra: Any) -> tuple[str, dict[str, Any]]:
    """Write the done-marker of a rejected frame."""
    rec = {"hash": h, "reason": reason, "stage": stage, **extra, "time": time.time()}
    atomic_write_json(fdir / REJECTED, rec)
    log.warning("frame %s rejected at %s: %s", h, stage, reason)
    return "rejected", rec


def on_input_structure(labeled: Atoms, atoms: Atoms) -> Atoms:
    """The input frame, bit for bit, carrying the labels read back from ``result.extxyz``.

    extxyz stores positions to 1e-8 Å; putting the labels back on the exact input arrays keeps
    ``frame_hash`` of the labeled frame equal to the hash its label directory is named after, so the
    dataset, the selector's "already labeled" check and the label directories all agree on identity.
    """
    if len(labeled) != len(atoms) or np.abs(labeled.positions - atoms.positions).max() > 1e-6:
        raise FatalError("a stored label does not belong to its frame (positions differ); delete "
                         "its label directory to relabel it")
    out = Atoms(atoms.get_chemical_symbols(), positions=atoms.positions.copy(), cell=atoms.cell.array.copy(),
                pbc=atoms.pbc.copy())
    out.info.update(labeled.info)
    out.calc = SinglePointCalculator(out, **{k: v for k, v in labeled.calc.results.items()
                                             if k in ("energy", "free_energy", "forces", "stress")})
    return out


def journal(fdir: Path, event: str) -> None:
    """Append one line to the label directory's oracle-call journal (audit trail for exactly-once checks)."""
    line = json.dumps({"hash": fdir.name, "event": event, "pid": os.getpid(), "t": round(time.time(), 3)})
    fd = os.open(fdir.parent / JOURNAL, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)


def retry_rejected(label_dir: Path, hashes: set[str] | None = None) -> list[str]:
    """Move the rejections under `label_dir` aside so a relaunch labels those frames again.

    ``<hash>/rejected.json`` becomes ``<hash>/rejected-<n>.json`` (the history stays); `hashes` limits it to
    those frames. Returns the hashes set free.
    """
    freed = []
    for rej in sorted(Path(label_dir).glob(f"*/{REJECTED}")):
        fdir = rej.parent
        if hashes is not None and fdir.name not in hashes:
            continue
        n = len(list(fdir.glob("rejected-*.json")))
        atomic_rename(rej, fdir / f"rejected-{n}.json")
        freed.append(fdir.name)
    return freed
