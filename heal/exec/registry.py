"""Executor registry: machine.executor -> executor class."""

from __future__ import annotations

from pathlib import Path

import logging
import time

from heal.errors import TransientError
from heal.exec.base import Machine, load_machine

log = logging.getLogger("heal.exec")

_EXECUTORS = {
    "local": "heal.exec.local:LocalExecutor",
    "dispatcher": "heal.exec.dispatcher:DispatcherExecutor",
}


class Retrying:
    """Runs a job again after a TransientError, up to ``machine.retries`` times with doubling back-off."""

    def __init__(self, inner):
        self.inner = inner
        self.machine = inner.machine

    def run(self, job):
        delay = self.machine.retry_backoff_s
        for attempt in range(self.machine.retries + 1):
            try:
                return self.inner.run(job)
            except TransientError as exc:
                if attempt == self.machine.retries:
                    raise TransientError(f"{exc} (after {attempt + 1} attempts)") from None
                log.warning("%s; retrying in %.0f s (%d/%d)", exc, delay, attempt + 1, self.machine.retries)
                time.sleep(delay)
                delay *= 2

    def run_all(self, jobs):
        """All jobs together; those that failed transiently go out again together, up to ``retries`` times."""
        results = self.inner.run_all(list(jobs))
        delay = self.machine.retry_backoff_s
        for attempt in range(self.machine.retries):
            again = [i for i, r in enumerate(results) if isinstance(r, TransientError)]
            if not again:
                break
            log.warning("%d job(s) failed transiently (first: %s); running them again in %.0f s (%d/%d)",
                        len(again), results[again[0]], delay, attempt + 1, self.machine.retries)
            time.sleep(delay)
            delay *= 2
            for i, r in zip(again, self.inner.run_all([jobs[i] for i in again])):
                results[i] = r
        n = self.machine.retries + 1
        return [TransientError(f"{r} (after {n} attempts)") if isinstance(r, TransientError) and n > 1 else r
                for r in results]


def get_executor(machine: Machine | str | Path):
    import importlib

    if not isinstance(machine, Machine):
        machine = load_machine(machine)
    mod, cls = _EXECUTORS[machine.executor].split(":")
    return Retrying(getattr(importlib.import_module(mod), cls)(machine))
