"""``heal lpad CAMPAIGN ARGS…``: FireWorks' own ``lpad`` commands on a campaign's store (embedded or MongoDB).

``heal lpad heal-demo get_wflows -d more`` is FireWorks' ``lpad get_wflows -d more`` on the campaign's
LaunchPad. Commands that only read (``get_*``, ``report``) use a read-only copy of the embedded store, so they
work while a worker runs; the others (``rerun_fws``, ``defuse_fws``, ``pause_fws``, …) take the store's writer
lock and are saved durably.
"""

from __future__ import annotations

import typer

READ_ONLY = ("get_", "report", "introspect", "check_wflow", "tuneup")


def run_lpad(campaign: str, argv: list[str]) -> int:
    """Run FireWorks' ``lpad`` with `argv` on the campaign's LaunchPad; its exit code."""
    import fireworks.scripts.lpad_run as lpad_run

    from heal.campaign import Campaign
    from heal.errors import ConfigError
    from heal.fw.runner import open_campaign_launchpad

    cmd = next((a for a in argv if not a.startswith("-")), "")
    if any(a in ("-l", "--launchpad_file", "-c", "--config_dir") for a in argv):
        raise ConfigError("heal lpad: the campaign gives the LaunchPad; drop -l/--launchpad_file and -c/--config_dir")
    if cmd in ("init", "reset", "admin"):
        raise ConfigError(f"heal lpad: '{cmd}' would replace or wipe the campaign's store; heal manages it "
                          f"(start over with a new campaign directory)")
    camp = Campaign.open(campaign)
    lp, store = open_campaign_launchpad(camp, readonly=cmd.startswith(READ_ONLY) or not cmd)
    original = lpad_run.get_lp
    lpad_run.get_lp = lambda args: lp
    try:
        return int(lpad_run.lpad(argv) or 0)
    finally:
        lpad_run.get_lp = original
        if hasattr(store, "close"):  # the writer's DurableStore (a read-only copy has nothing to close)
            store.close()


def register(app: typer.Typer) -> None:
    @app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True,
                                   "help_option_names": []})
    def lpad(ctx: typer.Context,
             campaign: str = typer.Argument(..., help="campaign name or directory")) -> None:
        """FireWorks' lpad on the campaign's store: heal lpad CAMPAIGN get_wflows | get_fws | rerun_fws -i 3 | …"""
        code = run_lpad(campaign, list(ctx.args))
        raise typer.Exit(code)
