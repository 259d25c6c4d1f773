"""Compositions of a cell: exact atom counts and Vegard's-law volumes and lattice constants.

The sources and rules are in :mod:`heal.systems`' docstring (volume per atom, lattice constants from it,
largest-remainder counts). Used by the solid-solution seeds (:mod:`heal.systems`) and the ordered phases
(:mod:`heal.ordered`). Lengths Å, volumes Å^3 per atom.
"""

from __future__ import annotations

import math

from ase.data import atomic_numbers, covalent_radii, reference_states

#: Ashcroft & Mermin elemental reference crystals (via ase.data.reference_states): (structure, a Å, c/a)
REFERENCE_STATES: dict[str, tuple[str, float, float | None]] = {
    "Ni": ("fcc", 3.52, None), "Co": ("hcp", 2.51, 1.622), "Cr": ("bcc", 2.88, None),
    "Fe": ("bcc", 2.87, None), "Al": ("fcc", 4.05, None), "Ti": ("hcp", 2.95, 1.588),
    "Nb": ("bcc", 3.30, None), "Mo": ("bcc", 3.15, None), "W": ("bcc", 3.16, None),
    "C": ("diamond", 3.57, None),
}

def atomic_volume(symbol: str) -> float:
    """Reference volume per atom (Å^3) of an element; see the module docstring for the sources."""
    if symbol in REFERENCE_STATES:
        structure, a, coa = REFERENCE_STATES[symbol]
    else:
        ref = reference_states[atomic_numbers[symbol]] or {}
        structure, a, coa = ref.get("symmetry"), ref.get("a"), ref.get("c/a")
    per_atom = {"fcc": 0.25, "bcc": 0.5, "diamond": 0.125, "sc": 1.0}
    if structure in per_atom and a:
        return per_atom[structure] * a**3
    if structure == "hcp" and a and coa:
        return math.sqrt(3.0) / 4.0 * a**3 * coa
    return 4.0 * math.sqrt(2.0) * covalent_radii[atomic_numbers[symbol]] ** 3


def mixed_volume(counts: dict[str, int]) -> float:
    """Vegard's law on the volume per atom (Å^3): count-weighted mean of :func:`atomic_volume`."""
    n = sum(counts.values())
    return sum(c * atomic_volume(el) for el, c in counts.items() if c) / n


def lattice_constant(phase: str, volume_per_atom: float) -> float:
    """Lattice constant a (Å) of ``phase`` at ``volume_per_atom`` (Å^3); HCP uses the ideal c/a; melt: FCC."""
    factor = {"fcc": 4.0, "melt": 4.0, "bcc": 2.0, "hcp": math.sqrt(2.0)}[phase]
    return (factor * volume_per_atom) ** (1.0 / 3.0)


def nn_distance(phase: str, a: float) -> float:
    """Nearest-neighbour distance (Å) of ``phase`` with lattice constant a (melt: FCC-equivalent)."""
    return {"fcc": a / math.sqrt(2.0), "melt": a / math.sqrt(2.0), "bcc": a * math.sqrt(3.0) / 2.0,
            "hcp": a}[phase]


def exact_counts(composition: dict[str, float], n_atoms: int) -> dict[str, int]:
    """Integer atoms per element summing to ``n_atoms`` by largest-remainder rounding (ties: dict order)."""
    els = list(composition)
    ideal = [composition[el] * n_atoms for el in els]
    floors = [int(math.floor(v + 1e-9)) for v in ideal]
    missing = n_atoms - sum(floors)
    by_remainder = sorted(range(len(els)), key=lambda i: (-round(ideal[i] - floors[i], 9), i))
    for i in by_remainder[:max(missing, 0)]:
        floors[i] += 1
    return dict(zip(els, floors))
