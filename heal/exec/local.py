"""Run jobs as local subprocesses: argv list, explicit cwd, logs to files, exit codes mapped to errors."""

from __future__ import annotations

import signal
import subprocess
import time

from heal.errors import FatalError, TransientError
from heal.exec.base import Job, JobResult, Machine, job_env, tail, which

#: exit codes that mean "killed from outside" (OOM killer, scheduler, Ctrl-C): worth a retry
_TRANSIENT_CODES = {-signal.SIGKILL, -signal.SIGTERM, -signal.SIGINT, 128 + 9, 128 + 15, 130, 137, 143}


class LocalExecutor:
    def __init__(self, machine: Machine):
        self.machine = machine

    def run(self, job: Job) -> JobResult:
        argv = self.machine.argv(job.command) + list(job.args)
        env = job_env(self.machine, job)
        if which(argv[0], env) is None:
            raise FatalError(f"program {argv[0]!r} (command '{job.command}' in {self.machine.source}) "
                             f"is not on PATH; install it or set commands.{job.command} in the machine file")
        job.cwd.mkdir(parents=True, exist_ok=True)
        out, err = job.cwd / f"{job.log}.out", job.cwd / f"{job.log}.err"
        t0 = time.monotonic()
        with open(out, "w") as fo, open(err, "w") as fe:
            try:
                proc = subprocess.run(argv, cwd=job.cwd, stdout=fo, stderr=fe, env=env,
                                      timeout=job.timeout, input=job.stdin, text=True if job.stdin else None,
                                      stdin=None if job.stdin else subprocess.DEVNULL)
            except subprocess.TimeoutExpired:
                raise TransientError(f"{argv[0]} timed out after {job.timeout:.0f} s in {job.cwd}") from None
        dt = time.monotonic() - t0
        if proc.returncode in _TRANSIENT_CODES:
            raise TransientError(f"{argv[0]} was killed (exit {proc.returncode}) in {job.cwd}")
        if proc.returncode != 0:
            raise FatalError(f"{argv[0]} failed with exit code {proc.returncode} in {job.cwd}; "
                             f"last lines of {err.name}/{out.name}:\n{tail(err) or tail(out)}")
        return JobResult(proc.returncode, dt, out, err)
