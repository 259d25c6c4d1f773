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

from heal.config import ExploreSpec
from heal.errors import FatalError, TransientError
from heal.exec.base import Job
from heal.explore.parse import read_model_devi
from heal.fsutil import atomic_write_json
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


def write_run(run: ExploreRun, atoms: Atoms, models: list[Path], type_map: list[str], spec: ExploreSpec,
              workdir: Path, prefix: str = "") -> None:
    """Write ``in.lammps`` and ``conf.lmp`` for one run.

    `prefix` is the run directory as seen from where LAMMPS runs ("" when it runs inside `workdir`;
    ``"<run>/"`` when one LAMMPS process runs a group of runs from the task directory).
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
        models=[str(Path(m).resolve()) for m in models], type_map=type_map,
        masses=[atomic_masses[atomic_numbers[el]] for el in type_map], seed=run.seed % 900_000_000 + 1,
        tdamp=100 * spec.timestep_fs / 1000.0, pdamp=1000 * spec.timestep_fs / 1000.0,
        barostat="iso" if atoms.cell.orthorhombic else "tri", prefix=prefix,
    )
    render_to("lammps/md.in.j2", ctx, workdir / "in.lammps")


def execute_run(workdir: Path, executor, timeout: float | None = None) -> None:
    executor.run(Job("lmp", ["-in", "in.lammps", "-log", "log.lammps", "-screen", "none"], workdir, log="lmp",
                     timeout=timeout, forward=["in.lammps", "conf.lmp"],
                     backward=["model_devi.out", "traj.dump", "log.lammps"]))


def run_one(run: ExploreRun, atoms: Atoms, models: list[Path], type_map: list[str], spec: ExploreSpec,
            workdir: Path, executor, timeout: float | None = None) -> RunOutcome:
    """Prepare, execute and check one MD run; a blow-up is recorded, its frames so far still count."""
    import time

    done = workdir / "done.json"
    if done.is_file():
        return RunOutcome(**json.loads(done.read_text()))
    if workdir.exists():
        shutil.rmtree(workdir)  # an unfinished run from a killed worker: start it again
    t0 = time.monotonic()
    write_run(run, atoms, models, type_map, spec, workdir)
    error = None
    try:
        execute_run(workdir, executor, timeout)
    except TransientError:
        raise
    except FatalError as exc:
        # LAMMPS stops on lost atoms / blow-ups: what it wrote before that is still explored phase space
        error = _lammps_error(workdir) or str(exc)
    devi = read_model_devi(workdir / "model_devi.out")
    if error is None and devi.size == 0:
        error = "LAMMPS wrote no model deviation rows (empty model_devi.out)"
    out = RunOutcome(run.name, str(workdir), int(devi.size), error is None, error, time.monotonic() - t0)
    atomic_write_json(done, out.to_dict())
    return out


def run_group(items: list[tuple[ExploreRun, Atoms]], models: list[Path], type_map: list[str], spec: ExploreSpec,
              task_dir: Path, executor, timeout: float | None = None) -> list[RunOutcome]:
    """Run several MD runs in ONE LAMMPS process (TensorFlow and the models start once, not per run).

    Each run keeps its own directory and done-marker. If the group stops early (a blow-up in one run), the
    runs it finished are kept and every unfinished run is rerun alone, so an error is pinned on its run.
    """
    import time

    task_dir.mkdir(parents=True, exist_ok=True)
    pending = [(r, a) for r, a in items if not (task_dir / r.name / "done.json").is_file()]
    if len(pending) > 1:
        t0 = time.monotonic()
        lines = ["# heal: a group of exploration runs in one LAMMPS process"]
        for run, atoms in pending:
            rdir = task_dir / run.name
            if rdir.exists():
                shutil.rmtree(rdir)
            write_run(run, atoms, models, type_map, spec, rdir, prefix=f"{run.name}/")
            lines += ["clear", f"include {run.name}/in.lammps"]
        (task_dir / "group.in").write_text("\n".join(lines) + "\n")
        try:
            executor.run(Job("lmp", ["-in", "group.in", "-screen", "none", "-log", "group.log"], task_dir,
                             log="lmp-group", timeout=timeout))
        except FatalError:
            pass  # finished runs are kept below; the rest are rerun one by one
        finally:  # also when the group was killed (TransientError): a retry skips the runs it finished
            share = (time.monotonic() - t0) / len(pending)
            for run, _ in pending:
                rdir = task_dir / run.name
                if (rdir / "final.restart").is_file():
                    devi = read_model_devi(rdir / "model_devi.out")
                    out = RunOutcome(run.name, str(rdir), int(devi.size), devi.size > 0,
                                     None if devi.size else "LAMMPS wrote no model deviation rows", share)
                    atomic_write_json(rdir / "done.json", out.to_dict())
    return [run_one(run, atoms, models, type_map, spec, task_dir / run.name, executor, timeout)
            for run, atoms in items]


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
