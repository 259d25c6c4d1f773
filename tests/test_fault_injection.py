"""Fault injection with real engines: SIGKILL the campaign process group at random moments, resume, finish.

A handful of kill points (CI time); ``benchmarks/fault_injection.py`` runs many more.
"""

from __future__ import annotations

import json

import pytest

from fault_harness import run_with_kills
from tiny_campaign import tiny_campaign

pytestmark = [pytest.mark.engine, pytest.mark.slow]


def test_random_sigkills_lose_nothing_and_label_nothing_twice(tmp_path):
    cfg = tiny_campaign(tmp_path, "faulty", iterations=2)
    rep = run_with_kills(cfg, tmp_path / "faulty", n_kills=3, seed=2026, window=(6.0, 40.0), timeout=1500)
    print(json.dumps(rep.to_dict(), indent=1))  # where the kills landed, for the log
    assert rep.kills, "no kill landed before the campaign finished"
    assert rep.finished and rep.iterations == 2
    assert rep.lost == []
    assert rep.frames == rep.unique > 0
    assert rep.double_computed == []


def test_full_disk_stops_the_campaign_and_resume_finishes_with_nothing_lost(small_fs, tmp_path):
    """A tiny campaign on a real 64 MiB filesystem: filled up while iteration 0 trains, freed, resumed."""
    import subprocess
    import sys
    import time

    from fault_harness import double_computed, labeled_hashes, stored_hashes

    cfg = tiny_campaign(small_fs.root, "full", iterations=1)
    root = small_fs.root / "full"
    log = tmp_path / "launch.log"  # outside the full filesystem
    with open(log, "w") as fh:
        proc = subprocess.Popen([sys.executable, "-m", "heal", "launch", str(cfg)], stdout=fh,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 600
        while not (root / "iter-000" / "train" / "model-00" / "train.out").is_file():
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the campaign did not reach training:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)
        small_fs.fill()
        code = proc.wait(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
    out = log.read_text()
    print(out[-3000:])
    assert code == 1, out[-3000:]
    assert "disk full: " + str(root) in out and "Traceback" not in out
    before = labeled_hashes(root)
    assert before  # the initial labels were finished before the disk filled
    small_fs.free()
    res = subprocess.run([sys.executable, "-m", "heal", "resume", str(root)], capture_output=True, text=True,
                         timeout=900)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert (root / "finished.json").is_file()
    stored = stored_hashes(root)
    assert len(stored) == len(set(stored)) and before <= set(stored)
    assert double_computed(root) == []
