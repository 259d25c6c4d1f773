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


def get_labeler(name: str, params: dict[str, Any] | None = None):
    """Instantiate the labeler registered as `name` with its campaign ``label.params``."""
    if name not in LABELERS:
        raise ConfigError(f"field 'label.oracle': unknown oracle {name!r}; use one of {sorted(LABELERS)}")
    mod, cls = LABELERS[name].split(":")
    return getattr(importlib.import_module(mod), cls)(dict(params or {}))
