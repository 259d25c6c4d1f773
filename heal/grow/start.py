"""How a grown campaign starts: the parent's frames in its datasets, the first training a finetune of the
parent's final models, and a set share of the parent's frames in every training batch.

Units: learning rates per step; RMSE eV/Å (forces), eV/atom (energies).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from heal.config import CampaignConfig, TrainSpec
from heal.fsutil import atomic_write_json

log = logging.getLogger("heal.grow")


def grow_dir(root: Path) -> Path:
    return Path(root) / "grow"


def import_parent(camp) -> dict:
    """Copy the parent's labeled frames into this campaign (training -> dataset, held-out -> testset), write
    ``grow/lineage.json`` and ``grow/import.json`` (the done-marker, with the chunks that hold the parent's
    frames); idempotent. Frames are copied as labeled ``ase.Atoms``, so their types are remapped by element
    name onto this dataset's type map, whatever order the parent's used."""
    from heal.data.dataset import Dataset
    from heal.grow.lineage import ancestors, find_parent, final_models

    gdir = grow_dir(camp.root)
    done = gdir / "import.json"
    if done.is_file():
        return json.loads(done.read_text())
    proot, parent, _ = find_parent(camp.cfg)
    it, models = final_models(proot, parent)
    atomic_write_json(gdir / "lineage.json", {"parent": str(proot), "parent_iteration": it,
                                              "parent_models": [str(m) for m in models],
                                              "ancestors": ancestors(proot, parent)})
    out = {"parent": str(proot), "train_frames": 0, "test_frames": 0, "train_chunks": [], "test_chunks": []}
    if camp.cfg.grow.import_data:
        for side, mine in (("dataset", camp.dataset), ("testset", camp.testset)):
            src = Dataset(proot / side)
            if not src.exists:
                continue
            frames = list(src.iter_frames())
            prov = [{"source": f"grow:{parent.name}", **{k: v for k, v in a.info.items()
                                                          if isinstance(v, (str, int, float, bool))}}
                    for a in frames]
            res = mine.append(frames, prov)
            key = "train" if side == "dataset" else "test"
            out[f"{key}_frames"] = res.added
            out[f"{key}_chunks"] = [res.chunk] if res.chunk else []
    atomic_write_json(done, out)
    log.info("%s: imported %d + %d held-out frames from the parent %s", camp.root, out["train_frames"],
             out["test_frames"], proot)
    return out


def parent_models(root: Path) -> list[Path]:
    lin = json.loads((grow_dir(root) / "lineage.json").read_text())
    return [Path(m) for m in lin["parent_models"]]


def finetune_spec(cfg: CampaignConfig) -> TrainSpec:
    """The training settings of a grown campaign's first iteration: fewer steps and a lower start rate."""
    g, t = cfg.grow, cfg.train
    steps = g.finetune_steps or max(1, t.steps // 4)
    lr = g.finetune_start_lr or t.start_lr / 10.0
    return t.model_copy(update={"steps": steps, "start_lr": lr, "stop_lr": min(t.stop_lr, lr)})


def order_systems(root: Path, systems: list[Path], old_ratio: float | None) -> tuple[list[Path], str | None]:
    """(systems with the parent's first, DeePMD ``auto_prob``) so that ``old_ratio`` of every batch comes from
    the parent's frames (None, or no frames on one side: DeePMD's default, in proportion to the sizes)."""
    imp = grow_dir(root) / "import.json"
    chunks = set(json.loads(imp.read_text()).get("train_chunks", [])) if imp.is_file() else set()
    old = [s for s in systems if Path(s).parent.name in chunks]
    new = [s for s in systems if Path(s).parent.name not in chunks]
    if old_ratio is None or not old or not new:
        return old + new, None
    k, n = len(old), len(old) + len(new)
    return old + new, f"prob_sys_size; 0:{k}:{old_ratio:g}; {k}:{n}:{1.0 - old_ratio:g}"


def train_plan(camp, it: int) -> dict | None:
    """For a grown campaign: {spec, init models (one per member), systems, auto_prob}; None otherwise."""
    if not camp.cfg.grow_from:
        return None
    spec = finetune_spec(camp.cfg) if it == 0 else camp.cfg.train
    systems, auto_prob = order_systems(camp.root, camp.dataset.system_dirs(), camp.cfg.grow.old_ratio)
    init = None
    if it == 0:
        pm = biased_parent_models(camp)
        init = [pm[j % len(pm)] for j in range(camp.cfg.n_models)]
    return {"spec": spec, "init": init, "systems": systems, "auto_prob": auto_prob}


def biased_parent_models(camp) -> list[Path]:
    """The parent's final models with the energy bias of this campaign's new elements fitted on its labeled
    frames (:mod:`heal.grow.bias`); ``grow/init/model-XX.pb``, made once."""
    from heal.grow.bias import fit_new_bias, read_bias, write_bias

    lin = json.loads((grow_dir(camp.root) / "lineage.json").read_text())
    pm = [Path(m) for m in lin["parent_models"]]
    out = [grow_dir(camp.root) / "init" / f"model-{k:02d}.pb" for k in range(len(pm))]
    if all(p.is_file() for p in out):
        return out
    old = set(lin["ancestors"][0]["elements"])
    new = [el for el in camp.type_map if el not in old]
    frames = list(camp.dataset.iter_frames()) if new else []
    out[0].parent.mkdir(parents=True, exist_ok=True)
    biases = {}
    for src, dst in zip(pm, out):
        bias = fit_new_bias(read_bias(src), camp.cfg.model_type_map, new, frames)
        write_bias(src, dst, bias)
        biases[dst.name] = dict(zip(camp.cfg.model_type_map, map(float, bias)))
    atomic_write_json(grow_dir(camp.root) / "init" / "bias.json", {"new_elements": new, "bias_eV": biases})
    return out
