"""The two sides of validation as ASE calculators: the campaign's oracle and a frozen DeePMD model.

- :class:`OracleCalculator` wraps any in-process labeler of :mod:`heal.label` (``compute(atoms) -> (E, F,
  stress)``: the MEAM teacher, CHGNet), so the oracle's properties come from exactly the code that labels.
- :func:`model_session` is a LAMMPS session with ``pair_style deepmd`` on one frozen model (the same engine
  that explores), used for the 0 K properties (through :class:`~heal.validate.lammps_md.LammpsCalculator`)
  and for MD.
"""

from __future__ import annotations

from pathlib import Path

from ase.calculators.calculator import Calculator, all_changes

from heal.errors import SetupError
from heal.validate.lammps_md import LammpsCalculator, LammpsSession


class OracleCalculator(Calculator):
    """ASE calculator on an in-process labeler (energy eV, forces eV/Å, stress eV/Å^3)."""

    implemented_properties = ["energy", "free_energy", "forces", "stress"]

    def __init__(self, labeler, **kwargs):
        super().__init__(**kwargs)
        self.labeler = labeler

    def check(self, atoms) -> None:
        """The labeler's own frame check (SetupError when the oracle cannot compute these elements)."""
        self.labeler.check_frame(atoms)

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        e, f, s = self.labeler.compute(self.atoms)
        self.results = {"energy": float(e), "free_energy": float(e), "forces": f, "stress": s}


class ExternalOracle(SetupError):
    """The oracle computes in external jobs only (VASP, GPAW): no in-process calculator (see heal.validate.external)."""

    def __init__(self, name: str):
        super().__init__(f"the {name!r} oracle computes in external jobs (DFT) only; the validate stage "
                         f"computes its values through label jobs (heal.validate.external), not in process")
        self.oracle = name


def oracle_calculator(name: str, params: dict | None = None) -> OracleCalculator:
    """The campaign oracle `name` (``label.oracle``) as an ASE calculator; it must compute in process
    (:class:`ExternalOracle` otherwise, before the labeler is built)."""
    from heal.label.registry import labeler_class

    cls = labeler_class(name)
    if not hasattr(cls, "compute"):
        raise ExternalOracle(name)
    return OracleCalculator(cls(dict(params or {})))


def model_session(model: Path, type_map: list[str]) -> LammpsSession:
    """LAMMPS with the frozen DeePMD `model`; element names map LAMMPS types onto the model's types."""
    return LammpsSession([f"pair_style deepmd {Path(model)}", f"pair_coeff * * {' '.join(type_map)}"], type_map)


def model_calculator(model: Path, type_map: list[str]) -> LammpsCalculator:
    return LammpsCalculator(model_session(model, type_map))
