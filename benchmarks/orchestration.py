"""heal's own orchestration overhead: 1,000 no-op Fireworks per "iteration" through heal's worker loop.

Side by side in one run:
  A. FireWorks on plain in-memory mongomock (no persistence: the floor FireWorks itself costs);
  B. heal's durable embedded store (snapshot after every LaunchPad operation, atomic rename, fsync).
Reports ms per task for each, the ratio B/A, the store file size, and the number of snapshots.
With ``--demo DIR`` it also reads a finished demo campaign and reports time per stage and heal's share of
the wall time (wall time minus the time spent inside stage tasks).

    .venv/bin/python benchmarks/orchestration.py [--tasks 1000] [--demo heal-demo]
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from datetime import datetime
from pathlib import Path

from fireworks import Firework, FWorker, PyTask, Workflow
from fireworks.core.rocket_launcher import launch_rocket

from heal.launchpad import DurableStore, _launchpad_with_client


def _noop_workflow(n: int, campaign: str) -> Workflow:
    # a fan-out like an iteration's label batches: one parent, n-1 children
    root = Firework(PyTask(func="builtins.len", args=[[1]]), spec={"campaign": campaign}, name="root")
    kids = [Firework(PyTask(func="builtins.len", args=[[1]]), spec={"campaign": campaign}, name=f"t{i}",
                     parents=[root]) for i in range(n - 1)]
    return Workflow([root] + kids)


def _run_all(lp, n: int, launch_dir: Path) -> float:
    os.chdir(launch_dir)
    fworker = FWorker(name="bench", query={"spec.campaign": "bench"})
    t0 = time.perf_counter()
    ran = 0
    while launch_rocket(lp, fworker, strm_lvl="ERROR"):
        ran += 1
    assert ran == n, f"ran {ran} of {n}"
    return time.perf_counter() - t0


def bench(n: int) -> dict:
    import mongomock
    import mongomock.gridfs

    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        # A: plain mongomock (FireWorks' floor)
        mongomock.gridfs.enable_gridfs_integration()
        lp = _launchpad_with_client(mongomock.MongoClient())
        lp.reset("", require_password=False)
        lp.add_wf(_noop_workflow(n, "bench"))
        (tmp / "a").mkdir()
        out["plain_s"] = _run_all(lp, n, tmp / "a")
        # B: heal's durable store
        store = DurableStore(tmp / "store")
        lp = _launchpad_with_client(store.client(), store=store)
        lp.reset("", require_password=False)
        t0 = time.perf_counter()
        lp.add_wf(_noop_workflow(n, "bench"))
        out["add_wf_s"] = time.perf_counter() - t0
        store.persist_count = 0
        store.persist_seconds = 0.0
        (tmp / "b").mkdir()
        out["durable_s"] = _run_all(lp, n, tmp / "b")
        out["snapshots"] = store.persist_count
        out["snapshot_s"] = store.persist_seconds
        out["store_bytes"] = (tmp / "store" / "launchpad.json").stat().st_size
        store.close()
        os.chdir(tmp)
    return out


def demo_stages(root: Path) -> dict:
    """Time per stage of a finished campaign, from FireWorks' launch records, and heal's share."""
    from heal.launchpad import open_launchpad

    lp, _ = open_launchpad(root, readonly=True)
    per: dict[str, float] = {}
    starts, ends = [], []
    for launch in lp.launches.find({}, projection=["fw_id", "time_start", "time_end", "runtime_secs"]):
        fw = lp.fireworks.find_one({"fw_id": launch["fw_id"]}, projection=["name"])
        stage = fw["name"].split()[-1].split("-")[0]
        per[stage] = per.get(stage, 0.0) + (launch.get("runtime_secs") or 0.0)
        if launch.get("time_start") and launch.get("time_end"):  # FireWorks stores ISO strings
            starts.append(datetime.fromisoformat(str(launch["time_start"])))
            ends.append(datetime.fromisoformat(str(launch["time_end"])))
    wall = (max(ends) - min(starts)).total_seconds() if starts else 0.0
    inside = sum(per.values())
    return {"per_stage_s": per, "wall_s": wall, "inside_tasks_s": inside,
            "outside_tasks_s": wall - inside, "outside_share": (wall - inside) / wall if wall else None}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", type=int, default=1000)
    ap.add_argument("--demo", type=Path, default=None, help="a finished demo campaign directory")
    args = ap.parse_args()
    print(f"machine: {platform.node()} {os.cpu_count()} cores, python {platform.python_version()}; "
          f"{time.strftime('%Y-%m-%d %H:%M')}")
    r = bench(args.tasks)
    n = args.tasks
    print(f"\n{n} no-op Fireworks through launch_rocket")
    print(f"{'store':<28}{'total s':>10}{'ms/task':>10}")
    print(f"{'mongomock, no persistence':<28}{r['plain_s']:>10.2f}{1000 * r['plain_s'] / n:>10.2f}")
    print(f"{'heal durable store':<28}{r['durable_s']:>10.2f}{1000 * r['durable_s'] / n:>10.2f}")
    print(f"ratio durable / plain: {r['durable_s'] / r['plain_s']:.2f}; snapshots: {r['snapshots']} "
          f"({1000 * r['snapshot_s'] / max(r['snapshots'], 1):.1f} ms each, {r['snapshot_s']:.1f} s total); "
          f"store file {r['store_bytes'] / 1e6:.2f} MB; add_wf of {n} Fireworks {r['add_wf_s']:.2f} s")
    if args.demo:
        d = demo_stages(args.demo.resolve())
        print(f"\ndemo campaign {args.demo}: wall {d['wall_s']:.0f} s, inside stage tasks {d['inside_tasks_s']:.0f} s")
        for k, v in sorted(d["per_stage_s"].items(), key=lambda kv: -kv[1]):
            print(f"  {k:<10}{v:>8.1f} s")
        print(f"  heal + FireWorks outside the tasks: {d['outside_tasks_s']:.1f} s "
              f"({100 * (d['outside_share'] or 0):.2f} % of the wall time)")


if __name__ == "__main__":
    main()
