"""The validation rows of a campaign status (``heal status``, ``/heal``): model, oracle, thesis, relative error.

Input: the status document of :func:`heal.report.status.campaign_status`, whose iteration rows carry
``validation`` (``{"ok", "rows", "seconds"}`` from :func:`heal.validate.stage.validation_rows`) when the
campaign has a ``validate:`` section.
"""

from __future__ import annotations

import html

COLUMNS = ("iteration", "phase", "property", "model", "oracle", "thesis", "rel. error", "spread", "ok")


def _num(x, unit: str = "") -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        return f"{x:.4g}" + (f" {unit}" if unit else "")
    return str(x)


def flat_rows(st: dict) -> list[tuple[str, ...]]:
    """One tuple of strings per (iteration, validation row), in :data:`COLUMNS` order."""
    out = []
    for it in st.get("iterations", []):
        val = it.get("validation") or {}
        for r in val.get("rows", []):
            rel = r.get("rel_error")
            extra = f" (RDF distance {r['rdf_distance']:.3f})" if r.get("rdf_distance") is not None else ""
            unit = r.get("unit", "")
            out.append((str(it["iteration"]), r["phase"], r["property"], _num(r.get("model"), unit) + extra,
                        _num(r.get("oracle"), r.get("unit", "")), _num(r.get("thesis"), r.get("unit", "")),
                        "-" if rel is None else f"{rel:+.1%}", _num(r.get("spread")),
                        {True: "yes", False: "NO", None: ""}[r.get("ok")]))
    return out


def _cell(r: dict) -> str:
    """A model value for the per-iteration columns: the number, or the MD verdict in a word."""
    if r["property"] == "error":
        return "ERROR (note)"
    if "stable" in r:
        word = "stable" if r["stable"] else "UNSTABLE"
        return word + (f" (RDF {r['rdf_distance']:.2f})" if r.get("rdf_distance") is not None else "")
    return _num(r.get("model"))


def by_property(st: dict, last: int | None = None) -> tuple[list[int], list[dict], list[str]]:
    """The validation pivoted: (validated iterations, one row per (phase, property), notes).

    A row: ``phase``, ``property``, ``unit``, ``cells`` (the model's value per iteration, text), ``rel_errors``
    (per iteration, None where none), ``oracle`` and ``thesis`` (text) and the latest iteration's ``rel_error``
    (text) and ``ok``. `last`: only the latest `last` validated iterations.
    """
    its = [it for it in st.get("iterations", []) if (it.get("validation") or {}).get("rows")]
    if last:
        its = its[-last:]
    keys: dict[tuple[str, str], dict] = {}
    notes: dict[str, str] = {}
    for it in its:
        for r in it["validation"]["rows"]:
            if r["property"] == "note":
                notes[r["phase"]] = r["model"]
            else:
                if r["property"] == "error":  # the message is long: a note under the table
                    notes[f"{it['iteration']} {r['phase']}"] = f"it{it['iteration']} {r['phase']}: {r['model']}"
                keys.setdefault((r["phase"], r["property"]), {})[it["iteration"]] = r
    numbers = [it["iteration"] for it in its]
    out = []
    for (phase, prop), by_it in keys.items():
        latest = by_it.get(numbers[-1])
        r = latest or next(reversed(by_it.values()))
        if "stable" in r:
            oracle = ("stable" if str(r.get("oracle")).startswith("stable") else "UNSTABLE") if r.get("oracle") \
                else "-"
        else:
            oracle = _num(r.get("oracle"))
        rel = (latest or {}).get("rel_error")
        out.append({"phase": phase, "property": prop, "unit": r.get("unit", ""),
                    "cells": [_cell(by_it[n]) if n in by_it else "-" for n in numbers],
                    "rel_errors": [by_it[n].get("rel_error") if n in by_it else None for n in numbers],
                    "oracle": oracle, "thesis": _num(r.get("thesis")),
                    "rel_error": "-" if rel is None else f"{rel:+.1%}",
                    "ok": {True: "yes", False: "NO", None: ""}[(latest or {}).get("ok")]})
    return numbers, out, list(notes.values())


def rich_table(st: dict, last: int = 6):
    """The console's validation table, or None when no iteration was validated.

    One row per (phase, property), one column per validated iteration (the `last` latest), then the oracle, the
    thesis and the latest iteration's relative error and verdict: the properties converge left to right. Notes
    (a phase skipped for the campaign's elements) follow as lines. ``flat_rows`` keeps every field for the pages.
    """
    numbers, table, notes = by_property(st, last)
    if not numbers:
        return None
    from rich.console import Group
    from rich.table import Table

    t = Table(title="validation: the model per iteration, the oracle, the thesis "
                    "(rel. error of the last iteration against the oracle)")
    for c in ["phase", "property"] + [f"it{n}" for n in numbers] + ["oracle", "thesis", "rel. error", "ok"]:
        t.add_column(c, justify="left" if c in ("phase", "property") else "right")
    for r in table:
        t.add_row(r["phase"], r["property"] + (f" ({r['unit']})" if r["unit"] else ""), *r["cells"],
                  r["oracle"], r["thesis"], r["rel_error"], r["ok"])
    return Group(t, *[f"  note: {n}" for n in notes]) if notes else t


def html_table(st: dict) -> str:
    """The validation rows as an escaped HTML table ('' when no iteration was validated)."""
    rows = flat_rows(st)
    if not rows:
        return ""
    e = html.escape
    head = "".join(f"<th>{e(c)}</th>" for c in COLUMNS)
    body = "\n".join("<tr>" + "".join(f"<td>{e(c)}</td>" for c in r) + "</tr>" for r in rows)
    return (f"<h2>Validation</h2><table class='validation'><thead><tr>{head}</tr></thead>"
            f"<tbody>\n{body}\n</tbody></table>")
