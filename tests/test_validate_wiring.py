"""Wiring of the validate stage (no engine runs): the Firework exists only with a ``validate:`` section, runs
after train, and select waits for it; the job it submits is heal's own Python on a spec naming the models."""

from __future__ import annotations

import json

import yaml

from heal.campaign import Campaign
from heal.config import parse_config
from heal.fw.tasks import iteration_fireworks
from heal.validate.stage import _job, _spec, oracle_key
from tiny_campaign import tiny_campaign


def _camp(tmp_path, **over) -> Campaign:
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tiny_campaign(tmp_path, "wire", **over)
    return Campaign.create(parse_config(yaml.safe_load(path.read_text()), path))


def test_validate_firework_only_when_configured_after_train_and_before_select(tmp_path):
    plain = iteration_fireworks(_camp(tmp_path / "a"), 0, 0)
    assert [fw.name.split()[-1] for fw in plain] == ["train", "explore", "select"]
    fws = iteration_fireworks(_camp(tmp_path / "b", validate={"md_steps": 100}), 0, 0)
    train, explore, validate, select = fws
    assert validate.name.endswith("it0 validate") and validate.spec["heal_stage"] == "validate"
    assert validate.spec["_launch_dir"].endswith("iter-000/validate")
    # FireWorks keeps the links on the Workflow: rebuild them from the parents given to each Firework
    from fireworks import Workflow

    links = Workflow(fws).links
    assert set(links[train.fw_id]) == {explore.fw_id, validate.fw_id}
    assert links[validate.fw_id] == [select.fw_id] and links[explore.fw_id] == [select.fw_id]


def test_the_job_is_heal_python_on_the_spec_and_the_oracle_key_ignores_model_only_settings(tmp_path):
    camp = _camp(tmp_path, validate={"md_steps": 100, "spread": False})
    spec = _spec(camp, "model")
    assert spec["oracle"] == "meam" and spec["elements"] == ["Ni", "Co", "Cr", "Al"] and spec["d_min"] == 1.5
    job = _job(tmp_path, {**spec, "models": ["models/m0.pb"]})
    assert job.command == "heal_python" and job.args == ["-m", "heal.validate.runner", "spec.json"]
    assert job.forward == ["spec.json", "models"] and job.backward == ["results.json", "unstable.extxyz"]
    assert json.loads((tmp_path / "spec.json").read_text())["models"] == ["models/m0.pb"]
    base = oracle_key(_spec(camp, "oracle"))
    camp2 = _camp(tmp_path / "c", validate={"md_steps": 100, "spread": True, "max_candidates": 2})
    assert oracle_key(_spec(camp2, "oracle")) == base  # model-only settings: same oracle values
    camp3 = _camp(tmp_path / "d", validate={"md_steps": 200})
    assert oracle_key(_spec(camp3, "oracle")) != base
    # the oracle computes its 300 K lattice constant too: its NPT length and the property itself count
    camp4 = _camp(tmp_path / "e", validate={"md_steps": 100, "spread": False, "npt_steps": 50})
    assert oracle_key(_spec(camp4, "oracle")) != base
    camp5 = _camp(tmp_path / "f", validate={"md_steps": 100, "spread": False,
                                            "properties": ["lattice", "eos", "elastic", "md"]})
    assert oracle_key(_spec(camp5, "oracle")) != base
