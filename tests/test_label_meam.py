"""Real-engine tests of the MEAM teacher (LAMMPS in-process, 2NN MEAM Mo-Co-Ni-V-Fe-Al-Cr).

Forces and stress are checked against central finite differences of the same potential's energy on a
rattled 32-atom NiCoCrAl FCC cell. Units: eV, Å, eV/Å^3.
"""

from __future__ import annotations

import numpy as np
import pytest
from finite_difference import strain_derivative
from ase.build import bulk

from heal.errors import SetupError
from heal.label import meam

pytestmark = pytest.mark.engine


@pytest.fixture(scope="module")
def labeler():
    lab = meam.MeamLabeler({})  # LAMMPS and the MEAM files come with the install: a failure here is a failure
    yield lab
    lab.close()


@pytest.fixture(scope="module")
def hea4():
    atoms = bulk("Ni", "fcc", a=3.56, cubic=True).repeat(2)
    rng = np.random.default_rng(7)
    atoms.set_chemical_symbols(rng.permutation(["Ni", "Co", "Cr", "Al"] * 8))
    atoms.rattle(0.08, seed=3)
    return atoms


def test_reference_cohesive_energy(labeler):
    # the parameter file's Ec(Ni) = 4.45 eV at the FCC equilibrium (a = 3.52 Å)
    e, f, s = labeler.compute(bulk("Ni", "fcc", a=3.52).repeat(2))
    assert e / 8 == pytest.approx(-4.45, abs=2e-3)
    assert np.abs(f).max() < 1e-8


def test_forces_are_minus_energy_gradient(labeler, hea4):
    e, f, _ = labeler.compute(hea4)
    assert np.all(np.isfinite(f)) and np.isfinite(e)
    assert np.abs(f).max() > 0.1  # rattled: non-trivial forces
    h = 1e-4
    for i, k in [(0, 0), (5, 1), (13, 2), (31, 0)]:
        plus, minus = hea4.copy(), hea4.copy()
        plus.positions[i, k] += h
        minus.positions[i, k] -= h
        fd = -(labeler.compute(plus)[0] - labeler.compute(minus)[0]) / (2 * h)
        assert f[i, k] == pytest.approx(fd, abs=1e-3)


def test_forces_sum_to_zero(labeler, hea4):
    _, f, _ = labeler.compute(hea4)
    assert np.abs(f.sum(axis=0)).max() < 1e-8


def test_stress_is_strain_derivative(labeler, hea4):
    _, _, stress = labeler.compute(hea4)
    voigt = {(0, 0): 0, (1, 1): 1, (2, 2): 2, (1, 2): 3, (0, 2): 4, (0, 1): 5}
    d = 1e-5
    for (i, j), v in voigt.items():
        fd = strain_derivative(lambda b: labeler.compute(b)[0], hea4, i, j, d)
        assert stress[v] == pytest.approx(fd, abs=1e-5)


def test_rotated_triclinic_cell_is_equivalent(labeler, hea4):
    e, f, _ = labeler.compute(hea4)
    c, s = np.cos(0.4), np.sin(0.4)
    rot = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]]) @ np.array([[1, 0, 0], [0, c, -s], [0, s, c]])
    b = hea4.copy()
    b.set_cell(hea4.cell.array @ rot.T)
    b.positions = hea4.positions @ rot.T
    e2, f2, _ = labeler.compute(b)
    assert e2 == pytest.approx(e, abs=1e-9)
    assert np.abs(f2 - f @ rot.T).max() < 1e-8


def test_protocol_round_trip_matches_compute(labeler, hea4, tmp_path):
    labeler.write_input(hea4, tmp_path)
    labeler.execute(tmp_path, None)
    out = labeler.read_results(tmp_path, hea4.copy())
    e, f, s = labeler.compute(hea4)
    assert (tmp_path / meam.INPUT).is_file()
    assert out.get_potential_energy() == pytest.approx(e, abs=1e-5)
    assert np.abs(out.get_forces() - f).max() < 1e-4
    assert np.abs(out.get_stress() - s).max() < 1e-6


def test_element_outside_potential_is_a_setup_error(labeler, hea4, tmp_path):
    bad = hea4.copy()
    bad[0].symbol = "Ti"
    bad[1].symbol = "W"
    with pytest.raises(SetupError, match=r"Ti, W.*universal"):
        labeler.write_input(bad, tmp_path)
    with pytest.raises(SetupError, match="universal"):
        labeler.compute(bad)
