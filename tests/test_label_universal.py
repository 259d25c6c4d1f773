"""Real-engine tests of the universal teacher (CHGNet 0.3.0, weights shipped in the chgnet wheel).

Skipped when chgnet is not installed (``pip install torch==2.13.0 chgnet``). Units: eV, eV/Å, eV/Å^3.
"""

from __future__ import annotations

import numpy as np
import pytest
from finite_difference import strain_derivative
from ase import Atoms
from ase.build import bulk

from heal.errors import ConfigError, FatalError

from heal.label.universal import UniversalLabeler

pytestmark = pytest.mark.engine

HEA10 = ["Cr", "W", "Mo", "C", "Ni", "Co", "Fe", "Al", "Ti", "Nb"]


@pytest.fixture(scope="module")
def labeler():
    return UniversalLabeler({})


def test_hea10_cell_forces_finite_and_balanced(labeler, tmp_path):
    atoms = bulk("Ni", "fcc", a=3.6, cubic=True).repeat(2)
    rng = np.random.default_rng(0)
    atoms.set_chemical_symbols(rng.permutation(HEA10 * 3 + ["Ni", "Co"]))
    atoms.rattle(0.05, seed=1)
    labeler.write_input(atoms, tmp_path)
    labeler.execute(tmp_path, None)
    out = labeler.read_results(tmp_path, atoms.copy())
    e, f, s = out.get_potential_energy(), out.get_forces(), out.get_stress()
    assert np.isfinite(e) and np.all(np.isfinite(f)) and np.all(np.isfinite(s))
    assert -12.0 < e / len(atoms) < -3.0  # MPtrj-like total energies: several eV per atom below zero
    assert np.abs(f.sum(axis=0)).max() < 1e-3  # float32 model
    assert np.abs(f).max() > 0.05


def test_compression_raises_energy_and_pressure(labeler):
    def label(scale):
        return labeler.compute(bulk("Ni", "fcc", a=3.52 * scale, cubic=True))

    e_eq, _, s_eq = label(1.0)
    e_c, f_c, s_c = label(0.9)
    e_t, _, _ = label(1.1)
    assert e_c > e_eq and e_t > e_eq  # a minimum near the Ni lattice constant
    assert np.abs(f_c).max() < 1e-3  # perfect lattice: no forces
    assert s_c[:3].max() < -0.05  # compressed: strongly negative (compressive) stress, ASE sign
    assert abs(s_eq[:3].mean()) < 0.02


def test_stress_is_strain_derivative(labeler):
    atoms = bulk("Ni", "fcc", a=3.50, cubic=True)
    atoms.set_chemical_symbols(["Ni", "Cr", "Ti", "Ni"])
    atoms.rattle(0.03, seed=2)
    _, _, stress = labeler.compute(atoms)
    d = 2e-3
    for (i, j), v in {(0, 0): 0, (1, 2): 3}.items():
        fd = strain_derivative(lambda b: labeler.compute(b)[0], atoms, i, j, d)
        assert stress[v] == pytest.approx(fd, abs=2e-3)


def test_bad_params():
    with pytest.raises(ConfigError, match="model"):
        UniversalLabeler({"model": "mace-mp-0"})
    with pytest.raises(FatalError, match="periodic"):
        UniversalLabeler({}).compute(Atoms("Ni2", positions=[[0, 0, 0], [2.5, 0, 0]]))
