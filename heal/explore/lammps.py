"""LAMMPS exploration with the DeePMD ensemble: prepare (in.lammps, conf.lmp) -> execute (lmp) -> parse.

``pair_style deepmd m0.pb m1.pb ... out_freq F out_file model_devi.out`` makes LAMMPS compute the
ensemble deviation inline, every F steps, in the same step numbering as the trajectory dump.
Units: LAMMPS metal (Å, eV, ps, bar); temperatures K.

Idempotence: a run directory holding ``done.json`` is finished; one without is rerun from scratch
(LAMMPS MD is cheap next to labeling, and a half-written dump would otherwise be ambiguous).
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.data import atomic_masses, atomic_numbers
from ase.io import write

from heal import progress
from heal.config import ExploreSpec
from heal.errors import FatalError
from heal.exec.base import Job, run_jobs
from heal.explore.parse import read_model_devi
from heal.fsutil import atomic_write_json, link_dir
from heal.templating import render_to


@dataclass(frozen=True)
class ExploreRun:
    """One MD run: a seed structure at one (T, P) point of the ladder."""

    name: str  # unique within the task, e.g. "fcc-s1.00-r0_T300_P-"
    temperature: float  # K
    pressure: float | None  # bar; None = NVT
    nsteps: int
    seed: int

    def __post_init__(self):
        # the name becomes a directory and a LAMMPS path: keep it to one plain path component
        if not _SAFE_NAME.fullmatch(self.name) or self.name in (".", ".."):
            raise FatalError(f"exploration run name {self.name!r} is not a plain file name "
                             f"(letters, digits, '_', '-', '.', '+' only)")


_SAFE_NAME = re.compile(r"[A-Za-z0-9_.+-]{1,200}")


@dataclass
class RunOutcome:
    name: str
    workdir: str
    n_frames: int
    ok: bool
    error: str | None
    seconds: float

    def to_dict(self) -> dict:
        return asdict(self)


MODELS = "models"


def link_models(models: list[Path], job_dir: Path) -> list[str]:
    """Link the ensemble's frozen models into ``job_dir/models/`` (m0.pb, m1.pb, ...); their relative names.

    The job forwards ``models`` with its inputs, so a cluster task reads copies, never this machine's paths.
    """
    return link_dir(Path(job_dir) / MODELS, models, "m{}.pb")


def write_run(run: ExploreRun, atoms: Atoms, models: list[Path], type_map: list[str], spec: ExploreSpec,
              workdir: Path, prefix: str = "", model_names: list[str] | None = None) -> None:
    """Write ``in.lammps`` and ``conf.lmp`` for one run.

    `prefix` is the run directory as seen from where LAMMPS runs ("" when it runs inside `workdir`;
    ``"<run>/"`` when one LAMMPS process runs a group of runs from the task directory). `model_names` are the
    models as LAMMPS will find them from there (see :func:`link_models`); default their absolute paths.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    missing = [str(m) for m in models if not Path(m).is_file()]
    if missing:
        raise FatalError(f"model file(s) missing for exploration: {', '.join(missing)}; "
                         f"rerun the train stage (heal resume) to recreate them")
    unknown = sorted(set(atoms.get_chemical_symbols()) - set(type_map))
    if unknown:
        raise FatalError(f"seed structure {run.name} has elements {unknown} outside the type map {type_map}")
    write(workdir / "conf.lmp", atoms, format="lammps-data", specorder=type_map, masses=False)
    ctx = dict(
        ensemble="nvt" if run.pressure is None else "npt", temperature=run.temperature, pressure=run.pressure,
        nsteps=run.nsteps, timestep_ps=spec.timestep_fs / 1000.0, dump_freq=spec.dump_freq,
        models=model_names or [str(Path(m).resolve()) for m in models], type_map=type_map,
        masses=[atomic_masses[atomic_numbers[el]] for el in type_map], seed=run.seed % 900_000_000 + 1,
        tdamp=100 * spec.timestep_fs / 1000.0, pdamp=1000 * spec.timestep_fs / 1000.0,
        barostat="iso" if atoms.cell.orthorhombic else "tri", prefix=prefix,
    )
    render_to("lammps/md.in.j2", ctx, workdir / "in.lammps")


#: what one run writes (and a cluster task brings back)
RUN_OUTPUTS = ("model_devi.out", "traj.dump", "log.lammps", "final.restart")


def prepare_run(run: ExploreRun, atoms: Atoms, models: list[Path], type_map: list[str], spec: ExploreSpec,
                workdir: Path, timeout: float | None = None) -> Job:
    """Write one run afresh (an unfinished run of a killed worker starts again) and return its LAMMPS job."""
    if workdir.exists():
        shutil.rmtree(workdir)
    write_run(run, atoms, models, type_map, spec, workdir, model_names=link_models(models, workdir))
    return Job("lmp", ["-in", "in.lammps", "-log", "log.lammps", "-screen", "none"], workdir, log="lmp",
               timeout=timeout, forward=["in.lammps", "conf.lmp", MODELS], backward=list(RUN_OUTPUTS))


def finish_run(run: ExploreRun, workdir: Path, outcome, seconds: float) -> RunOutcome:
    """Record a run that ended (`outcome`: the job's result or error); a blow-up is recorded, its frames so far
    still count. A transient or setup error is raised: the run is not finished."""
    error = None
    if isinstance(outcome, FatalError):
        # LAMMPS stops on lost atoms / blow-ups: what it wrote before that is still explored phase space
        error = _lammps_error(workdir) or str(outcome)
    elif isinstance(outcome, Exception):
        raise outcome
    devi = read_model_devi(workdir / "model_devi.out")
    if error is None and devi.size == 0:
        error = "LAMMPS wrote no model deviation rows (empty model_devi.out)"
    out = RunOutcome(run.name, str(workdir), int(devi.size), error is None, error, seconds)
    atomic_write_json(workdir / "done.json", out.to_dict())
    return out


def _done(workdir: Path) -> RunOutcome | None:
    p = workdir / "done.json"
    return RunOutcome(**json.loads(p.read_text())) if p.is_file() else None


def run_one(run: ExploreRun, atoms: Atoms, models: list[Path], type_map: list[str], spec: ExploreSpec,
            workdir: Path, executor, timeout: float | None = None) -> RunOutcome:
    """Prepare, execute and check one MD run (see :func:`finish_run`)."""
    import time

    done = _done(workdir)
    if done is not None:
        return done
    job = prepare_run(run, atoms, models, type_map, spec, workdir, timeout)
    t0 = time.monotonic()
    (res,) = run_jobs(executor, [job])
    return finish_run(run, workdir, res, time.monotonic() - t0)


def run_together(items: list[tuple[ExploreRun, Atoms]], models: list[Path], type_map: list[str], spec: ExploreSpec,
                 task_dir: Path, executor, timeout: float | None = None) -> list[RunOutcome]:
    """Several MD runs in ONE LAMMPS process (see :func:`run_tasks_together`)."""
    return run_tasks_together([(items, task_dir)], models, type_map, spec, executor, timeout)[0]


def _group_job(pending, models, type_map, spec, task_dir: Path, timeout) -> Job:
    lines = ["# heal: a group of exploration runs in one LAMMPS process"]
    names = link_models(models, task_dir)
    forward, backward = ["group.in", MODELS], ["group.log"]
    for run, atoms in pending:
        rdir = task_dir / run.name
        if rdir.exists():
            shutil.rmtree(rdir)
        write_run(run, atoms, models, type_map, spec, rdir, prefix=f"{run.name}/", model_names=names)
        lines += ["clear", f"include {run.name}/in.lammps"]
        forward += [f"{run.name}/in.lammps", f"{run.name}/conf.lmp"]
        backward += [f"{run.name}/{f}" for f in RUN_OUTPUTS]
    (task_dir / "group.in").write_text("\n".join(lines) + "\n")
    return Job("lmp", ["-in", "group.in", "-screen", "none", "-log", "group.log"], task_dir, log="lmp-group",
               timeout=timeout, forward=forward, backward=backward)


def _md_progress(runs: list[tuple[Path, int]]):
    """A bar over the MD steps of `runs` (run directory, steps), read from their ``model_devi.out``."""
    return progress.watch(f"MD, {len(runs)} run(s)", sum(n for _, n in runs),
                          progress.steps_done(d / "model_devi.out" for d, _ in runs))


def run_tasks_together(tasks: list[tuple[list[tuple[ExploreRun, Atoms]], Path]], models: list[Path],
                       type_map: list[str], spec: ExploreSpec, executor,
                       timeout: float | None = None) -> list[list[RunOutcome]]:
    """An exploration stage: every task (a group of MD runs in ONE LAMMPS process, TensorFlow and the models
    started once) goes to the executor together, as one submission.

    Each run keeps its own directory and done-marker. If a group stops early (a blow-up in one run), the runs
    it finished are kept and every unfinished run of every task is rerun alone (all together again), so an
    error is pinned on its run. A transient or setup error is raised once the others are recorded.
    """
    import time

    group_jobs, groups = [], []
    for items, task_dir in tasks:
        task_dir.mkdir(parents=True, exist_ok=True)
        pending = [(r, a) for r, a in items if not (task_dir / r.name / "done.json").is_file()]
        if len(pending) > 1:
            group_jobs.append(_group_job(pending, models, type_map, spec, task_dir, timeout))
            groups.append((task_dir, pending))
    t0 = time.monotonic()
    raise_after = None
    with _md_progress([(task_dir / r.name, r.nsteps) for task_dir, pending in groups for r, _ in pending]):
        group_results = run_jobs(executor, group_jobs)
    for (task_dir, pending), res in zip(groups, group_results):
        share = (time.monotonic() - t0) / len(pending)
        for run, _ in pending:  # also when the group was killed: a retry skips the runs it finished
            rdir = task_dir / run.name
            if (rdir / "final.restart").is_file():
                devi = read_model_devi(rdir / "model_devi.out")
                out = RunOutcome(run.name, str(rdir), int(devi.size), devi.size > 0,
                                 None if devi.size else "LAMMPS wrote no model deviation rows", share)
                atomic_write_json(rdir / "done.json", out.to_dict())
        if isinstance(res, Exception) and not isinstance(res, FatalError):
            raise_after = raise_after or res  # finished runs are kept above; the rest are rerun one by one
    if raise_after is not None:
        raise raise_after
    alone = [(run, atoms, task_dir / run.name) for items, task_dir in tasks for run, atoms in items
             if _done(task_dir / run.name) is None]
    jobs = [prepare_run(run, atoms, models, type_map, spec, rdir, timeout) for run, atoms, rdir in alone]
    t0 = time.monotonic()
    with _md_progress([(rdir, run.nsteps) for run, _, rdir in alone]):
        alone_results = run_jobs(executor, jobs)
    for (run, _, rdir), res in zip(alone, alone_results):
        try:
            finish_run(run, rdir, res, time.monotonic() - t0)
        except Exception as exc:
            raise_after = raise_after or exc
    if raise_after is not None:
        raise raise_after
    return [[_done(task_dir / run.name) for run, _ in items] for items, task_dir in tasks]


def _lammps_error(workdir: Path) -> str | None:
    for name in ("log.lammps", "lmp.out", "lmp.err"):
        p = workdir / name
        if p.is_file():
            for line in reversed(p.read_text(errors="replace").splitlines()):
                if line.startswith("ERROR"):
                    return f"LAMMPS: {line.strip()}"
    return None


def ladder_runs(temperatures: list[float], pressures: list[float] | None, nsteps: int, seed_names: list[str],
                iteration: int, base_seed: int) -> list[tuple[str, ExploreRun]]:
    """The (seed structure, run) pairs of one iteration: every seed at every (T, P) of the stage."""
    out = []
    rng = np.random.default_rng([base_seed, iteration])
    for sname in seed_names:
        for t in temperatures:
            for p in (pressures or [None]):
                ptag = "-" if p is None else f"{p:g}"
                run = ExploreRun(f"{sname}_T{t:g}_P{ptag}", float(t), None if p is None else float(p), nsteps,
                                 int(rng.integers(1, 2**31 - 1)))
                out.append((sname, run))
    return out
