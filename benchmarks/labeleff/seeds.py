"""Label efficiency over several independent runs (seed and test set): per-run figures, median and range.

One run's labels-to-target rests on a few points of a noisy curve, so the claim is judged over runs with
different seeds and test sets (``label_efficiency.py --seed S --test-seed T``, one ``results.json`` each).
Read per run, from each pair heal / other arm:

* ``ratio`` and ``selected_ratio``: labels to the run's target (``--target-factor`` x its capacity floor), in
  all and beyond the shared initial labels; None when either arm misses the target.
* ``ahead`` / ``behind``: heal's error below / above the other arm's by more than 2 standard errors of the
  members' training noise at one of the iterations that decide labels-to-target (``evaluate.separation``).
* ``equal_accuracy``: labels heal needs to reach the other arm's error after its last iteration, over the
  labels the other arm used (all, and beyond the initial ones). Defined whenever heal gets there, so runs in
  which nobody reaches the target still count; in flat parts of the curves it is as noisy as the curves.

Across runs: the median and range of each, over the runs in which it is defined; and, over the runs that hold
both arms, the two arms' mean curves of error / floor (floors differ by test set) with labels to
``--target-factor`` on them.
"""

from __future__ import annotations

import statistics

from .evaluate import labels_to_reach, ratios, separation


def _curve(arm: dict) -> list[tuple[int, float]]:
    return [(p["labels"], p["rmse_force"]) for p in arm["points"]]


def equal_accuracy(heal: list[tuple[int, float]], other: list[tuple[int, float]], n_init: int) -> dict | None:
    """Labels heal needs to reach `other`'s last error, as a fraction of `other`'s labels (all / selected)."""
    n_other, e_other = sorted(other)[-1]
    need = labels_to_reach(heal, e_other)
    if need is None:
        return None
    return {"error": e_other, "labels": need, "ratio": need / n_other,
            "selected_ratio": (need - n_init) / (n_other - n_init) if n_other > n_init else None}


def per_run(out: dict) -> dict:
    """The heal / other-arm figures of one run's results.json."""
    n_init = out["settings"]["n_init"]
    arms = out["arms"]
    row = {"seed": out["settings"]["seed"], "floor": out["floor"]["rmse_force"], "target": out["target_force"],
           "labels_to_target": {k: v["labels_to_target"] for k, v in arms.items()}, "pairs": {}}
    if "heal" not in arms:
        return row
    heal = arms["heal"]
    ratio, selected = ratios(arms, "labels_to_target"), ratios(arms, "selected_to_target")
    for name, arm in arms.items():
        if name == "heal":
            continue
        sep = separation(heal["points"], arm["points"], out["target_force"])
        z = [sep["iterations"][i]["z"] for i in sep["deciding"]]
        row["pairs"][name] = {
            "ratio": ratio.get(f"heal/{name}"), "selected_ratio": selected.get(f"heal/{name}"),
            "equal_accuracy": equal_accuracy(_curve(heal), _curve(arm), n_init),
            "ahead": any(v > 2.0 for v in z), "behind": any(v < -2.0 for v in z)}
    return row


def spread(values: list[float | None]) -> dict:
    """Median, min, max over the defined values, and how many runs were defined / given."""
    v = sorted(x for x in values if x is not None)
    return {"median": statistics.median(v) if v else None, "min": v[0] if v else None,
            "max": v[-1] if v else None, "defined": len(v), "runs": len(values)}


def mean_relative_curves(runs: list[dict], arms: list[str]) -> dict[str, list[tuple[int, float]]]:
    """Per arm: mean over `runs` (each must hold every arm) of force RMSE / the run's floor, at each label count
    every run has."""
    curves = {}
    for arm in arms:
        rel = [{p["labels"]: p["rmse_force"] / out["floor"]["rmse_force"] for p in out["arms"][arm]["points"]}
               for out in runs]
        counts = set.intersection(*(set(r) for r in rel))
        curves[arm] = [(n, statistics.fmean(r[n] for r in rel)) for n in sorted(counts)]
    return curves


def combine(runs: list[dict], target_factor: float = 1.2) -> dict:
    """Per-run rows, the spread of each heal / arm figure across runs, and the mean relative curves."""
    rows = [per_run(out) for out in runs]
    others = sorted({name for r in rows for name in r["pairs"]})
    across = {}
    for name in others:
        pairs = [r["pairs"].get(name) for r in rows if name in r["pairs"]]
        across[f"heal/{name}"] = {
            "ratio": spread([p["ratio"] for p in pairs]),
            "selected_ratio": spread([p["selected_ratio"] for p in pairs]),
            "equal_accuracy": spread([p["equal_accuracy"]["ratio"] if p["equal_accuracy"] else None
                                      for p in pairs]),
            "equal_accuracy_selected": spread([p["equal_accuracy"]["selected_ratio"] if p["equal_accuracy"]
                                               else None for p in pairs]),
            "ahead_runs": sum(1 for p in pairs if p["ahead"]), "behind_runs": sum(1 for p in pairs if p["behind"])}
        # mean curves over the runs that hold both arms, so that both means cover the same test sets
        curves = mean_relative_curves([out for out in runs if {"heal", name} <= set(out["arms"])], ["heal", name])
        need = {a: labels_to_reach(c, target_factor) for a, c in curves.items()}
        across[f"heal/{name}"]["mean_curves"] = {"curves": curves, "labels_to_target": need,
                                                 "ratio": need["heal"] / need[name] if None not in need.values()
                                                 else None}
    return {"runs": rows, "across": across}


def report(c: dict) -> str:
    """The combined figures as text (the table for benchmarks/RESULTS.md)."""
    lines = ["run (seed) | floor / target eV/Å | labels to target per arm | heal / arm: ratio, selected ratio, "
             "equal-accuracy ratio (selected)"]
    for r in c["runs"]:
        need = ", ".join(f"{a} {_n(v)}" for a, v in r["labels_to_target"].items())
        pairs = "; ".join(f"{a}: {_f(p['ratio'])}, {_f(p['selected_ratio'])}, "
                          + (f"{_f(p['equal_accuracy']['ratio'])} ({_f(p['equal_accuracy']['selected_ratio'])})"
                             if p["equal_accuracy"] else "-")
                          for a, p in r["pairs"].items())
        lines.append(f"seed {r['seed']} | {r['floor']:.3f} / {r['target']:.3f} | {need} | {pairs}")
    for pair, figs in c["across"].items():
        lines.append(f"{pair}: " + "; ".join(
            f"{k} median {_f(s['median'])} [{_f(s['min'])}, {_f(s['max'])}] ({s['defined']}/{s['runs']} runs)"
            for k, s in figs.items() if k not in ("ahead_runs", "behind_runs", "mean_curves"))
            + f"; heal ahead / behind by > 2 standard errors where it decides the target: in {figs['ahead_runs']} / "
            f"{figs['behind_runs']} run(s)")
        m = figs["mean_curves"]
        for arm, curve in m["curves"].items():
            lines.append(f"  mean error / floor, {arm}: " + "  ".join(f"{n}:{e:.3f}" for n, e in curve)
                         + f" -> labels to target {_n(m['labels_to_target'][arm])}")
        lines.append(f"  ratio on the mean curves: {_f(m['ratio'])}")
    return "\n".join(lines)


def _f(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}"


def _n(x: float | None) -> str:
    return "not reached" if x is None else f"{x:.1f}"
