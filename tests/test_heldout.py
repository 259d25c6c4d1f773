"""Held-out frames from the oracle's own MD (``init.heldout_md``): real MEAM teacher, tiny runs."""

from __future__ import annotations

import numpy as np
import pytest

from heal.campaign import Campaign
from heal.errors import ConfigError
from heal.fw.runner import ensure_seeds
from heal.loop.heldout import make_heldout
from tiny_campaign import meam_frames, tiny_campaign


def _camp(tmp_path, **over) -> Campaign:
    return Campaign.from_file(tiny_campaign(tmp_path, "ho", init={"n_seed_labels": 2, "rattle": 0.08,
                                                                 "heldout_md": {"steps": 40, "every": 20}},
                                            train={"test_fraction": 0.0}, **over))


def test_heldout_md_stores_labeled_teacher_md_frames_once(tmp_path):
    camp = _camp(tmp_path)
    ensure_seeds(camp)
    out = make_heldout(camp)
    # one seed x temperatures 300 and 800 K x frames at steps 20 and 40
    assert out["temperatures"] == [300.0, 800.0] and out["frames"] == 4 and out["test_added"] == 4
    frames = list(camp.testset.iter_frames())
    assert len(frames) == 4
    for a in frames:
        f = a.get_forces()
        assert np.isfinite(f).all() and np.abs(f).max() > 0.05  # thermal frames, not the relaxed lattice
    assert len({round(float(a.get_potential_energy()), 6) for a in frames}) == 4  # four different frames
    again = make_heldout(camp)
    assert again == out and len(camp.testset) == 4  # idempotent: nothing added twice


def test_heldout_md_needs_an_in_process_oracle(tmp_path):
    camp = _camp(tmp_path, label={"oracle": "gpaw", "batch_size": 2})
    ensure_seeds(camp)
    with pytest.raises(ConfigError, match="init.heldout_md"):
        make_heldout(camp)


def test_your_own_heldout_frames_are_tested_on_never_trained_on(tmp_path):
    from ase.io import write

    from heal.loop.stages import stage_init

    mine = meam_frames(3, 5)
    write(tmp_path / "mine.extxyz", mine, format="extxyz")
    made = Campaign.from_file(tiny_campaign(tmp_path, "own", init={"n_seed_labels": 2, "heldout": ["mine.extxyz"]},
                                            train={"test_fraction": 0.0}))
    # the stages read the campaign's frozen copy (in its directory): the path relative to the file still holds
    camp = Campaign.open(made.root)
    assert camp.cfg.init.heldout == [str(tmp_path / "mine.extxyz")]
    ensure_seeds(camp)
    out = stage_init(camp)
    assert out["heldout_imported"] == 3 and out["labeled"] == 2
    assert len(camp.dataset) == 2  # the rattled seeds only
    got = {round(float(a.get_potential_energy()), 6): a for a in camp.testset.iter_frames()}  # positions wrapped
    assert set(got) == {round(float(a.get_potential_energy()), 6) for a in mine}
    for a in mine:
        assert np.allclose(got[round(float(a.get_potential_energy()), 6)].get_forces(), a.get_forces(), atol=1e-6)


def test_heldout_frames_without_labels_are_a_clear_error(tmp_path):
    from ase.build import bulk
    from ase.io import write

    from heal.loop.stages import stage_init

    write(tmp_path / "bare.extxyz", [bulk("Ni", "fcc", a=3.52, cubic=True)], format="extxyz")
    camp = Campaign.from_file(tiny_campaign(tmp_path, "bare", init={"n_seed_labels": 2, "heldout": ["bare.extxyz"]}))
    ensure_seeds(camp)
    with pytest.raises(ConfigError, match=r"field 'init.heldout': no frame could be imported from .*bare.extxyz"):
        stage_init(camp)
