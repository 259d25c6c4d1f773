"""Validation stage time against the iteration time: measured on the demo, projected to a production iteration.

    .venv/bin/python benchmarks/validation_time.py [--dir heal-demo-val] [--skip-demo] [--members 4]

1. Demo: runs ``heal demo`` (``workflows/demo.yaml``, whose ``validate:`` section runs a short validation each
   iteration) unless ``--skip-demo`` reuses a finished one, and reads every Firework's run time from FireWorks'
   launch records: the validate stage's share of each iteration (stages run one after the other under one
   worker, so an iteration's time is the sum of its stages; init is not part of an iteration). Goal <= 25 %.
2. Production projection (goal <= 10 %): the measured parts are a thesis-size se_e2_a model ([25, 50, 100] /
   [240, 240, 240], rcut 6 Å) trained here on the demo's data (two ``dp train`` runs of different lengths: the
   difference gives the time per training step without the start-up) and LAMMPS MD of the 108-atom HEA4 cell
   with that model once and ``--members`` times (the exploration's ensemble). A production iteration of
   ``workflows/hea4.yaml`` is then train steps x time per step (members in parallel) + its first-stage MD
   (structures x temperatures x steps with the ensemble); labels are left out (VASP time depends on the
   cluster), so the share printed is an upper bound. Its validation: the MD steps of its ``validate:`` section
   with one model + the 0 K single points (E-V and strains, counted from the settings) at the same per-step
   cost. The oracle's values are computed once per campaign and are not counted.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

from heal import WORKFLOWS_DIR


def demo_iterations(root: Path) -> dict[int, dict[str, float]]:
    """iteration -> stage -> seconds inside the stage's Firework (from FireWorks' launch records)."""
    from heal.launchpad import open_launchpad

    lp, _ = open_launchpad(root, readonly=True)
    out: dict[int, dict[str, float]] = {}
    for launch in lp.launches.find({"state": "COMPLETED"}, projection=["fw_id", "runtime_secs"]):
        fw = lp.fireworks.find_one({"fw_id": launch["fw_id"]}, projection=["name"])
        _, it, stage = fw["name"].rsplit(" ", 2)
        if stage == "init":
            continue
        d = out.setdefault(int(it[2:]), {})
        key = stage.split("-")[0]
        d[key] = d.get(key, 0.0) + (launch.get("runtime_secs") or 0.0)
    return out


def _train_seconds(spec, type_map, systems, workdir: Path, executor) -> float:
    from heal.train.deepmd import train_member

    return train_member(spec, type_map, systems, workdir, executor, seed=1).seconds


def _md_steps_per_s(model: Path, copies: int, type_map: list[str], steps: int) -> float:
    from heal import phases
    from heal.validate.lammps_md import LammpsSession

    big = phases.fcc(3.60, "Ni").repeat(3)  # 108 atoms, the elements in turn
    big.set_chemical_symbols([type_map[i % len(type_map)] for i in range(len(big))])
    s = LammpsSession([f"pair_style deepmd {' '.join([str(model)] * copies)}", f"pair_coeff * * {' '.join(type_map)}"],
                      type_map)
    s.md(big, 300.0, 20, 20)  # warm-up: graph load, first neighbour list
    t0 = time.monotonic()
    s.md(big, 300.0, steps, steps)
    dt = time.monotonic() - t0
    s.close()
    return steps / dt


def production(root: Path, members: int, work: Path) -> dict:
    from heal.campaign import Campaign
    from heal.config import TrainSpec, load_config

    camp = Campaign.open(root)
    systems = camp.dataset.system_dirs()
    big = load_config(WORKFLOWS_DIR / "hea4.yaml")
    thesis = TrainSpec(steps=100, rcut=6.0, disp_freq=50, test_fraction=0.0)  # thesis-size nets (defaults)
    ex = camp.executor
    t_short = _train_seconds(thesis, camp.type_map, systems, work / "train-100", ex)
    t_long = _train_seconds(thesis.model_copy(update={"steps": 300}), camp.type_map, systems, work / "train-300", ex)
    per_step = (t_long - t_short) / 200.0
    model = work / "train-300" / "graph.pb"
    md1 = _md_steps_per_s(model, 1, camp.type_map, 200)
    mdn = _md_steps_per_s(model, members, camp.type_map, 200)
    st = big.explore.stages[0]
    explore_steps = big.explore.structures_per_iter * len(st.temperatures) * len(st.pressures or [None]) * st.nsteps
    train_s = big.train.steps * per_step
    explore_s = explore_steps / mdn
    v = big.validation
    n_md_phases = 2  # gamma and ni3al
    val_md_steps = n_md_phases * len(v.temperatures) * v.md_steps + v.npt_steps
    n_points = 14 * 4 + 4 * len(v.strains) * 2 * 3 + (14 * 4 * (members - 1) if v.spread else 0)
    val_s = val_md_steps / md1 + n_points / md1 + 10.0  # single points ~ one MD step each; 10 s start-up
    return {"train_step_s": per_step, "md_steps_per_s_1": md1, f"md_steps_per_s_{members}": mdn,
            "train_steps": big.train.steps, "explore_md_steps": explore_steps, "train_s": train_s,
            "explore_s": explore_s, "validation_md_steps": val_md_steps, "validation_points": n_points,
            "validation_s": val_s, "share_upper_bound": val_s / (train_s + explore_s + val_s)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", type=Path, default=Path("heal-demo-val"))
    ap.add_argument("--skip-demo", action="store_true", help="reuse a finished demo in --dir")
    ap.add_argument("--members", type=int, default=4)
    args = ap.parse_args()
    root = args.dir.resolve()
    print(f"machine: {platform.node()} {os.cpu_count()} cores, python {platform.python_version()}; "
          f"{time.strftime('%Y-%m-%d %H:%M %Z')}")
    if not args.skip_demo:
        t0 = time.monotonic()
        subprocess.run([sys.executable, "-m", "heal", "demo", "--dir", str(root)], check=True)
        print(f"heal demo: {time.monotonic() - t0:.0f} s")
    its = demo_iterations(root)
    print(f"\n{'iteration':>9} {'iteration s':>12} {'validate s':>11} {'share':>7}   stages")
    shares = []
    for it, d in sorted(its.items()):
        total = sum(d.values())
        share = d.get("validate", 0.0) / total if total else 0.0
        shares.append(share)
        stages = ", ".join(f"{k} {v:.1f}" for k, v in sorted(d.items()))
        print(f"{it:>9} {total:>12.1f} {d.get('validate', 0.0):>11.1f} {share:>7.1%}   {stages}")
    for it in sorted(its):
        vpath = root / f"iter-{it:03d}" / "validate" / "validate.json"
        if not vpath.is_file():
            print(f"  it{it}: no validate stage (campaign without a validate: section)")
            continue
        v = json.loads(vpath.read_text())
        print(f"  it{it}: model side {v['model_seconds']:.1f} s, oracle side {v['oracle_seconds']:.1f} s "
              f"({'cached' if v['oracle_cached'] else 'computed'}), verdict {v['ok']}")
    if shares:
        print(f"validate share of the demo's iterations: mean {sum(shares) / len(shares):.1%}, "
              f"max {max(shares):.1%} (goal <= 25 %)")
    p = production(root, args.members, root.parent / (root.name + "-prod-bench"))
    print(f"\nproduction projection (workflows/hea4.yaml, thesis-size model, {args.members} members):")
    for k, v in p.items():
        print(f"  {k:<24} {v:.4g}")
    print(f"validation share of a production iteration (labels excluded: an upper bound): "
          f"{p['share_upper_bound']:.1%} (goal <= 10 %)")


if __name__ == "__main__":
    main()
