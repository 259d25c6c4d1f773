"""Launch, run and resume campaigns on a LaunchPad.

The worker loop launches one Firework at a time (``fireworks.core.rocket_launcher.launch_rocket``) until
nothing is READY, reporting each finished Firework. With the embedded store only the process holding the
writer lock runs Fireworks; with MongoDB any number of workers (``heal worker`` or FireWorks' own
``rlaunch``) can share a campaign.

The worker stops early, leaving the rest for ``heal resume``, when the embedded store could not write (a
full disk: the error is raised) or when a Firework fizzled with an error of the setup (``SetupError``,
``ConfigError``, ``DiskFullError``), which every following Firework would meet too. FireWorks' tracebacks
go to the campaign's log file, not to the console.
"""

from __future__ import annotations

import contextlib
import re
import signal
import sys
import time
from typing import Callable

from fireworks import FWorker
from fireworks.core.rocket_launcher import launch_rocket

from heal.campaign import Campaign
from heal.errors import ConfigError
from heal.launchpad import open_launchpad

FW_STATES = ("COMPLETED", "RUNNING", "RESERVED", "READY", "WAITING", "FIZZLED", "DEFUSED", "PAUSED", "ARCHIVED")


def campaign_fw_ids(lp, camp: Campaign) -> list[int]:
    return lp.get_fw_ids(query={"spec.campaign": str(camp.root)})


def ensure_seeds(camp: Campaign) -> None:
    from heal.systems import generate_seeds, write_seed_set

    if not (camp.seeds_dir / "seeds.extxyz").is_file():
        write_seed_set(generate_seeds(camp.cfg), camp.seeds_dir)


def add_campaign(camp: Campaign, lp) -> int:
    """Add the campaign's first workflow; refuse if the campaign is already in the store."""
    from heal.fw.tasks import campaign_workflow

    if campaign_fw_ids(lp, camp):
        raise ConfigError(f"campaign '{camp.name}' is already launched in {camp.root}; "
                          f"continue it with 'heal resume {camp.root}' or watch it with 'heal status {camp.root}'")
    ensure_seeds(camp)
    wf = campaign_workflow(camp)
    ids = lp.add_wf(wf)
    return min(ids.values())


def reset_lost(lp, camp: Campaign, embedded: bool, lost_after_s: float = 4 * 3600) -> list[int]:
    """Rerun lost (RUNNING/RESERVED with no live worker) and FIZZLED Fireworks of the campaign.

    With MongoDB a Firework counts as lost when its launch has not pinged for `lost_after_s`: FireWorks'
    own ``detect_lostruns`` finds those. With the embedded store heal adds one thing FireWorks cannot know:
    this process holds the writer lock, so every RUNNING or RESERVED Firework is certainly lost *now* (no
    other worker can be running it), without waiting `lost_after_s` for its pings to expire. FIZZLED
    Fireworks are rerun too (``resume`` means "try again"), which ``detect_lostruns`` does not cover.
    """
    query = {"spec.campaign": str(camp.root)}
    if embedded:
        lost = lp.get_fw_ids(query={**query, "state": {"$in": ["RUNNING", "RESERVED"]}})
    else:
        _, lost, _ = lp.detect_lostruns(expiration_secs=lost_after_s, rerun=False, query=query)
    fizzled = lp.get_fw_ids(query={**query, "state": "FIZZLED"})
    rerun = []
    for i in sorted(set(lost) | set(fizzled)):
        lp.rerun_fw(i)
        rerun.append(i)
    return rerun


def run_worker(lp, camp: Campaign, on_event: Callable[[dict], None] | None = None,
               max_fireworks: int | None = None) -> dict:
    """Run READY Fireworks of the campaign until none is left (or `max_fireworks` ran).

    Ctrl-C raises KeyboardInterrupt here once the running Firework has been recorded: FireWorks itself
    records an interrupted task as FIZZLED (``heal resume`` reruns it) and would otherwise go on.
    """
    import fireworks.core.rocket

    from heal.logs import engine_output_at_exit, error_stream

    fireworks.core.rocket.ROCKET_STREAM_LOGLEVEL = "ERROR"  # heal reports each Firework itself (on_event)
    fworker = FWorker(name="heal", query={"spec.campaign": str(camp.root)})
    store = getattr(lp, "heal_store", None)
    ran = 0
    t_start = time.monotonic()
    interrupted = []
    stopped_by = None

    def on_sigint(signum, frame):
        interrupted.append(signum)
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        while max_fireworks is None or ran < max_fireworks:
            t0 = time.monotonic()
            with error_stream() as errlog, contextlib.redirect_stderr(errlog):
                try:
                    launched = launch_rocket(lp, fworker, strm_lvl="ERROR", err_file=errlog)
                except Exception:
                    if store is not None and store.failure is not None:
                        raise store.failure from None
                    raise
            if store is not None and store.failure is not None:
                raise store.failure  # FireWorks caught it; the disk is behind memory: stop here
            if interrupted:
                raise KeyboardInterrupt
            if not launched:
                break
            ran += 1
            ev = last_event(lp, camp, time.monotonic() - t0)
            if on_event is not None:
                on_event(ev)
            details = (ev["data"].get("_exception") or {}).get("_details") or {}
            if ev["state"] == "FIZZLED" and details.get("stops_worker"):
                stopped_by = {"fw_id": ev["fw_id"], "name": ev["name"], "error": details.get("message", "")}
                break
    finally:
        signal.signal(signal.SIGINT, previous)
        if "deepmd" in sys.modules or "tensorflow" in sys.modules:
            engine_output_at_exit(camp.root)
    return {"fireworks_run": ran, "seconds": time.monotonic() - t_start, "states": state_counts(lp, camp),
            "stopped_by": stopped_by}


def last_event(lp, camp: Campaign, seconds: float) -> dict:
    doc = lp.fireworks.find_one({"spec.campaign": str(camp.root), "state": {"$in": ["COMPLETED", "FIZZLED"]}},
                                sort=[("updated_on", -1)], projection=["fw_id", "name", "state", "launches"])
    data = {}
    if doc and doc.get("launches"):
        launch = lp.launches.find_one({"launch_id": doc["launches"][-1]}, projection=["action"])
        action = (launch or {}).get("action") or {}
        data = action.get("stored_data", {}) or {}
    return {"fw_id": doc["fw_id"] if doc else None, "name": doc["name"] if doc else "?",
            "state": doc["state"] if doc else "?", "seconds": seconds, "data": data}


def state_counts(lp, camp: Campaign) -> dict[str, int]:
    out = {}
    for st in FW_STATES:
        n = lp.get_fw_ids(query={"spec.campaign": str(camp.root), "state": st}, count_only=True)
        if n:
            out[st] = n
    return out


def open_campaign_launchpad(camp: Campaign, readonly: bool = False):
    """The campaign's LaunchPad and embedded store; a writer also logs to ``<campaign>/logs/heal.log``."""
    if not readonly:
        from heal.logs import campaign_log

        campaign_log(camp.root)
    return open_launchpad(camp.root, camp.cfg.store.uri, readonly=readonly)


_CHAINED = re.compile(r"\n\n(?:During handling of the above exception, another exception occurred:|"
                      r"The above exception was the direct cause of the following exception:)\n\n")


def error_message(exception: dict) -> str:
    """The whole message of a stored FireWorks exception (``_exception``): heal's own, else the traceback's end.

    In a Python traceback the frames (``  File ...`` lines and their indented source lines) follow the
    header; the exception line and every further line of its message come after them. Of a chain of
    exceptions the last one is taken.
    """
    details = exception.get("_details") or {}
    if isinstance(details, dict) and details.get("message"):
        return f"{details.get('type', 'error')}: {details['message']}"
    text = _CHAINED.split(str(exception.get("_stacktrace", "")))[-1]
    lines = text.rstrip().splitlines()
    start = next((i + 1 for i, ln in enumerate(lines) if ln.startswith("Traceback (most recent call last)")), 0)
    while start < len(lines) and (lines[start].startswith("  File ") or lines[start].startswith("    ")):
        start += 1
    return "\n".join(lines[start:]).strip()


def fizzled_reasons(lp, camp: Campaign) -> list[dict]:
    """The whole error message of each FIZZLED Firework of the campaign."""
    out = []
    for doc in lp.fireworks.find({"spec.campaign": str(camp.root), "state": "FIZZLED"},
                                 projection=["fw_id", "name", "launches"]):
        msg = ""
        if doc.get("launches"):
            launch = lp.launches.find_one({"launch_id": doc["launches"][-1]}, projection=["action"])
            exc = (((launch or {}).get("action") or {}).get("stored_data") or {}).get("_exception") or {}
            msg = error_message(exc)
        out.append({"fw_id": doc["fw_id"], "name": doc["name"], "error": msg})
    return out


def retry_rejected_frames(lp, camp: Campaign) -> list[str]:
    """Free the rejected frames of the campaign's label stages that have not completed (init and label
    Fireworks not COMPLETED), so that their rerun labels them again; return the frame hashes freed.

    Rejections in completed stages stay: their iterations are over, and the frames they explored are
    not part of any stage still to run.
    """
    from ase.io import read

    from heal.frames import frame_hash
    from heal.label.runner import retry_rejected

    freed: list[str] = []
    bs = camp.cfg.label.batch_size
    for doc in lp.fireworks.find({"spec.campaign": str(camp.root), "state": {"$ne": "COMPLETED"}},
                                 projection=["name", "spec.iteration", "spec.index"]):
        name, spec = doc.get("name", ""), doc.get("spec", {})
        if name.endswith(" init"):
            freed += retry_rejected(camp.root / "init" / "label")
        elif " label-" in name:
            it, batch = spec["iteration"], spec["index"]
            cands = camp.iter_dir(it) / "select" / "candidates.extxyz"
            if not cands.is_file():
                continue
            frames = read(cands, index=":")[batch * bs:(batch + 1) * bs]
            freed += retry_rejected(camp.iter_dir(it) / "label", {frame_hash(a) for a in frames})
    return freed
