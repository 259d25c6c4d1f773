"""What the DP-GEN arm is given, taken from a heal arm so both start from the very same state.

Initial data: the heal campaign's ``init`` labels (the rattled seed cells labeled by the teacher), copied as
deepmd/npy systems. MD starting cells: the campaign's seed cells as POSCARs. Training input: heal's own
rendering of the shared training settings (dpgen replaces the systems and seeds).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from ase.io import write

from heal.config import TrainSpec
from heal.data.dataset import Dataset
from heal.systems import read_seed_set
from heal.train.deepmd import write_input

from labeleff.arms import ARMS, Settings


def source_campaign(work: Path) -> Path:
    for arm in ARMS:
        if (work / arm / "init" / "init.json").is_file():
            return work / arm
    raise RuntimeError(f"the dpgen arm needs a heal arm run first (its initial labels and seed cells); "
                       f"none of {', '.join(ARMS)} under {work} has them; put one before 'dpgen' in --arms")


def dpgen_inputs(work: Path, s: Settings) -> dict:
    src = source_campaign(work)
    ds = Dataset(src / "dataset")
    init = [e["hash"] for m in ds.manifests() for e in m["frames"] if e["provenance"].get("stage") == "init"]
    out = work / "dpgen-inputs"
    init_dir = out / "init"
    if not (init_dir / "done").is_file():
        copy = Dataset(init_dir / "data", type_map=ds.type_map)
        copy.append(list(ds.iter_frames(init)), {"stage": "init", "source": str(src)})
        (init_dir / "done").write_text(str(len(init)))
    poscars = []
    for seed in read_seed_set(src / "seeds"):
        p = out / "poscar" / seed.name / "POSCAR"
        p.parent.mkdir(parents=True, exist_ok=True)
        write(p, seed.atoms, format="vasp", direct=True, sort=False)
        poscars.append(p)
    with tempfile.TemporaryDirectory() as tmp:
        spec = TrainSpec(**s.train_block())
        inp = write_input(spec, ds.type_map, [], Path(tmp), seed=s.seed)
        train_input = json.loads(inp.read_text())
    return {"init_systems": Dataset(init_dir / "data").system_dirs(), "seed_poscars": poscars,
            "type_map": ds.type_map, "train_input": train_input, "n_models": s.n_models,
            "temps": s.temperatures, "nsteps": s.nsteps, "dump_freq": s.dump_freq, "timestep_fs": 1.0,
            "f_lo": s.f_lo, "f_hi": s.f_hi, "cap": s.cap,
            # dpgen trains once more after its last labeling step: iterations - 1 jobs give the heal arms' points
            "iterations": s.iterations - 1}
