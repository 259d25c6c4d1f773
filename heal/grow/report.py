"""``heal status`` lines of a grown campaign: its lineage and the forgetting guard per ancestor family."""

from __future__ import annotations


def lineage_line(st: dict) -> str | None:
    lin = st.get("lineage")
    if not lin:
        return None
    chain = [a["name"] + (f" ({a['family']})" if a.get("family") else "") for a in reversed(lin.get("ancestors", []))]
    imp = lin.get("imported") or {}
    got = (f"; imported {imp.get('train_frames', 0)} + {imp.get('test_frames', 0)} held-out frames"
           if imp else "")
    return f"lineage: {' -> '.join(chain + [st['campaign']])} (parent {lin.get('parent')}){got}"


def forgetting_lines(st: dict) -> list[str]:
    """One line per ancestor family for the last iteration with a forgetting check, then the earlier
    iterations where the guard tripped (their whole numbers are in ``status --json``)."""
    checked = [r["forgetting"] for r in st.get("iterations", []) if r.get("forgetting")]
    if not checked:
        return []
    fg = checked[-1]
    out = [f"forgetting guard (iteration {fg['iteration']}, limit +{fg['max_forgetting']:.0%} of the force RMSE):"]
    for name, f in fg["families"].items():
        before = "-" if f.get("before_rmse_f") is None else f"{f['before_rmse_f']:.4f}"
        rise = "-" if f.get("rise") is None else f"{f['rise']:+.1%}"
        flag = "  EXCEEDED" if name in fg["exceeded"] else ""
        e0 = f.get("before_rmse_e_per_atom")
        e_before = "-" if e0 is None else f"{1000 * e0:.1f}"
        out.append(f"  {name}: force RMSE {before} -> {f['rmse_f_mean']:.4f} eV/Å ({rise}), energy RMSE "
                   f"{e_before} -> {1000 * f['rmse_e_per_atom_mean']:.1f} meV/atom, {f['n_frames']} frames{flag}")
    for old in checked[:-1]:
        if old["exceeded"]:
            out.append(f"  iteration {old['iteration']}: {old['message']}")
    return out


def print_growth(console, st: dict) -> None:
    line = lineage_line(st)
    if line:
        console.print(line, highlight=False)
    for ln in forgetting_lines(st):
        console.print(ln, highlight=False)


def forgetting_rows(doc: dict) -> list[dict]:
    """For ``heal report``: one row per (iteration, ancestor family) with the forgetting guard's numbers
    (force RMSE eV/Å, energy RMSE eV/atom: means over the child's models; baseline = the parent's final
    models), ``exceeded`` when the rise is above ``grow.max_forgetting``. Empty for a campaign not grown."""
    out = []
    for d in doc["iterations"]:
        fg = d["row"].get("forgetting")
        if not fg:
            continue
        for name, f in fg["families"].items():
            out.append({"iteration": fg["iteration"], "family": name, "n_frames": f["n_frames"],
                        "n_models": len(f["rmse_f"]), "before_rmse_f": f.get("before_rmse_f"),
                        "rmse_f": f["rmse_f_mean"], "rise": f.get("rise"),
                        "before_rmse_e_per_atom": f.get("before_rmse_e_per_atom"),
                        "rmse_e_per_atom": f["rmse_e_per_atom_mean"], "limit": fg["max_forgetting"],
                        "exceeded": name in fg["exceeded"]})
    return out
