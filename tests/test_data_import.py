"""Unit tests of heal.data.importer / heal.data.vasp and the ``heal data`` CLI, on real VASP outputs.

ASE's wheel ships single-step VASP outputs (OUTCAR of Ni18, VASP 5.3; vasprun.xml of NaCl, VASP 6.3).
Multi-step "trajectories" are made from them by repeating the real ionic step with atom 0 shifted (so
each step is a distinct frame) and, where a test needs it, one atom moved too close to another. Labels
stay those of the real step: these tests check reading, counting and bookkeeping, not physics.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import ase
import ase.io
import numpy as np
import pytest
from typer.testing import CliRunner

from heal.cli import app
from heal.data.importer import expand_paths, import_files
from heal.data.dataset import Dataset
from heal.frames import min_distance, virial

VASP = Path(ase.__file__).parent / "test" / "testdata" / "vasp"
runner = CliRunner()


def outcar_steps(n: int, *, shifts=None, close=()) -> str:
    """An OUTCAR with n ionic steps copied from OUTCAR_example_1 (Ni18); step k moves atom 0 by
    shifts[k] Å along x (default 0.01·k) and, for k in ``close``, puts atom 1 at 1.0 Å from atom 0."""
    shifts = [0.01 * k for k in range(n)] if shifts is None else shifts
    lines = (VASP / "OUTCAR_example_1").read_text().splitlines(keepends=True)
    i0 = next(i for i, ln in enumerate(lines) if "Iteration" in ln)
    i1 = next(i for i, ln in enumerate(lines) if "General timing" in ln) - 1
    head, block, tail = lines[:i0], lines[i0:i1], lines[i1:]
    p0 = next(i for i, ln in enumerate(block) if "POSITION" in ln and "TOTAL-FORCE" in ln) + 2
    out = list(head)
    for k in range(n):
        b = [re.sub(r"Iteration\s+1\(", f"Iteration {k + 1:4d}(", ln) for ln in block]
        rows = [b[p0].split(), b[p0 + 1].split()]
        x0 = [float(v) + (shifts[k] if j == 0 else 0.0) for j, v in enumerate(rows[0][:3])]
        x1 = [x0[0] + 1.0, x0[1], x0[2]] if k in close else [float(v) for v in rows[1][:3]]
        for r, x in ((0, x0), (1, x1)):
            b[p0 + r] = "".join(f"{v:13.5f}" for v in x) + "   " + "".join(f"{float(v):14.6f}" for v in rows[r][3:]) + "\n"
        out += b
    return "".join(out + tail)


def vasprun_steps(n: int, *, shifts=None, close=()) -> str:
    """A vasprun.xml with n <calculation>s copied from vasprun_dfpt.xml (NaCl, VASP 6.3); step k moves Na
    by shifts[k] (fractional, default 0.003·k) and, for k in ``close``, puts Cl 0.95 Å from Na."""
    shifts = [0.003 * k for k in range(n)] if shifts is None else shifts
    lines = (VASP / "vasprun_dfpt.xml").read_text().splitlines(keepends=True)
    c0 = next(i for i, ln in enumerate(lines) if ln.strip() == "<calculation>")
    c1 = next(i for i, ln in enumerate(lines) if ln.strip() == "</calculation>") + 1
    head, block, tail = lines[:c0], lines[c0:c1], lines[c1:]
    p0 = next(i for i, ln in enumerate(block) if 'name="positions"' in ln) + 1
    out = list(head)
    for k in range(n):
        b = list(block)
        na = [float(v) for v in re.findall(r"[-\d.]+", b[p0])]
        na[0] += shifts[k]
        b[p0] = "    <v>" + "".join(f"{v:17.8f}" for v in na) + " </v>\n"
        if k in close:
            b[p0 + 1] = "    <v>" + "".join(f"{v + 0.1:17.8f}" for v in na) + " </v>\n"
        out += b
    return "".join(out + tail)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def cli(*args: str):
    return runner.invoke(app, ["data", *map(str, args)])


def cli_json(*args: str) -> dict:
    res = cli(*args, "--json")
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


def test_fixture_builders_agree_with_ase(tmp_path):
    """ASE's own readers see the built trajectories as intended (independent check of the fixtures)."""
    oc = ase.io.read(write(tmp_path / "OUTCAR", outcar_steps(3, close={2})), index=":")
    vr = ase.io.read(write(tmp_path / "vasprun.xml", vasprun_steps(3, close={2})), index=":")
    for frames in (oc, vr):
        assert len(frames) == 3
        assert not np.allclose(frames[0].positions, frames[1].positions)
        assert min_distance(frames[0]) > 2.0 and min_distance(frames[2]) < 1.5


def test_real_outcar_values_free_energy_and_dpdata_virial(tmp_path):
    import dpdata

    src = write(tmp_path / "run" / "OUTCAR", (VASP / "OUTCAR_example_1").read_text())
    ds = Dataset(tmp_path / "ds")
    (rep,) = import_files([src], ds)
    assert (rep.format, rep.read, rep.added, rep.error, rep.note) == ("outcar", 1, 1, None, None)
    (a,) = list(ds.iter_frames())
    ref = ase.io.read(src)
    assert a.get_potential_energy() == pytest.approx(-68.22868532, abs=1e-10)  # TOTEN (free energy)
    assert ref.calc.results["free_energy"] == pytest.approx(-68.22868532, abs=1e-10)
    np.testing.assert_array_equal(a.get_forces(), ref.get_forces())
    np.testing.assert_allclose(a.get_forces()[2], [-2.152142, -0.601239, -0.175921])
    dp = dpdata.LabeledSystem(str(src), fmt="vasp/outcar")  # dpdata's reading of the same OUTCAR
    assert dp["energies"][0] == pytest.approx(a.get_potential_energy(), abs=1e-8)
    np.testing.assert_allclose(virial(a), dp["virials"][0], rtol=1e-9, atol=1e-8)
    assert a.info["source"] == str(src.absolute()) and a.info["frame_index"] == 0
    assert a.info["importer"] == "vasp" and ds.type_map == ["Ni"]


def test_real_vasprun_values_match_ase(tmp_path):
    src = write(tmp_path / "vasprun.xml", (VASP / "vasprun_dfpt.xml").read_text())
    ds = Dataset(tmp_path / "ds")
    (rep,) = import_files([src], ds, d_min=1.5)
    assert (rep.format, rep.read, rep.added, rep.error) == ("vasprun", 1, 1, None)
    (a,) = list(ds.iter_frames())
    ref = ase.io.read(VASP / "vasprun_dfpt.xml")
    assert a.get_potential_energy() == pytest.approx(ref.calc.results["free_energy"], abs=1e-8)
    np.testing.assert_allclose(a.get_forces(), ref.get_forces(), atol=1e-12)
    np.testing.assert_allclose(a.get_stress(), ref.get_stress(), atol=1e-12)
    np.testing.assert_allclose(a.positions, ref.positions, atol=1e-12)
    assert ds.type_map == ["Na", "Cl"]


def test_cli_import_twice_adds_nothing_the_second_time(tmp_path):
    oc = write(tmp_path / "a" / "OUTCAR", outcar_steps(4))
    vr = write(tmp_path / "b" / "vasprun.xml", vasprun_steps(3))
    first = cli_json("import", oc, vr, "--into", tmp_path / "ds")
    assert [(f["read"], f["added"], f["duplicates"], f["status"]) for f in first["files"]] == \
        [(4, 4, 0, "ok"), (3, 3, 0, "ok")]
    assert first["frames"] == 7
    second = cli_json("import", oc, vr, "--into", tmp_path / "ds")
    assert [(f["read"], f["added"], f["duplicates"]) for f in second["files"]] == [(4, 0, 4), (3, 0, 3)]
    assert second["frames"] == 7 and len(Dataset(tmp_path / "ds")) == 7
    text = cli("import", oc, "--into", tmp_path / "ds")
    assert text.exit_code == 0 and "holds 7 frames" in text.stdout
    assert Dataset(tmp_path / "ds").type_map == ["Ni", "Na", "Cl"]  # first appearance over the files


def test_trim_d_min_and_in_file_duplicates_are_counted(tmp_path):
    oc = write(tmp_path / "OUTCAR", outcar_steps(6, close={3}))
    vr = write(tmp_path / "vasprun.xml", vasprun_steps(6, shifts=[0, .003, .006, .006, .009, .012], close={0, 5}))
    ds = Dataset(tmp_path / "ds")
    r_oc, r_vr = import_files([oc, vr], ds, trim=2, d_min=1.5)
    assert (r_oc.read, r_oc.trimmed, r_oc.too_close, r_oc.duplicates, r_oc.added) == (6, 2, 1, 0, 3)
    # step 0 is too close but trimmed first; step 3 repeats step 2; step 5 is too close
    assert (r_vr.read, r_vr.trimmed, r_vr.too_close, r_vr.duplicates, r_vr.added) == (6, 2, 1, 1, 2)
    assert sorted(a.info["frame_index"] for a in ds.iter_frames() if a.info["format"] == "outcar") == [2, 4, 5]
    assert all(min_distance(a) >= 1.5 for a in ds.iter_frames())
    (r_all,) = import_files([oc], Dataset(tmp_path / "ds2"), trim=0, d_min=0.0)
    assert (r_all.read, r_all.too_close, r_all.added) == (6, 0, 6)


def test_truncated_vasprun_imports_complete_frames_and_says_so(tmp_path):
    text = vasprun_steps(4)
    starts = [m.start() for m in re.finditer("<calculation>", text)]
    cut = write(tmp_path / "vasprun.xml", text[: starts[2] + (starts[3] - starts[2]) // 2])
    ends = [m.end() for m in re.finditer("</calculation>", text)]
    tail_cut = write(tmp_path / "b" / "vasprun.xml", text[: ends[3] + 40])  # inside <structure name="finalpos">
    res = cli_json("import", cut, tail_cut, "--into", tmp_path / "ds")
    r1, r2 = res["files"]
    assert (r1["read"], r1["added"], r1["status"]) == (2, 2, "partial")
    assert r1["error"] == "2 complete frames read, file truncated after frame 2 (XML ends mid-<calculation>)"
    assert (r2["read"], r2["added"], r2["error"], r2["status"]) == (4, 2, None, "ok")
    assert "all 4 <calculation> blocks in the file are complete" in r2["note"]
    plain = cli("import", cut, "--into", tmp_path / "ds")
    assert plain.exit_code == 0
    assert "vasprun.xml: 2 complete frames read, file truncated after frame 2" in plain.stdout


def test_truncated_outcar_imports_complete_frames_and_says_so(tmp_path):
    lines = outcar_steps(4).splitlines(keepends=True)
    energy_lines = [i for i, ln in enumerate(lines) if "FREE ENERGIE OF THE ION-ELECTRON SYSTEM" in ln]
    iters = [i for i, ln in enumerate(lines) if "Iteration    3(" in ln]
    mid_step = write(tmp_path / "a" / "OUTCAR", "".join(lines[: iters[0] + 200]))
    mid_energy = write(tmp_path / "b" / "OUTCAR", "".join(lines[: energy_lines[2] + 2]))
    in_step_1 = write(tmp_path / "c" / "OUTCAR", "".join(lines[: energy_lines[0] - 50]))
    reports = import_files([mid_step, mid_energy, in_step_1], Dataset(tmp_path / "ds"))
    assert [(r.read, r.status) for r in reports] == [(2, "partial"), (2, "partial"), (0, "failed")]
    assert reports[0].error == "2 complete frames read, file truncated after frame 2 (ends mid ionic step 3, before its energy)"
    assert reports[1].error == reports[0].error
    assert reports[2].error.startswith("0 complete frames read")
    assert reports[0].added == 2 and reports[1].duplicates == 2


def test_corrupt_steps_cost_only_themselves(tmp_path):
    lines = outcar_steps(4).splitlines(keepends=True)
    pos = [i for i, ln in enumerate(lines) if "POSITION" in ln and "TOTAL-FORCE" in ln]
    lines[pos[1] + 5] = lines[pos[1] + 5][:40] + "  ****** garbage ******\n"
    oc = write(tmp_path / "OUTCAR", "".join(lines))
    text = vasprun_steps(4)
    mid = [m.start() for m in re.finditer('<varray name="forces"', text)][2]
    vr = write(tmp_path / "vasprun.xml", text[:mid] + "<v>1 2 3</x>" + text[mid:])
    r_oc, r_vr = import_files([oc, vr], Dataset(tmp_path / "ds"))
    assert (r_oc.read, r_oc.added, r_oc.status) == (3, 3, "partial")
    assert r_oc.error.startswith("1 corrupt frame(s) skipped (first: frame 1:")
    assert (r_vr.read, r_vr.added, r_vr.status) == (2, 2, "partial")
    assert re.match(r"2 complete frames read, then corrupt XML at line \d+, column \d+ \(mismatched tag\)", r_vr.error)


def test_garbage_is_reported_and_the_good_file_after_it_imported(tmp_path):
    garbage = tmp_path / "junk.dat"
    garbage.write_bytes(bytes(range(256)) * 20)
    fake_xml = write(tmp_path / "x" / "vasprun.xml", "this is not XML at all\n" * 10)
    fake_outcar = write(tmp_path / "y" / "OUTCAR", "random words\n" * 30)
    good = write(tmp_path / "z" / "OUTCAR", outcar_steps(2))
    res = cli("import", garbage, fake_xml, fake_outcar, tmp_path / "missing.xml", good, "--into", tmp_path / "ds")
    assert res.exit_code == 0, res.output
    assert "junk.dat: unrecognised format" in res.stdout
    assert "vasprun.xml: 0 complete frames read, then corrupt XML at line 1" in res.stdout
    assert "OUTCAR: OUTCAR header unreadable" in res.stdout and "missing.xml: no such file" in res.stdout
    assert len(Dataset(tmp_path / "ds")) == 2
    only_bad = cli("import", garbage, fake_xml, "--into", tmp_path / "ds")
    assert only_bad.exit_code == 1 and "no complete frame could be read" in only_bad.output
    strict = cli("import", fake_xml, good, "--into", tmp_path / "ds", "--strict")
    assert strict.exit_code == 1 and "1 file(s) had errors" in strict.output


def test_type_map_mismatch_is_a_file_error_and_can_be_extended(tmp_path):
    nacl = write(tmp_path / "vasprun.xml", vasprun_steps(2))
    ni = write(tmp_path / "OUTCAR", outcar_steps(2))
    res = cli_json("import", nacl, ni, "--into", tmp_path / "ds", "--type-map", "Ni")
    r_nacl, r_ni = res["files"]
    assert r_nacl["status"] == "failed" and r_nacl["added"] == 0
    assert "not stored:" in r_nacl["error"] and "not in the type map ['Ni']" in r_nacl["error"]
    assert (r_ni["added"], r_ni["status"]) == (2, "ok")
    bad = cli("import", nacl, "--into", tmp_path / "ds", "--type-map", "Na,Cl,Ni")
    assert bad.exit_code == 1 and "disagrees with the type map Ni" in bad.output
    grown = cli_json("import", nacl, "--into", tmp_path / "ds", "--type-map", "Ni,Na,Cl")
    assert grown["files"][0]["added"] == 2 and Dataset(tmp_path / "ds").type_map == ["Ni", "Na", "Cl"]


def test_stats_json_and_export_via_cli(tmp_path):
    oc = write(tmp_path / "a" / "OUTCAR", outcar_steps(3))
    vr = write(tmp_path / "b" / "vasprun.xml", vasprun_steps(5, close={4}))
    assert cli("import", oc, vr, "--into", tmp_path / "ds").exit_code == 0
    st = cli_json("stats", tmp_path / "ds")
    assert (st["frames"], st["unique_hashes"], st["with_virial"], st["chunks"]) == (7, 7, 7, 2)
    assert st["by_formula"] == {"Ni18": 3, "NaCl": 4}
    assert st["by_natoms"] == {"2": 4, "18": 3}
    assert st["by_source"] == {str(oc.absolute()): 3, str(vr.absolute()): 4}
    plain = cli("stats", tmp_path / "ds")
    assert plain.exit_code == 0 and "unique hashes 7" in plain.stdout
    out = tmp_path / "x" / "all.extxyz"
    res = cli("export", tmp_path / "ds", "-o", out)
    assert res.exit_code == 0 and "wrote 7 frames" in res.stdout
    frames = ase.io.read(out, index=":")
    stored = {a.info["hash"]: a for a in Dataset(tmp_path / "ds").iter_frames()}
    assert len(frames) == 7
    for f in frames:
        s = stored[f.info["hash"]]
        assert f.get_potential_energy() == pytest.approx(s.get_potential_energy(), abs=1e-8)
        np.testing.assert_allclose(f.get_forces(), s.get_forces(), atol=1e-8)
        np.testing.assert_allclose(f.get_stress(), s.get_stress(), atol=1e-10)
    assert cli("stats", tmp_path / "nothing").exit_code == 1


def test_directory_import_prefers_vasprun_over_outcar_of_same_run(tmp_path):
    write(tmp_path / "runs" / "r1" / "vasprun.xml", vasprun_steps(2))
    write(tmp_path / "runs" / "r1" / "OUTCAR", outcar_steps(2))
    write(tmp_path / "runs" / "r2" / "OUTCAR", outcar_steps(2))
    write(tmp_path / "runs" / "r2" / "notes.txt", "hello")
    found = expand_paths([tmp_path / "runs"])
    assert [p.relative_to(tmp_path).as_posix() for p in found] == ["runs/r1/vasprun.xml", "runs/r2/OUTCAR"]
