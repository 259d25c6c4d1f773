"""Finite-difference checks shared by the labeler tests (real engines: the oracle's own energies)."""

from __future__ import annotations

import numpy as np


def strain_derivative(energy_of, atoms, i: int, j: int, d: float) -> float:
    """Central difference of energy_of(strained atoms) over a symmetric strain ε_ij, divided by the volume
    (eV/Å^3): the stress component σ_ij an oracle must report."""
    def energy(eps):
        strain = np.eye(3)
        strain[i, j] += eps / 2
        strain[j, i] += eps / 2
        b = atoms.copy()
        b.set_cell(atoms.cell.array @ strain, scale_atoms=True)
        return energy_of(b)

    return (energy(d) - energy(-d)) / (2 * d) / atoms.get_volume()
