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


def main() -> None:
    try:
        app()
    except SystemExit as exc:
        if exc.code == 130:
            # Ctrl-C: the store is closed and every finished result is on disk. FireWorks leaves the
            # interrupted rocket's ping thread waiting (up to an hour) and the interpreter would wait for it.
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(130)
        raise
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except HealError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(1)
