"""End to end, real engines: a tiny campaign launched, interrupted with Ctrl-C between stages, resumed, finished.

Real MEAM labels, real dp train / freeze / test, real LAMMPS with the DeePMD ensemble, real FireWorks on the
embedded durable store, driven through the ``heal`` command line as a user would.
"""

from __future__ import annotations

import json
import math
import re

import pytest

from e2e_campaign import heal
from fault_harness import double_computed, labeled_hashes, stored_hashes

pytestmark = [pytest.mark.engine, pytest.mark.slow]


def test_ctrl_c_stops_cleanly_and_resume_finishes(finished_campaign):
    assert finished_campaign["interrupt_code"] == 130, finished_campaign["launch_log"][-2000:]
    assert "interrupted; finished work is kept. Continue with: heal resume" in finished_campaign["launch_log"]
    assert (finished_campaign["root"] / "finished.json").is_file()
    assert "stopped after iteration 1" in finished_campaign["resume"].stdout


ENGINE_LINE = re.compile(r"^[IWEF]\d{4} |implib-gen|absl|oneDNN|tensorflow|cudart|DEEPMD|LAMMPS \(|"
                         r"Not handling type|cpu_feature_guard", re.I)


def non_heal_lines(stdout: str, stderr: str) -> list[str]:
    """Console lines that are not heal's: heal writes its lines on stdout and only ``warning:`` / ``error:``
    lines on stderr; an engine's log line anywhere is not heal's."""
    bad = [ln for ln in stderr.splitlines() if ln.strip() and not ln.startswith(("warning:", "error:"))]
    return bad + [ln for ln in stdout.splitlines() if ENGINE_LINE.search(ln)]


def test_console_carries_only_heals_lines_and_engine_logs_go_to_stage_logs(finished_campaign):
    """TensorFlow / DeePMD loaded in the heal process (max-volume descriptors, calibration) log to the stage's
    engine.log, not to the console."""
    fc = finished_campaign
    assert "COMPLETED tiny it0 select" in fc["launch_log"]
    assert non_heal_lines(fc["launch_log"], fc["launch_err"]) == []
    assert non_heal_lines(fc["resume"].stdout, fc["resume"].stderr) == []
    engine_log = (fc["root"] / "iter-000" / "select" / "engine.log").read_text()
    assert ENGINE_LINE.search(engine_log), engine_log[:500]  # the engines did write, into the stage's log


def test_status_json_shows_both_iterations_with_labels_and_finite_rmse(finished_campaign):
    st = json.loads(heal("status", str(finished_campaign["root"]), "--json").stdout)
    its = st["iterations"]
    assert [r["iteration"] for r in its] == [0, 1]
    for r in its:
        assert r["state"] == "completed"
        assert r["labeled"] > 0
        assert r["accurate"] + r["candidate"] + r["failed"] == r["explored"] > 0
        assert r["rmse_force"] is not None and math.isfinite(r["rmse_force"]) and r["rmse_force"] > 0
        for key in ("accurate", "candidate", "failed", "labeled", "rejected", "rmse_force", "state"):
            assert key in r
    assert st["state"] == "finished"
    stats = json.loads(heal("data", "stats", st["dataset"], "--json").stdout)
    assert stats["frames"] == st["dataset_frames"] > 0


def test_no_frame_lost_or_labeled_twice_across_the_interrupt(finished_campaign):
    root = finished_campaign["root"]
    stored = stored_hashes(root)
    assert len(stored) == len(set(stored))
    assert finished_campaign["labeled_at_interrupt"] <= set(stored)
    assert labeled_hashes(root) == set(stored)  # every finished label is stored, nothing else is
    assert double_computed(root) == []


def test_final_models_run_in_lammps(finished_campaign):
    """The last iteration's ensemble drove real LAMMPS MD with inline deviation."""
    root = finished_campaign["root"]
    devi = list((root / "iter-001" / "explore").glob("task-*/*/model_devi.out"))
    assert devi
    from heal.explore.parse import read_model_devi

    rows = read_model_devi(devi[0])
    assert rows.size == 11 and (rows["max_devi_f"] > 0).all()


def test_launching_the_same_campaign_twice_is_refused(finished_campaign):
    again = heal("launch", str(finished_campaign["cfg"]), check=False)
    assert again.returncode != 0
    assert "already launched" in again.stderr and "heal resume" in again.stderr


def test_resume_of_a_finished_campaign_redoes_nothing(finished_campaign):
    root = finished_campaign["root"]
    before = sorted(p.stat().st_mtime_ns for p in root.glob("iter-*/train/model-*/graph.pb"))
    out = heal("resume", str(root))
    assert "0 Firework(s) set to rerun" in out.stdout
    assert sorted(p.stat().st_mtime_ns for p in root.glob("iter-*/train/model-*/graph.pb")) == before


def test_selection_used_max_volume_and_calibrated_levels(finished_campaign):
    root = finished_campaign["root"]
    sel0 = json.loads((root / "iter-000" / "select" / "select.json").read_text())
    sel1 = json.loads((root / "iter-001" / "select" / "select.json").read_text())
    assert sel0["strategy"] == sel1["strategy"] == "maxvol"
    assert 0 < sel0["selected"] <= 4
    cal0 = json.loads((root / "iter-000" / "calibration.json").read_text())
    st = json.loads(heal("status", str(root), "--json").stdout)
    assert cal0["n_pairs"] == st["iterations"][0]["labeled"]  # one (deviation, error) pair per label
    (group,) = cal0["groups"]  # one seed: one composition x phase
    levels = cal0["groups"][group]
    assert levels["n_pairs"] == cal0["n_pairs"] and levels["f_lo"] < levels["f_hi"]
    # iteration 1 screened with the levels fitted after iteration 0
    assert all(v == [levels["f_lo"], levels["f_hi"]] for v in sel1["levels"].values())
    assert st["iterations"][1]["calibration_table"].startswith("trust calibration")


def _png_is_drawn(path) -> bool:
    """A real picture: decodes as PNG and is not one flat colour."""
    import matplotlib.image as mpimg
    import numpy as np

    img = mpimg.imread(path)
    return img.ndim == 3 and img.shape[0] > 50 and img.shape[1] > 50 and float(np.std(img[..., :3])) > 0.01


def test_report_writes_html_with_the_status_numbers_and_drawn_plots(finished_campaign, tmp_path):
    root = finished_campaign["root"]
    out = heal("report", str(root), "-o", str(tmp_path / "rep"))
    page = tmp_path / "rep" / "report.html"
    assert f"report: {page}" in out.stdout
    text = page.read_text()
    st = json.loads(heal("status", str(root), "--json").stdout)
    for r in st["iterations"]:
        row = re.search(rf'<tr data-iteration="{r["iteration"]}">(.*?)</tr>', text, re.S).group(1)
        cells = dict(re.findall(r'data-field="(\w+)">([^<]*)<', row))
        for key in ("explored", "accurate", "candidate", "failed", "labeled"):
            assert int(cells[key]) == r[key], key
        assert float(cells["rmse_force"]) == pytest.approx(r["rmse_force"], abs=5e-4)
    assert re.search(rf'<dd id="labels_total">{st["labels_total"]}</dd>', text)
    # nothing fetched: every image is embedded, no script, no external URL
    assert "http://" not in text and "https://" not in text and "<script" not in text
    srcs = re.findall(r'<img [^>]*src="([^"]+)"', text)
    assert srcs and all(s.startswith("data:image/png;base64,") for s in srcs)
    names = {p.stem for p in (tmp_path / "rep").glob("*.png")}
    assert {"classes", "rmse", "parity", "calibration", "labels", "times", "deviation-it0", "deviation-it1"} <= names
    for p in (tmp_path / "rep").glob("*.png"):
        assert _png_is_drawn(p), p.name
