"""An MTP campaign iteration end to end, real engines: MEAM labels, motep training, ASE MD graded by the
MTP's extrapolation grade, select-add, labels appended, plan step; driven by ``heal launch``."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest

from tiny_campaign import tiny_campaign

pytestmark = [pytest.mark.engine, pytest.mark.slow]


def test_mtp_campaign_iteration_runs_end_to_end(tmp_path):
    cfg = tiny_campaign(tmp_path, "mtp", iterations=1,
                        init={"n_seed_labels": 16},
                        train={"engine": "mtp", "mtp_level": 6, "mtp_max_iter": 30, "n_models": 1,
                               "test_fraction": 0.25},
                        explore={"stages": [{"temperatures": [1500, 3000], "nsteps": 60}], "dump_freq": 5,
                                 "mtp_save": 1.01, "mtp_break": 1000.0},
                        select={"max_per_iter": 4})
    out = subprocess.run([sys.executable, "-m", "heal", "launch", str(cfg)], capture_output=True, text=True,
                         timeout=900)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    st = json.loads(subprocess.run([sys.executable, "-m", "heal", "status", str(tmp_path / "mtp"), "--json"],
                                   capture_output=True, text=True, timeout=300).stdout)
    (it0,) = st["iterations"]
    assert it0["state"] == "completed" and it0["models"] == 1
    assert it0["explored"] > 0 and it0["accurate"] + it0["candidate"] + it0["failed"] == it0["explored"]
    assert it0["rmse_force"] is not None and math.isfinite(it0["rmse_force"])
    assert (tmp_path / "mtp" / "iter-000" / "train" / "model-00" / "pot.mtp").is_file()
    sel = json.loads((tmp_path / "mtp" / "iter-000" / "select" / "select.json").read_text())
    assert "mtp" in sel and sel["selected"] == it0["selected"] <= 4
    assert it0["labeled"] == sel["selected"] - it0["rejected"] > 0
