"""The ``grow:`` section of a campaign file (used with ``grow_from:``)."""

from __future__ import annotations

from pydantic import Field

from heal.configutil import Strict


class GrowSpec(Strict):
    """How a campaign grows from its parent (``grow_from``); DP-GEN's ``training_reuse_*`` in heal's words."""

    #: training steps of the child's first training (a finetune of the parent's final models);
    #: None: a quarter of ``train.steps``
    finetune_steps: int | None = Field(None, ge=1)
    #: start learning rate of that finetune; None: ``train.start_lr / 10``
    finetune_start_lr: float | None = Field(None, gt=0.0)
    #: share of every training batch drawn from the parent's frames (DP-GEN ``training_reuse_old_ratio``);
    #: None: in proportion to the frame counts (DeePMD's default)
    old_ratio: float | None = Field(None, gt=0.0, lt=1.0)
    #: import the parent's labeled frames (training and held-out sides kept apart)
    import_data: bool = True
    #: largest allowed relative rise of an ancestor's held-out force RMSE (0.10 = 10 %)
    max_forgetting: float = Field(0.10, gt=0.0)
    #: stop the campaign (cleanly, at the plan step) when the forgetting guard trips; else only warn
    strict: bool = False
    #: allow an oracle (label.oracle / label.params) different from the parent's: the labels then mix sources
    allow_oracle_change: bool = False
