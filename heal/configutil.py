"""Helpers of the campaign config that need no model: machine-preset lookup and error formatting."""

from __future__ import annotations

import math
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from heal import MACHINES_DIR


class Strict(BaseModel):
    """Every campaign-file model: unknown keys are errors, assignments are validated."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


def resolve_machine(machine: str, source: Path | None = None) -> Path:
    """Find a machine preset by name (``machines/NAME.yaml``) or path."""
    cand = Path(machine).expanduser()
    tries = []
    if cand.suffix in (".yaml", ".yml") or "/" in machine:
        tries.append(cand if cand.is_absolute() or source is None else source.parent / cand)
        tries.append(cand)
    else:
        if source is not None:
            tries.append(source.parent.parent / "machines" / f"{machine}.yaml")
        tries.append(Path.cwd() / "machines" / f"{machine}.yaml")
        tries.append(MACHINES_DIR / f"{machine}.yaml")
    for t in tries:
        if t.is_file():
            return t.resolve()
    known = sorted(p.stem for p in MACHINES_DIR.glob("*.yaml"))
    raise FileNotFoundError(f"machine preset {machine!r} not found (looked in {', '.join(str(t) for t in tries)}); "
                            f"use one of {known} or a path to a machines/*.yaml file")


def format_errors(path: str, err: ValidationError) -> str:
    lines = [f"{path}: {err.error_count()} problem(s) in the campaign file"]
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"]) or "(top level)"
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            msg = f"unknown key {loc.split('.')[-1]!r}; remove it or check its spelling (see workflows/hea4.yaml)"
        elif e["type"] == "missing":
            msg = "required field is missing; add it"
        elif e["type"] == "literal_error":
            msg = f"{msg} (got {e.get('input')!r})"
        elif e["type"] == "too_short":
            msg = f"{msg}; give at least one entry"
        lines.append(f"  {path}: field '{loc}': {msg}")
    return "\n".join(lines)


def absolute_temperatures(v: list[float]) -> list[float]:
    """Field check: every temperature is a finite, positive number of kelvin."""
    for t in v:
        if not (t > 0.0) or math.isinf(t):
            raise ValueError(f"temperature {t} K is not positive; temperatures are absolute (K > 0)")
    return v
