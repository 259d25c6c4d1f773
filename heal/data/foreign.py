"""Labeled frames from other codes' formats, in and out, converted by dpdata (and ASE for extended XYZ).

In (``heal data import``; each source gives a :class:`heal.data.import_report.FileReport`):

- a DeePMD system directory (``type.raw`` + ``set.*/*.npy``, or the ``*.raw`` files): ``deepmd``; its
  ``type_map.raw`` names the elements, in whatever order: frames are stored by element name;
- a DP-GEN run directory (``iter.*/02.fp/data.*``, the labeled systems DP-GEN collected): ``dpgen``, one
  report per ``data.*`` system;
- an extended-XYZ file (``.xyz`` / ``.extxyz`` with energy and forces): ``extxyz``.

Out (``heal data export --format``): ``extxyz`` (the dataset's own writer), ``deepmd-npy`` (one DeePMD system
per composition and atom order, dpdata's writer), ``mlip-cfg`` (MLIP/MTP ``.cfg``, types = the dataset's type
map indices). Units: energy eV, forces eV/Å, virial eV / stress eV/Å^3 (converted by dpdata), lengths Å.
"""

from __future__ import annotations

import os
from pathlib import Path

from ase import Atoms

from heal.errors import FatalError
from heal.frames import min_distance

KINDS = ("deepmd", "dpgen", "extxyz")


def is_deepmd_system(p: Path) -> bool:
    return p.is_dir() and (p / "type.raw").is_file()


def dpgen_systems(root: Path) -> list[Path]:
    """The labeled systems of a DP-GEN run directory: ``iter.*/02.fp/data.*`` (sorted)."""
    return sorted(d for d in root.glob("iter.*/02.fp/data.*") if is_deepmd_system(d))


def kind_of(p: Path) -> str | None:
    """``deepmd``, ``dpgen``, ``extxyz``, or None (a VASP output or a directory of them)."""
    p = Path(p)
    if is_deepmd_system(p):
        return "deepmd"
    if p.is_dir() and any(p.glob("iter.*/02.fp")):
        return "dpgen"
    if p.is_file() and p.suffix.lower() in (".xyz", ".extxyz"):
        return "extxyz"
    return None


def read_deepmd(system: Path) -> list[Atoms]:
    """Every labeled frame of a DeePMD system (npy sets if present, else raw files), via dpdata."""
    import dpdata

    fmt = "deepmd/npy" if any(Path(system).glob("set.*")) else "deepmd/raw"
    sysobj = dpdata.LabeledSystem(str(system), fmt=fmt)
    return list(sysobj.to("ase/structure")) if sysobj.get_nframes() else []


def read_extxyz(path: Path) -> list[Atoms]:
    import ase.io

    return list(ase.io.read(path, index=":", format="extxyz"))


def sources(p: Path, kind: str) -> list[tuple[Path, str]]:
    """(source, reader kind) pairs of one path: a DP-GEN run gives its systems."""
    if kind == "dpgen":
        return [(d, "deepmd") for d in dpgen_systems(Path(p))]
    return [(Path(p), kind)]


def import_source(path: Path, kind: str, dataset, *, trim: int = 0, d_min: float = 1.5):
    """Import one DeePMD system or extxyz file (the report names its format); never raises for a bad source."""
    from heal.data.import_report import FileReport, finite_labels

    rep = FileReport(path=str(Path(path).absolute()), format=kind)
    try:
        frames = read_deepmd(path) if kind == "deepmd" else read_extxyz(path)
    except Exception as exc:  # noqa: BLE001 - a bad source costs only itself; the report says why
        rep.error = f"unreadable as {kind}: {type(exc).__name__}: {exc}"
        return rep
    keep, provs = [], []
    for idx, atoms in enumerate(frames):
        rep.read += 1
        if idx < trim:
            rep.trimmed += 1
        elif atoms.calc is None or "energy" not in atoms.calc.results or "forces" not in atoms.calc.results \
                or not finite_labels(atoms):
            rep.unlabeled += 1
        elif d_min > 0 and min_distance(atoms) < d_min:
            rep.too_close += 1
        else:
            atoms.info = {}
            keep.append(atoms)
            provs.append({"source": rep.path, "frame_index": idx, "importer": kind})
    rep.store(dataset, keep, provs)
    return rep


def export(dataset, output: Path, fmt: str) -> int:
    """Write the dataset in ``fmt`` (extxyz | deepmd-npy | mlip-cfg) to `output`; returns frames written."""
    output = Path(output)
    if fmt == "extxyz":
        return dataset.export_extxyz(output)
    frames = list(dataset.iter_frames())
    if fmt == "mlip-cfg":
        from heal.train.mtp import write_training_cfg

        output.parent.mkdir(parents=True, exist_ok=True)
        write_training_cfg(frames, dataset.type_map, output)
        return len(frames)
    if fmt == "deepmd-npy":
        import dpdata

        multi = dpdata.MultiSystems(type_map=dataset.type_map)
        for atoms in frames:
            multi.append(dpdata.LabeledSystem(atoms, fmt="ase/structure", type_map=dataset.type_map))
        tmp = output.with_name(f".{output.name}.tmp")
        multi.to("deepmd/npy", str(tmp))
        if output.exists():
            raise FatalError(f"{output} exists; remove it or choose another output directory")
        os.replace(tmp, output)
        return len(frames)
    raise FatalError(f"unknown export format {fmt!r}; use extxyz, deepmd-npy or mlip-cfg")
