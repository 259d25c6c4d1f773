"""Unit tests of calibrated trust levels (heal.select.calibrate) on synthetic deviation / error pairs.

Synthetic pairs err = a·devi + noise have a known answer: the largest deviation at which the `coverage`
quantile of err is still below the target, (target − σ·z_coverage)/a.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.stats import norm

from heal.select.calibrate import FALLBACK, FITTED, UNATTAINABLE, calibrate, fit_levels, calibration_group, true_force_error


def _pairs(rng, n, a, sigma, dmax=1.0):
    d = rng.uniform(0.0, dmax, n)
    return d, np.abs(a * d + rng.normal(0.0, sigma, n))


@pytest.mark.parametrize("a,sigma", [(2.0, 0.01), (2.0, 0.1), (5.0, 0.05)])
def test_recovers_the_known_level_and_covers_held_out_data(a, sigma):
    rng = np.random.default_rng(int(a * 100 + sigma * 1000))
    target, cov = 0.5, 0.9
    d, e = _pairs(rng, 3000, a, sigma, dmax=2.5 * target / a)
    lv = fit_levels(d, e, target, cov)
    truth = (target - sigma * norm.ppf(cov)) / a
    assert lv.status == FITTED and not lv.capped
    assert abs(lv.f_lo - truth) < 0.12 * truth
    rates = [b[3] for b in lv.bins]
    assert rates == sorted(rates)  # the isotonic fit's miss rate never falls with deviation
    assert lv.f_lo < lv.f_hi
    d2, e2 = _pairs(rng, 200_000, a, sigma, dmax=2.5 * target / a)  # held out
    assert np.mean(e2[d2 < lv.f_lo] < target) >= cov
    assert lv.coverage is not None and lv.coverage >= cov


def test_groups_get_their_own_levels_and_few_pairs_fall_back_to_fixed():
    rng = np.random.default_rng(1)
    d1, e1 = _pairs(rng, 1000, 2.0, 0.01)
    d2, e2 = _pairs(rng, 1000, 4.0, 0.01)
    d3, e3 = _pairs(rng, 10, 1.0, 0.01)
    keys = ["A|fcc"] * 1000 + ["B|bcc"] * 1000 + ["C|hcp"] * 10
    cal = calibrate(np.r_[d1, d2, d3], np.r_[e1, e2, e3], keys, target_error=0.4, coverage=0.9,
                    fixed=(0.05, 0.3), min_pairs=40)
    a, b, c = cal.groups["A|fcc"], cal.groups["B|bcc"], cal.groups["C|hcp"]
    assert abs(a.f_lo - 0.1936) < 0.012 and abs(b.f_lo - 0.0968) < 0.006  # (0.4 − 0.01·z₀.₉)/a
    assert c.status == FALLBACK and c.fallback and (c.f_lo, c.f_hi) == (0.05, 0.3) and c.n_pairs == 10
    assert cal.levels_for("C|hcp") == (0.05, 0.3) and cal.levels_for("never seen") == (0.05, 0.3)
    assert cal.levels_for("A|fcc") == (a.f_lo, a.f_hi)
    text = cal.table()
    assert "A|fcc" in text and "fallback" in text
    json.dumps(cal.to_json(), allow_nan=False)  # strict JSON for the iteration report


def test_nan_pairs_are_ignored():
    rng = np.random.default_rng(2)
    d, e = _pairs(rng, 800, 2.0, 0.02)
    ref = fit_levels(d, e, 0.5)
    d_bad = np.r_[d, [np.nan, 0.1, np.inf, 0.3]]
    e_bad = np.r_[e, [0.1, np.nan, 0.2, -np.inf]]
    with np.errstate(all="raise"):
        lv = fit_levels(d_bad, e_bad, 0.5)
    assert (lv.f_lo, lv.f_hi, lv.n_pairs) == (ref.f_lo, ref.f_hi, 800)
    cal = calibrate(d_bad, e_bad, target_error=0.5)
    assert cal.ignored_pairs == 4 and cal.groups["*"].f_lo == ref.f_lo
    assert fit_levels([np.nan] * 100, [np.nan] * 100, 0.5).status == FALLBACK


def test_unattainable_target_trusts_nothing_and_an_easy_one_is_capped_by_data():
    rng = np.random.default_rng(3)
    d = rng.uniform(0.1, 0.4, 300)
    hard = fit_levels(d, np.full(300, 2.0), 0.5, fixed=(0.05, 0.35))
    assert hard.status == UNATTAINABLE and hard.f_lo == 0.0 and hard.f_hi == 0.35 and hard.coverage is None
    easy = fit_levels(d, np.full(300, 0.01), 0.5)
    assert easy.status == FITTED and easy.capped and easy.f_lo == pytest.approx(d.max())


def test_f_hi_stops_where_errors_become_hopeless():
    rng = np.random.default_rng(4)
    d = rng.uniform(0.0, 1.0, 2000)
    e = np.where(d < 0.6, np.abs(2.0 * d + rng.normal(0, 0.01, d.size)), 50.0)  # blown-up frames above 0.6
    lv = fit_levels(d, e, 0.5, hopeless_error=10.0, hi_factor=100.0)
    assert abs(lv.f_lo - 0.25) < 0.02
    assert 0.58 < lv.f_hi <= 0.61
    default = fit_levels(d, e, 0.5)  # default hopeless bound 10·target = 5 eV/Å; cap 4·f_lo ≈ 0.98
    assert default.f_hi == pytest.approx(min(4 * default.f_lo, lv.f_hi))


def test_validation_and_group_key():
    with pytest.raises(ValueError):
        fit_levels([0.1], [0.1], 0.5, coverage=1.0)
    with pytest.raises(ValueError):
        fit_levels([0.1], [0.1], 0.0)
    with pytest.raises(ValueError):
        calibrate([0.1, 0.2], [0.1], target_error=0.5)
    with pytest.raises(ValueError):
        calibrate([0.1, 0.2], [0.1, 0.2], ["a"], target_error=0.5)
    assert calibration_group("Al1Co1Cr1Ni1", "fcc") == "Al1Co1Cr1Ni1|fcc" and calibration_group("Ni3Al") == "Ni3Al"


def test_true_force_error_is_the_max_per_atom_norm():
    ref = np.zeros((3, 3))
    pred = np.array([[3.0, 4.0, 0.0], [0.0, 0.0, 1.0], [1.0, 1.0, 1.0]])
    assert true_force_error(pred, ref) == pytest.approx(5.0)
    batch = np.stack([pred, ref, np.full((3, 3), np.nan)])
    out = true_force_error(batch, np.zeros_like(batch))
    assert out[0] == pytest.approx(5.0) and out[1] == 0.0 and np.isnan(out[2])
    assert true_force_error(np.zeros((0, 3)), np.zeros((0, 3))) == 0.0
    with pytest.raises(ValueError):
        true_force_error(np.zeros((2, 3)), np.zeros((3, 3)))
