"""The campaign report as HTML (``templates/report/report.html.j2``): a self-contained file for
``heal report`` (plots embedded as PNG data, nothing fetched) and the live ``/heal`` page of the web GUI."""

from __future__ import annotations

import base64
import time
from pathlib import Path

from heal.campaign import Campaign
from heal.fsutil import atomic_write_bytes, atomic_write_text
from heal.grow.report import forgetting_rows
from heal.report.plots import STAGES, all_plots
from heal.templating import render

REPORT_NAME = "report.html"


def fmt(x, spec: str = ".3f", scale: float = 1.0) -> str:
    return "-" if x is None else format(x * scale, spec)


def page(doc: dict, plot_src: dict[str, str], *, live: bool = False, refresh: int = 10,
         workflows: list[dict] | None = None, fw_links: dict | None = None) -> str:
    """The page for :func:`~heal.report.data.report_data`'s `doc`; `plot_src`: plot name -> image URL."""
    its = doc["iterations"]
    cal = next((d["row"]["calibration_table"] for d in reversed(its) if d["row"].get("calibration_table")), None)
    from heal.validate.report import by_property

    val_its, val_rows, val_notes = by_property(doc["status"])
    return render("report/report.html.j2", {
        "st": doc["status"], "its": its, "plots": plot_src, "live": live, "refresh": refresh, "fmt": fmt,
        "generated": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "budget": doc.get("label_budget"),
        "elements": sorted({e for d in its for e in d["row"]["rmse_force_by_element"]}),
        "stages": STAGES, "calibration_table": cal, "workflows": workflows or [], "fw_links": fw_links or {},
        "val_its": val_its, "val_rows": val_rows, "val_notes": val_notes,
        "forgetting": forgetting_rows(doc),  # grown campaigns only (heal.grow)
    }, html=True)


def write_report(camp: Campaign, lp, out_dir: Path) -> Path:
    """Write ``report.html`` (plots embedded) and the plots as PNG files beside it into `out_dir`."""
    from heal.report.data import report_data

    doc = report_data(camp, lp)
    plots = all_plots(doc)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, png in plots.items():
        atomic_write_bytes(out_dir / f"{name}.png", png)
    src = {k: "data:image/png;base64," + base64.b64encode(v).decode() for k, v in plots.items()}
    path = out_dir / REPORT_NAME
    atomic_write_text(path, page(doc, src))
    for p in out_dir.glob("*"):
        if p.name == REPORT_NAME or p.suffix == ".png":
            p.chmod(0o644)
    return path
