"""VASP labeler, reading real outputs: VASP files shipped in ase's wheel (``ase/test/testdata/vasp``), parsed to
numbers read from the files by hand (source line noted), and edited copies (how: in the test) that must be
rejected. Inputs and wiring: test_label_vasp.py.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from ase import Atoms, units
from ase.io import read

from heal.errors import FatalError
from heal.label import vasp_parse as vp
from heal.label.vasp import VaspLabeler
from vasp_fixtures import ASE_VASP, DATA, nacl_frame, ni3al


def ni18_frame(tmp_path) -> Atoms:
    """Input frame of OUTCAR_example_1 from ase's POSCAR_example_1 (species taken from the OUTCAR beside it)."""
    d = tmp_path / "ni18src"
    d.mkdir()
    shutil.copy(ASE_VASP / "OUTCAR_example_1", d / "OUTCAR")
    shutil.copy(ASE_VASP / "POSCAR_example_1", d / "POSCAR")
    atoms = read(d / "POSCAR", format="vasp")
    atoms.pbc = True
    return atoms


# Ni18, OUTCAR_example_1 (VASP 5.3.3): TOTAL-FORCE rows, lines 3859 / 3861 / 3876
NI18_F0 = [0.030415, -0.114705, -0.460114]
NI18_F2 = [-2.152142, -0.601239, -0.175921]
NI18_F17 = [-0.000170, -0.427894, -0.523640]
NI18_TOTEN = -68.22868532      # line 3887, 'free  energy   TOTEN'
NI18_SIGMA0 = -68.23102426     # line 3889, 'energy(sigma->0)'
NI18_KB = [-4.29429, -4.58894, -4.50342, 0.50047, -0.94049, 0.36481]  # line 3815, 'in kB' XX YY ZZ XY YZ ZX


def test_real_outcar_ni18_energy_forces_stress(tmp_path, pp_lib):
    atoms = ni18_frame(tmp_path)
    wd = tmp_path / "run"
    VaspLabeler({}).write_input(atoms, wd)          # writes heal_vasp.json (identity order for Ni only)
    shutil.copy(ASE_VASP / "OUTCAR_example_1", wd / "OUTCAR")
    labeled = VaspLabeler({}).read_results(wd, atoms)
    assert labeled.get_potential_energy() == pytest.approx(NI18_TOTEN, abs=1e-8)
    f = labeled.get_forces()
    assert f.shape == (18, 3)
    np.testing.assert_allclose(f[[0, 2, 17]], [NI18_F0, NI18_F2, NI18_F17], atol=1e-6)
    xx, yy, zz, xy, yz, zx = NI18_KB      # VASP's sign is opposite to ASE's; 1 kBar = 0.1 GPa
    expected = -np.array([xx, yy, zz, yz, zx, xy]) * 0.1 * units.GPa
    np.testing.assert_allclose(labeled.get_stress(), expected, atol=1e-9)
    out = vp.parse_outcar(wd / "OUTCAR")
    assert out.energy_sigma0 == pytest.approx(NI18_SIGMA0, abs=1e-8)
    # line 154 'NELM = 120', line 155 'EDIFF = 0.1E-03', 'Iteration 1( 63)' at line 3382, dE line 3395
    assert (out.scf.n_steps, out.scf.nelm, out.scf.ediff) == (63, 120, 1e-4)
    assert out.scf.last_de == pytest.approx(0.5969621e-05)
    assert vp.scf_failure(out.scf) is None


def test_real_vasprun_pstress_free_energy_without_pv(tmp_path):
    """C2 (VASP 6.3.0, PSTRESS = 1 kB). Frame built from the file's <structure name="initialpos">."""
    wd = tmp_path / "c2"
    wd.mkdir()
    shutil.copy(ASE_VASP / "vasprun_pstress.xml", wd / "vasprun.xml")
    atoms = Atoms("C2", cell=[[0, 1.785, 1.785], [1.785, 0, 1.785], [1.785, 1.785, 0]],
                  scaled_positions=[[0, 0, 0], [.25, .25, .25]], pbc=True)
    labeled = VaspLabeler({}).read_results(wd, atoms)   # no heal_vasp.json: order recomputed
    # line 526: last <scstep> e_fr_energy -20.24695937; the <calculation> energy (line 560, -20.23985977)
    # includes PV = 1 kB x 11.3748 Å^3, which ase removes
    assert labeled.get_potential_energy() == pytest.approx(-20.24695937, abs=1e-6)
    # lines 555-557: stress -165.99562580 kB on the diagonal
    np.testing.assert_allclose(labeled.get_stress()[:3], [165.99562580 * 0.1 * units.GPa] * 3, atol=1e-9)
    np.testing.assert_allclose(labeled.get_forces(), 0.0, atol=1e-8)   # lines 551-552: zero by symmetry


def test_real_vasprun_nacl_back_in_input_order(tmp_path):
    wd = tmp_path / "nacl"
    wd.mkdir()
    shutil.copy(ASE_VASP / "vasprun_dfpt.xml", wd / "vasprun.xml")
    labeled = VaspLabeler({"species_order": ["Na", "Cl"]}).read_results(wd, nacl_frame())
    assert labeled.get_chemical_symbols() == ["Cl", "Na"]
    assert labeled.get_potential_energy() == pytest.approx(-6.74587304, abs=1e-8)   # line 602
    np.testing.assert_allclose(labeled.get_stress()[:3], [-36.08907525 * 0.1 * units.GPa] * 3, atol=1e-9)
    out = vp.parse_vasprun(wd / "vasprun.xml")
    # 13 ground-state <scstep>s before <structure>; the DFPT steps after <energy> are not counted
    assert (out.scf.n_steps, out.scf.nelm, out.scf.ediff) == (13, 100, 1e-8)
    # the default species order (Cl before Na) would not match what VASP ran: the output is refused
    with pytest.raises(FatalError, match="not for this frame"):
        VaspLabeler({}).read_results(wd, nacl_frame())


def test_real_output_for_another_structure_rejected(tmp_path):
    wd = tmp_path / "stale"
    wd.mkdir()
    shutil.copy(ASE_VASP / "vasprun_dfpt.xml", wd / "vasprun.xml")
    moved = nacl_frame(mixed=False)
    moved.positions[1] += [0.05, 0.0, 0.0]
    with pytest.raises(FatalError, match="not for this frame"):
        VaspLabeler({}).read_results(wd, moved)


def test_real_truncated_vasprun_without_outcar_rejected(tmp_path):
    wd = tmp_path / "trunc"
    wd.mkdir()
    text = (ASE_VASP / "vasprun_pstress.xml").read_text(encoding="latin-1")
    (wd / "vasprun.xml").write_text(text[: len(text) // 2], encoding="latin-1")   # cut in the middle
    with pytest.raises(FatalError) as err:
        VaspLabeler({}).read_results(wd, Atoms("C2", cell=[3, 3, 3], pbc=True))
    assert "truncated or not well-formed" in str(err.value) and "OUTCAR: missing" in str(err.value)


def test_real_truncated_vasprun_falls_back_to_outcar(tmp_path):
    atoms = ni18_frame(tmp_path)
    wd = tmp_path / "fallback"
    wd.mkdir()
    text = (ASE_VASP / "vasprun_pstress.xml").read_text(encoding="latin-1")
    (wd / "vasprun.xml").write_text(text[:5000], encoding="latin-1")
    shutil.copy(ASE_VASP / "OUTCAR_example_1", wd / "OUTCAR")
    labeled = VaspLabeler({}).read_results(wd, atoms)
    assert labeled.get_potential_energy() == pytest.approx(NI18_TOTEN, abs=1e-8)


def test_real_outcar_without_forces_rejected(tmp_path):
    atoms = ni18_frame(tmp_path)
    wd = tmp_path / "noforce"
    wd.mkdir()
    lines = (ASE_VASP / "OUTCAR_example_1").read_text().splitlines(keepends=True)
    # drop the TOTAL-FORCE block: header (line 3857), dashes, 18 rows, dashes, 'total drift' (line 3878)
    start = next(i for i, ln in enumerate(lines) if "TOTAL-FORCE" in ln)
    assert "total drift" in lines[start + 21]
    (wd / "OUTCAR").write_text("".join(lines[:start] + lines[start + 22:]))
    with pytest.raises(FatalError, match="no forces"):
        VaspLabeler({}).read_results(wd, atoms)


def test_real_missing_outputs_rejected(tmp_path):
    with pytest.raises(FatalError, match="vasprun.xml: missing; OUTCAR: missing"):
        VaspLabeler({}).read_results(tmp_path, ni3al())


def test_real_unconverged_outcar_rejected(tmp_path):
    """Made from OUTCAR_example_1 (63 SCF steps, last dE 5.97e-6 eV): NELM 120 -> 63 (line 154), EDIFF
    1e-4 -> 1e-6 (line 155), and the line 'aborting loop because EDIFF is reached' (3790) removed -- the
    record VASP would have left had the run used the thesis's EDIFF with NELM = 63."""
    atoms = ni18_frame(tmp_path)
    wd = tmp_path / "unconv"
    wd.mkdir()
    text = (ASE_VASP / "OUTCAR_example_1").read_text()
    edited = (text.replace("NELM   =    120;", "NELM   =     63;", 1)
              .replace("EDIFF  = 0.1E-03   stopping", "EDIFF  = 0.1E-05   stopping", 1)
              .replace("------------------------ aborting loop because EDIFF is reached "
                       "----------------------------------------\n", "", 1))
    assert edited.count("NELM   =     63;") == 1 and "EDIFF is reached" not in edited
    (wd / "OUTCAR").write_text(edited)
    with pytest.raises(FatalError) as err:
        VaspLabeler({}).read_results(wd, atoms)
    msg = str(err.value)
    assert "SCF not converged" in msg and "63 electronic steps = NELM 63" in msg and "OUTCAR" in msg


def test_real_unconverged_vasprun_rejected(tmp_path):
    """Made from vasprun_pstress.xml (9 <scstep>s, last change 8e-8 eV): NELM 60 -> 9 (line 129) and
    EDIFF 1e-4 -> 1e-8 (line 82)."""
    wd = tmp_path / "unconv"
    wd.mkdir()
    text = (ASE_VASP / "vasprun_pstress.xml").read_text(encoding="latin-1")
    edited = (text.replace('<i type="int" name="NELM">    60</i>', '<i type="int" name="NELM">     9</i>', 1)
              .replace('<i name="EDIFF">      0.00010000</i>', '<i name="EDIFF">      0.00000001</i>', 1))
    assert edited != text
    (wd / "vasprun.xml").write_text(edited, encoding="latin-1")
    atoms = Atoms("C2", cell=[[0, 1.785, 1.785], [1.785, 0, 1.785], [1.785, 1.785, 0]],
                  scaled_positions=[[0, 0, 0], [.25, .25, .25]], pbc=True)
    with pytest.raises(FatalError, match=r"SCF not converged: 9 electronic steps = NELM 9 .*vasprun.xml"):
        VaspLabeler({}).read_results(wd, atoms)


def test_real_oszicar_excerpt_scf_count():
    """OSZICAR lines written by hand from OUTCAR_example_1's numbers (see tests/data/vasp/README.md)."""
    steps = vp.parse_oszicar(DATA / "OSZICAR_Ni18_excerpt")
    assert steps == [(63, pytest.approx(0.59696e-05))]
    ok = vp.oszicar_scf(DATA / "OSZICAR_Ni18_excerpt", nelm=120, ediff=1e-4)
    assert vp.scf_failure(ok) is None
    bad = vp.oszicar_scf(DATA / "OSZICAR_Ni18_excerpt", nelm=63, ediff=1e-6)
    assert "NELM 63" in vp.scf_failure(bad)
