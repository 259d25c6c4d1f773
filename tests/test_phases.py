"""Unit tests of the crystal prototypes (heal/phases.py): counts, sublattices, distances, symmetry."""

import numpy as np
import pytest
from ase.geometry import get_distances

from heal import phases


def _dmin(atoms):
    d = atoms.get_all_distances(mic=True)
    return d[~np.eye(len(atoms), dtype=bool)].min()


def test_l12_has_one_b_site_and_three_a_sites_at_fcc_distances():
    atoms = phases.l12(3.57)
    assert atoms.get_chemical_formula() == "AlNi3"
    assert list(phases.sublattice_indices(atoms, "B")) == [int(np.flatnonzero(np.array(atoms.get_chemical_symbols()) == "Al")[0])]
    assert len(phases.sublattice_indices(atoms, "A")) == 3
    assert _dmin(atoms) == pytest.approx(3.57 / np.sqrt(2))
    # each Al has 12 Ni nearest neighbours and no Al neighbour: L1_2 ordering
    big = atoms.repeat(2)
    al = [i for i, s in enumerate(big.get_chemical_symbols()) if s == "Al"]
    d = big.get_distances(al[0], range(len(big)), mic=True)
    nn = [big[i].symbol for i in np.flatnonzero(np.isclose(d, 3.57 / np.sqrt(2)))]
    assert nn == ["Ni"] * 12


def test_m23c6_conventional_and_primitive_counts_and_carbon_only_on_24e():
    conv = phases.m23c6()
    assert len(conv) == 116 and conv.get_chemical_formula() == "C24Cr92"
    carbon = phases.sublattice_indices(conv, "C")
    assert sorted(carbon) == sorted(i for i, s in enumerate(conv.get_chemical_symbols()) if s == "C")
    prim = phases.m23c6_primitive()
    assert len(prim) == 29 and prim.get_chemical_formula() == "C6Cr23"
    assert prim.get_volume() == pytest.approx(conv.get_volume() / 4)
    # a carbide, not a metal lattice: no C-C bond, every C has 8 metal neighbours at 2.0-2.2 Å (square antiprism)
    cpos = conv.positions[carbon]
    _, dcc = get_distances(cpos, cell=conv.cell, pbc=True)
    assert dcc[~np.eye(len(cpos), dtype=bool)].min() > 3.0
    for i in carbon:
        d = conv.get_distances(i, range(len(conv)), mic=True)
        assert int(np.sum((d > 0) & (d < 2.3))) == 8 and d[(d > 0) & (d < 2.3)].min() > 2.0
    assert _dmin(conv) > 1.9


def test_m23c6_substitutes_the_metal_sublattice_only():
    atoms = phases.m23c6(metal="Ni")
    assert atoms.get_chemical_formula() == "C24Ni92"
    with pytest.raises(ValueError, match="different elements"):
        phases.m23c6(metal="C")


def test_fcc_bcc_hcp_cells():
    assert len(phases.fcc(3.52)) == 4 and _dmin(phases.fcc(3.52)) == pytest.approx(3.52 / np.sqrt(2))
    assert len(phases.bcc(2.88)) == 2 and _dmin(phases.bcc(2.88)) == pytest.approx(2.88 * np.sqrt(3) / 2)
    h = phases.hcp(2.51)
    assert len(h) == 4 and _dmin(h) == pytest.approx(2.51)
