"""``heal label``: label the frames of an extxyz file with an oracle (MEAM, universal, GPAW, VASP).

Energies eV, forces eV/Å, stress eV/Å^3 in the output extxyz. Finished frames are kept in the work
directory (one ``<frame_hash>/`` each), so re-running the same command labels nothing twice.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def register(app: typer.Typer) -> None:
    @app.command()
    def label(
        input: Path = typer.Argument(..., help="frames to label (extxyz, or any format ASE reads)"),
        output: Path = typer.Option(..., "-o", "--output", help="labeled frames (extxyz)"),
        oracle: Optional[str] = typer.Option(None, "--oracle", help="meam | universal | gpaw | vasp "
                                             "(default: the campaign's label.oracle with --config)"),
        config: Optional[Path] = typer.Option(None, "--config", help="campaign file: use its label section "
                                              "(params, max_force, d_min, retries, timeout) and machine"),
        workdir: Optional[Path] = typer.Option(None, "--workdir", help="per-frame work directories "
                                               "(default: <output stem>_label/ beside the output)"),
        machine: Optional[str] = typer.Option(None, "--machine", help="machine preset name or file "
                                              "(default: the campaign's, else 'local')"),
    ) -> None:
        """Label frames exactly once; print labeled / rejected counts and the rejection reasons."""
        from ase.io import read

        from heal.config import LabelSpec, load_config, resolve_machine
        from heal.errors import ConfigError
        from heal.exec import get_executor
        from heal.fsutil import atomic_write_text
        from heal.label.runner import extxyz_text, label_frames

        if config is not None:
            cfg = load_config(config)
            spec = cfg.label
            if oracle is not None and oracle != spec.oracle:
                spec = spec.model_copy(update={"oracle": oracle, "params": {}})
            machine_file = resolve_machine(machine, cfg.source) if machine else cfg.machine_file()
        else:
            if oracle is None:
                raise ConfigError("heal label: give --oracle NAME (meam, universal, gpaw, vasp) or --config FILE")
            spec = LabelSpec(oracle=oracle)
            try:
                machine_file = resolve_machine(machine or "local")
            except FileNotFoundError as exc:
                raise ConfigError(f"heal label: option '--machine': {exc}") from None
        if not input.is_file():
            raise ConfigError(f"heal label: input file {input} not found")
        try:
            frames = read(input, index=":")
        except Exception as exc:
            raise ConfigError(f"heal label: cannot read frames from {input}: {exc}") from None
        wd = workdir or output.parent / f"{output.stem}_label"
        result = label_frames(frames, spec, wd, get_executor(machine_file))
        output.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(output, extxyz_text(result.labeled))
        typer.echo(f"{input}: {len(frames)} frame(s) -> labeled {len(result.labeled)}, rejected "
                   f"{len(result.rejected)} (reused {result.reused}, oracle {spec.oracle}, {result.seconds:.1f} s)"
                   f" -> {output}")
        for r in result.rejected:
            typer.echo(f"  rejected {r['hash']} [{r['stage']}]: {r['reason']}")
        if result.rejected and result.fail_fraction > spec.max_fail_fraction:
            typer.echo(f"error: {result.fail_fraction:.0%} of the frames failed (label.max_fail_fraction "
                       f"{spec.max_fail_fraction:.0%})", err=True)
            raise typer.Exit(1)
