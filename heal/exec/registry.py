"""Executor registry: machine.executor -> executor class."""

from __future__ import annotations

from pathlib import Path

from heal.exec.base import Machine, load_machine

_EXECUTORS = {
    "local": "heal.exec.local:LocalExecutor",
    "dispatcher": "heal.exec.dispatcher:DispatcherExecutor",
}


def get_executor(machine: Machine | str | Path):
    import importlib

    if not isinstance(machine, Machine):
        machine = load_machine(machine)
    mod, cls = _EXECUTORS[machine.executor].split(":")
    return getattr(importlib.import_module(mod), cls)(machine)
