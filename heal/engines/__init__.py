"""Engine registry: ``train.engine`` in a campaign file -> the module that trains, explores and selects.

An engine module provides four hooks, each ``(campaign, iteration, ...) -> small JSON-able dict``:

- ``train(camp, it, member)``: the iteration's models (``member``: one ensemble member, or None for all);
  returns ``models`` (paths), ``seconds``, ``rmse_f`` and ``rmse_e_per_atom`` (held-out, or None);
- ``explore(camp, it, tasks)``: ``tasks`` is a list of ``(runs, task_dir)`` with ``runs`` a list of
  (:class:`heal.explore.lammps.ExploreRun`, seed Atoms); returns ``runs``, ``frames``, ``errors``;
- ``select(camp, it)``: classify the explored frames, pick candidates and end with
  :func:`heal.loop.selection.finish_select` (which writes ``candidates.extxyz`` and ``select.json``);
- ``after_iteration(camp, it)``: extra fields for the iteration report (e.g. recalibrated trust levels), or None.

Labeling, the dataset and the plan step are shared by every engine. Adding one (MACE, ACE, a finetuned
foundation model) is one module with these hooks and one line here; the line also says what the campaign
file may ask of the engine (checked when the file is read, before any engine is imported).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType

from heal.errors import ConfigError


@dataclass(frozen=True)
class Engine:
    module: str
    #: trains ``train.n_models`` models per iteration (False: one model, whatever n_models says)
    ensemble: bool = True
    #: explores at constant pressure too (``explore.stages[].pressures``)
    npt: bool = True
    #: its models run in LAMMPS as ``pair_style deepmd`` (the validate stage needs that)
    lammps_deepmd: bool = True


ENGINES: dict[str, Engine] = {
    "deepmd": Engine("heal.engines.deepmd"),
    "mtp": Engine("heal.engines.mtp", ensemble=False, npt=False, lammps_deepmd=False),  # ASE MD with γ per step: NVT only
}


def get_engine(name: str) -> ModuleType:
    """The engine module registered as `name`."""
    if name not in ENGINES:
        raise ConfigError(f"field 'train.engine': unknown engine {name!r}; use one of {sorted(ENGINES)}")
    return importlib.import_module(ENGINES[name].module)
