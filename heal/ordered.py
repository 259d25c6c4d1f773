"""Ordered seed phases of Ni-based superalloys: γ′ (L1₂) and the M₂₃C₆ carbide, decorated per sublattice.

Cells come from :mod:`heal.phases` (the one place the prototypes are built); this module decides which
element sits on which site. Lengths Å.

- ``l12`` (γ′, Ni₃Al): the B sublattice (cube corners, Al in Ni₃Al) takes the γ′ formers present (Al, Ti, Nb,
  Ta; by their fractions in the campaign's composition); the A sublattice (face centres) takes Ni (or, without
  Ni, the metal with the largest fraction). ``seeds.substitution`` of each sublattice's sites go to the other
  metals instead, by composition: substitution on both sublattices. Supercell: the FCC cube repetitions
  of :func:`heal.systems.cell_candidates`; lattice constant by Vegard's law like the FCC seeds.
- ``m23c6`` (Cr₂₃C₆-type carbide): carbon on the 24e sublattice only, the 92 metal sites Cr (or, without Cr,
  the metal with the largest fraction) with ``seeds.substitution`` of them given to the other metals. The
  conventional 116-atom cell when ``seeds.max_atoms`` allows it, else the 29-atom primitive cell. Lattice
  constant 10.66 Å (Cr₂₃C₆) scaled by the cube root of the metals' Vegard volume over Cr's. Needs C among
  the elements.

Carbon never sits on a metal site: the FCC/BCC/HCP/melt seeds and both sublattices here draw from the metals
only (:func:`metal_composition`).
"""

from __future__ import annotations

import numpy as np
from ase import Atoms

from heal import phases
from heal.errors import ConfigError

#: elements that take the Al (B) site of γ′ in Ni superalloys
GAMMA_PRIME_FORMERS = ("Al", "Ti", "Nb", "Ta")
NONMETALS = ("C", "B", "N", "O", "H")


def metal_composition(comp: dict[str, float]) -> dict[str, float]:
    """The composition without non-metals (C, B, N, O, H), renormalised to 1 (unchanged if nothing is left)."""
    metals = {el: x for el, x in comp.items() if el not in NONMETALS and x > 0}
    total = sum(metals.values())
    return {el: x / total for el, x in metals.items()} if total > 0 else dict(comp)


def _norm(d: dict[str, float]) -> dict[str, float]:
    t = sum(d.values())
    return {k: v / t for k, v in d.items()} if t > 0 else {}


def sublattice_symbols(n: int, main: dict[str, float], others: dict[str, float], substitution: float,
                       rng: np.random.Generator) -> list[str]:
    """`n` site symbols: ``1 - substitution`` of them from `main`, the rest from `others` (both by weight;
    all from `main` when `others` is empty), exact counts by largest remainders, shuffled."""
    from heal.composition import exact_counts

    main, others = _norm(main), _norm(others)
    n_sub = int(round(substitution * n)) if others else 0
    counts = exact_counts(main, n - n_sub) if n - n_sub else {}
    for el, c in (exact_counts(others, n_sub) if n_sub else {}).items():
        counts[el] = counts.get(el, 0) + c
    symbols = [el for el, c in counts.items() for _ in range(c)]
    return [symbols[i] for i in rng.permutation(len(symbols))]


def _majority(metals: dict[str, float], prefer: str) -> str:
    return prefer if prefer in metals else max(metals, key=lambda el: metals[el])


def gamma_prime(comp: dict[str, float], reps: tuple[int, int, int], substitution: float,
                rng: np.random.Generator) -> Atoms:
    """The decorated L1₂ supercell at scale 1 (``info['a']`` its lattice constant)."""
    from heal.composition import lattice_constant, mixed_volume

    metals = metal_composition(comp)
    b_main = {el: metals[el] for el in GAMMA_PRIME_FORMERS if el in metals}
    a_el = _majority(metals, "Ni")
    if not b_main:  # no γ′ former: the B site takes the second most abundant metal
        rest = {el: x for el, x in metals.items() if el != a_el} or metals
        b_main = {max(rest, key=lambda el: rest[el]): 1.0}
    cell = phases.l12(1.0).repeat(reps)
    a_idx, b_idx = phases.sublattice_indices(cell, "A"), phases.sublattice_indices(cell, "B")
    symbols = np.empty(len(cell), dtype=object)
    symbols[b_idx] = sublattice_symbols(len(b_idx), b_main, {k: v for k, v in metals.items() if k not in b_main},
                                        substitution, rng)
    symbols[a_idx] = sublattice_symbols(len(a_idx), {a_el: 1.0}, {k: v for k, v in metals.items() if k != a_el},
                                        substitution, rng)
    counts = {el: int(np.sum(symbols == el)) for el in metals}
    a = lattice_constant("fcc", mixed_volume(counts))
    atoms = phases.l12(a).repeat(reps)
    atoms.set_chemical_symbols(list(symbols))
    atoms.info["a"] = a
    return atoms


def carbide(comp: dict[str, float], max_atoms: int, substitution: float, rng: np.random.Generator) -> Atoms:
    """The decorated M₂₃C₆ cell at scale 1: C on the 24e sites only (``info['a']``: cubic lattice constant)."""
    from heal.composition import atomic_volume, mixed_volume

    if comp.get("C", 0.0) <= 0.0:
        raise ConfigError("field 'seeds.phases': 'm23c6' (the M23C6 carbide) needs carbon among the elements "
                          "(system.elements / family HEA10); remove 'm23c6' or add C")
    if max_atoms < 29:
        raise ConfigError(f"field 'seeds.max_atoms': the M23C6 carbide needs at least 29 atoms (its primitive "
                          f"cell), got {max_atoms}; raise seeds.max_atoms or remove 'm23c6' from seeds.phases")
    metals = metal_composition(comp)
    m_el = _majority(metals, "Cr")
    primitive = max_atoms < 116
    build = phases.m23c6_primitive if primitive else phases.m23c6
    cell = build(phases.REFERENCE_A["Cr23C6"])
    m_idx = phases.sublattice_indices(cell, "M")
    symbols = np.array(cell.get_chemical_symbols(), dtype=object)  # C already on the 24e sites
    symbols[m_idx] = sublattice_symbols(len(m_idx), {m_el: 1.0}, {k: v for k, v in metals.items() if k != m_el},
                                        substitution, rng)
    counts = {el: int(np.sum(symbols[m_idx] == el)) for el in metals}
    a = phases.REFERENCE_A["Cr23C6"] * (mixed_volume(counts) / atomic_volume("Cr")) ** (1.0 / 3.0)
    atoms = build(a)
    atoms.set_chemical_symbols(list(symbols))
    atoms.info["a"] = a
    return atoms
