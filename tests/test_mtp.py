"""MTP path: untrained level templates, training (motep; MLIP ``mlp`` wiring), γ grades, MD under extrapolation
control, select-add, and one active-learning iteration with real engines on tiny systems.

Real engines: motep 0.2.0 (C engine) for the MTP, the 2NN MEAM teacher (LAMMPS in-process) for labels.
Data: rattled (0.08 Å) 32-atom FCC and 16-atom BCC NiCoCrAl cells. Training is deliberately short (level 6,
20 BFGS iterations): the tests check the machinery and MaxVol invariants, not accuracy.
Units: eV, Å, K; γ dimensionless.
"""

from __future__ import annotations

import json
import shutil
import stat
import sys
from pathlib import Path

import numpy as np
import pytest

from heal import TEMPLATES_DIR
from heal.config import TrainSpec, parse_config
from heal.errors import FatalError
from heal.frames import frame_hash, set_labels

from heal.explore.mtp import read_grades, run_mtp_md
from heal.select.mtp_select import ActiveSet, Grader, select_add, select_from_runs
from heal.train.mtp import mlp_args, mlp_available, train_mtp

pytestmark = pytest.mark.engine

TYPE_MAP = ["Ni", "Co", "Cr", "Al"]
N_TRAIN = 20
MLP_ON_PATH = shutil.which("mlp") is not None


class _Spec(TrainSpec):
    """TrainSpec with a short MTP training (``mtp_max_iter``: BFGS iterations)."""

    mtp_max_iter: int = 20


SPEC = _Spec(engine="mtp", mtp_level=6)


@pytest.fixture(scope="module")
def labeler():
    from heal.label.meam import MeamLabeler

    lab = MeamLabeler({})
    yield lab
    lab.close()


def _label(labeler, frames):
    for a in frames:
        set_labels(a, *labeler.compute(a))
    return frames


@pytest.fixture(scope="module")
def seeds():
    from heal.systems import generate_seeds

    cfg = parse_config({"name": "mtp", "system": {"family": "HEA4"},
                        "seeds": {"phases": ["fcc", "bcc"], "min_atoms": 16, "max_atoms": 32,
                                  "scales": [0.97, 1.0, 1.03], "replicas": 2, "seed": 5}})
    return [s.atoms for s in generate_seeds(cfg)]


@pytest.fixture(scope="module")
def labeled(labeler, seeds):
    rng = np.random.default_rng(0)
    frames = []
    for i in range(N_TRAIN + 6):
        a = seeds[i % len(seeds)].copy()
        a.positions += rng.normal(0.0, 0.08, a.positions.shape)
        a.wrap()
        frames.append(a)
    return _label(labeler, frames)


@pytest.fixture(scope="module")
def trained(labeled, tmp_path_factory):
    d = tmp_path_factory.mktemp("mtp") / "train"
    return train_mtp(SPEC, TYPE_MAP, labeled[:N_TRAIN], d, seed=3)


@pytest.fixture(scope="module")
def grader(trained):
    res = trained
    return Grader(Path(res.potential), TYPE_MAP, ActiveSet.load(Path(res.state)))


def _compressed(atoms, s=0.85):
    a = atoms.copy()
    a.set_cell(a.cell * s, scale_atoms=True)
    return a


# -- templates ------------------------------------------------------------------------------------------
def test_templates_match_their_generator_and_are_rotation_invariant(tmp_path):
    sys.path.insert(0, str(TEMPLATES_DIR / "mtp"))
    keep, sys.dont_write_bytecode = sys.dont_write_bytecode, True  # no __pycache__ under templates/
    try:
        import make_templates
    finally:
        sys.path.pop(0)
        sys.dont_write_bytecode = keep
    from ase.build import bulk
    from motep.calculator import MTP
    from motep.io.mlip.mtp import read_mtp, write_mtp

    counts = {}
    for level in (2, 4, 6, 8, 10):
        fresh = tmp_path / f"{level}.mtp"
        write_mtp(fresh, make_templates.untrained(level), legacy=True)
        assert fresh.read_text() == (TEMPLATES_DIR / "mtp" / f"level{level:02d}.mtp").read_text()
        data = read_mtp(TEMPLATES_DIR / "mtp" / f"level{level:02d}.mtp")
        counts[level] = data.alpha_scalar_moments
        data.species = [28, 27, 24, 13]
        data.initialize(np.random.default_rng(level))
        a = bulk("Ni", "fcc", a=3.55, cubic=True).repeat(2)
        a.numbers = np.random.default_rng(1).choice([28, 27, 24, 13], len(a))
        a.rattle(0.1, seed=2)
        a.calc = MTP(data, engine="cext")
        e, v = a.get_potential_energy(), a.calc.engine.mbd.vatoms.copy()
        b = a.copy()
        rot = np.linalg.qr(np.random.default_rng(3).normal(size=(3, 3)))[0]
        b.set_cell(a.cell.array @ rot.T, scale_atoms=True)
        b.calc = MTP(data, engine="numpy")  # the second engine also cross-checks the C one
        assert b.get_potential_energy() == pytest.approx(e, rel=1e-10)
        np.testing.assert_allclose(b.calc.engine.mbd.vatoms, v, rtol=1e-8, atol=1e-8 * np.abs(v).max())
    # level <= 10: M00, M10, M20, M01.M01, M01.M11, M02:M02, M03:M03, M01.M02.M01 and their products
    assert counts == {2: 1, 4: 2, 6: 5, 8: 9, 10: 17}


# -- training -------------------------------------------------------------------------------------------
def test_training_converges_writes_readable_mtp_and_caches(trained, labeled):
    from motep.io.mlip.mtp import read_mtp

    res = trained
    assert res.route == "motep" and res.level == 6 and res.n_train == N_TRAIN
    forces = np.concatenate([a.get_forces().ravel() for a in labeled[:N_TRAIN]])
    assert np.isfinite(res.rmse_e_per_atom) and res.rmse_e_per_atom < 0.1
    assert np.isfinite(res.rmse_f) and res.rmse_f < np.sqrt(np.mean(forces**2))  # better than predicting zero
    data = read_mtp(res.potential)
    assert data.species_count == 4 and data.radial_coeffs.shape == (4, 4, 2, 8)
    assert np.all(np.isfinite(data.moment_coeffs)) and np.all(np.isfinite(data.radial_coeffs))
    assert not list(Path(res.potential).parent.glob("intermediate_*.mtp"))
    done = json.loads((Path(res.potential).parent / "done.json").read_text())
    assert done["potential"] == res.potential
    pot = Path(res.potential)
    stamp = pot.stat().st_mtime_ns
    again = train_mtp(SPEC, TYPE_MAP, labeled[:N_TRAIN], pot.parent, seed=3)
    assert again == res and pot.stat().st_mtime_ns == stamp  # the finished result, not a second training


def test_missing_level_template_names_the_field(labeled, tmp_path):
    from heal.errors import ConfigError

    with pytest.raises(ConfigError, match="mtp_level"):
        # model_construct: the campaign schema may itself restrict mtp_level to the shipped templates
        train_mtp(_Spec.model_construct(engine="mtp", mtp_level=3), TYPE_MAP, labeled[:2], tmp_path / "t", seed=1)


# -- grades ---------------------------------------------------------------------------------------------
def test_training_configurations_grade_at_most_one(grader, labeled):
    grades = [grader.grade(a) for a in labeled[:N_TRAIN]]
    assert max(grades) <= 1.0 + 1e-6  # MaxVol: every training row is a combination of active rows with |c| <= 1
    assert max(grades) == pytest.approx(1.0, abs=1e-6)  # the active rows themselves


def test_compressed_configuration_extrapolates(grader, labeled):
    grades = [grader.grade(_compressed(labeled[k], s)) for k in (0, 1) for s in (0.8, 0.7)]
    assert min(grades) > 2.1, grades  # denser than any training cell
    assert min(grades[1::2]) > 10.0, grades  # 0.7 x: neighbours well inside the radial basis' min_dist (2 Å)


def test_configuration_mode_on_equiatomic_cells_flags_a_new_composition(trained, labeled):
    from heal.select.mtp_select import build_active_set

    res = trained
    pot = Path(res.potential)
    # every training cell is equiatomic: the 4 species-count columns span one direction, so the configuration
    # matrix is rank-deficient; 'auto' grades neighbourhoods, a forced 'configuration' uses MLIP's MaxVol
    assert build_active_set(pot, TYPE_MAP, labeled[:N_TRAIN], mode="auto").mode == "neighborhood"
    act = build_active_set(pot, TYPE_MAP, labeled[:N_TRAIN], mode="configuration")
    assert act.mode == "configuration" and act.algorithm == "mlip" and np.sum(act.owners < 0) == 3
    g = Grader(pot, TYPE_MAP, act)
    assert max(g.grade(a) for a in labeled[:N_TRAIN]) <= 1.0 + 1e-3
    other = labeled[0].copy()
    other.symbols[0] = "Co" if other.symbols[0] != "Co" else "Ni"  # Ni9Co7... : a composition never trained on
    assert g.grade(other) > 100.0


# -- MD with extrapolation control ---------------------------------------------------------------------
def test_md_300K_writes_grades_frames_and_candidates(trained, labeled, tmp_path):
    res = trained
    run = run_mtp_md(Path(res.potential), Path(res.state), TYPE_MAP, labeled[0], tmp_path / "r300",
                     temperature=300.0, nsteps=60, dump_freq=10, seed=1)
    g = read_grades(tmp_path / "r300" / "grades.out")
    from ase.io import read

    traj = read(tmp_path / "r300" / "traj.extxyz", index=":")
    if not run.broke:
        assert list(g["step"]) == list(range(61)) and run.steps_done == 60
        assert [a.info["step"] for a in traj] == [0, 10, 20, 30, 40, 50, 60]
    assert g["gamma"][0] <= 1.0 + 1e-6  # the start is a training configuration
    assert run.max_gamma == pytest.approx(g["gamma"].max(), rel=1e-5)
    sel = g["step"][(g["gamma"] >= 2.1) & (g["gamma"] <= 10.0)]
    assert run.candidate_steps == [int(s) for s in sel] and run.candidates == len(sel)
    for a in traj:
        assert a.calc is None  # structures only, never mistaken for labels
    again = run_mtp_md(Path(res.potential), Path(res.state), TYPE_MAP, labeled[0], tmp_path / "r300",
                       temperature=300.0, nsteps=60, dump_freq=10, seed=1)
    assert again == run


def test_md_from_far_out_structure_breaks(trained, labeled, tmp_path):
    res = trained
    far = _compressed(labeled[1], 0.7)
    run = run_mtp_md(Path(res.potential), Path(res.state), TYPE_MAP, far, tmp_path / "far",
                     temperature=300.0, nsteps=50, dump_freq=10, seed=2)
    g = read_grades(tmp_path / "far" / "grades.out")
    assert run.broke and run.break_step == int(g["step"][-1]) == run.steps_done and g["gamma"][-1] > 10.0
    assert np.all(g["gamma"][:-1] <= 10.0) and run.steps_done < 50
    assert all(2.1 <= gg <= 10.0 for gg in g["gamma"][np.isin(g["step"], run.candidate_steps)])
    from ase.io import read

    assert read(tmp_path / "far" / "traj.extxyz", index=-1).info["gamma"] > 10.0  # the breaking frame is kept
    # with the break threshold out of reach the same start runs to the end and is preselected
    run2 = run_mtp_md(Path(res.potential), Path(res.state), TYPE_MAP, far, tmp_path / "far2",
                      temperature=300.0, nsteps=5, dump_freq=1, seed=2, brk=1e12)
    assert not run2.broke and run2.steps_done == 5 and 0 in run2.candidate_steps


# -- select-add -----------------------------------------------------------------------------------------
def test_select_add_constructed_case():
    act = ActiveSet(mode="configuration", algorithm="maxvol", scale=np.ones(3), submatrix=np.eye(3),
                    owners=np.arange(3))
    rows = [np.array([[1.0, 0.0, 0.0]]),  # a copy of an active row: |c| = 1, no volume gain
            np.array([[0.5, 0.5, 0.0]]),  # inside
            np.array([[0.0, 0.0, 3.0]]),  # triples the volume
            np.array([[0.0, 2.0, 0.0]])]  # doubles it
    assert select_add(act, rows, cap=5) == [2, 3]
    assert select_add(act, rows, cap=1) == [2]
    # two configurations along the same direction: the second adds nothing once the first is in
    assert select_add(act, [np.array([[0.0, 0.0, 3.0]]), np.array([[0.0, 0.0, 2.5]])], cap=5) == [0]
    # a candidate pushed out again by a larger one is not selected
    assert select_add(act, [np.array([[0.0, 0.0, 2.0]]), np.array([[0.0, 0.0, 5.0]])], cap=5) == [1]


def test_select_add_on_the_mtp_basis_picks_the_extrapolating_configuration(grader, labeled):
    cands = [labeled[0], labeled[N_TRAIN], _compressed(labeled[2]), labeled[N_TRAIN + 1]]
    rows = [grader.rows(a) for a in cands]
    assert select_add(grader.active, rows, cap=1) == [2]
    assert select_add(grader.active, [rows[0]], cap=1) == []  # a training configuration adds no volume


# -- MLIP mlp --------------------------------------------------------------------------------------------
FAKE_MLP = """#!{python}
# fake MLIP `mlp`: checks its inputs, then copies a reference potential trained by motep (no physics here)
import os, shutil, sys
from motep.io.mlip.mtp import read_mtp
args = sys.argv[1:]
expect = {expect!r}
problems = []
if args != expect:
    problems.append(f"argv {{args}} != {{expect}}")
pot = read_mtp("initial.mtp")
if pot.species_count != 4 or pot.moment_coeffs is not None or pot.radial_basis.size != 8:
    problems.append("initial.mtp is not an untrained 4-species potential")
text = open("training.cfg").read()
for key, n in (("BEGIN_CFG", {n}), (" Energy", {n}), (" PlusStress", {n}), (" Supercell", {n})):
    if text.count(key) != n:
        problems.append(f"training.cfg has {{text.count(key)}} {{key!r}}, expected {{n}}")
open("fake_mlp_check.txt", "w").write("\\n".join(problems) or "OK")
if problems:
    sys.exit(3)
shutil.copyfile(os.environ["FAKE_MLP_REFERENCE"], "mlp_trained.mtp")
"""


def test_mlp_route_wiring_with_fake_script(trained, labeled, tmp_path):
    from heal.exec.base import Machine
    from heal.exec.local import LocalExecutor

    res = trained
    spec = _Spec(engine="mtp", mtp_level=6, mtp_max_iter=77)
    expect = mlp_args(77, (1.0, 0.01, 0.001))
    assert expect == ["train", "initial.mtp", "training.cfg", "--trained-pot-name=mlp_trained.mtp", "--max-iter=77",
                      "--energy-weight=1", "--force-weight=0.01", "--stress-weight=0.001"]
    fake = tmp_path / "bin" / "mlp"
    fake.parent.mkdir()
    fake.write_text(FAKE_MLP.format(python=sys.executable, expect=expect, n=8))
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    ex = LocalExecutor(Machine(commands={"mlp": [str(fake)]}, env={"FAKE_MLP_REFERENCE": res.potential}))
    assert mlp_available(ex)
    out = train_mtp(spec, TYPE_MAP, labeled[:8], tmp_path / "mlp", seed=1, executor=ex)  # route auto -> mlp
    assert (tmp_path / "mlp" / "fake_mlp_check.txt").read_text() == "OK"
    assert out.route == "mlp" and Path(out.potential).read_text() == Path(res.potential).read_text()
    assert Path(out.state).is_file() and np.isfinite(out.rmse_f)


def test_local_machine_without_mlp_uses_motep():
    from heal import MACHINES_DIR
    from heal.exec.local import LocalExecutor
    from heal.exec.base import load_machine

    ex = LocalExecutor(load_machine(MACHINES_DIR / "local.yaml"))
    assert mlp_available(ex) == MLP_ON_PATH


@pytest.mark.skipif(not MLP_ON_PATH, reason="MLIP mlp not on PATH")
def test_mlp_real_training(labeled, tmp_path):
    from heal import MACHINES_DIR
    from heal.exec.base import load_machine
    from heal.exec.local import LocalExecutor

    ex = LocalExecutor(load_machine(MACHINES_DIR / "local.yaml"))
    out = train_mtp(SPEC, TYPE_MAP, labeled[:N_TRAIN], tmp_path / "mlp", seed=1, executor=ex, route="mlp")
    assert out.route == "mlp" and np.isfinite(out.rmse_f) and np.isfinite(out.rmse_e_per_atom)


# -- one active-learning iteration, end to end ------------------------------------------------------------
def test_mtp_iteration_end_to_end(trained, labeled, labeler, tmp_path):
    """train (it 0) -> MD at 300 K and 1500 K with γ control -> select-add -> MEAM labels -> retrain (it 1)."""
    from heal.explore.lammps import ExploreRun
    from heal.explore.mtp import run_mtp_group

    res0 = trained
    explore = parse_config({"name": "e", "system": {"family": "HEA4"},
                            "explore": {"dump_freq": 10}}).explore
    grader0 = Grader(Path(res0.potential), TYPE_MAP, ActiveSet.load(Path(res0.state)))
    # a training cell, and a cell compressed until it is an MTP candidate (3 <= γ <= 8) but does not break
    hot = next(c for c in (_compressed(labeled[1], s) for s in np.arange(0.98, 0.69, -0.01))
               if 3.0 <= grader0.grade(c) <= 8.0)
    runs = [(ExploreRun(name="T300", temperature=300.0, pressure=None, nsteps=80, seed=0), labeled[0]),
            (ExploreRun(name="T1500", temperature=1500.0, pressure=None, nsteps=80, seed=1), hot)]
    outs = run_mtp_group(runs, Path(res0.potential), Path(res0.state), TYPE_MAP, explore, tmp_path / "explore")
    assert all(o.error is None for o in outs)
    from heal.explore.mtp import count_grades

    counts = count_grades([Path(o.workdir) for o in outs])
    assert counts["candidate"] == sum(o.candidates for o in outs) > 0
    assert counts["failed"] == sum(o.broke for o in outs)
    assert sum(counts.values()) == sum(o.steps_done + 1 for o in outs)
    train = labeled[:N_TRAIN]
    picked, stats = select_from_runs([Path(o.workdir) for o in outs], Path(res0.potential), Path(res0.state),
                                     TYPE_MAP, cap=4, d_min=1.5, known={frame_hash(a) for a in train})
    assert stats.preselected == sum(o.candidates for o in outs) > 0
    assert 1 <= len(picked) <= 4 and all(a.info["gamma_now"] > 1.0 for a in picked)
    new = _label(labeler, [a.copy() for a in picked])
    res1 = train_mtp(SPEC, TYPE_MAP, train + new, tmp_path / "train1", seed=4, init_potential=Path(res0.potential))
    assert res1.n_train == N_TRAIN + len(new) and np.isfinite(res1.rmse_f)
    g1 = Grader(Path(res1.potential), TYPE_MAP, ActiveSet.load(Path(res1.state)))
    assert max(g1.grade(a) for a in new) <= 1.0 + 1e-6  # what was selected is now inside the training domain
    assert "Level2MTP" not in (tmp_path / "train1" / "setting.json").read_text()  # continued, not restarted
    with pytest.raises(FatalError, match="another potential"):
        Grader(Path(res1.potential), TYPE_MAP, ActiveSet.load(Path(res0.state)))  # no mixing of iterations
