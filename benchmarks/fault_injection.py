"""Kill a real campaign with SIGKILL many times at random moments, resume each time, and audit the result.

    .venv/bin/python benchmarks/fault_injection.py [--kills 50] [--seed 1] [--iterations 2] [--out DIR]

Uses the tiny real campaign of the test suite (HEA4, MEAM teacher, 2 tiny DeePMD models, real LAMMPS,
FireWorks on the embedded store). Prints every kill (delay, the Fireworks that were running, labels finished
so far), then the audit: frames lost, frames stored twice, oracle computations finished twice, iterations
completed. Exit status 1 if any invariant failed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from fault_harness import run_with_kills  # noqa: E402
from tiny_campaign import tiny_campaign  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kills", type=int, default=50)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--iterations", type=int, default=2)
    ap.add_argument("--window", type=float, nargs=2, default=(3.0, 40.0), help="kill delay range (s)")
    ap.add_argument("--out", type=Path, default=Path("fault-injection-run"))
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    root = args.out / "faulty"
    if root.exists():
        raise SystemExit(f"{root} exists: give another --out")
    cfg = tiny_campaign(args.out.resolve(), "faulty", iterations=args.iterations)
    print(f"{platform.node()}: {os.cpu_count()} cores; {time.strftime('%Y-%m-%d %H:%M')}; "
          f"{args.kills} kill points, delays uniform in {args.window} s, seed {args.seed}")
    rep = run_with_kills(cfg, root.resolve(), n_kills=args.kills, seed=args.seed, window=tuple(args.window),
                         timeout=6 * 3600)
    for k in rep.kills:
        print(f"kill {k.index:3d} after {k.after_s:5.1f} s  labels so far {k.labeled_so_far:4d}  "
              f"running: {', '.join(k.running) or '(between Fireworks)'}")
    stages = Counter()
    for k in rep.kills:
        for name in k.running or ["between"]:
            stages[name.split()[-1].split("-")[0]] += 1
    print(f"\nkills landed: {len(rep.kills)} (processes started: {rep.launches}); by stage: {dict(stages)}")
    print(f"finished: {rep.finished}, iterations: {rep.iterations}, frames stored: {rep.frames}, "
          f"unique: {rep.unique}, lost: {len(rep.lost)}, labels computed twice: {len(rep.double_computed)}, "
          f"wall {rep.seconds / 60:.1f} min")
    (args.out / "fault_report.json").write_text(json.dumps(rep.to_dict(), indent=1))
    print("OK" if rep.ok else "FAILED")
    return 0 if rep.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
