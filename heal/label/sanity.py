"""Sanity checks on frames before and after labeling.

Each check returns a reason string (why the frame must not enter the dataset) or None when it passes.
Units: distances Å, energy eV, forces eV/Å, stress eV/Å^3. Limits come from ``LabelSpec``:
``d_min`` (shortest interatomic distance; thesis: 1.5 Å) and ``max_force`` (largest |F| component).
"""

from __future__ import annotations

import numpy as np
from ase import Atoms

from heal.config import LabelSpec
from heal.frames import min_distance


def check_structure(atoms: Atoms, spec: LabelSpec) -> str | None:
    """Checks that need no label, run before the oracle is called (so no oracle time is wasted)."""
    if len(atoms) == 0:
        return "empty frame (no atoms)"
    if not np.all(np.isfinite(atoms.positions)) or not np.all(np.isfinite(atoms.cell.array)):
        return "non-finite positions or cell"
    if any(atoms.pbc) and abs(atoms.get_volume()) < 1e-6:
        return "periodic frame with a degenerate (zero-volume) cell"
    d = min_distance(atoms)
    if d < spec.d_min:
        return f"atoms too close: min distance {d:.3f} Å < d_min {spec.d_min:.3f} Å"
    return None


def check_labels(atoms: Atoms, spec: LabelSpec, structure: bool = True) -> str | None:
    """Checks on a labeled frame: labels present and finite, |F| within max_force, d_min respected.

    ``structure=False`` skips :func:`check_structure` when the caller already ran it on these very
    positions (labeling does not move atoms; the d_min search is the costly part, O(N^2)).
    """
    calc = atoms.calc
    if calc is None or "energy" not in calc.results or "forces" not in calc.results:
        return "the oracle returned no energy / forces"
    energy = calc.results["energy"]
    forces = np.asarray(calc.results["forces"], dtype=float)
    if not np.isfinite(energy):
        return f"non-finite energy ({energy})"
    if forces.shape != (len(atoms), 3):
        return f"forces have shape {forces.shape}, expected ({len(atoms)}, 3)"
    if not np.all(np.isfinite(forces)):
        bad = int(np.count_nonzero(~np.isfinite(forces).all(axis=1)))
        return f"non-finite forces on {bad} atom(s)"
    if "stress" in calc.results:
        stress = np.asarray(calc.results["stress"], dtype=float)
        if not np.all(np.isfinite(stress)):
            return "non-finite stress"
    fmax = float(np.abs(forces).max()) if forces.size else 0.0
    if fmax > spec.max_force:
        i = int(np.abs(forces).max(axis=1).argmax())
        return f"force too large: max |F| component {fmax:.3g} eV/Å on atom {i} > max_force {spec.max_force:g} eV/Å"
    return check_structure(atoms, spec) if structure else None
