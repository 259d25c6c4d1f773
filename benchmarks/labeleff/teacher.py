"""The MEAM teacher as an ASE calculator, and teacher MD that builds the benchmark's own frame sets.

The held-out test set and the capacity-floor training pool both come from Langevin MD driven by the teacher
itself (heal's 2NN MEAM labeler), at 300-3000 K, from FCC, BCC and melt cells made by heal's seed generator
with a seed of the benchmark's own — never from a campaign's exploration, so no arm selects or trains on them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from ase import Atoms, units
from ase.calculators.calculator import Calculator, all_changes
from ase.md.langevin import Langevin
from ase.md.velocitydistribution import MaxwellBoltzmannDistribution

from heal.config import parse_config
from heal.data.dataset import Dataset
from heal.frames import set_labels
from heal.label.meam import MeamLabeler
from heal.systems import generate_seeds

#: frames whose largest force component exceeds this (eV/Å) are dropped, as heal's label sanity check would
MAX_FORCE = 50.0


class TeacherCalculator(Calculator):
    """ASE calculator over :class:`heal.label.meam.MeamLabeler` (energy, forces, stress)."""

    implemented_properties = ["energy", "free_energy", "forces", "stress"]

    def __init__(self) -> None:
        super().__init__()
        self.labeler = MeamLabeler()

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        e, f, s = self.labeler.compute(self.atoms)
        self.results = {"energy": e, "free_energy": e, "forces": f, "stress": s}


def start_cells(seed: int, phases: list[str], min_atoms: int = 32, max_atoms: int = 54) -> list[Atoms]:
    """HEA4 cells (one per phase) from heal's seed generator with the benchmark's own seed."""
    cfg = parse_config({"name": "teacher", "system": {"family": "HEA4"},
                        "seeds": {"phases": phases, "min_atoms": min_atoms, "max_atoms": max_atoms,
                                  "scales": [1.0], "seed": seed}}, "<label-efficiency teacher>")
    return [s.atoms for s in generate_seeds(cfg)]


def teacher_md(atoms: Atoms, temperature: float, n_frames: int, every: int, equilibrate: int, seed: int,
               timestep_fs: float = 1.0) -> list[Atoms]:
    """Langevin NVT with the teacher; `n_frames` labeled snapshots, one every `every` steps after equilibration."""
    a = atoms.copy()
    a.calc = TeacherCalculator()
    rng = np.random.default_rng(seed)
    MaxwellBoltzmannDistribution(a, temperature_K=temperature, rng=rng)
    dyn = Langevin(a, timestep_fs * units.fs, temperature_K=temperature, friction=0.02, fixcm=False, rng=rng)
    dyn.run(equilibrate)
    frames = []
    for _ in range(n_frames):
        dyn.run(every)
        f = a.get_forces()
        if not np.all(np.isfinite(f)) or np.abs(f).max() > MAX_FORCE:
            continue
        snap = Atoms(a.get_chemical_symbols(), positions=a.positions, cell=a.cell, pbc=True)
        snap.wrap()
        set_labels(snap, a.get_potential_energy(), f, stress=a.get_stress())
        snap.info.update(temperature=float(temperature))
        frames.append(snap)
    return frames


def build_set(out: Path, *, seed: int, temperatures: list[float], phases: list[str], frames_per_run: int,
              every: int = 50, equilibrate: int = 400, type_map: list[str]) -> Dataset:
    """Teacher MD over phases x temperatures into a heal dataset at `out` (reused when it already exists)."""
    ds = Dataset(out, type_map=type_map)
    if len(ds):
        return ds
    frames = []
    for i, cell in enumerate(start_cells(seed, phases)):
        for j, t in enumerate(temperatures):
            frames += teacher_md(cell, t, frames_per_run, every, equilibrate, seed=seed * 1000 + 10 * i + j)
    ds.append(frames, {"source": "teacher-md", "seed": seed})
    return ds
