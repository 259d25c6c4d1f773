"""Real DFT: GPAW (Debian's, under the system Python) on a rattled 4-atom Ni3Al L1_2 cell, a = 3.57 Å.

Plane waves 300 eV, Γ point, Fermi-Dirac 0.1 eV, no spin: a few seconds on 2 cores. ``.ci/install`` installs
Debian's gpaw; a machine whose ``gpaw_python`` cannot import it fails here with the reason.
"""

from __future__ import annotations

import subprocess

import numpy as np
import pytest
from ase import Atoms

from heal import MACHINES_DIR
from heal.config import LabelSpec
from heal.errors import FatalError
from heal.exec import get_executor, load_machine
from heal.label.gpaw import GpawLabeler
from heal.label.runner import label_frames
from vasp_fixtures import rattled_ni3al

pytestmark = [pytest.mark.engine]

MACHINE = load_machine(MACHINES_DIR / "local.yaml")


def _gpaw_missing() -> str | None:
    argv = MACHINE.argv("gpaw_python")
    try:
        p = subprocess.run(argv + ["-c", "import gpaw, gpaw.setup_data"], capture_output=True, text=True,
                           timeout=120, env={"PATH": "/usr/bin:/bin"})
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"{argv[0]} cannot run: {exc}"
    if p.returncode != 0:
        return f"{' '.join(argv)} cannot import gpaw (apt-get install gpaw gpaw-data): {p.stderr.strip()[-200:]}"
    return None


def test_gpaw_is_installed():
    assert _gpaw_missing() is None


def ni3al(rattle=0.03, seed=1) -> Atoms:
    return rattled_ni3al(seed, rattle)


def test_ni3al_single_point(tmp_path):
    lab = GpawLabeler({"ecut": 300, "kpts": [1, 1, 1]})
    lab.timeout = 240
    atoms = ni3al()
    lab.write_input(atoms, tmp_path)
    lab.execute(tmp_path, get_executor(MACHINE))
    out = lab.read_results(tmp_path, atoms.copy())
    e, f, s = out.get_potential_energy(), out.get_forces(), out.get_stress()
    assert np.isfinite(e) and np.all(np.isfinite(f)) and np.all(np.isfinite(s))
    # PAW total energies (GPAW's reference: isolated atoms) of Ni3Al are a few eV per atom below zero
    assert -8.0 < e / len(atoms) < -2.0
    assert np.abs(f).max() > 0.05  # the rattle is felt
    # translational invariance, up to GPAW's real-space grid (measured |sum F| ~ 2e-3 eV/Å here)
    assert np.abs(f.sum(axis=0)).max() < 1e-2
    assert (tmp_path / "gpaw.txt").is_file()


def test_non_converged_scf_is_rejected(tmp_path):
    executor = get_executor(MACHINE)
    spec = LabelSpec(oracle="gpaw", timeout_s=240)
    with pytest.raises(FatalError, match="SCF did not converge"):
        lab = GpawLabeler({"maxiter": 2})
        lab.timeout = 240
        lab.write_input(ni3al(seed=2), tmp_path / "direct")
        lab.execute(tmp_path / "direct", executor)
        lab.read_results(tmp_path / "direct", ni3al(seed=2))
    r = label_frames([ni3al(seed=3)], spec, tmp_path / "stage", executor, labeler=GpawLabeler({"maxiter": 2}))
    assert not r.labeled and r.rejected[0]["stage"] == "oracle"
    assert "SCF did not converge" in r.rejected[0]["reason"]
