"""Validation verdicts on plain data: the side-by-side rows, the tolerances, and the plan's convergence gate."""

from __future__ import annotations

import pytest

from heal.config import LoopSpec
from heal.plan import IterationSummary, decide
from heal.validate.compare import rows, verdict
from heal.validate.report import flat_rows, html_table
from heal.validate.spec import ValidateTolerance

ORACLE = {"phases": {"ni": {"lattice": 3.52, "c11": 260.0, "c12": 150.0, "c44": 130.0},
                     "gamma": {"lattice": 3.60, "md": {"300": {"stable": True, "d_min": 2.2, "rdf_g": [0, 1, 2, 1]}}}},
          "notes": {"cr23c6": "cr23c6: skipped, the campaign's elements Ni Co Cr Al lack C"}}


def _model(a=3.53, c11=270.0, stable=True, g=(0, 1, 2, 1)):
    return {"phases": {"ni": {"lattice": a, "lattice_members": [a, a + 0.01], "c11": c11, "c12": 150.0,
                              "c44": 130.0},
                       "gamma": {"lattice": 3.61, "lattice_300k": 3.58,
                                 "md": {"300": {"stable": stable, "d_min": 2.1 if stable else 1.2,
                                                "energy_drift": 0.01, "rdf_g": list(g),
                                                "reasons": [] if stable else ["shortest distance 1.20 Å < 1.5 Å"]}}}},
            "notes": {}}


def test_rows_give_model_oracle_thesis_relative_error_spread_and_notes():
    table = rows(_model(), ORACLE, ValidateTolerance())
    by = {(r["phase"], r["property"]): r for r in table}
    a = by[("ni", "lattice")]
    assert (a["model"], a["oracle"], a["thesis"]) == (3.53, 3.52, 3.52)
    assert a["rel_error"] == pytest.approx(0.01 / 3.52)
    assert a["spread"] == pytest.approx(0.01) and a["ok"] is True
    c11 = by[("ni", "c11")]
    assert c11["thesis"] == 276.0 and c11["rel_error"] == pytest.approx(10 / 260) and c11["ok"] is True
    # no oracle value at 300 K: the thesis's HEA4 range is the reference
    a300 = by[("gamma", "lattice_300k")]
    assert a300["oracle"] is None and a300["rel_error"] == pytest.approx((3.58 - 3.57) / 3.57)
    # with the oracle's own 300 K value, the model is measured against it; the thesis stays the third column
    with300 = {**ORACLE, "phases": {**ORACLE["phases"], "gamma": {**ORACLE["phases"]["gamma"], "lattice_300k": 3.60}}}
    a300 = {(r["phase"], r["property"]): r for r in rows(_model(), with300)}[("gamma", "lattice_300k")]
    assert (a300["model"], a300["oracle"], a300["thesis"]) == (3.58, 3.60, 3.57)
    assert a300["rel_error"] == pytest.approx(-0.02 / 3.60)
    md = by[("gamma", "md 300 K")]
    assert md["stable"] and md["rdf_distance"] == 0.0 and md["ok"] is True
    assert "lack C" in by[("cr23c6", "note")]["model"]
    assert verdict(table) is True


@pytest.mark.parametrize("change, field", [({"a": 3.60}, ("ni", "lattice")), ({"c11": 320.0}, ("ni", "c11")),
                                           ({"stable": False}, ("gamma", "md 300 K"))])
def test_one_property_out_of_tolerance_fails_the_verdict(change, field):
    table = rows(_model(**change), ORACLE, ValidateTolerance())
    assert {(r["phase"], r["property"]): r for r in table}[field]["ok"] is False
    assert verdict(table) is False


def test_rdf_tolerance_and_no_tolerance_at_all():
    far = _model(g=(0, 3, 0, 3))
    assert verdict(rows(far, ORACLE, ValidateTolerance(rdf=0.1))) is False
    assert verdict(rows(far, ORACLE, ValidateTolerance())) is True
    assert verdict(rows(_model(), ORACLE, None)) is None


def _h(it, validated):
    return IterationSummary(iteration=it, stage=0, accurate=99, candidate=1, failed=0, labeled=1,
                            validated=validated)


def test_tolerances_gate_convergence_only_when_set():
    plain = LoopSpec(max_iterations=10, accurate_target=0.95, converged_iterations=2)
    gated = LoopSpec(max_iterations=10, accurate_target=0.95, converged_iterations=2, validate={})
    hist = [_h(0, None), _h(1, False)]
    assert decide(hist, plain, n_stages=1).converged
    dec = decide(hist, gated, n_stages=1)
    assert not dec.stop and "validation does not hold" in dec.reason
    assert not decide([_h(0, True), _h(1, None)], gated, n_stages=1).stop  # not validated: not converged
    dec = decide([_h(0, False), _h(1, True)], gated, n_stages=1)
    assert dec.stop and dec.converged


def test_status_rows_and_html_show_every_column_escaped():
    st = {"iterations": [{"iteration": 2, "validation": {"ok": False, "rows": rows(_model(c11=320.0), ORACLE,
                                                                                    ValidateTolerance())}}]}
    flat = flat_rows(st)
    ni_c11 = next(r for r in flat if r[1] == "ni" and r[2] == "c11")
    assert ni_c11 == ("2", "ni", "c11", "320 GPa", "260 GPa", "276 GPa", "+23.1%", "-", "NO")
    page = html_table(st)
    assert "<th>thesis</th>" in page and "Ni Co Cr Al lack C" in page
    assert html_table({"iterations": [{"iteration": 0}]}) == ""


def test_validate_needs_an_engine_whose_models_run_in_lammps_and_tolerances_need_the_section():
    from heal.config import parse_config
    from heal.errors import ConfigError

    with pytest.raises(ConfigError, match=r"validate: .*'mtp' engine.* train.engine: deepmd"):
        parse_config({"name": "t", "system": {"family": "HEA4"}, "train": {"engine": "mtp"}, "validate": {}})
    with pytest.raises(ConfigError, match="no 'validate:' section"):
        parse_config({"name": "t", "system": {"family": "HEA4"}, "loop": {"validate": {}}})
    assert parse_config({"name": "t", "system": {"family": "HEA4"}, "validate": {}}).validation is not None


def test_console_table_puts_the_iterations_side_by_side_with_the_last_verdict():
    from rich.console import Console

    from heal.validate.report import rich_table

    st = {"iterations": [
        {"iteration": 0, "validation": {"rows": rows(_model(c11=320.0, stable=False), ORACLE, ValidateTolerance())}},
        {"iteration": 1},  # not validated (yet): no column
        {"iteration": 2, "validation": {"rows": rows(_model(c11=265.0), ORACLE, ValidateTolerance())}}]}
    con = Console(record=True, width=220)
    con.print(rich_table(st))
    text = con.export_text()
    head = next(line for line in text.splitlines() if "property" in line)
    assert "it0" in head and "it2" in head and "it1" not in head
    c11 = next(line for line in text.splitlines() if "c11 (GPa)" in line)
    cells = [c.strip() for c in c11.split("│")[1:-1]]
    assert cells == ["ni", "c11 (GPa)", "320", "265", "260", "276", "+1.9%", "yes"]
    md = next(line for line in text.splitlines() if "md 300 K" in line)
    assert "UNSTABLE (RDF 0.00)" in md and "stable (RDF 0.00)" in md
    assert "note: cr23c6: skipped" in text
    # only the latest `last` iterations get a column
    con = Console(record=True, width=220)
    con.print(rich_table(st, last=1))
    head = next(line for line in con.export_text().splitlines() if "property" in line)
    assert "it2" in head and "it0" not in head
    assert rich_table({"iterations": [{"iteration": 0}]}) is None


def test_console_table_keeps_an_error_short_and_its_message_in_a_note():
    from rich.console import Console

    from heal.validate.report import rich_table

    model = _model()
    model["phases"]["ni3al"] = {"error": "AlNi3: no energy minimum between 3.154 and 3.557 Å"}
    st = {"iterations": [{"iteration": 0, "validation": {"rows": rows(model, ORACLE, ValidateTolerance())}},
                         {"iteration": 1, "validation": {"rows": rows(_model(), ORACLE, ValidateTolerance())}}]}
    con = Console(record=True, width=220)
    con.print(rich_table(st))
    text = con.export_text()
    err = next(line for line in text.splitlines() if "ni3al" in line and "error" in line)
    assert [c.strip() for c in err.split("│")[1:-1]][:4] == ["ni3al", "error", "ERROR (note)", "-"]
    assert "note: it0 ni3al: AlNi3: no energy minimum between 3.154 and 3.557 Å" in text
