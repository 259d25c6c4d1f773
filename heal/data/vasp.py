"""Read VASP AIMD outputs (vasprun.xml, OUTCAR) frame by frame, tolerating truncated and corrupt files.

Units (ASE): positions and cell Å, energy eV, forces eV/Å, stress eV/Å^3 (ASE sign, positive = tensile);
frames carry them through :func:`heal.frames.set_labels`, so the DeePMD virial (eV) follows.

**Energy**: the stored ``energy`` is VASP's *free* energy (OUTCAR ``free  energy   TOTEN``, vasprun
``e_fr_energy``), the quantity the Hellmann-Feynman forces are derivatives of, and the one dpdata's VASP
readers give DeePMD. For vasprun.xml the P·V term that VASP adds with PSTRESS is removed, as ASE does.

A reader yields only *complete* frames (structure, energy and forces all present) and then tells what
was wrong with the rest: ``error`` when frames were lost (file ends mid-frame, corrupt frame skipped,
corrupt XML), ``note`` when nothing was lost (e.g. a killed run whose file simply stops between steps).
vasprun.xml is parsed as a stream (one ``<calculation>`` in memory at a time); OUTCAR is cut into
ionic steps and each step is parsed by ASE's OUTCAR chunk parser, so a corrupt step costs only itself.
Frames that VASP's machine-learned force field predicted (OUTCAR ``ML TOTEN``) are not DFT and are skipped.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.data import chemical_symbols
from ase.units import GPa

from heal.frames import set_labels

VASPRUN, OUTCAR = "vasprun", "outcar"
_OUTCAR_DELIM = "FREE ENERGIE OF THE ION-ELECTRON SYSTEM"  # ends an ionic step (+4 lines: the energies)
_PARAMS = ("NELM", "EDIFF", "PSTRESS")  # vasprun.xml parameters the readers need


def detect_format(path: str | os.PathLike) -> str | None:
    """``"vasprun"``, ``"outcar"`` or None: by file name first (vasprun*.xml, *OUTCAR*), then by content."""
    name = Path(path).name
    if name.lower().startswith("vasprun") or (name.endswith(".xml") and "vasprun" in name.lower()):
        return VASPRUN
    if "OUTCAR" in name:
        return OUTCAR
    try:
        with open(path, "rb") as fh:
            head = fh.read(8192)
    except OSError:
        return None
    if b"<modeling" in head or (head.lstrip().startswith(b"<?xml") and b"vasp" in head.lower()):
        return VASPRUN
    first = head.lstrip().split(b"\n", 1)[0]
    if first.startswith(b"vasp.") or b" POTCAR:" in head:
        return OUTCAR
    return None


def _symbol(text: str) -> str:
    sym = text.strip().split("_")[0].split(".")[0]
    if sym not in chemical_symbols[1:]:
        raise ValueError(f"unknown element {text.strip()!r}")
    return sym


def _scf_energies(calc) -> list[float]:
    """Free energy of each leading ``<scstep>`` (the ground-state SCF; DFPT steps after ``<energy>`` not counted)."""
    out = []
    for child in calc:
        if child.tag != "scstep":
            break
        e = child.find("energy/i[@name='e_fr_energy']")
        out.append(float(e.text) if e is not None and e.text else float("nan"))
    return out


def _sigma0_shift(calc) -> float:
    """σ→0 minus free energy of the last electronic step (as ASE applies it: vasprun's own ``e_0_energy``
    in ``<energy>`` is wrong in some VASP versions)."""
    last = calc.findall("scstep/energy")
    if not last:
        return 0.0
    e0, efr = last[-1].find("i[@name='e_0_energy']"), last[-1].find("i[@name='e_fr_energy']")
    return float(e0.text) - float(efr.text) if e0 is not None and efr is not None else 0.0


def _varray(elem) -> np.ndarray:
    return np.array([[float(x) for x in v.text.split()] for v in elem], dtype=float)


class VaspReader:
    """Iterate the complete frames of one VASP output file; afterwards read the counters and messages.

    ``frames()`` yields ``(index, atoms)``, ``index`` counting ionic steps in the file from 0.
    After it is exhausted: ``steps`` (ionic steps seen), ``complete`` (frames yielded), ``unlabeled``
    (steps without energy or forces), ``ml_frames`` (machine-learned steps skipped), ``corrupt``
    (unparseable steps skipped), ``error`` and ``note`` (None or a one-line message); for the labeler:
    ``energy_sigma0`` (index -> σ→0 energy, eV), and for vasprun.xml ``params`` (``NELM``, ``EDIFF``,
    ``PSTRESS`` as written) and ``scf_energies`` (free energy of each electronic step of the last ionic
    step, eV).
    """

    def __init__(self, path: str | os.PathLike, fmt: str | None = None) -> None:
        self.path = Path(path)
        self.fmt = fmt or detect_format(path)
        self.steps = self.complete = self.unlabeled = self.ml_frames = self.corrupt = 0
        self.energy_sigma0: dict[int, float] = {}
        self.params: dict[str, str] = {}
        self.scf_energies: list[float] = []
        self.error: str | None = None
        self.note: str | None = None
        self._first_corrupt: str | None = None

    # -- public -------------------------------------------------------------------------------------
    def frames(self) -> Iterator[tuple[int, Atoms]]:
        if self.fmt == VASPRUN:
            it = self._vasprun()
        elif self.fmt == OUTCAR:
            it = self._outcar()
        else:
            self.error = "unrecognised format: neither a vasprun.xml nor an OUTCAR (by name or content)"
            return
        for idx, atoms in it:
            self.complete += 1
            yield idx, atoms
        if self.corrupt:
            msg = f"{self.corrupt} corrupt frame(s) skipped (first: {self._first_corrupt})"
            self.error = msg if self.error is None else f"{self.error}; {msg}"

    def species(self) -> list[str]:
        """Per-atom chemical symbols from the file's header (cheap; raises on an unreadable header)."""
        if self.fmt == VASPRUN:
            import xml.etree.ElementTree as ET

            for _event, elem in ET.iterparse(self.path, events=("end",)):
                if elem.tag == "atominfo":
                    return self._vasprun_species(elem)
            raise ValueError("no <atominfo> in file")
        if self.fmt == OUTCAR:
            with open(self.path, errors="replace") as fh:
                return list(self._outcar_header(fh)["symbols"])
        raise ValueError("unrecognised format")

    def _skip_corrupt(self, idx: int, exc: Exception) -> None:
        self.corrupt += 1
        if self._first_corrupt is None:
            self._first_corrupt = f"frame {idx}: {type(exc).__name__}: {exc}"

    # -- vasprun.xml --------------------------------------------------------------------------------
    @staticmethod
    def _vasprun_species(atominfo) -> list[str]:
        rows = atominfo.find("array[@name='atoms']/set")
        if rows is None:
            raise ValueError("<atominfo> has no atoms array")
        return [_symbol(rc[0].text) for rc in rows]

    def _vasprun(self) -> Iterator[tuple[int, Atoms]]:
        import xml.etree.ElementTree as ET

        species: list[str] | None = None
        pstress = 0.0  # kB
        stack: list[str] = []
        root = None
        n = 0
        try:
            for event, elem in ET.iterparse(self.path, events=("start", "end")):
                if event == "start":
                    if root is None:
                        root = elem
                    stack.append(elem.tag)
                    continue
                stack.pop()
                if elem.tag == "atominfo":
                    species = self._vasprun_species(elem)
                elif elem.tag == "i" and elem.get("name") in _PARAMS and "calculation" not in stack and elem.text:
                    self.params[elem.get("name")] = elem.text.strip()  # <parameters> comes after <incar>
                    if elem.get("name") == "PSTRESS":
                        pstress = float(elem.text)
                elif elem.tag == "calculation" and len(stack) == 1:
                    idx, n = n, n + 1
                    self.steps = n
                    if species is None:
                        raise ValueError("<calculation> before <atominfo>: not a vasprun.xml")
                    self.scf_energies = _scf_energies(elem)
                    try:
                        atoms = self._vasprun_frame(elem, species, pstress)
                        if atoms is not None:
                            self.energy_sigma0[idx] = atoms.get_potential_energy() + _sigma0_shift(elem)
                    except Exception as exc:  # noqa: BLE001 - one bad step must not stop the file
                        self._skip_corrupt(idx, exc)
                        atoms = None
                    else:
                        if atoms is None:
                            self.unlabeled += 1
                    elem.clear()
                    root.remove(elem)
                    if atoms is not None:
                        yield idx, atoms
        except ET.ParseError as exc:
            self._xml_problem(exc, stack, n)
            return
        if species is None:
            self.error = "not a vasprun.xml: no <atominfo> element"

    def _xml_problem(self, exc, stack: list[str], n: int) -> None:
        """Turn an XML parse error into ``error`` (frames lost) or ``note`` (nothing lost)."""
        line, col = exc.position
        with open(self.path, "rb") as fh:
            data = fh.read()
        nlines = data.count(b"\n") + (0 if data.endswith(b"\n") else 1)
        reason = str(exc).split(":")[0]
        if line < nlines:
            self.error = (f"{n} complete frames read, then corrupt XML at line {line}, column {col} ({reason}); "
                          f"the rest of the file cannot be parsed")
        elif "calculation" in stack:  # the parser ran out of input: the file is cut short
            self.error = f"{n} complete frames read, file truncated after frame {n} (XML ends mid-<calculation>)"
        elif not stack:
            self.error = f"file is empty or ends before the XML root element ({reason}); 0 frames read"
        elif n == 0:
            self.error = f"file truncated inside <{stack[-1]}>, before the first <calculation>; 0 frames read"
        else:
            self.note = (f"XML ends inside <{stack[-1]}> without closing it (run killed?); all {n} "
                         f"<calculation> blocks in the file are complete")

    @staticmethod
    def _vasprun_frame(calc, species: list[str], pstress: float) -> Atoms | None:
        basis = calc.find("structure/crystal/varray[@name='basis']")
        pos = calc.find("structure/varray[@name='positions']")
        forces = calc.find("varray[@name='forces']")
        e_fr = calc.find("energy/i[@name='e_fr_energy']")
        if basis is None or pos is None or forces is None or e_fr is None:
            return None
        cell = _varray(basis)
        atoms = Atoms(species, cell=cell, scaled_positions=_varray(pos), pbc=True)
        f = _varray(forces)
        energy = float(e_fr.text) - pstress * 0.1 * GPa * atoms.get_volume()
        stress = None
        sv = calc.find("varray[@name='stress']")
        if sv is not None:
            stress = -0.1 * GPa * _varray(sv)  # kB, VASP sign -> eV/Å^3, ASE sign
        return set_labels(atoms, energy, f, stress=stress)

    # -- OUTCAR -------------------------------------------------------------------------------------
    @staticmethod
    def _outcar_header(fh) -> dict:
        from ase.io.vasp_parsers.vasp_outcar_parsers import OutcarHeaderParser

        lines = []
        for line in fh:
            lines.append(line)
            if "Iteration" in line:
                break
        else:
            raise ValueError("no ionic step found: not an OUTCAR, or the file ends inside its header")
        return OutcarHeaderParser(workdir=None).build(lines)

    def _outcar(self) -> Iterator[tuple[int, Atoms]]:
        from ase.io.vasp_parsers.vasp_outcar_parsers import OutcarChunkParser

        with open(self.path, errors="replace") as fh:
            try:
                header = self._outcar_header(fh)
            except Exception as exc:  # noqa: BLE001 - garbage or a header ASE cannot parse
                self.error = f"OUTCAR header unreadable ({type(exc).__name__}: {exc}); 0 frames read"
                return
            parser = OutcarChunkParser(header=header)
            lines: list[str] = []
            tail = -1  # lines still to read after the delimiter; -1: not in the energy block
            idx = 0
            for line in fh:
                lines.append(line)
                if tail < 0 and _OUTCAR_DELIM in line:
                    tail = 4
                elif tail > 0:
                    tail -= 1
                if tail == 0:
                    chunk, lines, tail = lines, [], -1
                    atoms = self._outcar_frame(parser, header, chunk, idx)
                    idx += 1
                    self.steps = idx
                    if atoms is not None:
                        yield idx - 1, atoms
        finished = any("General timing" in ln for ln in lines)
        if idx == 0 or any("Iteration" in ln for ln in lines):
            self.error = (f"{idx} complete frames read, file truncated after frame {idx} "
                          f"(ends mid ionic step {idx + 1}, before its energy)")
        elif not finished:
            self.note = (f"file ends without VASP's closing timing block (run killed?); all {idx} "
                         f"ionic steps in it are complete")

    def _outcar_frame(self, parser, header: dict, chunk: list[str], idx: int) -> Atoms | None:
        if any("ML TOTEN" in ln or "ML FREE ENERGIE" in ln for ln in chunk):
            self.ml_frames += 1
            return None
        try:
            parser.header = header
            atoms = parser.build(chunk)
            res = atoms.calc.results
            energy = res.get("free_energy", res.get("energy"))
            if energy is None or res.get("forces") is None:
                self.unlabeled += 1
                return None
            self.energy_sigma0[idx] = float(res.get("energy", energy))
            return set_labels(Atoms(atoms.get_chemical_symbols(), cell=atoms.cell, positions=atoms.positions,
                                    pbc=True), energy, res["forces"], stress=res.get("stress"))
        except Exception as exc:  # noqa: BLE001 - one bad step must not stop the file
            self._skip_corrupt(idx, exc)
            return None
