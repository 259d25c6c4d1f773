"""The heal-driven arms of the label-efficiency benchmark: one real heal campaign per selection rule.

Every arm is a complete campaign run by ``heal launch`` (FireWorks, LAMMPS + DeePMD ensemble, MEAM labels,
``dp train``) from one shared settings block; only ``select`` differs:

- ``heal``:        max-volume on the ensemble's descriptors, trust levels calibrated after each labeling;
- ``dpgen-rule``:  fixed trust levels, random pick up to the cap (DP-GEN's rule, re-implemented in heal);
- ``random``:      random frames from the same MD, whatever their deviation (only heal's sanity checks apply).

Training starts from scratch at every iteration in every arm (``init_from_previous: false``), as DP-GEN does by
default, so the arms differ in the frames they label and nothing else. No campaign holds out frames of its own
(``test_fraction: 0``): the benchmark's test set is generated separately by teacher MD.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from heal import PROJECT_ROOT


@dataclass
class Settings:
    """What every arm shares (and what the DP-GEN arm is given)."""

    iterations: int = 6
    cap: int = 2                      # labels per iteration, every arm
    n_init: int = 8                   # rattled seed cells labeled before iteration 0
    n_models: int = 2
    steps: int = 3000
    rcut: float = 5.0
    sel: int = 24                     # `dp neighbor-stat` on the teacher frames: at most 18 per element
    embedding: list[int] = field(default_factory=lambda: [8, 16, 32])
    fitting: list[int] = field(default_factory=lambda: [32, 32])
    temperatures: list[float] = field(default_factory=lambda: [300.0, 1200.0, 2200.0, 3000.0])
    nsteps: int = 500
    dump_freq: int = 10
    f_lo: float = 0.3                 # fixed trust levels (DP-GEN rule; heal's fallback before calibration)
    f_hi: float = 1.5
    target_error: float = 1.0         # heal's calibration target (eV/Å); the benchmark sets it from the floor
    seed: int = 7

    def train_block(self) -> dict:
        return {"n_models": self.n_models, "steps": self.steps, "rcut": self.rcut, "embedding": self.embedding,
                "fitting": self.fitting, "sel": self.sel, "start_lr": 0.002, "stop_lr": 0.0001,
                "disp_freq": max(1, self.steps // 10), "test_fraction": 0.0, "init_from_previous": False,
                "seed": self.seed}


ARMS = ("heal", "dpgen-rule", "random")


def select_block(arm: str, s: Settings) -> dict:
    base = {"max_per_iter": s.cap, "seed": s.seed, "f_lo": s.f_lo, "f_hi": s.f_hi}
    if arm == "heal":
        return {**base, "strategy": "maxvol", "trust": "calibrated", "target_error": s.target_error,
                "min_pairs": max(4, s.cap), "descriptor_dim": 16}
    if arm == "dpgen-rule":
        return {**base, "strategy": "random", "trust": "fixed"}
    if arm == "random":
        return {**base, "strategy": "random", "trust": "fixed", "f_lo": 0.0, "f_hi": 1.0e6}
    raise ValueError(f"unknown arm {arm!r}; choose from {ARMS}")


def campaign_file(arm: str, s: Settings, work: Path) -> Path:
    """Write the arm's campaign YAML under `work`; return its path."""
    cfg = {
        "name": arm,
        "root": str((work / arm).resolve()),
        "system": {"family": "HEA4"},
        "seeds": {"phases": ["fcc", "bcc"], "min_atoms": 32, "max_atoms": 54, "scales": [1.0], "seed": s.seed},
        "init": {"n_seed_labels": s.n_init, "rattle": 0.08},
        "explore": {"stages": [{"temperatures": s.temperatures, "nsteps": s.nsteps}], "dump_freq": s.dump_freq,
                    "structures_per_iter": 2, "runs_per_task": 4},
        "select": select_block(arm, s),
        "label": {"oracle": "meam", "batch_size": s.cap},
        "train": s.train_block(),
        # never stop early: every arm runs the same number of iterations
        "loop": {"max_iterations": s.iterations, "accurate_target": 1.0, "converged_iterations": s.iterations + 1},
        "machine": str(PROJECT_ROOT / "machines" / "local.yaml"),
    }
    work.mkdir(parents=True, exist_ok=True)
    path = work / f"{arm}.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def run_arm(arm: str, s: Settings, work: Path) -> list[dict]:
    """Run (or finish) the arm's campaign; return one point per trained iteration."""
    root = work / arm
    if not (root / "finished.json").is_file():
        cfg = campaign_file(arm, s, work)
        verb = ["resume", str(root)] if (root / "store").exists() else ["launch", str(cfg)]
        with open(work / f"{arm}.log", "a") as log:
            rc = subprocess.call([sys.executable, "-m", "heal", *verb], stdout=log, stderr=subprocess.STDOUT,
                                 env={**os.environ, "PYTHONUNBUFFERED": "1"})
        if rc != 0 or not (root / "finished.json").is_file():
            tail = (work / f"{arm}.log").read_text()[-2000:]
            raise RuntimeError(f"arm {arm}: heal exited with {rc} before finishing; log {work / f'{arm}.log'}:\n{tail}")
    return campaign_points(root)


def campaign_points(root: Path) -> list[dict]:
    """(iteration, labels its models were trained on, model files) for every trained iteration of a campaign."""
    from heal.data.dataset import Dataset

    ds = Dataset(root / "dataset")
    by_iter: dict[int, int] = {}
    for m in ds.manifests():
        for e in m["frames"]:
            it = int(e.get("provenance", {}).get("iteration", -1))
            by_iter[it] = by_iter.get(it, 0) + 1
    points = []
    for it_dir in sorted(root.glob("iter-*")):
        it = int(it_dir.name.split("-")[1])
        models = sorted(str(p) for p in (it_dir / "train").glob("model-*/graph.pb"))
        if not models:
            continue
        labels = sum(n for i, n in by_iter.items() if i < it)
        points.append({"iteration": it, "labels": labels, "models": models})
    return points


def summary(root: Path) -> dict:
    """The per-iteration select counts of a campaign (for the report): explored, candidates, failed, labeled."""
    out = {}
    for rep in sorted(root.glob("iter-*/report.json")):
        r = json.loads(rep.read_text())
        out[r["iteration"]] = {k: r.get(k) for k in ("explored", "accurate", "candidate", "failed", "labeled")}
    return out
