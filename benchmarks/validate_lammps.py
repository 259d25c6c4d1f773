"""The validate stage's model side: heal's LAMMPS session against ase's ``LAMMPSlib``, on one DeePMD model.

    .venv/bin/python benchmarks/validate_lammps.py --model heal-demo/iter-003/train/model-00/graph.pb \
        [--type-map Ni Co Cr Al] [--points 200] [--steps 1000]

Side by side in one process, the same model (``pair_style deepmd``), the same 32-atom HEA4 FCC cell:

1. 0 K single points (what E-V scans and elastic strains do): ``--points`` energy + forces + stress calls through
   :class:`heal.validate.lammps_md.LammpsCalculator` and through ``LAMMPSlib`` (the largest differences printed);
2. MD (what the stability runs do): ``--steps`` NVT steps at 1000 K run natively by LAMMPS (``LammpsSession.md``,
   Nosé-Hoover, frames every 20 steps) against ase's Langevin driving ``LAMMPSlib`` one step at a time
   (:func:`heal.validate.md.ase_md`, the oracle side's MD path).

Each arm runs once after a warm-up call (TensorFlow's start and the graph load are not timed).
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import numpy as np
from ase.build import bulk


def cell(type_map: list[str], seed: int = 3):
    a = bulk("Ni", "fcc", a=3.6, cubic=True).repeat(2)
    rng = np.random.default_rng(seed)
    a.set_chemical_symbols(rng.permutation((type_map * 32)[:32]))
    a.rattle(0.05, seed=seed)
    return a


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", type=Path, required=True)
    ap.add_argument("--type-map", nargs="+", default=["Ni", "Co", "Cr", "Al"])
    ap.add_argument("--points", type=int, default=200)
    ap.add_argument("--steps", type=int, default=1000)
    args = ap.parse_args(argv)
    from ase.calculators.lammpslib import LAMMPSlib

    from heal.validate.calculators import model_session
    from heal.lammps_module import import_lammps_with_plugins
    from heal.validate.lammps_md import LammpsCalculator
    from heal.validate.md import ase_md

    import_lammps_with_plugins()  # LAMMPS_PLUGIN_PATH for both arms
    tm, model = list(args.type_map), args.model.resolve()
    own = LammpsCalculator(model_session(model, tm))
    lib = LAMMPSlib(lmpcmds=[f"pair_style deepmd {model}", f"pair_coeff * * {' '.join(tm)}"],
                    atom_types={el: i + 1 for i, el in enumerate(tm)}, keep_alive=True,
                    log_file=os.devnull)
    base = cell(tm)
    rng = np.random.default_rng(0)
    frames = []
    for _ in range(args.points):
        f = base.copy()
        f.set_cell(f.cell * rng.uniform(0.98, 1.02), scale_atoms=True)
        frames.append(f)

    def points(calc):
        out = []
        for f in frames:
            f = f.copy()
            f.calc = calc
            out.append((f.get_potential_energy(), f.get_forces(), f.get_stress()))
        return out

    for calc in (own, lib):  # warm-up: TensorFlow's start, the graph load
        w = base.copy()
        w.calc = calc
        w.get_potential_energy()
    t = time.perf_counter()
    r_own = points(own)
    t_own = time.perf_counter() - t
    t = time.perf_counter()
    r_lib = points(lib)
    t_lib = time.perf_counter() - t
    de = max(abs(a[0] - b[0]) for a, b in zip(r_own, r_lib))
    df = max(np.abs(a[1] - b[1]).max() for a, b in zip(r_own, r_lib))
    ds = max(np.abs(a[2] - b[2]).max() for a, b in zip(r_own, r_lib))

    t = time.perf_counter()
    tr = own.session.md(base, 1000.0, args.steps, 20, 1.0, 7)
    t_md_own = time.perf_counter() - t
    t = time.perf_counter()
    tr_lib = ase_md(base, lib, 1000.0, args.steps, 20, 1.0, 7)
    t_md_lib = time.perf_counter() - t
    assert tr["error"] is None and tr_lib["error"] is None, (tr["error"], tr_lib["error"])

    print(f"machine: {platform.node()} {os.cpu_count()} cores; model {model}; 32 atoms; "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    print("\n| arm | heal's LAMMPS session | ase LAMMPSlib | ratio (LAMMPSlib / heal) |")
    print("|---|---:|---:|---:|")
    print(f"| 0 K single point (E, F, stress), mean of {args.points} | {1e3 * t_own / args.points:.2f} ms | "
          f"{1e3 * t_lib / args.points:.2f} ms | {t_lib / t_own:.2f} |")
    print(f"| NVT 1000 K, {args.steps} steps | {t_md_own:.2f} s ({args.steps / t_md_own:.0f} steps/s) | "
          f"{t_md_lib:.2f} s ({args.steps / t_md_lib:.0f} steps/s) | {t_md_lib / t_md_own:.2f} |")
    print(f"\nlargest single-point differences: E {de:.1e} eV, F {df:.1e} eV/Å, stress {ds:.1e} eV/Å^3")


if __name__ == "__main__":
    main()
