"""A tiny real campaign for end-to-end and fault-injection tests: HEA4, MEAM teacher, 2 tiny DeePMD models.

Every engine is real (MEAM labels, dp train / freeze / test, LAMMPS with the DeePMD ensemble, FireWorks on
the embedded store); only the sizes are small: one 32-atom FCC seed, 100-step MD, 60 training steps.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from heal import PROJECT_ROOT


def tiny_campaign(directory: Path, name: str = "tiny", iterations: int = 2, **overrides) -> Path:
    """Write a campaign file whose campaign directory is ``directory/<name>``; return the file's path."""
    cfg = {
        "name": name,
        "root": str(directory / name),
        "system": {"family": "HEA4"},
        "seeds": {"phases": ["fcc"], "min_atoms": 32, "max_atoms": 32, "scales": [1.0], "seed": 3},
        "init": {"n_seed_labels": 10, "rattle": 0.08},
        "explore": {"stages": [{"temperatures": [300, 800], "nsteps": 100}], "dump_freq": 10,
                    "structures_per_iter": 1, "runs_per_task": 2},
        "select": {"f_lo": 0.05, "f_hi": 5.0, "max_per_iter": 4},
        "label": {"oracle": "meam", "batch_size": 2},
        "train": {"n_models": 2, "steps": 60, "rcut": 4.5, "embedding": [4, 8, 16], "fitting": [16, 16],
                  "start_lr": 0.002, "stop_lr": 0.0002, "disp_freq": 20, "test_members": 1, "test_fraction": 0.2},
        "loop": {"max_iterations": iterations, "accurate_target": 0.99},
        "machine": str(PROJECT_ROOT / "machines" / "local.yaml"),
    }
    for key, val in overrides.items():
        cfg[key] = {**cfg.get(key, {}), **val} if isinstance(val, dict) else val
    path = directory / f"{name}.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def meam_frames(n: int, seed: int, elements=("Ni", "Co", "Cr", "Al")) -> list:
    """`n` MEAM-labeled 32-atom random FCC cells of `elements` (rattled 0.1 Å): held-out frames "of your own"."""
    import numpy as np
    from ase.build import bulk

    from heal.frames import set_labels
    from heal.label.meam import MeamLabeler

    meam, rng, out = MeamLabeler(), np.random.default_rng(seed), []
    for _ in range(n):
        a = bulk("Ni", "fcc", a=3.6, cubic=True).repeat(2)
        a.set_chemical_symbols(rng.permutation((list(elements) * 32)[:32]))
        a.rattle(0.1, seed=int(rng.integers(1 << 30)))
        e, f, s = meam.compute(a)
        out.append(set_labels(a, e, f, stress=s))
    meam.close()
    return out
