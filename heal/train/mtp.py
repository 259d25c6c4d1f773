"""Moment Tensor Potential training: prepare (training.cfg, initial.mtp) -> execute (motep or MLIP ``mlp``) -> parse.

Routes:

- ``motep`` (default): ``motep.train.trainer.Trainer`` on the labeled frames. It runs in a child process of
  heal's own Python (``python -m heal.train.mtp train-motep setting.json``, cwd = the model directory),
  because motep's trainer writes ``intermediate_<i>.mtp`` into the *current directory*, prints timings to
  stdout and attaches a stdout handler to the ``motep`` logger at import: a worker process must not change
  its cwd under other threads, and a child can be timed out and killed cleanly. The child writes the result
  with ``write_mtp(..., legacy=True)`` (MLIP's flat keywords): motep 0.2.0's default writer puts
  ``radial_funcs_count`` after the radial coefficients, which its own reader then rejects.
  Recipe from scratch: ``Level2MTP`` (linear fit of the mu = 0 radial functions as a pair term) -> ``LLS``
  (linear fit of species and moment coefficients) -> ``BFGS`` (all coefficients, ``max_iter`` iterations)
  -> ``LLS``. From a previous potential: ``LLS`` -> ``BFGS`` -> ``LLS``.
- ``mlp``: MLIP-2's ``mlp train initial.mtp training.cfg --trained-pot-name=mlp_trained.mtp --max-iter=N
  --energy-weight=.. --force-weight=.. --stress-weight=..`` through the campaign's executor (machine command
  key ``mlp``), renamed to ``pot.mtp`` after a clean exit. ``auto`` takes it when ``mlp`` resolves on the
  job's PATH. Only ``mlp train`` is used: grades and selection are heal's (motep's MaxVol) on either route.

Initial potentials are heal's own untrained level files ``templates/mtp/levelNN.mtp`` (see
``templates/mtp/make_templates.py`` for how the basis is derived), with ``species_count`` set to the type map.
After training, heal builds the MaxVol active set of the potential on the training frames (``state.npz``,
MLIP's ``state.als``; :mod:`heal.select.mtp_select`) and the training errors.

Units: loss weights as MLIP (energy per atom, forces eV/Å, stress as virial per atom); reported RMSEs:
energy eV/atom, force components eV/Å, virial eV/atom. Idempotence: ``done.json`` (written last,
atomically) makes a rerun return the cached :class:`MtpResult`; a ``pot.mtp`` left by a killed parent is
reused (the child renames it into place only when training is complete).
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from ase import Atoms
from ase.data import atomic_numbers

from heal import TEMPLATES_DIR
from heal.config import TrainSpec
from heal.errors import ConfigError, FatalError
from heal.exec.base import Job, Machine, job_env, which
from heal.fsutil import atomic_rename, atomic_write_json, atomic_write_text, atomic_write_with
from heal.select.mtp_select import build_active_set, evaluate, load_mtp, mtp_calculator

Route = Literal["auto", "motep", "mlp"]
#: MLIP-2's default loss weights (energy, force, stress) and iteration limit
DEFAULT_WEIGHTS = (1.0, 0.01, 0.001)
DEFAULT_MAX_ITER = 1000
#: machine command key that, when a machine defines it, runs the motep child through the campaign executor
MOTEP_COMMAND = "motep_train"
#: what ``mlp train`` writes; renamed to pot.mtp once the program has exited cleanly
MLP_OUTPUT = "mlp_trained.mtp"


@dataclass
class MtpResult:
    """A trained MTP: ``potential`` (pot.mtp) and ``state`` (active set), absolute paths; RMSEs on training."""

    potential: str
    state: str
    level: int
    route: str  # "motep" | "mlp"
    seed: int
    n_train: int
    grade_mode: str  # active-set mode: "configuration" | "neighborhood"
    rmse_e_per_atom: float  # eV/atom
    rmse_f: float  # eV/Å, per component
    rmse_v_per_atom: float | None  # eV/atom (virial = -stress * volume)
    seconds: float

    def to_dict(self) -> dict:
        return asdict(self)


def template_path(level: int) -> Path:
    p = TEMPLATES_DIR / "mtp" / f"level{level:02d}.mtp"
    if not p.is_file():
        have = sorted(int(q.stem[5:]) for q in p.parent.glob("level*.mtp"))
        raise ConfigError(f"train.mtp_level: no untrained MTP template for level {level} ({p}); "
                          f"use one of {have} or generate it with templates/mtp/make_templates.py")
    return p


def settings(spec: TrainSpec) -> dict:
    """MTP settings of a TrainSpec; fields not (yet) in the spec take MLIP's defaults."""
    w = tuple(getattr(spec, "mtp_weights", DEFAULT_WEIGHTS))
    return {"level": spec.mtp_level, "max_iter": int(getattr(spec, "mtp_max_iter", DEFAULT_MAX_ITER)),
            "weights": (float(w[0]), float(w[1]), float(w[2]))}


def write_training_cfg(frames: list[Atoms], type_map: list[str], path: Path) -> Path:
    """Labeled frames -> MLIP ``.cfg`` (types = type-map indices; energy eV, forces eV/Å, PlusStress eV)."""
    from motep.io.mlip.cfg import write_cfg

    species = [atomic_numbers[s] for s in type_map]
    clean = []
    for a in frames:
        if a.calc is None or "energy" not in a.calc.results or "forces" not in a.calc.results:
            raise FatalError("an MTP training frame has no energy/forces labels")
        b = a.copy()
        b.info = {}  # motep writes every info key as a 'Feature' line
        b.calc = a.calc
        clean.append(b)
    def _write(tmp: Path) -> None:
        with open(tmp, "w") as fh:
            write_cfg(fh, clean, species=species)

    return atomic_write_with(path, _write)


def write_initial(type_map: list[str], level: int, init_potential: Path | None, dest: Path) -> str:
    """``initial.mtp``: the previous potential if it fits the type map, else the untrained template."""
    from motep.io.mlip.mtp import read_mtp, write_mtp

    if init_potential is not None and Path(init_potential).is_file():
        prev = read_mtp(init_potential)
        if prev.species_count == len(type_map) and prev.moment_coeffs is not None:
            shutil.copyfile(init_potential, dest)
            return "previous"
    data = read_mtp(template_path(level))
    data.species_count = len(type_map)
    write_mtp(dest, data, legacy=True)
    return "template"


def motep_steps(start: str, max_iter: int) -> list[dict]:
    steps = [{"method": "Level2MTP"}] if start == "template" else []
    steps.append({"method": "LLS"})
    if max_iter > 0:
        steps.append({"method": "minimize", "kwargs": {"method": "BFGS", "options": {"maxiter": max_iter}}})
        steps.append({"method": "LLS"})
    return steps


def mlp_args(max_iter: int, weights: tuple[float, float, float]) -> list[str]:
    """argv (after the machine's ``mlp`` prefix) of MLIP-2's ``mlp train``."""
    return ["train", "initial.mtp", "training.cfg", f"--trained-pot-name={MLP_OUTPUT}", f"--max-iter={max_iter}",
            f"--energy-weight={weights[0]:g}", f"--force-weight={weights[1]:g}", f"--stress-weight={weights[2]:g}"]


def mlp_available(executor) -> bool:
    """True when the executor's machine has an ``mlp`` command that resolves on the job's PATH."""
    if executor is None or "mlp" not in executor.machine.commands:
        return False
    argv = executor.machine.argv("mlp")
    return which(argv[0], job_env(executor.machine, Job("mlp", [], Path.cwd()))) is not None


def _motep_executor(executor):
    if executor is not None and MOTEP_COMMAND in executor.machine.commands:
        return executor
    from heal.exec.local import LocalExecutor

    env = dict(executor.machine.env) if executor is not None else {}
    return LocalExecutor(Machine(commands={MOTEP_COMMAND: [sys.executable, "-m", "heal.train.mtp"]}, env=env,
                                 source="heal.train.mtp (heal's own python)"))


def training_errors(potential: Path, type_map: list[str], frames: list[Atoms]) -> dict[str, float | None]:
    """RMSEs of `potential` on labeled frames: energy eV/atom, force components eV/Å, virial eV/atom."""
    calc = mtp_calculator(load_mtp(potential, type_map))
    de, df, dv = [], [], []
    for a in frames:
        b = evaluate(a, calc)
        n = len(a)
        de.append((b.get_potential_energy() - a.get_potential_energy()) / n)
        df.append((b.get_forces() - a.calc.results["forces"]).ravel())
        if "stress" in a.calc.results and a.cell.rank == 3:
            dv.append((b.get_stress() - a.calc.results["stress"]) * a.get_volume() / n)
    return {"rmse_e_per_atom": _rms(np.array(de)), "rmse_f": _rms(np.concatenate(df)),
            "rmse_v_per_atom": _rms(np.concatenate(dv)) if dv else None}


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x))))


def train_mtp(spec: TrainSpec, type_map: list[str], frames: list[Atoms], workdir: Path, seed: int,
              init_potential: Path | None = None, executor=None, *, route: Route = "auto",
              grade_mode: str = "auto") -> MtpResult:
    """Train an MTP of level ``spec.mtp_level`` on labeled `frames` in `workdir`; cached when done.

    `init_potential` (a previous iteration's ``pot.mtp``) is the starting point when its species count
    matches. `executor` runs ``mlp`` (route ``mlp``/``auto``) and supplies the environment of the motep child.
    """
    workdir = Path(workdir).resolve()
    done = workdir / "done.json"
    if done.is_file():
        return MtpResult(**json.loads(done.read_text()))
    if not frames:
        raise FatalError(f"no training data for {workdir}: the dataset is empty; label initial frames first")
    st = settings(spec)
    if route == "auto":
        route = "mlp" if mlp_available(executor) else "motep"
    if route == "mlp" and executor is None:
        raise FatalError("route 'mlp' needs an executor whose machine file defines commands.mlp")
    t0 = time.monotonic()
    workdir.mkdir(parents=True, exist_ok=True)
    pot = workdir / "pot.mtp"
    if not pot.is_file():
        write_training_cfg(frames, type_map, workdir / "training.cfg")
        start = write_initial(type_map, st["level"], init_potential, workdir / "initial.mtp")
        if route == "mlp":
            executor.run(Job("mlp", mlp_args(st["max_iter"], st["weights"]), workdir, log="mlp_train",
                             forward=["initial.mtp", "training.cfg"], backward=[MLP_OUTPUT]))
            if (workdir / MLP_OUTPUT).is_file():
                atomic_rename(workdir / MLP_OUTPUT, pot)
        else:
            we, wf, ws = st["weights"]
            setting = {"species": [atomic_numbers[s] for s in type_map], "seed": int(seed),
                       "initial": "initial.mtp", "training": "training.cfg", "final": "pot.mtp",
                       "steps": motep_steps(start, st["max_iter"]),
                       "loss": {"energy_weight": we, "forces_weight": wf, "stress_weight": ws}}
            atomic_write_text(workdir / "setting.json", json.dumps(setting, indent=1))
            _motep_executor(executor).run(Job(MOTEP_COMMAND, ["train-motep", "setting.json"], workdir,
                                              log="train", forward=["setting.json", "initial.mtp", "training.cfg"],
                                              backward=["pot.mtp"]))
            for junk in workdir.glob("intermediate_*.mtp"):  # motep's per-step dumps (non-legacy format)
                junk.unlink()
        if not pot.is_file():
            raise FatalError(f"MTP training ({route}) wrote no pot.mtp in {workdir}; see its .out/.err logs")
    active = build_active_set(pot, type_map, frames, mode=grade_mode, seed=seed)
    active.save(workdir / "state.npz")
    errs = training_errors(pot, type_map, frames)
    res = MtpResult(potential=str(pot), state=str(workdir / "state.npz"), level=st["level"], route=route,
                    seed=int(seed), n_train=len(frames), grade_mode=active.mode, seconds=time.monotonic() - t0,
                    **errs)
    atomic_write_json(done, res.to_dict())
    return res


# -- the motep child process ------------------------------------------------------------------------------
def _train_motep(setting_file: str) -> None:
    """Child: train with motep's Trainer in the cwd; write ``pot.mtp`` (legacy format) only when complete."""
    import logging

    import motep.io
    from motep.io.mlip.mtp import read_mtp, write_mtp
    from motep.train.trainer import Trainer

    log = logging.getLogger("motep")  # losses and training errors go to train.out
    log.setLevel(logging.INFO)
    log.addHandler(logging.StreamHandler(sys.stdout))
    s = json.loads(Path(setting_file).read_text())
    images = motep.io.read(s["training"], species=s["species"])
    data = read_mtp(s["initial"])
    data.species = s["species"]
    trainer = Trainer(data, rng=np.random.default_rng(s["seed"]), engine="cext", loss=s["loss"], steps=s["steps"])
    trainer.train(images)
    atomic_write_with(Path(s["final"]), lambda tmp: write_mtp(tmp, data, legacy=True))


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2 or argv[0] != "train-motep":
        print("usage: python -m heal.train.mtp train-motep setting.json", file=sys.stderr)
        return 2
    _train_motep(argv[1])
    return 0


if __name__ == "__main__":
    sys.exit(main())
