"""``heal demo``: the README's main job — a real HEA4 campaign on the embedded store, start to finish."""

from __future__ import annotations

from pathlib import Path

import typer

from heal import WORKFLOWS_DIR


def register(app: typer.Typer) -> None:
    @app.command()
    def demo(directory: Path = typer.Option(Path("heal-demo"), "--dir", help="campaign directory"),
             config: Path = typer.Option(WORKFLOWS_DIR / "demo.yaml", "--config", help="campaign file")) -> None:
        """Run HEA4 with the MEAM teacher for 3 iterations (real LAMMPS, dp train, FireWorks); resumes if rerun."""
        import yaml

        from heal.campaign import Campaign
        from heal.cli.campaign_cmd import _run, console
        from heal.config import parse_config
        from heal.fw.runner import add_campaign, campaign_fw_ids, open_campaign_launchpad, reset_lost

        from heal import progress

        progress.enable(console)
        data = yaml.safe_load(config.read_text())
        data["root"] = str(directory.resolve())
        camp = Campaign.create(parse_config(data, config))
        lp, store = open_campaign_launchpad(camp)
        if campaign_fw_ids(lp, camp):
            n = len(reset_lost(lp, camp, embedded=store is not None))
            console.print(f"demo campaign exists in {camp.root}: resuming ({n} Firework(s) to rerun)")
        else:
            add_campaign(camp, lp)
            console.print(f"demo campaign '{camp.name}' created in {camp.root}")
        try:
            code = _run(camp, lp)
        finally:
            if store is not None:
                store.close()
        last = max((i for i in camp.iterations() if (camp.iter_dir(i) / "train").is_dir()), default=None)
        if last is not None:
            models = sorted(str(p) for p in (camp.iter_dir(last) / "train").glob("model-*/graph.pb"))
            console.print("\npotentials (DeePMD, TensorFlow .pb; LAMMPS: pair_style deepmd <models>):")
            for m in models:
                console.print(f"  {m}")
        from heal.report.html import write_report

        lp_ro, _ = open_campaign_launchpad(camp, readonly=True)
        report = write_report(camp, lp_ro, camp.root / "report")
        console.print(f"report:  {report}   (heal report {camp.root})")
        console.print(f"dataset: heal data stats {camp.root / 'dataset'}")
        console.print(f"status:  heal status {camp.root}")
        console.print(f"web GUI: heal webgui {camp.root}   (then open http://127.0.0.1:5000/heal)")
        raise typer.Exit(code)
