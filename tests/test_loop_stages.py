"""Stage functions of the loop on constructed inputs (wiring tier: no engine physics is asserted).

The explore outputs here are hand-written model_devi.out / traj.dump files in LAMMPS's formats, so the
selection logic (trust classes, NaN, empty runs, caps, duplicates, d_min) is checked on known inputs.
Label-stage tests use the real MEAM teacher.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from ase.build import bulk

from heal.campaign import Campaign
from heal.config import parse_config
from heal.errors import ConfigError, FatalError
from heal.frames import frame_hash
from heal.loop.stages import stage_label, stage_select
from tiny_campaign import tiny_campaign

TYPE_MAP = ["Ni", "Co", "Cr", "Al"]


def _campaign(tmp_path, **over) -> Campaign:
    import yaml

    cfg = parse_config(yaml.safe_load(tiny_campaign(tmp_path, "stg", **over).read_text()), tmp_path / "stg.yaml")
    return Campaign.create(cfg)


def _cell(seed: int, spacing: float = 3.6):
    a = bulk("Ni", "fcc", a=spacing, cubic=True).repeat((2, 2, 2))
    rng = np.random.default_rng(seed)
    a.set_chemical_symbols(list(rng.permutation(TYPE_MAP * 8)))
    a.positions += rng.normal(0, 0.05, a.positions.shape)
    a.wrap()
    return a


def _write_run(rdir, frames, devi_f):
    """A finished exploration run: dump + model_devi.out with the given max force deviations."""
    rdir.mkdir(parents=True)
    with open(rdir / "traj.dump", "w") as fh:
        for step, a in frames:
            c = a.cell.array
            fh.write(f"ITEM: TIMESTEP\n{step}\nITEM: NUMBER OF ATOMS\n{len(a)}\n"
                     f"ITEM: BOX BOUNDS pp pp pp\n0 {c[0, 0]}\n0 {c[1, 1]}\n0 {c[2, 2]}\n"
                     f"ITEM: ATOMS id type x y z\n")
            for i, (s, p) in enumerate(zip(a.get_chemical_symbols(), a.positions)):
                fh.write(f"{i + 1} {TYPE_MAP.index(s) + 1} {p[0]:.8f} {p[1]:.8f} {p[2]:.8f}\n")
    lines = ["#       step         max_devi_v         min_devi_v         avg_devi_v         max_devi_f"
             "         min_devi_f         avg_devi_f\n"]
    for (step, _), f in zip(frames, devi_f):
        lines.append(f"{step:12d} {0.01:18.6e} {0.001:18.6e} {0.005:18.6e} {f:18.6e} {f / 10:18.6e} {f / 2:18.6e}\n")
    (rdir / "model_devi.out").write_text("".join(lines))
    (rdir / "done.json").write_text("{}")


def test_select_classifies_caps_and_skips_nan_empty_and_too_close(tmp_path):
    camp = _campaign(tmp_path, select={"f_lo": 0.1, "f_hi": 1.0, "max_per_iter": 3})
    explore = camp.iter_dir(0) / "explore" / "task-000"
    frames = [(10 * i, _cell(i)) for i in range(8)]
    squeezed = _cell(99)
    squeezed.positions[1] = squeezed.positions[0] + [0.5, 0, 0]  # closer than label.d_min = 1.5 Å
    frames.append((80, squeezed))
    devi = [0.05, 0.2, 0.3, float("nan"), 2.0, 0.5, 0.6, 0.04, 0.7]
    _write_run(explore / "runA", frames, devi)
    (explore / "runB").mkdir()  # a blown-up run: empty model_devi.out
    (explore / "runB" / "model_devi.out").write_text("")
    (explore / "runB" / "done.json").write_text("{}")
    out = stage_select(camp, 0)
    assert (out["accurate"], out["candidate"], out["failed"]) == (2, 5, 2)  # NaN and 2.0 are failed
    assert out["selected"] == 3  # four usable candidates (the squeezed one is dropped, refilled if picked)
    again = stage_select(camp, 0)  # idempotent: the done-marker is reused
    assert again == out


def test_select_with_every_frame_failed_selects_nothing(tmp_path):
    camp = _campaign(tmp_path)
    _write_run(camp.iter_dir(0) / "explore" / "task-000" / "r", [(0, _cell(1)), (10, _cell(2))],
               [float("nan"), 99.0])
    out = stage_select(camp, 0)
    assert out["selected"] == 0 and out["failed"] == 2 and out["n_batches"] == 0


def test_select_skips_frames_already_in_the_dataset(tmp_path):
    from heal.label.meam import MeamLabeler
    from heal.frames import set_labels

    camp = _campaign(tmp_path, select={"f_lo": 0.1, "f_hi": 1.0, "max_per_iter": 10})
    frames = [(0, _cell(5)), (10, _cell(6))]
    _write_run(camp.iter_dir(0) / "explore" / "task-000" / "r", frames, [0.5, 0.5])
    # the dump stores 8 decimals: store exactly what the selector will read back
    from heal.explore.parse import iter_dump

    first = next(iter_dump(camp.iter_dir(0) / "explore" / "task-000" / "r" / "traj.dump", TYPE_MAP))[1]
    lab = MeamLabeler({})
    e, f, s = lab.compute(first)
    camp.dataset.append([set_labels(first.copy(), e, f, stress=s)])
    out = stage_select(camp, 0)
    assert out["already_labeled"] == 1 and out["selected"] == 1
    lab.close()


def _candidates(camp, frames):
    from ase.io import read, write

    sdir = camp.iter_dir(0) / "select"
    sdir.mkdir(parents=True)
    write(sdir / "candidates.extxyz", frames, format="extxyz")
    return read(sdir / "candidates.extxyz", index=":")  # what the stage reads (8-decimal positions)


def test_label_stage_stops_the_iteration_when_too_many_labels_fail_but_keeps_the_good_ones(tmp_path):
    camp = _campaign(tmp_path, label={"max_fail_fraction": 0.4, "batch_size": 4})
    bad = [_cell(10 + i) for i in range(2)]
    for a in bad:
        a.positions[1] = a.positions[0] + [0.8, 0.0, 0.0]  # closer than label.d_min: a physics rejection
    cands = _candidates(camp, [_cell(0), _cell(1)] + bad)
    with pytest.raises(FatalError, match="label.max_fail_fraction"):
        stage_label(camp, 0, 0)
    stored = camp.dataset.hashes() | camp.testset.hashes()
    assert {frame_hash(a) for a in cands[:2]} <= stored  # the good labels are kept
    rep = json.loads((camp.iter_dir(0) / "label" / "batch-000.json").read_text())
    assert rep["labeled"] == 2 and len(rep["rejected"]) == 2
    assert all(r["stage"] == "precheck" and "too close" in r["reason"] for r in rep["rejected"])


def test_label_stage_stopped_by_the_setup_stores_the_other_frames_and_rejects_nothing(tmp_path):
    from heal.errors import SetupError

    camp = _campaign(tmp_path, label={"batch_size": 4})
    ti = _cell(12)
    ti.symbols[0] = "Ti"  # outside the MEAM teacher's elements: the oracle cannot serve this campaign
    cands = _candidates(camp, [_cell(0), _cell(1), ti, _cell(2)])
    with pytest.raises(SetupError, match="no parameters for Ti"):
        stage_label(camp, 0, 0)
    stored = camp.dataset.hashes() | camp.testset.hashes()
    # the other frames were labeled and stored; the Ti frame waits for an oracle that covers Ti
    assert {frame_hash(a) for a in cands[:2] + cands[3:]} <= stored and frame_hash(cands[2]) not in stored
    assert not list((camp.iter_dir(0) / "label").glob("*/rejected.json"))
    assert not (camp.iter_dir(0) / "label" / "batch-000.json").exists()  # the batch is not finished


def test_same_campaign_name_with_a_different_config_is_refused(tmp_path):
    camp = _campaign(tmp_path)
    import yaml

    data = yaml.safe_load((tmp_path / "stg.yaml").read_text())
    data["select"]["max_per_iter"] = 99
    with pytest.raises(ConfigError, match="already exists"):
        Campaign.create(parse_config(data, tmp_path / "stg.yaml"))
    assert Campaign.open(camp.root).cfg.select.max_per_iter == 4


@pytest.mark.parametrize("name", ["../escape", "a/b", "x; rm -rf ~", ".."])
def test_exploration_run_names_cannot_leave_their_task_directory(name):
    from heal.explore.lammps import ExploreRun

    with pytest.raises(FatalError, match="plain file name"):
        ExploreRun(name, 300.0, None, 10, 1)


def test_status_masks_mongodb_credentials_and_creates_nothing(tmp_path):
    from heal.report.status import campaign_status

    camp = _campaign(tmp_path, store={"uri": "mongodb://heal:s3cret@db.example:27017/x"})
    st = campaign_status(camp, None)
    assert "s3cret" not in json.dumps(st) and "heal:***@" in st["store"]
    assert not (camp.root / "dataset").exists() and not (camp.root / "testset").exists()


def test_random_pick_refills_the_cap_past_frames_the_filters_drop(tmp_path):
    """DP-GEN's rule picks `max_per_iter` at random; a pick that is too close is replaced, not lost."""
    camp = _campaign(tmp_path, select={"f_lo": 0.1, "f_hi": 1.0, "max_per_iter": 3, "strategy": "random"})
    frames = []
    for i in range(10):
        a = _cell(200 + i)
        if i < 7:  # seven of the ten candidates are closer than label.d_min
            a.positions[1] = a.positions[0] + [0.5, 0, 0]
        frames.append((10 * i, a))
    _write_run(camp.iter_dir(0) / "explore" / "task-000" / "r", frames, [0.5] * 10)
    out = stage_select(camp, 0)
    assert out["candidate"] == 10
    assert out["selected"] == 3 and out["too_close"] >= 1  # all three usable frames, found past the squeezed ones


def test_selection_never_picks_past_the_label_budget(tmp_path):
    """Budget 10, 8 labels used by iteration 0: iteration 1 may pick 2 frames, not max_per_iter = 4."""
    from heal.fsutil import atomic_write_json
    from heal.loop.selection import selection_cap

    camp = _campaign(tmp_path, select={"f_lo": 0.1, "f_hi": 1.0, "max_per_iter": 4},
                     loop={"max_iterations": 5, "label_budget": 10})
    atomic_write_json(camp.report_path(0), {"iteration": 0, "labeled": 8})
    assert selection_cap(camp, 0) == 4   # iteration 0 itself: nothing used before it
    assert selection_cap(camp, 1) == 2
    frames = [(10 * i, _cell(40 + i)) for i in range(6)]
    _write_run(camp.iter_dir(1) / "explore" / "task-000" / "r", frames, [0.5] * 6)
    out = stage_select(camp, 1)
    assert out["candidate"] == 6 and out["selected"] == 2
    atomic_write_json(camp.report_path(1), {"iteration": 1, "labeled": 2})
    assert selection_cap(camp, 2) == 0


def test_retry_rejected_frees_the_frames_of_unfinished_label_stages_only(tmp_path, monkeypatch):
    from heal.fw.tasks import label_and_plan
    from heal.fw.runner import retry_rejected_frames
    from heal.launchpad import open_launchpad

    monkeypatch.delenv("HEAL_MONGO_URI", raising=False)
    camp = _campaign(tmp_path, label={"max_fail_fraction": 1.0, "batch_size": 2})
    bad = [_cell(20 + i) for i in range(4)]
    for a in bad:
        a.positions[1] = a.positions[0] + [0.8, 0.0, 0.0]
    cands = _candidates(camp, bad)
    for batch in (0, 1):
        assert len(stage_label(camp, 0, batch)["rejected"]) == 2
    lp, store = open_launchpad(camp.root)
    try:
        ids = lp.add_wf(label_and_plan(camp, 0, 0, 2))
        by_name = {lp.get_fw_by_id(i).name.split()[-1]: i for i in ids.values()}
        lp.fireworks.update_one({"fw_id": by_name["label-0"]}, {"$set": {"state": "FIZZLED"}})
        lp.fireworks.update_one({"fw_id": by_name["label-1"]}, {"$set": {"state": "COMPLETED"}})
        lp.fireworks.update_one({"fw_id": by_name["plan"]}, {"$set": {"state": "COMPLETED"}})
        freed = retry_rejected_frames(lp, camp)
    finally:
        store.close()
    ldir = camp.iter_dir(0) / "label"
    assert sorted(freed) == sorted(frame_hash(a) for a in cands[:2])
    assert all((ldir / frame_hash(a) / "rejected-0.json").is_file() for a in cands[:2])
    assert all((ldir / frame_hash(a) / "rejected.json").is_file() for a in cands[2:])  # completed: kept
    assert len(stage_label(camp, 0, 0)["rejected"]) == 2  # labeled again (d_min still rejects them)
