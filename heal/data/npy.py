"""Labeled frames <-> deepmd/npy systems (written and read through dpdata).

Units (DeePMD convention, identical to ASE's): coordinates and cells Å, energy eV, forces eV/Å,
virial eV (``virial = -stress * volume``, 3x3).

A deepmd/npy system holds frames with the same atom count and the same per-atom species *sequence*
(``type.raw``). heal groups frames by their exact species sequence, so atoms are never reordered and a
frame read back has the same :func:`heal.frames.frame_hash` as the frame that was stored.

Frames without a stress label: DeePMD needs ``virial.npy`` for every frame of a system or for none, so
frames with and without a virial go to different systems (the latter's name ends in ``-novirial``);
``dp train`` then uses the virial loss only where a virial exists. Only fully periodic frames (bulk
cells, what heal explores and labels) are accepted.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.formula import Formula

from heal.errors import FatalError
from heal.frames import has_labels, set_labels, virial

#: frames per ``set.NNN`` directory (dpdata's default for deepmd/npy)
SET_SIZE = 5000


def formula_of(symbols: Sequence[str]) -> str:
    """Composition string, metals first and alphabetical, e.g. ``Al4Co4Cr4Ni4`` (not reduced)."""
    return Formula.from_list(list(symbols)).format("metal")


SystemKey = tuple[tuple[str, ...], bool]


def system_key(atoms: Atoms) -> SystemKey:
    """(species sequence, has virial): frames with equal keys share one deepmd/npy system."""
    if not np.asarray(atoms.pbc, dtype=bool).all() or atoms.cell.rank != 3:
        raise FatalError(f"frame {atoms.get_chemical_formula()} is not a periodic 3-D cell (pbc={atoms.pbc.tolist()}); "
                         f"the dataset stores bulk frames only")
    return tuple(atoms.get_chemical_symbols()), virial(atoms) is not None


def system_name(key: SystemKey) -> str:
    """Directory name of a group's system: ``<formula>-<8 hex of the species order>[-novirial]``."""
    symbols, has_vir = key
    order = hashlib.sha1(",".join(symbols).encode()).hexdigest()[:8]
    return f"{formula_of(symbols)}-{order}" + ("" if has_vir else "-novirial")


def require_labels(atoms: Atoms, where: str) -> None:
    """Raise FatalError unless the frame has finite energy and forces (and finite stress if any)."""
    if not has_labels(atoms):
        raise FatalError(f"{where} has no energy/forces labels; attach them with heal.frames.set_labels")
    res = atoms.calc.results
    f = np.asarray(res["forces"], dtype=float)
    if f.shape != (len(atoms), 3):
        raise FatalError(f"{where}: forces have shape {f.shape}, expected ({len(atoms)}, 3)")
    vals = [np.asarray(res["energy"], dtype=float).ravel(), f.ravel()]
    if "stress" in res:
        vals.append(np.asarray(res["stress"], dtype=float).ravel())
    if not all(np.isfinite(v).all() for v in vals):
        raise FatalError(f"{where} has non-finite energy, forces or stress; such a frame would wreck training")


def write_system(directory: Path, frames: Sequence[Atoms], type_map: Sequence[str]) -> None:
    """Write frames sharing one system key as a deepmd/npy system (float64) in ``directory``."""
    import dpdata

    first = frames[0]
    key = system_key(first)
    index = {el: i for i, el in enumerate(type_map)}
    types = np.array([index[s] for s in first.get_chemical_symbols()], dtype=int)
    n = len(frames)
    data = {
        "atom_names": list(type_map),
        "atom_numbs": [int(np.count_nonzero(types == i)) for i in range(len(type_map))],
        "atom_types": types,
        "orig": np.zeros(3),
        "cells": np.stack([a.cell.array for a in frames]).astype(np.float64),
        "coords": np.stack([a.positions for a in frames]).astype(np.float64),
        "energies": np.array([a.calc.results["energy"] for a in frames], dtype=np.float64),
        "forces": np.stack([np.asarray(a.calc.results["forces"], dtype=np.float64) for a in frames]),
    }
    if key[1]:
        data["virials"] = np.stack([virial(a) for a in frames]).astype(np.float64)
    assert data["energies"].shape == (n,)
    system = dpdata.LabeledSystem(data=data)
    system.to("deepmd/npy", str(directory), set_size=SET_SIZE, prec=np.float64)


def read_system(directory: Path) -> list[Atoms]:
    """Read a deepmd/npy system back as labeled Atoms (energy, forces and, if stored, stress)."""
    import dpdata

    system = dpdata.LabeledSystem(str(directory), fmt="deepmd/npy")
    d = system.data
    symbols = [d["atom_names"][t] for t in d["atom_types"]]
    virials = d.get("virials")
    frames = []
    for i in range(len(d["energies"])):
        atoms = Atoms(symbols, positions=d["coords"][i], cell=d["cells"][i], pbc=True)
        set_labels(atoms, float(d["energies"][i]), d["forces"][i],
                   virial=None if virials is None else virials[i])
        frames.append(atoms)
    return frames


def write_chunk(directory: Path, type_map: Sequence[str], frames: Sequence[Atoms], provenances: Sequence[dict],
                hashes: Sequence[str]) -> tuple[list[str], list[dict]]:
    """Write frames as one system per system key under ``directory``; return the system names and one
    manifest entry per frame, in input order (hash, system, index, natoms, formula, virial, provenance)."""
    groups: dict[SystemKey, list[int]] = {}
    for i, atoms in enumerate(frames):
        groups.setdefault(system_key(atoms), []).append(i)
    entries: list[dict] = [{} for _ in frames]
    for key, idx in groups.items():
        name = system_name(key)
        write_system(directory / name, [frames[i] for i in idx], type_map)
        formula = formula_of(key[0])
        for j, i in enumerate(idx):
            entries[i] = {"hash": hashes[i], "system": name, "index": j, "natoms": len(key[0]),
                          "formula": formula, "virial": key[1], "provenance": provenances[i]}
    return sorted(system_name(k) for k in groups), entries
