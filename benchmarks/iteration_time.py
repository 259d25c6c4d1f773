"""Iteration wall time, heal against DP-GEN 0.14 on identical settings, one run after the other.

    .venv/bin/python -m pip install -e '.[bench]'        # dpgen 0.14 beside heal
    .venv/bin/python benchmarks/iteration_time.py [--iterations 3] [--models 4] [--steps 1000] [--cap 4]

Both arms: HEA4 with the MEAM teacher, the same initial labels and seed cells, the same DeePMD input (heal's
rendering), models trained from scratch every iteration, the same LAMMPS NVT runs (2 seed cells x 2
temperatures), DP-GEN's selection rule (fixed trust levels, random pick of `cap` frames), dpdispatcher with the
Shell batch type and LocalContext for every job, a 2 s status poll, nothing else running.

How each arm lays its jobs on the 2 cores is the machinery under test: DP-GEN runs a step's tasks in one group
(dpdispatcher ``group_size`` = the task count, one after the other) with 2 threads each (its job environment;
its 4 training tasks at once would oversubscribe the cores); heal runs at most ``cpu_per_node`` jobs at once and
shares the cores among them (``machines/dispatcher-local.yaml``: 4 members = 2 jobs of 2 members, 1 thread
each), and chains ``dp freeze`` behind each member's ``dp train`` in one task, as DP-GEN does.

- heal: ``machines/dispatcher-local.yaml`` (each stage's jobs as one submission; MEAM labels as jobs of heal's
  own Python), the campaign run by ``heal launch``;
- DP-GEN: ``dpgen run`` via ``benchmarks/labeleff/dpgen_arm.py`` (each step's tasks in one group; labels by
  ``fp_style: custom`` with the same MEAM teacher).

An iteration is measured from one trained model to the next (model i ready -> model i + 1 ready: explore,
select, label, train), from the frozen model files' modification times; heal keeps no held-out set here, so
neither arm runs ``dp test``. Prints each interval, the means, their ratio (goal heal <= 0.7 x DP-GEN) and heal's
time per stage from FireWorks' launch records.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

from heal import MACHINES_DIR  # noqa: E402
from labeleff.arms import Settings, campaign_file  # noqa: E402
from labeleff.dpgen_arm import run_dpgen_arm  # noqa: E402
from labeleff.shared import dpgen_inputs  # noqa: E402

ARM = "dpgen-rule"  # heal with DP-GEN's selection rule: only the machinery differs from DP-GEN


def heal_campaign(s: Settings, work: Path) -> Path:
    machine = yaml.safe_load((MACHINES_DIR / "dispatcher-local.yaml").read_text())
    machine["dispatcher"]["machine"]["remote_root"] = str((work / "remote").resolve())
    machine["dispatcher"]["check_interval"] = 2  # as the DP-GEN arm's poll
    # threads: heal's own layout (the preset's 2 cores shared out over the jobs running at once)
    (work / "remote").mkdir(parents=True, exist_ok=True)
    (work / "machine.yaml").write_text(yaml.safe_dump(machine))
    cfg_path = campaign_file(ARM, s, work)
    cfg = yaml.safe_load(cfg_path.read_text())
    cfg["machine"] = str((work / "machine.yaml").resolve())
    cfg["seeds"].update({"phases": ["fcc", "bcc"], "min_atoms": 32, "max_atoms": 32})
    cfg["explore"].update({"structures_per_iter": 2, "runs_per_task": 2})
    cfg_path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return cfg_path


def heal_models(root: Path, iterations: int, t0: float) -> list[float]:
    return [round(os.path.getmtime(root / f"iter-{i:03d}" / "train" / "model-00" / "graph.pb") - t0, 1)
            for i in range(iterations)]


def heal_stage_seconds(root: Path) -> dict[str, float]:
    from heal.launchpad import open_launchpad

    lp, _ = open_launchpad(root, readonly=True)
    out: dict[str, float] = {}
    for doc in lp.launches.find({}, projection=["fw_id", "time_start", "time_end"]):
        fw = lp.fireworks.find_one({"fw_id": doc["fw_id"]}, projection=["name"])
        stage = fw["name"].split()[-1].split("-")[0]
        if doc.get("time_start") and doc.get("time_end"):
            seconds = (datetime.fromisoformat(str(doc["time_end"])) -
                       datetime.fromisoformat(str(doc["time_start"]))).total_seconds()
            out[stage] = out.get(stage, 0.0) + seconds
    return {k: round(v, 1) for k, v in sorted(out.items())}


def intervals(times: list[float]) -> list[float]:
    return [round(b - a, 1) for a, b in zip(times, times[1:])]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, default=Path("iteration-time-run"))
    ap.add_argument("--iterations", type=int, default=3, help="models trained per arm (intervals = this - 1)")
    ap.add_argument("--models", type=int, default=4)
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--cap", type=int, default=4)
    ap.add_argument("--nsteps", type=int, default=300)
    args = ap.parse_args()
    s = Settings(iterations=args.iterations, cap=args.cap, n_init=8, n_models=args.models, steps=args.steps,
                 temperatures=[300.0, 1500.0], nsteps=args.nsteps, f_lo=0.0, f_hi=1.0e6)  # every frame a candidate
    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    print(f"# iteration time, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} cores, "
          f"{platform.processor() or platform.machine()}; {args.models} models x {args.steps} steps, "
          f"{args.cap} labels per iteration, 4 MD runs x {args.nsteps} steps", flush=True)

    stamp = work / "heal_started"
    if not (work / ARM / "finished.json").is_file():  # a finished heal arm is measured again, not rerun
        cfg = heal_campaign(s, work)
        stamp.write_text(f"{time.time():.3f}\n")
        with open(work / "heal.log", "w") as log:
            rc = subprocess.call([sys.executable, "-m", "heal", "launch", str(cfg)], stdout=log,
                                 stderr=subprocess.STDOUT)
        if rc != 0:
            print((work / "heal.log").read_text()[-3000:])
            return 1
    t0 = float(stamp.read_text())
    heal_times = heal_models(work / ARM, args.iterations, t0)
    print(f"heal models ready at {heal_times} s; stage seconds {heal_stage_seconds(work / ARM)}", flush=True)

    rows = run_dpgen_arm(work / "dpgen", **{**dpgen_inputs(work, s), "iterations": args.iterations - 1})
    dpgen_times = [r["seconds"] for r in rows]
    print(f"DP-GEN models ready at {dpgen_times} s", flush=True)

    hi, di = intervals(heal_times), intervals(dpgen_times)
    hm, dm = sum(hi) / len(hi), sum(di) / len(di)
    result = {"heal_intervals": hi, "dpgen_intervals": di, "heal_mean": round(hm, 1), "dpgen_mean": round(dm, 1),
              "ratio": round(hm / dm, 2), "heal_first_model": heal_times[0], "dpgen_first_model": dpgen_times[0]}
    (work / "results.json").write_text(json.dumps(result, indent=1))
    print(f"iteration (model i -> model i+1): heal {hi} s (mean {hm:.1f}), DP-GEN {di} s (mean {dm:.1f}); "
          f"ratio heal / DP-GEN = {hm / dm:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
