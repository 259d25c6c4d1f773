"""The MEAM teacher on ase's ``LAMMPSlib`` (heal's labeler now) vs the LAMMPS driver heal wrote itself before.

    .venv/bin/python benchmarks/meam_calculator.py [--frames 100] [--size 3] [--own-rev 1210214]

heal keeps a hand-written driver only if the library's is more than 2x slower per label. heal's own driver
is loaded from git history (``heal/label/meam.py`` at ``--own-rev``, the last commit that had it), so run
this from a git checkout. Both drive the same ``lammps`` module and the same 2NN MEAM files. Frames: random
NiCoCrAl FCC cells (``size``^3 x 4 atoms, rattled 0.1 Å); each labeler labels every frame once after one
warm-up label (the one-off set-up: instance, MEAM tables, is printed apart); energies, forces and stresses
are compared too.
"""

from __future__ import annotations

import argparse
import subprocess
import time
import types
from pathlib import Path

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


def own_labeler_class(rev: str):
    """``MeamLabeler`` as heal's ``heal/label/meam.py`` had it at git revision `rev`."""
    root = Path(__file__).resolve().parent.parent
    src = subprocess.run(["git", "show", f"{rev}:heal/label/meam.py"], cwd=root, check=True,
                         capture_output=True, text=True).stdout
    mod = types.ModuleType("heal_meam_own")
    exec(compile(src, f"{rev}:heal/label/meam.py", "exec"), mod.__dict__)
    return mod.MeamLabeler


def time_labeler(lab, fr: list) -> tuple[float, float, list]:
    t0 = time.perf_counter()
    lab.compute(fr[0])
    setup = time.perf_counter() - t0
    t0 = time.perf_counter()
    res = [lab.compute(a) for a in fr]
    return setup, (time.perf_counter() - t0) / len(fr), res


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=100)
    ap.add_argument("--size", type=int, default=3)
    ap.add_argument("--own-rev", default="1210214", help="a git revision whose heal/label/meam.py has heal's driver")
    args = ap.parse_args()
    from heal.label.meam import MeamLabeler

    fr = frames(args.frames, args.size)
    hs, ht, hr = time_labeler(own_labeler_class(args.own_rev)(), fr)
    as_, at, ar = time_labeler(MeamLabeler(), fr)
    de = max(abs(h[0] - a[0]) for h, a in zip(hr, ar))
    df = max(float(np.abs(h[1] - a[1]).max()) for h, a in zip(hr, ar))
    ds = max(float(np.abs(h[2] - a[2]).max()) for h, a in zip(hr, ar))
    print(f"{len(fr)} frames of {len(fr[0])} atoms")
    print(f"heal's own driver ({args.own_rev}): set-up {hs * 1e3:.1f} ms, {ht * 1e3:.2f} ms per label")
    print(f"ase LAMMPSlib (heal now):    set-up {as_ * 1e3:.1f} ms, {at * 1e3:.2f} ms per label "
          f"({at / ht:.2f}x heal's own)")
    print(f"largest difference: energy {de:.2e} eV, force {df:.2e} eV/Å, stress {ds:.2e} eV/Å^3")


if __name__ == "__main__":
    main()
