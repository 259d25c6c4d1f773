"""Labels needed for a target accuracy: heal's selection against DP-GEN's rule, random frames and DP-GEN itself.

    .venv/bin/python benchmarks/label_efficiency.py [--work DIR] [--iterations 6] [--cap 2] [--steps 3000]
                                                    [--arms heal,dpgen-rule,random,dpgen] [--small]

HEA4 (Ni Co Cr Al) with heal's MEAM teacher. In order:

1. **Test set**: teacher MD (Langevin, MEAM) at 300-3000 K from FCC, BCC and melt cells of the benchmark's
   own seed; never trained on, never selected from.
2. **Capacity floor**: the arms' model, with the arms' training budget, trained on a large pool of teacher-MD
   frames (another seed) — the error no selection rule can beat with this model. The target is
   ``--target-factor`` x floor; the run warns when the first iteration is not well above it (then the arms
   cannot be told apart and the ratio means nothing).
3. **Arms** (same seeds, initial labels, per-iteration cap, MD and training): ``heal``, ``dpgen-rule`` and
   ``random`` run as heal campaigns (see ``labeleff/arms.py``); ``dpgen`` runs dpgen 0.14 itself with
   ``fp_style: custom`` and the same teacher (``labeleff/dpgen_arm.py``; needs ``pip install dpgen==0.14.0``).
4. **Curves**: held-out force / energy RMSE of each iteration's models against the labels they were trained
   on; labels each arm needs to reach the target, in all and beyond the shared initial labels (the ones its
   selection chose); the ratios heal / other arm of both, and whether the arms differ by more than the
   members' training noise (``labeleff.evaluate.separation``).

Defaults: 2 labels per iteration over 6 iterations (models on 8, 10, ..., 18 labels). A first run with 8 per
iteration (benchmarks/RESULTS.md) showed why: every arm falls from 1.36 to ~1.0 eV/Å with its first 8 labels
and then sits at the capacity floor, so which frames an arm picks can only show in that first step; 2 per
iteration traces it.

Everything is written under ``--work`` (``results.json`` at the end); a rerun reuses finished parts.
``--combine A/results.json B/results.json ...`` reads finished runs (other seeds and test sets) and prints
each run's ratios with their median and range over runs (``labeleff/seeds.py``). ``--small`` is the
CI-sized version (one tiny iteration pair, a tiny model): it checks the machinery, not the ratio. Prints the
machine and date; copy the table into benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # the models are evaluated in this process

from labeleff.arms import ARMS, Settings, run_arm, summary  # noqa: E402
from labeleff.evaluate import ensemble_errors, labels_to_reach, load_frames, ratios, separation  # noqa: E402
from labeleff.floor import capacity_floor  # noqa: E402
from labeleff.teacher import build_set  # noqa: E402

TYPE_MAP = ["Ni", "Co", "Cr", "Al"]
TEST_TEMPERATURES = [300.0, 1000.0, 2000.0, 3000.0]
PHASES = ["fcc", "bcc", "melt"]


def settings_from(args) -> Settings:
    if args.small:
        return Settings(iterations=2, cap=4, n_init=4, n_models=2, steps=100, sel=16, embedding=[4, 8, 16],
                        fitting=[16, 16], rcut=4.5, temperatures=[300.0, 2000.0], nsteps=100, seed=args.seed)
    return Settings(iterations=args.iterations, cap=args.cap, n_init=args.n_init, n_models=args.n_models,
                    steps=args.steps, sel=args.sel, nsteps=args.nsteps, f_lo=args.f_lo, f_hi=args.f_hi, seed=args.seed)


def run(args) -> dict:
    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    s = settings_from(args)
    small = args.small
    t0 = time.monotonic()
    test = build_set(work / "testset", seed=args.test_seed, temperatures=TEST_TEMPERATURES, phases=PHASES,
                     frames_per_run=2 if small else args.test_frames, type_map=TYPE_MAP)
    frames = load_frames(test)
    pool = build_set(work / "pool", seed=args.test_seed + 1, temperatures=TEST_TEMPERATURES, phases=PHASES,
                     frames_per_run=4 if small else args.pool_frames, type_map=TYPE_MAP)
    print(f"test set: {len(frames)} frames; floor pool: {len(pool)} frames ({time.monotonic() - t0:.0f} s)",
          flush=True)
    floor = capacity_floor(pool, s, work / "floor", frames, TYPE_MAP)
    target = args.target_factor * floor["rmse_force"]
    target_e = args.target_factor * floor["rmse_energy_per_atom"]
    s.target_error = 3.0 * target  # heal calibrates the largest per-atom force error, ~3x the component RMSE
    print(f"capacity floor: force RMSE {floor['rmse_force']:.3f} eV/Å, energy {floor['rmse_energy_per_atom']:.4f} "
          f"eV/atom ({floor['labels']} labels); target {target:.3f} eV/Å", flush=True)
    out: dict = {"machine": f"{platform.node()} ({os.cpu_count()} cores)", "date": time.strftime("%Y-%m-%d %H:%M"),
                 "settings": vars(s), "test_frames": len(frames), "floor": floor, "target_force": target,
                 "target_energy": target_e, "arms": {}}
    for arm in args.arms:
        t1 = time.monotonic()
        if arm == "dpgen":
            points = run_dpgen(work, s)
        else:
            points = run_arm(arm, s, work)
        for p in points:
            p.update(ensemble_errors(p["models"], frames, TYPE_MAP))
        curve = [(p["labels"], p["rmse_force"]) for p in points]
        need = labels_to_reach(curve, target)
        need_e = labels_to_reach([(p["labels"], p["rmse_energy_per_atom"]) for p in points], target_e)
        out["arms"][arm] = {"points": points, "labels_to_target": need, "labels_to_energy_target": need_e,
                            "selected_to_target": None if need is None else need - s.n_init,
                            "minutes": (time.monotonic() - t1) / 60,
                            "select": summary(work / arm) if arm != "dpgen" else {}}
        print(f"{arm:>10}: " + "  ".join(f"{n}:{e:.3f}" for n, e in curve)
              + f"  -> labels to target: {'not reached' if need is None else f'{need:.0f}'}", flush=True)
        (work / "results.json").write_text(json.dumps(out, indent=1, default=str))
    first = [a["points"][0]["rmse_force"] for a in out["arms"].values() if a["points"]]
    out["first_over_floor"] = min(first) / floor["rmse_force"] if first else None
    heal = out["arms"].get("heal", {}).get("points")
    out["separation"] = {f"heal/{k}": separation(heal, v["points"], target) for k, v in out["arms"].items()
                         if heal and k != "heal" and v["points"]}
    out["ratios"] = ratios(out["arms"], "labels_to_target")
    out["selected_ratios"] = ratios(out["arms"], "selected_to_target")
    out["energy_ratios"] = ratios(out["arms"], "labels_to_energy_target")
    (work / "results.json").write_text(json.dumps(out, indent=1, default=str))
    return out


def run_dpgen(work: Path, s: Settings) -> list[dict]:
    from labeleff.dpgen_arm import run_dpgen_arm
    from labeleff.shared import dpgen_inputs

    rows = run_dpgen_arm(work / "dpgen", **dpgen_inputs(work, s))
    # the same points as a heal arm: models of iterations 0 .. iterations-1, every ensemble member
    return [{"iteration": r["iteration"], "labels": r["labels"],
             "models": [str(Path(r["model"]).with_name(f"graph.{k:03d}.pb")) for k in range(s.n_models)]}
            for r in rows]


def report(out: dict) -> None:
    print(f"\n{out['machine']}, {out['date']}; test set {out['test_frames']} frames; floor "
          f"{out['floor']['rmse_force']:.3f} eV/Å / {1000 * out['floor']['rmse_energy_per_atom']:.0f} meV/atom; "
          f"targets {out['target_force']:.3f} eV/Å / {1000 * out['target_energy']:.0f} meV/atom")
    print(f"{'arm':>10} | labels -> force RMSE (eV/Å), energy RMSE (meV/atom) per iteration "
          f"| labels to force / energy target | minutes")
    for arm, a in out["arms"].items():
        curve = ", ".join(f"{p['labels']}→{p['rmse_force']:.3f}/{1000 * p['rmse_energy_per_atom']:.0f}"
                          for p in a["points"])
        print(f"{arm:>10} | {curve} | {_n(a['labels_to_target'])} ({_n(a.get('selected_to_target'))} selected) / "
              f"{_n(a['labels_to_energy_target'])} "
              f"| {a['minutes']:.1f}")
    f = out["first_over_floor"]
    if f is not None and f < 1.5:
        print(f"WARNING: the first iteration's force error is only {f:.2f}x the capacity floor: the arms can hardly "
              f"be told apart with this model and budget; enlarge the model / steps or narrow the initial data")
    for pair, sep in out["separation"].items():
        rows = ", ".join(f"{r['gap']:+.3f} (z {r['z']:+.1f})" for r in sep["iterations"].values())
        print(f"{pair}: heal's force-RMSE advantage per iteration, eV/Å: {rows}; member noise {sep['sigma']:.3f} "
              f"eV/Å -> " + ("separated" if sep["separated"] else "NOT separated")
              + f" (|z| > 2 at one of iterations {sep['deciding']}, which decide labels to target)")
    for key in ("ratios", "selected_ratios", "energy_ratios"):
        print(f"{key}:", json.dumps(out[key]) if out[key] else "none (an arm did not reach the target)")


def _n(need: float | None) -> str:
    return "not reached" if need is None else f"{need:.0f}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, default=Path("label-efficiency-run"))
    ap.add_argument("--arms", type=lambda v: v.split(","), default=[*ARMS, "dpgen"])
    ap.add_argument("--iterations", type=int, default=6)
    ap.add_argument("--cap", type=int, default=2, help="labels per iteration, every arm")
    ap.add_argument("--n-init", type=int, default=8)
    ap.add_argument("--n-models", type=int, default=2)
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--sel", type=int, default=24, help="DeePMD neighbours per element (train.sel)")
    ap.add_argument("--nsteps", type=int, default=500)
    ap.add_argument("--f-lo", type=float, default=0.3)
    ap.add_argument("--f-hi", type=float, default=1.5)
    ap.add_argument("--seed", type=int, default=7, help="seed of the arms' seed cells, picks and training")
    ap.add_argument("--test-seed", type=int, default=101, help="seed of the test set (the pool uses seed + 1)")
    ap.add_argument("--test-frames", type=int, default=8, help="test frames per phase x temperature")
    ap.add_argument("--pool-frames", type=int, default=30, help="floor-pool frames per phase x temperature")
    ap.add_argument("--target-factor", type=float, default=1.2)
    ap.add_argument("--small", action="store_true", help="CI-sized: checks the machinery, not the ratio")
    ap.add_argument("--combine", type=Path, nargs="+", metavar="RESULTS_JSON",
                    help="only combine finished runs (their results.json): per-run ratios, median and range")
    args = ap.parse_args()
    if args.combine:
        from labeleff.seeds import combine, report as report_runs

        print(report_runs(combine([json.loads(p.read_text()) for p in args.combine], args.target_factor)))
        return 0
    bad = [a for a in args.arms if a not in (*ARMS, "dpgen")]
    if bad:
        ap.error(f"--arms: unknown {bad}; choose from {', '.join((*ARMS, 'dpgen'))}")
    report(run(args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
