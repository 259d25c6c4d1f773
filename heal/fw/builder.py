"""Build the FireWorks workflows of a campaign.

One iteration is a small fixed workflow::

    train  ->  explore  ->  select  ( -> label x K -> plan, added by select )
                                    ( plan adds iteration i+1, or stops )

``train`` runs the N ensemble members and ``explore`` the M MD tasks, each stage's jobs as one submission
(one scheduler submission through dpdispatcher; concurrent processes locally); a label batch's frames go
out together too.

The first workflow also starts with an ``init`` Firework (initial labels). Fireworks run in their own
deterministic directories (``_launch_dir``) inside the campaign.
"""

from __future__ import annotations

from fireworks import Firework, Workflow

from heal.campaign import Campaign
from heal.fw.tasks import ExploreTask, InitTask, LabelTask, PlanTask, SelectTask, TrainTask, ValidateTask


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
