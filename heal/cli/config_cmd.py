"""``heal validate FILE``: check a campaign file."""

from __future__ import annotations

from pathlib import Path

import typer

from heal.config import load_config


def register(app: typer.Typer) -> None:
    @app.command()
    def validate(files: list[Path] = typer.Argument(..., help="campaign files (workflows/*.yaml)")) -> None:
        """Validate campaign files (fields, the oracle's parameters and element coverage): exit 0 if all are good,
        2 with a message naming file, field and fix."""
        from heal.errors import ConfigError
        from heal.label.registry import check_oracle

        bad = 0
        for f in files:
            try:
                cfg = load_config(f)
                check_oracle(cfg.label.oracle, cfg.label.params, cfg.system.type_map, str(f))
                grows = ""
                if cfg.grow_from:  # heal.grow: the parent exists (file or directory) and the child fits it
                    from heal.grow.lineage import check_growth, find_parent

                    proot, parent, _ = find_parent(cfg)
                    check_growth(cfg, parent)
                    grows = f", grows from '{parent.name}' ({proot})"
            except ConfigError as exc:
                typer.echo(f"error: {exc}", err=True)
                bad += 1
                continue
            s = cfg.system
            comp = " ".join(f"{el}{x:.3g}" for el, x in (s.composition or {}).items())
            typer.echo(f"{f}: ok — campaign '{cfg.name}', {comp}, oracle {cfg.label.oracle}, "
                       f"trainer {cfg.train.engine} x{cfg.train.n_models}, machine {cfg.machine_file().name}{grows}")
        if bad:
            raise typer.Exit(2)
