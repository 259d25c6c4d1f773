"""The labeling stage with the real MEAM teacher (physics real; only faults are injected).

Covers: exactly-once across relaunches (oracle calls counted by a wrapper around the real labeler), a
relaunch after an interruption, d_min rejection before any oracle call, a NaN-force label rejected by
the sanity check, TransientError retries, a crashing oracle, oracle subprocesses that exit non-zero or
time out under the real LocalExecutor, and the ``heal label`` CLI round trip.
"""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
import yaml
from ase.build import bulk
from ase.io import read, write
from typer.testing import CliRunner

from heal import MACHINES_DIR
from heal.config import LabelSpec
from heal.errors import SetupError, TransientError
from heal.exec import get_executor
from heal.exec.base import Machine
from heal.exec.local import LocalExecutor
from heal.frames import frame_hash
from heal.label.gpaw import GpawLabeler
from heal.label import meam
from heal.label.runner import REJECTED, RESULT, label_frames, retry_rejected

pytestmark = pytest.mark.engine


class Counting:
    """Wraps a real labeler and counts oracle executions; can inject faults per call."""

    def __init__(self, inner, faults=None):
        self.inner, self.calls, self.faults = inner, 0, list(faults or [])
        self.name, self.elements = inner.name, inner.elements

    def write_input(self, atoms, workdir):
        self.inner.write_input(atoms, workdir)

    def execute(self, workdir, executor):
        self.calls += 1
        if self.faults:
            fault = self.faults.pop(0)
            if fault is not None:
                raise fault
        self.inner.execute(workdir, executor)

    def read_results(self, workdir, atoms):
        return self.inner.read_results(workdir, atoms)


class NanForces(meam.MeamLabeler):
    """Input-fault injection: the real MEAM label with one force poisoned."""

    def read_results(self, workdir, atoms):
        out = super().read_results(workdir, atoms)
        out.calc.results["forces"][0, 0] = np.nan
        return out


@pytest.fixture(scope="module")
def meam_labeler():
    lab = meam.MeamLabeler({})
    yield lab
    lab.close()


@pytest.fixture(scope="module")
def executor():
    return get_executor(MACHINES_DIR / "local.yaml")


def hea4_frames(n, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        a = bulk("Ni", "fcc", a=3.56, cubic=True).repeat(2)
        a.set_chemical_symbols(rng.choice(["Ni", "Co", "Cr", "Al"], len(a)))
        a.rattle(0.05, seed=seed * 100 + i)
        out.append(a)
    return out


def squeezed(atoms, d=1.0):
    a = atoms.copy()
    a.positions[1] = a.positions[0] + [d, 0.0, 0.0]
    return a


def test_exactly_once_across_relaunches(tmp_path, meam_labeler, executor):
    frames = hea4_frames(4)
    spec = LabelSpec(oracle="meam")
    first = Counting(meam_labeler)
    r1 = label_frames(frames, spec, tmp_path, executor, labeler=first)
    assert first.calls == 4 and len(r1.labeled) == 4 and not r1.rejected and r1.reused == 0
    for a in frames:
        assert (tmp_path / frame_hash(a) / RESULT).is_file()
    again = Counting(meam_labeler)
    r2 = label_frames(frames + frames[:1], spec, tmp_path, executor, labeler=again)
    assert again.calls == 0 and r2.reused == 4 and r2.duplicates == 1
    for a, b, ref in zip(r1.labeled, r2.labeled, frames):
        assert a.get_potential_energy() == b.get_potential_energy()
        assert np.array_equal(a.get_forces(), b.get_forces())
        assert np.array_equal(a.get_stress(), b.get_stress())
        e, f, _ = meam_labeler.compute(ref)  # and the labels are the MEAM's own
        assert a.get_potential_energy() == pytest.approx(e, abs=1e-5)
        assert np.abs(a.get_forces() - f).max() < 1e-4
        assert a.info["heal_hash"] == frame_hash(ref) and a.info["oracle"] == "meam"


def test_relaunch_after_interruption_labels_only_the_rest(tmp_path, meam_labeler, executor):
    frames = hea4_frames(3, seed=1)
    spec = LabelSpec(oracle="meam")
    crashing = Counting(meam_labeler, faults=[None, KeyboardInterrupt()])  # killed during frame 2
    with pytest.raises(KeyboardInterrupt):
        label_frames(frames, spec, tmp_path, executor, labeler=crashing)
    assert (tmp_path / frame_hash(frames[0]) / RESULT).is_file()
    assert not (tmp_path / frame_hash(frames[1]) / RESULT).exists()
    resumed = Counting(meam_labeler)
    r = label_frames(frames, spec, tmp_path, executor, labeler=resumed)
    assert resumed.calls == 2 and r.reused == 1 and len(r.labeled) == 3


def test_too_close_rejected_before_oracle(tmp_path, meam_labeler, executor):
    good, = hea4_frames(1, seed=2)
    bad = squeezed(good, 1.0)
    lab = Counting(meam_labeler)
    r = label_frames([bad, good], LabelSpec(oracle="meam", d_min=1.5), tmp_path, executor, labeler=lab)
    assert lab.calls == 1 and len(r.labeled) == 1
    (rej,) = r.rejected
    assert rej["hash"] == frame_hash(bad) and rej["stage"] == "precheck"
    assert "min distance 1.000" in rej["reason"] and "d_min 1.500" in rej["reason"]
    rec = json.loads((tmp_path / frame_hash(bad) / REJECTED).read_text())
    assert rec["reason"] == rej["reason"] and rec["attempts"] == 0
    assert not (tmp_path / frame_hash(bad) / "oracle").exists()
    # a relaunch keeps the rejection without calling anything
    again = Counting(meam_labeler)
    r2 = label_frames([bad, good], LabelSpec(oracle="meam", d_min=1.5), tmp_path, executor, labeler=again)
    assert again.calls == 0 and r2.rejected == r.rejected


def test_nan_forces_rejected_by_sanity(tmp_path, executor):
    frames = hea4_frames(2, seed=3)
    lab = NanForces({})
    r = label_frames(frames, LabelSpec(oracle="meam"), tmp_path, executor, labeler=lab)
    lab.close()
    assert not r.labeled and len(r.rejected) == 2
    assert all(x["stage"] == "sanity" and "non-finite forces on 1 atom" in x["reason"] for x in r.rejected)


def test_max_force_rejected_by_sanity(tmp_path, meam_labeler, executor):
    frames = hea4_frames(1, seed=4)
    fmax = float(np.abs(meam_labeler.compute(frames[0])[1]).max())
    r = label_frames(frames, LabelSpec(oracle="meam", max_force=fmax / 2), tmp_path, executor, labeler=meam_labeler)
    (rej,) = r.rejected
    assert rej["stage"] == "sanity" and "force too large" in rej["reason"]


def test_transient_errors_are_retried(tmp_path, meam_labeler, executor):
    frames = hea4_frames(1, seed=5)
    lab = Counting(meam_labeler, faults=[TransientError("node lost"), TransientError("queue hiccup"), None])
    r = label_frames(frames, LabelSpec(oracle="meam", retries=2), tmp_path, executor, labeler=lab, backoff_s=0.01)
    assert lab.calls == 3 and len(r.labeled) == 1 and not r.rejected
    # one retry too few: the batch stops with the last message and records nothing against the frame
    lab = Counting(meam_labeler, faults=[TransientError("node lost"), TransientError("queue hiccup"), None])
    frame = hea4_frames(1, seed=6)
    with pytest.raises(TransientError, match="queue hiccup.*heal resume"):
        label_frames(frame, LabelSpec(oracle="meam", retries=1), tmp_path, executor, labeler=lab, backoff_s=0.01)
    assert lab.calls == 2 and not (tmp_path / frame_hash(frame[0]) / REJECTED).exists()
    # the relaunch (heal resume) labels it
    r = label_frames(frame, LabelSpec(oracle="meam", retries=1), tmp_path, executor, labeler=lab, backoff_s=0.01)
    assert lab.calls == 3 and len(r.labeled) == 1 and not r.rejected


def test_oracle_crash_does_not_stop_the_batch(tmp_path, meam_labeler, executor):
    frames = hea4_frames(3, seed=7)
    lab = Counting(meam_labeler, faults=[None, RuntimeError("segfault-like crash"), None])
    r = label_frames(frames, LabelSpec(oracle="meam"), tmp_path, executor, labeler=lab)
    assert len(r.labeled) == 2 and len(r.rejected) == 1
    assert r.rejected[0]["hash"] == frame_hash(frames[1])
    assert "RuntimeError: segfault-like crash" in r.rejected[0]["reason"]


def test_element_outside_oracle_stops_the_batch_without_a_rejection(tmp_path, meam_labeler, executor):
    frames = hea4_frames(2, seed=8)
    frames[1][0].symbol = "Nb"
    with pytest.raises(SetupError, match="Nb.*universal"):
        label_frames(frames, LabelSpec(oracle="meam"), tmp_path, executor, labeler=meam_labeler)
    assert (tmp_path / frame_hash(frames[0]) / RESULT).is_file()       # labeled before the error: kept
    assert not list(tmp_path.glob(f"*/{REJECTED}"))


@pytest.mark.parametrize("argv, expect", [
    (["false"], "exit code 1"),
    ([sys.executable, "-c", "import sys; sys.exit(3)"], "exit code 3"),
])
def test_failing_oracle_subprocess_is_a_rejection(tmp_path, argv, expect):
    """The GPAW labeler with its program replaced: a real subprocess through the real LocalExecutor."""
    executor = LocalExecutor(Machine(commands={"gpaw_python": argv}, source="test machine"))
    frames = hea4_frames(1, seed=9)
    spec = LabelSpec(oracle="gpaw", retries=2, timeout_s=30)
    r = label_frames(frames, spec, tmp_path, executor, labeler=GpawLabeler({}), backoff_s=0.01)
    assert not r.labeled
    (rej,) = r.rejected
    assert rej["stage"] == "oracle" and expect in rej["reason"]
    assert (tmp_path / rej["hash"] / "oracle" / "gpaw_input.json").is_file()


def test_timeouts_past_the_retries_stop_the_batch_and_are_tried_again(tmp_path):
    executor = LocalExecutor(Machine(commands={"gpaw_python": [sys.executable, "-c", "import time; time.sleep(30)"]},
                                     source="test machine"))
    frames = hea4_frames(1, seed=9)
    spec = LabelSpec(oracle="gpaw", retries=1, timeout_s=0.5)
    with pytest.raises(TransientError, match="after 2 attempt.*timed out after 0.5 s"):
        label_frames(frames, spec, tmp_path, executor, labeler=GpawLabeler({}), backoff_s=0.01)
    assert not list(tmp_path.glob(f"*/{REJECTED}"))


def test_program_not_on_path_is_a_setup_error_and_labels_after_the_fix(tmp_path, meam_labeler):
    """A missing oracle program writes no rejection; once the machine file names a program, the frame is labeled."""
    frames = hea4_frames(1, seed=10)
    spec = LabelSpec(oracle="gpaw", retries=0, timeout_s=30)
    broken = LocalExecutor(Machine(commands={"gpaw_python": ["no-such-gpaw-python"]}, source="test machine"))
    with pytest.raises(SetupError, match="no-such-gpaw-python.*not on PATH"):
        label_frames(frames, spec, tmp_path, broken, labeler=GpawLabeler({}))
    assert not list(tmp_path.glob(f"*/{REJECTED}"))
    # the fixed machine runs a program that fails on this frame: now a rejection is right, and it is permanent
    failing = LocalExecutor(Machine(commands={"gpaw_python": ["false"]}, source="test machine"))
    r = label_frames(frames, spec, tmp_path, failing, labeler=GpawLabeler({}))
    assert [x["stage"] for x in r.rejected] == ["oracle"]
    again = label_frames(frames, spec, tmp_path, failing, labeler=GpawLabeler({}))
    assert again.reused == 1 and again.rejected == r.rejected
    # retried on purpose: the rejection moves aside (kept as history) and the frame is labeled afresh
    assert retry_rejected(tmp_path) == [frame_hash(frames[0])]
    h = frame_hash(frames[0])
    assert (tmp_path / h / "rejected-0.json").is_file() and not (tmp_path / h / REJECTED).exists()
    lab = Counting(meam_labeler)
    r = label_frames(frames, LabelSpec(oracle="meam"), tmp_path, None, labeler=lab)
    assert lab.calls == 1 and len(r.labeled) == 1 and not r.rejected


def test_cli_label_round_trip(tmp_path, meam_labeler):
    from heal.cli import app

    frames = hea4_frames(3, seed=10)
    frames.append(squeezed(frames[0], 1.2))
    src, out, wd = tmp_path / "in.extxyz", tmp_path / "out.extxyz", tmp_path / "work"
    write(src, frames, format="extxyz")
    runner = CliRunner()
    res = runner.invoke(app, ["label", "--oracle", "meam", str(src), "-o", str(out), "--workdir", str(wd)])
    assert res.exit_code == 0, res.output
    assert "labeled 3, rejected 1" in res.output and "atoms too close" in res.output
    labeled = read(out, index=":")
    assert len(labeled) == 3
    for a, ref in zip(labeled, frames[:3]):
        e, f, _ = meam_labeler.compute(ref)
        assert a.get_potential_energy() == pytest.approx(e, abs=1e-5)
        assert np.abs(a.get_forces() - f).max() < 1e-4
        assert a.get_stress().shape == (6,)
    res = runner.invoke(app, ["label", "--oracle", "meam", str(src), "-o", str(out), "--workdir", str(wd)])
    assert res.exit_code == 0 and "reused 4" in res.output

    # with a campaign file: its label section (here a stricter d_min) and machine are used
    cfg = tmp_path / "workflows" / "c.yaml"
    cfg.parent.mkdir()
    cfg.write_text(yaml.safe_dump({"name": "c", "system": {"family": "HEA4"},
                                   "label": {"oracle": "meam", "d_min": 2.3}, "machine": "local"}))
    out2 = tmp_path / "out2.extxyz"
    res = runner.invoke(app, ["label", "--config", str(cfg), str(src), "-o", str(out2)])
    assert res.exit_code == 0, res.output
    assert "rejected" in res.output and "d_min 2.300" in res.output
    assert (tmp_path / "out2_label").is_dir()


def test_cli_needs_an_oracle(tmp_path):
    from heal.cli import app
    from heal.errors import ConfigError

    src = tmp_path / "in.extxyz"
    write(src, hea4_frames(1), format="extxyz")
    res = CliRunner().invoke(app, ["label", str(src), "-o", str(tmp_path / "o.extxyz")])
    assert res.exit_code != 0 and isinstance(res.exception, ConfigError)


def test_sanity_checks_on_real_labels(meam_labeler):
    from heal.frames import set_labels
    from heal.label.sanity import check_labels, check_structure

    (a,) = hea4_frames(1, seed=11)
    spec = LabelSpec()
    e, f, s = meam_labeler.compute(a)
    assert check_structure(a, spec) is None
    assert check_labels(set_labels(a.copy(), e, f, stress=s), spec) is None
    assert "non-finite energy" in check_labels(set_labels(a.copy(), float("inf"), f, stress=s), spec)
    assert "non-finite stress" in check_labels(set_labels(a.copy(), e, f, stress=s * np.nan), spec)
    assert "no energy" in check_labels(a.copy(), spec)
    close = squeezed(a, 1.2)
    assert "d_min" in check_labels(set_labels(close, e, f, stress=s), spec)
    assert check_labels(set_labels(close, e, f, stress=s), spec, structure=False) is None


def test_complete_oracle_output_left_by_a_kill_is_reused_not_recomputed(tmp_path, meam_labeler, executor):
    """A worker killed after the oracle finished but before the done-marker: the relaunch parses the
    finished output instead of running the oracle again (the expensive-DFT case)."""
    frames = hea4_frames(2, seed=11)
    spec = LabelSpec(oracle="meam")
    first = Counting(meam_labeler)
    ref = label_frames(frames, spec, tmp_path, executor, labeler=first)
    assert first.calls == 2
    # simulate the kill window: outputs complete, markers not yet written
    for a in frames:
        (tmp_path / frame_hash(a) / RESULT).unlink()
    again = Counting(meam_labeler)
    res = label_frames(frames, spec, tmp_path, executor, labeler=again)
    assert again.calls == 0
    assert [a.get_potential_energy() for a in res.labeled] == [a.get_potential_energy() for a in ref.labeled]
    events = [json.loads(ln) for ln in (tmp_path / "oracle_calls.jsonl").read_text().splitlines()]
    assert sorted(e["event"] for e in events) == ["done", "done", "reused", "reused", "start", "start"]


def test_failed_oracle_output_is_recomputed_on_relaunch(tmp_path, meam_labeler, executor):
    frames = hea4_frames(1, seed=12)
    h = frame_hash(frames[0])
    odir = tmp_path / h / "oracle"
    odir.mkdir(parents=True)
    (odir / "meam.json").write_text('{"energy": ')  # torn output of a killed oracle
    lab = Counting(meam_labeler)
    res = label_frames(frames, LabelSpec(oracle="meam"), tmp_path, executor, labeler=lab)
    assert lab.calls == 1 and len(res.labeled) == 1


def test_labeled_frames_keep_the_hash_of_their_input(tmp_path, meam_labeler, executor):
    """extxyz rounds positions to 1e-8 Å; labeled frames must still hash like their input frames."""
    frames = hea4_frames(3, seed=13)
    for a in frames:
        a.positions += 1.23456789e-7  # digits beyond what extxyz keeps
    first = label_frames(frames, LabelSpec(oracle="meam"), tmp_path, executor, labeler=meam_labeler)
    again = label_frames(frames, LabelSpec(oracle="meam"), tmp_path, executor, labeler=meam_labeler)
    for res in (first, again):
        assert [frame_hash(a) for a in res.labeled] == [frame_hash(a) for a in frames]


def test_full_disk_stops_the_batch_keeps_finished_labels_and_rejects_nothing(small_fs, meam_labeler):
    """On a real full filesystem: DiskFullError naming the path, no rejection; freed, the rest is labeled."""
    from heal.errors import DiskFullError

    frames = hea4_frames(3, seed=11)
    wd = small_fs.root / "label"
    lab = Counting(meam_labeler)
    first = label_frames(frames[:1], LabelSpec(oracle="meam"), wd, None, labeler=lab)
    assert len(first.labeled) == 1
    small_fs.fill()
    with pytest.raises(DiskFullError, match=f"disk full: {wd}"):
        label_frames(frames, LabelSpec(oracle="meam"), wd, None, labeler=lab)
    assert not list(wd.glob(f"*/{REJECTED}"))
    small_fs.free()
    r = label_frames(frames, LabelSpec(oracle="meam"), wd, None, labeler=lab)
    assert len(r.labeled) == 3 and not r.rejected and r.reused == 1
    assert [a.info["heal_hash"] for a in r.labeled] == [frame_hash(a) for a in frames]
