"""``heal launch | worker | resume | status``: run and watch campaigns."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from heal.campaign import Campaign

console = Console(stderr=False, width=None if sys.stdout.isatty() else 150)


def _fmt(x, spec=".3f"):
    return "-" if x is None else format(x, spec)


def print_event(ev: dict) -> None:
    from heal.fw.runner import error_message

    data = ev.get("data") or {}
    bits = ", ".join(f"{k}={_fmt(v) if isinstance(v, float) else v}" for k, v in data.items()
                     if not k.startswith("_") and not isinstance(v, (list, dict)))
    if ev["state"] == "FIZZLED" and data.get("_exception"):
        bits = error_message(data["_exception"]).splitlines()[0][:200]
    colour = "green" if ev["state"] == "COMPLETED" else "red"
    console.print(f"[{colour}]{ev['state']:>9}[/] {ev['name']:<28} {ev['seconds']:7.1f} s  {bits}", highlight=False)


def status_table(st: dict) -> Table:
    t = Table(title=f"heal campaign '{st['campaign']}' — {st['state']}", show_lines=False)
    for col in ("iter", "stage", "state", "explored", "accurate", "candidate", "failed", "labeled", "rejected",
                "RMSE F (eV/Å)", "RMSE E (meV/atom)"):
        t.add_column(col, justify="right")
    for r in st["iterations"]:
        pct = (lambda v: "-" if v is None else f"{v:.1%}")
        t.add_row(str(r["iteration"]), str(r["stage"]), r["state"], str(r["explored"]),
                  f"{r['accurate']} ({pct(r['accurate_ratio'])})", f"{r['candidate']} ({pct(r['candidate_ratio'])})",
                  f"{r['failed']} ({pct(r['failed_ratio'])})", str(r["labeled"]), str(r["rejected"]),
                  _fmt(r["rmse_force"]), _fmt(None if r["rmse_energy_per_atom"] is None
                                              else 1000 * r["rmse_energy_per_atom"], ".1f"))
    return t


def print_summary(camp: Campaign, lp) -> dict:
    from heal.report.status import campaign_status

    st = campaign_status(camp, lp)
    console.print(status_table(st))
    from heal.validate.report import rich_table

    if (vt := rich_table(st)) is not None:
        console.print(vt)
    cal = next((r["calibration_table"] for r in reversed(st["iterations"]) if r.get("calibration_table")), None)
    if cal:
        console.print(cal, highlight=False)
    fin = st.get("finished")
    rejections = [(r["iteration"], x) for r in st["iterations"] for x in r.get("rejections", [])]
    if rejections:
        console.print(f"rejected frames ({len(rejections)}; retried only on purpose: heal resume --retry-rejected):",
                      highlight=False)
        for it, x in rejections[:10]:
            console.print(f"  it{it} {x.get('hash', '?')[:12]} [{x.get('stage', '?')}] {x.get('reason', '')}",
                          highlight=False)
        if len(rejections) > 10:
            console.print(f"  ... {len(rejections) - 10} more in heal status --json", highlight=False)
    from heal.grow.report import print_growth

    print_growth(console, st)
    console.print(f"dataset: {st['dataset']} ({st['dataset_frames']} frames; held-out {st['testset_frames']}); "
                  f"labels: {st['labels_total']}")
    if fin:
        console.print(f"stopped after iteration {fin['iteration']}: {fin['reason']}")
    if st.get("submissions") and st.get("state") != "finished":
        last = st["submissions"][-1]
        console.print(f"last submission: {last['dir']} ({last['command']}, {last['tasks']} task(s)) as scheduler "
                      f"job(s) {', '.join(last['jobs'])} at {last['submitted']}", highlight=False)
    for f in st.get("fizzled", []):
        console.print(f"[red]FIZZLED[/] {f['name']} (fw {f['fw_id']}): {f['error']}", highlight=False)
    return st


def _run(camp: Campaign, lp) -> int:
    from heal import progress
    from heal.fw.runner import run_worker

    progress.enable(console)  # bars while a stage works (a terminal only); each finished Firework keeps a line
    try:
        res = run_worker(lp, camp, on_event=print_event)
    except KeyboardInterrupt:
        console.print(f"\ninterrupted; finished work is kept. Continue with: heal resume {camp.root}")
        return 130
    st = print_summary(camp, lp)
    fz = st["fizzled"]
    if res.get("stopped_by"):
        console.print(f"stopped: {res['stopped_by']['name']} failed on the setup; the Fireworks after it would "
                      f"fail the same way", highlight=False)
    if fz:
        console.print(f"fix the cause, then: heal resume {camp.root}")
        return 1
    if not st.get("finished"):
        console.print(f"ran {res['fireworks_run']} Fireworks; nothing READY is left for this worker "
                      f"(states: {res['states']})")
    return 0


def run_and_exit(camp: Campaign, lp, store) -> None:
    """Run the campaign's Fireworks here, close the embedded store (if any), exit with the worker's code."""
    try:
        code = _run(camp, lp)
    finally:
        if store is not None:
            store.close()
    raise typer.Exit(code)


def register(app: typer.Typer) -> None:
    @app.command()
    def launch(file: Path = typer.Argument(..., help="campaign file (workflows/*.yaml)"),
               detach: bool = typer.Option(False, "--detach", help="only add the campaign to the store")) -> None:
        """Create a campaign and run it here (or only add it to the store with --detach)."""
        from heal.fw.runner import add_campaign, open_campaign_launchpad

        from heal import progress

        progress.enable(console)
        camp = Campaign.from_file(file)
        lp, store = open_campaign_launchpad(camp)
        add_campaign(camp, lp)
        console.print(f"campaign '{camp.name}' launched in {camp.root}")
        if detach:
            console.print(f"run it with: heal worker {camp.root}   (or FireWorks' rlaunch with a MongoDB store)")
            return
        run_and_exit(camp, lp, store)

    @app.command()
    def worker(campaign: str = typer.Argument(..., help="campaign name or directory")) -> None:
        """Run the campaign's READY Fireworks until none is left."""
        from heal.fw.runner import open_campaign_launchpad

        camp = Campaign.open(campaign)
        lp, store = open_campaign_launchpad(camp)
        run_and_exit(camp, lp, store)

    @app.command()
    def resume(campaign: str = typer.Argument(..., help="campaign name or directory"),
               lost_after: float = typer.Option(4 * 3600, help="MongoDB only: seconds without a ping after "
                                                               "which a RUNNING Firework counts as lost"),
               retry_rejected: bool = typer.Option(False, "--retry-rejected",
                                                   help="also label again the frames rejected in label stages "
                                                        "that have not completed (e.g. after raising NELM)")) -> None:
        """Rerun fizzled and lost Fireworks and continue; finished work is never redone."""
        from heal.fw.runner import open_campaign_launchpad, reset_lost, retry_rejected_frames

        camp = Campaign.open(campaign)
        lp, store = open_campaign_launchpad(camp)
        if retry_rejected:
            freed = retry_rejected_frames(lp, camp)
            console.print(f"{len(freed)} rejected frame(s) of unfinished label stages will be labeled again")
        rerun = reset_lost(lp, camp, embedded=store is not None, lost_after_s=lost_after)
        console.print(f"resuming '{camp.name}': {len(rerun)} Firework(s) set to rerun")
        run_and_exit(camp, lp, store)

    @app.command()
    def status(campaign: str = typer.Argument(..., help="campaign name or directory"),
               as_json: bool = typer.Option(False, "--json", help="print the status as JSON")) -> None:
        """Per-iteration statistics: explored, accurate / candidate / failed, labels, test RMSE, state."""
        from heal.fw.runner import open_campaign_launchpad
        from heal.report.status import campaign_status

        camp = Campaign.open(campaign)
        lp, _ = open_campaign_launchpad(camp, readonly=True)
        if as_json:
            sys.stdout.write(json.dumps(campaign_status(camp, lp), indent=1, default=str) + "\n")
        else:
            print_summary(camp, lp)
