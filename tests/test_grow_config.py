"""Unit tests of growing campaigns without engines: one chain element order, grow_from checks, batch shares,
the chain order of `heal chain`, and the ordered seed phases (γ′, M23C6) with carbon only on carbide sites."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from heal import WORKFLOWS_DIR, phases
from heal.cli import app
from heal.config import load_config, parse_config
from heal.errors import ConfigError
from heal.families import CHAIN_ORDER, FAMILIES
from heal.grow.lineage import check_growth, find_parent
from heal.grow.start import finetune_spec, order_systems
from heal.systems import generate_seeds

GROW = sorted((WORKFLOWS_DIR / "grow").glob("*.yaml"))


def test_every_family_type_map_is_a_prefix_of_the_next():
    order = ["HEA4", "HEA5", "HEA7", "HEA10"]
    for small, big in zip(order, order[1:]):
        assert FAMILIES[big][:len(FAMILIES[small])] == FAMILIES[small]
    assert FAMILIES["HEA10"] == CHAIN_ORDER
    for fam in order:
        assert parse_config({"name": "t", "system": {"family": fam}}).system.type_map == list(FAMILIES[fam])


def test_chain_type_map_lists_all_ten_elements_for_every_family():
    for fam in FAMILIES:
        cfg = parse_config({"name": "t", "system": {"family": fam}, "train": {"type_map": "chain"}})
        assert cfg.model_type_map == list(CHAIN_ORDER)
        assert cfg.system.type_map == list(FAMILIES[fam])
    # train.sel as a list must then have one number per chain element
    with pytest.raises(ConfigError, match="10 elements"):
        parse_config({"name": "t", "system": {"family": "HEA4"}, "train": {"type_map": "chain", "sel": [8] * 4}})


def _camp_file(d: Path, name: str, fam: str, **extra) -> Path:
    cfg = {"name": name, "root": str(d / name), "system": {"family": fam}, "label": {"oracle": "meam"},
           "train": {"type_map": "chain", "rcut": 4.5, "sel": 16, "embedding": [4, 8], "fitting": [8]},
           "machine": "local"}
    for k, v in extra.items():
        cfg[k] = {**cfg.get(k, {}), **v} if isinstance(v, dict) else v
    p = d / f"{name}.yaml"
    p.write_text(yaml.safe_dump(cfg))
    return p


def _validate(*paths):
    return CliRunner().invoke(app, ["validate", *map(str, paths)])


def test_validate_accepts_a_child_of_a_parent_file(tmp_path):
    _camp_file(tmp_path, "p4", "HEA4")
    child = _camp_file(tmp_path, "c5", "HEA5", grow_from="p4.yaml")
    res = _validate(child)
    assert res.exit_code == 0, res.output
    root, parent, exists = find_parent(load_config(child))
    assert parent.name == "p4" and root == (tmp_path / "p4").resolve() and not exists


@pytest.mark.parametrize("change, field, words", [
    ({"label": {"oracle": "universal"}}, "label.oracle", "grow.allow_oracle_change: true"),
    ({"label": {"oracle": "meam", "params": {"skin": 2.0}}}, "label.oracle", "one oracle"),
    ({"train": {"type_map": "system"}}, "train.type_map", "set 'train.type_map: chain' in both"),
    ({"train": {"rcut": 5.0}}, "train", "train.rcut: parent 4.5, here 5.0"),
    ({"train": {"sel": 20}}, "train", "sel"),
    ({"system": {"family": None, "elements": ["Ni", "Co", "Fe"]}}, "system", "Cr, Al"),
])
def test_validate_refuses_a_child_that_cannot_grow_from_its_parent(tmp_path, change, field, words):
    _camp_file(tmp_path, "p4", "HEA4")
    child = _camp_file(tmp_path, "c5", "HEA5", grow_from="p4.yaml", **change)
    res = _validate(child)
    assert res.exit_code == 2, res.output
    assert f"field '{field}'" in res.output and words in res.output, res.output


def test_an_oracle_change_passes_only_when_the_file_says_so(tmp_path):
    _camp_file(tmp_path, "p4", "HEA4")
    child = _camp_file(tmp_path, "c5", "HEA7", grow_from="p4.yaml", label={"oracle": "universal"},
                       grow={"allow_oracle_change": True})
    assert _validate(child).exit_code == 0


def test_validate_refuses_an_oracle_that_does_not_cover_the_elements(tmp_path):
    p = _camp_file(tmp_path, "x7", "HEA7")
    res = _validate(p)
    assert res.exit_code == 2 and "does not cover Ti, Nb" in res.output, res.output


def test_a_missing_parent_is_named(tmp_path):
    child = _camp_file(tmp_path, "c5", "HEA5", grow_from="nowhere")
    res = _validate(child)
    assert res.exit_code == 2 and "field 'grow_from'" in res.output and "nowhere" in res.output


def test_launching_a_child_before_its_parent_ran_says_launch_the_parent_first(tmp_path):
    from heal.campaign import Campaign

    _camp_file(tmp_path, "p4", "HEA4")
    with pytest.raises(ConfigError, match="has not run yet"):
        Campaign.from_file(_camp_file(tmp_path, "c5", "HEA5", grow_from="p4.yaml"))


def test_finetune_spec_takes_fewer_steps_and_a_lower_rate():
    cfg = parse_config({"name": "t", "system": {"family": "HEA5"}, "train": {"steps": 1000, "start_lr": 1e-3}})
    ft = finetune_spec(cfg)
    assert (ft.steps, ft.start_lr) == (250, 1e-4) and ft.stop_lr <= ft.start_lr
    cfg = parse_config({"name": "t", "system": {"family": "HEA5"}, "grow": {"finetune_steps": 77,
                                                                           "finetune_start_lr": 5e-4}})
    assert (finetune_spec(cfg).steps, finetune_spec(cfg).start_lr) == (77, 5e-4)


def test_order_systems_puts_the_parents_first_and_sets_their_share(tmp_path):
    (tmp_path / "grow").mkdir()
    (tmp_path / "grow" / "import.json").write_text('{"train_chunks": ["000001"]}')
    systems = [tmp_path / "dataset/chunks/000002/a", tmp_path / "dataset/chunks/000001/b",
               tmp_path / "dataset/chunks/000001/c", tmp_path / "dataset/chunks/000003/d"]
    ordered, prob = order_systems(tmp_path, systems, 0.3)
    assert [p.name for p in ordered] == ["b", "c", "a", "d"]
    assert prob == "prob_sys_size; 0:2:0.3; 2:4:0.7"
    assert order_systems(tmp_path, systems, None)[1] is None
    assert order_systems(tmp_path, systems[1:3], 0.3)[1] is None  # only old frames: DeePMD's default


def test_chain_order_runs_parents_first():
    from heal.cli.grow_cmd import chain_order

    names = [load_config(f).name for f in chain_order([WORKFLOWS_DIR / "grow"])]
    assert names == ["grow-hea4", "grow-hea5", "grow-hea7", "grow-hea10"]


@pytest.mark.parametrize("path", GROW, ids=lambda p: p.name)
def test_shipped_growth_chain_validates(path):
    res = _validate(path)
    assert res.exit_code == 0, res.output
    assert load_config(path).label.oracle == "universal"


def test_shipped_presets_take_the_thesis_temperature_ranges():
    ranges = {"hea4": (1000, 5000), "hea5": (1000, 2500), "hea7": (1000, 3000), "hea10": (1000, 5000)}
    for name, (lo, hi) in ranges.items():
        temps = [t for st in load_config(WORKFLOWS_DIR / f"{name}.yaml").explore.stages for t in st.temperatures]
        assert min(temps) == lo and max(temps) == hi, name


# -- ordered seed phases -------------------------------------------------------------------------------
def _hea10(**seeds):
    return parse_config({"name": "t", "system": {"family": "HEA10"},
                         "seeds": {"phases": ["fcc", "bcc", "hcp", "melt", "l12", "m23c6"], "scales": [1.0], **seeds}})


@pytest.mark.parametrize("max_atoms, n_carbide", [(120, 116), (70, 29)])
def test_hea10_carbon_sits_only_on_carbide_sites(max_atoms, n_carbide):
    seeds = generate_seeds(_hea10(max_atoms=max_atoms))
    for sd in seeds:
        syms = np.array(sd.atoms.get_chemical_symbols())
        if sd.phase != "m23c6":
            assert "C" not in syms, sd.name
            continue
        assert len(sd.atoms) == n_carbide
        c_sites = phases.sublattice_indices(sd.atoms, "C")
        assert sorted(np.flatnonzero(syms == "C")) == sorted(c_sites)  # every C on 24e, every 24e site C
        assert len(c_sites) * 23 == (len(sd.atoms) - len(c_sites)) * 6
        metal = syms[phases.sublattice_indices(sd.atoms, "M")]
        n_sub = round(0.2 * len(metal))  # seeds.substitution: the other metals share these sites
        assert (metal != "Cr").sum() == n_sub and len(set(metal)) == 1 + min(8, n_sub)
        # carbon's nearest metal neighbours at carbide distances, no C-C contact
        d = sd.atoms.get_all_distances(mic=True)
        cc = d[np.ix_(c_sites, c_sites)][~np.eye(len(c_sites), dtype=bool)]
        assert cc.min() > 2.5


def test_gamma_prime_substitutes_on_both_sublattices():
    cfg = parse_config({"name": "t", "system": {"family": "HEA7"},
                        "seeds": {"phases": ["l12"], "scales": [1.0], "min_atoms": 100, "max_atoms": 120}})
    (sd,) = generate_seeds(cfg)
    syms = np.array(sd.atoms.get_chemical_symbols())
    a_sites, b_sites = (syms[phases.sublattice_indices(sd.atoms, k)] for k in "AB")
    assert len(b_sites) * 3 == len(a_sites) == 81
    assert set(b_sites) >= {"Al", "Ti", "Nb"} and np.isin(b_sites, ["Al", "Ti", "Nb"]).mean() == pytest.approx(0.8, abs=0.05)
    assert (a_sites == "Ni").mean() == pytest.approx(0.8, abs=0.02) and len(set(a_sites)) > 3
    assert sd.a == pytest.approx(3.6, abs=0.15)


def test_m23c6_without_carbon_is_a_config_error():
    cfg = parse_config({"name": "t", "system": {"family": "HEA5"}, "seeds": {"phases": ["m23c6"]}})
    with pytest.raises(ConfigError, match="needs carbon"):
        generate_seeds(cfg)


def test_grow_from_finds_a_launched_parent_by_its_name(tmp_path):
    from heal.campaign import Campaign

    Campaign.from_file(_camp_file(tmp_path, "p4", "HEA4", root=str(tmp_path / "runs" / "first")))
    child = _camp_file(tmp_path, "c5", "HEA5", root=str(tmp_path / "runs" / "second"), grow_from="p4")
    root, parent, exists = find_parent(load_config(child))
    assert (root, parent.name, exists) == ((tmp_path / "runs" / "first").resolve(), "p4", True)
