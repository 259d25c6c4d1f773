"""FireTasks: thin shells that read the spec, call a stage function, and return an FWAction.

Every Firework's spec carries its inputs explicitly (``campaign`` directory, ``iteration``, ``stage``,
``index``); nothing relies on ``update_spec`` reaching dynamically added Fireworks. A stage that runs out of
disk space raises :class:`~heal.errors.DiskFullError` whichever write failed, so the worker stops.
"""

from __future__ import annotations

import functools

from fireworks import FiretaskBase, FWAction, explicit_serialize

from heal.campaign import Campaign
from heal.errors import DiskFullError, is_no_space


def _campaign(task) -> Campaign:
    return Campaign.open(task["campaign"])


def _with_jobs(camp: Campaign, data: dict) -> dict:
    """`data` plus ``scheduler_jobs``: the scheduler's job ids of the stage's submissions (if it made any)."""
    executor = camp.__dict__.get("executor")  # only if the stage made one
    ids = list(getattr(getattr(executor, "inner", executor), "job_ids", None) or [])
    return {**data, "scheduler_jobs": ids} if ids else data


def _disk_full_is_named(run_task):
    """Turn any "no space left" OSError of a stage into DiskFullError naming the file."""
    @functools.wraps(run_task)
    def wrapper(self, fw_spec):
        try:
            return run_task(self, fw_spec)
        except OSError as exc:
            if is_no_space(exc):
                raise DiskFullError(exc.filename or self["campaign"]) from exc
            raise
    return wrapper


@explicit_serialize
class InitTask(FiretaskBase):
    required_params = ["campaign"]

    @_disk_full_is_named
    def run_task(self, fw_spec):
        from heal.loop.stages import stage_init

        camp = _campaign(self)
        out = stage_init(camp)
        return FWAction(stored_data=_with_jobs(camp, {k: out[k] for k in ("labeled", "imported", "train_added",
                                                                           "test_added")}))


@explicit_serialize
class TrainTask(FiretaskBase):
    """The iteration's ensemble, all members in one submission (``index``: one member, as older campaigns)."""

    required_params = ["campaign", "iteration"]
    optional_params = ["index"]

    @_disk_full_is_named
    def run_task(self, fw_spec):
        from heal.loop.stages import stage_train

        camp = _campaign(self)
        out = stage_train(camp, self["iteration"], self.get("index"))
        data = {"models": len(out["models"]), "seconds": out["seconds"], "rmse_f": out["rmse_f"],
                "rmse_e_per_atom": out["rmse_e_per_atom"]}
        return FWAction(stored_data=_with_jobs(camp, data))


@explicit_serialize
class ExploreTask(FiretaskBase):
    """The iteration's MD tasks, all in one submission (``index``: one task, as older campaigns)."""

    required_params = ["campaign", "iteration", "stage"]
    optional_params = ["index"]

    @_disk_full_is_named
    def run_task(self, fw_spec):
        from heal.loop.stages import stage_explore

        camp = _campaign(self)
        out = stage_explore(camp, self["iteration"], self["stage"], self.get("index"))
        return FWAction(stored_data=_with_jobs(camp, {"runs": out["runs"], "frames": out["frames"],
                                                      "errors": out["errors"][:5]}))


@explicit_serialize
class ValidateTask(FiretaskBase):
    """Lattice / elastic constants and MD stability of the iteration's model against the oracle."""

    required_params = ["campaign", "iteration"]

    @_disk_full_is_named
    def run_task(self, fw_spec):
        from heal.loop.stages import models_of
        from heal.validate.stage import stage_validate

        camp = _campaign(self)
        out = stage_validate(camp, self["iteration"], models_of(camp, self["iteration"]))
        return FWAction(stored_data=_with_jobs(camp, {k: out[k] for k in ("ok", "seconds", "unstable_frames")}))


@explicit_serialize
class SelectTask(FiretaskBase):
    """Select candidates, then add the label batches and the plan step as new Fireworks."""

    required_params = ["campaign", "iteration", "stage"]

    @_disk_full_is_named
    def run_task(self, fw_spec):
        from heal.fw.builder import label_and_plan
        from heal.loop.stages import stage_select

        camp = _campaign(self)
        out = stage_select(camp, self["iteration"])
        wf = label_and_plan(camp, self["iteration"], self["stage"], out["n_batches"])
        return FWAction(stored_data=out, additions=[wf])


@explicit_serialize
class LabelTask(FiretaskBase):
    required_params = ["campaign", "iteration", "index"]

    @_disk_full_is_named
    def run_task(self, fw_spec):
        from heal.loop.stages import stage_label

        camp = _campaign(self)
        out = stage_label(camp, self["iteration"], self["index"])
        return FWAction(stored_data=_with_jobs(camp, {k: out[k] for k in ("frames", "labeled", "reused", "train_added")}
                                               | {"rejected": len(out["rejected"])}))


@explicit_serialize
class PlanTask(FiretaskBase):
    """Write the iteration report and either add the next iteration or stop."""

    required_params = ["campaign", "iteration", "stage"]

    @_disk_full_is_named
    def run_task(self, fw_spec):
        from heal.fw.builder import iteration_workflow
        from heal.loop.report import stage_plan

        camp = _campaign(self)
        rep, dec = stage_plan(camp, self["iteration"], self["stage"])
        data = {"decision": dec.action, "reason": dec.reason, "accurate_ratio": rep["accurate_ratio"],
                "labeled": rep["labeled"], "rmse_force": rep["rmse_force"]}
        if dec.stop:
            return FWAction(stored_data=data)
        return FWAction(stored_data=data, additions=[iteration_workflow(camp, self["iteration"] + 1,
                                                                        dec.next_stage)])
