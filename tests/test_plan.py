"""Unit tests of the pure plan step (heal.plan.decide) on plain IterationSummary lists: no I/O, no fakes."""

from __future__ import annotations

import pytest

from heal.config import LoopSpec
from heal.plan import Decision, IterationSummary, decide

LOOP = LoopSpec(max_iterations=10, accurate_target=0.9, converged_iterations=2)


def good(it: int, stage: int = 0, labeled: int = 5) -> IterationSummary:
    """95 % accurate: above the 90 % target."""
    return IterationSummary(it, stage, accurate=95, candidate=5, failed=0, labeled=labeled)


def bad(it: int, stage: int = 0, labeled: int = 20) -> IterationSummary:
    """50 % accurate: below target, with candidates that were labeled."""
    return IterationSummary(it, stage, accurate=50, candidate=40, failed=10, labeled=labeled)


def all_failed(it: int, stage: int = 0) -> IterationSummary:
    return IterationSummary(it, stage, accurate=0, candidate=0, failed=100, labeled=0)


# -- IterationSummary / Decision ----------------------------------------------------------------------------
def test_summary_ratios_and_explored_count():
    s = IterationSummary(0, 0, accurate=6, candidate=3, failed=1, labeled=2)
    assert s.explored == 10
    assert s.accurate_ratio == pytest.approx(0.6) and s.failed_ratio == pytest.approx(0.1)


def test_summary_with_nothing_explored_has_zero_ratios():
    s = IterationSummary(0, 0, accurate=0, candidate=0, failed=0, labeled=0)
    assert s.explored == 0 and s.accurate_ratio == 0.0 and s.failed_ratio == 0.0


def test_decision_stop_property_follows_action():
    assert Decision("stop", 0, "x").stop and not Decision("continue", 0, "x").stop


def test_empty_history_raises():
    with pytest.raises(ValueError, match="at least one"):
        decide([], LOOP, n_stages=2)


# -- continue / stage change / convergence ------------------------------------------------------------------
def test_below_target_continues_at_the_same_stage():
    d = decide([bad(0)], LOOP, n_stages=2)
    assert d.action == "continue" and not d.stop
    assert d.next_stage == 0 and not d.converged
    assert "50.0%" in d.reason and "next iteration" in d.reason


def test_one_good_iteration_is_not_enough_when_k_is_2():
    d = decide([bad(0), good(1)], LOOP, n_stages=2)
    assert d.action == "continue" and d.next_stage == 0
    # the reason says the target was met and what is still missing (it used to say "95.0% < 90%")
    assert "95.0% >= 90%" in d.reason and "1 of the 2 iterations in a row" in d.reason and "<" not in d.reason


def test_good_after_bad_resets_the_consecutive_count():
    d = decide([good(0), bad(1), good(2)], LOOP, n_stages=2)
    assert d.action == "continue" and d.next_stage == 0 and not d.converged


def test_k_consecutive_good_iterations_move_to_the_next_stage():
    d = decide([bad(0), good(1), good(2)], LOOP, n_stages=3)
    assert d.action == "continue" and d.next_stage == 1 and not d.converged
    assert "stage 0 converged" in d.reason and "moving to stage 1" in d.reason


def test_k_of_3_needs_three_good_iterations():
    loop = LoopSpec(max_iterations=10, accurate_target=0.9, converged_iterations=3)
    assert decide([good(0), good(1)], loop, n_stages=2).next_stage == 0
    assert decide([good(0), good(1), good(2)], loop, n_stages=2).next_stage == 1


def test_k_of_1_converges_on_one_good_iteration():
    loop = LoopSpec(max_iterations=10, accurate_target=0.9, converged_iterations=1)
    d = decide([bad(0), good(1)], loop, n_stages=1)
    assert d.stop and d.converged


def test_accurate_ratio_equal_to_target_counts_as_good():
    on_target = [IterationSummary(i, 0, accurate=90, candidate=10, failed=0, labeled=3) for i in range(2)]
    d = decide(on_target, LOOP, n_stages=1)
    assert d.stop and d.converged


def test_good_iterations_at_a_previous_stage_do_not_count_at_the_new_stage():
    # stage 0 converged at iterations 0-1; iteration 2 is the first (good) one at stage 1
    d = decide([good(0), good(1), good(2, stage=1)], LOOP, n_stages=2)
    assert d.action == "continue" and d.next_stage == 1 and not d.converged


def test_last_stage_converged_stops_with_converged_true():
    hist = [good(0), good(1), bad(2, stage=1), good(3, stage=1), good(4, stage=1)]
    d = decide(hist, LOOP, n_stages=2)
    assert d.stop and d.converged and d.next_stage == 1
    assert "converged" in d.reason and "last stage" in d.reason


def test_zero_candidates_but_accurate_converges_rather_than_stalling():
    hist = [IterationSummary(i, 0, accurate=100, candidate=0, failed=0, labeled=0) for i in range(2)]
    d = decide(hist, LOOP, n_stages=1)
    assert d.stop and d.converged
    assert "no labels added" not in d.reason


def test_iterations_with_nothing_explored_never_count_as_converged():
    loop = LoopSpec(max_iterations=10, accurate_target=0.9, converged_iterations=1)
    empty = IterationSummary(0, 0, accurate=0, candidate=0, failed=0, labeled=1)
    d = decide([empty], loop, n_stages=1)
    assert d.action == "continue" and not d.converged


# -- stops ---------------------------------------------------------------------------------------------------
def test_label_budget_spent_stops_without_convergence():
    loop = LoopSpec(max_iterations=10, accurate_target=0.9, converged_iterations=2, label_budget=30)
    assert decide([bad(0, labeled=20)], loop, n_stages=2).action == "continue"
    d = decide([bad(0, labeled=20), bad(1, labeled=10)], loop, n_stages=2)
    assert d.stop and not d.converged
    assert "label budget spent" in d.reason and "30" in d.reason


def test_label_budget_spent_stops_even_when_a_stage_just_converged():
    loop = LoopSpec(max_iterations=10, accurate_target=0.9, converged_iterations=2, label_budget=10)
    d = decide([good(0, labeled=5), good(1, labeled=5)], loop, n_stages=2)
    assert d.stop and not d.converged and "label budget" in d.reason


def test_convergence_at_the_last_stage_is_reported_even_when_the_budget_is_spent():
    loop = LoopSpec(max_iterations=10, accurate_target=0.9, converged_iterations=2, label_budget=10)
    d = decide([good(0, labeled=5), good(1, labeled=5)], loop, n_stages=1)
    assert d.stop and d.converged


def test_iteration_limit_stops():
    loop = LoopSpec(max_iterations=3, accurate_target=0.9, converged_iterations=2)
    assert decide([bad(0), bad(1)], loop, n_stages=2).action == "continue"
    d = decide([bad(0), bad(1), bad(2)], loop, n_stages=2)
    assert d.stop and not d.converged and "iteration limit 3" in d.reason


def test_iteration_limit_stops_even_if_a_non_final_stage_converged():
    loop = LoopSpec(max_iterations=3, accurate_target=0.9, converged_iterations=2)
    d = decide([bad(0), good(1), good(2)], loop, n_stages=2)
    assert d.stop and not d.converged
    assert "iteration limit 3" in d.reason and "stage 0 had converged" in d.reason


def test_two_all_failed_iterations_without_labels_stop_and_name_f_hi():
    d = decide([all_failed(0), all_failed(1)], LOOP, n_stages=2)
    assert d.stop and not d.converged
    assert "no labels added for 2 iterations" in d.reason
    assert "f_hi" in d.reason and "every explored frame was 'failed'" in d.reason


def test_one_all_failed_iteration_is_not_yet_a_stall():
    d = decide([bad(0), all_failed(1)], LOOP, n_stages=2)
    assert d.action == "continue"


def test_an_iteration_with_labels_between_zero_label_ones_prevents_the_stall_stop():
    d = decide([all_failed(0), bad(1), all_failed(2)], LOOP, n_stages=2)
    assert d.action == "continue"


def test_no_progress_limit_is_configurable():
    hist = [all_failed(0), all_failed(1)]
    assert decide(hist, LOOP, n_stages=2, no_progress_limit=3).action == "continue"
    assert decide(hist + [all_failed(2)], LOOP, n_stages=2, no_progress_limit=3).stop


def test_zero_labels_with_candidates_rejected_points_at_trust_levels_and_rejections():
    # candidates existed but every label was rejected by the sanity checks
    hist = [IterationSummary(i, 0, accurate=20, candidate=50, failed=30, labeled=0, rejected=10) for i in range(2)]
    d = decide(hist, LOOP, n_stages=2)
    assert d.stop and not d.converged
    assert "select.f_lo/f_hi" in d.reason and "rejections" in d.reason
    assert "every explored frame was 'failed'" not in d.reason


def test_zero_candidates_between_accurate_and_failed_is_not_called_all_failed():
    hist = [IterationSummary(i, 0, accurate=60, candidate=0, failed=40, labeled=0) for i in range(2)]
    d = decide(hist, LOOP, n_stages=2)
    assert d.stop and not d.converged
    assert "every explored frame was 'failed'" not in d.reason
    assert "select.f_lo/f_hi" in d.reason
