"""The validation cells a campaign's elements can build, and the thesis reference values of each.

A phase the elements cannot build (Ni₃Al without Al, Cr₂₃C₆ without C) is :class:`Unbuildable`, whose
message is the note shown to the user; it is never an error of the campaign.
"""

from __future__ import annotations

import numpy as np
from ase import Atoms

from heal import phases
from heal.systems import exact_counts

#: thesis reference values (Mou 2023, see ../shared/thesis-facts.md): elastic constants (GPa) of the
#: reference (DFT / experiment) the thesis compares with; lattice constants (Å) at room temperature
THESIS = {
    "ni": {"a": 3.52, "c11": 276.0, "c12": 159.0, "c44": 132.0},
    "ni3al": {"a": 3.57, "c11": 239.0, "c12": 150.0, "c44": 129.0},
    "cr23c6": {"a": 10.66, "c11": 471.7, "c12": 232.5, "c44": 136.3},
    # HEA4 γ: 3.55-3.59 Å at 300-600 K (NPT); the middle of the range
    "gamma": {"a_300k": 3.57},
}
#: what the HEA10 DeePMD of the thesis predicted (GPa), for the side-by-side table
THESIS_MODEL = {
    "ni": {"c11": 235.5, "c12": 175.9, "c44": 121.6},
    "ni3al": {"c11": 202.7, "c12": 145.1, "c44": 107.1},
    "cr23c6": {"c11": 437.5, "c12": 244.9, "c44": 136.8},
}
#: phases whose cell is ordered (elastic constants are defined and computed on them)
ORDERED = ("ni", "ni3al", "cr23c6")
NEEDS = {"ni": {"Ni"}, "ni3al": {"Ni", "Al"}, "cr23c6": {"Cr", "C"}, "gamma": set()}


class Unbuildable(Exception):
    """A validation phase the campaign's elements cannot build; the message is the note to show."""


def build(phase: str, elements: list[str], composition: dict[str, float] | None = None, seed: int = 0) -> Atoms:
    """The conventional cubic cell of `phase` for a campaign of `elements` (``info["repeat"]``: cells per edge).

    ``gamma`` is a 2 x 2 x 2 FCC supercell (32 atoms) of the campaign's composition, randomly decorated.
    """
    missing = sorted(NEEDS[phase] - set(elements))
    if missing:
        raise Unbuildable(f"{phase}: skipped, the campaign's elements {' '.join(elements)} lack "
                          f"{' and '.join(missing)}")
    if phase == "ni":
        atoms = phases.fcc(phases.REFERENCE_A["Ni"], "Ni")
    elif phase == "ni3al":
        atoms = phases.l12(phases.REFERENCE_A["Ni3Al"], "Ni", "Al")
    elif phase == "cr23c6":
        atoms = phases.m23c6(phases.REFERENCE_A["Cr23C6"], "Cr", "C")
    elif phase == "gamma":
        comp = {el: x for el, x in (composition or {el: 1.0 / len(elements) for el in elements}).items() if x > 0}
        atoms = phases.fcc(3.57, "Ni").repeat(2)
        counts = exact_counts(comp, len(atoms))
        symbols = [el for el, n in counts.items() for _ in range(n)]
        atoms.set_chemical_symbols(list(np.random.default_rng([seed, 2026]).permutation(symbols)))
        atoms.info["repeat"] = 2
        return atoms
    else:
        raise ValueError(f"unknown validation phase {phase!r}; use one of ni, ni3al, gamma, cr23c6")
    atoms.info["repeat"] = 1
    return atoms


def supercell(atoms: Atoms, n: int) -> Atoms:
    """`atoms` repeated n x n x n (``info["repeat"]`` multiplied)."""
    out = atoms.repeat(n)
    out.info["repeat"] = int(atoms.info.get("repeat", 1)) * n
    return out


def buildable(phase_names: list[str], elements: list[str], composition: dict[str, float] | None = None,
              seed: int = 0) -> tuple[dict[str, Atoms], dict[str, str]]:
    """(phase -> cell, phase -> note) for the phases `elements` can and cannot build."""
    cells, notes = {}, {}
    for ph in phase_names:
        try:
            cells[ph] = build(ph, elements, composition, seed)
        except Unbuildable as exc:
            notes[ph] = str(exc)
    return cells, notes
