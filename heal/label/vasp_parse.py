"""Read the outputs of one VASP single point and decide whether they are a usable label.

Units (ASE's): energy eV, forces eV/Å, stress eV/Å^3 in Voigt order (xx, yy, zz, yz, xz, xy) with ASE's sign
(positive = tensile; VASP prints the opposite sign in kBar). Everything is in VASP's atom order (the POSCAR
order); :mod:`heal.label.vasp` maps it back to the input order.

Energy
    heal's ``energy`` label is the electronic *free* energy -- OUTCAR ``free  energy   TOTEN``, vasprun
    ``e_fr_energy`` (with ASE's removal of the PV term that vasprun adds when PSTRESS is set). It is the energy
    whose derivatives are VASP's forces and stress (force-consistent), and the one dpdata -- hence DP-GEN and
    DeePMD datasets converted from VASP -- stores, so heal labels and imported AIMD frames agree. In ASE terms
    it is ``get_potential_energy(force_consistent=True)`` = ``results['free_energy']``; ASE's default
    ``get_potential_energy()`` returns the σ→0 extrapolation instead, which heal keeps only as
    :attr:`VaspOutput.energy_sigma0`. With the thesis's Gaussian σ = 0.05 eV the two differ by meV per cell.

Sources, in order of preference
    ``vasprun.xml`` (must be complete, well-formed XML), else ``OUTCAR`` (must contain the TOTAL-FORCE block
    and ``free  energy   TOTEN``); the numbers are read by :class:`heal.data.vasp.VaspReader`, the same reader
    that imports AIMD data, so labels and imported frames agree by construction. The SCF convergence check
    uses the electronic steps of the last ionic step from the same file (vasprun ``<scstep>`` energies, which
    the reader records; OUTCAR ``Iteration  1( n)`` and ``total energy-change (2. order)`` lines) or, failing
    that, ``OSZICAR``.

Rejections (:class:`heal.errors.FatalError`, message names the file and the reason)
    missing outputs; truncated/corrupt vasprun.xml with no usable OUTCAR; OUTCAR without forces; non-finite
    numbers; SCF not converged: the step count reached NELM and the last energy change exceeds EDIFF. As a
    second signal, an OUTCAR line containing "EDIFF was not reached" after the last ``Iteration`` header
    (the wording of newer VASP builds; not checked against a real file here) also rejects the frame.
    An output for another structure (species, cell or positions differ) is refused by :mod:`heal.label.vasp`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from heal.data import vasp as data_vasp
from heal.data.vasp import VaspReader
from heal.errors import FatalError

VASPRUN, OUTCAR, OSZICAR = "vasprun.xml", "OUTCAR", "OSZICAR"

_ITER_RE = re.compile(r"Iteration\s+(\d+)\s*\(\s*(\d+)\s*\)")
_DE_RE = re.compile(r"total energy-change \(2\. order\)\s*:\s*([-+0-9.Ee]+)")
_NELM_RE = re.compile(r"\bNELM\s*=\s*(\d+)")
_EDIFF_RE = re.compile(r"\bEDIFF\s*=\s*([-+0-9.Ee]+)\s+stopping-criterion for ELM")
_OSZ_STEP_RE = re.compile(r"^\s*([A-Za-z]{2,6})\s*:\s*(\d+)\s+(\S+)\s+(\S+)")
_OSZ_IONIC_RE = re.compile(r"^\s*\d+\s+F=")
_UNCONVERGED_MARK = "EDIFF was not reached"


class OutputError(Exception):
    """One output file cannot be used (the reason is the message)."""


@dataclass
class ScfInfo:
    """Electronic minimisation of the last ionic step."""

    n_steps: int
    last_de: float | None     # eV, energy change in the last electronic step
    nelm: int | None
    ediff: float | None       # eV
    source: str
    vasp_says_unconverged: bool = False


@dataclass
class VaspOutput:
    free_energy: float         # eV (heal's `energy` label)
    energy_sigma0: float       # eV, σ→0 extrapolation
    forces: np.ndarray         # (N, 3) eV/Å, POSCAR order
    stress: np.ndarray | None  # (6,) eV/Å^3, ASE sign and Voigt order
    symbols: list[str]
    cell: np.ndarray           # (3, 3) Å
    scaled_positions: np.ndarray
    scf: ScfInfo
    source: str


# ------------------------------------------------------------------------------------------ SCF check

def scf_failure(scf: ScfInfo) -> str | None:
    """Why the SCF of `scf` did not converge, or None if it did (or nothing says otherwise)."""
    if scf.vasp_says_unconverged:
        return (f"SCF not converged: {scf.source} says 'EDIFF was not reached' after {scf.n_steps} "
                f"electronic steps")
    if scf.nelm is None or scf.n_steps < scf.nelm:
        return None
    if scf.last_de is None or scf.ediff is None or abs(scf.last_de) > scf.ediff:
        de = "unknown" if scf.last_de is None else f"{abs(scf.last_de):.3g} eV"
        return (f"SCF not converged: {scf.n_steps} electronic steps = NELM {scf.nelm} and the last energy "
                f"change {de} > EDIFF {scf.ediff if scf.ediff is not None else '?'} eV ({scf.source}); "
                f"raise label.params.nelm or try another label.params.algo")
    return None


# ------------------------------------------------------------------------------------------ vasprun.xml

def parse_vasprun(path: str | Path) -> VaspOutput:
    """Energy, forces, stress and SCF record of the last calculation in a complete vasprun.xml."""
    path = Path(path)
    reader = VaspReader(path, fmt=data_vasp.VASPRUN)
    idx, atoms = _last_frame(reader, path)
    p = reader.params
    e = reader.scf_energies
    scf = ScfInfo(len(e), e[-1] - e[-2] if len(e) >= 2 else None, int(p["NELM"]) if p.get("NELM") else None,
                  float(p["EDIFF"]) if p.get("EDIFF") else None, VASPRUN)
    return _output(atoms, reader.energy_sigma0[idx], scf, VASPRUN)


def _last_frame(reader: VaspReader, path: Path):
    """(index, atoms) of the file's last ionic step, which must be complete; OutputError otherwise."""
    last = None
    for last in reader.frames():
        pass
    xml = reader.fmt == data_vasp.VASPRUN
    if xml and (reader.note or (reader.error and not reader.corrupt)):
        raise OutputError(f"{path.name} is truncated or not well-formed XML ({reader.note or reader.error})")
    if reader.corrupt:
        raise OutputError(f"{path.name}: {reader.error}")
    if reader.steps == 0:
        raise OutputError(f"{path.name} has no <calculation> (VASP stopped before the first ionic step)" if xml
                          else f"{path.name}: {reader.error or 'no complete ionic step'}")
    if last is None or last[0] != reader.steps - 1:
        raise OutputError(f"{path.name}: the last {'<calculation>' if xml else 'ionic step'} has no forces"
                          + (" (machine-learned step)" if reader.ml_frames else ""))
    return last


# ------------------------------------------------------------------------------------------ OUTCAR

def outcar_scf(text: str) -> ScfInfo:
    """Electronic steps of the last ionic step of an OUTCAR, with NELM and EDIFF from its header."""
    iters = [(int(m.group(1)), int(m.group(2)), m.end()) for m in _ITER_RE.finditer(text)]
    if not iters:
        return ScfInfo(0, None, None, None, OUTCAR)
    last_ionic = iters[-1][0]
    steps = [it for it in iters if it[0] == last_ionic]
    start = steps[0][2]
    des = [float(m.group(1)) for m in _DE_RE.finditer(text, start)]
    nelm = _NELM_RE.search(text)
    ediff = _EDIFF_RE.search(text)
    return ScfInfo(max(s[1] for s in steps), des[-1] if des else None,
                   int(nelm.group(1)) if nelm else None, float(ediff.group(1)) if ediff else None,
                   OUTCAR, _UNCONVERGED_MARK in text[start:])


def parse_outcar(path: str | Path) -> VaspOutput:
    """Energy, forces, stress and SCF record of the last ionic step of an OUTCAR."""
    path = Path(path)
    text = path.read_text(errors="replace")
    if "TOTAL-FORCE" not in text:
        raise OutputError(f"{path.name} has no forces (no TOTAL-FORCE block): VASP stopped before the "
                          f"end of the ionic step")
    if "free  energy   TOTEN" not in text:
        raise OutputError(f"{path.name} has no final energy ('free  energy   TOTEN')")
    reader = VaspReader(path, fmt=data_vasp.OUTCAR)
    idx, atoms = _last_frame(reader, path)
    return _output(atoms, reader.energy_sigma0[idx], outcar_scf(text), OUTCAR)


# ------------------------------------------------------------------------------------------ OSZICAR

def parse_oszicar(path: str | Path) -> list[tuple[int, float | None]]:
    """Per ionic step: (electronic steps, last dE in eV). A trailing unfinished ionic step is included."""
    steps: list[tuple[int, float | None]] = []
    n, de = 0, None
    for line in Path(path).read_text(errors="replace").splitlines():
        m = _OSZ_STEP_RE.match(line)
        if m:
            n, de = int(m.group(2)), float(m.group(4))
        elif _OSZ_IONIC_RE.match(line):
            steps.append((n, de))
            n, de = 0, None
    if n:
        steps.append((n, de))
    return steps


def oszicar_scf(path: str | Path, nelm: int | None, ediff: float | None) -> ScfInfo | None:
    steps = parse_oszicar(path)
    if not steps:
        return None
    n, de = steps[-1]
    return ScfInfo(n, de, nelm, ediff, OSZICAR)


# ------------------------------------------------------------------------------------------ common

def _output(atoms, energy_sigma0: float, scf: ScfInfo, source: str) -> VaspOutput:
    res = atoms.calc.results
    stress = res.get("stress")
    return VaspOutput(float(res["energy"]), float(energy_sigma0), np.asarray(res["forces"], dtype=float),
                      None if stress is None else np.asarray(stress, dtype=float),
                      atoms.get_chemical_symbols(), np.array(atoms.cell), atoms.get_scaled_positions(wrap=False),
                      scf, source)


def read_outputs(workdir: str | Path, *, nelm: int | None = None, ediff: float | None = None) -> VaspOutput:
    """Parse `workdir` (vasprun.xml, else OUTCAR) and reject unusable or unconverged results.

    `nelm` / `ediff` (from the INCAR heal wrote) are used when the output file does not state them.
    """
    workdir = Path(workdir)
    problems: list[str] = []
    out: VaspOutput | None = None
    for name, parser in ((VASPRUN, parse_vasprun), (OUTCAR, parse_outcar)):
        path = workdir / name
        if not path.is_file():
            problems.append(f"{name}: missing")
            continue
        try:
            out = parser(path)
            break
        except OutputError as exc:
            problems.append(str(exc))
    if out is None:
        raise FatalError(f"no usable VASP output in {workdir}: " + "; ".join(problems))
    scf = out.scf
    scf.nelm = scf.nelm if scf.nelm is not None else nelm
    scf.ediff = scf.ediff if scf.ediff is not None else ediff
    if scf.n_steps == 0 and (workdir / OSZICAR).is_file():
        scf = oszicar_scf(workdir / OSZICAR, scf.nelm, scf.ediff) or scf
        out.scf = scf
    reason = scf_failure(scf)
    if reason:
        raise FatalError(f"{workdir}: {reason}")
    if not math.isfinite(out.free_energy) or not np.all(np.isfinite(out.forces)) or (
            out.stress is not None and not np.all(np.isfinite(out.stress))):
        raise FatalError(f"{workdir}: non-finite energy, forces or stress in {out.source}")
    return out
