"""What the VASP labeler's test modules share: where the reference files are, the cells they use, and the
synthetic header-only POTCARs of the ``pp_lib`` fixture (tests/conftest.py; no real potentials are needed)."""

from __future__ import annotations

from pathlib import Path

import ase
from ase import Atoms

DATA = Path(__file__).parent / "data" / "vasp"
ASE_VASP = Path(ase.__file__).parent / "test" / "testdata" / "vasp"

#: synthetic ENMAX values (eV) of the header-only POTCARs written by `pp_lib`; not real potentials
SYNTH_ENMAX = {"Ni": 270.0, "Ni_pv": 367.921, "Co": 268.0, "Cr_pv": 266.0, "Al": 240.0, "Na": 102.0,
               "Cl": 262.0, "C": 400.0}


def synthetic_potcar(name: str, enmax: float) -> str:
    return (f"  PAW_PBE {name} 01Jan2000\n"
            f" SYNTHETIC heal test file: header lines only, not a usable PAW potential\n"
            f"   TITEL  = PAW_PBE {name} 01Jan2000\n"
            f"   ENMAX  =  {enmax:.3f}; ENMIN  =  {0.75 * enmax:.3f} eV\n"
            f" End of Dataset\n")


def ni3al(a: float = 3.57) -> Atoms:
    """L1_2 Ni3Al, Al listed first so the POSCAR (Ni first) is a real permutation."""
    return Atoms("AlNi3", scaled_positions=[[0, 0, 0], [0, .5, .5], [.5, 0, .5], [.5, .5, 0]],
                 cell=[a, a, a], pbc=True)


def nacl_frame(mixed: bool = True) -> Atoms:
    """The NaCl cell of vasprun_dfpt.xml (lines 417-432), listed Cl first when `mixed`."""
    cell = [[0, 2.72739551, 2.72739551], [2.72739551, 0, 2.72739551], [2.72739551, 2.72739551, 0]]
    if mixed:
        return Atoms("ClNa", cell=cell, scaled_positions=[[.5, .5, .5], [0, 0, 0]], pbc=True)
    return Atoms("NaCl", cell=cell, scaled_positions=[[0, 0, 0], [.5, .5, .5]], pbc=True)
