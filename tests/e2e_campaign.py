"""The finished tiny campaign shared by the end-to-end, report and browser tests (one run per session).

Launched through the ``heal`` command line, interrupted with Ctrl-C once iteration 0's selection is done,
resumed to the end: real MEAM labels, dp train / freeze / test, LAMMPS with the DeePMD ensemble, FireWorks
on the embedded durable store.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest

from fault_harness import labeled_hashes
from tiny_campaign import tiny_campaign


def heal(*args, timeout=900, check=True):
    proc = subprocess.run([sys.executable, "-m", "heal", *args], capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"heal {' '.join(args)} exited {proc.returncode}:\n{proc.stdout[-3000:]}\n"
                             f"{proc.stderr[-3000:]}")
    return proc


@pytest.fixture(scope="session")
def finished_campaign(tmp_path_factory):
    """Launch, Ctrl-C once iteration 0's selection is done, resume to the end."""
    base = tmp_path_factory.mktemp("e2e")
    # heal's own selection here (max-volume on the ensemble's descriptors + calibrated trust levels);
    # the fault-injection test runs the DP-GEN rule (fixed levels + random pick)
    cfg = tiny_campaign(base, "tiny", iterations=2,
                        select={"strategy": "maxvol", "trust": "calibrated", "target_error": 1.0, "min_pairs": 2,
                                "descriptor_dim": 8})
    root = base / "tiny"
    log, err = open(base / "launch.log", "w"), open(base / "launch.err", "w")
    proc = subprocess.Popen([sys.executable, "-m", "heal", "launch", str(cfg)], stdout=log, stderr=err)
    deadline = time.monotonic() + 600
    while not (root / "iter-000" / "select" / "select.json").is_file():
        assert proc.poll() is None, (base / "launch.log").read_text()[-3000:]
        assert time.monotonic() < deadline, "iteration 0 selection did not finish in 10 minutes"
        time.sleep(0.5)
    proc.send_signal(signal.SIGINT)  # Ctrl-C between stages (or inside the next one)
    code = proc.wait(timeout=120)
    interrupted_labels = labeled_hashes(root)
    resumed = heal("resume", str(root))
    return {"cfg": cfg, "root": root, "interrupt_code": code, "resume": resumed,
            "labeled_at_interrupt": interrupted_labels, "launch_log": (base / "launch.log").read_text(),
            "launch_err": (base / "launch.err").read_text()}
