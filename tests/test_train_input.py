"""The DeePMD training input heal renders: the neighbour list size (``train.sel``)."""

from __future__ import annotations

import json

import pytest

from heal.config import TrainSpec, parse_config
from heal.errors import ConfigError
from heal.train.deepmd import default_sel, member_sel, write_input

TYPE_MAP = ["Ni", "Co", "Cr", "Al"]


def rendered_sel(tmp_path, **train) -> list[int]:
    path = write_input(TrainSpec(**train), TYPE_MAP, [tmp_path / "sys"], tmp_path, seed=1)
    return json.loads(path.read_text())["model"]["descriptor"]["sel"]


def test_sel_defaults_to_a_whole_sphere_of_one_element(tmp_path):
    assert rendered_sel(tmp_path, rcut=5.0) == default_sel(5.0, 4) == [64] * 4


def test_sel_one_number_for_all_or_one_per_element(tmp_path):
    assert rendered_sel(tmp_path, rcut=5.0, sel=24) == [24] * 4
    assert rendered_sel(tmp_path, rcut=5.0, sel=[20, 22, 24, 26]) == [20, 22, 24, 26]


def test_sel_list_that_does_not_match_the_elements_is_refused_naming_the_field():
    with pytest.raises(ConfigError, match=r"train\.sel has 2 numbers for the 4 elements Ni Co Cr Al"):
        parse_config({"name": "x", "system": {"family": "HEA4"}, "train": {"sel": [20, 20]}}, "c.yaml")
    with pytest.raises(ConfigError, match=r"train\.sel"):  # the trainer checks too (heal train on a dataset)
        member_sel(TrainSpec(sel=[20, 20]), TYPE_MAP)
