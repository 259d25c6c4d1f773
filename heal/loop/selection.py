"""What every engine's select hook shares: the label budget left for an iteration, and writing its picks."""

from __future__ import annotations

import math

from ase.io import write

from heal.campaign import Campaign
from heal.fsutil import atomic_write_json, atomic_write_with
from heal.loop.report import history


def selection_cap(camp: Campaign, it: int) -> int:
    """Frames iteration `it` may select: ``select.max_per_iter``, but never past ``loop.label_budget``
    (labels of the iterations before `it`; initial labels do not count, as in the plan's budget rule)."""
    cap = camp.cfg.select.max_per_iter
    budget = camp.cfg.loop.label_budget
    if budget is None:
        return cap
    used = sum(r.get("labeled", 0) for r in history(camp) if r["iteration"] < it)
    return max(0, min(cap, budget - used))


def finish_select(camp: Campaign, it: int, frames: list, counts: dict, **extra) -> dict:
    """Write the picked frames (``candidates.extxyz``) and ``select.json`` (the done-marker, last)."""
    sdir = camp.iter_dir(it) / "select"
    for a in frames:
        a.info["iteration"] = it
    atomic_write_with(sdir / "candidates.extxyz", lambda tmp: write(tmp, frames, format="extxyz"))
    bs = camp.cfg.label.batch_size
    out = {**counts, "selected": len(frames), "n_batches": math.ceil(len(frames) / bs) if frames else 0, **extra}
    atomic_write_json(sdir / "select.json", out)
    return out
