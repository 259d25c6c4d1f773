"""A demo-sized campaign whose every stage runs as Slurm batch jobs on the local one-node cluster, killed with
SIGKILL while a stage's jobs are on the scheduler, then resumed.

Real engines throughout (MEAM labels as jobs of heal's own Python, dp train / freeze / test, LAMMPS with the
DeePMD ensemble) through dpdispatcher's Slurm batch type. Checked: each stage's scheduler job ids in
``heal status --json``; after the kill, the jobs Slurm already had are recovered, not submitted again; no
frame is stored twice or labeled twice; the campaign finishes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import yaml

from conftest import slurm_job_ids
from fault_harness import double_computed, labeled_hashes, stored_hashes
from heal import MACHINES_DIR
from heal.exec.dispatcher import read_submissions
from tiny_campaign import tiny_campaign

pytestmark = [pytest.mark.engine, pytest.mark.slow]


def _queued() -> set[str]:
    out = subprocess.run(["squeue", "-h", "-o", "%i"], capture_output=True, text=True, timeout=60).stdout
    return set(out.split())


def test_campaign_on_slurm_survives_a_kill_during_a_stage_and_finishes(slurm, tmp_path):
    machine = yaml.safe_load((MACHINES_DIR / "slurm-local.yaml").read_text())
    machine["dispatcher"]["machine"]["remote_root"] = str(tmp_path / "remote")
    machine["dispatcher"]["resources"]["group_size"] = 2
    (tmp_path / "slurm.yaml").write_text(yaml.safe_dump(machine))
    cfg = tiny_campaign(tmp_path, "onslurm", iterations=2, machine=str(tmp_path / "slurm.yaml"))
    root = tmp_path / "onslurm"
    log = tmp_path / "heal.log"
    before = slurm_job_ids()
    with open(log, "w") as fh:
        proc = subprocess.Popen([sys.executable, "-m", "heal", "launch", str(cfg)], stdout=fh,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    # kill heal while the second iteration's training is on the scheduler
    deadline = time.monotonic() + 900
    in_flight: set[str] = set()
    while not in_flight:
        if proc.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"no Slurm job of iteration 1's training to kill under:\n{log.read_text()[-3000:]}")
        if (root / "iter-001" / "train" / "model-00" / "input.json").is_file():
            in_flight = _queued() - before
        time.sleep(0.2)
    # the job ids are on record while the jobs still queue or run (heal status shows them)
    while not in_flight <= {j for r in read_submissions(root) if r["dir"] == "iter-001/train" for j in r["jobs"]}:
        if time.monotonic() > deadline:
            pytest.fail(f"Slurm jobs {in_flight} of iteration 1's training never recorded: {read_submissions(root)}")
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    killed = json.loads(subprocess.run([sys.executable, "-m", "heal", "status", str(root), "--json"],
                                       capture_output=True, text=True, timeout=300, check=True).stdout)
    assert in_flight <= {j for r in killed["submissions"] for j in r["jobs"]}
    labeled_at_kill = labeled_hashes(root)
    jobs_at_kill = slurm_job_ids() - before
    res = subprocess.run([sys.executable, "-m", "heal", "resume", str(root)], capture_output=True, text=True,
                         timeout=1200)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert (root / "finished.json").is_file() and "stopped after iteration 1" in res.stdout
    st = json.loads(subprocess.run([sys.executable, "-m", "heal", "status", str(root), "--json"],
                                   capture_output=True, text=True, timeout=300, check=True).stdout)
    jobs = st["scheduler_jobs"]
    for stage in ("it0 init", "it0 train", "it0 explore", "it1 train", "it1 explore"):
        assert jobs.get(f"onslurm {stage}"), (stage, jobs)
    assert {f"onslurm it0 label-{b}" for b in (0, 1)} <= set(jobs)
    # the training jobs Slurm had when heal died were recovered by the resumed stage, not submitted again
    assert in_flight <= set(jobs["onslurm it1 train"]), (in_flight, jobs["onslurm it1 train"])
    every = [j for ids in jobs.values() for j in ids]
    assert len(every) == len(set(every)) and set(every) <= slurm_job_ids() - before
    assert jobs_at_kill <= set(every)  # every job submitted before the kill served the finished campaign
    stored = stored_hashes(root)
    assert len(stored) == len(set(stored)) and labeled_at_kill <= set(stored)
    assert double_computed(root) == []
