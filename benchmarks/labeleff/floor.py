"""The capacity floor: the arms' own model and training budget, trained on a large pool of teacher-MD frames.

No selection rule can get this model below the floor with this budget; it tells whether the benchmark can
discriminate at all (the first iteration's error must be well above it) and sets the target accuracy.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from heal.config import TrainSpec
from heal.data.dataset import Dataset
from heal.exec import get_executor
from heal import PROJECT_ROOT

from labeleff.arms import Settings
from labeleff.evaluate import ensemble_errors


def capacity_floor(pool: Dataset, s: Settings, work: Path, frames, type_map: list[str]) -> dict:
    """Train ``s.n_models`` members on every frame of `pool`; their test errors (cached per training settings)."""
    from heal.train.deepmd import train_member

    block = s.train_block()
    work = work / hashlib.sha256(json.dumps(block, sort_keys=True).encode()).hexdigest()[:10]  # per settings
    done = work / "floor.json"
    if done.is_file():
        return json.loads(done.read_text())
    spec = TrainSpec(**block)
    ex = get_executor(PROJECT_ROOT / "machines" / "local.yaml")
    models = [train_member(spec, type_map, pool.system_dirs(), work / f"model-{k:02d}", ex, seed=s.seed + k).model
              for k in range(s.n_models)]
    res = {**ensemble_errors(models, frames, type_map), "labels": len(pool), "models": models}
    work.mkdir(parents=True, exist_ok=True)
    done.write_text(json.dumps(res, indent=1))
    return res
