"""Real-engine tests of the train and explore stages: ``dp train / freeze / test`` and LAMMPS with
``pair_style deepmd`` (inline model deviation), on a tiny system with real numbers.

Data: 30 frames of a 32-atom NiCoCrAl FCC cell (3 lattice scales, rattled) labeled by the real MEAM teacher;
24 train two tiny se_e2_a models (100 steps, different seeds), 6 are held out for ``dp test``. The models
are trained once per module (~1 minute); the whole file takes about 2.5 minutes on 2 cores.

What is proven:
- training writes a frozen graph, a done-marker, a parsed learning curve and finite held-out errors per element;
- a finished member is never retrained (the executor wrapper counts real ``dp`` calls);
- ``--init-frz-model`` starts a member from a frozen model;
- the ensemble deviation is exactly 0 for two copies of one model and non-zero for two different models;
  the dump and the deviation table have the same frames;
- runs grouped in one LAMMPS process give the same numbers as a run alone (same seed, same trajectory);
- a blow-up (lost atoms at 1e10 K) is recorded with LAMMPS's ERROR line, never raised, and the other runs
  of its group still finish; a missing model file is a FatalError naming the file.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from ase.build import bulk

from heal import MACHINES_DIR
from heal.config import ExploreSpec, TrainSpec
from heal.errors import FatalError, TransientError
from heal.exec import load_machine
from heal.exec.base import Job, job_env, which
from heal.exec.local import LocalExecutor
from heal.explore.lammps import ExploreRun, run_together, run_one
from heal.explore.parse import iter_dump, read_model_devi
from heal.train.deepmd import read_lcurve, train_member

pytestmark = pytest.mark.engine

TYPE_MAP = ["Ni", "Co", "Cr", "Al"]
SPEC = TrainSpec(steps=100, rcut=4.5, embedding=[4, 8, 16], fitting=[16, 16], n_models=2, disp_freq=50,
                 start_lr=1e-3, stop_lr=1e-4)
EXPLORE = ExploreSpec(dump_freq=10)
#: 100 MD steps at 300 K, NVT, dumped every 10 steps -> 11 frames (steps 0..100)
RUN_A = ExploreRun("a", 300.0, None, 100, 5)
N_FRAMES = 11


class Counting:
    """Wraps the real LocalExecutor; records every program (command key and args) of every job it runs."""

    def __init__(self, inner):
        self.inner, self.machine, self.jobs = inner, inner.machine, []

    def run(self, job):
        self.jobs += [(cmd, list(args)) for cmd, args in [(job.command, job.args), *job.then]]
        return self.inner.run(job)


def _cell(seed: int = 0):
    atoms = bulk("Ni", "fcc", a=3.56, cubic=True).repeat(2)
    atoms.set_chemical_symbols(np.random.default_rng(seed).permutation(TYPE_MAP * 8))
    return atoms


@pytest.fixture(scope="module")
def engines(tmp_path_factory):
    from heal.data.dataset import Dataset
    from heal.frames import set_labels
    from heal.label import meam

    machine = load_machine(MACHINES_DIR / "local.yaml")
    for key in ("dp", "lmp"):  # installed by .ci/install with deepmd-kit[cpu,lmp]: missing is a failure
        assert which(machine.argv(key)[0], job_env(machine, Job(key, [], Path.cwd()))) is not None, \
            f"{key} is not installed (pip install 'deepmd-kit[cpu,lmp]')"
    root = tmp_path_factory.mktemp("engines")
    labeler = meam.MeamLabeler()
    base = _cell()
    frames = []
    for i in range(30):
        a = base.copy()
        a.set_cell(a.cell * (0.97, 1.0, 1.03)[i % 3], scale_atoms=True)
        a.rattle(0.08, seed=100 + i)
        e, f, s = labeler.compute(a)
        frames.append(set_labels(a, e, f, stress=s))
    labeler.close()
    train, test = Dataset(root / "train", TYPE_MAP), Dataset(root / "test", TYPE_MAP)
    assert train.append(frames[:24]).added == 24 and test.append(frames[24:]).added == 6
    ex = Counting(LocalExecutor(machine))
    members = [train_member(SPEC, TYPE_MAP, train.system_dirs(), root / f"m{k}", ex, seed=k + 1,
                            test_systems=test.system_dirs()) for k in range(2)]
    return SimpleNamespace(root=root, ex=ex, train=train, test=test, members=members,
                           m0=Path(members[0].model), m1=Path(members[1].model))


# -- dp train / freeze / test -------------------------------------------------------------------------
def test_training_writes_graph_done_marker_lcurve_and_test_errors(engines):
    for k, res in enumerate(engines.members):
        wd = engines.root / f"m{k}"
        assert Path(res.model) == wd / "graph.pb" and (wd / "graph.pb").stat().st_size > 10_000
        done = json.loads((wd / "done.json").read_text())
        assert done["model"] == res.model and done["seed"] == k + 1 and done["steps"] == 100
        rows = read_lcurve(wd / "lcurve.out")
        assert [r["step"] for r in rows] == [0, 50, 100]
        assert res.lcurve_last == rows[-1] and math.isfinite(rows[-1]["rmse_f_trn"])
        t = res.test
        assert t is not None and t.n_frames == 6
        assert math.isfinite(t.rmse_f) and t.rmse_f > 0 and math.isfinite(t.rmse_e_per_atom)
        assert t.rmse_v_per_atom is not None and t.rmse_v_per_atom > 0  # MEAM stress -> virial labels
        assert sorted(t.rmse_f_by_element) == sorted(TYPE_MAP)
        assert all(math.isfinite(v) and v > 0 for v in t.rmse_f_by_element.values())
        # the per-element RMSEs recombine to the total (8 atoms of each element per frame)
        assert np.sqrt(np.mean(np.square(list(t.rmse_f_by_element.values())))) == pytest.approx(t.rmse_f, rel=1e-9)
    # two seeds, two different models
    assert engines.members[0].test.rmse_f != engines.members[1].test.rmse_f
    # each member: one job of dp train, dp freeze, dp test — nothing else
    subcommands = [args[1] for cmd, args in engines.ex.jobs[:6]]
    assert subcommands == ["train", "freeze", "test"] * 2


def test_finished_member_is_not_retrained(engines):
    n = len(engines.ex.jobs)
    again = train_member(SPEC, TYPE_MAP, engines.train.system_dirs(), engines.root / "m0", engines.ex, seed=1,
                         test_systems=engines.test.system_dirs())
    assert len(engines.ex.jobs) == n  # no dp call
    assert again.to_dict() == engines.members[0].to_dict()


def test_init_from_frozen_model(engines):
    wd = engines.root / "m_init"
    n = len(engines.ex.jobs)
    res = train_member(SPEC, TYPE_MAP, engines.train.system_dirs(), wd, engines.ex, seed=3, init_model=engines.m0)
    cmd, args = engines.ex.jobs[n]
    # the previous model travels with the inputs as init.pb (a copy, forwarded like them)
    assert args[1] == "train" and args[args.index("--init-frz-model") + 1] == "init.pb"
    assert (wd / "init.pb").read_bytes() == engines.m0.read_bytes()
    log = (wd / "train.err").read_text() + (wd / "train.out").read_text()
    assert "initialize training from the frozen model" in log
    assert (wd / "graph.pb").is_file() and res.test is None
    assert [r["step"] for r in read_lcurve(wd / "lcurve.out")] == [0, 50, 100]


# -- LAMMPS + pair_style deepmd -------------------------------------------------------------------------
def test_same_model_twice_has_zero_deviation(engines):
    out = run_one(RUN_A, _cell(), [engines.m0, engines.m0], TYPE_MAP, EXPLORE, engines.root / "x" / "same",
                  engines.ex)
    assert out.ok and out.error is None and out.n_frames == N_FRAMES
    devi = read_model_devi(engines.root / "x" / "same" / "model_devi.out")
    assert len(devi) == N_FRAMES and np.all(devi["max_devi_f"] <= 1e-8) and np.all(devi["max_devi_v"] <= 1e-8)


def test_two_models_deviate_and_dump_matches_table(engines):
    wd = engines.root / "x" / "alone"
    out = run_one(RUN_A, _cell(), [engines.m0, engines.m1], TYPE_MAP, EXPLORE, wd, engines.ex)
    assert out.ok and out.n_frames == N_FRAMES
    devi = read_model_devi(wd / "model_devi.out")
    assert np.all(np.isfinite(devi["max_devi_f"])) and np.any(devi["max_devi_f"] > 1e-4)
    assert np.all(devi["min_devi_f"] <= devi["avg_devi_f"]) and np.all(devi["avg_devi_f"] <= devi["max_devi_f"])
    frames = list(iter_dump(wd / "traj.dump", TYPE_MAP))
    assert [s for s, _ in frames] == list(devi["step"]) == list(range(0, 101, 10))
    assert all(len(a) == 32 and a.get_chemical_formula() == "Al8Co8Cr8Ni8" for _, a in frames)
    # a finished run is never rerun
    n = len(engines.ex.jobs)
    assert run_one(RUN_A, _cell(), [engines.m0, engines.m1], TYPE_MAP, EXPLORE, wd, engines.ex) == out
    assert len(engines.ex.jobs) == n


def test_group_in_one_process_equals_runs_alone(engines):
    alone = engines.root / "x" / "alone"
    if not (alone / "done.json").is_file():
        test_two_models_deviate_and_dump_matches_table(engines)
    runs = [(RUN_A, _cell()), (ExploreRun("b", 900.0, None, 100, 6), _cell(1)),
            (ExploreRun("c", 600.0, 1.0, 100, 7), _cell(2))]  # c: NPT at 1 bar
    n = len(engines.ex.jobs)
    outs = run_together(runs, [engines.m0, engines.m1], TYPE_MAP, EXPLORE, engines.root / "x" / "group", engines.ex)
    assert [args[1] for _, args in engines.ex.jobs[n:]] == ["group.in"]  # one LAMMPS process for all three
    assert [o.name for o in outs] == ["a", "b", "c"] and all(o.ok and o.n_frames == N_FRAMES for o in outs)
    tables = [read_model_devi(Path(o.workdir) / "model_devi.out") for o in outs]
    assert all(len(t) == N_FRAMES for t in tables)
    assert all((Path(o.workdir) / "done.json").is_file() for o in outs)
    # the three runs differ, and run a equals the same run done alone (same seed -> same trajectory)
    assert not np.allclose(tables[0]["max_devi_f"], tables[1]["max_devi_f"])
    ref = read_model_devi(alone / "model_devi.out")
    assert list(tables[0]["step"]) == list(ref["step"])
    for col in ("max_devi_f", "min_devi_f", "avg_devi_f", "max_devi_v"):
        np.testing.assert_allclose(tables[0][col], ref[col], rtol=0, atol=1e-6)
    # NPT changed the volume of run c; NVT kept it in run a
    c_frames = list(iter_dump(Path(outs[2].workdir) / "traj.dump", TYPE_MAP))
    a_frames = list(iter_dump(Path(outs[0].workdir) / "traj.dump", TYPE_MAP))
    assert a_frames[-1][1].get_volume() == pytest.approx(a_frames[0][1].get_volume(), rel=1e-6)
    assert c_frames[-1][1].get_volume() != pytest.approx(c_frames[0][1].get_volume(), rel=1e-6)


def test_blow_up_is_recorded_and_the_group_goes_on(engines):
    # 1e10 K: atoms cross the box within one step -> "ERROR: Lost atoms" (thermo_modify lost error)
    runs = [(ExploreRun("ok1", 300.0, None, 100, 8), _cell()), (ExploreRun("hot", 1e10, None, 100, 9), _cell()),
            (ExploreRun("ok2", 300.0, None, 100, 10), _cell())]
    task = engines.root / "x" / "blowup"
    n = len(engines.ex.jobs)

    class KilledAfter:
        """Runs the real group process (it stops at "hot"), then reports it as killed from outside."""

        machine = engines.ex.machine

        def run(self, job):
            with pytest.raises(FatalError):
                engines.ex.run(job)
            raise TransientError("lmp was killed (exit -9)")

    with pytest.raises(TransientError):
        run_together(runs, [engines.m0, engines.m1], TYPE_MAP, EXPLORE, task, KilledAfter())
    # the run the group finished before dying is kept; the others are not marked
    assert json.loads((task / "ok1" / "done.json").read_text())["ok"] is True
    assert not (task / "hot" / "done.json").exists() and not (task / "ok2" / "done.json").exists()
    outs = run_together(runs, [engines.m0, engines.m1], TYPE_MAP, EXPLORE, task, engines.ex)  # never raises
    ok1, hot, ok2 = outs
    assert not hot.ok and hot.error.startswith("LAMMPS: ERROR: Lost atoms")
    assert 0 < hot.n_frames < N_FRAMES  # frames before the blow-up are kept
    assert json.loads((task / "hot" / "done.json").read_text())["ok"] is False
    assert ok1.ok and ok2.ok and ok1.n_frames == ok2.n_frames == N_FRAMES
    # each group process stopped at "hot"; ok1 finished inside the first, hot and ok2 were then rerun alone
    assert [args[1] for _, args in engines.ex.jobs[n:]] == ["group.in", "group.in", "in.lammps", "in.lammps"]
    assert "ERROR: Lost atoms" in (task / "hot" / "log.lammps").read_text()
    assert not (task / "ok1" / "lmp.out").exists() and (task / "ok2" / "lmp.out").is_file()
    # a relaunch keeps every outcome (the failed run included) and runs nothing
    n = len(engines.ex.jobs)
    assert run_together(runs, [engines.m0, engines.m1], TYPE_MAP, EXPLORE, task, engines.ex) == outs
    assert len(engines.ex.jobs) == n


def test_missing_model_is_fatal_and_names_the_file(engines):
    missing = engines.root / "nowhere" / "graph.pb"
    n = len(engines.ex.jobs)
    with pytest.raises(FatalError, match=str(missing)):
        run_one(RUN_A, _cell(), [engines.m0, missing], TYPE_MAP, EXPLORE, engines.root / "x" / "missing", engines.ex)
    with pytest.raises(FatalError, match=str(missing)):
        run_together([(RUN_A, _cell()), (ExploreRun("b", 900.0, None, 100, 6), _cell(1))], [missing, engines.m1],
                  TYPE_MAP, EXPLORE, engines.root / "x" / "missing-group", engines.ex)
    assert len(engines.ex.jobs) == n  # LAMMPS never started
    shutil.rmtree(engines.root / "x" / "missing", ignore_errors=True)


# -- the stage commands -------------------------------------------------------------------------------
def test_heal_explore_command_runs_one_classified_md_run(engines, tmp_path):
    """``heal explore`` with the two trained models: one LAMMPS run, classified with the file's levels."""
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    from ase.io import write
    from typer.testing import CliRunner

    from heal.cli import app
    from tiny_campaign import tiny_campaign

    cfg = tiny_campaign(tmp_path, "x")
    write(tmp_path / "start.extxyz", _cell(3))
    res = CliRunner().invoke(app, ["explore", str(tmp_path / "start.extxyz"), "-m", str(engines.m0), "-m",
                                   str(engines.m1), "--config", str(cfg), "-o", str(tmp_path / "run1"),
                                   "-T", "600", "--nsteps", "50"])
    assert res.exit_code == 0, res.output
    assert "6 frames" in res.output and "accurate" in res.output
    from heal.explore.parse import read_model_devi

    assert read_model_devi(tmp_path / "run1" / "model_devi.out").size == 6


def test_heal_train_command_trains_from_a_dataset_directory(engines, tmp_path):
    from typer.testing import CliRunner

    from heal.cli import app

    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    from tiny_campaign import tiny_campaign

    cfg = tiny_campaign(tmp_path, "x", train={"steps": 20, "disp_freq": 10})
    res = CliRunner().invoke(app, ["train", str(engines.root / "train"), "--config", str(cfg), "-o",
                                   str(tmp_path / "models"), "--models", "1", "--test", str(engines.root / "test")])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "models" / "model-00" / "graph.pb").is_file()
    assert "held-out RMSE F" in res.output


# -- restart decision (wiring tier: a recording executor, no training) ----------------------------------
class _Recorder:
    """Records the dp argv of each job; its 'freeze' step leaves an empty graph.pb so train_member can finish.
    No physics."""

    def __init__(self):
        self.calls = []

    def run(self, job):
        self.calls.append(list(job.args))
        if any("freeze" in args for _, args in job.then):
            (job.cwd / "graph.pb").write_bytes(b"")


def _torn_checkpoint(d, complete: bool):
    d.mkdir(parents=True)
    (d / "checkpoint").write_text('model_checkpoint_path: "model.ckpt-60"\n')
    for ext in ("index", "data-00000-of-00001") + (("meta",) if complete else ()):
        (d / f"model.ckpt-60.{ext}").write_bytes(b"x")
        if complete:
            (d / f"model.ckpt.{ext}").symlink_to(f"model.ckpt-60.{ext}")


def test_restart_only_from_a_complete_checkpoint(tmp_path):
    """A kill between TF's checkpoint index and its .meta (seen in fault injection) must not wedge training:
    every --restart would fail with 'model.ckpt.meta does not exist'."""
    rec = _Recorder()
    _torn_checkpoint(tmp_path / "torn", complete=False)
    train_member(SPEC, TYPE_MAP, [tmp_path], tmp_path / "torn", rec, seed=1)
    assert "--restart" not in rec.calls[0] and not (tmp_path / "torn" / "checkpoint").exists()
    rec = _Recorder()
    _torn_checkpoint(tmp_path / "whole", complete=True)
    train_member(SPEC, TYPE_MAP, [tmp_path], tmp_path / "whole", rec, seed=1)
    assert rec.calls[0][-2:] == ["--restart", "model.ckpt"]


# -- descriptors for max-volume selection -----------------------------------------------------------
def test_structure_descriptors_from_a_real_frozen_model(engines):
    """Real-model test: pooled DeePMD descriptors are per-element means, atom-order invariant, type-map ordered."""
    from ase.build import bulk
    from deepmd.infer import DeepPot

    from heal.select.maxvol import pool_by_type, structure_descriptors

    MODEL = engines.m0
    dp = DeepPot(str(MODEL))
    tm = list(dp.get_type_map())
    rng = np.random.default_rng(0)
    frames = []
    for i in range(4):
        a = bulk("Ni", "fcc", 3.56, cubic=True).repeat(2)
        a.set_chemical_symbols(rng.choice(tm[:2] if i == 1 else tm, len(a)).tolist())
        a.rattle(0.05, seed=i)
        frames.append(a)
    perm = frames[0][rng.permutation(len(frames[0]))]  # same structure, atoms shuffled
    D = structure_descriptors(frames + [perm], MODEL, tm)
    n_per_atom = D.shape[1] // len(tm)
    assert D.shape == (5, len(tm) * n_per_atom) and np.isfinite(D).all()
    assert np.allclose(D[4], D[0], atol=1e-8)
    assert np.all(D[1, 2 * n_per_atom:] == 0.0)  # frame 1 has only the first two elements
    a = frames[2]
    per_atom = dp.eval_descriptor(a.get_positions().reshape(1, -1), a.cell.array.reshape(1, 9),
                                  np.array([tm.index(s) for s in a.get_chemical_symbols()]))[0]
    types = np.array([tm.index(s) for s in a.get_chemical_symbols()])
    assert np.allclose(D[2], pool_by_type(per_atom, types, len(tm)))
    rev = structure_descriptors(frames[:1], MODEL, tm[::-1])  # blocks follow the given type map
    blocks = D[0].reshape(len(tm), -1)[::-1].reshape(-1)
    assert np.allclose(rev[0], blocks)
