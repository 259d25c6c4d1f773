"""Data from elsewhere: DeePMD systems (any type order), DP-GEN run directories and extxyz in; extxyz,
deepmd-npy and mlip-cfg out (real MEAM labels; dpdata converts); ``heal from-dpgen`` on a DP-GEN param.json."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import dpdata
import numpy as np
import pytest
import yaml
from ase.build import bulk
from typer.testing import CliRunner

from heal.cli import app
from heal.data.dataset import Dataset
from heal.frames import set_labels

pytestmark = pytest.mark.engine  # real MEAM labels (in-process LAMMPS)

DATA = Path(__file__).parent / "data" / "dpgen"
HEA4 = ["Ni", "Co", "Cr", "Al"]


@pytest.fixture(scope="module")
def frames():
    from heal.label.meam import MeamLabeler

    meam, out = MeamLabeler(), []
    for i in range(6):
        a = bulk("Ni", "fcc", a=3.56, cubic=True).repeat(2)
        a.set_chemical_symbols(np.random.default_rng(i).permutation(HEA4 * 8))
        a.rattle(0.08, seed=i)
        e, f, s = meam.compute(a)
        out.append(set_labels(a, e, f, stress=s))
    meam.close()
    return out


def _write_deepmd(frames, path: Path, type_map: list[str]) -> None:
    """A DeePMD system written by dpdata with DP-GEN's habit: its own type order."""
    ms = dpdata.MultiSystems(type_map=type_map)
    for a in frames:
        ms.append(dpdata.LabeledSystem(a, fmt="ase/structure", type_map=type_map))
    (sysobj,) = list(ms)
    sysobj.to("deepmd/npy", str(path))


def _invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def _energies(ds: Dataset) -> list[float]:
    return sorted(round(a.get_potential_energy(), 8) for a in ds.iter_frames())


def test_deepmd_system_in_another_type_order_is_stored_by_element_name(tmp_path, frames):
    _write_deepmd(frames, tmp_path / "sys", ["Al", "Cr", "Fe", "Co", "Ni"])
    assert (tmp_path / "sys" / "type_map.raw").read_text().split() == ["Al", "Cr", "Fe", "Co", "Ni"]
    res = _invoke("data", "import", tmp_path / "sys", "--into", tmp_path / "ds", "--type-map", ",".join(HEA4),
                  "--json")
    assert res.exit_code == 0, res.output
    rep = json.loads(res.output)
    assert rep["frames"] == 6 and rep["files"][0]["format"] == "deepmd"
    ds = Dataset(tmp_path / "ds")
    assert ds.type_map == HEA4
    want = {round(a.get_potential_energy(), 8): sorted(a.get_chemical_symbols()) for a in frames}
    for a in ds.iter_frames():
        e = round(a.get_potential_energy(), 8)
        assert sorted(a.get_chemical_symbols()) == want[e]
        ref = next(f for f in frames if round(f.get_potential_energy(), 8) == e)
        # same atoms with the same forces, whatever order dpdata wrote them in
        key = lambda x: [tuple(np.round(p, 6)) + (s,) for p, s in zip(x.positions, x.get_chemical_symbols())]
        order_a, order_r = np.argsort([str(k) for k in key(a)]), np.argsort([str(k) for k in key(ref)])
        assert np.allclose(a.get_forces()[order_a], ref.get_forces()[order_r], atol=1e-8)


def test_dpgen_run_directory_imports_every_02fp_system(tmp_path, frames):
    run = tmp_path / "dpgen-run"
    _write_deepmd(frames[:3], run / "iter.000000" / "02.fp" / "data.000", ["Al", "Cr", "Co", "Ni"])
    _write_deepmd(frames[3:], run / "iter.000001" / "02.fp" / "data.000", ["Al", "Cr", "Co", "Ni"])
    (run / "iter.000001" / "02.fp" / "task.000.000000").mkdir()  # a task directory is not data
    res = _invoke("data", "import", run, "--into", tmp_path / "ds", "--json")
    assert res.exit_code == 0, res.output
    rep = json.loads(res.output)
    assert [Path(f["path"]).parts[-3:] for f in rep["files"]] == [("iter.000000", "02.fp", "data.000"),
                                                                   ("iter.000001", "02.fp", "data.000")]
    assert [f["added"] for f in rep["files"]] == [3, 3]
    assert _energies(Dataset(tmp_path / "ds")) == sorted(round(a.get_potential_energy(), 8) for a in frames)


def test_export_formats_round_trip(tmp_path, frames):
    ds = Dataset(tmp_path / "ds", HEA4)
    ds.append(frames)
    for fmt, out in (("extxyz", tmp_path / "all.extxyz"), ("deepmd-npy", tmp_path / "npy"),
                     ("mlip-cfg", tmp_path / "train.cfg")):
        res = _invoke("data", "export", tmp_path / "ds", "--format", fmt, "-o", out)
        assert res.exit_code == 0, res.output
        assert f"wrote 6 frames to {out} ({fmt})" in res.output
    # extxyz and deepmd-npy come back with the same energies
    for src in (tmp_path / "all.extxyz", *sorted(p for p in (tmp_path / "npy").iterdir())):
        res = _invoke("data", "import", src, "--into", tmp_path / f"back-{src.name}", "--json")
        assert res.exit_code == 0, res.output
    assert _energies(Dataset(tmp_path / "back-all.extxyz")) == _energies(ds)
    back = [e for p in (tmp_path / "npy").iterdir() for e in _energies(Dataset(tmp_path / f"back-{p.name}"))]
    assert sorted(back) == _energies(ds)
    from motep.io.mlip.cfg import read_cfg

    cfg = read_cfg(str(tmp_path / "train.cfg"), index=":")
    assert len(cfg) == 6
    assert sorted(round(a.get_potential_energy(), 6) for a in cfg) == sorted(round(e, 6) for e in _energies(ds))


def test_unknown_export_format_is_named(tmp_path, frames):
    Dataset(tmp_path / "ds", HEA4).append(frames[:1])
    res = _invoke("data", "export", tmp_path / "ds", "--format", "cif", "-o", tmp_path / "x")
    assert res.exit_code == 2 and "use extxyz, deepmd-npy or mlip-cfg" in res.output


def test_from_dpgen_maps_the_campaign_and_names_what_it_cannot(tmp_path):
    for f in ("param.json", "INCAR", "machine.json"):
        shutil.copy(DATA / f, tmp_path / f)
    out = tmp_path / "conv.yaml"
    res = _invoke("from-dpgen", tmp_path / "param.json", tmp_path / "machine.json", "-o", out, "--name", "conv")
    assert res.exit_code == 0, res.output
    text = out.read_text()
    cfg = yaml.safe_load(text)
    assert cfg["system"] == {"family": "HEA4"}
    assert cfg["init"]["data"] == [str(tmp_path / "init" / "hea4.aimd.000"), str(tmp_path / "init" / "hea4.aimd.001")]
    assert cfg["select"] == {"f_lo": 0.1, "f_hi": 0.4, "max_per_iter": 50, "min_per_iter": 5}
    assert cfg["explore"]["stages"] == [
        {"temperatures": [300.0, 600.0], "nsteps": 2000},
        {"temperatures": [1000.0, 1500.0], "nsteps": 3000, "pressures": [1.0, 10000.0]}]
    assert cfg["explore"]["timestep_fs"] == pytest.approx(2.0) and cfg["explore"]["dump_freq"] == 20
    tr = cfg["train"]
    assert (tr["n_models"], tr["steps"], tr["rcut"], tr["embedding"], tr["fitting"]) == \
        (4, 400000, 6.0, [25, 50, 100], [240, 240, 240])
    assert tr["pref_f"] == [1000.0, 1.0] and tr["seed"] == 7 and tr["init_from_previous"] is True
    assert cfg["label"]["oracle"] == "vasp"
    assert cfg["label"]["params"]["encut"] == 520.0 and cfg["label"]["params"]["nelm"] == 60
    assert cfg["label"]["params"]["incar"]["SIGMA"] == 0.05
    assert cfg["machine"] == "slurm"
    head = text.split("name: conv")[0]
    for key in ("sys_configs", "model_devi_skip", "fp_pp_files", "training_reuse_old_ratio", "mass_map",
                "model_devi_jobs[0].sys_idx"):
        assert key in head, key
    res = _invoke("validate", out)
    assert res.exit_code == 0, res.output


def test_from_dpgen_reorders_a_per_element_sel_onto_heals_type_map(tmp_path):
    p = json.loads((DATA / "param.json").read_text())
    p["default_training_param"]["model"]["descriptor"]["sel"] = [10, 20, 30, 40]  # Al Cr Co Ni
    (tmp_path / "param.json").write_text(json.dumps(p))
    from heal.from_dpgen import convert

    conv = convert(tmp_path / "param.json")
    assert conv.campaign["train"]["sel"] == [40, 30, 20, 10]  # Ni Co Cr Al


def test_from_dpgen_without_type_map_is_a_clear_error(tmp_path):
    (tmp_path / "param.json").write_text("{}")
    res = _invoke("from-dpgen", tmp_path / "param.json")
    assert res.exit_code != 0
    assert "field 'type_map' is missing" in str(res.exception) + res.output


def test_from_dpgen_per_system_trust_levels_take_the_smallest_and_are_named(tmp_path):
    p = json.loads((DATA / "param.json").read_text())
    p["model_devi_f_trust_lo"] = [0.15, 0.08]
    p["model_devi_f_trust_hi"] = {"0": 0.5, "1": 0.35}
    d = tmp_path / "my run (v2)"
    d.mkdir()
    (d / "param.json").write_text(json.dumps(p))
    from heal.config import parse_config
    from heal.from_dpgen import convert

    conv = convert(d / "param.json")
    assert (conv.campaign["select"]["f_lo"], conv.campaign["select"]["f_hi"]) == (0.08, 0.35)
    assert any(u.startswith("model_devi_f_trust_lo per system") for u in conv.unmapped)
    assert parse_config(conv.campaign).name == "my-run--v2-from-dpgen"
