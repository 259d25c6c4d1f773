"""A campaign on disk: its frozen config, seeds, datasets and one directory per iteration.

Layout (every path deterministic, so a relaunch finds what an earlier run finished)::

    <campaign>/
      campaign.yaml            the validated config, frozen at launch
      store/                   embedded FireWorks store (launchpad.json, writer.lock)
      seeds/                   seeds.extxyz, summary.tsv
      dataset/  testset/       labeled frames (deepmd/npy chunks); testset = held-out by frame hash
      init/label/<hash>/       initial labels
      iter-000/
        train/model-00/        input.json, lcurve.out, graph.pb, done.json
        explore/task-000/<run>/  in.lammps, model_devi.out, traj.dump, done.json
        select/                candidates.extxyz, select.json
        label/<hash>/          one directory per labeled frame (result.extxyz or rejected.json)
        label/batch-000.json   what each label batch appended
        report.json            the iteration summary (written by the plan step)
"""

from __future__ import annotations

import hashlib
from functools import cached_property
from pathlib import Path

import yaml

from heal.config import CampaignConfig, load_config, parse_config
from heal.errors import ConfigError
from heal.fsutil import atomic_write_text

CONFIG_NAME = "campaign.yaml"


def in_test_set(h: str, fraction: float) -> bool:
    """Deterministic held-out split by frame hash: the same frame always lands on the same side."""
    if fraction <= 0.0:
        return False
    return int(hashlib.sha256(h.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF < fraction


class Campaign:
    def __init__(self, root: Path, cfg: CampaignConfig):
        self.root = Path(root).resolve()
        self.cfg = cfg

    # -- creation / opening --------------------------------------------------------------------------
    @classmethod
    def create(cls, cfg: CampaignConfig) -> "Campaign":
        """Create the campaign directory; an existing one must hold the same config (else a clear error)."""
        from heal.label.registry import check_oracle

        check_oracle(cfg.label.oracle, cfg.label.params, cfg.system.type_map, str(cfg.source or cfg.name))
        if cfg.grow_from:  # heal.grow: find and check the parent; freeze its absolute directory
            from heal.grow.lineage import prepare_child

            prepare_child(cfg)
        _absolute_paths(cfg)
        root = cfg.campaign_dir()
        frozen = yaml.safe_dump(cfg.model_dump(mode="json", exclude={"source"}), sort_keys=True)
        cfile = root / CONFIG_NAME
        if cfile.is_file():
            if cfile.read_text() != frozen:
                raise ConfigError(f"{cfg.source or cfg.name}: campaign '{cfg.name}' already exists at {root} with "
                                  f"a different config; resume it with 'heal resume {root}', or give this "
                                  f"campaign another 'name' (or 'root')")
            return cls(root, cfg)
        root.mkdir(parents=True, exist_ok=True)
        atomic_write_text(cfile, frozen)
        return cls(root, cfg)

    @classmethod
    def open(cls, where: str | Path) -> "Campaign":
        """Open by campaign directory, or by name under ./campaigns/."""
        p = Path(where)
        candidates = [p, Path.cwd() / "campaigns" / str(where)]
        for c in candidates:
            if (c / CONFIG_NAME).is_file():
                cfg = parse_config(yaml.safe_load((c / CONFIG_NAME).read_text()), c / CONFIG_NAME)
                cfg.root = str(c.resolve())
                return cls(c, cfg)
        raise ConfigError(f"{where}: no campaign found (looked for {CONFIG_NAME} in "
                          f"{', '.join(str(c) for c in candidates)}); give the campaign directory or its name")

    @classmethod
    def from_file(cls, path: str | Path) -> "Campaign":
        return cls.create(load_config(path))

    # -- paths -----------------------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.cfg.name

    @property
    def type_map(self) -> list[str]:
        return self.cfg.system.type_map

    @property
    def seeds_dir(self) -> Path:
        return self.root / "seeds"

    def iter_dir(self, it: int) -> Path:
        return self.root / f"iter-{it:03d}"

    def model_dir(self, it: int, k: int) -> Path:
        return self.iter_dir(it) / "train" / f"model-{k:02d}"

    def explore_task_dir(self, it: int, task: int) -> Path:
        return self.iter_dir(it) / "explore" / f"task-{task:03d}"

    def report_path(self, it: int) -> Path:
        return self.iter_dir(it) / "report.json"

    def iterations(self) -> list[int]:
        return sorted(int(p.name[5:]) for p in self.root.glob("iter-[0-9][0-9][0-9]") if p.is_dir())

    # -- shared objects --------------------------------------------------------------------------------
    @cached_property
    def dataset(self):
        return self._open_dataset("dataset")

    @cached_property
    def testset(self):
        return self._open_dataset("testset")

    def _open_dataset(self, name: str):
        from heal.data.dataset import Dataset

        ds = Dataset(self.root / name, type_map=self.type_map)
        return ds

    @cached_property
    def machine(self):
        from heal.exec import load_machine

        return load_machine(self.cfg.machine_file())

    @cached_property
    def executor(self):
        from heal.exec import get_executor

        return get_executor(self.machine)

    def append_labels(self, frames, provenance: dict) -> dict:
        """Append labeled frames, each to the training or the held-out set by its hash; idempotent."""
        from heal.frames import frame_hash

        train, test = [], []
        for a in frames:
            (test if in_test_set(frame_hash(a), self.cfg.train.test_fraction) else train).append(a)
        r1 = self.dataset.append(train, provenance) if train else None
        r2 = self.testset.append(test, provenance) if test else None
        return {"train_added": r1.added if r1 else 0, "test_added": r2.added if r2 else 0,
                "duplicates": (r1.duplicates if r1 else 0) + (r2.duplicates if r2 else 0)}


def _absolute_paths(cfg: CampaignConfig) -> None:
    """The campaign file's relative paths (``init.data``, ``init.heldout``, a machine file of the user's) are
    relative to that file; the frozen copy lives in the campaign directory and is what every stage reads, so
    they are frozen as absolute paths."""
    from heal import MACHINES_DIR

    if cfg.source is None:
        return
    base = cfg.source.parent
    for field in ("data", "heldout"):
        setattr(cfg.init, field, [p if Path(p).expanduser().is_absolute() else str((base / p).resolve())
                                  for p in getattr(cfg.init, field)])
    machine = cfg.machine_file()
    if machine.parent != MACHINES_DIR.resolve():
        cfg.machine = str(machine)
