"""What one type map for the whole HEA chain costs: HEA4 training and MD with 4 types vs 10 (se_e2_a, se_atten).

    .venv/bin/python benchmarks/chain_typemap.py [--steps 400] [--keep DIR]

A model that a bigger campaign can start from (``grow_from``) must already list every element of the chain
(deepmd-kit's TensorFlow backend cannot add a type to a trained model). This measures the price on HEA4 data:

1. ``dp train`` (demo-size model, rcut 5 Å, ``sel`` 24 per element) on 24 MEAM-labeled 32-atom HEA4 frames:
   steady seconds per 100 steps (best 100-step chunk after the first) and the process start-up, for
   se_e2_a with the HEA4 type map (4 types), se_e2_a with the chain type map (10 types), se_atten with the
   chain map (attention layers 0 and 2; ``sel`` 96 in all);
2. LAMMPS + ``pair_style deepmd`` with 2 models of each kind, 108 atoms, 300 steps: MD steps/s from LAMMPS's
   loop time;
3. one growth step HEA4 -> HEA5 for each chain variant: ``--init-frz-model`` from the HEA4 model on HEA5 +
   HEA4 data (the HEA4 model never saw Fe), with the parent's energy bias (Fe: 0) and with Fe's bias fitted
   first (heal.grow.bias); held-out force and energy RMSE on HEA4 and HEA5 frames before and after.

All engines real. Prints a Markdown table (for README "Growing a campaign").
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from ase.build import bulk

from heal import MACHINES_DIR
from heal.config import ExploreSpec, TrainSpec
from heal.data.dataset import Dataset
from heal.exec import load_machine
from heal.exec.local import LocalExecutor
from heal.explore.lammps import ExploreRun, run_one
from heal.families import CHAIN_ORDER, FAMILIES
from heal.frames import set_labels
from heal.grow.bias import fit_new_bias, read_bias, write_bias
from heal.train.deepmd import run_dp_test, train_member

BATCH_RE = re.compile(r"Batch\s+(\d+): total wall time = ([\d.]+) s")
LOOP_RE = re.compile(r"Loop time of ([\d.eE+-]+) on \d+ procs for (\d+) steps with (\d+) atoms")


def cell(elements, reps, seed: int, a: float = 3.56):
    atoms = bulk("Ni", "fcc", a=a, cubic=True).repeat(reps)
    n = len(atoms)
    atoms.set_chemical_symbols(np.random.default_rng(seed).permutation((list(elements) * n)[:n]))
    return atoms


def labeled(elements, n: int, seed: int):
    from heal.label.meam import MeamLabeler

    meam = MeamLabeler()
    out = []
    for i in range(n):
        a = cell(elements, 2, seed + i)
        a.set_cell(a.cell * (0.97, 1.0, 1.03)[i % 3], scale_atoms=True)
        a.rattle(0.1, seed=seed * 7 + i)
        e, f, s = meam.compute(a)
        out.append(set_labels(a, e, f, stress=s))
    meam.close()
    return out


def dataset(path: Path, type_map, frames) -> Dataset:
    ds = Dataset(path, type_map)
    ds.append(frames)
    return ds


def per100(wd: Path) -> tuple[float, float]:
    """(best steady 100-step chunk, first chunk) in seconds, from DeePMD's log."""
    text = (wd / "train.err").read_text() + (wd / "train.out").read_text()
    walls = [(int(b), float(w)) for b, w in BATCH_RE.findall(text)]
    return min(w for b, w in walls if b > 100), next(w for b, w in walls if b == 100)


def _errs(model: Path, test: Dataset, tm, wd: Path, ex) -> tuple[float, float]:
    t = run_dp_test(model, test.system_dirs(), tm, wd, ex)
    return t.rmse_f, t.rmse_e_per_atom


def grow_step(spec, tm, model: Path, sets, fe_frames, wd: Path, ex) -> str:
    """Finetune `model` (HEA4) on HEA4 + HEA5 data, with the parent's bias and with Fe's bias fitted first
    (heal.grow.bias); held-out force (eV/Å) and energy (meV/atom) RMSE on HEA4 and HEA5, before -> after."""
    tr4, te4, tr5, te5 = sets
    b4, b5 = _errs(model, te4, tm, wd / "t4a", ex), _errs(model, te5, tm, wd / "t5a", ex)
    biased = write_bias(model, wd / "biased.pb", fit_new_bias(read_bias(model), tm, ["Fe"], fe_frames))
    parts = []
    for label, init in (("parent bias", model), ("Fe bias fitted", biased)):
        g = Path(train_member(spec, tm, tr4.system_dirs() + tr5.system_dirs(), wd / f"grown-{init.stem}", ex,
                              seed=7, init_model=init).model)
        a4, a5 = _errs(g, te4, tm, wd / f"t4b-{init.stem}", ex), _errs(g, te5, tm, wd / f"t5b-{init.stem}", ex)
        parts.append(f"{label}: HEA4 F {b4[0]:.3f}->{a4[0]:.3f} E {1e3 * b4[1]:.0f}->{1e3 * a4[1]:.0f}; "
                     f"HEA5 F {b5[0]:.3f}->{a5[0]:.3f} E {1e3 * b5[1]:.0f}->{1e3 * a5[1]:.0f}")
    return "<br>".join(parts)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--keep", type=Path)
    args = ap.parse_args(argv)
    tmp = None if args.keep else tempfile.mkdtemp(prefix="heal-bench-chain-")
    work = (args.keep or Path(tmp)).resolve()
    ex = LocalExecutor(load_machine(MACHINES_DIR / "local.yaml"))
    hea4, hea5 = list(FAMILIES["HEA4"]), list(FAMILIES["HEA5"])
    base = dict(steps=args.steps, rcut=5.0, sel=24, embedding=[8, 16, 32], fitting=[32, 32], start_lr=0.002,
                stop_lr=1e-4, disp_freq=100)
    variants = {
        "se_e2_a, HEA4 map (4 types)": (TrainSpec(**base), hea4),
        "se_e2_a, chain map (10 types)": (TrainSpec(**base), list(CHAIN_ORDER)),
        "se_atten 0 layers, chain map": (TrainSpec(**{**base, "descriptor": "se_atten", "sel": 96}), list(CHAIN_ORDER)),
        "se_atten 2 layers, chain map": (TrainSpec(**{**base, "descriptor": "se_atten", "sel": 96, "attn_layer": 2}),
                                         list(CHAIN_ORDER)),
    }
    rows = []
    try:
        f4 = labeled(hea4, 30, 1)
        f5 = labeled(hea5, 30, 100)
        tr4 = dataset(work / "d4/train", hea4, f4[:24])
        te4 = dataset(work / "d4/test", hea4, f4[24:])
        tr5 = dataset(work / "d5/train", hea5, f5[:24])
        te5 = dataset(work / "d5/test", hea5, f5[24:])
        for name, (spec, tm) in variants.items():
            key = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
            t0 = time.perf_counter()
            models = [Path(train_member(spec, tm, tr4.system_dirs(), work / key / f"m{k}", ex, seed=k + 1).model)
                      for k in range(2)]
            wall = (time.perf_counter() - t0) / 2
            steady, first = per100(work / key / "m0")
            md = work / key / "md"
            out = run_one(ExploreRun("md", 600.0, None, 300, 5), cell(hea4, 3, 9), models, hea4,
                          ExploreSpec(dump_freq=10), md, ex)
            assert out.ok, out.error
            loop, steps, _ = LOOP_RE.search((md / "log.lammps").read_text()).groups()
            row = {"variant": name, "s_per_100": steady, "first_100": first, "member_wall": wall,
                   "md_steps_s": int(steps) / float(loop)}
            if tm == list(CHAIN_ORDER):  # one growth step: the 10-type HEA4 model continues on HEA5 + HEA4 data
                row["grow"] = grow_step(spec, tm, models[0], (tr4, te4, tr5, te5), f5[:24], work / key, ex)
            else:
                row["grow"] = "(cannot grow: no Fe type)"
            rows.append(row)
            print(row, flush=True)
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
    ref = rows[0]
    print(f"\n| variant | s / 100 steps | vs 4 types | MD steps/s (108 atoms, 2 models) | vs 4 types "
          f"| growth step: held-out RMSE, F eV/Å, E meV/atom |\n|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['variant']} | {r['s_per_100']:.2f} | {r['s_per_100'] / ref['s_per_100']:.2f}x "
              f"| {r['md_steps_s']:.0f} | {r['md_steps_s'] / ref['md_steps_s']:.2f}x | {r['grow']} |")
    print(f"\n{args.steps} training steps per member; 24 + 6 MEAM-labeled 32-atom frames per family; "
          f"python {sys.version.split()[0]}")


if __name__ == "__main__":
    main()
