"""MD with a trained MTP under extrapolation control (MLIP convention), through ASE and motep's calculator.

One run: Langevin NVT (``ase.md.langevin``) at T (K) for ``nsteps`` steps of ``timestep_fs`` (fs), the MTP
evaluated by ``motep.calculator.MTP`` (C engine). After every step (and before the first) the extrapolation
grade γ of the current configuration is computed against the potential's active set (``state.npz``, built
by :func:`heal.train.mtp.train_mtp`; :mod:`heal.select.mtp_select`) from the basis values the step has just
computed, so grading costs one small matrix product. As in MLIP's LAMMPS interface:

- γ >= ``save`` (MLIP ``select:threshold``, default 2.1): the configuration is a candidate (*preselected*);
- γ > ``brk`` (MLIP ``select:threshold-break``, default 10): the run stops: the potential is extrapolating
  too far for its trajectory to mean anything. The breaking configuration is written to the trajectory but
  is not a candidate (candidates are ``save <= γ <= brk``).

Outputs in the run directory: ``grades.out`` (``step gamma``, every step), ``traj.extxyz`` (every
``dump_freq`` steps and the breaking frame; info ``step``, ``gamma``), ``preselected.extxyz`` (the candidates,
info ``step``, ``gamma``, ``run``), ``done.json`` (:class:`MtpRunResult`, written last). A run without
``done.json`` is redone from scratch. Structures only: no MTP energies are stored with the frames, so they
are never mistaken for labels. NVT only: a run with a pressure is reported as an error.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from ase import Atoms, units
from ase.constraints import FixCom
from ase.io import write
from ase.md.langevin import Langevin
from ase.md.velocitydistribution import Stationary

try:  # ASE >= 3.29
    from ase.md.velocitydistribution import thermalize_momenta
except ImportError:  # pragma: no cover
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution

    def thermalize_momenta(atoms, temperature_K, rng=None):  # noqa: N803
        MaxwellBoltzmannDistribution(atoms, temperature_K=temperature_K, rng=rng)

from heal.errors import FatalError
from heal.fsutil import atomic_write_json, atomic_write_text, atomic_write_with
from heal.select.mtp_select import (ActiveSet, check_digest, load_mtp, mtp_calculator, quiet_motep,
                                    rows_from_engine)

#: MLIP's defaults: select:threshold and select:threshold-break
SAVE_THRESHOLD = 2.1
BREAK_THRESHOLD = 10.0
#: Langevin friction (1/fs)
FRICTION_PER_FS = 0.01


@dataclass
class MtpRunResult:
    """One MD run: frames dumped, steps done, largest γ, whether it broke (and at which step), candidates."""

    name: str
    workdir: str
    temperature: float  # K
    steps_done: int
    frames: int  # configurations in traj.extxyz
    max_gamma: float
    broke: bool
    break_step: int | None
    candidates: int  # configurations in preselected.extxyz
    candidate_steps: list[int] = field(default_factory=list)
    seconds: float = 0.0
    error: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def _structure(atoms: Atoms, **info) -> Atoms:
    """Positions, cell, species only (no calculator, no velocities)."""
    out = Atoms(atoms.get_chemical_symbols(), positions=atoms.get_positions(), cell=atoms.cell, pbc=atoms.pbc)
    out.info.update(info)
    return out


def run_mtp_md(potential: Path, state: Path, type_map: list[str], atoms: Atoms, workdir: Path, *,
               temperature: float, nsteps: int, timestep_fs: float = 1.0, dump_freq: int = 10, seed: int = 0,
               save: float = SAVE_THRESHOLD, brk: float = BREAK_THRESHOLD, name: str | None = None) -> MtpRunResult:
    """One MD run of `atoms` with the MTP `potential` and extrapolation control; cached when done.

    Units: temperature K, timestep fs; γ dimensionless. `state` is the active set of this potential.
    """
    workdir = Path(workdir).resolve()
    done = workdir / "done.json"
    if done.is_file():
        return MtpRunResult(**json.loads(done.read_text()))
    if not save < brk:
        raise FatalError(f"MTP grade thresholds: save ({save}) must be below break ({brk})")
    unknown = sorted(set(atoms.get_chemical_symbols()) - set(type_map))
    if unknown:
        raise FatalError(f"structure {name or workdir.name} has elements {unknown} outside the type map {type_map}")
    active = ActiveSet.load(state)
    check_digest(potential, active)
    workdir.mkdir(parents=True, exist_ok=True)
    name = name or workdir.name
    t0 = time.monotonic()
    md = _structure(atoms)
    md.calc = mtp_calculator(load_mtp(potential, type_map))
    rng = np.random.default_rng(seed)
    thermalize_momenta(md, temperature, rng=rng)
    Stationary(md)
    md.set_constraint(FixCom())
    dyn = Langevin(md, timestep_fs * units.fs, temperature_K=temperature, friction=FRICTION_PER_FS / units.fs,
                   fixcm=False, rng=rng)
    with quiet_motep():
        grades, traj, cands, broke, break_step = _integrate(dyn, md, active, nsteps, dump_freq, save, brk, name)
    _write_outputs(workdir, grades, traj, cands)
    res = MtpRunResult(name=name, workdir=str(workdir), temperature=float(temperature),
                       steps_done=grades[-1][0] if grades else 0, frames=len(traj),
                       max_gamma=max(g for _, g in grades) if grades else 0.0, broke=broke, break_step=break_step,
                       candidates=len(cands), candidate_steps=[int(a.info["step"]) for a in cands],
                       seconds=time.monotonic() - t0)
    atomic_write_json(done, res.to_dict())
    return res


def _integrate(dyn, md: Atoms, active: ActiveSet, nsteps: int, dump_freq: int, save: float, brk: float, name: str):
    grades: list[tuple[int, float]] = []
    traj: list[Atoms] = []
    cands: list[Atoms] = []
    broke, break_step = False, None
    for _ in dyn.irun(steps=nsteps):
        step = dyn.nsteps
        gamma = active.grade_rows(rows_from_engine(md, md.calc.engine, active.mode))
        if not math.isfinite(gamma) or not np.all(np.isfinite(md.positions)):
            gamma = math.inf  # an exploded trajectory breaks (JSON stores it as Infinity)
        grades.append((step, gamma))
        if gamma > brk:
            broke, break_step = True, step
            traj.append(_structure(md, step=step, gamma=gamma))
            break
        if step % dump_freq == 0:
            traj.append(_structure(md, step=step, gamma=gamma))
        if gamma >= save:
            cands.append(_structure(md, step=step, gamma=gamma, run=name))
    return grades, traj, cands, broke, break_step


def _write_outputs(workdir: Path, grades, traj, cands) -> None:
    atomic_write_text(workdir / "grades.out", "# step gamma\n" + "".join(f"{s:d} {g:.6g}\n" for s, g in grades))
    for fname, frames in (("traj.extxyz", traj), ("preselected.extxyz", cands)):
        atomic_write_with(workdir / fname, lambda tmp, frames=frames: write(tmp, frames, format="extxyz"))


def read_grades(path: Path) -> np.ndarray:
    """``grades.out`` -> structured array (step, gamma); a torn last line is dropped."""
    rows = []
    for ln in Path(path).read_text().splitlines():
        if ln.startswith("#") or not ln.strip():
            continue
        try:
            s, g = ln.split()
            rows.append((int(s), float(g)))
        except ValueError:
            continue
    return np.array(rows, dtype=[("step", "i8"), ("gamma", "f8")])


def run_mtp_group(runs: list[tuple[object, Atoms]], potential: Path, state: Path, type_map: list[str], spec,
                  task_dir: Path, *, save: float = SAVE_THRESHOLD, brk: float = BREAK_THRESHOLD) -> list[MtpRunResult]:
    """The runs of one exploration task, one after the other, each in ``task_dir/<run.name>``.

    `runs` holds (:class:`heal.explore.lammps.ExploreRun`, structure) pairs; `spec` is the campaign's
    ``ExploreSpec`` (``timestep_fs``, ``dump_freq``). A run with a pressure (NPT) is reported as an error.
    """
    out = []
    for run, atoms in runs:
        rdir = Path(task_dir) / run.name
        if run.pressure is not None:
            out.append(MtpRunResult(name=run.name, workdir=str(rdir), temperature=run.temperature, steps_done=0,
                                    frames=0, max_gamma=0.0, broke=False, break_step=None, candidates=0,
                                    error="NPT is not supported by MTP exploration; give no pressures"))
            continue
        out.append(run_mtp_md(potential, state, type_map, atoms, rdir, temperature=run.temperature,
                              nsteps=run.nsteps, timestep_fs=spec.timestep_fs, dump_freq=spec.dump_freq,
                              seed=run.seed, save=save, brk=brk, name=run.name))
    return out


def count_grades(run_dirs: list[Path], save: float = SAVE_THRESHOLD, brk: float = BREAK_THRESHOLD) -> dict[str, int]:
    """Steps of finished runs by γ: ``accurate`` (γ < save), ``candidate`` (save <= γ <= brk), ``failed``
    (γ > brk: one per broken run). MLIP's stopping rule, "MD no longer extrapolates", is candidate = failed = 0.
    """
    acc = cand = fail = 0
    for rd in run_dirs:
        p = Path(rd) / "grades.out"
        if not p.is_file():
            continue
        g = read_grades(p)["gamma"]
        acc += int(np.sum(g < save))
        cand += int(np.sum((g >= save) & (g <= brk)))
        fail += int(np.sum(g > brk))
    return {"accurate": acc, "candidate": cand, "failed": fail}
