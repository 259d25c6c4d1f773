"""VASP input files for one heal label: species grouping, POTCAR assembly, ENMAX, k-mesh, INCAR/KPOINTS text.

Units: lengths Å, reciprocal lengths Å⁻¹ (the k-spacing includes the 2π), energies eV (ENCUT, ENMAX, EDIFF,
SIGMA).

Species order
    VASP needs the atoms of one species next to each other, in the order of the POTCAR blocks. heal writes
    the POSCAR with species grouped in a *fixed* order: ``label.params.species_order`` if given (it must
    list every element of the frame), else the HEA10 order of :mod:`heal.families` (Ni Co Cr Fe Al Ti Nb Mo
    W C) followed by any other element in alphabetical order. The original index of every atom is kept
    (:func:`sort_permutation`) so that forces are put back in the input order after the run. The sort is
    stable: atoms of one species keep their relative order.

POTCARs
    ASE's convention: ``$VASP_PP_PATH/<pp_folder>/<name>/POTCAR`` with ``pp_folder`` = ``potpaw_PBE`` by
    default (``potpaw_PBE.54`` / ``potpaw_PBE.64`` for the versioned sets) and ``name`` = element + suffix.
    The default names (:data:`RECOMMENDED_POTCARS`) follow VASP's list of *recommended* PBE PAW potentials
    (the set ASE tabulates as ``setups='recommended'``); ``label.params.potcars`` overrides per element,
    e.g. ``{"Ni": "Ni_pv", "W": "W_sv"}``.

ENCUT
    The thesis (Mou 2023) used the largest ENMAX among the species' POTCARs; heal reads ENMAX from each
    POTCAR header line ``ENMAX  =  270.000; ENMIN  =  ...`` and takes the maximum unless
    ``label.params.encut`` is set.

k-points
    A Γ-centred mesh with ``n_i = max(1, ceil(|b_i| / kspacing))`` where ``b_i`` are the reciprocal lattice
    vectors *including* the factor 2π (|b_i| = 2π / d_i for the plane spacing d_i), i.e. the same rule as
    VASP's KSPACING tag. Default ``kspacing`` = 0.65 Å⁻¹: a 108-atom FCC cell (edge ~10.7 Å, |b| ~0.59 Å⁻¹)
    gets 1×1×1 even when compressed to 0.95 of its volume, a 32-atom cell (edge ~7.1 Å) 2×2×2 and a 4-atom
    Ni3Al cell (a = 3.57 Å, |b| = 1.76 Å⁻¹) 3×3×3 -- the 1/2/3 meshes of the thesis. Explicit
    ``label.params.kpts`` replaces the rule.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from heal.errors import ConfigError
from heal.families import FAMILIES
from heal.templating import render


#: VASP's recommended PBE PAW potentials for the ten HEA10 elements (VASP wiki "Available PAW potentials",
#: recommended column; identical to ASE's ``setups_defaults['recommended']``). The thesis does not name
#: its POTCARs; override with ``label.params.potcars``.
RECOMMENDED_POTCARS: dict[str, str] = {
    "Ni": "Ni", "Co": "Co", "Cr": "Cr_pv", "Fe": "Fe", "Al": "Al",
    "Ti": "Ti_sv", "Nb": "Nb_sv", "Mo": "Mo_sv", "W": "W_pv", "C": "C",
}

#: default k-spacing (Å⁻¹, 2π included) -- see the module docstring
DEFAULT_KSPACING = 0.65

_ENMAX_RE = re.compile(r"ENMAX\s*=\s*([-+0-9.EeDd]+)")
_TITEL_RE = re.compile(r"TITEL\s*=\s*(.+)")
_ELEMENT_RE = re.compile(r"^([A-Z][a-z]?)")


# ----------------------------------------------------------------------------------------------- species

def species_order(symbols: Iterable[str], order: Sequence[str] | None = None) -> list[str]:
    """The species present in `symbols`, in heal's fixed POSCAR/POTCAR order (see module docstring)."""
    present = set(symbols)
    if order:
        missing = sorted(present - set(order))
        if missing:
            raise ConfigError(f"field 'label.params.species_order': elements {missing} of the frame are not "
                              f"listed; add them or drop species_order to use the default order")
        return [s for s in order if s in present]
    ranked = [s for s in FAMILIES["HEA10"] if s in present]
    return ranked + sorted(present - set(ranked))


def sort_permutation(symbols: Sequence[str], order: Sequence[str]) -> np.ndarray:
    """Indices of the input atoms in POSCAR order: ``poscar_atoms = atoms[perm]`` (stable within a species).

    A quantity read back in POSCAR order (forces) is returned to the input order by
    ``out = np.empty_like(q); out[perm] = q``.
    """
    rank = {s: i for i, s in enumerate(order)}
    missing = sorted(set(symbols) - set(rank))
    if missing:
        raise ConfigError(f"field 'label.params.species_order': elements {missing} of the frame are not "
                          f"listed; add them or drop species_order to use the default order")
    return np.array(sorted(range(len(symbols)), key=lambda i: rank[symbols[i]]), dtype=int)


def unsort(values_in_poscar_order: np.ndarray, perm: Sequence[int]) -> np.ndarray:
    """Inverse of ``atoms[perm]``: per-atom rows in POSCAR order -> rows in input order."""
    values = np.asarray(values_in_poscar_order)
    out = np.empty_like(values)
    out[np.asarray(perm, dtype=int)] = values
    return out


# ----------------------------------------------------------------------------------------------- POTCAR

@dataclass(frozen=True)
class PotcarInfo:
    element: str
    name: str        # directory name, e.g. "Ni_pv"
    path: str
    titel: str       # e.g. "PAW_PBE Ni_pv 06Sep2000"
    enmax: float     # eV

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def potcar_name(element: str, overrides: dict[str, str] | None = None) -> str:
    """POTCAR directory name for `element`: ``overrides`` first, then the recommended set, else the symbol."""
    if overrides and element in overrides:
        return overrides[element]
    return RECOMMENDED_POTCARS.get(element, element)


def find_potcar(element: str, name: str, pp_path: str | Path | None, pp_folder: str) -> Path:
    """Path of ``<pp_path>/<pp_folder>/<name>/POTCAR``; ConfigError naming the element, path and fix."""
    if not pp_path:
        raise ConfigError(f"no POTCAR library for element {element}: VASP_PP_PATH is not set; export "
                          f"VASP_PP_PATH=<dir containing {pp_folder}/> or set label.params.pp_path")
    path = Path(pp_path) / pp_folder / name / "POTCAR"
    if not path.is_file():
        raise ConfigError(f"no POTCAR for element {element}: looked for {path}; set VASP_PP_PATH (or "
                          f"label.params.pp_path / pp_folder) to your PAW library, or choose an existing "
                          f"potential with label.params.potcars, e.g. {{'{element}': '{element}_pv'}}")
    return path


def read_potcar_header(path: str | Path, element: str | None = None) -> PotcarInfo:
    """TITEL and ENMAX (eV) of the first dataset of one POTCAR; checks it is for `element` if given."""
    path = Path(path)
    text = path.read_text(errors="replace")
    first = text.splitlines()[0].strip() if text.strip() else ""
    m_titel = _TITEL_RE.search(text)
    titel = (m_titel.group(1).strip() if m_titel else first)
    m_enmax = _ENMAX_RE.search(text)
    if not m_enmax:
        raise ConfigError(f"{path}: no 'ENMAX = ...' line; is this a VASP POTCAR? Fix VASP_PP_PATH or "
                          f"label.params.potcars")
    enmax = float(m_enmax.group(1).replace("D", "E").replace("d", "e"))
    words = titel.split()
    name = words[1] if len(words) > 1 else path.parent.name  # "PAW_PBE Ni_pv 06Sep2000" -> "Ni_pv"
    m_el = _ELEMENT_RE.match(name)
    found = m_el.group(1) if m_el else name
    if element is not None and found != element:
        raise ConfigError(f"{path}: POTCAR is for {name!r} (TITEL {titel!r}), not for element {element}; "
                          f"fix label.params.potcars")
    return PotcarInfo(found, path.parent.name, str(path), titel, enmax)


def assemble_potcar(species: Sequence[str], dest: str | Path, *, pp_path: str | Path | None,
                    pp_folder: str = "potpaw_PBE", overrides: dict[str, str] | None = None) -> list[PotcarInfo]:
    """Concatenate the POTCARs of `species` (in that order) into `dest`; return their headers."""
    infos, parts = [], []
    for el in species:
        path = find_potcar(el, potcar_name(el, overrides), pp_path, pp_folder)
        infos.append(read_potcar_header(path, el))
        text = path.read_text(errors="replace")
        parts.append(text if text.endswith("\n") else text + "\n")
    Path(dest).write_text("".join(parts))
    return infos


# ----------------------------------------------------------------------------------------------- k-points

def kpoint_mesh(cell: np.ndarray, kspacing: float) -> tuple[int, int, int]:
    """Γ-centred mesh ``n_i = max(1, ceil(|b_i| / kspacing))``, b_i with the 2π (Å⁻¹)."""
    if kspacing <= 0:
        raise ConfigError("field 'label.params.kspacing' must be > 0 (Å⁻¹, 2π included)")
    recip = 2.0 * math.pi * np.linalg.inv(np.asarray(cell, dtype=float)).T  # rows b_i, 2π included
    # 1e-9 guards against ceil(2.0000000001) when |b|/kspacing is an integer up to round-off
    return tuple(max(1, math.ceil(float(np.linalg.norm(b)) / kspacing - 1e-9)) for b in recip)  # type: ignore


# ----------------------------------------------------------------------------------------------- templates

def vasp_value(value: Any) -> str:
    """Format one INCAR value: bools as .TRUE./.FALSE., lists space-separated, floats in Python repr."""
    if isinstance(value, bool):
        return ".TRUE." if value else ".FALSE."
    if isinstance(value, (list, tuple)):
        return " ".join(vasp_value(v) for v in value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (np.integer, np.floating)):
        return vasp_value(value.item())
    return str(value)


def _render(name: str, **context) -> str:
    return render(f"vasp/{name}", context, block_lines=True, filters=(("vasp", vasp_value),))


def render_incar(context: dict[str, Any]) -> str:
    """Render ``templates/vasp/INCAR.j2``; `context` keys: system, natoms, tags, notes, extra."""
    return _render("INCAR.j2", **context)


def render_kpoints(kpts: Sequence[int], rule: str) -> str:
    """Render ``templates/vasp/KPOINTS.j2`` for a Γ-centred mesh; `rule` is the comment line."""
    return _render("KPOINTS.j2", kpts=[int(k) for k in kpts], rule=rule)
