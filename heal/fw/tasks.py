"""The FireWorks side of a campaign: the workflows (one iteration is a small fixed workflow) and their FireTasks.

One iteration::

    train  ->  explore  ->  select  ( -> label x K -> plan, added by select )
                                    ( plan adds iteration i+1, or stops )

``train`` runs the N ensemble members and ``explore`` the M MD tasks, each stage's jobs as one submission
(one scheduler submission through dpdispatcher; concurrent processes locally); a label batch's frames go
out together too. The first workflow also starts with an ``init`` Firework (initial labels). Fireworks run
in their own deterministic directories (``_launch_dir``) inside the campaign.

The FireTasks are thin shells that read the spec, call a stage function (:mod:`heal.loop.stages`), and
return an FWAction. Every Firework's spec carries its inputs explicitly (``campaign`` directory,
``iteration``, ``stage``, ``index``); nothing relies on ``update_spec`` reaching dynamically added Fireworks.
A stage that runs out of disk space raises :class:`~heal.errors.DiskFullError` whichever write failed, so
the worker stops. The tasks and the workflows that hold them live in one module: the select and plan tasks
add workflows, and the LaunchPad stores the tasks under this module's name (``heal.fw.tasks.X``).
"""

from __future__ import annotations

import functools
from pathlib import Path

from fireworks import FiretaskBase, Firework, FWAction, Workflow, explicit_serialize

from heal.campaign import Campaign
from heal.errors import DiskFullError, is_no_space
from heal.logs import ENGINE_LOG, engine_output


def _campaign(task) -> Campaign:
    return Campaign.open(task["campaign"])


def _with_jobs(camp: Campaign, data: dict) -> dict:
    """`data` plus ``scheduler_jobs``: the scheduler's job ids of the stage's submissions (if it made any)."""
    executor = camp.__dict__.get("executor")  # only if the stage made one
    ids = list(getattr(getattr(executor, "inner", executor), "job_ids", None) or [])
    return {**data, "scheduler_jobs": ids} if ids else data


def _disk_full_is_named(run_task):
    """Turn any "no space left" OSError of a stage into DiskFullError naming the file. What engines running
    in this process print on file descriptor 2 goes to ``engine.log`` in the stage's directory (the cwd)."""
    @functools.wraps(run_task)
    def wrapper(self, fw_spec):
        try:
            with engine_output(Path.cwd() / ENGINE_LOG):
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
class ValidateTask(FiretaskBase):
    """Lattice / elastic constants and MD stability of the iteration's model against the oracle."""

    required_params = ["campaign", "iteration"]

    @_disk_full_is_named
    def run_task(self, fw_spec):
        from heal.engines.deepmd import models_of
        from heal.validate.stage import stage_validate

        camp = _campaign(self)
        out = stage_validate(camp, self["iteration"], models_of(camp, self["iteration"]))
        return FWAction(stored_data=_with_jobs(camp, {k: out[k] for k in ("ok", "seconds", "unstable_frames")}))


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
class SelectTask(FiretaskBase):
    """Select candidates, then add the label batches and the plan step as new Fireworks."""

    required_params = ["campaign", "iteration", "stage"]

    @_disk_full_is_named
    def run_task(self, fw_spec):
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
        from heal.loop.stages import stage_plan

        camp = _campaign(self)
        rep, dec = stage_plan(camp, self["iteration"], self["stage"])
        data = {"decision": dec.action, "reason": dec.reason, "accurate_ratio": rep["accurate_ratio"],
                "labeled": rep["labeled"], "rmse_force": rep["rmse_force"]}
        if dec.stop:
            return FWAction(stored_data=data)
        return FWAction(stored_data=data, additions=[iteration_workflow(camp, self["iteration"] + 1,
                                                                        dec.next_stage)])


# -- workflows ------------------------------------------------------------------------------------------
def _fw(camp: Campaign, task, name: str, launch_dir, parents=None, **spec) -> Firework:
    s = {"_launch_dir": str(launch_dir), "campaign": str(camp.root), "heal_stage": name.split()[1], **spec}
    return Firework([task], spec=s, name=f"{camp.name} {name}", parents=parents)


def iteration_fireworks(camp: Campaign, it: int, stage: int, parents=None) -> list[Firework]:
    root = str(camp.root)
    train = _fw(camp, TrainTask(campaign=root, iteration=it), f"it{it} train", camp.iter_dir(it) / "train",
                parents=parents, iteration=it)
    explore = _fw(camp, ExploreTask(campaign=root, iteration=it, stage=stage), f"it{it} explore",
                  camp.iter_dir(it) / "explore", parents=[train], iteration=it, stage=stage)
    # validate (when configured) runs after train beside explore; select waits for both, so frames of an
    # unstable validation MD can join the candidates
    validate = ([_fw(camp, ValidateTask(campaign=root, iteration=it), f"it{it} validate",
                     camp.iter_dir(it) / "validate", parents=[train], iteration=it)]
                if camp.cfg.validation is not None else [])
    select = _fw(camp, SelectTask(campaign=root, iteration=it, stage=stage), f"it{it} select",
                 camp.iter_dir(it) / "select", parents=[explore] + validate, iteration=it, stage=stage)
    return [train, explore] + validate + [select]


def iteration_workflow(camp: Campaign, it: int, stage: int) -> Workflow:
    return Workflow(iteration_fireworks(camp, it, stage), name=f"heal {camp.name} iteration {it}")


def campaign_workflow(camp: Campaign) -> Workflow:
    """The workflow `heal launch` adds: init, then iteration 0 at ladder stage 0."""
    init = _fw(camp, InitTask(campaign=str(camp.root)), "it0 init", camp.root / "init")
    fws = [init] + iteration_fireworks(camp, 0, 0, parents=[init])
    return Workflow(fws, name=f"heal {camp.name}", metadata={"heal_campaign": str(camp.root)})


def label_and_plan(camp: Campaign, it: int, stage: int, n_batches: int) -> Workflow:
    root = str(camp.root)
    labels = [_fw(camp, LabelTask(campaign=root, iteration=it, index=b), f"it{it} label-{b}",
                  camp.iter_dir(it) / "label", iteration=it, index=b) for b in range(n_batches)]
    plan = _fw(camp, PlanTask(campaign=root, iteration=it, stage=stage), f"it{it} plan", camp.iter_dir(it),
               parents=labels or None, iteration=it, stage=stage)
    return Workflow(labels + [plan], name=f"heal {camp.name} iteration {it} labels")
