"""Checks and normalisation of what callers hand to :class:`heal.data.dataset.Dataset` (before any write)."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import Any

from ase.data import chemical_symbols

from heal.errors import FatalError


def check_type_map(type_map: Sequence[str]) -> list[str]:
    """The type map as clean chemical symbols, each once; FatalError naming the bad entries otherwise."""
    tm = [str(el).strip() for el in type_map]
    bad = [el for el in tm if el not in chemical_symbols[1:]]
    if bad:
        raise FatalError(f"type map {tm} has unknown element(s) {bad}; use chemical symbols such as Ni, Co, Cr, Al")
    if len(set(tm)) != len(tm) or not tm:
        raise FatalError(f"type map {tm} is empty or lists an element twice; list each element once")
    return tm


def json_default(obj: Any) -> Any:
    """``json.dumps`` fallback for numpy scalars / arrays and paths."""
    import numpy as np

    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON-serialisable")


def provenances(provenance: list[dict] | dict | None, n: int) -> list[dict]:
    """One plain-JSON provenance dict per frame from None, one dict for all, or a list of one per frame."""
    if provenance is None:
        provs: list[dict] = [{} for _ in range(n)]
    elif isinstance(provenance, dict):
        provs = [dict(provenance) for _ in range(n)]
    else:
        provs = [dict(p or {}) for p in provenance]
        if len(provs) != n:
            raise FatalError(f"got {n} frames but {len(provs)} provenance dicts; give one per frame or a single dict")
    try:  # normalise to plain JSON types now, so the manifest write cannot fail half-way
        return [json.loads(json.dumps(p, default=json_default)) for p in provs]
    except (TypeError, ValueError) as exc:
        raise FatalError(f"provenance must be JSON-serialisable: {exc}") from exc
