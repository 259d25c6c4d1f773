"""Import VASP AIMD outputs (vasprun.xml, OUTCAR) into a :class:`heal.data.dataset.Dataset`.

Units: distances Å (``d_min``), energies eV, forces eV/Å, stress eV/Å^3 -> virial eV in the store.

Per file (one file = one trajectory), in this order:

1. read complete frames (:class:`heal.data.vasp.VaspReader`; a truncated or corrupt file gives what it has);
2. ``trim``: drop the frames of the first K ionic steps (thermalisation from random initial velocities);
3. ``d_min``: drop frames whose shortest interatomic distance is below ``d_min`` (thesis: 1.5 Å);
4. dedup within the file and against the dataset (by :func:`heal.frames.frame_hash`), append.

Counters per file: ``read`` (complete frames), ``trimmed``, ``too_close``, ``unlabeled`` (steps without
energy/forces, machine-learned steps, or non-finite labels), ``duplicates``, ``added``, plus ``error``
(frames lost or the file failed) and ``note`` (something odd, nothing lost). Every file is imported in
batches of ``batch_size`` frames, each one atomic append; an error in one file never stops the others.
Provenance of every frame: ``source`` (absolute path), ``frame_index`` (ionic step in the file, from 0),
``importer: "vasp"``, ``format`` ("vasprun" or "outcar").
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from ase import Atoms

from heal.data.dataset import Dataset
from heal.data.import_report import FileReport, finite_labels
from heal.data.vasp import OUTCAR, VASPRUN, VaspReader, detect_format
from heal.frames import min_distance

#: thesis (Mou 2023): frames with a shortest interatomic distance below 1.5 Å were removed
D_MIN = 1.5


def expand_paths(paths: Iterable[str | os.PathLike]) -> list[Path]:
    """Files as given; a directory contributes every vasprun*.xml and OUTCAR* below it, except an
    OUTCAR beside a vasprun.xml (the same run: its rounded positions would be stored a second time)."""
    out: list[Path] = []
    for p in map(Path, paths):
        if not p.is_dir():
            out.append(p)
            continue
        for dirpath, dirnames, filenames in os.walk(p):
            dirnames.sort()
            names = sorted(filenames)
            xml = [n for n in names if detect_format(Path(dirpath) / n) == VASPRUN and n.endswith(".xml")]
            outcars = [n for n in names if "OUTCAR" in n] if not xml else []
            out.extend(Path(dirpath) / n for n in xml + outcars)
    return out


def scan_elements(paths: Sequence[str | os.PathLike]) -> list[str]:
    """Elements of the files' headers in order of first appearance (unreadable files are skipped)."""
    seen: dict[str, None] = {}
    for p in paths:
        try:
            seen.update(dict.fromkeys(VaspReader(p).species()))
        except Exception:  # noqa: BLE001 - reported properly when the file is imported
            continue
    return list(seen)


def import_file(path: str | os.PathLike, dataset: Dataset, *, trim: int = 0, d_min: float = D_MIN,
                batch_size: int = 2000) -> FileReport:
    """Import one VASP output into ``dataset``; never raises for a bad file (see ``FileReport.error``)."""
    path = Path(path).absolute()
    rep = FileReport(path=str(path))
    if not path.is_file():
        rep.error = "no such file"
        return rep
    reader = VaspReader(path)
    rep.format = reader.fmt
    batch: list[Atoms] = []
    provs: list[dict] = []

    def flush() -> None:
        rep.store(dataset, batch, provs)
        batch.clear()
        provs.clear()

    try:
        for idx, atoms in reader.frames():
            rep.read += 1
            if idx < trim:
                rep.trimmed += 1
            elif not finite_labels(atoms):
                rep.unlabeled += 1
            elif d_min > 0 and min_distance(atoms) < d_min:
                rep.too_close += 1
            else:
                batch.append(atoms)
                provs.append({"source": str(path), "frame_index": idx, "importer": "vasp", "format": reader.fmt})
                if len(batch) >= batch_size:
                    flush()
                    if rep.append_failed:
                        break
    except Exception as exc:  # noqa: BLE001 - an unexpected reader failure costs only this file's rest
        reader.error = f"{rep.read} complete frames read, then {type(exc).__name__}: {exc}"
    flush()
    rep.unlabeled += reader.unlabeled + reader.ml_frames
    if reader.error and not rep.append_failed:
        rep.error = reader.error
    elif reader.error:
        rep.error = f"{rep.error}; also: {reader.error}"
    notes = [reader.note] if reader.note else []
    if reader.ml_frames:
        notes.append(f"{reader.ml_frames} steps predicted by VASP's ML force field skipped (not DFT)")
    rep.note = "; ".join(notes) or None
    return rep


def import_files(paths: Iterable[str | os.PathLike], dataset: Dataset, *, trim: int = 0, d_min: float = D_MIN,
                 batch_size: int = 2000) -> list[FileReport]:
    """Import every file (directories expanded by :func:`expand_paths`), one report per file.

    If the dataset has no type map yet, it is created with the elements of all files' headers in order
    of first appearance.
    """
    from heal.data import foreign

    paths = list(paths)
    kinds = {str(p): foreign.kind_of(Path(p)) for p in paths}
    files = expand_paths([p for p in paths if kinds[str(p)] is None])
    if dataset.type_map is None:
        elements = scan_elements(files)
        if elements:
            dataset.create(elements)
    reports = [import_file(f, dataset, trim=trim, d_min=d_min, batch_size=batch_size) for f in files]
    for p in paths:  # DeePMD systems, DP-GEN runs, extxyz (heal.data.foreign); types by element name
        if kinds[str(p)] is not None:
            reports += [foreign.import_source(src, k, dataset, trim=trim, d_min=d_min)
                        for src, k in foreign.sources(Path(p), kinds[str(p)])]
    return reports


__all__ = ["D_MIN", "FileReport", "expand_paths", "import_file", "import_files", "scan_elements",
           "OUTCAR", "VASPRUN"]
