"""VASP labeler, the production oracle: one frame -> INCAR/KPOINTS/POSCAR/POTCAR -> vasp -> labels.

Units: energy eV, forces eV/Å, stress eV/Å^3 (ASE sign, positive = tensile), lengths Å, k-spacing Å⁻¹
(2π included), ENCUT / EDIFF / SIGMA eV.

Defaults follow the thesis (Mou 2023, "DFT (VASP) settings used"), one single point per frame:

=========  ======================================================================================
PREC       Accurate
ENCUT      largest ENMAX among the species' POTCARs (``encut`` overrides)
EDIFF      1e-6 eV (the thesis's tighter value; ``ediff``)
NELM       100 (thesis: at least 40; hot disordered HEA cells often need more than VASP's 60; ``nelm``)
ALGO       Normal (blocked Davidson; ``algo``)
ISMEAR     0, SIGMA = 0.05 eV (Gaussian)
ISPIN      1 (no spin); ``spin: true`` -> ISPIN = 2 with optional ``magmom`` per element (μB)
LREAL      Auto above ``lreal_auto_above`` atoms (default 40: real-space projectors for large cells),
           else .FALSE.
IBRION     -1, NSW = 0, ISIF = 2 (stress computed), ISYM = 0, LWAVE = LCHARG = .FALSE.
KPOINTS    Γ-centred, ``n_i = max(1, ceil(|b_i| / kspacing))`` (b with 2π), kspacing 0.65 Å⁻¹, or ``kpts``
=========  ======================================================================================

``label.params`` accepted (:class:`VaspParams`, unknown keys are errors): ``command`` (machine-file key,
default ``vasp``), ``pp_path`` (default ``$VASP_PP_PATH``), ``pp_folder`` (``potpaw_PBE``), ``potcars``
(element -> POTCAR name), ``species_order``, ``encut``, ``ediff``, ``nelm``, ``algo``, ``spin``, ``magmom``,
``lreal_auto_above``, ``kspacing``, ``kpts``, ``incar`` (extra/overriding INCAR tags; a value of ``None``
removes a default tag), ``timeout_s``, ``position_tol``.

The POSCAR groups species in a fixed order (:mod:`heal.label.vasp_inputs`); the permutation is saved in
``heal_vasp.json`` and undone when reading, and the structure VASP reports is checked against the input
(species, cell, positions within ``position_tol`` Å) so a stale or foreign output is never accepted.
Energy = free energy (TOTEN), see :mod:`heal.label.vasp_parse`.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from ase import Atoms
from ase.io import write
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from heal.errors import ConfigError, FatalError
from heal.exec.base import Job
from heal.frames import set_labels
from heal.label import vasp_inputs as vi
from heal.label import vasp_parse as vp

log = logging.getLogger(__name__)

INPUTS = ("INCAR", "KPOINTS", "POSCAR", "POTCAR")
OUTPUTS = (vp.VASPRUN, vp.OUTCAR, vp.OSZICAR)
SORT_FILE = "heal_vasp.json"

#: INCAR tags the labeler owns: a VASP label is a single point of the given structure with a KPOINTS file
_FORBIDDEN_INCAR = {
    "IBRION": "the labeler computes single points (IBRION = -1)",
    "NSW": "the labeler computes single points (NSW = 0)",
    "KSPACING": "use label.params.kspacing (heal writes a KPOINTS file)",
    "KGAMMA": "heal writes a Gamma-centred KPOINTS file",
    "POTIM": "the labeler computes single points",
}


class VaspParams(BaseModel):
    """``label.params`` of the VASP oracle."""

    model_config = ConfigDict(extra="forbid")

    #: key of ``commands`` in the machine file (argv prefix, e.g. ``[mpirun, -np, 32, vasp_std]``)
    command: str = "vasp"
    #: POTCAR library root; default ``$VASP_PP_PATH``
    pp_path: str | None = None
    #: folder under the root: potpaw_PBE, potpaw_PBE.54, potpaw_PBE.64, ...
    pp_folder: str = "potpaw_PBE"
    #: element -> POTCAR directory name, overriding the recommended set (e.g. {"Ni": "Ni_pv"})
    potcars: dict[str, str] = {}
    #: POSCAR/POTCAR species order (must list every element of a frame); default HEA10 order
    species_order: list[str] | None = None
    #: plane-wave cutoff (eV); default the largest POTCAR ENMAX
    encut: float | None = Field(None, gt=0.0)
    #: SCF stopping criterion (eV)
    ediff: float = Field(1e-6, gt=0.0)
    #: maximum SCF steps (thesis: at least 40)
    nelm: int = Field(100, ge=40)
    algo: str = "Normal"
    #: ISPIN = 2 when true
    spin: bool = False
    #: initial moments (μB) per element, only with spin; unlisted elements start at 0. Empty = VASP's
    #: default (1 μB per atom)
    magmom: dict[str, float] = {}
    #: LREAL = Auto for cells with more atoms than this, else .FALSE.
    lreal_auto_above: int = Field(40, ge=0)
    #: k-spacing (Å⁻¹, 2π included) of the Γ-centred mesh rule
    kspacing: float = Field(vi.DEFAULT_KSPACING, gt=0.0)
    #: explicit Γ-centred mesh, replacing the kspacing rule
    kpts: tuple[int, int, int] | None = None
    #: extra INCAR tags, or overrides of the defaults (None removes a default tag)
    incar: dict[str, Any] = {}
    #: wall-clock limit of one VASP run (s); None = the label stage's ``label.timeout_s``
    timeout_s: float | None = Field(None, gt=0.0)
    #: largest allowed distance (Å) between an output position and the frame's (stale-output guard)
    position_tol: float = Field(1e-3, gt=0.0)

    @field_validator("kpts")
    @classmethod
    def _kpts(cls, v):
        if v is not None and min(v) < 1:
            raise ValueError("k-point divisions must be >= 1, e.g. [2, 2, 2]")
        return v

    @field_validator("incar")
    @classmethod
    def _incar(cls, v: dict[str, Any]) -> dict[str, Any]:
        up = {str(k).strip().upper(): val for k, val in v.items()}
        for key, why in _FORBIDDEN_INCAR.items():
            if key in up:
                raise ValueError(f"tag {key} cannot be set: {why}")
        if up.get("NELM") is not None and int(up["NELM"]) < 40:
            raise ValueError("NELM must be >= 40 (thesis: at least 40 SCF iterations)")
        return up


class VaspLabeler:
    name: ClassVar[str] = "vasp"
    elements: ClassVar[tuple[str, ...] | None] = None

    def __init__(self, params: dict[str, Any]) -> None:
        try:
            self.p = VaspParams.model_validate(dict(params or {}))
        except ValidationError as err:
            first = err.errors()[0]
            loc = ".".join(str(x) for x in first["loc"])
            raise ConfigError(f"field 'label.params.{loc}': {first['msg']} (VASP oracle; see heal.label.vasp)") \
                from None
        if self.p.magmom and not self.p.spin:
            raise ConfigError("field 'label.params.magmom' needs 'label.params.spin: true'")
        #: job wall-clock limit (s); None lets the label stage fill in ``label.timeout_s``
        self.timeout: float | None = self.p.timeout_s

    # ------------------------------------------------------------------------------------ prepare

    def incar_tags(self, atoms_sorted: Atoms, species: list[str], enmax: float | None) -> dict[str, Any]:
        """Context for ``INCAR.j2`` (tags in POSCAR order of `atoms_sorted`)."""
        p, n = self.p, len(atoms_sorted)
        encut = p.encut if p.encut is not None else enmax
        if p.encut is not None and enmax is not None and p.encut < enmax:
            log.warning("label.params.encut %.1f eV is below the largest POTCAR ENMAX %.1f eV", p.encut, enmax)
        magmom = None
        if p.spin and p.magmom:
            counts = [atoms_sorted.get_chemical_symbols().count(s) for s in species]
            magmom = [f"{c}*{vi.vasp_value(float(p.magmom.get(s, 0.0)))}" for s, c in zip(species, counts)]
        large = n > p.lreal_auto_above
        tags: dict[str, Any] = {
            "PREC": "Accurate", "ENCUT": encut, "LREAL": "Auto" if large else False,
            "ALGO": p.algo, "EDIFF": p.ediff, "NELM": p.nelm, "ISMEAR": 0, "SIGMA": 0.05,
            "ISPIN": 2 if p.spin else 1, "MAGMOM": magmom,
            "IBRION": -1, "NSW": 0, "ISIF": 2, "ISYM": 0, "LWAVE": False, "LCHARG": False,
        }
        notes = {
            "PREC": "thesis: accurate precision",
            "ENCUT": "eV, label.params.encut" if p.encut is not None else "eV, largest ENMAX of the POTCARs",
            "LREAL": (f"real-space projectors: more than {p.lreal_auto_above} atoms" if large
                      else f"reciprocal-space projectors: at most {p.lreal_auto_above} atoms"),
            "ALGO": "electronic minimiser", "EDIFF": "eV; thesis: 1e-5 to 1e-6",
            "NELM": "thesis: at least 40 SCF steps", "ISMEAR": "Gaussian smearing", "SIGMA": "eV; thesis: 0.05",
            "ISPIN": "spin polarised" if p.spin else "no spin polarisation", "MAGMOM": "initial moments, muB",
            "IBRION": "no ionic update", "NSW": "single point", "ISIF": "compute the stress tensor",
            "ISYM": "no symmetry", "LWAVE": "no WAVECAR", "LCHARG": "no CHGCAR/CHG",
        }
        extra = []
        for key, value in p.incar.items():
            if key in tags:
                tags[key] = value
                notes[key] = "label.params.incar"
            elif value is not None:
                extra.append((key, value))
        if tags["ENCUT"] is None:
            raise ConfigError("no ENCUT: set label.params.encut (POTCAR ENMAX unavailable)")
        return {"system": atoms_sorted.get_chemical_formula(), "natoms": n, "tags": tags, "notes": notes,
                "extra": extra}

    def kpts(self, cell) -> tuple[tuple[int, int, int], str]:
        if self.p.kpts is not None:
            return tuple(self.p.kpts), "Gamma-centred mesh from label.params.kpts"  # type: ignore[return-value]
        mesh = vi.kpoint_mesh(cell, self.p.kspacing)
        return mesh, (f"Gamma-centred mesh n_i = max(1, ceil(|b_i| / {self.p.kspacing:g})), "
                      f"|b_i| in 1/Angstrom with 2*pi")

    def write_input(self, atoms: Atoms, workdir: Path) -> None:
        workdir = Path(workdir)
        workdir.mkdir(parents=True, exist_ok=True)
        if not all(atoms.pbc):
            raise FatalError("VASP needs a periodic cell (pbc = True in all directions)")
        symbols = atoms.get_chemical_symbols()
        species = vi.species_order(symbols, self.p.species_order)
        perm = vi.sort_permutation(symbols, species)
        srt = atoms[perm]
        pp_path = self.p.pp_path or os.environ.get("VASP_PP_PATH")
        infos = vi.assemble_potcar(species, workdir / "POTCAR", pp_path=pp_path, pp_folder=self.p.pp_folder,
                                   overrides=self.p.potcars)
        ctx = self.incar_tags(srt, species, max(i.enmax for i in infos))
        (workdir / "INCAR").write_text(vi.render_incar(ctx))
        mesh, rule = self.kpts(atoms.cell.array)
        (workdir / "KPOINTS").write_text(vi.render_kpoints(mesh, rule))
        write(workdir / "POSCAR", srt, format="vasp", direct=True, sort=False, ignore_constraints=True)
        record = {"order": [int(i) for i in perm], "species": species,
                  "counts": [symbols.count(s) for s in species], "kpts": list(mesh),
                  "encut": ctx["tags"]["ENCUT"], "nelm": ctx["tags"]["NELM"], "ediff": ctx["tags"]["EDIFF"],
                  "potcars": [i.as_dict() for i in infos]}
        (workdir / SORT_FILE).write_text(json.dumps(record, indent=1))

    # ------------------------------------------------------------------------------------ execute

    def job(self, workdir: Path) -> Job:
        """The VASP run in `workdir` (inputs written, stale outputs removed) for an executor."""
        workdir = Path(workdir)
        missing = [f for f in INPUTS if not (workdir / f).is_file()]
        if missing:
            raise FatalError(f"{workdir}: VASP inputs {missing} missing; run write_input first")
        for name in OUTPUTS:  # results must come from this run, never from an earlier attempt
            (workdir / name).unlink(missing_ok=True)
        return Job(command=self.p.command, args=[], cwd=workdir, timeout=self.timeout, log="vasp",
                   forward=list(INPUTS), backward=list(OUTPUTS))

    def execute(self, workdir: Path, executor) -> None:
        job = self.job(workdir)
        executor.run(job)

    # ------------------------------------------------------------------------------------ parse

    def read_results(self, workdir: Path, atoms: Atoms) -> Atoms:
        workdir = Path(workdir)
        symbols = atoms.get_chemical_symbols()
        rec_path = workdir / SORT_FILE
        if rec_path.is_file():
            rec = json.loads(rec_path.read_text())
            perm = np.asarray(rec["order"], dtype=int)
            nelm, ediff = rec.get("nelm"), rec.get("ediff")
        else:
            perm = vi.sort_permutation(symbols, vi.species_order(symbols, self.p.species_order))
            nelm, ediff = self.p.nelm, self.p.ediff
        if sorted(perm.tolist()) != list(range(len(atoms))):
            raise FatalError(f"{rec_path}: atom order is for {len(perm)} atoms, the frame has {len(atoms)}")
        out = vp.read_outputs(workdir, nelm=nelm, ediff=ediff)
        self._check_structure(out, atoms[perm], workdir)
        labeled = atoms.copy()
        return set_labels(labeled, out.free_energy, vi.unsort(out.forces, perm), stress=out.stress)

    def _check_structure(self, out: vp.VaspOutput, expected: Atoms, workdir: Path) -> None:
        """The output must be for the frame that was written: same species, cell and positions."""
        tol = self.p.position_tol
        exp_symbols = expected.get_chemical_symbols()
        if out.symbols != exp_symbols:
            raise FatalError(f"{workdir}/{out.source} is for {len(out.symbols)} atoms "
                             f"{_formula(out.symbols)}, not for this frame ({_formula(exp_symbols)})")
        if np.abs(out.cell - expected.cell.array).max() > tol:
            raise FatalError(f"{workdir}/{out.source}: cell differs from the frame's by more than {tol} Å")
        d = out.scaled_positions - expected.get_scaled_positions(wrap=False)
        d -= np.round(d)
        dist = np.linalg.norm(d @ expected.cell.array, axis=1)
        if dist.max() > tol:
            i = int(dist.argmax())
            raise FatalError(f"{workdir}/{out.source}: atom {i} (POSCAR order) is {dist[i]:.4f} Å from the "
                             f"frame's position (tolerance {tol} Å); the output is not for this frame")


def _formula(symbols: list[str]) -> str:
    return Atoms(symbols).get_chemical_formula()
