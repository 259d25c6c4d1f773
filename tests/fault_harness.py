"""Fault injection: kill a running campaign with SIGKILL at random moments, resume, and check nothing is lost.

Used by ``tests/test_fault_injection.py`` (a handful of kills) and ``benchmarks/fault_injection.py`` (many);
it is a test harness, not part of the package. The campaign runs as ``python -m heal launch`` /
``python -m heal resume`` in its own process group, so the kill also takes down the ``dp`` / ``lmp`` children
it was running, as a node failure would.

Any exit the harness did not cause is a failure (:class:`UnexpectedExit`, with the log's tail): a run that
ends on its own must end with exit code 0 and the campaign finished; a crash of heal before a kill point is
never silently resumed.

Checked after the last resume:
- every frame whose label was finished before a kill (its ``result.extxyz`` existed) is in the final
  dataset or held-out set;
- no frame is stored twice (total frames == unique hashes);
- no oracle computation finished twice for one frame (the label directories' ``oracle_calls.jsonl``);
- the campaign ran to its end (``finished.json``) with the configured iterations.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np


class UnexpectedExit(AssertionError):
    """heal exited by itself with a failure (or without finishing) where the harness expected it to run on."""


@dataclass
class Kill:
    index: int
    after_s: float
    running: list[str]  # Fireworks RUNNING when the process died
    labeled_so_far: int


@dataclass
class FaultReport:
    kills: list[Kill] = field(default_factory=list)
    finished: bool = False
    iterations: int = 0
    frames: int = 0
    unique: int = 0
    lost: list[str] = field(default_factory=list)
    double_computed: list[str] = field(default_factory=list)
    seconds: float = 0.0
    launches: int = 0

    @property
    def ok(self) -> bool:
        return self.finished and not self.lost and not self.double_computed and self.frames == self.unique

    def to_dict(self) -> dict:
        d = asdict(self)
        d["ok"] = self.ok
        return d


def labeled_hashes(root: Path) -> set[str]:
    """Frames whose label is finished (done-marker written) anywhere in the campaign."""
    return {p.parent.name for pattern in ("init/label/*/result.extxyz", "iter-*/label/*/result.extxyz")
            for p in root.glob(pattern)}


def stored_hashes(root: Path) -> list[str]:
    """Every frame hash in the dataset and the held-out set (with repeats, if any)."""
    out = []
    for name in ("dataset", "testset"):
        for m in sorted((root / name / "chunks").glob("*/manifest.json")):
            out += [f["hash"] for f in json.loads(m.read_text())["frames"]]
    return out


def double_computed(root: Path) -> list[str]:
    """Frames for which the oracle finished more than once."""
    done: dict[str, int] = {}
    for j in root.glob("*/label/oracle_calls.jsonl"):
        for line in j.read_text().splitlines():
            try:
                ev = json.loads(line)
            except ValueError:
                continue  # a line torn by the kill
            if ev.get("event") == "done":
                done[ev["hash"]] = done.get(ev["hash"], 0) + 1
    return sorted(h for h, n in done.items() if n > 1)


def running_fireworks(root: Path) -> list[str]:
    from heal.launchpad import open_launchpad

    lp, _ = open_launchpad(root, readonly=True)
    return sorted(d["name"] for d in lp.fireworks.find({"state": {"$in": ["RUNNING", "RESERVED"]}},
                                                       projection=["name"]))


def _start(args: list[str], log: Path) -> subprocess.Popen:
    with open(log, "a") as fh:
        fh.write(f"\n$ heal {' '.join(args)}\n")
        fh.flush()
        return subprocess.Popen([sys.executable, "-m", "heal", *args], stdout=fh, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)


def _check_own_exit(proc: subprocess.Popen, args: list[str], root: Path, log: Path) -> None:
    """A run that ended by itself must have exited 0 with the campaign finished."""
    if proc.returncode == 0 and (root / "finished.json").is_file():
        return
    tail = "\n".join(log.read_text(errors="replace").splitlines()[-25:])
    raise UnexpectedExit(f"'heal {' '.join(args)}' exited with code {proc.returncode} "
                         f"({'campaign finished' if (root / 'finished.json').is_file() else 'campaign not finished'}) "
                         f"where the harness expected it to run on; last lines of {log}:\n{tail}")


def run_with_kills(config: Path, root: Path, n_kills: int, seed: int = 0, window: tuple[float, float] = (5.0, 60.0),
                   timeout: float = 3600.0, log: Path | None = None) -> FaultReport:
    """Launch the campaign in `config` (whose ``root`` is `root`), kill it `n_kills` times, then finish it."""
    rng = np.random.default_rng(seed)
    log = log or root.parent / f"{root.name}-faults.log"
    rep = FaultReport()
    t0 = time.monotonic()
    seen: set[str] = set()
    args = ["launch", str(config)]
    for k in range(n_kills):
        proc = _start(args, log)
        rep.launches += 1
        args = ["resume", str(root)]
        delay = float(rng.uniform(*window))
        try:
            proc.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            pass
        else:
            _check_own_exit(proc, args, root, log)
            break  # finished before this kill point
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        seen |= labeled_hashes(root)  # labels finished before this kill must all end up stored
        rep.kills.append(Kill(k, round(delay, 2), running_fireworks(root), len(seen)))
        if time.monotonic() - t0 > timeout:
            break
    # run to the end without interruption: one run must finish it
    if not (root / "finished.json").is_file():
        proc = _start(args, log)
        rep.launches += 1
        proc.wait(timeout=max(60.0, timeout - (time.monotonic() - t0)))
        _check_own_exit(proc, args, root, log)
    rep.finished = (root / "finished.json").is_file()
    rep.iterations = len(list(root.glob("iter-*/report.json")))
    stored = stored_hashes(root)
    rep.frames, rep.unique = len(stored), len(set(stored))
    rep.lost = sorted((seen | labeled_hashes(root)) - set(stored))
    rep.double_computed = double_computed(root)
    rep.seconds = time.monotonic() - t0
    return rep

