"""What importing one source did (:class:`FileReport`), and the label check every importer applies.

Shared by the VASP importer (:mod:`heal.data.importer`) and the DeePMD / DP-GEN / extxyz one
(:mod:`heal.data.foreign`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from ase import Atoms

from heal.errors import HealError


@dataclass
class FileReport:
    path: str
    format: str | None = None
    read: int = 0
    trimmed: int = 0
    too_close: int = 0
    unlabeled: int = 0
    duplicates: int = 0
    added: int = 0
    error: str | None = None
    note: str | None = None
    #: True once an append for this file failed (e.g. element outside the type map)
    append_failed: bool = False

    @property
    def status(self) -> str:
        """``ok`` (no error), ``partial`` (error, but frames were read and stored) or ``failed``."""
        if self.error is None:
            return "ok"
        return "partial" if self.read > 0 and not self.append_failed else "failed"

    @property
    def usable(self) -> bool:
        """Complete frames were read from this file and none of its appends failed."""
        return self.read > 0 and not self.append_failed

    def store(self, dataset, frames: list, provs: list[dict]) -> None:
        """Append `frames` (with their provenance) to `dataset` in one atomic append, counting what was added
        and what was there already; a refused append becomes this report's error (nothing after it is stored)."""
        if not frames or self.append_failed:
            return
        try:
            res = dataset.append(frames, provs)
        except HealError as exc:
            self.append_failed = True
            self.error = f"not stored: {exc}"
        else:
            self.added += res.added
            self.duplicates += res.duplicates

    def as_dict(self) -> dict:
        d = asdict(self)
        d["status"] = self.status
        return d


def finite_labels(atoms: Atoms) -> bool:
    """Every label the frame carries (energy, forces, stress) is finite."""
    res = atoms.calc.results
    return all(np.isfinite(np.asarray(res[k], dtype=float)).all() for k in ("energy", "forces", "stress") if k in res)
