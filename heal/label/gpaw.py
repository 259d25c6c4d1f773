"""Real DFT labels with GPAW (plane waves, PBE), run as a subprocess through a heal executor.

Debian's ``gpaw`` + ``gpaw-data`` (PAW setups for all ten HEA10 elements) import only under the system
Python with Debian's numpy, so the labeler never imports gpaw: it writes ``gpaw_input.json`` and a copy of
:mod:`heal.label.gpaw_runner`, and runs ``<commands.gpaw_python> gpaw_runner.py gpaw_input.json`` (the
``gpaw_python`` key of ``machines/*.yaml``, ``/usr/bin/python3`` in ``local.yaml``). The runner writes
``gpaw_result.json``; ``read_results`` parses it. A non-converged SCF is a ``FatalError``; a killed or
timed-out run is a ``TransientError`` (from the executor).

Settings: plane waves, no spin (initial magnetic moments zeroed explicitly), Fermi-Dirac smearing.
params (defaults): ``ecut`` 300 eV, ``kpts`` [1, 1, 1] (Γ; e.g. [2, 2, 2]), ``smearing`` 0.1 eV,
``xc`` PBE, ``maxiter`` 100, ``convergence`` (GPAW's dict, default GPAW's own), ``timeout_s``.
The energy label is the Fermi-Dirac free energy, the energy the forces are derivatives of.
Units: energy eV, forces eV/Å, stress eV/Å^3 (ASE sign). Measured on 2 cores, 300 eV: Ni3Al 4 atoms
Γ 4.6 s idle (30 SCF iterations; 13 s on a loaded machine), 2x2x2 k 10 s loaded; 8-atom NiCoCrAl Γ 14 s
loaded; 32-atom NiCoCrAl Γ 75 s loaded. GPAW's forces sum to ~2e-3 (4 atoms) – 1e-2 (32 atoms) eV/Å.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from ase import Atoms

from heal.errors import ConfigError, FatalError
from heal.exec import Job
from heal.frames import set_labels

RUNNER = Path(__file__).with_name("gpaw_runner.py")
INPUT = "gpaw_input.json"
OUTPUT = "gpaw_result.json"
DEFAULTS: dict[str, Any] = {"ecut": 300.0, "kpts": [1, 1, 1], "smearing": 0.1, "xc": "PBE", "maxiter": 100,
                            "convergence": None}


class GpawLabeler:
    """Labels frames with GPAW plane-wave DFT (``label.oracle: gpaw``)."""

    name: ClassVar[str] = "gpaw"
    #: any element with a PAW setup in gpaw-data (all HEA10 elements)
    elements: ClassVar[tuple[str, ...] | None] = None
    command: ClassVar[str] = "gpaw_python"

    def __init__(self, params: dict[str, Any] | None = None) -> None:
        params = dict(params or {})
        unknown = set(params) - set(DEFAULTS) - {"timeout_s"}
        if unknown:
            raise ConfigError(f"field 'label.params': unknown GPAW parameter(s) {sorted(unknown)}; "
                              f"allowed: {sorted(DEFAULTS) + ['timeout_s']}")
        #: seconds one GPAW run may take (None: the labeling stage sets label.timeout_s)
        self.timeout: float | None = params.pop("timeout_s", None)
        self.params = {**DEFAULTS, **params}
        p = self.params
        try:
            p["ecut"] = float(p["ecut"])
            p["smearing"] = float(p["smearing"])
            p["maxiter"] = int(p["maxiter"])
            kpts = p["kpts"]
            p["kpts"] = [int(k) for k in ([kpts] * 3 if isinstance(kpts, (int, float)) else kpts)]
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"field 'label.params': bad GPAW parameter value ({exc})") from None
        if len(p["kpts"]) != 3 or min(p["kpts"]) < 1:
            raise ConfigError(f"field 'label.params.kpts': {p['kpts']} must be three integers >= 1, e.g. [2, 2, 2]")
        if p["ecut"] <= 0 or p["smearing"] < 0 or p["maxiter"] < 1:
            raise ConfigError("field 'label.params': ecut must be > 0 eV, smearing >= 0 eV, maxiter >= 1")

    def write_input(self, atoms: Atoms, workdir: Path) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        data = {"symbols": atoms.get_chemical_symbols(), "positions": atoms.positions.tolist(),
                "cell": atoms.cell.array.tolist(), "pbc": [bool(x) for x in atoms.pbc], "params": self.params}
        (workdir / INPUT).write_text(json.dumps(data, indent=1))
        shutil.copyfile(RUNNER, workdir / RUNNER.name)

    def job(self, workdir: Path) -> Job:
        """The GPAW run in `workdir` for an executor."""
        (Path(workdir) / OUTPUT).unlink(missing_ok=True)  # a result must come from this run
        return Job(command=self.command, args=[RUNNER.name, INPUT], cwd=workdir, timeout=self.timeout, log="gpaw",
                   forward=[RUNNER.name, INPUT], backward=[OUTPUT, "gpaw.txt"],
                   # the system python must not see a virtualenv's packages (numpy 2 breaks Debian's gpaw)
                   env={"PYTHONPATH": "", "PYTHONNOUSERSITE": "1", "PYTHONHOME": ""})

    def execute(self, workdir: Path, executor) -> None:
        job = self.job(workdir)
        executor.run(job)

    def read_results(self, workdir: Path, atoms: Atoms) -> Atoms:
        path = workdir / OUTPUT
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise FatalError(f"GPAW wrote no readable {OUTPUT} in {workdir} ({exc}); see gpaw.err / gpaw.txt") from None
        if not data.get("converged"):
            raise FatalError(f"GPAW: {data.get('error', 'SCF not converged')}; raise label.params.maxiter "
                             f"(now {self.params['maxiter']}) or the smearing, or check the structure")
        forces = np.asarray(data["forces"], dtype=float)
        if forces.shape != (len(atoms), 3):
            raise FatalError(f"GPAW result has {forces.shape[0]} forces for {len(atoms)} atoms")
        stress = data.get("stress")
        return set_labels(atoms, data["energy"], forces,
                          stress=None if stress is None else np.asarray(stress, dtype=float))
