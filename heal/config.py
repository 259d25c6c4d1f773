"""Typed, strict campaign configuration (``workflows/*.yaml``).

A campaign file is validated once, at launch, by :func:`load_config`. Every model forbids unknown keys, and
every error message names the file, the field and how to fix it. The sections (``seeds:`` … ``store:``) live in
:mod:`heal.campaign_sections` and are importable from here too; ``system:`` is :mod:`heal.families`',
``validate:`` :mod:`heal.validate.spec`'s and ``grow:`` :mod:`heal.grow.spec`'s.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import ConfigDict, Field, ValidationError, field_validator, model_validator

from heal.campaign_sections import (ExploreSpec, ExploreStage, HeldoutMD, InitSpec, LabelSpec, LoopSpec, SeedSpec,
                                    SelectSpec, StoreSpec, TrainSpec)
from heal.configutil import Strict as _Strict
from heal.configutil import format_errors, resolve_machine
from heal.errors import ConfigError
from heal.families import SystemSpec
from heal.grow.spec import GrowSpec
from heal.validate.spec import ValidateSpec

__all__ = ["CampaignConfig", "ExploreSpec", "ExploreStage", "HeldoutMD", "InitSpec", "LabelSpec", "LoopSpec",
           "SeedSpec", "SelectSpec", "StoreSpec", "TrainSpec", "load_config", "parse_config"]

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class CampaignConfig(_Strict):
    model_config = ConfigDict(populate_by_name=True)
    name: str
    system: SystemSpec
    seeds: SeedSpec = SeedSpec()
    init: InitSpec = InitSpec()
    explore: ExploreSpec = ExploreSpec()
    select: SelectSpec = SelectSpec()
    label: LabelSpec = LabelSpec()
    train: TrainSpec = TrainSpec()
    loop: LoopSpec = LoopSpec()
    store: StoreSpec = StoreSpec()
    #: ``validate:`` per-iteration validation (lattice / elastic constants, MD stability); None: no validate
    #: stage (named ``validation`` in Python: ``validate`` is a BaseModel method)
    validation: ValidateSpec | None = Field(None, alias="validate")
    #: dpdispatcher / executor preset: machines/<machine>.yaml or a path to such a file
    machine: str = "local"
    #: campaign directory; default campaigns/<name> beside the campaign file's parent
    root: str | None = None
    #: grow from a smaller campaign: its directory, its name, or its campaign file (heal.grow)
    grow_from: str | None = None
    grow: GrowSpec = GrowSpec()

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _NAME_RE.match(v):
            raise ValueError(f"campaign name {v!r} must be 1-64 letters, digits, '_', '-' or '.', "
                             f"starting with a letter or digit")
        return v

    @field_validator("label")
    @classmethod
    def _known_oracle(cls, v: LabelSpec) -> LabelSpec:
        # checked on the campaign (not on LabelSpec) so that `heal label --oracle X` keeps its own message
        from heal.label.registry import LABELERS  # cheap: the registry maps names to import paths

        if v.oracle not in LABELERS:
            raise ValueError(f"unknown oracle {v.oracle!r} in label.oracle; use one of {sorted(LABELERS)}")
        return v

    @model_validator(mode="after")
    def _mtp_explores_nvt(self) -> "CampaignConfig":
        from heal.engines import ENGINES  # cheap: names and capabilities, no engine imported

        if not ENGINES[self.train.engine].npt and any(st.pressures for st in self.explore.stages):
            npt = " | ".join(sorted(n for n, e in ENGINES.items() if e.npt))
            raise ValueError(f"explore.stages: the {self.train.engine!r} engine explores at constant volume only "
                             f"(NVT); remove 'pressures' or use train.engine: {npt}")
        if self.loop.validation is not None and self.validation is None:
            raise ValueError("loop.validate sets tolerances but there is no 'validate:' section to compute "
                             "them; add 'validate: {}' (defaults) or remove loop.validate")
        if self.validation is not None and not ENGINES[self.train.engine].lammps_deepmd:
            deepmd = " | ".join(sorted(n for n, e in ENGINES.items() if e.lammps_deepmd))
            raise ValueError(f"validate: the validation stage runs the models in LAMMPS (pair_style deepmd), "
                             f"which the {self.train.engine!r} engine's are not; remove 'validate' or use "
                             f"train.engine: {deepmd}")
        sel, tm = self.train.sel, self.model_type_map
        if isinstance(sel, list) and len(sel) != len(tm):
            raise ValueError(f"train.sel has {len(sel)} numbers for the {len(tm)} elements {' '.join(tm)}; "
                             f"give one per element in that order, or one number for all")
        return self

    @property
    def model_type_map(self) -> list[str]:
        """Element order of the campaign's models: the system's elements, or the whole HEA chain's."""
        if self.train.type_map == "chain":
            from heal.families import chain_type_map

            return chain_type_map(self.system.type_map)
        return self.system.type_map

    @property
    def n_models(self) -> int:
        """Models trained per iteration: the DeePMD ensemble, or one MTP."""
        from heal.engines import ENGINES

        return self.train.n_models if ENGINES[self.train.engine].ensemble else 1

    # --- derived paths -------------------------------------------------------------------------
    source: Path | None = Field(None, exclude=True)

    def campaign_dir(self) -> Path:
        if self.root:
            p = Path(self.root).expanduser()
            if not p.is_absolute() and self.source is not None:
                p = self.source.parent / p
            return p.resolve()
        base = self.source.parent.parent if self.source is not None else Path.cwd()
        return (base / "campaigns" / self.name).resolve()

    def machine_file(self) -> Path:
        return resolve_machine(self.machine, self.source)


def parse_config(data: Any, source: str | Path = "<config>") -> CampaignConfig:
    """Validate a campaign mapping; raise ConfigError naming `source`, the field and the fix."""
    src = str(source)
    if not isinstance(data, dict):
        raise ConfigError(f"{src}: the campaign file must be a YAML mapping (key: value), "
                          f"got {type(data).__name__}")
    try:
        cfg = CampaignConfig.model_validate(data)
    except ValidationError as err:
        raise ConfigError(format_errors(src, err)) from None
    if isinstance(source, Path) or src != "<config>":
        cfg.source = Path(src).resolve()
    try:
        cfg.machine_file()
    except FileNotFoundError as exc:
        raise ConfigError(f"{src}: field 'machine': {exc}") from None
    return cfg


def load_config(path: str | Path) -> CampaignConfig:
    """Read and validate a campaign YAML file."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{p}: campaign file not found; give the path to a workflows/*.yaml file")
    try:
        data = yaml.safe_load(p.read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"{p}: malformed YAML{where}: {getattr(exc, 'problem', exc)}; "
                          f"fix the syntax (indentation, ':' after keys)") from None
    return parse_config(data, p)
