"""The oracle's validation values when the oracle computes in external jobs (VASP, GPAW): single-point label jobs.

An external-job oracle cannot run inside the validate runner (itself a job), so the validate stage computes
its values here, in the stage's process, through heal's own labeling path
(:func:`heal.label.runner.label_frames`: batched, submitted through the campaign's executor, idempotent and
resumable per frame hash, the frames under ``validate/oracle/<key>/label/``). The E-V scan and the elastic fit
are those of :mod:`heal.validate.properties` (:func:`~heal.validate.properties.scan_equilibrium`,
:func:`~heal.validate.properties.fit_elastic`); only who computes the energies and stresses differs:

- per phase, one label round per E-V scan (coarse, fine; one more when the minimum sits at the coarse
  window's edge), a0 fitted, then one round of the strained cells at that a0;
- the smallest cells: Ni as the 1-atom primitive FCC cell, Ni₃Al as its 4-atom L1₂ cell (primitive already);
  every atom sits on an inversion centre, so no ionic relaxation is needed (single points are exact);
- skipped with a note: γ (a random solution: its ions relax at every volume, not a single point), Cr₂₃C₆ (its
  24e / 32f / 48h sites relax under strain: clamped-ion single points would not be its elastic constants, and
  its 29-atom primitive cell costs ~20 DFT points of 29 atoms), and the 300 K lattice constant and MD
  stability (DFT molecular dynamics is out of validation's scope).

``validate.properties`` still selects what is computed. The results file has the format of the runner's
oracle side (``results.json`` in the oracle's cache directory). Units: Å, eV, GPa.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from ase import Atoms, units
from ase.build import bulk

from heal.fsutil import atomic_write_json
from heal.frames import frame_hash
from heal.validate.properties import (fit_elastic, largest_force, scaled, scan_equilibrium, signed_strains,
                                      strain_cell)
from heal.validate.spec import ValidateSpec
from heal.validate.structures import buildable

#: the phases computed with external oracles
SMALL = ("ni", "ni3al")
#: the properties single points give (the others need MD)
STATIC = ("lattice", "eos", "elastic")
LABEL_DIR = "label"


def is_external(oracle: str) -> bool:
    """The oracle computes in external jobs only (no in-process ``compute``)."""
    from heal.label.registry import labeler_class

    return not hasattr(labeler_class(oracle), "compute")


def smallest_cell(phase: str, cell: Atoms) -> Atoms:
    """The smallest cell of an ordered phase (``info["a"]``: its lattice constant): Ni's 1-atom primitive FCC
    cell (Cartesian axes along the cube edges, so Voigt strains keep their meaning), the 4-atom L1₂ cell."""
    a = float(cell.cell[0, 0]) / float(cell.info.get("repeat", 1))
    if phase == "ni":
        out = bulk("Ni", "fcc", a=a)
    elif phase == "ni3al":
        out = cell.copy()
    else:
        raise ValueError(f"no smallest cell for phase {phase!r}; external oracles compute {', '.join(SMALL)}")
    out.info.clear()
    out.info["a"] = a
    return out


def _skip_note(oracle: str, name: str, props: list[str]) -> str:
    why = {"gamma": "a random solution relaxes its ions at every volume, which single-point label jobs do not",
           "cr23c6": "its 24e/32f/48h sites relax under strain, which single-point label jobs do not (clamped-ion "
                     "values would not be its elastic constants)"}[name]
    return (f"{name}: no oracle values for {', '.join(props) or 'any property'}: with the external {oracle!r} "
            f"oracle validation computes the ordered ni and ni3al cells only ({why}); the thesis column is the "
            f"reference (or set validate.oracle: universal or meam)")


def _md_note(oracle: str, props: list[str]) -> str:
    return (f"no oracle values for {', '.join(props)}: the {oracle!r} oracle computes in external DFT jobs and "
            f"DFT molecular dynamics is out of validation's scope; the thesis column is the reference")


class _Labels:
    """Single points of cells through the labeling stage (one ``label_frames`` call per round)."""

    def __init__(self, spec, workdir: Path, executor, labeler):
        self.spec, self.workdir, self.executor, self.labeler = spec, workdir, executor, labeler
        self.hashes: set[str] = set()
        self.max_force = 0.0

    def __call__(self, cells: list[Atoms]) -> list[Atoms]:
        from heal.label.runner import label_frames

        r = label_frames(cells, self.spec, self.workdir, self.executor, labeler=self.labeler)
        if r.rejected:
            raise ValueError(f"the oracle rejected {len(r.rejected)} validation cell(s) (first: "
                             f"{r.rejected[0]['reason']}); see {self.workdir / r.rejected[0]['hash']}")
        by_hash = {frame_hash(a): a for a in r.labeled}
        out = [by_hash[frame_hash(c)] for c in cells]
        self.hashes.update(by_hash)
        for a in out:
            self.max_force = max(self.max_force, largest_force(a))
        return out


def _phase(name: str, cell: Atoms, vs: ValidateSpec, labels: _Labels, timings: dict) -> dict:
    out: dict = {}
    labels.max_force = 0.0
    t0 = time.monotonic()
    eos = scan_equilibrium(cell, lambda lat: [a.get_potential_energy() for a in labels([scaled(cell, x)
                                                                                         for x in lat])])
    out.update(lattice=eos.a, bulk_modulus=eos.bulk_modulus, relaxed_ions=False, cell_atoms=len(cell))
    if "eos" in vs.properties:
        out["eos"] = {"a": eos.lattice, "energy_per_atom": [e / eos.n_atoms for e in eos.energies]}
    timings[f"{name} lattice"] = time.monotonic() - t0
    if "elastic" in vs.properties:
        t0 = time.monotonic()
        eq = scaled(cell, eos.a)
        es = signed_strains(vs.strains)
        done = labels([strain_cell(eq, v, e) for e in es for v in (0, 3)])
        stress = [np.asarray(a.get_stress(voigt=True)) / units.GPa for a in done]  # ASE sign: σ = C ε
        el = fit_elastic(es, stress[0::2], stress[1::2])
        out.update(c11=el.c11, c12=el.c12, c44=el.c44, elastic_relaxed_ions=False)
        timings[f"{name} elastic"] = time.monotonic() - t0
    out["max_force"] = labels.max_force
    return out


def oracle_values(spec: dict, workdir: Path, label_spec, executor, labeler=None) -> dict:
    """Compute the external oracle's validation values (`spec`: the stage's oracle spec) into ``workdir``
    (``results.json``, written last); `label_spec` is the campaign's ``label:`` section (thresholds, retries,
    timeouts). A setup error of the labeling (program missing, ...) is raised; the frames done are kept."""
    from heal.label.registry import get_labeler
    from heal.validate.runner import RESULTS, applicable

    t_start = time.monotonic()
    vs = ValidateSpec.model_validate(spec["validate"])
    oracle = spec["oracle"]
    if labeler is None:
        labeler = get_labeler(oracle, spec.get("params") or {})
    cells, notes = buildable(list(vs.phases), spec["elements"], spec.get("composition"), vs.seed)
    res: dict = {"side": "oracle", "oracle": oracle, "phases": {}, "notes": dict(notes), "timings": {}}
    static = [p for p in vs.properties if p in STATIC]
    built = list(cells)
    for name in built:
        props = applicable(name, built, vs)
        dynamic = [p for p in props if p not in STATIC]
        if name not in SMALL:
            res["notes"][name] = _skip_note(oracle, name, props)
            del cells[name]
        elif dynamic:
            res["notes"][name] = f"{name}: " + _md_note(oracle, dynamic)
    labels = _Labels(label_spec, Path(workdir) / LABEL_DIR, executor, labeler)
    if static:
        for name, cell in cells.items():
            try:
                res["phases"][name] = _phase(name, smallest_cell(name, cell), vs, labels, res["timings"])
            except ValueError as exc:  # no minimum, a rejected cell: the oracle gives no value for this phase
                note = f"{name}: no oracle values: {exc}"
                res["notes"][name] = note + ("; " + res["notes"][name] if name in res["notes"] else "")
    res["single_points"] = len(labels.hashes)  # distinct cells labeled
    res["unstable_frames"] = 0
    res["seconds"] = time.monotonic() - t_start
    atomic_write_json(Path(workdir) / RESULTS, res)
    return res
