"""Live pages of ``heal webgui``: the report (``heal report``'s page, refreshed) at ``/heal`` with its plots at
``/heal/plot/<name>.png``, links both ways with FireWorks' pages, and FireWorks' pages made to work offline.

FireWorks' workflow and Firework pages load jQuery from a CDN: with no internet their graph stays empty. The
pages are served with that script taken from the ``xstatic-jquery`` package instead (``/heal/static/``), and
without the web fonts its stylesheet imports from the internet.
"""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path

from heal.campaign import Campaign

#: seconds between page refreshes (and the longest a cached plot is reused)
REFRESH_S = 10
_CDN_JQUERY = re.compile(rb'src="(?:https?:)?//code\.jquery\.com/jquery[^"]*"')
#: a stylesheet FireWorks' workflow page names but does not ship (HTTP 404)
_MISSING_CSS = re.compile(rb'<link [^>]*font-awesome-4\.0\.3[^>]*>')
#: web fonts its stylesheet imports from the internet (the browser's own sans-serif serves instead)
_FONT_IMPORT = re.compile(rb'@import url\("?(?:https?:)?//fonts\.googleapis\.com[^)]*\);?')
_BODY = re.compile(rb"<body[^>]*>")
_HEAD = re.compile(rb"<head[^>]*>")
#: an empty icon: the browser asks for /favicon.ico otherwise, which FireWorks does not serve (a console error)
NO_ICON = b'<link rel="icon" href="data:,">'
_BACK_LINK = (b'<div style="position:fixed;top:4px;right:8px;z-index:1000;background:#fff;padding:2px 6px;'
              b'border:1px solid #bbb;font:13px sans-serif"><a href="/heal">heal dashboard</a></div>')


def jquery_dir() -> Path:
    import xstatic.pkg.jquery as xj

    return Path(xj.BASE_DIR)


def offline_fireworks_page(response):
    """Serve FireWorks' pages with nothing fetched from the internet or missing (an ``after_request`` hook):
    jQuery from this server, no web-font import, no link to a stylesheet FireWorks does not ship; plus a link
    back to ``/heal`` and an empty icon."""
    if response.status_code != 200:
        return response
    if response.mimetype == "text/css":
        response.direct_passthrough = False
        response.set_data(_FONT_IMPORT.sub(b"", response.get_data()))
        return response
    if response.mimetype != "text/html" or response.direct_passthrough:
        return response
    body = response.get_data()
    if b'id="heal-page"' in body:
        return response
    body = _CDN_JQUERY.sub(b'src="/heal/static/jquery.min.js"', body)
    body = _MISSING_CSS.sub(b"", body)
    if b"href='/heal'" not in body and b'href="/heal"' not in body:
        body = _BODY.sub(lambda m: m.group(0) + _BACK_LINK, body, count=1)
    if b'rel="icon"' not in body:
        body = _HEAD.sub(lambda m: m.group(0) + NO_ICON, body, count=1)
    response.set_data(body)
    return response


class Dashboard:
    """The report's document and plots of one campaign, rebuilt at most every `max_age` seconds."""

    def __init__(self, max_age: float = REFRESH_S / 2):
        self.max_age = max_age
        self._lock = threading.Lock()
        self._at = -1e9
        self._doc: dict | None = None
        self._plots: dict[str, bytes] = {}

    def get(self, camp: Campaign, lp) -> tuple[dict, dict[str, bytes]]:
        from heal.report.data import report_data
        from heal.report.plots import all_plots

        with self._lock:
            if self._doc is None or time.monotonic() - self._at > self.max_age:
                self._doc = report_data(Campaign(camp.root, camp.cfg), lp)
                self._plots = all_plots(self._doc)
                self._at = time.monotonic()
            return self._doc, self._plots


def fireworks_of(lp, camp: Campaign) -> tuple[list[dict], dict[int, list[dict]]]:
    """The campaign's workflows (first Firework id, name) and, per iteration, its Fireworks (id, stage, state)."""
    wfs = [{"fw_id": min(d["nodes"]), "name": d.get("name", "")}
           for d in lp.workflows.find({"nodes": {"$in": lp.get_fw_ids(query={"spec.campaign": str(camp.root)})}},
                                      projection=["nodes", "name"])]
    per_it: dict[int, list[dict]] = {}
    for d in lp.fireworks.find({"spec.campaign": str(camp.root)},
                               projection=["fw_id", "name", "state", "spec.iteration"]):
        it = int((d.get("spec") or {}).get("iteration") or 0)
        per_it.setdefault(it, []).append({"fw_id": d["fw_id"], "stage": (d.get("name") or "?").split()[-1],
                                          "state": d["state"]})
    for v in per_it.values():
        v.sort(key=lambda f: f["fw_id"])
    return sorted(wfs, key=lambda w: w["fw_id"]), per_it


def add_routes(bp, camp_of, lp_of, requires_auth) -> None:
    """``/heal`` (the live report), ``/heal/plot/<name>.png``, ``/heal/static/<file>`` (jQuery) on `bp`."""
    from flask import Response, abort, send_from_directory

    from heal.report.html import page

    dash = Dashboard()

    @bp.route("", strict_slashes=False)
    @requires_auth
    def dashboard():
        camp, lp = camp_of(), lp_of()
        doc, plots = dash.get(camp, lp)
        wfs, per_it = fireworks_of(lp, camp)
        stamp = int(dash._at * 1000)
        src = {name: f"/heal/plot/{name}.png?t={stamp}" for name in plots}
        return Response(page(doc, src, live=True, refresh=REFRESH_S, workflows=wfs, fw_links=per_it),
                        mimetype="text/html")

    @bp.route("/plot/<name>.png")
    @requires_auth
    def plot(name: str):
        _, plots = dash.get(camp_of(), lp_of())
        if name not in plots:
            abort(404)
        return Response(plots[name], mimetype="image/png", headers={"Cache-Control": "no-store"})

    @bp.route("/static/<path:filename>")
    def static_file(filename: str):
        return send_from_directory(jquery_dir(), filename)
