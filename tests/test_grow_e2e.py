"""Real engines: one growth step HEA4 -> HEA5 through the command line (MEAM labels, dp train / freeze / test,
LAMMPS, FireWorks on the embedded store). The parent runs one iteration with the chain type map; the child
imports its frames, finetunes from its final models, and tests every model on the parent's held-out frames.
Also: pure tests of the forgetting guard's arithmetic and its stop under ``grow.strict``."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys

import numpy as np
import pytest

from heal.data.dataset import Dataset
from heal.families import CHAIN_ORDER
from heal.grow.bias import read_bias
from heal.grow.guard import assess, guarded
from heal.grow.report import forgetting_rows
from heal.report.plots import forgetting_plot
from heal.plan import Decision
from tiny_campaign import meam_frames, tiny_campaign

CHAIN_TRAIN = {"type_map": "chain", "sel": 20}


def heal(*args, timeout=900):
    proc = subprocess.run([sys.executable, "-m", "heal", *args], capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"heal {' '.join(args)} exited {proc.returncode}:\n{proc.stdout[-3000:]}\n" \
                                 f"{proc.stderr[-3000:]}"
    return proc


@pytest.fixture(scope="module")
def grown(tmp_path_factory):
    from ase.io import write

    base = tmp_path_factory.mktemp("grow")
    mine = meam_frames(3, 11)  # held-out frames of the user's own for the parent's family
    write(base / "mine4.extxyz", mine, format="extxyz")
    parent = tiny_campaign(base, "p4", iterations=1, train=CHAIN_TRAIN,
                           init={"n_seed_labels": 10, "heldout": ["mine4.extxyz"]})
    child = tiny_campaign(base, "c5", iterations=1, system={"family": "HEA5"}, train=CHAIN_TRAIN,
                          init={"n_seed_labels": 6}, grow_from="p4.yaml",
                          grow={"finetune_steps": 30, "finetune_start_lr": 0.0005, "old_ratio": 0.5})
    heal("chain", str(parent), str(child))
    return {"base": base, "parent": base / "p4", "child": base / "c5", "mine": mine}


@pytest.mark.engine
def test_child_imports_the_parents_frames_on_the_same_side(grown):
    p, c = grown["parent"], grown["child"]
    p_train, p_test = Dataset(p / "dataset").hashes(), Dataset(p / "testset").hashes()
    c_train, c_test = Dataset(c / "dataset").hashes(), Dataset(c / "testset").hashes()
    assert p_train and p_test
    assert p_train <= c_train and p_test <= c_test
    # the user's own held-out frames (known by their energies: the importer wraps positions) stay held out
    energy = lambda frames: {round(float(a.get_potential_energy()), 6) for a in frames}  # noqa: E731
    mine = energy(grown["mine"])
    assert mine <= energy(Dataset(p / "testset").iter_frames()) and mine <= energy(Dataset(c / "testset").iter_frames())
    assert not mine & energy(Dataset(c / "dataset").iter_frames())
    assert not (p_test & c_train)  # held-out frames never reach training
    assert len(c_train) > len(p_train)  # the child labeled HEA5 frames of its own
    assert any("Fe" in a.get_chemical_symbols() for a in Dataset(c / "dataset").iter_frames())


@pytest.mark.engine
def test_first_training_is_a_finetune_of_the_parents_models_with_old_data_share(grown):
    p, c = grown["parent"], grown["child"]
    for k in range(2):
        mdir = c / "iter-000" / "train" / f"model-{k:02d}"
        inp = json.loads((mdir / "input.json").read_text())
        assert inp["model"]["type_map"] == list(CHAIN_ORDER)
        assert inp["training"]["numb_steps"] == 30 and inp["learning_rate"]["start_lr"] == 0.0005
        prob = inp["training"]["training_data"]["auto_prob"]
        n_old = len([s for s in Dataset(c / "dataset").system_dirs()
                     if s.parent.name in json.loads((c / "grow" / "import.json").read_text())["train_chunks"]])
        n_all = len(inp["training"]["training_data"]["systems"])
        assert prob == f"prob_sys_size; 0:{n_old}:0.5; {n_old}:{n_all}:0.5"
        parent_model = p / "iter-000" / "train" / f"model-{k:02d}" / "graph.pb"
        assert (mdir / "init.pb").read_bytes() == (c / "grow" / "init" / f"model-{k:02d}.pb").read_bytes()
        # the parent's model, with an energy bias for Fe (the parent never saw Fe: its bias was 0)
        before, after = read_bias(parent_model), read_bias(mdir / "init.pb")
        fe = CHAIN_ORDER.index("Fe")
        assert before[fe] == 0.0 and -12.0 < after[fe] < -2.0
        assert np.array_equal(np.delete(before, fe), np.delete(after, fe))


@pytest.mark.engine
def test_status_shows_lineage_and_forgetting_per_family(grown):
    c = grown["child"]
    st = json.loads(heal("status", str(c), "--json").stdout)
    assert st["lineage"]["ancestors"][0]["name"] == "p4"
    assert st["lineage"]["imported"]["train_frames"] > 0
    fg = st["iterations"][0]["forgetting"]
    fam = fg["families"]["p4 (HEA4)"]
    assert fam["n_frames"] == len(Dataset(grown["parent"] / "testset"))  # the user's frames among them
    assert len(fam["rmse_f"]) == 2 and len(fam["rmse_e_per_atom"]) == 2  # every child model tested
    assert all(math.isfinite(x) and x > 0 for x in fam["rmse_f"] + fam["rmse_e_per_atom"])
    base = st["lineage"]["baseline"]["p4 (HEA4)"]
    assert fam["before_rmse_f"] == base["rmse_f_mean"]
    assert fam["rise"] == pytest.approx(fam["rmse_f_mean"] / base["rmse_f_mean"] - 1)
    assert (fam["rise"] > 0.10) == ("p4 (HEA4)" in fg["exceeded"])
    text = heal("status", str(c)).stdout
    assert "lineage: p4 (HEA4) -> c5" in text
    assert "forgetting guard" in text and "p4 (HEA4): force RMSE" in text


def _forgetting_cells(text: str) -> dict[tuple[int, str], dict[str, str]]:
    rows = re.findall(r'<tr data-iteration="(\d+)" data-family="([^"]+)"( class="warn")?>(.*?)</tr>', text, re.S)
    return {(int(it), fam): {**dict(re.findall(r'data-field="(\w+)">([^<]*)<', body)), "warn": bool(warn)}
            for it, fam, warn, body in rows}


def _png_is_drawn(path) -> bool:
    import matplotlib.image as mpimg

    img = mpimg.imread(path)
    return img.ndim == 3 and img.shape[0] > 50 and float(np.std(img[..., :3])) > 0.01


@pytest.mark.engine
def test_report_shows_each_ancestor_familys_errors_as_in_status_json(grown, tmp_path):
    c = grown["child"]
    heal("report", str(c), "-o", str(tmp_path / "child"))
    text = (tmp_path / "child" / "report.html").read_text()
    st = json.loads(heal("status", str(c), "--json").stdout)
    cells = _forgetting_cells(text)
    want = [(r["iteration"], name, f, r["forgetting"]) for r in st["iterations"] if r["forgetting"]
            for name, f in r["forgetting"]["families"].items()]
    assert want and set(cells) == {(it, name) for it, name, _, _ in want}
    for it, name, f, fg in want:
        row = cells[(it, name)]
        assert float(row["rmse_f"]) == pytest.approx(f["rmse_f_mean"], abs=5e-5)
        assert float(row["before_rmse_f"]) == pytest.approx(f["before_rmse_f"], abs=5e-5)
        assert float(row["rise"].rstrip("%")) == pytest.approx(100 * f["rise"], abs=0.05)
        assert float(row["rmse_e_per_atom"]) == pytest.approx(1000 * f["rmse_e_per_atom_mean"], abs=5e-3)
        assert float(row["before_rmse_e_per_atom"]) == pytest.approx(1000 * f["before_rmse_e_per_atom"], abs=5e-3)
        assert int(row["n_frames"]) == f["n_frames"]
        assert row["warn"] == (name in fg["exceeded"]) == row["guard"].startswith("EXCEEDED")
    assert 'id="plot-forgetting"' in text and _png_is_drawn(tmp_path / "child" / "forgetting.png")
    # a campaign that did not grow shows nothing of it
    heal("report", str(grown["parent"]), "-o", str(tmp_path / "parent"))
    ptext = (tmp_path / "parent" / "report.html").read_text()
    assert 'id="forgetting"' not in ptext and not (tmp_path / "parent" / "forgetting.png").exists()


def test_report_marks_the_families_that_rose_above_the_limit():
    """Two iterations, two ancestors; the guard's own arithmetic (assess) decides which rows are warned."""
    from heal.report.html import page

    before = {"a": {"rmse_f_mean": 0.50, "rmse_e_per_atom_mean": 0.010},
              "b": {"rmse_f_mean": 0.40, "rmse_e_per_atom_mean": 0.020}}
    its = []
    for it, (fa, fb) in enumerate([(0.52, 0.41), (0.58, 0.42)]):
        now = {"a": {"n_frames": 4, "rmse_f": [fa, fa], "rmse_e_per_atom": [0.01, 0.01], "rmse_f_mean": fa,
                     "rmse_e_per_atom_mean": 0.011},
               "b": {"n_frames": 3, "rmse_f": [fb, fb], "rmse_e_per_atom": [0.02, 0.02], "rmse_f_mean": fb,
                     "rmse_e_per_atom_mean": 0.021}}
        fg = {"iteration": it, **assess(now, before, 0.10)}
        row = {"iteration": it, "state": "completed", "explored": 0, "accurate": 0, "candidate": 0, "failed": 0,
               "labeled": 0, "rejected": 0, "rmse_force": None, "rmse_energy_per_atom": None,
               "rmse_force_by_element": {}, "forgetting": fg}
        its.append({"row": row, "deviation": {"groups": {}}, "rmse_virial_per_atom": None, "times": {}})
    doc = {"status": {"campaign": "c", "state": "finished", "directory": "/c", "dataset_frames": 0,
                      "testset_frames": 0, "labels_total": 0, "finished": None, "fizzled": []},
           "iterations": its, "label_budget": None}
    rows = forgetting_rows(doc)
    assert [(r["iteration"], r["family"], r["exceeded"]) for r in rows] == [
        (0, "a", False), (0, "b", False), (1, "a", True), (1, "b", False)]
    cells = _forgetting_cells(page(doc, {}))
    assert [k for k, v in cells.items() if v["warn"]] == [(1, "a")]
    assert cells[(1, "a")]["rise"] == "+16.0%" and cells[(1, "a")]["guard"] == "EXCEEDED (limit +10%)"
    assert cells[(0, "b")]["rise"] == "+2.5%" and cells[(0, "b")]["rmse_e_per_atom"] == "21.00"
    assert forgetting_plot(doc)[:8] == b"\x89PNG\r\n\x1a\n"
    doc["iterations"] = [{**d, "row": {**d["row"], "forgetting": None}} for d in its]
    assert forgetting_rows(doc) == [] and forgetting_plot(doc) is None and 'id="forgetting"' not in page(doc, {})


def test_assess_flags_a_rise_above_the_limit_with_the_numbers():
    before = {"a": {"rmse_f_mean": 0.50, "rmse_e_per_atom_mean": 0.01}, "b": {"rmse_f_mean": 0.40,
                                                                            "rmse_e_per_atom_mean": 0.01}}
    now = {"a": {"rmse_f_mean": 0.56, "rmse_e_per_atom_mean": 0.02, "rmse_f": [0.55, 0.57]},
           "b": {"rmse_f_mean": 0.42, "rmse_e_per_atom_mean": 0.01, "rmse_f": [0.42, 0.42]}}
    out = assess(now, before, 0.10)
    assert out["exceeded"] == ["a"]
    assert out["families"]["a"]["rise"] == pytest.approx(0.12)
    assert "0.5000 -> 0.5600" in out["message"] and "+12.0%" in out["message"]
    assert assess(now, before, 0.15)["exceeded"] == []


def test_strict_guard_stops_the_campaign_and_a_lenient_one_only_warns():
    go = Decision("continue", 0, "next iteration")
    fg = {"exceeded": ["a"], "message": "forgetting: a: ..."}
    stop = guarded(go, fg, strict=True)
    assert stop.stop and "forgetting" in stop.reason and "grow.strict" in stop.reason
    assert guarded(go, fg, strict=False) is go
    assert guarded(go, {"exceeded": [], "message": ""}, strict=True) is go


@pytest.mark.engine
def test_calibration_forces_index_each_models_own_type_map(grown):
    """A chain model lists ten elements in chain order; a campaign may list its elements in any order. The
    ensemble forces used for trust calibration must not depend on the campaign's order (they did: the atom
    types were the campaign's indices)."""
    from deepmd.infer import DeepPot

    from heal.select.calibration_stage import ensemble_forces

    models = [grown["parent"] / "iter-000" / "train" / f"model-{k:02d}" / "graph.pb" for k in range(2)]
    frames = list(Dataset(grown["parent"] / "testset").iter_frames())[:2]
    chain = ensemble_forces(models, frames, ["Ni", "Co", "Cr", "Al"])
    other = ensemble_forces(models, frames, ["Al", "Cr", "Co", "Ni"])
    pots = [DeepPot(str(m)) for m in models]
    for a, f1, f2 in zip(frames, chain, other):
        types = np.array([CHAIN_ORDER.index(s) for s in a.get_chemical_symbols()])
        want = np.mean([p.eval(a.positions.reshape(1, -1), a.cell.array.reshape(1, -1), types)[1].reshape(-1, 3)
                         for p in pots], axis=0)
        assert np.allclose(f1, want) and np.allclose(f2, want)
        assert np.abs(want).max() > 1e-3  # real forces, not a zero that any indexing would match
