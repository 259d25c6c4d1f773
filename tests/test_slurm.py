"""A real one-node Slurm on this machine (``machines/slurm-local.sh``) under heal's dispatcher executor.

Real engines: GPAW (real DFT) and an input-checking VASP stand-in that copies real VASP outputs run as Slurm
batch jobs through dpdispatcher, one submission per label stage packed by ``group_size``. The stand-in
checks INCAR / KPOINTS / POSCAR / POTCAR and copies ase's real ``vasprun.xml``; it never invents numbers.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest

from heal import MACHINES_DIR
from heal.config import LabelSpec
from heal.errors import SetupError
from heal.exec import get_executor, load_machine
from heal.label.runner import label_frames

from conftest import slurm_job_ids
from vasp_fixtures import ASE_VASP, CHECKER, nacl_frame, rattled_ni3al

pytestmark = [pytest.mark.engine]

def _new_jobs(before: set[str]) -> int:
    return len(slurm_job_ids() - before)


def _machine(tmp_path, group_size: int, **commands):
    m = load_machine(MACHINES_DIR / "slurm-local.yaml")
    m.dispatcher["machine"]["remote_root"] = str(tmp_path / "remote")
    m.dispatcher["resources"]["group_size"] = group_size
    m.commands.update(commands)
    return get_executor(m)


def test_gpaw_label_stage_is_one_submission_of_slurm_jobs_packed_by_group_size(slurm, tmp_path):
    ex = _machine(tmp_path, group_size=2)
    frames = [rattled_ni3al(i) for i in range(4)]
    before = slurm_job_ids()
    res = label_frames(frames, LabelSpec(oracle="gpaw", d_min=1.0), tmp_path / "label", ex)
    assert len(res.labeled) == 4 and not res.rejected
    assert _new_jobs(before) == 2  # 4 frames in groups of 2: two Slurm jobs
    assert len(ex.inner.last_job_ids) == 2
    # the same frame labeled by GPAW as a plain local process gives the same numbers
    local = get_executor(MACHINES_DIR / "local.yaml")
    ref = label_frames(frames[:1], LabelSpec(oracle="gpaw", d_min=1.0), tmp_path / "ref", local)
    assert res.labeled[0].get_potential_energy() == pytest.approx(ref.labeled[0].get_potential_energy(), abs=1e-6)
    assert np.allclose(res.labeled[0].get_forces(), ref.labeled[0].get_forces(), atol=1e-5)
    # a relaunch finds every frame finished: nothing goes to the scheduler again
    again = label_frames(frames, LabelSpec(oracle="gpaw", d_min=1.0), tmp_path / "label", ex)
    assert again.reused == 4 and _new_jobs(before) == 2


def test_vasp_stand_in_runs_as_a_slurm_job_and_its_real_outputs_are_parsed(slurm, tmp_path, pp_lib):
    checker = tmp_path / "checker.py"
    checker.write_text(CHECKER)
    ex = _machine(tmp_path, group_size=1, vasp=[sys.executable, str(checker), str(ASE_VASP / "vasprun_dfpt.xml")])
    before = slurm_job_ids()
    spec = LabelSpec(oracle="vasp", params={"species_order": ["Na", "Cl"]}, d_min=1.0, timeout_s=600)
    res = label_frames([nacl_frame()], spec, tmp_path / "label", ex)
    assert len(res.labeled) == 1 and not res.rejected, res.rejected
    assert res.labeled[0].get_potential_energy() == pytest.approx(-6.74587304, abs=1e-8)  # vasprun_dfpt line 602
    assert _new_jobs(before) == 1
    (odir,) = (tmp_path / "label").glob("*/oracle")
    assert "inputs checked" in (odir / "vasp.out").read_text()  # the stand-in's checks ran on the node


def test_a_submission_the_scheduler_refuses_is_a_clear_error_and_rejects_nothing(slurm, tmp_path):
    ex = _machine(tmp_path, group_size=2)
    ex.machine.dispatcher["resources"]["queue_name"] = "no-such-partition"
    with pytest.raises(SetupError, match="refused the submission.*invalid partition.*queue_name"):
        label_frames([rattled_ni3al(7), rattled_ni3al(8)], LabelSpec(oracle="gpaw", d_min=1.0), tmp_path / "label", ex)
    assert not list((tmp_path / "label").glob("*/rejected.json"))
