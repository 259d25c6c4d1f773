"""Model vs oracle vs thesis: the validation rows of one iteration and the tolerance verdict.

A row: ``{"phase", "property", "unit", "model", "oracle", "thesis", "rel_error", "spread", "ok"}`` where
``rel_error = (model - oracle) / oracle`` (the oracle is what the model learns; where the oracle has no
300 K lattice constant, e.g. an external DFT oracle, that row is against the thesis) and ``ok`` is the
tolerance check (None when no tolerance applies). Stability rows carry the stability record's text in
``model`` / ``oracle``.
"""

from __future__ import annotations

from heal.validate.structures import THESIS

#: property -> (unit, tolerance field of ValidateTolerance)
QUANTITIES = {"lattice": ("Å", "lattice"), "c11": ("GPa", "elastic"), "c12": ("GPa", "elastic"),
              "c44": ("GPa", "elastic"), "bulk_modulus": ("GPa", None), "lattice_300k": ("Å", "lattice")}


def _rel(model, ref) -> float | None:
    if model is None or ref is None or ref == 0:
        return None
    return (model - ref) / abs(ref)


def rows(model: dict, oracle: dict | None, tol=None) -> list[dict]:
    """Validation rows from the two sides' ``results.json`` (`oracle` None: not computed); `tol` is the
    campaign's ``loop.validate`` (None: no verdicts)."""
    out = []
    ophases = (oracle or {}).get("phases", {})
    mphases = model.get("phases", {})
    for phase in list(mphases) + [p for p in ophases if p not in mphases]:
        mv, ov = mphases.get(phase, {}), ophases.get(phase, {})
        th = THESIS.get(phase, {})
        if mv.get("error"):
            out.append({"phase": phase, "property": "error", "unit": "", "model": mv["error"], "oracle": None,
                        "thesis": None, "rel_error": None, "spread": None,
                        "ok": False if tol is not None else None})
        for prop, (unit, tkey) in QUANTITIES.items():
            m, o = mv.get(prop), ov.get(prop)
            if m is None and o is None:
                continue
            t = th.get("a" if prop == "lattice" else "a_300k" if prop == "lattice_300k" else prop)
            ref = o if o is not None else (t if prop == "lattice_300k" else None)
            rel = _rel(m, ref)
            limit = getattr(tol, tkey) if tol is not None and tkey else None
            spread = None
            members = [x for x in mv.get("lattice_members", []) if x is not None]
            if prop == "lattice" and len(members) > 1:
                spread = max(members) - min(members)
            out.append({"phase": phase, "property": prop, "unit": unit, "model": m, "oracle": o, "thesis": t,
                        "rel_error": rel, "spread": spread,
                        "ok": None if limit is None or rel is None else abs(rel) <= limit})
        for temp, run in (mv.get("md") or {}).items():
            oref = (ov.get("md") or {}).get(temp)
            dist = None
            if oref and run.get("rdf_g") and oref.get("rdf_g"):
                from heal.validate.md import rdf_distance

                dist = rdf_distance(run["rdf_g"], oref["rdf_g"])
            ok = None
            if tol is not None:
                ok = (run["stable"] or not tol.stable) and (tol.rdf is None or (dist is not None and dist <= tol.rdf))
            out.append({"phase": phase, "property": f"md {temp} K", "unit": "",
                        "model": _md_text(run), "oracle": _md_text(oref) if oref else None, "thesis": None,
                        "rel_error": None, "rdf_distance": dist, "stable": run["stable"],
                        "reasons": run.get("reasons", []), "spread": None, "ok": ok})
    for phase, note in {**(oracle or {}).get("notes", {}), **model.get("notes", {})}.items():
        out.append({"phase": phase, "property": "note", "unit": "", "model": note, "oracle": None, "thesis": None,
                    "rel_error": None, "spread": None, "ok": None})
    return out


def _md_text(run: dict) -> str:
    drift = run.get("energy_drift")
    return (("stable" if run["stable"] else "UNSTABLE: " + "; ".join(run.get("reasons", [])))
            + f", d_min {run['d_min']:.2f} Å" + (f", drift {drift:.3g} eV/atom/ps" if drift is not None else ""))


def verdict(table: list[dict]) -> bool | None:
    """True when every row with a tolerance holds, False if one fails, None if no row has a tolerance."""
    checked = [r["ok"] for r in table if r.get("ok") is not None]
    return all(checked) if checked else None
