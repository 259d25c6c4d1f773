"""dpdispatcher's SSHContext to a real sshd on 127.0.0.1 (Debian ``openssh-server``, a key made here), with a
``remote_root`` apart from the local directories: a training member and a DFT label stage make the round trip.

Real engines: ``dp train / freeze / test`` on MEAM labels, GPAW single points. What is checked is what a
cluster without a shared filesystem needs: every input a task reads is uploaded (the training data too), no
task names a path of the submitting machine, and the results come back.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from ase.build import bulk

from heal.config import LabelSpec, TrainSpec
from heal.exec import get_executor
from heal.exec.base import Machine
from heal.label.runner import label_frames
from vasp_fixtures import rattled_ni3al

pytestmark = [pytest.mark.engine]

VENV_BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def sshd(tmp_path_factory):
    d = tmp_path_factory.mktemp("sshd")
    for key in ("host_key", "user_key"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(d / key)], check=True)
    (d / "authorized_keys").write_text((d / "user_key.pub").read_text())
    os.chmod(d / "authorized_keys", 0o600)
    port = _free_port()
    (d / "sshd_config").write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {d / 'host_key'}\nPidFile {d / 'sshd.pid'}\n"
        f"AuthorizedKeysFile {d / 'authorized_keys'}\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
        "PermitRootLogin prohibit-password\nStrictModes no\nUsePAM no\nSubsystem sftp internal-sftp\n")
    os.makedirs("/run/sshd", exist_ok=True)  # privilege separation directory
    proc = subprocess.Popen(["/usr/sbin/sshd", "-D", "-e", "-f", str(d / "sshd_config")],
                            stdout=subprocess.DEVNULL, stderr=open(d / "sshd.log", "w"))
    for _ in range(100):
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                break
        assert proc.poll() is None, (d / "sshd.log").read_text()
        time.sleep(0.1)
    (d / "remote").mkdir()  # the cluster side: apart from every local directory of the tests
    yield {"port": port, "key": str(d / "user_key"), "remote": d / "remote"}
    proc.terminate()
    proc.wait(timeout=10)


def _executor(sshd, remote: Path):
    m = Machine(executor="dispatcher", source="test ssh machine",
                commands={"dp": [str(VENV_BIN / "dp")], "gpaw_python": ["/usr/bin/python3"]},
                env={"OMP_NUM_THREADS": "1", "TF_CPP_MIN_LOG_LEVEL": "2"},
                dispatcher={"machine": {"batch_type": "Shell", "context_type": "SSHContext", "local_root": "./",
                                        "remote_root": str(remote),
                                        "remote_profile": {"hostname": "127.0.0.1", "port": sshd["port"],
                                                           "username": "root", "key_filename": sshd["key"],
                                                           "look_for_keys": False}},
                            "resources": {"number_node": 1, "cpu_per_node": 1, "gpu_per_node": 0,
                                          "queue_name": "", "group_size": 1},
                            "check_interval": 1, "clean": False},  # keep the remote side to look at
                retries=0)
    return get_executor(m)


def test_label_stage_round_trip_over_ssh(sshd, tmp_path):
    ex = _executor(sshd, sshd["remote"] / "label")
    frames = [rattled_ni3al(20 + i) for i in range(2)]
    res = label_frames(frames, LabelSpec(oracle="gpaw", d_min=1.0), tmp_path / "label", ex)
    assert len(res.labeled) == 2 and not res.rejected, res.rejected
    assert all(np.isfinite(a.get_forces()).all() and a.get_potential_energy() < -17.0 for a in res.labeled)


def test_training_member_round_trip_over_ssh_uploads_its_data(sshd, tmp_path):
    from heal.data.dataset import Dataset
    from heal.frames import set_labels
    from heal.label.meam import MeamLabeler
    from heal.train.deepmd import train_member

    tm = ["Ni", "Co", "Cr", "Al"]
    lab = MeamLabeler({})
    rng = np.random.default_rng(5)
    frames = []
    for i in range(12):
        a = bulk("Ni", "fcc", a=3.56, cubic=True).repeat(2)
        a.set_chemical_symbols(rng.permutation(tm * 8))
        a.rattle(0.08, seed=i)
        e, f, s = lab.compute(a)
        frames.append(set_labels(a, e, f, stress=s))
    lab.close()
    train, test = Dataset(tmp_path / "train", tm), Dataset(tmp_path / "test", tm)
    train.append(frames[:9])
    test.append(frames[9:])
    spec = TrainSpec(n_models=1, steps=40, rcut=4.5, embedding=[4, 8], fitting=[8, 8], disp_freq=20, sel=24)
    wd = tmp_path / "model-00"
    ex = _executor(sshd, sshd["remote"] / "train")
    res = train_member(spec, tm, train.system_dirs(), wd, ex, seed=1, test_systems=test.system_dirs())
    assert (wd / "graph.pb").stat().st_size > 10_000 and res.test is not None and np.isfinite(res.test.rmse_f)
    systems = json.loads((wd / "input.json").read_text())["training"]["training_data"]["systems"]
    assert systems and all(not Path(s).is_absolute() for s in systems)  # nothing names this machine's paths
    # the data went over the wire: the remote copy is a real directory, not a link back to the local one
    uploaded = [p for p in (sshd["remote"] / "train").rglob("data/s000") if p.is_dir()]
    assert uploaded and not any(p.is_symlink() for p in uploaded)
    assert all((p / "type.raw").is_file() for p in uploaded)
