"""The plan step: a pure decision from the iteration history and the loop settings.

No I/O here: :func:`decide` takes the summaries of all finished iterations and returns what to do next,
so every rule is unit-tested on plain data.

Rules, in order:
1. the last ladder stage converged (accurate ratio >= target for ``converged_iterations`` iterations in a
   row at that stage, and, when ``loop.validate`` is set, the last iteration's validation holds) -> stop "converged" (even if the label budget is spent too: the campaign did converge);
2. label budget spent -> stop;
3. the current, not last, stage converged -> move to the next stage;
4. ``no_progress_limit`` iterations in a row added no label and did not converge (every frame failed, or no
   candidate survived) -> stop with a message saying what to change, instead of looping for ever;
5. iteration limit reached -> stop;
6. otherwise continue at the same stage.
"""

from __future__ import annotations

from dataclasses import dataclass

from heal.config import LoopSpec


@dataclass(frozen=True)
class IterationSummary:
    iteration: int
    stage: int
    accurate: int
    candidate: int
    failed: int
    labeled: int
    rejected: int = 0
    #: the iteration's validation verdict against loop.validate (None: not validated / no tolerance)
    validated: bool | None = None

    @property
    def explored(self) -> int:
        return self.accurate + self.candidate + self.failed

    @property
    def accurate_ratio(self) -> float:
        return self.accurate / self.explored if self.explored else 0.0

    @property
    def failed_ratio(self) -> float:
        return self.failed / self.explored if self.explored else 0.0


@dataclass(frozen=True)
class Decision:
    action: str  # "continue" | "stop"
    next_stage: int
    reason: str
    converged: bool = False

    @property
    def stop(self) -> bool:
        return self.action == "stop"


def decide(history: list[IterationSummary], loop: LoopSpec, n_stages: int, no_progress_limit: int = 2) -> Decision:
    """What follows the last iteration of `history` (sorted by iteration, non-empty)."""
    if not history:
        raise ValueError("decide() needs at least one finished iteration")
    last = history[-1]
    stage = last.stage
    nxt = last.iteration + 1
    labels = sum(h.labeled for h in history)
    at_stage = [h for h in history if h.stage == stage]
    k = loop.converged_iterations
    recent = at_stage[-k:]
    converged = len(recent) == k and all(h.explored > 0 and h.accurate_ratio >= loop.accurate_target
                                         for h in recent)
    unvalidated = (converged and stage + 1 >= n_stages and loop.validation is not None
                   and last.validated is not True)
    converged = converged and not unvalidated
    if converged and stage + 1 >= n_stages:
        return Decision("stop", stage, f"converged: accurate >= {loop.accurate_target:.0%} for {k} iterations "
                                       f"at the last stage", converged=True)
    if loop.label_budget is not None and labels >= loop.label_budget:
        return Decision("stop", stage, f"label budget spent: {labels} labels >= budget {loop.label_budget}")
    if converged:  # not the last stage (handled above)
        if nxt >= loop.max_iterations:
            return Decision("stop", stage, f"iteration limit {loop.max_iterations} reached "
                                           f"(stage {stage} had converged)")
        return Decision("continue", stage + 1, f"stage {stage} converged (accurate >= "
                                               f"{loop.accurate_target:.0%} for {k} iterations); "
                                               f"moving to stage {stage + 1}")
    stalled = history[-no_progress_limit:]
    if len(stalled) == no_progress_limit and all(h.labeled == 0 for h in stalled):
        why = ("every explored frame was 'failed' (deviation >= f_hi or NaN): raise select.f_hi, lower the "
               "temperatures, or shorten the MD" if all(h.explored > 0 and h.failed == h.explored for h in stalled)
               else "no frame was labeled: check the trust levels (select.f_lo/f_hi) and the label rejections "
                    "in heal status")
        return Decision("stop", stage, f"no labels added for {no_progress_limit} iterations in a row; {why}")
    if nxt >= loop.max_iterations:
        return Decision("stop", stage, f"iteration limit {loop.max_iterations} reached")
    if unvalidated:
        return Decision("continue", stage, f"stage {stage}: accurate >= {loop.accurate_target:.0%} but the "
                                           f"validation does not hold (loop.validate); next iteration")
    if last.explored > 0 and last.accurate_ratio >= loop.accurate_target:  # met, but not k times in a row yet
        met = len([h for h in recent if h.explored > 0 and h.accurate_ratio >= loop.accurate_target])
        return Decision("continue", stage, f"stage {stage}: accurate {last.accurate_ratio:.1%} >= "
                                           f"{loop.accurate_target:.0%}, {met} of the {k} iterations in a row "
                                           f"needed (loop.converged_iterations); next iteration")
    return Decision("continue", stage, f"stage {stage}: accurate {last.accurate_ratio:.1%} < "
                                       f"{loop.accurate_target:.0%}; next iteration")
