"""``heal webgui``: FireWorks' web GUI on a campaign's store (read-only), with heal's status at ``/heal``."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    @app.command()
    def webgui(campaign: str = typer.Argument(..., help="campaign name or directory"),
               host: str = typer.Option("127.0.0.1", "--host", help="address to bind; anything but loopback "
                                                                    "requires --username/--password"),
               port: int = typer.Option(5000, "--port", help="TCP port"),
               username: str = typer.Option(None, "--username", envvar="HEAL_WEBGUI_USER",
                                            help="basic-auth user (env HEAL_WEBGUI_USER)"),
               password: str = typer.Option(None, "--password", envvar="HEAL_WEBGUI_PASSWORD",
                                            help="basic-auth password (env HEAL_WEBGUI_PASSWORD)")) -> None:
        """Serve FireWorks' web GUI and a heal status page (/heal) for a campaign; never writes its store."""
        from heal.report.webgui import serve

        def ready(app) -> None:
            shown = f"[{host}]" if ":" in host else host
            auth = "basic auth on" if username else "no auth, loopback only"
            typer.echo(f"heal webgui: campaign {app.config['HEAL_CAMPAIGN'].name} at http://{shown}:{port}/ "
                       f"(heal status: /heal; {auth}); Ctrl-C stops it", err=True)

        serve(campaign, host=host, port=port, username=username, password=password, on_ready=ready)
