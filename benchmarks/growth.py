"""HEA5 grown from HEA4 against HEA5 from scratch: labels needed for the same HEA5 error, and what HEA4 keeps.

    .venv/bin/python benchmarks/growth.py [--seeds 0 1] [--labels 4 8 16 32] [--steps 400] [--keep DIR]

A training-level proxy of the growth step (no exploration: both arms draw their HEA5 labels from the same pool
of MEAM-labeled HEA5 frames, in the same order, so "labels" means oracle calls). Per seed:

1. the parent: a chain-type-map model (the chain presets' descriptor, se_atten without attention layers,
   rcut 4.5 Å) trained on 32 HEA4 frames — it stands for a finished HEA4 campaign;
2. for every label count n: **scratch** trains from random weights on the first n HEA5 frames for ``steps``;
   **grown** does what ``grow_from`` does in its first training: the parent's frames plus the same n HEA5 frames,
   ``--init-frz-model`` from the parent with Fe's energy bias fitted (heal.grow.bias), ``steps / 2`` steps at a
   tenth of the start rate, half of every batch from the parent's frames (``auto_prob``);
3. held-out force RMSE on 12 HEA5 frames and on 12 HEA4 frames (the parent's, before and after growth).

The target HEA5 error is the scratch arm's error at the largest n; "labels to target" is the smallest n whose
error is within 5 % of it (linear interpolation between label counts). Printed as Markdown for RESULTS.md.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
from ase.build import bulk

from heal import MACHINES_DIR
from heal.config import TrainSpec
from heal.data.dataset import Dataset
from heal.exec import load_machine
from heal.exec.local import LocalExecutor
from heal.families import CHAIN_ORDER, FAMILIES
from heal.frames import set_labels
from heal.grow.bias import fit_new_bias, read_bias, write_bias
from heal.train.deepmd import Member, run_dp_test, train_ensemble


def pool(elements, n: int, seed: int):
    """MEAM-labeled random FCC cells of `elements` (32 atoms), strained and rattled, a different T-like spread."""
    from heal.label.meam import MeamLabeler

    meam, rng, out = MeamLabeler(), np.random.default_rng(seed), []
    for i in range(n):
        a = bulk("Ni", "fcc", a=3.56, cubic=True).repeat(2)
        a.set_chemical_symbols(rng.permutation((list(elements) * 32)[:32]))
        a.set_cell(a.cell * rng.uniform(0.97, 1.04), scale_atoms=True)
        a.rattle(rng.uniform(0.04, 0.15), seed=int(rng.integers(1 << 30)))
        e, f, s = meam.compute(a)
        out.append(set_labels(a, e, f, stress=s))
    meam.close()
    return out


def dataset(path: Path, frames) -> Dataset:
    ds = Dataset(path, list(CHAIN_ORDER[:5]))
    ds.append(frames)
    return ds


def train(spec, systems, wd: Path, ex, seed: int, init: Path | None = None, auto_prob: str | None = None) -> Path:
    (res,) = train_ensemble(spec, list(CHAIN_ORDER), systems, [Member(wd, seed, init)], ex, auto_prob=auto_prob)
    return Path(res.model)


def rmse(model: Path, test: Dataset, wd: Path, ex) -> float:
    return run_dp_test(model, test.system_dirs(), list(CHAIN_ORDER), wd, ex).rmse_f


def labels_to(target: float, ns: list[int], errs: list[float]) -> float | None:
    for i, (n, e) in enumerate(zip(ns, errs)):
        if e <= target:
            if i == 0:
                return float(n)
            n0, e0 = ns[i - 1], errs[i - 1]
            return n0 + (e0 - target) / (e0 - e) * (n - n0)
    return None


def run_seed(seed: int, ns: list[int], steps: int, work: Path, ex) -> dict:
    hea4, hea5 = FAMILIES["HEA4"], FAMILIES["HEA5"]
    f4, f5 = pool(hea4, 44, 1000 + seed), pool(hea5, max(ns) + 12, 2000 + seed)
    tr4, te4 = dataset(work / "d4" / "train", f4[:32]), dataset(work / "d4" / "test", f4[32:])
    te5 = dataset(work / "d5" / "test", f5[-12:])
    base = dict(rcut=4.5, sel=48, descriptor="se_atten", attn_layer=0, embedding=[8, 16, 32], fitting=[32, 32],
                stop_lr=1e-4, disp_freq=100)
    spec = TrainSpec(steps=steps, start_lr=2e-3, **base)
    finetune = TrainSpec(steps=max(1, steps // 2), start_lr=2e-4, **base)
    parent = train(spec, tr4.system_dirs(), work / "parent", ex, seed + 1)
    before4 = rmse(parent, te4, work / "t-parent4", ex)
    biased = write_bias(parent, work / "parent-biased.pb",
                        fit_new_bias(read_bias(parent), list(CHAIN_ORDER), ["Fe"], f5[:max(ns)]))
    out = {"seed": seed, "hea4_before": before4, "ns": ns, "scratch": [], "grown": [], "hea4_after": []}
    for n in ns:
        tr5 = dataset(work / f"d5-{n}", f5[:n])
        m = train(spec, tr5.system_dirs(), work / f"scratch-{n}", ex, seed + 11)
        out["scratch"].append(rmse(m, te5, work / f"t-scratch-{n}", ex))
        old, new = tr4.system_dirs(), tr5.system_dirs()
        prob = f"prob_sys_size; 0:{len(old)}:0.5; {len(old)}:{len(old) + len(new)}:0.5"
        g = train(finetune, old + new, work / f"grown-{n}", ex, seed + 11, init=biased, auto_prob=prob)
        out["grown"].append(rmse(g, te5, work / f"t-grown5-{n}", ex))
        out["hea4_after"].append(rmse(g, te4, work / f"t-grown4-{n}", ex))
        print(f"seed {seed} n {n}: scratch {out['scratch'][-1]:.3f} grown {out['grown'][-1]:.3f} "
              f"HEA4 {before4:.3f} -> {out['hea4_after'][-1]:.3f}", flush=True)
    target = 1.05 * out["scratch"][-1]
    out["target"] = target
    out["labels_scratch"] = labels_to(target, ns, out["scratch"])
    out["labels_grown"] = labels_to(target, ns, out["grown"])
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--labels", type=int, nargs="+", default=[4, 8, 16, 32])
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--keep", type=Path)
    args = ap.parse_args(argv)
    tmp = None if args.keep else tempfile.mkdtemp(prefix="heal-bench-growth-")
    work = (args.keep or Path(tmp)).resolve()
    ex = LocalExecutor(load_machine(MACHINES_DIR / "local.yaml"))
    t0 = time.perf_counter()
    try:
        res = [run_seed(s, sorted(args.labels), args.steps, work / f"seed{s}", ex) for s in args.seeds]
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
    ns = sorted(args.labels)
    print(f"\n| seed | arm | " + " | ".join(f"HEA5 F RMSE, {n} labels" for n in ns)
          + " | labels to 1.05x scratch@max | HEA4 F RMSE (parent -> grown) |")
    print("|---|---|" + "---|" * len(ns) + "---|---|")
    for r in res:
        fmt = lambda x: "-" if x is None else f"{x:.1f}"
        print(f"| {r['seed']} | scratch | " + " | ".join(f"{e:.3f}" for e in r["scratch"])
              + f" | {fmt(r['labels_scratch'])} | |")
        rise = " / ".join(f"{a:.3f}" for a in r["hea4_after"])
        print(f"| {r['seed']} | grown | " + " | ".join(f"{e:.3f}" for e in r["grown"])
              + f" | {fmt(r['labels_grown'])} | {r['hea4_before']:.3f} -> {rise} |")
    ratios = [r["labels_grown"] / r["labels_scratch"] for r in res
              if r["labels_grown"] is not None and r["labels_scratch"]]
    rises = [a / r["hea4_before"] - 1 for r in res for a in r["hea4_after"]]
    if ratios:
        print(f"\nlabels grown / scratch: mean {np.mean(ratios):.2f} (min {min(ratios):.2f}, max {max(ratios):.2f}) "
              f"over {len(ratios)} seeds (goal <= 0.6)")
    print(f"HEA4 force RMSE change after growth: mean {np.mean(rises):+.1%} (min {min(rises):+.1%}, "
          f"max {max(rises):+.1%}) (goal <= +10 %)")
    print(f"{args.steps} steps scratch, {args.steps // 2} grown; {time.perf_counter() - t0:.0f} s in all")


if __name__ == "__main__":
    main()
