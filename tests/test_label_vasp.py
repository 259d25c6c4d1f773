"""VASP labeler (VASP itself is not installed here).

Tiers, by test name:
- ``test_inputs_*``: INCAR / KPOINTS / POTCAR / POSCAR written for fixed cells, compared with hand-written
  reference files under ``tests/data/vasp/`` (see its README.md); POTCARs are synthetic header-only files.
- ``test_real_*`` (test_label_vasp_outputs.py): real VASP outputs, parsed to numbers read by hand.
- ``test_wiring_*``: the real LocalExecutor runs a fake ``vasp`` that checks the inputs and copies a real
  vasprun.xml into place (the physics is VASP's, never invented).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from ase.io import read

from heal.errors import ConfigError, FatalError
from heal.label import vasp_inputs as vi
from heal.label.registry import get_labeler
from heal.label.vasp import VaspLabeler

from vasp_fixtures import DATA, fake_vasp_executor, nacl_frame, ni3al


def nicocral108(a: float = 3.57) -> Atoms:
    """108-atom FCC (3x3x3 conventional cells), species cycling Ni Co Cr Al over the site index."""
    atoms = bulk("Ni", "fcc", a=a, cubic=True).repeat(3)
    atoms.set_chemical_symbols([("Ni", "Co", "Cr", "Al")[i % 4] for i in range(len(atoms))])
    return atoms


def assert_same_lines(written: Path, reference: Path) -> None:
    got, ref = written.read_text().splitlines(), reference.read_text().splitlines()
    for i, (g, r) in enumerate(zip(got, ref), start=1):
        assert g == r, f"{written.name} line {i}: {g!r} != reference {r!r}"
    assert len(got) == len(ref), f"{written.name}: {len(got)} lines, reference {len(ref)}"


# ------------------------------------------------------------------------------------------------ inputs

def test_inputs_ni3al_match_reference(tmp_path, pp_lib):
    wd = tmp_path / "ni3al"
    VaspLabeler({}).write_input(ni3al(), wd)
    for name in ("INCAR", "KPOINTS", "POTCAR"):
        assert_same_lines(wd / name, DATA / "Ni3Al" / name)
    poscar = read(wd / "POSCAR", format="vasp")
    assert poscar.get_chemical_symbols() == ["Ni", "Ni", "Ni", "Al"]
    rec = json.loads((wd / "heal_vasp.json").read_text())
    assert rec["order"] == [1, 2, 3, 0] and rec["species"] == ["Ni", "Al"] and rec["encut"] == 270.0


def test_inputs_nicocral108_match_reference(tmp_path, pp_lib):
    wd = tmp_path / "hea4"
    atoms = nicocral108()
    VaspLabeler({"potcars": {"Ni": "Ni_pv"}}).write_input(atoms, wd)
    for name in ("INCAR", "KPOINTS", "POTCAR"):
        assert_same_lines(wd / name, DATA / "NiCoCrAl108" / name)
    poscar = read(wd / "POSCAR", format="vasp")
    assert poscar.get_chemical_symbols() == ["Ni"] * 27 + ["Co"] * 27 + ["Cr"] * 27 + ["Al"] * 27
    perm = json.loads((wd / "heal_vasp.json").read_text())["order"]
    np.testing.assert_allclose(poscar.positions, atoms.positions[perm], atol=1e-10)


def test_inputs_species_permutation_roundtrip(tmp_path, pp_lib):
    """Mixed input order -> grouped POSCAR -> per-atom rows in POSCAR order come back in input order."""
    rng = np.random.default_rng(7)
    symbols = ["Al", "Ni", "Cr", "Ni", "Co", "Al", "Ni", "Cr", "Co", "Ni"]
    atoms = Atoms(symbols, positions=rng.uniform(0, 7, (10, 3)), cell=[7, 7, 7], pbc=True)
    wd = tmp_path / "perm"
    VaspLabeler({}).write_input(atoms, wd)
    poscar = read(wd / "POSCAR", format="vasp")
    assert poscar.get_chemical_symbols() == ["Ni"] * 4 + ["Co"] * 2 + ["Cr"] * 2 + ["Al"] * 2
    perm = json.loads((wd / "heal_vasp.json").read_text())["order"]
    # stable sort: atoms of one species keep their input order
    assert perm == [1, 3, 6, 9, 4, 8, 2, 7, 0, 5]
    # a per-atom quantity VASP would return in POSCAR order (here: a marker built from the POSCAR positions)
    marker = 10.0 * poscar.positions + 1.0
    np.testing.assert_allclose(vi.unsort(marker, perm), 10.0 * atoms.positions + 1.0, atol=1e-9)


def test_inputs_species_order_param(tmp_path, pp_lib):
    atoms = Atoms("ClNa", scaled_positions=[[.5, .5, .5], [0, 0, 0]], cell=[4, 4, 4], pbc=True)
    assert vi.species_order(atoms.get_chemical_symbols()) == ["Cl", "Na"]  # not HEA10: alphabetical
    wd = tmp_path / "nacl"
    VaspLabeler({"species_order": ["Na", "Cl"]}).write_input(atoms, wd)
    assert read(wd / "POSCAR").get_chemical_symbols() == ["Na", "Cl"]
    titels = [ln.split("=")[1].split()[1] for ln in (wd / "POTCAR").read_text().splitlines() if "TITEL" in ln]
    assert titels == ["Na", "Cl"]
    with pytest.raises(ConfigError, match="species_order"):
        VaspLabeler({"species_order": ["Na"]}).write_input(atoms, tmp_path / "bad")


def test_inputs_kpoint_rule_includes_two_pi():
    # cubic 10 Å, kspacing 0.5: |b| = 2π/10 = 0.628 Å⁻¹ -> 2 (it would be 1 without the 2π)
    assert vi.kpoint_mesh(np.eye(3) * 10.0, 0.5) == (2, 2, 2)
    k = vi.DEFAULT_KSPACING
    assert vi.kpoint_mesh(ni3al().cell.array, k) == (3, 3, 3)              # 1.760 / 0.65 = 2.71
    assert vi.kpoint_mesh(ni3al(3.57 * 1.2 ** (1 / 3)).cell.array, k) == (3, 3, 3)  # volume x1.2
    assert vi.kpoint_mesh(nicocral108().cell.array, k) == (1, 1, 1)        # 0.587 / 0.65
    small = nicocral108(3.50 * 0.95 ** (1 / 3))                             # Ni-like a, volume x0.95
    assert vi.kpoint_mesh(small.cell.array, k) == (1, 1, 1)
    assert vi.kpoint_mesh(bulk("Ni", "fcc", a=3.57, cubic=True).repeat(2).cell.array, k) == (2, 2, 2)
    # non-orthogonal primitive FCC cell: |b_i| = 2π √3 / a for every i
    prim = bulk("Ni", "fcc", a=3.57)
    n = math.ceil(2 * math.pi * math.sqrt(3) / 3.57 / k)
    assert vi.kpoint_mesh(prim.cell.array, k) == (n, n, n) == (5, 5, 5)


def test_inputs_explicit_kpts_and_incar_overrides(tmp_path, pp_lib):
    wd = tmp_path / "o"
    lab = VaspLabeler({"kpts": [2, 2, 2], "encut": 520, "nelm": 60, "algo": "Fast", "spin": True,
                       "magmom": {"Ni": 0.6}, "lreal_auto_above": 2,
                       "incar": {"ncore": 2, "LREAL": None, "SIGMA": 0.1}})
    lab.write_input(ni3al(), wd)
    incar = (wd / "INCAR").read_text()
    lines = {ln.split("=")[0].strip(): ln.split("=")[1].split("!")[0].strip()
             for ln in incar.splitlines() if "=" in ln and not ln.startswith("#")}
    assert lines["ENCUT"] == "520.0" and lines["NELM"] == "60" and lines["ALGO"] == "Fast"
    assert lines["ISPIN"] == "2" and lines["MAGMOM"] == "3*0.6 1*0.0"
    assert lines["SIGMA"] == "0.1" and lines["NCORE"] == "2" and "LREAL" not in lines
    assert "label.params.incar" in incar and "ENCUT  = 520.0      ! eV, label.params.encut" in incar
    kp = (wd / "KPOINTS").read_text().splitlines()
    assert kp[2] == "Gamma" and kp[3] == "2 2 2"
    # LREAL switches on with the atom-count threshold
    VaspLabeler({"lreal_auto_above": 3}).write_input(ni3al(), tmp_path / "lr")
    assert "LREAL  = Auto" in (tmp_path / "lr" / "INCAR").read_text()


@pytest.mark.parametrize(("params", "match"), [
    ({"nelm": 20}, "nelm"),
    ({"bogus": 1}, "bogus"),
    ({"incar": {"NSW": 10}}, "single points"),
    ({"incar": {"kspacing": 0.2}}, "kspacing"),
    ({"incar": {"NELM": 30}}, "NELM"),
    ({"kpts": [0, 1, 1]}, "kpts"),
    ({"magmom": {"Ni": 1.0}}, "spin"),
])
def test_inputs_bad_params_are_config_errors(params, match):
    with pytest.raises(ConfigError, match=match):
        VaspLabeler(params)


def test_inputs_registry_returns_vasp_labeler():
    assert isinstance(get_labeler("vasp", {"nelm": 60}), VaspLabeler)


# ------------------------------------------------------------------------------------------------ POTCAR

def test_inputs_potcar_headers_and_enmax(tmp_path, pp_lib):
    info = vi.read_potcar_header(pp_lib / "potpaw_PBE" / "Ni_pv" / "POTCAR", "Ni")
    assert (info.element, info.name, info.titel, info.enmax) == ("Ni", "Ni_pv", "PAW_PBE Ni_pv 01Jan2000", 367.921)
    infos = vi.assemble_potcar(["Ni", "Co", "Cr", "Al"], tmp_path / "POTCAR", pp_path=pp_lib,
                               overrides={"Ni": "Ni_pv"})
    assert [i.name for i in infos] == ["Ni_pv", "Co", "Cr_pv", "Al"]
    assert max(i.enmax for i in infos) == 367.921
    assert (tmp_path / "POTCAR").read_text().count("End of Dataset") == 4


def test_inputs_recommended_potcars_follow_vasp_recommended_set():
    from ase.calculators.vasp.setups import setups_defaults

    rec = setups_defaults["recommended"]
    for el, name in vi.RECOMMENDED_POTCARS.items():
        assert name == el + (rec.get(el) or ""), el


def test_inputs_missing_potcar_names_element_path_and_fix(tmp_path, pp_lib):
    atoms = ni3al()
    atoms[0].symbol = "W"   # W_pv is not in the synthetic library
    with pytest.raises(ConfigError) as err:
        VaspLabeler({}).write_input(atoms, tmp_path / "w")
    msg = str(err.value)
    assert "element W" in msg and str(pp_lib / "potpaw_PBE" / "W_pv" / "POTCAR") in msg
    assert "VASP_PP_PATH" in msg and "label.params.potcars" in msg


def test_inputs_unset_vasp_pp_path(tmp_path, monkeypatch):
    monkeypatch.delenv("VASP_PP_PATH", raising=False)
    with pytest.raises(ConfigError, match="VASP_PP_PATH is not set"):
        VaspLabeler({}).write_input(ni3al(), tmp_path / "w")


def test_inputs_potcar_for_wrong_element_rejected(tmp_path, pp_lib):
    with pytest.raises(ConfigError, match="not for element Ni"):
        VaspLabeler({"potcars": {"Ni": "Co"}}).write_input(ni3al(), tmp_path / "w")


# ------------------------------------------------------------------------------------------------ wiring


def test_wiring_fake_vasp_through_local_executor(tmp_path, pp_lib):
    executor = fake_vasp_executor(tmp_path)
    lab = VaspLabeler({"species_order": ["Na", "Cl"]})
    assert lab.timeout is None          # the label stage sets label.timeout_s here
    lab.timeout = 120.0
    wd = tmp_path / "label"
    frame = nacl_frame()
    lab.write_input(frame, wd)
    (wd / "OUTCAR").write_text("stale OUTCAR of an earlier attempt\n")
    lab.execute(wd, executor)
    assert not (wd / "OUTCAR").exists()                     # stale outputs are removed before the run
    assert "inputs checked" in (wd / "vasp.out").read_text()
    labeled = lab.read_results(wd, frame)
    assert labeled.get_potential_energy() == pytest.approx(-6.74587304, abs=1e-8)  # vasprun_dfpt line 602
    assert labeled.get_forces().shape == (2, 3)


def test_wiring_execute_without_inputs_is_fatal(tmp_path):
    with pytest.raises(FatalError, match="missing"):
        VaspLabeler({}).execute(tmp_path, executor=None)


def test_wiring_unset_vasp_pp_path_records_nothing_and_labels_once_set(tmp_path, pp_lib, monkeypatch):
    """The label stage with VASP_PP_PATH unset stops with the message and rejects nothing; set, it labels."""
    from heal.config import LabelSpec
    from heal.label.runner import REJECTED, label_frames

    executor = fake_vasp_executor(tmp_path)
    spec = LabelSpec(oracle="vasp", params={"species_order": ["Na", "Cl"]}, d_min=1.0, timeout_s=120)
    wd = tmp_path / "label"
    monkeypatch.delenv("VASP_PP_PATH")
    with pytest.raises(ConfigError, match="VASP_PP_PATH is not set"):
        label_frames([nacl_frame()], spec, wd, executor)
    assert not list(wd.glob(f"*/{REJECTED}"))
    monkeypatch.setenv("VASP_PP_PATH", str(pp_lib))
    res = label_frames([nacl_frame()], spec, wd, executor)
    assert len(res.labeled) == 1 and not res.rejected
    assert res.labeled[0].get_potential_energy() == pytest.approx(-6.74587304, abs=1e-8)
