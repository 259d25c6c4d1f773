"""Plots of a campaign (matplotlib, Agg canvas, no pyplot state): each function takes :func:`report_data`'s
document and returns a PNG as bytes, or None when there is nothing to draw yet.

Units: force deviations and force errors eV/Å, energy and virial RMSE meV/atom, times s.
"""

from __future__ import annotations

import io

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

CLASS_COLOURS = {"accurate": "#2ca02c", "candidate": "#ff7f0e", "failed": "#d62728"}
STAGES = ("init", "train", "validate", "explore", "select", "label", "plan")


def _png(fig: Figure) -> bytes:
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    return buf.getvalue()


def _fig(w=6.4, h=3.6, ncols=1) -> tuple[Figure, list]:
    fig = Figure(figsize=(w, h))
    axes = [fig.add_subplot(1, ncols, i + 1) for i in range(ncols)]
    return fig, axes


def _iters(doc: dict) -> list[int]:
    return [d["row"]["iteration"] for d in doc["iterations"]]


def classes(doc: dict) -> bytes | None:
    """Share of explored frames accurate / candidate / failed per iteration (stacked bars)."""
    rows = [d["row"] for d in doc["iterations"] if d["row"]["explored"]]
    if not rows:
        return None
    fig, (ax,) = _fig()
    x = np.arange(len(rows))
    bottom = np.zeros(len(rows))
    for cls, col in CLASS_COLOURS.items():
        v = np.array([r[cls] / r["explored"] for r in rows])
        ax.bar(x, v, bottom=bottom, color=col, label=cls)
        bottom += v
    ax.set_xticks(x, [f"it{r['iteration']}" for r in rows])
    ax.set_ylabel("share of explored frames")
    ax.set_ylim(0, 1)
    ax.legend(loc="upper left", bbox_to_anchor=(1, 1))
    ax.set_title("accurate / candidate / failed")
    return _png(fig)


def deviation_histogram(it_doc: dict) -> bytes | None:
    """Histogram of the max force deviation of the iteration's explored frames, trust levels drawn."""
    dev = it_doc["deviation"]
    d = np.asarray(dev["max_devi_f"], dtype=float)
    d = d[np.isfinite(d)]
    if not d.size:
        return None
    fig, (ax,) = _fig()
    hi_cut = max(d.max(), *[h for _, h in dev["levels"]]) if dev["levels"] else d.max()
    ax.hist(d, bins=np.linspace(0, hi_cut * 1.05 + 1e-9, 40), color="#4c72b0")
    for n, (lo, hi) in enumerate(dev["levels"]):
        ax.axvline(lo, color=CLASS_COLOURS["accurate"], ls="--", label="f_lo" if n == 0 else None)
        ax.axvline(hi, color=CLASS_COLOURS["failed"], ls="--", label="f_hi" if n == 0 else None)
    ax.set_xlabel("max force deviation (eV/Å)")
    ax.set_ylabel("frames")
    ax.set_title(f"iteration {it_doc['row']['iteration']}: {d.size} explored frames")
    if dev["levels"]:
        ax.legend()
    return _png(fig)


def rmse(doc: dict) -> bytes | None:
    """Held-out RMSE per iteration: forces overall and per element, energy, virial."""
    its = [d for d in doc["iterations"] if d["row"]["rmse_force"] is not None]
    if not its:
        return None
    fig, axes = _fig(w=12, h=3.6, ncols=3)
    x = [d["row"]["iteration"] for d in its]
    axes[0].plot(x, [d["row"]["rmse_force"] for d in its], "o-k", lw=2, label="all")
    elements = sorted({e for d in its for e in d["row"]["rmse_force_by_element"]})
    for e in elements:
        axes[0].plot(x, [d["row"]["rmse_force_by_element"].get(e, np.nan) for d in its], ".--", label=e)
    axes[0].set_ylabel("force RMSE (eV/Å)")
    axes[0].legend(fontsize=8)
    axes[1].plot(x, [1000 * d["row"]["rmse_energy_per_atom"] for d in its], "o-", color="#8172b2")
    axes[1].set_ylabel("energy RMSE (meV/atom)")
    v = [np.nan if d["rmse_virial_per_atom"] is None else 1000 * d["rmse_virial_per_atom"] for d in its]
    axes[2].plot(x, v, "o-", color="#937860")
    axes[2].set_ylabel("virial RMSE (meV/atom)")
    for ax in axes:
        ax.set_xlabel("iteration")
        ax.set_xticks(x)
    fig.suptitle("held-out errors (mean over the tested models)")
    fig.tight_layout()
    return _png(fig)


def parity(it_doc: dict) -> bytes | None:
    """Oracle against model force components on the held-out frames."""
    p = it_doc["parity"]
    if not p:
        return None
    o, m = np.asarray(p["oracle"]), np.asarray(p["model_f"])
    fig, (ax,) = _fig(w=4.6, h=4.4)
    lim = float(np.nanmax(np.abs(np.concatenate([o, m])))) * 1.05
    ax.plot([-lim, lim], [-lim, lim], color="grey", lw=1)
    ax.scatter(o, m, s=4, alpha=0.5, color="#4c72b0")
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    ax.set_xlabel("oracle force (eV/Å)")
    ax.set_ylabel("model force (eV/Å)")
    r = float(np.sqrt(np.mean((o - m) ** 2)))
    ax.set_title(f"iteration {it_doc['row']['iteration']}, model {p['model']}: RMSE {r:.3f} eV/Å")
    return _png(fig)


def calibration(doc: dict) -> bytes | None:
    """True force error against the predicted deviation of every labeled frame so far, the target error, and
    the levels fitted after the last iteration (per group); right: the fitted miss rate P(err ≥ target) per
    deviation bin (``calibration.json`` bins) against the rate the coverage allows."""
    pairs = [(d["row"]["iteration"], p) for d in doc["iterations"] for p in d["pairs"]]
    if not pairs:
        return None
    cal = next((d["calibration"] for d in reversed(doc["iterations"]) if d["calibration"]), None)
    fig, axes = _fig(w=11, h=3.8, ncols=2)
    ax = axes[0]
    its = sorted({i for i, _ in pairs})
    for i in its:
        pts = np.array([(p["devi"], p["err"]) for j, p in pairs if j == i], dtype=float)
        ax.scatter(pts[:, 0], pts[:, 1], s=12, label=f"it{i}")
    if cal:
        ax.axhline(cal["target_error"], color="k", ls=":", label="target error")
        for n, (g, lv) in enumerate(cal["groups"].items()):
            ax.axvline(lv["f_lo"], color=CLASS_COLOURS["accurate"], ls="--", label="f_lo" if n == 0 else None)
            ax.axvline(lv["f_hi"], color=CLASS_COLOURS["failed"], ls="--", label="f_hi" if n == 0 else None)
    ax.set_xlabel("predicted max deviation (eV/Å)")
    ax.set_ylabel("true max force error (eV/Å)")
    ax.legend(fontsize=8)
    ax = axes[1]
    if cal:
        for g, lv in cal["groups"].items():
            bins = lv.get("bins") or []
            if bins:
                xs = [b[1] for b in bins]
                ax.step([bins[0][0], *xs], [bins[0][3], *[b[3] for b in bins]], where="post", label=g)
        ax.axhline(1 - cal["coverage"], color="k", ls=":", label=f"allowed (coverage {cal['coverage']:g})")
        ax.set_title(f"calibration: P(error ≥ {cal['target_error']:g} eV/Å) against deviation")
    ax.set_xlabel("predicted max deviation (eV/Å)")
    ax.set_ylabel("fitted miss rate (isotonic)")
    ax.set_ylim(-0.02, 1.02)
    ax.legend(fontsize=8)
    return _png(fig)


def labels(doc: dict) -> bytes | None:
    """Cumulative labels (initial data included) against the label budget."""
    rows = [d["row"] for d in doc["iterations"]]
    if not rows:
        return None
    init = doc["status"].get("initial_labels") or 0
    fig, (ax,) = _fig()
    x = [-1] + [r["iteration"] for r in rows]
    ax.step(x, np.cumsum([init] + [r["labeled"] for r in rows]), where="post", color="#4c72b0", label="labels")
    if doc.get("label_budget"):
        ax.axhline(init + doc["label_budget"], color=CLASS_COLOURS["failed"], ls="--", label="budget")
    ax.set_xticks(x, ["init"] + [f"it{i}" for i in x[1:]])
    ax.set_ylabel("labels (cumulative)")
    ax.legend()
    return _png(fig)


def stage_times(doc: dict) -> bytes | None:
    """Wall time of each stage per iteration (stacked bars)."""
    its = [d for d in doc["iterations"] if d["times"]]
    if not its:
        return None
    fig, (ax,) = _fig()
    x = np.arange(len(its))
    bottom = np.zeros(len(its))
    for st in STAGES:
        v = np.array([d["times"].get(st, 0.0) for d in its])
        if v.any():
            ax.bar(x, v, bottom=bottom, label=st)
            bottom += v
    ax.set_xticks(x, [f"it{d['row']['iteration']}" for d in its])
    ax.set_ylabel("wall time (s)")
    ax.legend(loc="upper left", bbox_to_anchor=(1, 1))
    return _png(fig)


def learning_curves(doc: dict) -> bytes | None:
    """Training-batch force RMSE against the step, model 0 of each iteration (``lcurve.out``)."""
    its = [d for d in doc["iterations"] if d["lcurve"]]
    if not its:
        return None
    fig, (ax,) = _fig()
    for d in its:
        ax.plot(d["lcurve"]["step"], d["lcurve"]["rmse_f_trn"], label=f"it{d['row']['iteration']}")
    ax.set_yscale("log")
    ax.set_xlabel("training step")
    ax.set_ylabel("force RMSE, training batch (eV/Å)")
    ax.legend()
    return _png(fig)


def validation(doc: dict) -> bytes | None:
    """Relative error of each validated property against the oracle (the thesis where the oracle has none),
    per iteration, one panel per phase; the tolerance band of ``loop.validate`` when the campaign sets one."""
    from heal.validate.report import by_property

    numbers, table, _ = by_property(doc["status"])
    phases: dict[str, list[dict]] = {}
    for r in table:
        if any(e is not None for e in r["rel_errors"]):
            phases.setdefault(r["phase"], []).append(r)
    if not phases:
        return None
    fig, axes = _fig(w=4.2 * len(phases), h=3.4, ncols=len(phases))
    tol = doc.get("validate_tolerance") or {}
    for ax, (phase, rows) in zip(axes, phases.items()):
        for r in rows:
            y = [100 * e if e is not None else np.nan for e in r["rel_errors"]]
            ax.plot(numbers, y, marker="o", label=r["property"])
        for key, props in (("lattice", ("lattice", "lattice_300k")), ("elastic", ("c11", "c12", "c44"))):
            if tol.get(key) is not None and any(r["property"] in props for r in rows):
                ax.axhspan(-100 * tol[key], 100 * tol[key], color="#2ca02c", alpha=0.08)
        ax.axhline(0, color="k", lw=0.6)
        ax.set_xticks(numbers, [f"it{n}" for n in numbers])
        ax.set_title(phase)
        ax.legend(fontsize="small")
    axes[0].set_ylabel("model vs oracle (%)")
    fig.tight_layout()
    return _png(fig)


def forgetting_plot(doc: dict) -> bytes | None:
    """Held-out force RMSE of every ancestor family against the child's iteration (mean over its models), the
    parent's baseline dashed and the guard's limit dotted, in the family's colour; None if not grown."""
    from heal.grow.report import forgetting_rows

    rows = forgetting_rows(doc)
    if not rows:
        return None
    fig, (ax,) = _fig()
    fams = list(dict.fromkeys(r["family"] for r in rows))
    for k, fam in enumerate(fams):
        mine = [r for r in rows if r["family"] == fam]
        colour = f"C{k % 10}"
        ax.plot([r["iteration"] for r in mine], [r["rmse_f"] for r in mine], "o-", color=colour, label=fam)
        base = mine[-1]["before_rmse_f"]
        if base is not None:
            ax.axhline(base, color=colour, ls="--", lw=1, label=f"{fam}: parent (baseline)")
            ax.axhline(base * (1 + mine[-1]["limit"]), color=colour, ls=":", lw=1,
                       label=f"{fam}: limit +{mine[-1]['limit']:.0%}")
        bad = [r for r in mine if r["exceeded"]]
        if bad:
            ax.plot([r["iteration"] for r in bad], [r["rmse_f"] for r in bad], "x", color="#d62728", ms=10,
                    mew=2, label="exceeded" if k == 0 else None)
    its = sorted({r["iteration"] for r in rows})
    ax.set_xticks(its)
    ax.set_xlabel("iteration")
    ax.set_ylabel("held-out force RMSE (eV/Å)")
    ax.set_title("forgetting guard: ancestor families")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1, 1))
    return _png(fig)


def all_plots(doc: dict) -> dict[str, bytes]:
    """Name -> PNG of every plot there is data for (names are file stems)."""
    out = {"classes": classes(doc), "rmse": rmse(doc), "labels": labels(doc), "times": stage_times(doc),
           "calibration": calibration(doc), "lcurve": learning_curves(doc), "validation": validation(doc)}
    out["forgetting"] = forgetting_plot(doc)  # ancestor families of a grown campaign
    for d in doc["iterations"]:
        out[f"deviation-it{d['row']['iteration']}"] = deviation_histogram(d)
    latest = next((d for d in reversed(doc["iterations"]) if d["parity"]), None)
    if latest:
        out["parity"] = parity(latest)
    return {k: v for k, v in out.items() if v}
