"""Frames: ase.Atoms carrying labels, with the conventions every heal module shares.

- Labels are attached as a SinglePointCalculator with ASE property names and units:
  ``energy`` (eV), ``forces`` (eV/Å), ``stress`` (eV/Å^3, ASE sign: positive = tensile).
  The DeePMD virial (eV) is ``-stress * volume`` (3x3); :func:`virial` converts.
- A frame's identity is :func:`frame_hash`: a hash of the structure only (species, cell, pbc,
  positions rounded to 1e-6 Å), so the same structure is recognised whoever labeled it.
"""

from __future__ import annotations

import hashlib

import numpy as np
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator
from ase.geometry import get_distances

_DECIMALS = 6


def frame_hash(atoms: Atoms) -> str:
    """Content hash (sha256 hex, 20 chars) of the structure: species, cell, pbc, positions."""
    h = hashlib.sha256()
    h.update(",".join(atoms.get_chemical_symbols()).encode())
    h.update(np.asarray(atoms.pbc, dtype=np.int8).tobytes())
    for arr in (atoms.cell.array, atoms.positions):
        r = np.round(np.asarray(arr, dtype=np.float64), _DECIMALS) + 0.0  # +0.0 folds -0.0 into 0.0
        h.update(r.tobytes())
    return h.hexdigest()[:20]


def min_distance(atoms: Atoms) -> float:
    """Shortest interatomic distance (Å) under the minimum-image convention; inf for one atom."""
    n = len(atoms)
    if n < 2:
        return float("inf")
    _, d = get_distances(atoms.positions, cell=atoms.cell, pbc=atoms.pbc)
    d = d + np.diag(np.full(n, np.inf))
    return float(d.min())


def set_labels(atoms: Atoms, energy: float, forces, stress=None, virial=None) -> Atoms:
    """Attach labels (energy eV, forces eV/Å, stress eV/Å^3 Voigt/3x3 or virial eV 3x3)."""
    if virial is not None and stress is None:
        stress = -np.asarray(virial, dtype=float).reshape(3, 3) / atoms.get_volume()
    results = {"energy": float(energy), "forces": np.asarray(forces, dtype=float).reshape(len(atoms), 3)}
    if stress is not None:
        s = np.asarray(stress, dtype=float)
        if s.shape == (3, 3):
            s = np.array([s[0, 0], s[1, 1], s[2, 2], s[1, 2], s[0, 2], s[0, 1]])
        results["stress"] = s
    atoms.calc = SinglePointCalculator(atoms, **results)
    return atoms


def has_labels(atoms: Atoms) -> bool:
    calc = atoms.calc
    return calc is not None and "energy" in calc.results and "forces" in calc.results


def virial(atoms: Atoms) -> np.ndarray | None:
    """DeePMD virial (eV, 3x3) from the attached stress, or None if there is no stress."""
    calc = atoms.calc
    if calc is None or "stress" not in calc.results:
        return None
    s = np.asarray(calc.results["stress"], dtype=float)
    if s.shape == (6,):
        xx, yy, zz, yz, xz, xy = s
        s = np.array([[xx, xy, xz], [xy, yy, yz], [xz, yz, zz]])
    return -s * atoms.get_volume()
