"""FireWorks' web GUI on a campaign's store, plus heal's live report at ``/heal`` (:mod:`heal.report.live`)
and its status table at ``/heal/status``.

The GUI reads a :class:`~heal.launchpad.ReadOnlyStore` copy of the embedded store (never written back) that is
refreshed before each request, so Fireworks added after the server started show up. On any address other
than loopback the server refuses to start without basic-auth credentials.
"""

from __future__ import annotations

import html
import ipaddress
import threading

from heal.campaign import Campaign
from heal.errors import ConfigError
from heal.launchpad import open_launchpad
from heal.validate.report import html_table

LOOPBACK_NAMES = {"localhost", "ip6-localhost", "ip6-loopback"}

_COLUMNS = ("iteration", "stage", "state", "fireworks", "explored", "accurate", "candidate", "failed", "selected",
            "labeled", "rejected", "RMSE F (eV/Å)", "RMSE E (meV/atom)")


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and the usual localhost names."""
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_auth_settings(host: str, username: str | None, password: str | None) -> None:
    """Raise ConfigError unless credentials are complete, and present whenever `host` is not loopback."""
    if bool(username) != bool(password):
        raise ConfigError("heal webgui: give both --username and --password (or HEAL_WEBGUI_USER and "
                          "HEAL_WEBGUI_PASSWORD), or neither")
    if not username and not is_loopback(host):
        raise ConfigError(f"heal webgui: --host {host} exposes the campaign beyond this machine; give "
                          f"--username and --password (or set HEAL_WEBGUI_USER and HEAL_WEBGUI_PASSWORD) to "
                          f"require basic auth, or bind 127.0.0.1")


# ---------------------------------------------------------------------------------------------------------
def _cell(x) -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        return f"{x:.4g}"
    if isinstance(x, dict):
        return ", ".join(f"{k}: {v}" for k, v in sorted(x.items())) or "-"
    return str(x)


def _pct(v) -> str:
    return "" if v is None else f" ({v:.1%})"


def status_html(st: dict) -> str:
    """The campaign status document (``heal.report.status.campaign_status``) as an escaped HTML page."""
    e = html.escape
    head = "".join(f"<th>{e(c)}</th>" for c in _COLUMNS)
    rows = []
    for r in st["iterations"]:
        rmse_e = None if r.get("rmse_energy_per_atom") is None else 1000 * r["rmse_energy_per_atom"]
        cells = [r["iteration"], r.get("stage"), r["state"], r.get("fireworks"), r.get("explored"),
                 f"{r.get('accurate')}{_pct(r.get('accurate_ratio'))}",
                 f"{r.get('candidate')}{_pct(r.get('candidate_ratio'))}",
                 f"{r.get('failed')}{_pct(r.get('failed_ratio'))}", r.get("selected"), r.get("labeled"),
                 r.get("rejected"), r.get("rmse_force"), rmse_e]
        rows.append("<tr>" + "".join(f"<td>{e(_cell(c))}</td>" for c in cells) + "</tr>")
    fin = st.get("finished") or {}
    facts = [("state", st.get("state")), ("directory", st.get("directory")),
             ("dataset frames", st.get("dataset_frames")), ("held-out frames", st.get("testset_frames")),
             ("labels", st.get("labels_total")), ("Fireworks", st.get("fireworks"))]
    if fin:
        facts.append(("stopped", f"after iteration {fin.get('iteration')}: {fin.get('reason')}"))
    for f in st.get("fizzled", []):
        facts.append((f"FIZZLED {f['name']} (fw {f['fw_id']})", f["error"]))
    dl = "".join(f"<dt>{e(k)}</dt><dd><pre>{e(_cell(v))}</pre></dd>" if k.startswith("FIZZLED")
                 else f"<dt>{e(k)}</dt><dd>{e(_cell(v))}</dd>" for k, v in facts)
    body = "\n".join(rows) or f'<tr><td colspan="{len(_COLUMNS)}">no iteration yet</td></tr>'
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>heal: {e(str(st['campaign']))}</title>"
            "<style>body{font-family:sans-serif;margin:1.5em}table{border-collapse:collapse}"
            "td,th{border:1px solid #bbb;padding:3px 8px;text-align:right}dt{font-weight:bold}</style></head>"
            f"<body><h1>heal campaign {e(str(st['campaign']))}</h1><p><a href='/'>FireWorks GUI</a> · "
            f"<a href='/heal'>heal dashboard</a> · "
            f"<a href='/heal/status.json'>JSON</a></p><dl>{dl}</dl>"
            f"<table><thead><tr>{head}</tr></thead><tbody>\n{body}\n</tbody></table>{html_table(st)}</body></html>")


# ---------------------------------------------------------------------------------------------------------
def make_app(where, *, username: str | None = None, password: str | None = None):
    """Point FireWorks' Flask app at the campaign's store (read-only) and add ``/heal``; return the app.

    FireWorks' app is a module-level singleton: build it once per process.
    """
    import json

    from flask import Blueprint, Response, current_app
    from fireworks.flask_site.app import app, requires_auth

    camp = Campaign.open(where)
    lp, store = open_launchpad(camp.root, camp.cfg.store.uri, readonly=True)
    app.lp = lp
    app.config["WEBGUI_USERNAME"] = username or None
    app.config["WEBGUI_PASSWORD"] = password or None
    app.config["HEAL_CAMPAIGN"] = camp
    app.config["HEAL_STORE"] = store
    if "heal" in app.blueprints:
        return app
    lock = threading.Lock()

    @app.before_request
    def _refresh_store():
        st = current_app.config.get("HEAL_STORE")
        if st is not None:  # embedded store: reload the snapshot if the writer changed it
            with lock:
                st.refresh()

    def _status() -> dict:
        from heal.report.status import campaign_status

        c = current_app.config["HEAL_CAMPAIGN"]
        return campaign_status(Campaign(c.root, c.cfg), current_app.lp)  # fresh object: no cached counts

    bp = Blueprint("heal", __name__, url_prefix="/heal")

    @bp.route("/status")
    @requires_auth
    def status_page():
        return Response(status_html(_status()), mimetype="text/html")

    @bp.route("/status.json")
    @requires_auth
    def status_json():
        return Response(json.dumps(_status(), default=str), mimetype="application/json")

    from heal.report.live import add_routes, offline_fireworks_page

    add_routes(bp, lambda: current_app.config["HEAL_CAMPAIGN"], lambda: current_app.lp, requires_auth)
    app.after_request(offline_fireworks_page)
    app.register_blueprint(bp)
    return app


def serve(where, host: str = "127.0.0.1", port: int = 5000, *, username: str | None = None,
          password: str | None = None, on_ready=None) -> None:
    """Run the GUI with werkzeug's threaded server until interrupted."""
    from werkzeug.serving import run_simple

    check_auth_settings(host, username, password)
    app = make_app(where, username=username, password=password)
    if on_ready is not None:
        on_ready(app)
    run_simple(host, port, app, threaded=True, use_reloader=False, use_debugger=False)
