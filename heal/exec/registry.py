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


def get_executor(machine: Machine | str | Path):
    import importlib

    if not isinstance(machine, Machine):
        machine = load_machine(machine)
    mod, cls = _EXECUTORS[machine.executor].split(":")
    return Retrying(getattr(importlib.import_module(mod), cls)(machine))
