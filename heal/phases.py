"""Crystal prototypes of the phases of Ni-based superalloys: the one place their cells are built.

Used by the seed sets (γ, γ′, BCC, HCP, carbides) and by the validation properties (lattice constants,
elastic constants, RDF). Lengths in Å. Every builder returns the *conventional* cell of the prototype with
the sites labelled by sublattice, so a caller can substitute elements on one sublattice only.

- ``A1`` (γ, FCC solid solution): Fm-3m, 4 atoms.
- ``L1_2`` (γ′, Ni₃Al): Pm-3m, 4 atoms; sublattice ``"B"`` (1a, 0 0 0: Al in Ni₃Al) and ``"A"``
  (3c, 0 ½ ½: Ni).
- ``A2`` (BCC): Im-3m, 2 atoms. ``A3`` (HCP): P6₃/mmc, orthohexagonal 4-atom cell, ideal c/a unless given.
- ``D8_4`` (M₂₃C₆, e.g. Cr₂₃C₆): Fm-3m, 116 atoms (92 metal + 24 C). Wyckoff sites 4a, 8c, 32f (x = 0.385),
  48h (y = 0.165) for the metal and 24e (x = 0.275) for carbon (Bowman, Arnold, Storms & Nereson, *Acta
  Cryst.* B28 (1972) 3102; a = 10.66 Å). Carbon sits only on the 24e sublattice ``"C"``; the metal sites are
  sublattice ``"M"``. The primitive cell (23 M + 6 C) is :func:`m23c6_primitive`.
"""

from __future__ import annotations

import math

import numpy as np
from ase import Atoms
from ase.build import bulk
from ase.spacegroup import crystal

#: thesis / literature lattice constants at room temperature (Å) for the prototypes' reference compounds
REFERENCE_A = {"Ni": 3.52, "Ni3Al": 3.57, "Cr23C6": 10.66}

#: D8_4 internal coordinates (see the module docstring)
M23C6_X_32F = 0.385
M23C6_Y_48H = 0.165
M23C6_X_24E = 0.275

SUBLATTICE = "sublattice"  # the per-atom array name holding each site's sublattice label


def _label(atoms: Atoms, labels: list[str]) -> Atoms:
    atoms.set_initial_magnetic_moments(None)
    atoms.new_array(SUBLATTICE, np.array(labels, dtype="<U2"))
    return atoms


def fcc(a: float, element: str = "Ni") -> Atoms:
    """γ: the conventional 4-atom FCC cell (sublattice ``"A"``)."""
    return _label(bulk(element, "fcc", a=a, cubic=True), ["A"] * 4)


def l12(a: float, a_site: str = "Ni", b_site: str = "Al") -> Atoms:
    """γ′: the 4-atom L1₂ cell, ``b_site`` on the cube corner (1a), ``a_site`` on the face centres (3c)."""
    atoms = crystal([b_site, a_site], basis=[(0, 0, 0), (0, 0.5, 0.5)], spacegroup=221,
                    cellpar=[a, a, a, 90, 90, 90], primitive_cell=False)
    labels = ["B" if s == b_site else "A" for s in atoms.get_chemical_symbols()]
    if a_site == b_site:  # a pure element on both sublattices: crystal() keeps the site order 1a, then 3c
        labels = ["B", "A", "A", "A"]
    return _label(atoms, labels)


def bcc(a: float, element: str = "Cr") -> Atoms:
    """The conventional 2-atom BCC cell (sublattice ``"A"``)."""
    return _label(bulk(element, "bcc", a=a, cubic=True), ["A"] * 2)


def hcp(a: float, element: str = "Co", c_over_a: float | None = None) -> Atoms:
    """The orthohexagonal 4-atom HCP cell a × √3a × c (ideal c/a = √(8/3) unless given)."""
    coa = math.sqrt(8.0 / 3.0) if c_over_a is None else c_over_a
    return _label(bulk(element, "hcp", a=a, c=coa * a, orthorhombic=True), ["A"] * 4)


def m23c6(a: float = REFERENCE_A["Cr23C6"], metal: str = "Cr", carbon: str = "C") -> Atoms:
    """M₂₃C₆ (D8₄), conventional cubic cell: 92 ``metal`` atoms (sublattice ``"M"``) + 24 C (``"C"``)."""
    return _d84(a, metal, carbon, primitive=False)


def m23c6_primitive(a: float = REFERENCE_A["Cr23C6"], metal: str = "Cr", carbon: str = "C") -> Atoms:
    """The 29-atom primitive cell of M₂₃C₆ (23 metal + 6 C), for the cheapest carbide calculations."""
    return _d84(a, metal, carbon, primitive=True)


def _d84(a: float, metal: str, carbon: str, primitive: bool) -> Atoms:
    if metal == carbon:
        raise ValueError("M23C6: the metal and the carbon sublattice need different elements")
    basis = [(0, 0, 0), (0.25, 0.25, 0.25), (M23C6_X_32F,) * 3, (0, M23C6_Y_48H, M23C6_Y_48H),
             (M23C6_X_24E, 0, 0)]
    # built as Cr/C, then relabelled, so the carbon sublattice is known whatever the elements
    atoms = crystal(["Cr", "Cr", "Cr", "Cr", "C"], basis=basis, spacegroup=225,
                    cellpar=[a, a, a, 90, 90, 90], primitive_cell=primitive)
    labels = ["C" if s == "C" else "M" for s in atoms.get_chemical_symbols()]
    atoms.set_chemical_symbols([carbon if lab == "C" else metal for lab in labels])
    return _label(atoms, labels)


def sublattice_indices(atoms: Atoms, label: str) -> np.ndarray:
    """Indices of the sites of one sublattice (``"A"``, ``"B"``, ``"M"``, ``"C"``)."""
    return np.flatnonzero(atoms.arrays[SUBLATTICE] == label)
