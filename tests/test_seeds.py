"""Unit tests of the HEA seed set (heal.systems, heal.sqs, `heal seeds`): real structures, no fakes.

Counts are checked against an independent largest-remainder computation, volumes against Vegard's law
recomputed from ase.data.reference_states, SQS quality against icet's random-alloy cluster vector.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from ase.data import atomic_numbers, reference_states
from typer.testing import CliRunner

from heal.cli import app
from heal.config import load_config, parse_config
from heal.errors import ConfigError
from heal.frames import min_distance
from heal.sqs import sqs_mismatch
from heal.composition import REFERENCE_STATES, nn_distance
from heal.systems import MELT_DMIN_FRACTION, generate_seeds, read_seed_set, write_seed_set

WORKFLOWS = Path(__file__).resolve().parents[1] / "workflows"
PHASES = {"fcc", "bcc", "hcp", "melt"}
NI_RICH = {"Ni": 0.6, "Co": 0.1, "Cr": 0.1, "Al": 0.1, "Ti": 0.1}


def _cfg(composition: dict[str, float], **seeds):
    return parse_config({"name": "t", "system": {"elements": list(composition), "composition": composition},
                         "seeds": seeds})


def _counts(atoms) -> dict[str, int]:
    sym = atoms.get_chemical_symbols()
    return {el: sym.count(el) for el in set(sym)}


def _largest_remainder(fracs: dict[str, float], n: int) -> dict[str, int]:
    """Independent reference: floor, then +1 to the largest remainders (ties: listed order)."""
    base = {el: math.floor(x * n + 1e-9) for el, x in fracs.items()}
    rem = sorted(fracs, key=lambda el: (-round(fracs[el] * n - base[el], 9), list(fracs).index(el)))
    for el in rem[: n - sum(base.values())]:
        base[el] += 1
    return {el: c for el, c in base.items() if c}


@pytest.fixture(scope="module", params=["hea4", "hea10"])
def campaign(request):
    cfg = load_config(WORKFLOWS / f"{request.param}.yaml")
    assert cfg.seeds.decoration == "sqs"
    return cfg, generate_seeds(cfg)


def _solid_solutions(seeds):
    """The random solid-solution and melt seeds (the ordered phases are tested in test_grow_config.py)."""
    return [s for s in seeds if s.phase in PHASES]


def test_all_phases_and_scales_present(campaign):
    cfg, seeds = campaign
    assert {s.phase for s in seeds} == set(cfg.seeds.phases) >= PHASES | {"l12"}
    assert len(seeds) == len(cfg.seeds.phases) * len(cfg.seeds.scales)
    assert len({s.name for s in seeds}) == len(seeds)
    for s in seeds:
        assert s.atoms.info["phase"] == s.phase and s.atoms.info["scale"] == s.scale


def test_counts_exact_and_sizes_in_range(campaign):
    cfg, seeds = campaign
    # carbon sits only on carbide sites: the solid solutions take the metals, renormalised
    metals = {el: x for el, x in cfg.system.composition.items() if el != "C"}
    metals = {el: x / sum(metals.values()) for el, x in metals.items()}
    for s in seeds:
        assert 50 <= len(s.atoms) <= 120, s.name
    for s in _solid_solutions(seeds):
        n = len(s.atoms)
        want = _largest_remainder(metals, n)
        assert _counts(s.atoms) == want, s.name
        assert s.composition == "".join(f"{el}{want[el]}" for el in cfg.system.elements if el in want)
    fcc = next(s for s in seeds if s.phase == "fcc")
    assert len(fcc.atoms) == 108  # thesis: large cells >= 108 atoms, FCC 3x3x3
    if cfg.system.family == "HEA10":  # every metal in every solid solution, carbon in none
        assert fcc.composition == "Ni12Co12Cr12Al12Fe12Ti12Nb12Mo12W12"
        assert all(set(_counts(s.atoms)) == set(metals) for s in _solid_solutions(seeds))
    else:
        assert fcc.composition == "Ni27Co27Cr27Al27"


def test_min_distances_are_sane(campaign):
    _, seeds = campaign
    for s in seeds:
        assert min_distance(s.atoms) > 1.5, s.name
    for s in _solid_solutions(seeds):
        d = min_distance(s.atoms)
        if s.phase == "melt":
            assert d >= MELT_DMIN_FRACTION * nn_distance("fcc", s.a) - 1e-9, s.name
        else:
            assert d > 1.5, s.name
            assert d == pytest.approx(nn_distance(s.phase, s.a), rel=1e-9), s.name


def test_scale_multiplies_lattice_constant_and_volume_by_cube(campaign):
    _, seeds = campaign
    ref = {s.phase: s for s in seeds if s.scale == 1.0}
    for s in seeds:
        r = ref[s.phase]
        assert s.atoms.get_volume() / r.atoms.get_volume() == pytest.approx(s.scale**3, rel=1e-12)
        assert s.a == pytest.approx(r.a * s.scale, rel=1e-12)
        assert s.atoms.get_chemical_symbols() == r.atoms.get_chemical_symbols()


def _ref_volume(el: str) -> float:
    ref = reference_states[atomic_numbers[el]]
    a = ref["a"]
    return {"fcc": a**3 / 4, "bcc": a**3 / 2, "diamond": a**3 / 8,
            "hcp": math.sqrt(3) / 4 * a**3 * ref.get("c/a", 0)}[ref["symmetry"]]


def test_vegard_volume_from_reference_states(campaign):
    _, seeds = campaign
    for el, (structure, a, coa) in REFERENCE_STATES.items():
        ref = reference_states[atomic_numbers[el]]
        assert (structure, a, coa) == (ref["symmetry"], ref["a"], ref.get("c/a"))
    for s in _solid_solutions(seeds):
        if s.scale != 1.0:
            continue
        c = _counts(s.atoms)
        v = sum(n * _ref_volume(el) for el, n in c.items()) / len(s.atoms)
        assert s.atoms.get_volume() / len(s.atoms) == pytest.approx(v, rel=1e-9), s.name


def test_same_config_gives_byte_identical_files(tmp_path):
    cfg = _cfg(NI_RICH, decoration="sqs", phases=["hcp", "melt"], scales=[0.95, 1.2], seed=7)
    a = write_seed_set(generate_seeds(cfg), tmp_path / "a")
    b = write_seed_set(generate_seeds(cfg), tmp_path / "b")
    for f in ("seeds.extxyz", "summary.tsv"):
        assert (a / f).read_bytes() == (b / f).read_bytes()


def test_seed_changes_decoration_and_replicas_differ():
    s0 = generate_seeds(_cfg(NI_RICH, phases=["fcc"], scales=[1.0], replicas=2, seed=0))
    s1 = generate_seeds(_cfg(NI_RICH, phases=["fcc"], scales=[1.0], replicas=2, seed=1))
    syms = [s.atoms.get_chemical_symbols() for s in s0 + s1]
    assert len({tuple(x) for x in syms}) == 4
    assert [s.name for s in s0] == ["fcc_s1.000_r0", "fcc_s1.000_r1"]


def test_ni_rich_composition_gets_exact_counts():
    seeds = generate_seeds(_cfg(NI_RICH, seed=3))
    assert {s.phase for s in seeds} == PHASES
    fcc = next(s for s in seeds if s.phase == "fcc")
    # 108 x (0.6, 0.1 x 4) = 64.8, 10.8 x 4 -> floors 64 + 4 x 10 = 104; 4 left, equal remainders: type-map order
    assert _counts(fcc.atoms) == {"Ni": 65, "Co": 11, "Cr": 11, "Al": 11, "Ti": 10}
    for s in seeds:
        assert _counts(s.atoms) == _largest_remainder(NI_RICH, len(s.atoms)), s.name


def test_sqs_differs_from_random_and_is_closer_to_the_random_alloy():
    kw = dict(phases=["fcc", "melt"], scales=[1.0], seed=0)
    sqs = generate_seeds(_cfg(NI_RICH, decoration="sqs", **kw))
    rnd = generate_seeds(_cfg(NI_RICH, decoration="random", **kw))
    q, r = sqs[0].atoms, rnd[0].atoms
    assert q.get_chemical_symbols() != r.get_chemical_symbols()
    assert _counts(q) == _counts(r) == _largest_remainder(NI_RICH, 108)
    nn = nn_distance("fcc", sqs[0].a)
    assert sqs_mismatch(q, nn) < 0.5 * sqs_mismatch(r, nn)
    # melt cells are always decorated at random, whatever seeds.decoration says
    assert sqs[1].atoms.get_chemical_symbols() == rnd[1].atoms.get_chemical_symbols()


def test_write_and_read_round_trip(tmp_path):
    seeds = generate_seeds(_cfg(NI_RICH, scales=[0.95, 1.2], replicas=2))
    out = write_seed_set(seeds, tmp_path / "set")
    back = read_seed_set(out)
    assert [(s.name, s.phase, s.scale, s.replica) for s in back] == \
        [(s.name, s.phase, s.scale, s.replica) for s in seeds]
    for a, b in zip(seeds, back):
        assert a.atoms.get_chemical_symbols() == b.atoms.get_chemical_symbols()
        np.testing.assert_allclose(a.atoms.positions, b.atoms.positions, atol=1e-8)
        np.testing.assert_allclose(a.atoms.cell.array, b.atoms.cell.array, atol=1e-8)
        assert b.a == pytest.approx(a.a)
    rows = (out / "summary.tsv").read_text(encoding="utf-8").splitlines()
    assert rows[0].split("\t") == ["name", "phase", "atoms", "composition", "scale", "a (Å)", "d_min (Å)"]
    assert len(rows) == 1 + len(seeds)
    first = rows[1].split("\t")
    assert first[:5] == ["fcc_s0.950_r0", "fcc", "108", "Ni65Co11Cr11Al11Ti10", "0.950"]
    assert float(first[6]) == pytest.approx(min_distance(seeds[0].atoms), abs=1e-4)


def test_no_cell_in_range_is_a_config_error():
    cfg = _cfg(NI_RICH, phases=["fcc"], min_atoms=110, max_atoms=111)
    with pytest.raises(ConfigError, match=r"seeds\.min_atoms/max_atoms") as exc:
        generate_seeds(cfg)
    assert "108" in str(exc.value) and "fcc" in str(exc.value)


def _write_yaml(path: Path, seeds: str) -> Path:
    path.write_text("name: cli-test\nsystem:\n  family: HEA4\nseeds:\n" + seeds)
    return path


def test_cli_seeds_writes_files(tmp_path):
    cfg = _write_yaml(tmp_path / "c.yaml", "  decoration: random\n  scales: [1.0, 1.1]\n")
    res = CliRunner().invoke(app, ["seeds", str(cfg), "--out", str(tmp_path / "out")])
    assert res.exit_code == 0, res.output
    assert "fcc_s1.000_r0" in res.output and "Ni27Co27Cr27Al27" in res.output
    assert len(read_seed_set(tmp_path / "out")) == 8
    assert (tmp_path / "out" / "summary.tsv").is_file()


def test_cli_seeds_bad_range_exits_2(tmp_path):
    cfg = _write_yaml(tmp_path / "c.yaml", "  phases: [bcc]\n  min_atoms: 55\n  max_atoms: 60\n")
    res = CliRunner().invoke(app, ["seeds", str(cfg), "--out", str(tmp_path / "out")])
    assert res.exit_code == 2
    assert "seeds.min_atoms/max_atoms" in res.output and "bcc" in res.output
    assert not (tmp_path / "out").exists()
