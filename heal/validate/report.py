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


def rich_table(st: dict):
    """A rich Table of the validation rows, or None when no iteration was validated."""
    rows = flat_rows(st)
    if not rows:
        return None
    from rich.table import Table

    t = Table(title="validation: model vs oracle vs thesis (rel. error against the oracle)")
    for c in COLUMNS:
        t.add_column(c, justify="left" if c in ("phase", "property", "model", "oracle") else "right")
    for r in rows:
        t.add_row(*r)
    return t


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
