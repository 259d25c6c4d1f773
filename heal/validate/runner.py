"""``python -m heal.validate.runner spec.json``: compute one side's validation properties in this directory.

``spec.json`` (written by :mod:`heal.validate.stage`): ``side`` ("model" or "oracle"), ``models`` (frozen
DeePMD graphs, the first is the one validated; the others give the ensemble spread of a0), ``type_map``,
``oracle`` / ``params`` (the campaign's ``label.oracle``), ``elements`` / ``composition``, ``validate``
(the :class:`~heal.validate.spec.ValidateSpec` as a mapping) and ``d_min`` (the label threshold, Å).

Writes ``results.json`` atomically (the done-marker, last) and, on the model side, ``unstable.extxyz``
(the frames of unstable MD, candidates for the next label step; empty when every run was stable). A phase a side cannot
compute (elements missing, an oracle without parameters for them) gets a note, never a failure.
Units: Å, eV, GPa, K, ps.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from heal.errors import ConfigError, SetupError
from heal.fsutil import atomic_write_json
from heal.validate import md as mdmod
from heal.validate.properties import elastic_cubic, equilibrium, scaled
from heal.validate.spec import ValidateSpec
from heal.validate.structures import ORDERED, buildable, supercell

RESULTS = "results.json"
UNSTABLE = "unstable.extxyz"
#: the 300 K NPT runs on the first of these the campaign can build; NVT stability on each of MD_PHASES
NPT_PHASES = ("gamma", "ni3al", "ni")
MD_PHASES = ("gamma", "ni3al")


#: ions are relaxed (fixed cell) until every force is below this (eV/Å): at each volume of the E-V scan of a
#: cell with internal forces (the random γ cell; ordered cells have none and take no step) and in the elastic fits
RELAX_FMAX = 1e-3
#: L-BFGS steps per E-V point at most (the MEAM teacher's γ cell: 30-45 from the unrelaxed sites, fewer after)
RELAX_STEPS = 100


def _relaxed_eos(cell, calc, d_min: float):
    return equilibrium(cell, calc, relax_fmax=RELAX_FMAX, max_steps=RELAX_STEPS, d_min=d_min)


def _phase_props(name: str, cell, calc, vs: ValidateSpec, timings: dict, d_min: float) -> dict:
    out: dict = {}
    t0 = time.monotonic()
    eos = _relaxed_eos(cell, calc, d_min)
    out["lattice"] = eos.a
    out["bulk_modulus"] = eos.bulk_modulus
    out["relaxed_ions"] = eos.relaxed_ions
    out["max_force"] = eos.max_force
    if "eos" in vs.properties:
        out["eos"] = {"a": eos.lattice, "energy_per_atom": [e / eos.n_atoms for e in eos.energies]}
    timings[f"{name} lattice"] = time.monotonic() - t0
    if "elastic" in vs.properties and name in ORDERED:
        t0 = time.monotonic()
        el = elastic_cubic(scaled(cell, eos.a), calc, strains=tuple(vs.strains), relax_fmax=RELAX_FMAX)
        out.update(c11=el.c11, c12=el.c12, c44=el.c44, elastic_relaxed_ions=el.relaxed_ions)
        timings[f"{name} elastic"] = time.monotonic() - t0
    return out


def applicable(name: str, phases: list[str], vs: ValidateSpec) -> list[str]:
    """The properties of ``validate.properties`` that phase `name` gets when the campaign builds `phases`:
    lattice and E-V for every phase, elastic constants for the ordered ones, the 300 K NPT lattice constant
    for the first of NPT_PHASES built, MD stability for MD_PHASES."""
    npt = next((p for p in NPT_PHASES if p in phases), None)
    applies = {"lattice": True, "eos": True, "elastic": name in ORDERED, "lattice_300k": name == npt,
               "md": name in MD_PHASES}
    return [p for p in vs.properties if applies[p]]


def _external_note(oracle: str, name: str, phases: list[str], vs: ValidateSpec) -> str:
    """The note of a phase an external-job oracle gives no values for: which oracle, which properties, and
    what stands in for them."""
    props = applicable(name, phases, vs)
    return (f"{name}: no oracle values for {', '.join(props) or 'any property'}: the {oracle!r} oracle computes "
            f"in external DFT jobs, which the validate stage sends as label jobs (heal.validate.external), not "
            f"this runner job; the thesis column is the reference (set validate.oracle: universal or meam for "
            f"oracle values)")


def _member_a(cell, calc, d_min: float) -> float | None:
    """A member's 0 K lattice constant, None when it has no energy minimum (the spread leaves it out)."""
    try:
        return _relaxed_eos(cell, calc, d_min).a
    except ValueError:
        return None


def _md_cell(cell, eq_a: float | None, vs: ValidateSpec):
    base = scaled(cell, eq_a) if eq_a else cell
    n = max(1, round(vs.md_repeat / int(cell.info.get("repeat", 1))))
    return supercell(base, n)


def run(spec: dict, workdir: Path) -> dict:
    vs = ValidateSpec.model_validate(spec["validate"])
    side = spec["side"]
    t_start = time.monotonic()
    cells, notes = buildable(list(vs.phases), spec["elements"], spec.get("composition"), vs.seed)
    res: dict = {"side": side, "phases": {}, "notes": dict(notes), "timings": {}}
    timings = res["timings"]
    unstable = []
    if side == "oracle":
        from heal.validate.calculators import ExternalOracle, oracle_calculator

        try:
            calc = oracle_calculator(spec["oracle"], spec.get("params"))
        except ExternalOracle as exc:  # VASP, GPAW: the thesis is the reference
            res["notes"].update({name: _external_note(exc.oracle, name, list(cells), vs) for name in cells})
            cells = {}
        except (SetupError, ConfigError) as exc:  # e.g. CHGNet not installed
            res["notes"].update({name: f"{name}: no oracle values: {exc}" for name in cells})
            cells = {}
        for name in list(cells):
            try:
                calc.check(cells[name])
            except SetupError as exc:
                res["notes"][name] = f"{name}: the oracle cannot compute it: {exc}"
                del cells[name]
        spread_calcs = []
    else:
        from heal.validate.calculators import model_calculator

        models = [workdir / m for m in spec["models"]]
        calc = model_calculator(models[0], spec["type_map"])
        spread_calcs = [model_calculator(m, spec["type_map"]) for m in models[1:]] if vs.spread else []
    for name, cell in cells.items():
        ph: dict = {}
        try:
            if {"lattice", "eos", "elastic"} & set(vs.properties):
                ph.update(_phase_props(name, cell, calc, vs, timings, spec["d_min"]))
                if spread_calcs:
                    t0 = time.monotonic()
                    ph["lattice_members"] = [ph["lattice"]] + [_member_a(cell, c, spec["d_min"]) for c in spread_calcs]
                    timings[f"{name} spread"] = time.monotonic() - t0
        except ValueError as exc:  # no minimum, non-finite energies: the potential fails this phase
            ph["error"] = str(exc)
        res["phases"][name] = ph
    if "lattice_300k" in vs.properties:
        for name in NPT_PHASES:
            if name not in cells:
                continue
            t0 = time.monotonic()
            big = _md_cell(cells[name], res["phases"][name].get("lattice"), vs)
            args = (300.0, vs.npt_steps, vs.sample_every, vs.timestep_fs, vs.seed + 7)
            tr = (mdmod.ase_md(big, calc, *args, pressure=1.0) if side == "oracle"
                  else calc.session.md(big, *args, pressure=1.0))
            s = mdmod.summarize(tr, len(big), spec["d_min"])
            n_cells = int(big.info["repeat"]) ** 3
            res["phases"][name]["lattice_300k"] = ((s["volume_mean"] / n_cells) ** (1 / 3)
                                                    if s["stable"] and s["volume_mean"] else None)
            timings[f"{name} npt"] = time.monotonic() - t0
            break  # one phase: the thesis's check is the γ lattice constant at 300 K
    if "md" in vs.properties:
        for name in MD_PHASES:
            if name not in cells:
                continue
            big = _md_cell(cells[name], res["phases"][name].get("lattice"), vs)
            runs = {}
            for temp in vs.temperatures:
                t0 = time.monotonic()
                seed = vs.seed + int(temp)
                tr = (mdmod.ase_md(big, calc, temp, vs.md_steps, vs.sample_every, vs.timestep_fs, seed)
                      if side == "oracle"
                      else calc.session.md(big, temp, vs.md_steps, vs.sample_every, vs.timestep_fs, seed))
                s = mdmod.summarize(tr, len(big), spec["d_min"])
                for i in s.pop("unstable_frames"):
                    f = tr["frames"][i]
                    f.info.update(validation=f"{name}@{temp:g}K", frame=i)
                    unstable.append(f)
                runs[f"{temp:g}"] = s
                timings[f"{name} md {temp:g}K"] = time.monotonic() - t0
            res["phases"][name]["md"] = runs
    if side == "model":  # always written (empty when every run was stable): a remote job brings it back
        from ase.io import write

        tmp = workdir / (UNSTABLE + ".tmp")
        write(tmp, unstable, format="extxyz") if unstable else tmp.write_text("")
        tmp.replace(workdir / UNSTABLE)
    res["unstable_frames"] = len(unstable)
    res["seconds"] = time.monotonic() - t_start
    atomic_write_json(workdir / spec.get("output", RESULTS), res)
    return res


def main(argv: list[str]) -> int:
    spec_path = Path(argv[0]).resolve()
    spec = json.loads(spec_path.read_text())
    run(spec, spec_path.parent)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
