"""The seed alloy families of the thesis behind heal (Mou 2023): HEA4 -> HEA5 -> HEA7 -> HEA10.

Each bigger family contains the smaller one, so a campaign can grow from the smaller one's data. One element
order, :data:`CHAIN_ORDER`, holds for the whole chain: each family's type map is a prefix of the next one's, so
a model or dataset of a smaller family keeps every element's index when the chain grows.
"""

from __future__ import annotations

import math
from typing import Literal

from ase.data import chemical_symbols
from pydantic import ValidationInfo, field_validator, model_validator

from heal.configutil import Strict

#: the element order of the whole HEA4 -> HEA5 -> HEA7 -> HEA10 chain (every family is a prefix of it)
CHAIN_ORDER: tuple[str, ...] = ("Ni", "Co", "Cr", "Al", "Fe", "Ti", "Nb", "Mo", "W", "C")
FAMILIES: dict[str, tuple[str, ...]] = {
    "HEA4": CHAIN_ORDER[:4],
    "HEA5": CHAIN_ORDER[:5],
    "HEA7": CHAIN_ORDER[:7],
    "HEA10": CHAIN_ORDER,
}


def chain_type_map(elements: list[str] | tuple[str, ...]) -> list[str]:
    """The model type map of a chain that contains `elements`: :data:`CHAIN_ORDER`, then any other element of
    `elements` in its given order (an alloy outside the HEA chain keeps its own order after the chain's)."""
    return list(CHAIN_ORDER) + [el for el in elements if el not in CHAIN_ORDER]


class SystemSpec(Strict):
    """Which alloy: a seed family (HEA4/5/7/10) or explicit elements, with a composition."""

    family: Literal["HEA4", "HEA5", "HEA7", "HEA10"] | None = None
    elements: list[str] | None = None
    #: atomic fractions per element; must sum to 1. Default: equiatomic.
    composition: dict[str, float] | None = None

    @field_validator("elements")
    @classmethod
    def _known_elements(cls, v: list[str] | None) -> list[str] | None:
        if v is None:
            return v
        for el in v:
            if el not in chemical_symbols[1:]:
                raise ValueError(f"unknown element {el!r}; use a chemical symbol such as Ni, Co, Cr, Al")
        if len(set(v)) != len(v):
            raise ValueError("elements are listed twice; list each element once")
        return v

    @field_validator("composition")
    @classmethod
    def _fractions(cls, comp: dict[str, float] | None, info: ValidationInfo) -> dict[str, float] | None:
        # a field validator (not the model one) so that errors are reported at 'system.composition'
        if comp is None:
            return comp
        els: list[str] | None = None
        if "elements" in info.data:  # absent when 'elements' itself failed validation
            fam = info.data.get("family")
            els = info.data["elements"] or (list(FAMILIES[fam]) if fam else None)
        for el, x in comp.items():
            if el not in chemical_symbols[1:]:
                raise ValueError(f"composition has unknown element {el!r}; use a chemical symbol")
            if els is not None and el not in els:
                raise ValueError(f"composition names {el!r}, which is not among the elements {els}; "
                                 f"add it to 'elements' or remove it from 'composition'")
            if not (x >= 0.0) or math.isinf(x):
                raise ValueError(f"composition of {el} is {x}; fractions must be finite and >= 0")
        total = sum(comp.values())
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"composition fractions sum to {total:.6g}, not 1; rescale them so they sum to 1")
        return comp

    @model_validator(mode="after")
    def _resolve(self) -> "SystemSpec":
        if self.family is None and not self.elements:
            raise ValueError("give either 'family' (HEA4, HEA5, HEA7, HEA10) or a list of 'elements'")
        if self.family is not None and self.elements and sorted(self.elements) != sorted(FAMILIES[self.family]):
            raise ValueError(f"'elements' {self.elements} disagree with family {self.family} "
                             f"({FAMILIES[self.family]}); give one or the other")
        els = self.elements or list(FAMILIES[self.family])  # type: ignore[index]
        comp = self.composition
        if comp is None:
            comp = {el: 1.0 / len(els) for el in els}
        object.__setattr__(self, "elements", els)
        object.__setattr__(self, "composition", {el: float(comp.get(el, 0.0)) for el in els})
        return self

    @property
    def type_map(self) -> list[str]:
        """Element order used by every model and dataset of the campaign."""
        return list(self.elements or [])
