"""One label stage of 16 frames with real DFT (GPAW): one submission to the local Slurm against the serial path.

    bash machines/slurm-local.sh start            # as root: a one-node Slurm on this machine
    .venv/bin/python benchmarks/slurm_label.py [--frames 16] [--group-size 4]

Three arms on the same 16 rattled Ni3Al cells (4 atoms, plane waves 300 eV, Γ), one after the other, each in a
fresh directory:
- ``serial``: ``machines/local.yaml`` with one job at a time (``max_parallel: 1``), the path heal had before;
- ``local``: ``machines/local.yaml`` with the jobs of the stage run concurrently (one per core);
- ``slurm``: ``machines/slurm-local.yaml`` (dpdispatcher, Slurm, LocalContext), the stage's jobs as ONE
  submission packed by ``group_size``; the Slurm jobs it made are counted with ``scontrol`` (the controller's
  own list).
Prints wall time per arm, the ratios, the number of Slurm jobs, and checks the three give the same energies.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from heal import MACHINES_DIR  # noqa: E402
from heal.config import LabelSpec  # noqa: E402
from heal.exec import get_executor, load_machine  # noqa: E402
from heal.label.runner import label_frames  # noqa: E402
from vasp_fixtures import rattled_ni3al  # noqa: E402


def slurm_jobs() -> set[str]:
    out = subprocess.run(["scontrol", "-o", "show", "jobs"], capture_output=True, text=True, check=True).stdout
    return {ln.split()[0] for ln in out.splitlines() if ln.startswith("JobId=")}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=16)
    ap.add_argument("--group-size", type=int, default=4)
    args = ap.parse_args()
    frames = [rattled_ni3al(i) for i in range(args.frames)]
    spec = LabelSpec(oracle="gpaw", d_min=1.0, batch_size=args.frames)
    work = Path(tempfile.mkdtemp(prefix="heal-bench-slurm-"))

    serial = load_machine(MACHINES_DIR / "local.yaml")
    serial.max_parallel = 1
    local = load_machine(MACHINES_DIR / "local.yaml")
    slurm = load_machine(MACHINES_DIR / "slurm-local.yaml")
    slurm.dispatcher["resources"]["group_size"] = args.group_size
    slurm.dispatcher["machine"]["remote_root"] = str(work / "remote")
    arms = {"serial": get_executor(serial), "local": get_executor(local), "slurm": get_executor(slurm)}

    print(f"# {args.frames} GPAW labels (Ni3Al, 4 atoms), {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
          f"{os.cpu_count()} cores, {platform.processor() or platform.machine()}")
    seconds, energies, n_jobs = {}, {}, None
    for name, ex in arms.items():
        before = slurm_jobs() if name == "slurm" else set()
        t0 = time.perf_counter()
        res = label_frames(frames, spec, work / name, ex)
        seconds[name] = time.perf_counter() - t0
        assert len(res.labeled) == args.frames and not res.rejected, res.rejected
        energies[name] = np.array([a.get_potential_energy() for a in res.labeled])
        if name == "slurm":
            n_jobs = len(slurm_jobs() - before)
        print(f"{name:>7}: {seconds[name]:7.1f} s")
    same = all(np.allclose(energies[k], energies["serial"], atol=1e-6) for k in energies)
    print(f"slurm jobs: {n_jobs} (frames {args.frames}, group_size {args.group_size}); energies equal: {same}")
    print(f"ratios: local / serial = {seconds['local'] / seconds['serial']:.2f}, "
          f"slurm / serial = {seconds['slurm'] / seconds['serial']:.2f}")
    return 0 if same and n_jobs == -(-args.frames // args.group_size) else 1


if __name__ == "__main__":
    raise SystemExit(main())
