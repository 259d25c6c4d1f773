"""Screening benchmark: trust classification of a 10⁶-row model_devi.out, and the streaming D-optimal pick.

    /tmp/hv/bin/python benchmarks/screening.py [--rows 1000000] [--select-n 100000 1000000] [--dim 32] [-k 50]

Each measurement runs in its own subprocess and reports wall time and peak memory two ways: the peak
resident set growth after imports (VmHWM reset through /proc/self/clear_refs; Linux) and, in a second
run, tracemalloc's peak of traced allocations (numpy arrays included). Compared side by side on one file:

* ``loadtxt+loop`` — the plain baseline: ``numpy.loadtxt`` of the whole file, then a Python loop over rows;
* ``read_model_devi`` — heal's loop today: ``heal.explore.parse.read_model_devi`` + ``trust.classify``;
* ``screen_file`` — ``heal.select.screen.screen_file`` (chunked, memory ∝ candidates).

The generated file has DeePMD's layout (header, 7 columns, ~0.1 % ``-nan`` rows) and no torn last line, so
that the baseline can read it at all. The D-optimal rows pick k frames from n candidates with d-dimensional
descriptors (MD-like correlated random walks, 1,000 frames per trajectory) relative to 500 reference rows,
generated chunk by chunk (10⁵ rows) so only ``select_streaming``'s pool is held; ``greedy_dopt`` in memory is
timed for the smaller n. Descriptor computation (DeePMD) is not part of these timings.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

F_LO, F_HI = 0.1, 0.4


def _status() -> dict[str, int]:
    out = {}
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(("VmRSS", "VmHWM")):
                    key, val = line.split(":")
                    out[key] = int(val.split()[0])  # kB
    except OSError:
        pass
    return out


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


# -- workers (run in a subprocess) ----------------------------------------------------------------------
def _loadtxt_loop(path: str) -> dict:
    import numpy as np

    data = np.loadtxt(path)
    acc = fail = 0
    cand: list[tuple[int, float]] = []
    for row in data:
        f = row[4]
        if not f < F_HI:  # NaN too
            fail += 1
        elif f < F_LO:
            acc += 1
        else:
            cand.append((int(row[0]), float(f)))
    return {"counts": [acc, len(cand), fail]}


def _read_model_devi(path: str) -> dict:
    from heal.config import SelectSpec
    from heal.explore.parse import read_model_devi
    from heal.select.trust import CANDIDATE, classify, count

    devi = read_model_devi(Path(path))
    cls = classify(devi["max_devi_f"], SelectSpec(f_lo=F_LO, f_hi=F_HI))
    steps = devi["step"][cls == CANDIDATE]
    c = count(cls)
    return {"counts": [c.accurate, c.candidate, c.failed], "n_steps": int(steps.size)}


def _screen(path: str) -> dict:
    from heal.select.screen import screen_file

    c, steps, _ = screen_file(Path(path), F_LO, F_HI)
    return {"counts": [c.accurate, c.candidate, c.failed], "n_steps": int(steps.size)}


def _chunks(n: int, d: int, seed: int, chunk: int = 100_000, traj: int = 1000):
    """MD-like descriptors: independent random walks of `traj` frames each, generated `chunk` rows at a time."""
    import numpy as np

    rng = np.random.default_rng(seed)
    for s in range(0, n, chunk):
        m = min(chunk, n - s)
        out = np.empty((m, d))
        for t in range(0, m, traj):  # one trajectory at a time: no chunk-sized temporaries
            walk = np.cumsum(rng.normal(scale=0.05, size=(min(traj, m - t), d)), axis=0)
            out[t:t + traj] = walk + rng.normal(size=d)
        yield out


def _dopt(n: str, d: str, k: str, mode: str) -> dict:
    import numpy as np

    from heal.select.maxvol import greedy_dopt, select_streaming

    n_, d_, k_ = int(n), int(d), int(k)
    ref = next(_chunks(500, d_, seed=99, traj=100))
    t0 = time.perf_counter()
    if mode == "stream":
        for _ in _chunks(n_, d_, seed=1):  # time the generation alone, to subtract it
            pass
        gen = time.perf_counter() - t0
        t0 = time.perf_counter()
        picks = select_streaming(_chunks(n_, d_, seed=1), k_, ref)
        t0 += gen
    else:
        X = np.concatenate(list(_chunks(n_, d_, seed=1)))
        t0 = time.perf_counter()  # time the pick, not the generation
        picks = greedy_dopt(X, k_, ref)
    return {"picked": int(len(picks)), "pick_seconds": time.perf_counter() - t0}


WORKERS = {"loadtxt+loop": _loadtxt_loop, "read_model_devi": _read_model_devi, "screen_file": _screen,
           "dopt": _dopt}


def _worker(name: str, args: list[str], trace: bool) -> None:
    import numpy  # noqa: F401  (imports are not part of the measurement)

    if name != "loadtxt+loop":
        import heal.select.maxvol  # noqa: F401
        import heal.select.screen  # noqa: F401
    if trace:
        import tracemalloc

        tracemalloc.start()
    base = _status().get("VmRSS", 0)
    reset = _reset_peak()
    t0 = time.perf_counter()
    out = WORKERS[name](*args)
    out["seconds"] = time.perf_counter() - t0
    if trace:
        out["tracemalloc_peak_mb"] = tracemalloc.get_traced_memory()[1] / 2**20
    elif reset:
        out["rss_peak_growth_mb"] = max(_status().get("VmHWM", 0) - base, 0) / 1024
    print(json.dumps(out))


BLAS_THREADS = 1


def _run(name: str, *args, trace: bool = False) -> dict:
    cmd = [sys.executable, __file__, "--worker", name, *map(str, args)] + (["--trace"] if trace else [])
    env = dict(os.environ)
    if BLAS_THREADS > 0:
        env.update({v: str(BLAS_THREADS) for v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")})
    res = subprocess.run(cmd, capture_output=True, text=True, check=True, env=env)
    return json.loads(res.stdout.strip().splitlines()[-1])


# -- driver --------------------------------------------------------------------------------------------
def write_model_devi(path: Path, rows: int, seed: int = 0) -> None:
    """A DeePMD-style model_devi.out with `rows` rows; deviations log-normal, 0.1 % of rows NaN."""
    import numpy as np

    rng = np.random.default_rng(seed)
    with open(path, "w") as fh:
        fh.write("#       step         max_devi_v         min_devi_v         avg_devi_v         max_devi_f"
                 "         min_devi_f         avg_devi_f\n")
        for s in range(0, rows, 50_000):
            m = min(50_000, rows - s)
            vals = rng.lognormal(-2.0, 1.0, size=(m, 6))
            steps = 10 * np.arange(s, s + m)
            lines = [f"{st:>12d}" + "".join(f" {v:>18.6e}" for v in row) for st, row in zip(steps, vals)]
            for i in np.flatnonzero(rng.random(m) < 1e-3):
                lines[i] = f"{steps[i]:>12d}" + f" {'-nan':>18}" * 6
            fh.write("\n".join(lines) + "\n")


def _machine() -> str:
    cpu = platform.processor() or ""
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import numpy

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, numpy {numpy.__version__}, "
            f"load avg {load:.1f} at start")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--select-n", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--dim", type=int, default=32)
    ap.add_argument("-k", type=int, default=50)
    ap.add_argument("--repeat", type=int, default=3, help="fresh-process runs per measurement (min and median)")
    ap.add_argument("--blas-threads", type=int, default=1,
                    help="OPENBLAS/OMP/MKL_NUM_THREADS for the workers (0: inherit). On a busy 2-core machine "
                         "2 BLAS threads made the D-optimal pick 4× slower than 1")
    ap.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    ap.add_argument("--trace", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker:
        _worker(a.worker[0], a.worker[1:], a.trace)
        return
    global BLAS_THREADS
    BLAS_THREADS = a.blas_threads
    print(f"# {time.strftime('%Y-%m-%d %H:%M %Z')} — {_machine()}; BLAS threads {a.blas_threads or 'inherited'}")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model_devi.out"
        t0 = time.perf_counter()
        write_model_devi(path, a.rows)
        print(f"# generated {a.rows:,} rows ({path.stat().st_size / 2**20:.0f} MiB) in "
              f"{time.perf_counter() - t0:.1f} s; levels f_lo={F_LO} f_hi={F_HI} eV/Å\n")
        print(f"| screening (classify) | rows | wall s, min of {a.repeat} | median | peak RSS growth MiB | "
              "tracemalloc peak MiB | accurate / candidate / failed |")
        print("|---|---:|---:|---:|---:|---:|---|")
        counts = {}
        for name in ("loadtxt+loop", "read_model_devi", "screen_file"):
            runs = [_run(name, path) for _ in range(max(a.repeat, 1))]
            tr = _run(name, path, trace=True)
            r = runs[0]
            secs = sorted(x["seconds"] for x in runs)
            counts[name] = r["counts"]
            print(f"| {name} | {a.rows:,} | {secs[0]:.2f} | {secs[len(secs) // 2]:.2f} | "
                  f"{r.get('rss_peak_growth_mb', float('nan')):.0f} | {tr['tracemalloc_peak_mb']:.0f} | "
                  f"{' / '.join(f'{c:,}' for c in r['counts'])} |")
        print(f"\nall three agree on the counts: {len({tuple(c) for c in counts.values()}) == 1}\n")
    print(f"| D-optimal pick (d = {a.dim}, k = {a.k}, 500 reference rows) | candidates | pick s, min of "
          f"{a.repeat} | median | peak RSS growth MiB |")
    print("|---|---:|---:|---:|---:|")
    for n in a.select_n:
        modes = ["stream"] + (["memory"] if n <= 200_000 else [])
        for mode in modes:
            runs = [_run("dopt", n, a.dim, a.k, mode) for _ in range(max(a.repeat, 1))]
            secs = sorted(x["pick_seconds"] for x in runs)
            label = "select_streaming (chunks of 10⁵)" if mode == "stream" else "greedy_dopt (in memory)"
            print(f"| {label} | {n:,} | {secs[0]:.2f} | {secs[len(secs) // 2]:.2f} | "
                  f"{runs[0].get('rss_peak_growth_mb', float('nan')):.0f} |")


if __name__ == "__main__":
    main()
