"""The γ cell on the oracle side (real MEAM teacher): ions relaxed at each volume, and the 300 K lattice constant.

The 300 K lattice constant heal reports for the oracle (``heal.validate.runner``, side "oracle": ase's MTK
barostat on heal's MEAM labeler) is checked against LAMMPS running the same potential by itself
(``pair_style meam``, ``fix npt``) on the same cell, read from a data file ase writes: two integrators, two
velocity draws, one ensemble. Tolerance from the statistics: the γ cell (256 atoms) fluctuates by
σ_a ≈ 0.003 Å per frame (measured, 0.0024-0.0039 Å over four runs); frames 100 fs apart are nearly
independent, so the mean of the last 80 % of a 1.5 ps run has σ ≈ 0.003 / √12 ≈ 0.0009 Å, and the difference
of two runs σ ≈ 0.0012 Å: 0.004 Å is > 3 σ. The thermal expansion from 0 K (measured 0.0137 Å) is three times
that, so a run that does not expand the cell (no barostat, a pressure in the wrong units) fails.
Measured on 2 cores (loaded): 1500 steps take ~10 s through ase, ~4 s in LAMMPS.
"""

from __future__ import annotations

import numpy as np
import pytest
from ase.data import atomic_masses, atomic_numbers
from ase.io import write

from heal.label.meam import FILE_ELEMENTS, potential_files
from heal.lammps_module import import_lammps
from heal.validate import runner
from heal.validate.calculators import oracle_calculator
from heal.validate.properties import equilibrium, relax_ions, scaled
from heal.validate.spec import ValidateSpec
from heal.validate.structures import build, supercell

HEA4 = ["Ni", "Co", "Cr", "Al"]
STEPS, EVERY = 1500, 20


def _lammps(cell, tmp_path, lines: list[str]):
    """A LAMMPS instance with `cell` read from a data file and the MEAM teacher; `lines` run after."""
    data = tmp_path / "cell.data"
    write(data, cell, format="lammps-data", specorder=list(FILE_ELEMENTS), units="metal")
    lmp = import_lammps().lammps(cmdargs=["-screen", "none", "-log", "none", "-nocite"])
    lib, par = potential_files()
    els = " ".join(FILE_ELEMENTS)
    lmp.commands_list(["units metal", "atom_style atomic", "boundary p p p", f"read_data {data}",
                       *[f"mass {i + 1} {float(atomic_masses[atomic_numbers[el]])!r}"
                         for i, el in enumerate(FILE_ELEMENTS)],
                       "pair_style meam", f"pair_coeff * * {lib} {els} {par} {els}", *lines])
    return lmp


def _lammps_npt_a(cell, tmp_path, n_cells: int) -> float:
    """Mean lattice constant of `cell` in LAMMPS's own NPT at 300 K, 1 bar (the last 80 % of the frames)."""
    lmp = _lammps(cell, tmp_path, ["timestep 0.001", "velocity all create 300.0 4711 mom yes rot yes dist gaussian",
                                   "fix npt all npt temp 300.0 300.0 0.1 iso 1.0 1.0 1.0", "run 0"])
    vols = [lmp.get_thermo("vol")]
    for _ in range(STEPS // EVERY):
        lmp.command(f"run {EVERY} pre no post no")
        vols.append(lmp.get_thermo("vol"))
    lmp.close()
    v = np.array(vols[int(len(vols) * 0.2):])
    return float(np.mean((v / n_cells) ** (1 / 3)))


def test_meam_oracle_lattice_constant_at_300k_matches_lammps_fix_npt_on_the_same_cell(tmp_path):
    vs = ValidateSpec(phases=["gamma"], properties=["lattice", "lattice_300k"], npt_steps=STEPS,
                      sample_every=EVERY, md_repeat=4)
    spec = {"side": "oracle", "oracle": "meam", "params": {}, "elements": HEA4, "composition": None,
            "type_map": HEA4, "d_min": 1.5, "validate": vs.model_dump(mode="json")}
    res = runner.run(spec, tmp_path)
    ph = res["phases"]["gamma"]
    a0, a300 = ph["lattice"], ph["lattice_300k"]
    assert a300 is not None, res
    cell = supercell(scaled(build("gamma", HEA4, None, vs.seed), a0), 2)  # the runner's cell: 4 x 4 x 4, 256 atoms
    assert len(cell) == 256
    ref = _lammps_npt_a(cell, tmp_path, 4 ** 3)
    assert a300 == pytest.approx(ref, abs=0.004), (a300, ref)
    assert a300 - a0 > 0.008 and ref - a0 > 0.008  # both expanded from 0 K (measured 0.0137 Å)
    assert ph["relaxed_ions"] is True and "gamma npt" in res["timings"]


def test_random_gamma_cell_ions_are_relaxed_at_each_volume_lower_minimum_no_forces_left(tmp_path):
    calc = oracle_calculator("meam")
    g = build("gamma", HEA4)
    fixed = equilibrium(g, calc)
    relaxed = equilibrium(g, calc, relax_fmax=1e-3)
    assert not fixed.relaxed_ions and relaxed.relaxed_ions
    assert relaxed.max_force <= 1e-3
    # the random decoration pushes atoms off their sites (forces ~1-3 eV/Å); relaxing lowers E0 by ~20 meV/atom
    assert relaxed.energy < fixed.energy - 0.005 * len(g)
    assert relaxed.a != pytest.approx(fixed.a, abs=1e-4)
    x = scaled(g, relaxed.a)
    x.calc = calc
    assert np.linalg.norm(x.get_forces(), axis=1).max() > 0.5
    assert relax_ions(x, calc, 1e-3)
    assert np.linalg.norm(x.get_forces(), axis=1).max() <= 1e-3
    e_heal = x.get_potential_energy()
    # LAMMPS's own minimiser at the same fixed box reaches the same minimum energy
    lmp = _lammps(scaled(g, relaxed.a), tmp_path, ["min_style cg", "minimize 0 1e-6 10000 100000"])
    e_lmp = lmp.get_thermo("pe")
    lmp.close()
    assert e_heal == pytest.approx(e_lmp, abs=2e-3 * len(g)), (e_heal, e_lmp)
    # ... and the E-V fit's minimum is that relaxed energy (the fit at its own minimum, within 1 meV/atom)
    assert relaxed.energy == pytest.approx(e_heal, abs=1e-3 * len(g))
    # an ordered cell (L1_2) has no forces on its sites: nothing to relax, the same curve either way
    l12 = build("ni3al", HEA4)
    assert not equilibrium(l12, calc, relax_fmax=1e-3).relaxed_ions


def test_chgnet_oracle_runs_its_own_npt_through_the_same_barostat(tmp_path):
    """The universal oracle (CHGNet) on the 4-atom Ni cell, 20 steps: stress-driven NPT on a second in-process
    oracle; a short run, so only a sane lattice constant (CHGNet's Ni: ~3.5 Å)."""
    vs = ValidateSpec(phases=["ni"], properties=["lattice_300k"], npt_steps=20, sample_every=5, md_repeat=1)
    spec = {"side": "oracle", "oracle": "universal", "params": {}, "elements": HEA4, "composition": None,
            "type_map": HEA4, "d_min": 1.5, "validate": vs.model_dump(mode="json")}
    res = runner.run(spec, tmp_path)
    assert res["phases"]["ni"]["lattice_300k"] == pytest.approx(3.52, rel=0.03), res
    assert "lattice" not in res["phases"]["ni"] and "ni npt" in res["timings"]
