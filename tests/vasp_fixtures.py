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


def rattled_ni3al(seed: int = 1, rattle: float = 0.03) -> Atoms:
    """L1_2 Ni3Al (a = 3.57 Å, 4 atoms) with its atoms rattled: a cell GPAW labels in seconds."""
    a = 3.57
    atoms = Atoms("AlNi3", scaled_positions=[(0, 0, 0), (0.5, 0.5, 0), (0.5, 0, 0.5), (0, 0.5, 0.5)],
                  cell=[a, a, a], pbc=True)
    atoms.rattle(rattle, seed=seed)
    return atoms


def nacl_frame(mixed: bool = True) -> Atoms:
    """The NaCl cell of vasprun_dfpt.xml (lines 417-432), listed Cl first when `mixed`."""
    cell = [[0, 2.72739551, 2.72739551], [2.72739551, 0, 2.72739551], [2.72739551, 2.72739551, 0]]
    if mixed:
        return Atoms("ClNa", cell=cell, scaled_positions=[[.5, .5, .5], [0, 0, 0]], pbc=True)
    return Atoms("NaCl", cell=cell, scaled_positions=[[0, 0, 0], [.5, .5, .5]], pbc=True)


# A stand-in for VASP (atomate2 style): checks the inputs heal wrote, then copies a real vasprun.xml.
CHECKER = '''\
"""Fake vasp for heal's wiring test: check the inputs heal wrote, then copy a real vasprun.xml into place."""
import shutil
import sys
from pathlib import Path

for name in ("INCAR", "KPOINTS", "POSCAR", "POTCAR"):
    assert Path(name).is_file() and Path(name).stat().st_size > 0, f"{name} missing"
incar = Path("INCAR").read_text()
for tag in ("IBRION = -1", "NSW    = 0", "ISMEAR = 0", "SIGMA  = 0.05", "PREC   = Accurate", "EDIFF  = 1e-06"):
    assert tag in incar, f"INCAR lacks {tag!r}"
species = Path("POSCAR").read_text().splitlines()[5].split()
titels = [ln.split("=")[1].split()[1] for ln in Path("POTCAR").read_text().splitlines() if "TITEL" in ln]
assert [t.split("_")[0] for t in titels] == species, (titels, species)
assert Path("KPOINTS").read_text().splitlines()[2] == "Gamma"
shutil.copy(sys.argv[1], "vasprun.xml")
print("fake vasp: inputs checked; copied", sys.argv[1])
'''


def fake_vasp_executor(tmp_path: Path):
    """A local executor whose ``vasp`` is the stand-in above, copying ase's real ``vasprun_dfpt.xml``."""
    import sys

    from heal.exec import get_executor, load_machine

    checker = tmp_path / "checker.py"
    checker.write_text(CHECKER)
    machine = tmp_path / "machine.yaml"
    machine.write_text(f"executor: local\ncommands:\n  vasp: [{sys.executable}, {checker}, "
                       f"{ASE_VASP / 'vasprun_dfpt.xml'}]\n")
    return get_executor(load_machine(machine))
