"""Labeler registry: oracle name (``label.oracle`` in a campaign file) -> implementation.

Adding an oracle (CP2K, MACE, ...) is one module implementing ``heal.label.base.Labeler`` and one line here.
"""

from __future__ import annotations

import importlib
from typing import Any

from heal.errors import ConfigError

LABELERS: dict[str, str] = {
    "vasp": "heal.label.vasp:VaspLabeler",
    "meam": "heal.label.meam:MeamLabeler",
    "universal": "heal.label.universal:UniversalLabeler",
    "gpaw": "heal.label.gpaw:GpawLabeler",
}


def labeler_class(name: str) -> type:
    """The class registered as `name` (imported, not instantiated)."""
    if name not in LABELERS:
        raise ConfigError(f"field 'label.oracle': unknown oracle {name!r}; use one of {sorted(LABELERS)}")
    mod, cls = LABELERS[name].split(":")
    return getattr(importlib.import_module(mod), cls)


def get_labeler(name: str, params: dict[str, Any] | None = None):
    """Instantiate the labeler registered as `name` with its campaign ``label.params``."""
    return labeler_class(name)(dict(params or {}))


def check_oracle(oracle: str, params: dict[str, Any] | None, elements: list[str], source: str = "") -> None:
    """ConfigError unless `oracle` takes `params` and covers every one of the campaign's `elements`.

    Builds the labeler (its parameter checks run; nothing is computed), then compares its element list.
    """
    where = f"{source}: " if source else ""
    try:
        lab = get_labeler(oracle, params)
    except ConfigError as exc:
        raise ConfigError(f"{where}{exc}") from None
    covered = getattr(lab, "elements", None)
    missing = [el for el in elements if covered is not None and el not in covered]
    if missing:
        others = sorted(n for n in LABELERS if n != oracle)
        raise ConfigError(f"{where}field 'label.oracle': the {oracle!r} oracle does not cover {', '.join(missing)} "
                          f"(it covers {' '.join(covered)}); choose an oracle for all of "
                          f"{' '.join(elements)} (one of {others}) or drop those elements from 'system'")
