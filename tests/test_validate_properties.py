"""The validation property routines (heal/validate/properties.py, md.py) against independent references.

ASE's EMT (Ni, Al, Cu) is the calculator. heal's lattice constant (E-V scan + Birch-Murnaghan fit) is checked
against a direct minimisation of E(a); heal's elastic constants (linear fit of *stress* against strain) against
the curvature of the *energy* under the same strains (E/V = E0/V + ½ Σ Cij εi εj), a second, independent
path; the RDF against the FCC coordination number (12 neighbours in the first shell).
"""

from __future__ import annotations

import numpy as np
import pytest
from ase import units
from ase.calculators.emt import EMT
from ase.calculators.lj import LennardJones
from scipy.optimize import minimize_scalar

from heal import phases
from heal.validate import md
from heal.validate.properties import elastic_cubic, equilibrium, relax_ions, scaled, strain_cell


def _energy(atoms, calc=None):
    atoms.calc = calc or EMT()
    return atoms.get_potential_energy()


def _a_by_minimisation(cell) -> float:
    res = minimize_scalar(lambda a: _energy(scaled(cell, a)), bounds=(3.0, 4.2), method="bounded",
                          options={"xatol": 1e-7})
    return float(res.x)


def _curvature(cell, voigt: list[int], e: float = 0.004) -> float:
    """d²(E/V)/de² (GPa) for the strain e applied to every Voigt component of `voigt` at once."""
    def en(x):
        a = cell
        for v in voigt:
            a = strain_cell(a, v, x)
        return _energy(a)
    v0 = cell.get_volume()
    return (en(e) - 2 * en(0.0) + en(-e)) / e**2 / v0 / units.GPa


@pytest.mark.parametrize("cell", [phases.fcc(3.5, "Ni"), phases.fcc(3.6, "Cu"), phases.l12(3.6, "Ni", "Al")],
                         ids=["Ni", "Cu", "Ni3Al"])
def test_lattice_constant_and_elastic_constants_agree_with_energy_minimisation_and_energy_curvature(cell):
    cell.info["repeat"] = 1
    eos = equilibrium(cell, EMT())
    a_min = _a_by_minimisation(cell)
    assert eos.a == pytest.approx(a_min, abs=2e-3)
    eq = scaled(cell, a_min)
    el = elastic_cubic(eq, EMT())
    c11 = _curvature(eq, [0])  # uniaxial: E/V = ½ C11 e²
    c11_plus_c12 = _curvature(eq, [0, 1]) / 2  # biaxial: E/V = (C11 + C12) e²
    c44 = _curvature(eq, [3])  # engineering shear: E/V = ½ C44 γ²
    assert el.c11 == pytest.approx(c11, rel=0.02)
    assert el.c12 == pytest.approx(c11_plus_c12 - c11, rel=0.03)
    assert el.c44 == pytest.approx(c44, rel=0.02)
    # the E-V fit's bulk modulus and the elastic constants' (C11 + 2 C12) / 3 describe one crystal
    assert eos.bulk_modulus == pytest.approx(el.bulk_modulus, rel=0.03)
    assert el.relaxed_ions is False  # every FCC / L1_2 site is an inversion centre: no forces under strain


def test_equilibrium_finds_the_minimum_from_a_guess_outside_the_scan_window():
    cell = phases.fcc(3.9, "Cu")  # 8 % too large: the coarse window's minimum is at its edge, then moves
    cell.info["repeat"] = 1
    assert equilibrium(cell, EMT()).a == pytest.approx(_a_by_minimisation(cell), abs=2e-3)


def test_a_supercell_gives_the_lattice_constant_of_its_conventional_cell():
    cell = phases.fcc(3.5, "Ni")
    cell.info["repeat"] = 1
    big = cell.repeat(2)
    big.info["repeat"] = 2
    assert equilibrium(big, EMT()).a == pytest.approx(equilibrium(cell, EMT()).a, abs=1e-4)


def test_rdf_first_shell_of_fcc_holds_twelve_neighbours_and_identical_curves_are_at_distance_zero():
    a = 3.52
    atoms = phases.fcc(a, "Ni").repeat(3)
    r, g = md.rdf([atoms], rmax=3.0, nbins=300)
    rho = len(atoms) / atoms.get_volume()
    dr = r[1] - r[0]
    shell = r < (a / np.sqrt(2) + a) / 2  # between the first (2.49 Å) and second (3.52 Å) shells
    assert np.sum(4 * np.pi * r[shell] ** 2 * rho * g[shell] * dr) == pytest.approx(12.0, rel=0.02)
    assert md.rdf_distance(g, g) == 0.0
    atoms2 = atoms.copy()
    atoms2.rattle(0.1, seed=1)
    assert md.rdf_distance(md.rdf([atoms2], 3.0, 300)[1], g) > 0.3


def test_emt_md_at_300k_is_stable_and_a_squeezed_cell_is_not():
    cell = scaled(phases.fcc(3.5, "Cu"), 3.6).repeat(2)
    tr = md.ase_md(cell, EMT(), 300.0, steps=60, every=10, seed=3)
    s = md.summarize(tr, len(cell), d_min=1.5)
    assert s["stable"], s["reasons"]
    assert s["frames"] == 7 and s["atoms_lost"] == 0 and 2.0 < s["d_min"] < 2.6
    assert s["energy_drift"] is None  # Langevin conserves no energy
    squeezed = cell.copy()
    squeezed.positions[0] = squeezed.positions[1] + [0.7, 0.0, 0.0]
    bad = md.summarize(md.ase_md(squeezed, EMT(), 300.0, steps=20, every=10, seed=3), len(cell), d_min=1.5)
    assert not bad["stable"]
    assert any("shortest distance" in r for r in bad["reasons"])
    assert bad["unstable_frames"] == []  # it starts collapsed: no frame the oracle would label


def test_the_frames_to_label_from_an_unstable_run_lead_into_the_collapse():
    """Frames closer than d_min are refused by the oracle; the ones that lead into the failure are labelable."""
    from ase import Atoms

    base = Atoms("Cu2", positions=[[1.0, 1.0, 1.0], [4.0, 1.0, 1.0]], cell=[10.0, 10.0, 10.0], pbc=True)
    frames, epot = [], []
    for k, gap in enumerate([2.5, 2.4, 2.2, 2.0, 1.8, 1.2, 0.9]):  # atom 1 walks into atom 0
        a = base.copy()
        a.positions[1] = a.positions[0] + [gap, 0.0, 0.0]
        frames.append(a)
        epot.append(-3.0 * len(a) + 0.01 * k)
    tr = {"frames": frames, "time_ps": [0.01 * k for k in range(7)], "epot": epot, "econserve": None,
          "volume": [a.get_volume() for a in frames], "error": None}
    s = md.summarize(tr, len(base), d_min=1.5)
    assert not s["stable"] and s["unstable_frames"] == [2, 3, 4]  # the LEAD_IN = 3 frames before frame 5
    tr["error"] = "Lost atoms: original 2 current 1"
    assert md.summarize(tr, len(base), d_min=1.5)["unstable_frames"] == [2, 3, 4]  # frames 5, 6 stay refused


def test_a_relaxation_in_which_the_ions_collapse_is_an_error_of_the_phase_not_an_energy():
    """Lennard-Jones (σ = 1 Å) in an FCC cell stretched beyond its inflection point (neighbours at 1.41 σ): the
    rattled ions fall into pairs at ~1.12 σ, as a poor model lets the random γ cell collapse when relaxed."""
    cell = phases.fcc(2.0, "Cu").repeat(2)
    cell.info["repeat"] = 2
    cell.rattle(0.05, seed=1)
    lj = LennardJones(sigma=1.0, epsilon=1.0, rc=3.0)
    with pytest.raises(ValueError, match=r"ions collapse when relaxed \(shortest distance 1\.\d\d Å < 1.2 Å\)"):
        equilibrium(cell, lj, relax_fmax=1e-3, max_steps=100, d_min=1.2)
    x = scaled(cell, 2.0 * 0.94)  # the scan's first point: without the guard its relaxation goes on into the collapse
    assert relax_ions(x, lj, 1e-3, 100)  # it ends in pairs ~0.1 Å shorter than the lattice's neighbours
    assert md.min_distance(x) < 1.88 / np.sqrt(2) - 0.1
    # EMT's copper relaxes back onto its lattice: ions relaxed, no error, no force left
    cu = phases.fcc(3.6, "Cu").repeat(2)
    cu.info["repeat"] = 2
    cu.rattle(0.05, seed=1)
    eos = equilibrium(cu, EMT(), relax_fmax=1e-3, max_steps=100, d_min=1.2)
    assert eos.relaxed_ions and eos.max_force <= 1e-3
    assert eos.a == pytest.approx(equilibrium(phases.fcc(3.6, "Cu"), EMT()).a, abs=2e-3)
