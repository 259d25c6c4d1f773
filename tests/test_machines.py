"""The shipped machine presets: every one loads, and the cluster ones become the batch scripts a DP-GEN user
expects. The scripts are dpdispatcher's own (``gen_script``), built for a train and a label stage without
submitting anything."""

from __future__ import annotations

from pathlib import Path

import pytest

from heal import MACHINES_DIR
from heal.exec import Job, load_machine
from heal.exec.dispatcher import DispatcherExecutor

PRESETS = sorted(MACHINES_DIR.glob("*.yaml"))


def test_every_cluster_kind_has_a_preset():
    names = {p.stem for p in PRESETS}
    assert {"local", "dispatcher-local", "slurm", "slurm-local", "slurm-gpu", "pbs", "lsf"} <= names


@pytest.mark.parametrize("path", PRESETS, ids=[p.stem for p in PRESETS])
def test_preset_loads_and_names_every_engine(path):
    m = load_machine(path)
    assert {"lmp", "dp", "vasp"} <= set(m.commands)


def _stage(tmp: Path, command: str, n: int) -> list[Job]:
    return [Job(command, ["--tf", "train", "input.json"] if command == "dp" else [], tmp / "iter-000" / f"task-{k}",
                log=command, forward=["input.json"] if command == "dp" else ["INCAR", "POSCAR"]) for k in range(n)]


def _scripts(preset: str, command: str, n: int, tmp: Path) -> list[str]:
    return DispatcherExecutor(load_machine(MACHINES_DIR / f"{preset}.yaml")).scripts(_stage(tmp, command, n))


def test_pbs_label_stage_scripts(tmp_path):
    scripts = _scripts("pbs", "vasp", 8, tmp_path)
    assert len(scripts) == 2  # 8 frames, group_size 4
    s = scripts[0]
    assert s.lstrip().startswith("#!/bin/bash") and "#PBS -l select=1:ncpus=32" in s and "#PBS -q workq" in s
    assert "module load vasp/6.4" in s and s.count("mpirun vasp_std") == 4
    assert str(tmp_path) not in s.split("# --- tasks ---")[1]  # task paths are relative


def test_lsf_label_stage_scripts(tmp_path):
    scripts = _scripts("lsf", "vasp", 6, tmp_path)
    assert len(scripts) == 2
    s = scripts[0]
    assert "#BSUB -n 32" in s and "#BSUB -q normal" in s and s.count("mpirun vasp_std") == 4
    assert scripts[1].count("mpirun vasp_std") == 2


def test_gpu_preset_trains_one_member_per_gpu_and_labels_on_cpus(tmp_path):
    train = _scripts("slurm-gpu", "dp", 4, tmp_path / "t")
    assert len(train) == 4  # one member per job
    assert all("#SBATCH --gres=gpu:1" in s and "#SBATCH --partition gpu" in s and "dp --tf train" in s
               for s in train)
    label = _scripts("slurm-gpu", "vasp", 2, tmp_path / "l")
    assert all("--gres" not in s and "#SBATCH --partition normal" in s for s in label)
