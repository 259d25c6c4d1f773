"""``heal seeds FILE --out DIR``: write a campaign's HEA seed structures (see :mod:`heal.systems`)."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    @app.command("seeds")
    def seeds(
        file: Path = typer.Argument(..., help="campaign file (workflows/*.yaml)"),
        out: Path | None = typer.Option(None, "--out", "-o",
                                        help="output directory (default: <campaign dir>/seeds)"),
    ) -> None:
        """Generate the seed cells (FCC/BCC/HCP/melt x scales x replicas): writes seeds.extxyz and summary.tsv.

        Exit code 2 with a message naming the file, the field and the fix when the campaign file is bad.
        """
        from rich.console import Console

        from heal import progress
        from heal.config import load_config
        from heal.errors import ConfigError
        from heal.systems import SUMMARY_COLUMNS, generate_seeds, summary_rows, write_seed_set

        console = Console(width=140)
        progress.enable(console)  # a bar while SQS cells are made (a terminal only)
        try:
            cfg = load_config(file)
            seed_list = generate_seeds(cfg)
        except ConfigError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None
        out_dir = write_seed_set(seed_list, out if out is not None else cfg.campaign_dir() / "seeds")

        from rich.table import Table

        table = Table(title=f"{cfg.name}: {len(seed_list)} seed structures ({cfg.seeds.decoration} decoration)")
        for col in SUMMARY_COLUMNS:
            table.add_column(col, justify="right" if col not in ("name", "phase", "composition") else "left")
        for row in summary_rows(seed_list):
            table.add_row(*row)
        console.print(table)
        console.print(f"wrote {out_dir / 'seeds.extxyz'} and {out_dir / 'summary.tsv'}")
