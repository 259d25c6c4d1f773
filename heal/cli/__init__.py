"""The ``heal`` command line.

Every module in this package that defines ``register(app)`` adds its commands to the one Typer app;
modules are split by area (config, seeds, data, label, train/explore, campaign).
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import sys

import typer

from heal.errors import ConfigError, HealError

app = typer.Typer(
    name="heal",
    help="Grow DeePMD / MTP potentials for Ni-based high-entropy superalloys by active learning.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root() -> None:
    """heal: concurrent learning of interatomic potentials (explore -> select -> label -> train)."""


for _mod in sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_")):
    _m = importlib.import_module(f"{__name__}.{_mod}")
    if hasattr(_m, "register"):
        _m.register(app)


def _exit_now(code: int) -> None:
    """Exit without waiting for other threads: FireWorks leaves an interrupted rocket's ping thread waiting
    (up to an hour) and the interpreter would wait for it. The store is closed by then and every finished
    result is on disk."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def main() -> None:
    """Exit codes: 0 done, 1 a stage or the campaign failed (heal's message), 2 bad input (file, field, fix),
    3 an internal error (one line here, the traceback in the campaign's log), 130 interrupted."""
    try:
        app()
    except SystemExit as exc:
        if exc.code == 130:
            _exit_now(130)
        raise
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        _exit_now(2)
    except HealError as exc:
        typer.echo(f"error: {exc}", err=True)
        _exit_now(1)
    except Exception as exc:  # a bug in heal or a library: one line here, the traceback in the log
        from heal.logs import record_exception

        where = record_exception(exc)
        first = (str(exc).strip().splitlines() or [""])[0][:300]
        typer.echo(f"internal error: {type(exc).__name__}: {first}; details in {where}", err=True)
        _exit_now(3)
