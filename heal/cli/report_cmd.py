"""``heal report``: one HTML file with a campaign's plots and tables."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    @app.command()
    def report(campaign: str = typer.Argument(..., help="campaign name or directory"),
               out: Path = typer.Option(None, "-o", "--out", help="output directory (default: <campaign>/report)")
               ) -> None:
        """Write report.html (plots embedded; PNGs beside it): classes, deviations, RMSE, parity, calibration."""
        from heal.campaign import Campaign
        from heal.fw.runner import open_campaign_launchpad
        from heal.report.html import write_report

        camp = Campaign.open(campaign)
        lp, _ = open_campaign_launchpad(camp, readonly=True)
        path = write_report(camp, lp, out if out is not None else camp.root / "report")
        typer.echo(f"report: {path}")
