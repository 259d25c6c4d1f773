"""Campaign status: per-iteration statistics from the reports on disk, states from the LaunchPad."""

from __future__ import annotations

import re

from heal.campaign import Campaign
from heal.exec.dispatcher import read_submissions
from heal.fsutil import read_json_or_none
from heal.loop.report import collect, history


def _fw_states_by_iteration(lp, camp: Campaign) -> dict[int, dict[str, int]]:
    out: dict[int, dict[str, int]] = {}
    for doc in lp.fireworks.find({"spec.campaign": str(camp.root)}, projection=["name", "state", "spec.iteration"]):
        it = doc.get("spec", {}).get("iteration")
        if it is None:
            m = re.search(r" it(\d+) ", f" {doc.get('name', '')} ")
            it = int(m.group(1)) if m else 0
        d = out.setdefault(int(it), {})
        d[doc["state"]] = d.get(doc["state"], 0) + 1
    return out


def scheduler_jobs(lp, camp: Campaign) -> dict[str, list[str]]:
    """Firework name -> the scheduler job ids its stage submitted (recorded when the stage completed)."""
    out = {}
    for doc in lp.fireworks.find({"spec.campaign": str(camp.root), "state": "COMPLETED"},
                                 projection=["name", "launches"]):
        if not doc.get("launches"):
            continue
        launch = lp.launches.find_one({"launch_id": doc["launches"][-1]}, projection=["action.stored_data"])
        ids = (((launch or {}).get("action") or {}).get("stored_data") or {}).get("scheduler_jobs")
        if ids:
            out[doc["name"]] = ids
    return out


def _iteration_state(states: dict[str, int], has_report: bool) -> str:
    if has_report:
        return "completed"
    if states.get("FIZZLED"):
        return "fizzled"
    if states.get("RUNNING") or states.get("RESERVED"):
        return "running"
    if states.get("READY") or states.get("WAITING"):
        return "waiting"
    return "unknown" if states else "not started"


def _lineage(camp: Campaign) -> dict | None:
    if not camp.cfg.grow_from:
        return None
    from heal.grow.lineage import lineage

    lin = lineage(camp.cfg, camp.root) or {}
    return {**lin, "imported": read_json_or_none(camp.root / "grow" / "import.json"),
            "baseline": read_json_or_none(camp.root / "grow" / "baseline.json")}


def campaign_status(camp: Campaign, lp=None) -> dict:
    """The status document behind ``heal status --json``."""
    done = {r["iteration"]: r for r in history(camp)}
    fw_states = _fw_states_by_iteration(lp, camp) if lp is not None else {}
    its = sorted(set(done) | set(camp.iterations()) | set(fw_states))
    rows = []
    for it in its:
        rep = done.get(it) or collect(camp, it)
        st = fw_states.get(it, {})
        rows.append({
            "iteration": it,
            "stage": rep.get("stage"),
            "state": _iteration_state(st, it in done),
            "fireworks": st,
            "models": len(rep.get("models", [])),
            "explored": rep.get("explored", 0),
            "accurate": rep.get("accurate", 0),
            "candidate": rep.get("candidate", 0),
            "failed": rep.get("failed", 0),
            "accurate_ratio": rep.get("accurate_ratio"),
            "candidate_ratio": rep.get("candidate_ratio"),
            "failed_ratio": rep.get("failed_ratio"),
            "selected": rep.get("selected", 0),
            "labeled": rep.get("labeled", 0),
            "rejected": rep.get("rejected", 0),
            "rejections": rep.get("rejections", [])[:20],
            "rmse_force": rep.get("rmse_force"),
            "rmse_energy_per_atom": rep.get("rmse_energy_per_atom"),
            "rmse_force_by_element": rep.get("rmse_force_by_element", {}),
            "decision": rep.get("decision"),
            "calibration_table": rep.get("calibration_table"),
            "forgetting": rep.get("forgetting"),
            "validation": rep.get("validation"),  # heal.validate.stage.validation_rows
        })
    init = read_json_or_none(camp.root / "init" / "init.json")
    finished = read_json_or_none(camp.root / "finished.json")
    all_states: dict[str, int] = {}
    for st in fw_states.values():
        for k, v in st.items():
            all_states[k] = all_states.get(k, 0) + v
    from heal.data.dataset import Dataset
    from heal.fw.runner import fizzled_reasons
    from heal.launchpad import mask_uri

    dataset, testset = Dataset(camp.root / "dataset"), Dataset(camp.root / "testset")  # read-only: no type map
    uri = camp.cfg.store.uri
    return {
        "campaign": camp.name,
        "directory": str(camp.root),
        "store": mask_uri(uri) if uri else str(camp.root / "store"),
        "dataset": str(dataset.path),
        "testset": str(testset.path),
        "dataset_frames": len(dataset) if dataset.exists else 0,
        "testset_frames": len(testset) if testset.exists else 0,
        "initial_labels": (init or {}).get("labeled"),
        "labels_total": sum(r["labeled"] for r in rows) + ((init or {}).get("labeled") or 0),
        "iterations": rows,
        "fireworks": all_states,
        #: the whole error message of each FIZZLED Firework (its traceback stays in the launch record)
        "fizzled": fizzled_reasons(lp, camp) if lp is not None else [],
        #: Firework name -> scheduler job ids of its submissions (dpdispatcher machines only)
        "scheduler_jobs": scheduler_jobs(lp, camp) if lp is not None else {},
        #: every submission with its job ids, recorded as soon as it was submitted (queued / running ones too)
        "submissions": read_submissions(camp.root),
        "converged": bool(finished and finished.get("converged")),
        "finished": finished,
        #: heal.grow: parent, ancestors, the parent's frames imported
        "lineage": _lineage(camp),
        "state": ("finished" if finished else "fizzled" if all_states.get("FIZZLED")
                  else "running" if all_states.get("RUNNING") else "incomplete" if all_states else "not launched"),
    }

