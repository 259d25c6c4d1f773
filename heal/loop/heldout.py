"""A fixed held-out set from the oracle's own MD at the exploration temperatures (``init.heldout_md``).

Rattled seeds are not what the potential meets in the exploration: a held-out set of them measures little.
Here the oracle itself drives NVT Langevin MD (ASE) from every seed at every temperature of the exploration
ladder; frames taken along each trajectory are labeled like any other frame (same sanity checks) and stored
in ``testset/`` once, before iteration 0, so every iteration is tested on the same frames.
"""

from __future__ import annotations

import json

from heal import progress
from heal.campaign import Campaign
from heal.errors import ConfigError, FatalError
from heal.fsutil import atomic_write_json


def md_frames(atoms, labeler, temperature: float, steps: int, every: int, timestep_fs: float, seed: int) -> list:
    """Frames every `every` steps of an NVT Langevin run of `atoms` at `temperature` K driven by `labeler`
    (the validate stage's oracle MD; the starting frame is left out)."""
    from heal.validate.calculators import OracleCalculator
    from heal.validate.md import ase_md

    tr = ase_md(atoms, OracleCalculator(labeler), temperature, steps, every, timestep_fs, seed, friction=0.01)
    if tr["error"]:
        raise FatalError(f"held-out MD at {temperature:g} K with the oracle failed: {tr['error']}")
    out = []
    for f in tr["frames"][1:]:
        f.info = {"heldout_T": float(temperature)}
        out.append(f)
    return out


def make_heldout(camp: Campaign) -> dict:
    """Run the oracle's MD, label its frames, store them in the held-out set; idempotent (``init/heldout.json``)."""
    from heal.label.registry import get_labeler
    from heal.label.results import InProcessLabeler
    from heal.label.runner import label_frames
    from heal.systems import read_seed_set

    spec = camp.cfg.init.heldout_md
    done = camp.root / "init" / "heldout.json"
    if spec is None:
        return {}
    if done.is_file():
        return json.loads(done.read_text())
    labeler = get_labeler(camp.cfg.label.oracle, camp.cfg.label.params)
    if not isinstance(labeler, InProcessLabeler):
        raise ConfigError(f"field 'init.heldout_md': the oracle {camp.cfg.label.oracle!r} is not computed in "
                          f"process, so heal cannot run MD with it; remove init.heldout_md (the held-out set is "
                          f"then a share of the labels, train.test_fraction) or use a teacher such as meam")
    temps = sorted({float(t) for st in camp.cfg.explore.stages for t in st.temperatures})
    runs = [(i, seed, j, t) for i, seed in enumerate(read_seed_set(camp.seeds_dir)) for j, t in enumerate(temps)]
    frames = []
    for i, seed, j, t in progress.counted(runs, len(runs), f"held-out MD ({camp.cfg.label.oracle}), {len(runs)} runs"):
        frames += md_frames(seed.atoms, labeler, t, spec.steps, spec.every, camp.cfg.explore.timestep_fs,
                            spec.seed + 1000 * i + j)
    res = label_frames(frames, camp.cfg.label, camp.root / "init" / "heldout", camp.executor, labeler=labeler,
                       partial=True)
    if res.stopped_by is not None:
        raise res.stopped_by
    added = camp.testset.append(res.labeled, {"stage": "heldout", "iteration": -1, "oracle": camp.cfg.label.oracle})
    out = {"frames": len(frames), "labeled": len(res.labeled), "test_added": added.added,
           "temperatures": temps, "rejected": len(res.rejected)}
    atomic_write_json(done, out)
    return out
