"""Unit tests of the exploration and training file formats: parsers on files written here in the real
formats (DeePMD model_devi.out and lcurve.out, LAMMPS ``dump custom``), and the rendered inputs
(LAMMPS in.lammps / conf.lmp, DeePMD input.json). No engine runs: write_run only needs model files to exist.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from ase.data import atomic_masses, atomic_numbers
from ase.io.lammpsdata import read_lammps_data

from heal.config import ExploreSpec, TrainSpec
from heal.errors import FatalError
from heal.explore.lammps import ExploreRun, write_run
from heal.explore.parse import DEVI_COLUMNS, DEVI_DTYPE, iter_dump, read_model_devi
from heal.train.deepmd import read_lcurve, write_input

TYPE_MAP = ["Ni", "Co", "Cr", "Al"]

# -- model_devi.out -----------------------------------------------------------------------------------------
DEVI_HEADER = ("#       step         max_devi_v         min_devi_v         avg_devi_v"
               "         max_devi_f         min_devi_f         avg_devi_f\n")
DEVI_ROWS = [
    (0, 1.254013e-03, 2.036120e-04, 6.982474e-04, 1.937610e-02, 4.512091e-03, 1.010337e-02),
    (10, 2.103855e-03, 3.172204e-04, 1.008265e-03, 3.391447e-02, 7.026132e-03, 1.610498e-02),
    (20, 4.775092e-03, 6.281307e-04, 2.130440e-03, 1.203114e-01, 1.284750e-02, 4.021988e-02),
    (30, 9.118822e-03, 1.001931e-03, 3.902315e-03, 4.870293e-01, 3.118207e-02, 1.399025e-01),
]


def _devi_line(row) -> str:
    return f"{row[0]:12d}" + "".join(f" {v:18.6e}" for v in row[1:]) + "\n"


def _write_devi(path: Path, rows=DEVI_ROWS, tail: str = "") -> Path:
    path.write_text(DEVI_HEADER + "".join(_devi_line(r) for r in rows) + tail)
    return path


def test_read_model_devi_parses_deepmd_table(tmp_path):
    d = read_model_devi(_write_devi(tmp_path / "model_devi.out"))
    assert d.dtype == DEVI_DTYPE and d.dtype.names == DEVI_COLUMNS
    assert d["step"].dtype == np.int64
    assert d["step"].tolist() == [0, 10, 20, 30]
    expected = np.array([r[1:] for r in DEVI_ROWS])
    got = np.column_stack([d[c] for c in DEVI_COLUMNS[1:]])
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    assert d["max_devi_f"][3] == pytest.approx(0.4870293)


def test_read_model_devi_empty_and_header_only_files_give_empty_arrays(tmp_path):
    (tmp_path / "empty.out").write_text("")
    (tmp_path / "header.out").write_text(DEVI_HEADER)
    for name in ("empty.out", "header.out"):
        d = read_model_devi(tmp_path / name)
        assert d.shape == (0,) and d.dtype == DEVI_DTYPE


def test_read_model_devi_missing_file_gives_empty_array(tmp_path):
    d = read_model_devi(tmp_path / "nope" / "model_devi.out")
    assert d.shape == (0,) and d.dtype == DEVI_DTYPE


def test_read_model_devi_drops_a_torn_last_line(tmp_path):
    torn = _devi_line((40, 1e-3, 1e-4, 5e-4, 0.2, 0.01, 0.05))[:45]  # killed mid-write, no newline
    d = read_model_devi(_write_devi(tmp_path / "model_devi.out", tail=torn))
    assert d["step"].tolist() == [0, 10, 20, 30]


def test_read_model_devi_drops_a_torn_last_line_cut_inside_the_last_number(tmp_path):
    torn = _devi_line((40, 1e-3, 1e-4, 5e-4, 0.2, 0.01, 0.05)).rstrip("\n")[:-3]  # "...5.000e-" + no newline
    d = read_model_devi(_write_devi(tmp_path / "model_devi.out", tail=torn))
    assert d["step"].tolist() == [0, 10, 20, 30]


def test_read_model_devi_non_numbers_become_nan_and_rows_are_kept(tmp_path):
    tail = ("          40       nan       nan       nan       -nan       -nan       -nan\n"
            "          50  1.0e-03  1.0e-04  5.0e-04        inf   1.0e-02   -inf\n"
            "          60  1.0e-03  1.0e-04  5.0e-04   2.0e-01   1.0e-02   5.0e-02\n")
    d = read_model_devi(_write_devi(tmp_path / "model_devi.out", tail=tail))
    assert d["step"].tolist() == [0, 10, 20, 30, 40, 50, 60]
    assert np.isnan(d["max_devi_f"][4]) and np.isnan(d["max_devi_v"][4])
    assert np.isnan(d["max_devi_f"][5]) and np.isnan(d["avg_devi_f"][5])
    assert d["max_devi_v"][5] == pytest.approx(1e-3)
    assert d["max_devi_f"][6] == pytest.approx(0.2)
    assert np.isfinite(d["max_devi_f"][:4]).all()


# -- LAMMPS dump custom -------------------------------------------------------------------------------------
def _frame(step: int, box_header: str, box_lines: list[str], atoms_rows: list[tuple]) -> str:
    lines = ["ITEM: TIMESTEP", str(step), "ITEM: NUMBER OF ATOMS", str(len(atoms_rows)), box_header, *box_lines,
             "ITEM: ATOMS id type x y z"]
    lines += [f"{i} {t} {x:.10f} {y:.10f} {z:.10f}" for i, t, x, y, z in atoms_rows]
    return "\n".join(lines) + "\n"


# orthogonal box [-1, 9] x [0.5, 10.5] x [2, 14]: origin (-1, 0.5, 2), lengths 10, 10, 12
ORTHO_HEADER = "ITEM: BOX BOUNDS pp pp pp"
ORTHO_BOUNDS = ["-1.0000000000000000e+00 9.0000000000000000e+00", "5.0000000000000000e-01 1.0500000000000000e+01",
                "2.0000000000000000e+00 1.4000000000000000e+01"]
ORTHO_ORIGIN = np.array([-1.0, 0.5, 2.0])
# rows out of id order; id -> (type, position relative to the origin)
ORTHO_ATOMS = {1: (1, (0.5, 0.5, 0.5)), 2: (2, (5.0, 1.0, 2.0)), 3: (3, (2.0, 8.0, 11.0)), 4: (4, (9.5, 9.5, 6.0))}


def _ortho_rows(shift: float = 0.0) -> list[tuple]:
    order = [3, 1, 4, 2]
    return [(i, ORTHO_ATOMS[i][0], *(np.array(ORTHO_ATOMS[i][1]) + ORTHO_ORIGIN + shift)) for i in order]


def _write_ortho_dump(path: Path, steps=(0, 10, 20), tail: str = "") -> Path:
    path.write_text("".join(_frame(s, ORTHO_HEADER, ORTHO_BOUNDS, _ortho_rows(0.01 * k))
                            for k, s in enumerate(steps)) + tail)
    return path


def test_iter_dump_orthogonal_box_cell_origin_types_and_id_order(tmp_path):
    frames = list(iter_dump(_write_ortho_dump(tmp_path / "traj.dump"), TYPE_MAP))
    assert [s for s, _ in frames] == [0, 10, 20]
    step, atoms = frames[0]
    np.testing.assert_allclose(atoms.cell[:], np.diag([10.0, 10.0, 12.0]))
    assert atoms.pbc.all() and atoms.info["step"] == 0
    assert atoms.get_chemical_symbols() == ["Ni", "Co", "Cr", "Al"]  # ids 1..4 -> types 1..4
    np.testing.assert_allclose(atoms.positions, [ORTHO_ATOMS[i][1] for i in (1, 2, 3, 4)], atol=1e-9)
    # later frames carry their own positions
    np.testing.assert_allclose(frames[2][1].positions, atoms.positions + 0.02, atol=1e-9)


def test_iter_dump_type_map_order_decides_the_elements(tmp_path):
    _, atoms = next(iter_dump(_write_ortho_dump(tmp_path / "traj.dump"), ["Al", "Cr", "Co", "Ni"]))
    assert atoms.get_chemical_symbols() == ["Al", "Cr", "Co", "Ni"]


def test_iter_dump_step_filter(tmp_path):
    p = _write_ortho_dump(tmp_path / "traj.dump")
    assert [s for s, _ in iter_dump(p, TYPE_MAP, steps=[10])] == [10]
    assert [s for s, _ in iter_dump(p, TYPE_MAP, steps=np.array([20, 0]))] == [0, 20]
    assert list(iter_dump(p, TYPE_MAP, steps=[5, 15])) == []


def test_iter_dump_drops_a_torn_last_frame(tmp_path):
    torn = _frame(30, ORTHO_HEADER, ORTHO_BOUNDS, _ortho_rows())
    torn = "".join(torn.splitlines(keepends=True)[:-2])  # the last two atom lines were never written
    p = _write_ortho_dump(tmp_path / "traj.dump", tail=torn)
    assert [s for s, _ in iter_dump(p, TYPE_MAP)] == [0, 10, 20]
    assert [s for s, _ in iter_dump(p, TYPE_MAP, steps=[20])] == [20]


@pytest.mark.parametrize("cut", [22, 6], ids=["cut-after-x", "cut-inside-z"])
def test_iter_dump_drops_a_frame_torn_inside_an_atom_line(tmp_path, cut):
    torn = _frame(30, ORTHO_HEADER, ORTHO_BOUNDS, _ortho_rows())[:-cut]  # no trailing newline
    p = _write_ortho_dump(tmp_path / "traj.dump", tail=torn)
    assert [s for s, _ in iter_dump(p, TYPE_MAP)] == [0, 10, 20]


def test_iter_dump_drops_a_frame_torn_inside_its_header(tmp_path):
    p = _write_ortho_dump(tmp_path / "traj.dump", tail="ITEM: TIMESTEP\n30\n")
    assert [s for s, _ in iter_dump(p, TYPE_MAP)] == [0, 10, 20]


def test_iter_dump_triclinic_box(tmp_path):
    xlo, xhi, ylo, yhi, zlo, zhi = 1.0, 11.0, -2.0, 7.0, 0.0, 8.0
    xy, xz, yz = 1.5, -0.8, 0.6
    bounds = [f"{xlo + min(0.0, xy, xz, xy + xz)!r} {xhi + max(0.0, xy, xz, xy + xz)!r} {xy!r}",
              f"{ylo + min(0.0, yz)!r} {yhi + max(0.0, yz)!r} {xz!r}",
              f"{zlo!r} {zhi!r} {yz!r}"]
    cell = np.array([[xhi - xlo, 0, 0], [xy, yhi - ylo, 0], [xz, yz, zhi - zlo]])
    origin = np.array([xlo, ylo, zlo])
    frac = np.array([[0.1, 0.2, 0.3], [0.5, 0.5, 0.5], [0.9, 0.1, 0.7]])
    lab = origin + frac @ cell  # LAMMPS coordinates
    rows = [(2, 2, *lab[1]), (3, 1, *lab[2]), (1, 4, *lab[0])]
    p = tmp_path / "traj.dump"
    p.write_text(_frame(100, "ITEM: BOX BOUNDS xy xz yz pp pp pp", bounds, rows))
    [(step, atoms)] = list(iter_dump(p, TYPE_MAP))
    assert step == 100
    np.testing.assert_allclose(atoms.cell[:], cell, atol=1e-12)
    assert atoms.get_chemical_symbols() == ["Al", "Co", "Ni"]
    np.testing.assert_allclose(atoms.get_scaled_positions(), frac, atol=1e-9)
    np.testing.assert_allclose(atoms.positions, frac @ cell, atol=1e-9)


# -- LAMMPS inputs (write_run) ------------------------------------------------------------------------------
@pytest.fixture
def models(tmp_path) -> list[Path]:
    out = []
    for k in range(2):
        m = tmp_path / "models" / f"m{k}" / "graph.pb"
        m.parent.mkdir(parents=True)
        m.write_bytes(b"")  # write_run only checks that the files exist
        out.append(m)
    return out


def _hea4_cell() -> Atoms:
    a = bulk("Ni", "fcc", a=3.55, cubic=True).repeat((2, 1, 1))
    a.set_chemical_symbols(["Ni", "Co", "Cr", "Al", "Ni", "Ni", "Co", "Ni"])
    return a


def test_write_run_nvt_renders_deepmd_pair_style_and_thermostat(tmp_path, models):
    spec = ExploreSpec(timestep_fs=2.0, dump_freq=5)
    run = ExploreRun("fcc_T300_P-", 300.0, None, 400, 12345)
    wd = tmp_path / "run"
    write_run(run, _hea4_cell(), models, TYPE_MAP, spec, wd)
    text = (wd / "in.lammps").read_text()
    paths = " ".join(str(m.resolve()) for m in models)
    assert re.search(rf"^pair_style\s+deepmd {re.escape(paths)} out_freq 5 out_file model_devi\.out$", text, re.M)
    assert re.search(r"^pair_coeff\s+\* \* Ni Co Cr Al$", text, re.M)
    assert re.search(r"^fix\s+\S+\s+all\s+nvt\s+temp\s+300\.0\s+300\.0\s+\S+", text, re.M)
    assert "npt" not in text
    ts = re.search(r"^timestep\s+(\S+)$", text, re.M)
    assert ts and float(ts.group(1)) == pytest.approx(0.002)  # 2 fs in ps (metal units)
    assert re.search(r"^units\s+metal$", text, re.M)
    assert re.search(r"^read_data\s+conf\.lmp$", text, re.M)
    assert re.search(r"^run\s+400$", text, re.M)
    assert re.search(r"^dump\s+\S+\s+all\s+custom\s+5\s+traj\.dump\s+id type x y z$", text, re.M)
    masses = [float(x) for x in re.findall(r"^mass\s+\d+\s+(\S+)$", text, re.M)]
    assert masses == pytest.approx([atomic_masses[atomic_numbers[el]] for el in TYPE_MAP])
    vel = re.search(r"^velocity\s+all\s+create\s+300\.0\s+(\d+)", text, re.M)
    assert vel and 0 < int(vel.group(1)) < 900_000_001


def test_write_run_npt_uses_iso_barostat_for_an_orthogonal_cell(tmp_path, models):
    run = ExploreRun("fcc_T1500_P1000", 1500.0, 1000.0, 100, 7)
    wd = tmp_path / "run"
    write_run(run, _hea4_cell(), models, TYPE_MAP, ExploreSpec(timestep_fs=1.0), wd)
    text = (wd / "in.lammps").read_text()
    assert re.search(r"^fix\s+\S+\s+all\s+npt\s+temp\s+1500\.0\s+1500\.0\s+\S+\s+iso\s+1000\.0\s+1000\.0\s+\S+$",
                     text, re.M)
    assert not re.search(r"\bnvt\b", text)
    assert float(re.search(r"^timestep\s+(\S+)$", text, re.M).group(1)) == pytest.approx(0.001)


def test_write_run_npt_uses_tri_barostat_for_a_triclinic_cell(tmp_path, models):
    a = bulk("Ni", "fcc", a=3.55).repeat((2, 2, 2))  # primitive fcc: not orthorhombic
    run = ExploreRun("prim_T300_P1", 300.0, 1.0, 100, 7)
    write_run(run, a, models, TYPE_MAP, ExploreSpec(), tmp_path / "run")
    assert re.search(r"\bnpt\b.*\btri\s+1\.0\s+1\.0\b", (tmp_path / "run" / "in.lammps").read_text())


def test_write_run_conf_lmp_declares_every_type_and_keeps_the_structure(tmp_path, models):
    atoms = _hea4_cell()
    atoms.positions += 0.05  # off the lattice sites
    write_run(ExploreRun("r", 300.0, None, 10, 1), atoms, models, TYPE_MAP, ExploreSpec(), tmp_path / "run")
    conf = (tmp_path / "run" / "conf.lmp").read_text()
    assert re.search(r"^\s*8 atoms$", conf, re.M)
    assert re.search(r"^\s*4 atom types$", conf, re.M)
    back = read_lammps_data(str(tmp_path / "run" / "conf.lmp"), atom_style="atomic",
                            Z_of_type={i + 1: atomic_numbers[el] for i, el in enumerate(TYPE_MAP)})
    assert back.get_chemical_symbols() == atoms.get_chemical_symbols()
    np.testing.assert_allclose(back.cell[:], atoms.cell[:], atol=1e-6)
    np.testing.assert_allclose(back.positions, atoms.positions, atol=1e-6)


def test_write_run_with_only_some_elements_still_declares_the_whole_type_map(tmp_path, models):
    atoms = bulk("Ni", "fcc", a=3.52, cubic=True)
    write_run(ExploreRun("ni", 300.0, None, 10, 1), atoms, models, TYPE_MAP, ExploreSpec(), tmp_path / "run")
    assert re.search(r"^\s*4 atom types$", (tmp_path / "run" / "conf.lmp").read_text(), re.M)


def test_write_run_missing_model_is_fatal_and_names_it(tmp_path, models):
    gone = tmp_path / "models" / "m9" / "graph.pb"
    with pytest.raises(FatalError, match=re.escape(str(gone))):
        write_run(ExploreRun("r", 300.0, None, 10, 1), _hea4_cell(), [*models, gone], TYPE_MAP, ExploreSpec(),
                  tmp_path / "run")
    assert not (tmp_path / "run" / "in.lammps").exists()


def test_write_run_element_outside_type_map_is_fatal(tmp_path, models):
    atoms = _hea4_cell()
    atoms[0].symbol = "Fe"
    with pytest.raises(FatalError, match="Fe"):
        write_run(ExploreRun("r", 300.0, None, 10, 1), atoms, models, TYPE_MAP, ExploreSpec(), tmp_path / "run")


# -- DeePMD input.json and lcurve.out -----------------------------------------------------------------------
def test_write_input_renders_valid_json_with_the_train_spec(tmp_path):
    spec = TrainSpec(embedding=[8, 16, 32], fitting=[32, 32, 16], rcut=5.0, rcut_smth=0.4, axis_neuron=12,
                     start_lr=2e-3, stop_lr=1e-5, pref_e=(0.02, 1.0), pref_f=(1000.0, 1.0), pref_v=(0.0, 0.5),
                     steps=600, disp_freq=100, batch_size=2)
    systems = [tmp_path / "data" / "sys0", tmp_path / "data" / "sys1"]
    path = write_input(spec, TYPE_MAP, systems, tmp_path / "m0", seed=41)
    assert path == tmp_path / "m0" / "input.json"
    d = json.loads(path.read_text())
    model = d["model"]
    assert model["type_map"] == TYPE_MAP
    desc = model["descriptor"]
    assert desc["type"] == "se_e2_a"
    assert desc["neuron"] == [8, 16, 32] and desc["axis_neuron"] == 12
    assert desc["rcut"] == 5.0 and desc["rcut_smth"] == 0.4
    assert len(desc["sel"]) == 4 and all(s > 0 and s % 4 == 0 for s in desc["sel"])
    assert model["fitting_net"]["neuron"] == [32, 32, 16]
    # three different seeds derived from the member seed
    assert (desc["seed"], model["fitting_net"]["seed"], d["training"]["seed"]) == (41, 42, 43)
    lr, loss = d["learning_rate"], d["loss"]
    assert lr["start_lr"] == 2e-3 and lr["stop_lr"] == 1e-5 and lr["decay_steps"] >= 1
    assert (loss["start_pref_e"], loss["limit_pref_e"]) == (0.02, 1.0)
    assert (loss["start_pref_f"], loss["limit_pref_f"]) == (1000.0, 1.0)
    assert (loss["start_pref_v"], loss["limit_pref_v"]) == (0.0, 0.5)
    tr = d["training"]
    assert tr["numb_steps"] == 600 and tr["disp_freq"] == 100 and tr["disp_file"] == "lcurve.out"
    assert tr["training_data"]["systems"] == [str(s.resolve()) for s in systems]
    assert tr["training_data"]["batch_size"] == 2


def test_write_input_auto_batch_and_clipped_axis_neuron_and_disp_freq(tmp_path):
    spec = TrainSpec(embedding=[4, 8], fitting=[16], axis_neuron=16, steps=50, disp_freq=100)
    d = json.loads(write_input(spec, ["Ni", "Al"], [tmp_path / "s"], tmp_path / "m", seed=1).read_text())
    assert d["training"]["training_data"]["batch_size"] == "auto"
    assert d["model"]["descriptor"]["axis_neuron"] == 8  # at most the last embedding width
    assert d["training"]["disp_freq"] == 50  # never more than the number of steps
    assert len(d["model"]["descriptor"]["sel"]) == 2


LCURVE = """#  step      rmse_trn    rmse_e_trn    rmse_f_trn         lr
      0      1.84e+01      3.11e-01      5.82e-01    1.0e-03
    100      6.21e+00      1.07e-01      3.95e-01    8.9e-04
    200      4.02e+00      4.40e-02      3.11e-01    7.9e-04
    300      3.1"""


def test_read_lcurve_parses_rows_by_header_and_drops_a_torn_last_line(tmp_path):
    p = tmp_path / "lcurve.out"
    p.write_text(LCURVE)
    rows = read_lcurve(p)
    assert [r["step"] for r in rows] == [0.0, 100.0, 200.0]
    assert set(rows[0]) == {"step", "rmse_trn", "rmse_e_trn", "rmse_f_trn", "lr"}
    assert rows[-1]["rmse_f_trn"] == pytest.approx(0.311)
    assert rows[1]["lr"] == pytest.approx(8.9e-4) and rows[0]["rmse_e_trn"] == pytest.approx(0.311)
    assert all(math.isfinite(v) for r in rows for v in r.values())


def test_read_lcurve_missing_or_headerless_file_gives_no_rows(tmp_path):
    assert read_lcurve(tmp_path / "nope.out") == []
    (tmp_path / "noheader.out").write_text("0 1 2 3 4\n")
    assert read_lcurve(tmp_path / "noheader.out") == []


def test_read_lcurve_drops_a_last_line_torn_inside_its_last_number(tmp_path):
    p = tmp_path / "lcurve.out"
    p.write_text(LCURVE.rsplit("\n", 1)[0] + "\n    300      3.1e+00      4.0e-02      2.9e-01    9.5e-")
    assert [r["step"] for r in read_lcurve(p)] == [0.0, 100.0, 200.0]
