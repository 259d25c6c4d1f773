"""``heal data import | stats | export``: build, inspect and export a labeled-frame dataset.

Units in output: energies eV, forces eV/Å, stress eV/Å^3 (extxyz), distances Å.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

data_app = typer.Typer(name="data", no_args_is_help=True, add_completion=False,
                       help="Labeled-frame datasets: import (VASP, DeePMD, DP-GEN, extxyz), statistics, export.")

_COLS = ("read", "trimmed", "too_close", "unlabeled", "duplicates", "added")


def _fail(msg: str, code: int = 1) -> None:
    typer.echo(f"error: {msg}", err=True)
    raise typer.Exit(code)


def _open_dataset(into: Path, type_map: str | None):
    """The dataset at ``into``; with ``--type-map``, create it or check / extend its map (new elements last)."""
    from heal.data.dataset import Dataset

    ds = Dataset(into)
    if type_map is None:
        return ds
    wanted = [el.strip() for el in type_map.split(",") if el.strip()]
    if ds.type_map is None:
        ds.create(wanted)
    elif ds.type_map != wanted:
        if ds.type_map != wanted[:len(ds.type_map)]:
            _fail(f"--type-map {','.join(wanted)} disagrees with the type map {','.join(ds.type_map)} of {into}; "
                  f"omit --type-map, or list the existing elements first and new ones after them")
        ds.extend_type_map(wanted[len(ds.type_map):])
        typer.echo(f"type map of {into} extended to {','.join(ds.type_map)}", err=True)
    return ds


@data_app.command("import")
def import_cmd(
    paths: list[Path] = typer.Argument(..., help="vasprun.xml / OUTCAR files or directories of them; DeePMD "
                                                 "systems (type.raw + set.*); DP-GEN run directories "
                                                 "(iter.*/02.fp/data.*); .xyz / .extxyz files"),
    into: Path = typer.Option(..., "--into", help="dataset directory (created if missing)"),
    trim: int = typer.Option(0, "--trim", min=0, help="drop the first K ionic steps of every trajectory"),
    d_min: float = typer.Option(1.5, "--d-min", min=0.0,
                                help="drop frames with a shortest interatomic distance below this (Å); thesis: 1.5"),
    type_map: str = typer.Option(None, "--type-map",
                                 help="e.g. Ni,Co,Cr,Al. Default: the dataset's, else the elements found in "
                                      "the files in order of first appearance"),
    as_json: bool = typer.Option(False, "--json", help="print the per-file report as JSON"),
    strict: bool = typer.Option(False, "--strict", help="exit 1 if any file had an error"),
) -> None:
    """Import labeled frames (VASP AIMD, DeePMD systems, DP-GEN runs, extxyz): trim, d_min filter, dedup, append;
    print a per-file report. Elements are matched by name, whatever a source's type order.

    Exit status: 0 if complete frames were read from at least one file and stored (duplicates count
    as stored), even when other files were truncated, corrupt or unrecognised (their errors are in
    the report); 1 if nothing could be read at all, or with --strict if any file had an error.
    """
    from heal.data.importer import import_files
    from heal.errors import HealError

    try:
        ds = _open_dataset(into, type_map)
        reports = import_files(paths, ds, trim=trim, d_min=d_min)
    except HealError as exc:
        _fail(str(exc))
        return
    if as_json:
        typer.echo(json.dumps({"dataset": str(ds.path), "frames": len(ds),
                               "files": [r.as_dict() for r in reports]}, indent=1))
    else:
        width = max([len(r.path) for r in reports] + [4])
        typer.echo(f"{'file':<{width}}  {'format':<8}" + "".join(f"{c:>11}" for c in _COLS) + "  status")
        for r in reports:
            typer.echo(f"{r.path:<{width}}  {r.format or '-':<8}"
                       + "".join(f"{getattr(r, c):>11}" for c in _COLS) + f"  {r.status}")
            if r.error:
                typer.echo(f"  error: {Path(r.path).name}: {r.error}")
            if r.note:
                typer.echo(f"  note: {Path(r.path).name}: {r.note}")
        tot = {c: sum(getattr(r, c) for r in reports) for c in _COLS}
        typer.echo(f"{len(reports)} files: " + ", ".join(f"{v} {k}" for k, v in tot.items())
                   + f"; dataset {ds.path} holds {len(ds)} frames")
    if not any(r.usable for r in reports):
        _fail("no complete frame could be read and stored from any file")
    if strict and any(r.error for r in reports):
        _fail(f"{sum(1 for r in reports if r.error)} file(s) had errors (--strict)")


def _existing(path: Path):
    from heal.data.dataset import Dataset
    from heal.errors import HealError

    try:
        ds = Dataset(path)
    except HealError as exc:
        _fail(str(exc))
    if not ds.exists:
        _fail(f"no dataset at {path} (no dataset.json); create one with 'heal data import ... --into {path}'")
    return ds


@data_app.command("stats")
def stats_cmd(
    path: Path = typer.Argument(..., help="dataset directory"),
    as_json: bool = typer.Option(False, "--json", help="print the statistics as JSON"),
) -> None:
    """Frames per composition, atom count and source; total and unique-hash counts."""
    st = _existing(path).stats()
    if as_json:
        typer.echo(json.dumps(st, indent=1))
        return
    typer.echo(f"dataset {st['path']}  type map {','.join(st['type_map'] or [])}")
    typer.echo(f"frames {st['frames']}  unique hashes {st['unique_hashes']}  with virial {st['with_virial']}  "
               f"chunks {st['chunks']}  systems {st['systems']}")
    for title, key in (("composition", "by_formula"), ("atoms", "by_natoms"), ("source", "by_source")):
        typer.echo(f"by {title}:")
        for k, v in st[key].items():
            typer.echo(f"  {v:>8}  {k}")


@data_app.command("export")
def export_cmd(
    path: Path = typer.Argument(..., help="dataset directory"),
    output: Path = typer.Option(..., "-o", "--output", help="file (extxyz, mlip-cfg) or directory (deepmd-npy)"),
    fmt: str = typer.Option("extxyz", "--format", help="extxyz | deepmd-npy | mlip-cfg"),
) -> None:
    """Write every frame: extxyz (energy eV, forces eV/Å, stress eV/Å^3, provenance in info), deepmd-npy
    (DeePMD systems, by dpdata) or mlip-cfg (MLIP/MTP training file, types = the dataset's type map)."""
    from heal.data.foreign import export
    from heal.errors import HealError

    if fmt not in ("extxyz", "deepmd-npy", "mlip-cfg"):
        _fail(f"--format {fmt!r}: use extxyz, deepmd-npy or mlip-cfg", 2)
    try:
        n = export(_existing(path), output, fmt)
    except HealError as exc:
        _fail(str(exc))
        return
    typer.echo(f"wrote {n} frames to {output} ({fmt})")


def register(app: typer.Typer) -> None:
    app.add_typer(data_app, name="data")
