"""Unit tests of the campaign config (heal.config) and `heal validate`: real YAML files, no fakes.

Every bad file is written to tmp_path and run through the CLI: it must exit non-zero with a message that
names the file, the field and a fix (design.md §3.5).
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from heal.cli import app
from heal.config import CampaignConfig, load_config, parse_config
from heal.errors import ConfigError
from heal.families import FAMILIES

WORKFLOWS = Path(__file__).resolve().parents[1] / "workflows"
SHIPPED = sorted(WORKFLOWS.glob("*.yaml"))
NI_RICH = {"Ni": 0.6, "Co": 0.1, "Cr": 0.1, "Al": 0.1, "Ti": 0.1}

runner = CliRunner()


def _validate(*paths: Path | str):
    return runner.invoke(app, ["validate", *[str(p) for p in paths]])


def _good(**over) -> dict:
    d = {"name": "t", "system": {"family": "HEA4"}}
    d.update(over)
    return d


def _write(tmp_path: Path, data, name: str = "campaign.yaml") -> Path:
    d = tmp_path / "workflows"
    d.mkdir(exist_ok=True)
    p = d / name
    p.write_text(data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False))
    return p


# -- shipped campaign files --------------------------------------------------------------------------------
def test_there_are_shipped_workflows_for_every_family():
    names = {p.stem for p in SHIPPED}
    assert {"hea4", "hea5", "hea7", "hea10", "demo"} <= names


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_shipped_workflow_validates_via_cli(path):
    res = _validate(path)
    assert res.exit_code == 0, res.output
    assert f"{path}: ok" in res.output
    cfg = load_config(path)
    assert cfg.name == path.stem
    assert math.isclose(sum(cfg.system.composition.values()), 1.0)


def test_validate_many_files_reports_good_and_bad_and_exits_2(tmp_path):
    bad = _write(tmp_path, _good(bogus=1), "bad.yaml")
    res = _validate(SHIPPED[0], bad)
    assert res.exit_code == 2
    assert f"{SHIPPED[0]}: ok" in res.output
    assert str(bad) in res.output and "bogus" in res.output


# -- bad campaign files -------------------------------------------------------------------------------------
# (id, content, field named in the message, fix hint in the message)
BAD = [
    ("unknown-top-level-key", _good(iterations=3), "iterations", "remove it or check its spelling"),
    ("unknown-nested-key", _good(select={"f_low": 0.1}), "select.f_low", "remove it or check its spelling"),
    ("unknown-element", {"name": "t", "system": {"elements": ["Ni", "Xx"]}}, "system.elements",
     "use a chemical symbol"),
    ("duplicated-element", {"name": "t", "system": {"elements": ["Ni", "Co", "Ni"]}}, "system.elements",
     "list each element once"),
    ("composition-not-summing-to-1",
     {"name": "t", "system": {"elements": ["Ni", "Co"], "composition": {"Ni": 0.5, "Co": 0.4}}},
     "system.composition", "rescale them so they sum to 1"),
    ("composition-element-not-among-elements",
     {"name": "t", "system": {"elements": ["Ni", "Co"], "composition": {"Ni": 0.5, "Fe": 0.5}}},
     "system.composition", "add it to 'elements' or remove it from 'composition'"),
    ("composition-element-not-in-family",
     {"name": "t", "system": {"family": "HEA4", "composition": {"Ni": 0.5, "Fe": 0.5}}},
     "system.composition", "add it to 'elements' or remove it from 'composition'"),
    ("negative-composition-fraction",  # sums to 1: only the sign is wrong
     {"name": "t", "system": {"elements": ["Ni", "Co"], "composition": {"Ni": 1.5, "Co": -0.5}}},
     "system.composition", "fractions must be finite and >= 0"),
    ("zero-temperature", _good(explore={"stages": [{"temperatures": [0]}]}), "explore.stages.0.temperatures",
     "temperatures are absolute (K > 0)"),
    ("negative-temperature-in-second-stage",
     _good(explore={"stages": [{"temperatures": [300]}, {"temperatures": [1000, -5]}]}),
     "explore.stages.1.temperatures", "temperatures are absolute (K > 0)"),
    ("f_lo-equal-f_hi", _good(select={"f_lo": 0.3, "f_hi": 0.3}), "select", "f_lo must be below f_hi"),
    ("f_lo-above-f_hi", _good(select={"f_lo": 0.5, "f_hi": 0.2}), "select", "f_lo must be below f_hi"),
    ("v_lo-without-v_hi", _good(select={"v_lo": 0.01}), "select", "give both v_lo and v_hi"),
    ("negative-v_lo", _good(select={"v_lo": -0.01, "v_hi": 0.05}), "select.v_lo", "greater than or equal to 0"),
    ("missing-machine-preset", _good(machine="nosuch"), "machine", "use one of ["),
    ("missing-name", {"system": {"family": "HEA4"}}, "name", "required field is missing; add it"),
    ("bad-name-characters", _good(name="my campaign!"), "name", "must be 1-64 letters, digits"),
    ("rcut_smth-equal-rcut", _good(train={"rcut": 5.0, "rcut_smth": 5.0}), "train", "lower rcut_smth"),
    ("min_atoms-above-max_atoms", _good(seeds={"min_atoms": 100, "max_atoms": 50}), "seeds", "swap them"),
    ("family-and-elements-disagree",
     {"name": "t", "system": {"family": "HEA4", "elements": ["Ni", "Co", "Cr", "Fe"]}}, "system",
     "give one or the other"),
    ("store-uri-not-mongodb", _good(store={"uri": "http://localhost:27017"}), "store.uri",
     "remove it to use the embedded store"),
    ("unknown-family", {"name": "t", "system": {"family": "HEA6"}}, "system.family", "got 'HEA6'"),
    ("no-family-no-elements", {"name": "t", "system": {"composition": {"Ni": 1.0}}}, "system",
     "give either 'family'"),
    ("unknown-oracle", _good(label={"oracle": "nosuch"}), "label", "label.oracle; use one of ['gpaw', 'meam'"),
    ("empty-stage-list", _good(explore={"stages": []}), "explore.stages", "give at least one entry"),
    ("empty-phase-list", _good(seeds={"phases": []}), "seeds.phases", "give at least one entry"),
    ("empty-embedding-net", _good(train={"embedding": []}), "train.embedding", "give at least one entry"),
    ("nan-pressure", _good(explore={"stages": [{"temperatures": [300], "pressures": [float("nan")]}]}),
     "explore.stages.0.pressures", "give pressures in bar"),
]


@pytest.mark.parametrize("content,field,hint", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_campaign_fails_naming_file_field_and_fix(tmp_path, content, field, hint):
    p = _write(tmp_path, content)
    res = _validate(p)
    assert res.exit_code != 0
    out = res.output
    assert "ok —" not in out
    assert f"{p}: " in out, out  # the file
    assert f"field '{field}'" in out, out  # the field
    assert hint in out, out  # the fix
    with pytest.raises(ConfigError):  # the API raises the same error the CLI prints
        load_config(p)


@pytest.mark.parametrize("label,field,hint", [
    ({"oracle": "meam", "params": {"temperature": 300}}, "label.params", "allowed: library, potential, skin"),
    ({"oracle": "universal", "params": {"model": "9.9"}}, "label.params.model", "use one of"),
    ({"oracle": "vasp", "params": {"kpts": [0, 1, 1]}}, "label.params.kpts", "k-point divisions must be >= 1"),
    ({"oracle": "gpaw", "params": {"ecut": -5}}, "label.params", "ecut must be > 0 eV"),
], ids=["meam-unknown", "universal-model", "vasp-kpts", "gpaw-ecut"])
def test_validate_checks_the_oracle_parameters(tmp_path, label, field, hint):
    p = _write(tmp_path, _good(label=label))
    res = _validate(p)
    assert res.exit_code == 2, res.output
    assert f"{p}: " in res.output and f"field '{field}'" in res.output and hint in res.output, res.output


def test_validate_and_launch_refuse_an_oracle_that_misses_elements(tmp_path):
    from heal.campaign import Campaign

    p = _write(tmp_path, _good(system={"family": "HEA7"}, label={"oracle": "meam"}))
    res = _validate(p)
    assert res.exit_code == 2
    assert f"{p}: field 'label.oracle'" in res.output and "does not cover Ti, Nb" in res.output, res.output
    with pytest.raises(ConfigError, match="does not cover Ti, Nb"):
        Campaign.from_file(p)
    assert not (tmp_path / "campaigns").exists()   # nothing was created
    ok = _write(tmp_path, _good(system={"family": "HEA7"}, label={"oracle": "universal"}), "ok.yaml")
    assert _validate(ok).exit_code == 0


def test_tab_indentation_is_malformed_yaml_naming_the_line(tmp_path):
    p = _write(tmp_path, "name: t\nsystem:\n\tfamily: HEA4\n")
    res = _validate(p)
    assert res.exit_code != 0
    assert f"{p}: malformed YAML at line 3" in res.output
    assert "fix the syntax" in res.output


def test_bad_indentation_is_malformed_yaml_naming_the_line(tmp_path):
    p = _write(tmp_path, "name: t\nsystem:\n  family: HEA4\n   elements: [Ni]\n")
    res = _validate(p)
    assert res.exit_code != 0
    assert f"{p}: malformed YAML at line 4" in res.output


def test_missing_file_fails_naming_the_path(tmp_path):
    p = tmp_path / "workflows" / "nope.yaml"
    res = _validate(p)
    assert res.exit_code != 0
    assert f"{p}: campaign file not found" in res.output
    assert "give the path to a workflows/*.yaml file" in res.output


@pytest.mark.parametrize("text,kind", [("", "NoneType"), ("- a\n- b\n", "list"), ("just a string\n", "str")])
def test_non_mapping_file_is_rejected(tmp_path, text, kind):
    p = _write(tmp_path, text)
    res = _validate(p)
    assert res.exit_code != 0
    assert f"{p}: the campaign file must be a YAML mapping" in res.output and kind in res.output


def test_every_problem_of_a_file_is_reported_at_once(tmp_path):
    p = _write(tmp_path, {"name": "t", "system": {"family": "HEA4"}, "bogus": 1,
                          "select": {"max_per_iter": 0}, "train": {"n_models": 0}})
    res = _validate(p)
    assert res.exit_code != 0
    assert "3 problem(s)" in res.output
    for field in ("bogus", "select.max_per_iter", "train.n_models"):
        assert f"field '{field}'" in res.output


# -- good campaign files ------------------------------------------------------------------------------------
def test_ni_rich_explicit_composition_validates_and_resolves(tmp_path):
    p = _write(tmp_path, {"name": "nirich", "system": {"elements": list(NI_RICH), "composition": NI_RICH},
                          "label": {"oracle": "universal"}})  # MEAM, the default, has no Ti
    res = _validate(p)
    assert res.exit_code == 0, res.output
    assert "Ni0.6 Co0.1 Cr0.1 Al0.1 Ti0.1" in res.output
    cfg = load_config(p)
    assert cfg.system.type_map == ["Ni", "Co", "Cr", "Al", "Ti"]
    assert cfg.system.composition == pytest.approx(NI_RICH)
    assert cfg.system.family is None


def test_family_with_ni_rich_composition_keeps_family_order_and_fills_missing_with_zero():
    cfg = parse_config({"name": "t", "system": {"family": "HEA5",
                                                "composition": {"Fe": 0.1, "Ni": 0.6, "Co": 0.3}}})
    assert cfg.system.type_map == list(FAMILIES["HEA5"])
    assert list(cfg.system.composition) == list(FAMILIES["HEA5"])
    assert cfg.system.composition == pytest.approx({"Ni": 0.6, "Co": 0.3, "Cr": 0.0, "Al": 0.0, "Fe": 0.1})


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_family_defaults_to_equiatomic_composition(family):
    cfg = parse_config({"name": "t", "system": {"family": family}})
    els = list(FAMILIES[family])
    assert cfg.system.elements == els and cfg.system.type_map == els
    assert list(cfg.system.composition) == els
    assert all(x == pytest.approx(1.0 / len(els)) for x in cfg.system.composition.values())


def test_elements_in_another_order_than_the_family_are_accepted_and_kept():
    cfg = parse_config({"name": "t", "system": {"family": "HEA4", "elements": ["Al", "Cr", "Co", "Ni"]}})
    assert cfg.system.type_map == ["Al", "Cr", "Co", "Ni"]


def test_composition_within_rounding_of_one_is_accepted():
    cfg = parse_config({"name": "t", "system": {"elements": ["Ni", "Co", "Cr"],
                                                "composition": {"Ni": 1 / 3, "Co": 1 / 3, "Cr": 0.3333333}}})
    assert cfg.system.composition["Cr"] == pytest.approx(0.3333333)


def test_defaults_of_a_minimal_file(tmp_path):
    cfg = load_config(_write(tmp_path, _good()))
    assert cfg.machine == "local" and cfg.machine_file().name == "local.yaml"
    assert cfg.select.f_lo < cfg.select.f_hi
    assert cfg.train.rcut_smth < cfg.train.rcut
    assert len(cfg.explore.stages) >= 1 and cfg.store.uri is None
    assert cfg.label.oracle == "meam"


def test_store_uri_mongodb_is_accepted():
    cfg = parse_config(_good(store={"uri": "mongodb://localhost:27017/heal"}))
    assert cfg.store.uri == "mongodb://localhost:27017/heal"


def test_machine_given_as_path_relative_to_the_campaign_file(tmp_path):
    mdir = tmp_path / "elsewhere"
    mdir.mkdir()
    (mdir / "mine.yaml").write_text("executor: local\ncommands: {}\n")
    p = _write(tmp_path, _good(machine="../elsewhere/mine.yaml"))
    assert load_config(p).machine_file() == (mdir / "mine.yaml").resolve()


# -- campaign directory -------------------------------------------------------------------------------------
def test_campaign_dir_defaults_to_campaigns_beside_the_workflows_dir(tmp_path):
    p = _write(tmp_path, _good(name="nirich-1"))
    cfg = load_config(p)
    assert cfg.source == p.resolve()
    assert cfg.campaign_dir() == (tmp_path / "campaigns" / "nirich-1").resolve()
    assert cfg.campaign_dir() == (p.parent / ".." / "campaigns" / "nirich-1").resolve()


def test_campaign_dir_relative_root_is_relative_to_the_campaign_file(tmp_path):
    p = _write(tmp_path, _good(root="runs/here"))
    assert load_config(p).campaign_dir() == (p.parent / "runs" / "here").resolve()


def test_campaign_dir_absolute_root_is_used_as_is(tmp_path):
    p = _write(tmp_path, _good(root=str(tmp_path / "abs")))
    assert load_config(p).campaign_dir() == (tmp_path / "abs").resolve()


def test_campaign_dir_without_a_source_file_is_under_cwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = parse_config(_good(name="mem"))
    assert cfg.source is None
    assert cfg.campaign_dir() == (tmp_path / "campaigns" / "mem").resolve()


def test_assignment_to_a_loaded_config_is_validated_too():
    cfg = CampaignConfig.model_validate(_good())
    with pytest.raises(ValueError):
        cfg.select.f_lo = -1.0
