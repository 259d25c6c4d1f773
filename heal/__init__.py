"""heal: concurrent learning of interatomic potentials for Ni-based high-entropy superalloys.

The loop is explore (LAMMPS + ensemble deviation) -> select -> label -> train -> plan, with the
campaign state held by FireWorks. See README.md and the modules' docstrings.
"""

from pathlib import Path

__version__ = "0.1.0"

#: Root of a source checkout (tests and benchmarks live there; an installed wheel has none).
PROJECT_ROOT = Path(__file__).resolve().parent.parent
#: heal's shipped files: in a checkout ``heal/_share/*`` are links to the top-level templates/, machines/ and
#: workflows/; a wheel carries copies of them, so ``pip install .`` (not only ``-e``) finds them.
SHARE_DIR = Path(__file__).resolve().parent / "_share"
TEMPLATES_DIR = SHARE_DIR / "templates"
MACHINES_DIR = SHARE_DIR / "machines"
WORKFLOWS_DIR = SHARE_DIR / "workflows"
