"""``heal chain FILE|DIR ...``: run a growth chain (HEA4 -> HEA5 -> HEA7 -> HEA10), each campaign after its parent."""

from __future__ import annotations

from pathlib import Path

import typer

from heal.errors import ConfigError


def chain_order(paths: list[Path]) -> list[Path]:
    """Campaign files (directories expand to their ``*.yaml``), each after the one it grows from."""
    from heal.config import load_config

    files = []
    for p in paths:
        files += sorted(p.glob("*.yaml")) if p.is_dir() else [p]
    cfgs = {f.resolve(): load_config(f) for f in files}
    by_root = {c.campaign_dir(): f for f, c in cfgs.items()}
    parent = {}
    for f, c in cfgs.items():
        if c.grow_from:
            from heal.grow.lineage import find_parent

            parent[f] = by_root.get(find_parent(c)[0])
    order: list[Path] = []

    def visit(f: Path, stack: tuple = ()) -> None:
        if f in order:
            return
        if f in stack:
            raise ConfigError(f"{f}: field 'grow_from': the chain has a cycle ({' -> '.join(map(str, stack))})")
        if parent.get(f) is not None:
            visit(parent[f], stack + (f,))
        order.append(f)

    for f in cfgs:
        visit(f)
    return order


def register(app: typer.Typer) -> None:
    register_from_dpgen(app)

    @app.command()
    def chain(paths: list[Path] = typer.Argument(..., help="campaign files or a directory of them "
                                                           "(e.g. workflows/grow)")) -> None:
        """Run campaigns that grow from each other, parents first; finished ones are skipped."""
        from heal.campaign import Campaign
        from heal.cli.campaign_cmd import _run, console
        from heal.fw.runner import add_campaign, campaign_fw_ids, open_campaign_launchpad

        for f in chain_order(paths):
            camp = Campaign.from_file(f)
            if (camp.root / "finished.json").is_file():
                console.print(f"campaign '{camp.name}' already finished in {camp.root}; skipped")
                continue
            lp, store = open_campaign_launchpad(camp)
            try:
                if not campaign_fw_ids(lp, camp):
                    add_campaign(camp, lp)
                console.print(f"campaign '{camp.name}' ({f}) running in {camp.root}")
                code = _run(camp, lp)
            finally:
                if store is not None:
                    store.close()
            if code:
                raise typer.Exit(code)


def register_from_dpgen(app: typer.Typer) -> None:
    @app.command("from-dpgen")
    def from_dpgen(param: Path = typer.Argument(..., help="DP-GEN param.json"),
                   machine: Path = typer.Argument(None, help="DP-GEN machine.json (optional)"),
                   output: Path = typer.Option(None, "-o", "--output", help="campaign file to write (default: print)"),
                   name: str = typer.Option(None, "--name", help="campaign name (default: <dir>-from-dpgen)")) -> None:
        """Convert a DP-GEN campaign into a heal campaign file; options heal cannot map are listed in its header."""
        from heal.from_dpgen import convert

        conv = convert(param, machine, name)
        text = conv.to_yaml(str(param))
        if output is None:
            typer.echo(text, nl=False)
            return
        from heal.fsutil import atomic_write_text

        atomic_write_text(output, text)
        typer.echo(f"wrote {output}; {len(conv.unmapped)} DP-GEN option(s) not mapped (listed in its header)")
