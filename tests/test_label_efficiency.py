"""The label-efficiency benchmark: its pure parts, its campaign files, and the CI-sized run (real engines).

The small run checks the machinery end to end (teacher test set, capacity floor, heal arms, held-out curves);
it does not assert the heal / DP-GEN ratio, which needs the full-size run (benchmarks/RESULTS.md).
"""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest
import yaml

from heal import PROJECT_ROOT
from heal.config import parse_config

sys.path.insert(0, str(PROJECT_ROOT / "benchmarks"))

from labeleff.arms import ARMS, Settings, campaign_file  # noqa: E402
from labeleff.evaluate import labels_to_reach, separation  # noqa: E402
from labeleff.seeds import combine, equal_accuracy, report  # noqa: E402


def test_labels_to_reach_interpolates_the_first_crossing():
    curve = [(8, 2.0), (16, 1.5), (24, 1.0), (32, 1.2), (40, 0.8)]
    assert labels_to_reach(curve, 1.25) == pytest.approx(20.0)  # halfway between 16 (1.5) and 24 (1.0)
    assert labels_to_reach(curve, 2.5) == 8.0                   # already there at the start
    assert labels_to_reach(curve, 0.5) is None                  # never reached


@pytest.mark.parametrize("arm", ARMS)
def test_every_arm_writes_a_valid_campaign_that_differs_only_in_select(tmp_path, arm):
    s = Settings()
    cfg = parse_config(yaml.safe_load(campaign_file(arm, s, tmp_path).read_text()), arm)
    ref = parse_config(yaml.safe_load(campaign_file("dpgen-rule", s, tmp_path / "ref").read_text()), "ref")
    for section in ("seeds", "init", "explore", "label", "train", "loop"):
        assert getattr(cfg, section) == getattr(ref, section), section
    assert cfg.select.max_per_iter == s.cap and cfg.train.test_fraction == 0.0
    assert not cfg.train.init_from_previous  # every arm retrains from scratch, as DP-GEN does
    expected = {"heal": ("maxvol", "calibrated"), "dpgen-rule": ("random", "fixed"), "random": ("random", "fixed")}
    assert (cfg.select.strategy, cfg.select.trust) == expected[arm]
    if arm == "random":
        assert cfg.select.f_lo == 0.0 and cfg.select.f_hi >= 1e6


def test_small_benchmark_runs_end_to_end(tmp_path):
    work = tmp_path / "le"
    proc = subprocess.run([sys.executable, str(PROJECT_ROOT / "benchmarks" / "label_efficiency.py"), "--small",
                           "--arms", "heal,dpgen-rule", "--work", str(work)],
                          capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = json.loads((work / "results.json").read_text())
    assert out["test_frames"] > 0 and out["floor"]["labels"] > out["test_frames"]
    assert math.isfinite(out["floor"]["rmse_force"]) and out["floor"]["rmse_force"] > 0
    s = out["settings"]
    for arm in ("heal", "dpgen-rule"):
        pts = out["arms"][arm]["points"]
        assert [p["iteration"] for p in pts] == list(range(s["iterations"]))
        assert pts[0]["labels"] == s["n_init"]  # iteration 0 trains on the initial labels only
        for a, b in zip(pts, pts[1:]):
            assert 0 <= b["labels"] - a["labels"] <= s["cap"]
        need = out["arms"][arm]["labels_to_target"]
        assert out["arms"][arm]["selected_to_target"] == (None if need is None else need - s["n_init"])
        for p in pts:
            assert len(p["members"]) == s["n_models"]
            assert math.isfinite(p["rmse_force"]) and p["rmse_force"] > 0
    # both arms start from the same initial labels and the same training seed: the same first model
    first = [out["arms"][a]["points"][0]["rmse_force"] for a in ("heal", "dpgen-rule")]
    assert first[0] == pytest.approx(first[1], rel=0.05)
    assert "labels to target" in proc.stdout and "capacity floor" in proc.stdout

    # the DP-GEN arm is handed the heal arms' own starting point: their initial labels, seed cells, training input
    from heal.data.dataset import Dataset
    from labeleff.shared import dpgen_inputs

    small = Settings(**{k: v for k, v in s.items()})
    given = dpgen_inputs(work, small)
    init_copy = Dataset(given["init_systems"][0].parents[2])  # <data>/chunks/<chunk>/<system>
    assert len(init_copy) == s["n_init"]
    assert [p.name for p in given["seed_poscars"]] == ["POSCAR"] * 2  # the fcc and bcc seed cells
    assert given["train_input"]["training"]["numb_steps"] == s["steps"]
    assert (given["cap"], given["iterations"], given["f_lo"], given["f_hi"]) == (s["cap"], s["iterations"] - 1,
                                                                                 s["f_lo"], s["f_hi"])


def _pts(*iters):
    return [{"rmse_force": sum(m) / len(m), "members": [{"rmse_force": x} for x in m]} for m in iters]


def test_separation_weighs_the_gap_between_arms_against_the_members_noise():
    # members scatter by ±0.05 around their arm's mean (sigma 0.05·√2 with two members): the standard error
    # of a difference of two 2-member means is sigma·√(2/2) = 0.0707
    a = _pts([1.5, 1.5], [1.05, 0.95], [0.85, 0.75])
    b = _pts([1.5, 1.5], [1.15, 1.05], [1.15, 1.05])
    out = separation(a, b)
    assert out["sigma"] == pytest.approx(0.05 * math.sqrt(2))
    assert list(out["iterations"]) == [1, 2] and out["deciding"] == [1, 2]  # iteration 0 is shared
    assert out["iterations"][1]["z"] == pytest.approx(0.1 / 0.0707, rel=1e-3)   # 1.4: noise
    assert out["iterations"][2]["z"] == pytest.approx(0.3 / 0.0707, rel=1e-3)   # 4.2: a real difference
    assert out["separated"] and separation(b, a)["iterations"][2]["z"] < 0
    # with a target of 1.05, arm a gets there at iteration 1: only that iteration decides, and it is noise
    early = separation(a, b, target=1.05)
    assert early["deciding"] == [1] and not early["separated"]
    # the same final gap, with members that disagree by 0.4: noise
    noisy = separation(_pts([1.5, 1.5], [1.2, 0.8], [1.0, 0.6]), b)
    assert not noisy["separated"]
    assert not separation(_pts([1.0, 1.0]), _pts([1.0, 1.0]))["separated"]  # nothing after iteration 0


def _run(seed, floor, curves, n_init=8, target_factor=1.2):
    """A results.json as label_efficiency.py writes it, from per-arm force curves (members ±0.01 around them)."""
    target = target_factor * floor
    arms = {}
    for arm, curve in curves.items():
        need = labels_to_reach(curve, target)
        arms[arm] = {"points": [{"labels": n, "rmse_force": e,
                                 "members": [{"rmse_force": e - 0.01}, {"rmse_force": e + 0.01}]}
                                for n, e in curve],
                     "labels_to_target": need, "selected_to_target": None if need is None else need - n_init}
    return {"settings": {"seed": seed, "n_init": n_init}, "floor": {"rmse_force": floor}, "target_force": target,
            "arms": arms}


def test_equal_accuracy_counts_the_labels_heal_needs_for_the_other_arms_last_error():
    heal = [(8, 2.0), (10, 1.0), (12, 0.9)]
    other = [(8, 2.0), (10, 1.5), (12, 1.2)]
    got = equal_accuracy(heal, other, n_init=8)
    assert got["labels"] == pytest.approx(9.6)           # 2.0 -> 1.0 between 8 and 10 crosses 1.2 at 9.6
    assert got["ratio"] == pytest.approx(9.6 / 12)
    assert got["selected_ratio"] == pytest.approx(1.6 / 4)
    assert equal_accuracy(other, heal, n_init=8) is None  # the other arm never gets down to heal's 0.9


def test_combine_reports_each_run_and_the_spread_over_runs():
    a = _run(7, 1.0, {"heal": [(8, 2.0), (10, 1.0), (12, 0.9)], "dpgen": [(8, 2.0), (10, 1.6), (12, 1.2)]})
    b = _run(11, 0.5, {"heal": [(8, 1.0), (10, 0.75), (12, 0.65)], "dpgen": [(8, 1.0), (10, 0.9), (12, 0.8)]})
    c = combine([a, b])
    ra, rb = c["runs"]
    # run a (target 1.2): heal gets there at 9.6 labels, dpgen at 12; run b (target 0.6): neither does
    assert ra["pairs"]["dpgen"]["ratio"] == pytest.approx(9.6 / 12)
    assert ra["pairs"]["dpgen"]["selected_ratio"] == pytest.approx(1.6 / 4)
    assert rb["pairs"]["dpgen"]["ratio"] is None and rb["pairs"]["dpgen"]["selected_ratio"] is None
    # but in run b heal reaches dpgen's last error (0.8) at 8 + 2 * 0.2 / 0.25 = 9.6 labels
    assert rb["pairs"]["dpgen"]["equal_accuracy"]["ratio"] == pytest.approx(9.6 / 12)
    across = c["across"]["heal/dpgen"]
    assert across["ratio"] == {"median": pytest.approx(0.8), "min": pytest.approx(0.8), "max": pytest.approx(0.8),
                               "defined": 1, "runs": 2}
    assert across["equal_accuracy"]["defined"] == 2
    # mean curves of error / floor: heal (2.0, 1.0, 0.9) and (2.0, 1.5, 1.3) -> 2.0, 1.25, 1.1
    m = across["mean_curves"]
    assert [e for _n, e in m["curves"]["heal"]] == pytest.approx([2.0, 1.25, 1.1])
    assert m["labels_to_target"]["heal"] == pytest.approx(10 + 2 * 0.05 / 0.15)
    assert m["labels_to_target"]["dpgen"] is None and m["ratio"] is None  # dpgen's mean ends at 1.4
    # the gaps at 10 labels (0.6 and 0.15 eV/Å) are far beyond the members' noise (±0.01) in both runs
    assert (across["ahead_runs"], across["behind_runs"]) == (2, 0)
    assert "seed 11" in report(c)


def test_combine_takes_the_mean_curves_only_over_runs_that_hold_both_arms():
    a = _run(7, 1.0, {"heal": [(8, 2.0), (10, 1.0)], "dpgen-rule": [(8, 2.0), (10, 1.5)],
                      "dpgen": [(8, 2.0), (10, 1.9)]})
    b = _run(11, 1.0, {"heal": [(8, 3.0), (10, 3.0)], "dpgen-rule": [(8, 3.0), (10, 3.0)]})
    c = combine([a, b])
    assert c["across"]["heal/dpgen"]["mean_curves"]["curves"]["heal"] == [(8, 2.0), (10, 1.0)]  # run a only
    assert c["across"]["heal/dpgen-rule"]["mean_curves"]["curves"]["heal"] == [(8, 2.5), (10, 2.0)]


def test_combine_counts_the_runs_in_which_heal_is_behind():
    a = _run(7, 1.0, {"heal": [(8, 2.0), (10, 1.8)], "dpgen": [(8, 2.0), (10, 1.5)]})
    b = _run(11, 1.0, {"heal": [(8, 2.0), (10, 1.79)], "dpgen": [(8, 2.0), (10, 1.8)]})  # gap 0.01: noise
    across = combine([a, b])["across"]["heal/dpgen"]
    assert (across["ahead_runs"], across["behind_runs"]) == (0, 1)
