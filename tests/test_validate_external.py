"""The oracle's validation values through single-point label jobs (external DFT oracles, heal/validate/external.py).

Wiring: a labeler that checks every cell it is asked for (the smallest cells, at the scan's lattice constants
and at the fitted a0 under the fit's strains) and labels it with the real MEAM teacher. Its values must equal
those of the in-process oracle path (``heal.validate.runner``, the conventional cells, the same teacher) for
the same fit code. Real: GPAW on the 1-atom Ni cell at tiny settings, through heal's labeling stage and the
local executor.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from ase.build import bulk

from heal.campaign import Campaign
from heal.config import LabelSpec, parse_config
from heal.label.meam import MeamLabeler
from heal.validate import runner
from heal.validate.compare import rows
from heal.validate.external import is_external, oracle_values
from heal.validate.properties import signed_strains
from heal.validate.spec import ValidateSpec
from heal.validate.stage import _spec, stage_validate, validate_dir
from tiny_campaign import tiny_campaign

HEA4 = ["Ni", "Co", "Cr", "Al"]


def _shape(phase):
    """The smallest cell of `phase` at a = 1 Å."""
    if phase == "ni":
        return bulk("Ni", "fcc", a=1.0).cell.array
    return np.eye(3)


class CheckingMeam(MeamLabeler):
    """Labels with the MEAM teacher after recording what each cell is: phase, lattice constant, strain."""

    def __init__(self):
        super().__init__({})
        self.seen: list[tuple[str, float, int | None, float]] = []

    def compute(self, atoms):
        n = len(atoms)
        assert n in (1, 4), f"not a smallest cell: {n} atoms"
        phase = "ni" if n == 1 else "ni3al"
        assert atoms.get_chemical_formula() == ("Ni" if n == 1 else "AlNi3")
        # cell = a * shape @ (I + eps): read a and eps back
        m = np.linalg.solve(_shape(phase), atoms.cell.array)  # a (I + eps)
        a = m[1, 1] if abs(m[1, 1] - m[2, 2]) < 1e-9 else None
        assert a is not None, f"yy != zz: {m}"
        eps = m / a - np.eye(3)
        assert np.allclose(eps, eps.T, atol=1e-12)
        nz = [(i, j) for i in range(3) for j in range(i, 3) if abs(eps[i, j]) > 1e-12]
        assert nz in ([], [(0, 0)], [(1, 2)]), f"not a Voigt 1 or 4 strain: {eps}"
        voigt = None if not nz else 0 if nz == [(0, 0)] else 3
        e = 0.0 if voigt is None else eps[0, 0] if voigt == 0 else 2 * eps[1, 2]
        if n == 4:  # Al on the corner, Ni on the face centres, fractional coordinates kept
            frac = atoms.get_scaled_positions()
            assert np.allclose(frac[atoms.numbers == 13], 0.0, atol=1e-9)
        self.seen.append((phase, float(a), voigt, float(e)))
        return super().compute(atoms)


def test_oracle_values_from_label_jobs_on_the_smallest_cells_equal_the_in_process_path(tmp_path):
    vs = ValidateSpec(phases=["ni", "ni3al", "gamma"], properties=["lattice", "eos", "elastic", "md"],
                      strains=[0.005, 0.01])
    spec = {"side": "oracle", "oracle": "meam", "params": {}, "elements": HEA4, "composition": None,
            "type_map": HEA4, "d_min": 1.5, "validate": vs.model_dump(mode="json")}
    (tmp_path / "inproc").mkdir()
    ref = runner.run({**spec, "validate": {**spec["validate"], "phases": ["ni", "ni3al"],
                                           "properties": ["lattice", "eos", "elastic"]}}, tmp_path / "inproc")
    lab = CheckingMeam()
    res = oracle_values({**spec, "oracle": "gpaw"}, tmp_path / "ext", LabelSpec(oracle="meam"), None, labeler=lab)
    assert (tmp_path / "ext" / "results.json").is_file()
    for phase in ("ni", "ni3al"):
        o, r = res["phases"][phase], ref["phases"][phase]
        # one fit code, the same teacher, per-atom energies and stresses of one crystal: equal to ~1e-9
        assert o["lattice"] == pytest.approx(r["lattice"], abs=1e-8)
        assert o["bulk_modulus"] == pytest.approx(r["bulk_modulus"], rel=1e-6)
        for c in ("c11", "c12", "c44"):
            assert o[c] == pytest.approx(r[c], rel=1e-6), (phase, c)
        assert o["eos"]["a"] == pytest.approx(r["eos"]["a"], abs=1e-9)
        assert o["eos"]["energy_per_atom"] == pytest.approx(r["eos"]["energy_per_atom"], abs=1e-6)
        assert o["max_force"] < 1e-6  # inversion centres: the single points need no ionic relaxation
        # the cells labeled: the scan's lattice constants unstrained, then the fit's strains at the fitted a0
        seen = [s for s in lab.seen if s[0] == phase]
        scan = sorted(a for _, a, v, _ in seen if v is None)  # the fine scan's centre is the coarse minimum
        assert scan == pytest.approx(sorted({round(a, 9) for a in r["eos"]["a"]}), abs=1e-8)
        strained = sorted((v, round(e, 9)) for _, a, v, e in seen if v is not None)
        assert strained == sorted((v, round(e, 9)) for v in (0, 3) for e in signed_strains([0.005, 0.01]))
        assert {round(a, 9) for _, a, v, _ in seen if v is not None} == {round(o["lattice"], 9)}
    assert res["single_points"] == len(lab.seen) == 2 * (13 + 8)
    # γ and the MD property: notes naming why, never values
    assert "gamma" not in res["phases"] and "random solution" in res["notes"]["gamma"]
    assert "DFT molecular dynamics is out of validation's scope" in res["notes"]["ni3al"]
    # a second run finds every frame labeled: the oracle is not called again
    lab2 = CheckingMeam()
    again = oracle_values({**spec, "oracle": "gpaw"}, tmp_path / "ext", LabelSpec(oracle="meam"), None, labeler=lab2)
    assert lab2.seen == [] and again["phases"]["ni"]["c44"] == res["phases"]["ni"]["c44"]
    by = {(r["phase"], r["property"]): r for r in rows({"phases": {"ni": {"lattice": 3.5}}, "notes": {}}, res)}
    assert by[("ni", "lattice")]["oracle"] == res["phases"]["ni"]["lattice"]


def test_which_oracles_compute_in_external_jobs():
    assert is_external("gpaw") and is_external("vasp") and not is_external("meam")


@pytest.mark.engine
def test_gpaw_oracle_values_of_the_one_atom_ni_cell_through_the_validate_stage_and_its_cache(tmp_path):
    """Real GPAW (PBE, 300 eV, 4x4x4 k, 0.2 eV smearing: tiny settings, ~50 s on 2 loaded cores): the validate
    stage of a campaign whose ``validate.oracle`` is GPAW sends 13 E-V points and 4 strained cells of 1 atom
    through heal's labeling stage (local executor) and caches them. The model side is already done (results.json
    in place, computed by the in-process MEAM path), so only the oracle runs."""
    params = {"ecut": 300, "kpts": [4, 4, 4], "smearing": 0.2}
    path = tiny_campaign(tmp_path, "dft", validate={"phases": ["ni"], "properties": ["lattice", "elastic"],
                                                    "strains": [0.01], "spread": False, "oracle": "gpaw",
                                                    "oracle_params": params})
    camp = Campaign.create(parse_config(yaml.safe_load(path.read_text()), path))
    for it in (0, 1):
        mdir = validate_dir(camp, it) / "model"
        mdir.mkdir(parents=True)
        runner.run({**_spec(camp, "oracle"), "oracle": "meam", "params": {}}, mdir)  # MEAM's values stand in
    out = stage_validate(camp, 0, [])
    odir = Path(out["oracle_dir"])
    res = json.loads((odir / "results.json").read_text())
    ni = res["phases"]["ni"]
    assert res["oracle"] == "gpaw" and res["single_points"] == 17
    assert len(list((odir / "label").glob("*/oracle/gpaw.txt"))) == 17
    # PBE Ni: a0 3.52-3.54 Å; the thesis's reference C11 / C12 / C44 276 / 159 / 132 GPa
    assert 3.48 < ni["lattice"] < 3.58
    assert ni["c11"] == pytest.approx(276.0, rel=0.2) and ni["c12"] == pytest.approx(159.0, rel=0.2)
    assert ni["c44"] == pytest.approx(132.0, rel=0.2)
    # two independent fits of one crystal: the E-V curvature and the stress-strain slopes
    assert ni["bulk_modulus"] == pytest.approx((ni["c11"] + 2 * ni["c12"]) / 3, rel=0.05)
    by = {(r["phase"], r["property"]): r for r in out["rows"]}
    assert by[("ni", "c11")]["oracle"] == ni["c11"] and by[("ni", "c11")]["thesis"] == 276.0
    assert by[("ni", "lattice")]["rel_error"] == pytest.approx((by[("ni", "lattice")]["model"] - ni["lattice"])
                                                               / ni["lattice"])
    # the next iteration reuses the cached oracle values: no GPAW run
    again = stage_validate(camp, 1, [])
    assert again["oracle_cached"] is True and again["oracle_seconds"] == out["oracle_seconds"]


def test_a_cell_the_labeling_stage_rejects_is_a_note_of_its_phase_and_the_other_phase_keeps_its_values(tmp_path):
    vs = ValidateSpec(phases=["ni", "ni3al"], properties=["lattice"])
    spec = {"side": "oracle", "oracle": "gpaw", "params": {}, "elements": HEA4, "composition": None,
            "d_min": 1.5, "validate": vs.model_dump(mode="json")}
    # Ni3Al's shortest distance (a/√2 ≈ 2.4-2.7 Å over the scan) is below this d_min: rejected before any label
    res = oracle_values(spec, tmp_path, LabelSpec(oracle="meam", d_min=2.8), None, labeler=CheckingMeam())
    assert set(res["phases"]) == {"ni"} and 3.4 < res["phases"]["ni"]["lattice"] < 3.6
    note = res["notes"]["ni3al"]
    assert note.startswith("ni3al: no oracle values: the oracle rejected 7 validation cell(s)") and "d_min" in note
