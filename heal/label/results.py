"""In-process oracles (MEAM, CHGNet) and their JSON result file (written atomically, parsed with shape checks).

Units: energy eV, forces eV/Å, stress eV/Å^3 (ASE Voigt order xx yy zz yz xz xy).

On a machine that sends work to a scheduler, an in-process oracle's labels go out as jobs too:
``<commands.heal_python> -m heal.label.results oracle.json`` (a Python with heal installed on the cluster)
labels the frame in the job's directory.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
from ase import Atoms

from heal.errors import FatalError
from heal.exec.base import Job
from heal.frames import set_labels
from heal.fsutil import atomic_write_json

UNITS = {"energy": "eV", "forces": "eV/Angstrom", "stress": "eV/Angstrom^3"}


def write_result(path: Path, energy: float, forces: np.ndarray, stress: np.ndarray, **meta) -> None:
    atomic_write_json(path, {"energy": float(energy), "forces": np.asarray(forces).tolist(),
                             "stress": np.asarray(stress).tolist(), "units": UNITS, **meta})


def read_result(path: Path, atoms: Atoms, what: str) -> Atoms:
    """`atoms` with the labels of `path`; FatalError naming `what` (the oracle) if missing or malformed."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise FatalError(f"{what} result {path} is missing or unreadable: {exc}") from None
    forces = np.asarray(data["forces"], dtype=float)
    if forces.shape != (len(atoms), 3):
        raise FatalError(f"{what} result has {forces.shape[0]} forces for {len(atoms)} atoms")
    return set_labels(atoms, data["energy"], forces, stress=np.asarray(data["stress"], dtype=float))


class InProcessLabeler:
    """prepare -> execute -> parse for oracles computed in this process (``compute(atoms) -> (E, F, stress)``).

    ``write_input`` checks the frame (``check_frame``) and writes the bare structure, ``execute`` computes and
    writes the JSON result atomically, ``read_results`` parses it. Subclasses set ``name``, ``output`` (file
    name), ``what`` (oracle name for messages) and implement ``check_frame``, ``compute``, ``result_meta``.
    """

    input_name = "input.extxyz"
    job_file = "oracle.json"
    output: str
    what: str
    #: the campaign's ``label.params`` (subclasses keep them for jobs run by another process)
    params: dict = {}

    def check_frame(self, atoms: Atoms) -> None:  # pragma: no cover - subclasses override
        pass

    def result_meta(self) -> dict:
        return {}

    def write_input(self, atoms: Atoms, workdir: Path) -> None:
        from ase.io import write

        self.check_frame(atoms)
        workdir.mkdir(parents=True, exist_ok=True)
        bare = Atoms(atoms.get_chemical_symbols(), positions=atoms.positions, cell=atoms.cell, pbc=atoms.pbc)
        write(workdir / self.input_name, bare, format="extxyz")
        (workdir / self.job_file).write_text(json.dumps({"oracle": self.name, "params": self.params}))

    def job(self, workdir: Path) -> Job:
        """The label as a job of heal's own Python (for a scheduler; locally the label stage computes in process)."""
        (Path(workdir) / self.output).unlink(missing_ok=True)  # a result must come from this run
        return Job("heal_python", ["-m", "heal.label.results", self.job_file], Path(workdir), log="oracle",
                   forward=[self.input_name, self.job_file], backward=[self.output])

    def execute(self, workdir: Path, executor=None) -> None:
        from ase.io import read

        energy, forces, stress = self.compute(read(workdir / self.input_name, format="extxyz"))
        write_result(workdir / self.output, energy, forces, stress, **self.result_meta())

    def read_results(self, workdir: Path, atoms: Atoms) -> Atoms:
        return read_result(workdir / self.output, atoms, self.what)


def main(argv: list[str]) -> int:
    """``python -m heal.label.results oracle.json``: label ``input.extxyz`` here with the oracle it names."""
    from heal.label.registry import get_labeler

    spec = json.loads(Path(argv[0]).read_text())
    labeler = get_labeler(spec["oracle"], spec.get("params") or {})
    labeler.execute(Path.cwd())
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
