"""heal: concurrent learning of interatomic potentials for Ni-based high-entropy superalloys.

The loop is explore (LAMMPS + ensemble deviation) -> select -> label -> train -> plan, with the
campaign state held by FireWorks. See README.md and the modules' docstrings.
"""

from pathlib import Path

__version__ = "0.1.0"

#: Root of a source checkout (templates/, machines/ and workflows/ live beside the package).
PROJECT_ROOT = Path(__file__).resolve().parent.parent
TEMPLATES_DIR = PROJECT_ROOT / "templates"
MACHINES_DIR = PROJECT_ROOT / "machines"
WORKFLOWS_DIR = PROJECT_ROOT / "workflows"
