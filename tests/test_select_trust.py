"""Unit tests of trust-level classification and the random candidate pick (heal.select.trust)."""

from __future__ import annotations

import numpy as np
import pytest

from heal.config import SelectSpec
from heal.select.trust import ACCURATE, CANDIDATE, FAILED, Counts, classify, count, pick_random

A, C, F = ACCURATE, CANDIDATE, FAILED
SPEC = SelectSpec(f_lo=0.1, f_hi=0.4)
VSPEC = SelectSpec(f_lo=0.1, f_hi=0.4, v_lo=0.01, v_hi=0.05)


def test_force_levels_with_exact_boundaries():
    devi = np.array([0.0, 0.0999, 0.1, 0.25, 0.3999, 0.4, 0.41, 50.0])
    assert classify(devi, SPEC).tolist() == [A, A, C, C, C, F, F, F]


def test_nan_and_inf_are_failed_without_warnings():
    devi = np.array([np.nan, np.inf, 0.05, np.nan, 0.2])
    with np.errstate(all="raise"):
        cls = classify(devi, SPEC)
    assert cls.tolist() == [F, F, A, F, C]


def test_all_nan_input_is_all_failed():
    assert (classify(np.full(5, np.nan), SPEC) == F).all()


def test_result_is_int8_with_the_input_shape_and_accepts_lists():
    cls = classify([0.0, 0.2, 1.0], SPEC)
    assert cls.dtype == np.int8 and cls.shape == (3,)
    assert cls.tolist() == [A, C, F]
    assert classify(np.zeros(0), SPEC).shape == (0,)


def test_virial_candidate_makes_a_force_accurate_frame_a_candidate():
    assert classify([0.05], VSPEC, devi_v=[0.02]).tolist() == [C]


def test_virial_failed_makes_a_force_accurate_frame_failed():
    assert classify([0.05], VSPEC, devi_v=[0.05]).tolist() == [F]  # == v_hi -> failed


def test_virial_accurate_does_not_rescue_a_force_candidate_or_failed_frame():
    assert classify([0.2, 0.5], VSPEC, devi_v=[0.0, 0.0]).tolist() == [C, F]


def test_both_accurate_is_accurate_and_virial_boundary_at_v_lo_is_candidate():
    assert classify([0.05, 0.05], VSPEC, devi_v=[0.0099, 0.01]).tolist() == [A, C]


def test_virial_nan_or_inf_is_failed():
    assert classify([0.05, 0.05, 0.2], VSPEC, devi_v=[np.nan, np.inf, np.nan]).tolist() == [F, F, F]


def test_virial_column_ignored_without_virial_levels():
    assert classify([0.05, 0.2], SPEC, devi_v=[10.0, np.nan]).tolist() == [A, C]


def test_virial_levels_without_a_virial_column_use_forces_only():
    assert classify([0.05, 0.2, 0.5], VSPEC).tolist() == [A, C, F]


def test_count_and_ratios():
    c = count(classify([0.0, 0.0, 0.0, 0.2, np.nan], SPEC))
    assert (c.accurate, c.candidate, c.failed, c.total) == (3, 1, 1, 5)
    r = c.ratios()
    assert r == pytest.approx({"accurate": 0.6, "candidate": 0.2, "failed": 0.2})
    assert sum(r.values()) == pytest.approx(1.0)


def test_count_of_nothing_gives_zero_ratios_not_a_division_error():
    c = count(np.zeros(0, dtype=np.int8))
    assert c == Counts(0, 0, 0)
    assert c.ratios() == {"accurate": 0.0, "candidate": 0.0, "failed": 0.0}


def test_pick_random_is_deterministic_for_a_seed():
    a = pick_random(1000, 20, seed=7)
    b = pick_random(1000, 20, seed=7)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, pick_random(1000, 20, seed=8))
    assert np.array_equal(pick_random(1000, 20, seed=[7, 3]), pick_random(1000, 20, seed=[7, 3]))


@pytest.mark.parametrize("n,cap", [(1000, 20), (50, 49), (7, 3), (1, 1)])
def test_pick_random_never_exceeds_the_cap_and_returns_sorted_unique_valid_indices(n, cap):
    idx = pick_random(n, cap, seed=1)
    assert len(idx) == min(n, cap)
    assert np.array_equal(idx, np.unique(idx))  # sorted and unique
    assert idx.min() >= 0 and idx.max() < n


@pytest.mark.parametrize("n,cap", [(5, 5), (5, 100)])
def test_pick_random_with_cap_at_least_n_returns_all(n, cap):
    assert pick_random(n, cap, seed=3).tolist() == list(range(n))


def test_pick_random_of_no_candidates_is_empty_integer_array():
    idx = pick_random(0, 10, seed=0)
    assert idx.shape == (0,) and np.issubdtype(idx.dtype, np.integer)
