"""Unit tests of heal.data.dataset on real reference values (ASE's Ni18 OUTCAR) and EMT-labeled cells.

EMT (ASE's effective-medium potential for Ni/Al) gives real, consistent energy/forces/stress for the
multi-frame tests; it stands in for DFT only as a label source, never as physics under test.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import ase
import ase.io
import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT

from heal import fsutil as fsio
from heal.data.dataset import Dataset
from heal.errors import FatalError
from heal.frames import frame_hash, set_labels, virial

VASP = Path(ase.__file__).parent / "test" / "testdata" / "vasp"
TYPE_MAP = ["Ni", "Co", "Cr", "Al"]


def emt_frames(n: int, *, seed: int = 0, stress: bool = True, size: int = 2) -> list[ase.Atoms]:
    base = bulk("Ni", "fcc", a=3.52, cubic=True) * (size, size, size)
    base.symbols[np.random.default_rng(seed).choice(len(base), len(base) // 4, replace=False)] = "Al"
    frames = []
    for i in range(n):
        a = base.copy()
        a.rattle(0.05, seed=1000 * seed + i)
        a.calc = EMT()
        e, f = a.get_potential_energy(), a.get_forces()
        s = a.get_stress() if stress else None
        frames.append(set_labels(a, e, f, stress=s))
    return frames


def labeled_copy(a: ase.Atoms) -> ase.Atoms:
    """Atoms.copy() drops the calculator; keep the labels."""
    r = a.calc.results
    return set_labels(a.copy(), r["energy"], r["forces"], stress=r.get("stress"))


def ni18() -> ase.Atoms:
    return ase.io.read(VASP / "OUTCAR_example_1")


def snapshot(root: Path) -> dict[str, str]:
    """Every file (content hash) and directory below root, except the lock file."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for d in dirnames:
            out[os.path.relpath(os.path.join(dirpath, d), root) + "/"] = "dir"
        for f in filenames:
            p = os.path.join(dirpath, f)
            if f != ".lock":
                out[os.path.relpath(p, root)] = hashlib.sha256(Path(p).read_bytes()).hexdigest()
    return out


def test_roundtrip_real_outcar_values_through_store_and_extxyz(tmp_path):
    ref = ni18()
    e, f, s = ref.get_potential_energy(), ref.get_forces(), ref.get_stress()
    assert abs(e - (-68.23102426)) < 1e-8  # energy(sigma->0) of the file, as ASE reads it
    ds = Dataset(tmp_path / "ds", type_map=["Ni"])
    res = ds.append([ref], {"source": "OUTCAR_example_1", "note": {"nested": [1, 2]}})
    assert (res.added, res.duplicates, res.hashes_added) == (1, 0, [frame_hash(ref)])

    (back,) = list(Dataset(tmp_path / "ds").iter_frames())
    assert back.info["hash"] == frame_hash(ref) == frame_hash(back)
    assert back.info["source"] == "OUTCAR_example_1" and back.info["note"] == {"nested": [1, 2]}
    assert back.get_chemical_symbols() == ["Ni"] * 18
    np.testing.assert_array_equal(back.positions, ref.positions)
    np.testing.assert_array_equal(back.cell.array, ref.cell.array)
    assert back.get_potential_energy() == e
    np.testing.assert_array_equal(back.get_forces(), f)
    np.testing.assert_allclose(virial(back), virial(ref), rtol=1e-12, atol=1e-10)
    np.testing.assert_allclose(back.get_stress(), s, rtol=1e-12, atol=1e-15)

    out = tmp_path / "all.extxyz"
    assert ds.export_extxyz(out) == 1
    (x,) = ase.io.read(out, index=":")
    assert x.get_potential_energy() == pytest.approx(e, abs=1e-8)
    np.testing.assert_allclose(x.get_forces(), f, atol=1e-8)
    np.testing.assert_allclose(x.get_stress(), s, atol=1e-12)
    np.testing.assert_allclose(x.positions, ref.positions, atol=1e-8)
    assert x.info["hash"] == frame_hash(ref) and x.info["source"] == "OUTCAR_example_1"


def test_dedup_across_and_within_appends(tmp_path):
    frames = emt_frames(6)
    ds = Dataset(tmp_path / "ds", type_map=TYPE_MAP)
    r1 = ds.append(frames[:4] + [labeled_copy(frames[0])])  # a repeat inside one call
    assert (r1.added, r1.duplicates, r1.chunk) == (4, 1, "000001")
    r2 = ds.append(frames, [{"source": f"s{i}"} for i in range(6)])
    assert (r2.added, r2.duplicates, r2.chunk) == (2, 4, "000002")
    r3 = ds.append(frames)
    assert (r3.added, r3.duplicates, r3.chunk) == (0, 6, None)
    assert len(ds) == 6 and ds.hashes() == {frame_hash(a) for a in frames}
    assert sorted(p.name for p in (tmp_path / "ds" / "chunks").iterdir()) == ["000001", "000002"]
    # a fresh reader sees the same; frames come back in append order with their labels
    back = list(Dataset(tmp_path / "ds").iter_frames())
    assert [a.info["hash"] for a in back] == [frame_hash(a) for a in frames[:4]] + r2.hashes_added
    for a in back:
        src = next(f for f in frames if frame_hash(f) == a.info["hash"])
        assert a.get_potential_energy() == src.get_potential_energy()
        np.testing.assert_allclose(virial(a), virial(src), rtol=1e-12, atol=1e-12)


def test_systems_are_dpdata_readable_and_virial_is_per_system(tmp_path):
    import dpdata

    with_s, without_s = emt_frames(3, seed=1), emt_frames(2, seed=2, stress=False)
    ds = Dataset(tmp_path / "ds", type_map=TYPE_MAP)
    ds.append(with_s + without_s)
    dirs = ds.system_dirs()
    assert len(dirs) == 2 and sum(d.name.endswith("-novirial") for d in dirs) == 1
    total = 0
    for d in dirs:
        s = dpdata.LabeledSystem(str(d), fmt="deepmd/npy")
        total += s.get_nframes()
        assert s["atom_names"] == TYPE_MAP and s.get_natoms() == 32
        assert ("virials" in s.data) == (not d.name.endswith("-novirial"))
        assert s["coords"].dtype == np.float64
    assert total == 5
    back = {a.info["hash"]: a for a in ds.iter_frames()}
    assert all("stress" not in back[frame_hash(a)].calc.results for a in without_s)
    st = ds.stats()
    assert (st["frames"], st["unique_hashes"], st["with_virial"], st["systems"]) == (5, 5, 3, 2)


def test_type_map_is_fixed_and_can_grow(tmp_path):
    ds = Dataset(tmp_path / "ds", type_map=["Ni"])
    before = snapshot(tmp_path / "ds")
    with pytest.raises(FatalError, match=r"\['Al'\] not in the type map \['Ni'\]"):
        ds.append(emt_frames(1))
    assert snapshot(tmp_path / "ds") == before and len(ds) == 0
    with pytest.raises(FatalError, match="has type map"):
        Dataset(tmp_path / "ds", type_map=["Al", "Ni"])
    ds.append([ni18()])
    assert ds.extend_type_map(["Al", "Ni"]) == ["Ni", "Al"]
    assert Dataset(tmp_path / "ds").type_map == ["Ni", "Al"]
    assert ds.append(emt_frames(2)).added == 2
    # the old chunk keeps its shorter type_map.raw; DeePMD maps types by name
    assert [(d / "type_map.raw").read_text().split() for d in ds.system_dirs()] == [["Ni"], ["Ni", "Al"]]
    # without a type map, the first append sets it in order of first appearance
    fresh = Dataset(tmp_path / "fresh")
    assert fresh.type_map is None and not fresh.exists
    (a,) = emt_frames(1)
    fresh.append([a])
    assert fresh.type_map == list(dict.fromkeys(a.get_chemical_symbols())) and len(fresh.type_map) == 2


def test_rejects_unlabeled_nonfinite_and_bad_provenance(tmp_path):
    ds = Dataset(tmp_path / "ds", type_map=TYPE_MAP)
    a = emt_frames(1)[0]
    bare = a.copy()
    with pytest.raises(FatalError, match="no energy/forces"):
        ds.append([bare])
    bad = set_labels(a.copy(), float("nan"), a.get_forces())
    with pytest.raises(FatalError, match="non-finite"):
        ds.append([bad])
    with pytest.raises(FatalError, match="JSON"):
        ds.append([a], {"x": object()})
    with pytest.raises(FatalError, match="provenance"):
        ds.append([a, a], [{}])
    assert len(ds) == 0


@pytest.mark.parametrize("where", ["np.save", "fsync", "rename"])
def test_injected_write_error_leaves_dataset_unchanged(tmp_path, monkeypatch, where):
    ds = Dataset(tmp_path / "ds", type_map=TYPE_MAP)
    first, second = emt_frames(3, seed=3), emt_frames(4, seed=4) + emt_frames(2, seed=5, stress=False)
    ds.append(first)
    before, hashes_before = snapshot(tmp_path / "ds"), ds.hashes()
    calls = {"n": 0}

    def failing(real, after):
        def f(*args, **kwargs):
            calls["n"] += 1
            if calls["n"] > after:
                raise OSError(28, "No space left on device (injected)")
            return real(*args, **kwargs)
        return f

    if where == "np.save":  # dpdata writes every .npy with numpy.save: fail after 3 files
        monkeypatch.setattr(np, "save", failing(np.save, 3))
    elif where == "fsync":  # all files written, fail while making them durable
        monkeypatch.setattr(fsio, "fsync_file", failing(fsio.fsync_file, 4))
    else:  # everything written and synced; the commit itself fails
        monkeypatch.setattr(os, "rename", failing(os.rename, 0))
    with pytest.raises(OSError, match="injected"):
        ds.append(second)
    assert calls["n"] > 0
    monkeypatch.undo()
    assert snapshot(tmp_path / "ds") == before
    fresh = Dataset(tmp_path / "ds")
    assert fresh.hashes() == hashes_before and len(fresh) == 3 and len(list(fresh.iter_frames())) == 3
    res = fresh.append(second)
    assert res.added == 6 and len(Dataset(tmp_path / "ds")) == 9


_CRASHER = """
import os, sys, ase.io
from heal import fsutil as fsio
from heal.data.dataset import Dataset
frames = ase.io.read(sys.argv[2], index=":")
fsio.fsync_tree = lambda root: os._exit(9)   # die after the chunk is written, before the commit
Dataset(sys.argv[1]).append(frames)
"""


def test_process_killed_mid_append_leaves_previous_state(tmp_path):
    ds = Dataset(tmp_path / "ds", type_map=TYPE_MAP)
    ds.append(emt_frames(2, seed=6))
    before = snapshot(tmp_path / "ds")
    new = emt_frames(3, seed=7)
    ase.io.write(tmp_path / "new.extxyz", new)
    proc = subprocess.run([sys.executable, "-c", _CRASHER, str(tmp_path / "ds"), str(tmp_path / "new.extxyz")],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 9, proc.stderr
    leftovers = list((tmp_path / "ds" / ".staging").iterdir())
    assert len(leftovers) == 1 and any(leftovers[0].rglob("*.npy"))  # a half-made chunk was left behind
    fresh = Dataset(tmp_path / "ds")
    assert len(fresh) == 2 and len(list(fresh.iter_frames())) == 2 and len(fresh.system_dirs()) == 1
    assert fresh.append(new).added == 3
    assert not any((tmp_path / "ds" / ".staging").iterdir())  # the next append cleaned up
    assert set(snapshot(tmp_path / "ds")) > set(before)


_APPENDER = """
import sys, ase.io
from heal.data.dataset import Dataset
frames = ase.io.read(sys.argv[2], index=":")
ds = Dataset(sys.argv[1])
for i in range(0, len(frames), 2):
    ds.append(frames[i:i + 2])
"""


def test_concurrent_appenders_never_store_a_frame_twice(tmp_path):
    frames = emt_frames(24, seed=8)
    Dataset(tmp_path / "ds", type_map=TYPE_MAP)
    ase.io.write(tmp_path / "a.extxyz", frames[:16])
    ase.io.write(tmp_path / "b.extxyz", frames[8:][::-1])  # overlap of 8 frames, met in opposite orders
    procs = [subprocess.Popen([sys.executable, "-c", _APPENDER, str(tmp_path / "ds"), str(tmp_path / f)],
                              stderr=subprocess.PIPE, text=True) for f in ("a.extxyz", "b.extxyz")]
    for p in procs:
        assert p.wait(timeout=120) == 0, p.stderr.read()
    ds = Dataset(tmp_path / "ds")
    st = ds.stats()
    assert st["frames"] == st["unique_hashes"] == 24
    # (extxyz rounds positions, so compare with what the appenders read)
    assert ds.hashes() == {frame_hash(a) for f in ("a.extxyz", "b.extxyz")
                           for a in ase.io.read(tmp_path / f, index=":")}


def test_stats_and_split(tmp_path):
    ds = Dataset(tmp_path / "ds", type_map=TYPE_MAP)
    ds.append(emt_frames(5, seed=9), {"source": "run-a"})
    ds.append(emt_frames(3, seed=10, size=1))  # 4-atom cells, no source
    ds.append([ni18()], {"source": "run-b"})
    st = ds.stats()
    assert st["frames"] == st["unique_hashes"] == 9
    assert st["by_formula"] == {"Al8Ni24": 5, "AlNi3": 3, "Ni18": 1}
    assert st["by_natoms"] == {"4": 3, "18": 1, "32": 5}
    assert st["by_source"] == {"run-a": 5, "run-b": 1, "unknown": 3}
    assert st["chunks"] == 3 and st["type_map"] == TYPE_MAP
    json.dumps(st)
    train, test = ds.split(0.3, seed=1)
    assert train | test == ds.hashes() and not train & test
    assert ds.split(0.3, seed=1) == (train, test)
    assert ds.split(0.0)[1] == set() and ds.split(1.0)[0] == set()
    # a frame never changes side when the dataset grows
    ds.append(emt_frames(4, seed=11))
    train2, test2 = ds.split(0.3, seed=1)
    assert test <= test2 and train <= train2
