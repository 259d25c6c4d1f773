"""Unit tests of the max-volume (D-optimal) pick and the descriptor pooling / PCA (heal.select.maxvol).

Constructed descriptor sets (orthogonal vs collinear rows) with known best subsets, a brute-force and a
naive eager-greedy cross-check. Descriptors of a real frozen DeePMD model are tested in
``test_engine_deepmd_lammps.py`` on the model that module trains.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from heal.select.maxvol import (DescriptorPCA, extrapolation_grades, greedy_dopt, information_matrix, maxvol,
                                maxvol_grade, pool_by_type, select_streaming, selection_pca)

E = np.eye(3)


def _logdet_gain(X, idx, reference=None, reg=1e-6):
    A = information_matrix(reference, X.shape[1], reg)
    S = X[list(idx)]
    return np.linalg.slogdet(A + S.T @ S)[1] - np.linalg.slogdet(A)[1]


def _naive_greedy(X, k, reference=None, reg=1e-6):
    """Eager greedy: recompute every grade from a fresh inverse at every step."""
    A = information_matrix(reference, X.shape[1], reg)
    picks = []
    for _ in range(k):
        g = np.einsum("ij,jk,ik->i", X, np.linalg.inv(A), X)
        g[picks] = -np.inf
        j = int(np.argmax(g))
        picks.append(j)
        A = A + np.outer(X[j], X[j])
    return picks


# -- constructed cases ----------------------------------------------------------------------------------
def test_orthogonal_rows_beat_collinear_ones():
    X = np.array([E[0], 1.01 * E[0], 0.99 * E[0], E[1], E[2], 0.5 * E[0]])
    picks = greedy_dopt(X, 3)
    assert set(picks.tolist()) == {1, 3, 4}  # the longest e1 row, then e2 and e3 — never a second e1
    assert picks[0] == 1


def test_reference_covering_e1_makes_e2_and_e3_come_first():
    ref = np.array([E[0] * s for s in (1.0, 2.0, 3.0)])
    X = np.array([2.0 * E[0], E[0], 0.5 * E[2], E[1]])
    assert greedy_dopt(X, 2, reference=ref).tolist() == [3, 2]  # e2 (|x|=1) before 0.5·e3, e1 rows last
    g = extrapolation_grades(X, ref)
    assert g[0] < 1.0 and g[1] < 1.0 and g[2] > 1e3 and g[3] > 1e3


def test_greedy_equals_brute_force_volume_on_orthogonal_clusters():
    rng = np.random.default_rng(3)
    rows = [E[i] * s for i in range(3) for s in rng.uniform(0.5, 2.0, 3)]
    X = np.array(rows)
    best = max(itertools.combinations(range(len(X)), 3), key=lambda c: _logdet_gain(X, c))
    assert set(greedy_dopt(X, 3).tolist()) == set(best)


def test_rank_one_grade_updates_equal_recomputing_every_grade():
    rng = np.random.default_rng(7)
    for trial in range(3):
        X = rng.normal(size=(3000, 6))
        R = rng.normal(size=(40, 6))
        assert greedy_dopt(X, 40, reference=R).tolist() == _naive_greedy(X, 40, R)
    walk = np.cumsum(rng.normal(scale=0.05, size=(5000, 8)), axis=0)  # correlated MD-like frames
    assert greedy_dopt(walk, 30, reference=walk[:50]).tolist() == _naive_greedy(walk, 30, walk[:50])


def test_exact_duplicates_are_not_picked_above_min_grade_one():
    X = np.array([E[0], E[0], E[0], E[1]])
    picks, grades = greedy_dopt(X, 4, min_grade=1.0, return_grades=True)
    assert len(picks) == 2 and set(picks.tolist()) >= {3} and grades.min() > 1.0
    assert len(greedy_dopt(X, 4)) == 4  # default min_grade 0 fills up to k


def test_reference_rows_have_grade_at_most_one():
    rng = np.random.default_rng(0)
    R = rng.normal(size=(30, 5))
    assert extrapolation_grades(R, R).max() <= 1.0 + 1e-9


# -- determinism and edge cases --------------------------------------------------------------------------
def test_deterministic_for_a_seed_and_seeded_tie_break():
    X = np.eye(8)  # all grades tie exactly
    a = [greedy_dopt(X, 3, seed=s).tolist() for s in range(6)]
    assert a == [greedy_dopt(X, 3, seed=s).tolist() for s in range(6)]
    assert len({tuple(p) for p in a}) > 1  # the seed decides among exact ties
    rng = np.random.default_rng(1)
    Y = rng.normal(size=(500, 4))
    assert greedy_dopt(Y, 10, seed=0).tolist() == greedy_dopt(Y, 10, seed=123).tolist()  # no ties: seed moot


def test_k_zero_k_larger_than_n_and_empty_input():
    X = np.array([E[0], E[1]])
    assert greedy_dopt(X, 0).tolist() == []
    assert sorted(greedy_dopt(X, 10).tolist()) == [0, 1]
    assert greedy_dopt(np.zeros((0, 3)), 5).tolist() == []
    assert greedy_dopt(np.zeros((3, 3)), 2).tolist() == []  # zero vectors add nothing
    assert select_streaming(iter([]), 3).tolist() == []
    assert select_streaming([X], 0).tolist() == []
    with pytest.raises(ValueError):
        greedy_dopt(X, 1, reference=np.ones((2, 4)))


def test_nan_rows_are_never_chosen_and_do_not_crash():
    X = np.array([[np.nan, 1.0, 0.0], E[0], [np.inf, 0, 0], E[1], [0.0, 0.0, np.nan]])
    with np.errstate(all="raise"):
        picks = greedy_dopt(X, 5)
    assert sorted(picks.tolist()) == [1, 3]
    ref = np.array([E[0], [np.nan, 0, 0]])  # a NaN reference row is dropped
    assert greedy_dopt(X, 1, reference=ref).tolist() == [3]
    assert np.isnan(extrapolation_grades(X, ref)[[0, 2, 4]]).all()
    assert sorted(select_streaming([X[:2], X[2:]], 5).tolist()) == [1, 3]


# -- streaming -------------------------------------------------------------------------------------------
def test_streaming_equals_in_memory_when_the_pool_holds_everything():
    rng = np.random.default_rng(5)
    X = rng.normal(size=(200, 5))
    R = rng.normal(size=(20, 5))
    chunks = [X[i:i + 37] for i in range(0, len(X), 37)]
    assert select_streaming(chunks, 10, R, pool_factor=20).tolist() == greedy_dopt(X, 10, R).tolist()


def test_streaming_with_a_small_pool_stays_close_in_volume():
    rng = np.random.default_rng(6)
    walk = np.cumsum(rng.normal(scale=0.05, size=(20000, 12)), axis=0)
    R = walk[:100]
    full = greedy_dopt(walk, 40, R)
    s = select_streaming((walk[i:i + 2500] for i in range(0, len(walk), 2500)), 40, R, pool_factor=3)
    assert len(set(s.tolist())) == 40 and s.min() >= 0 and s.max() < len(walk)
    rand = rng.choice(len(walk), 40, replace=False)
    g_full, g_s, g_r = (_logdet_gain(walk, i, R) for i in (full, s, rand))
    assert g_s >= 0.95 * g_full and g_s > g_r


# -- classic MaxVol ------------------------------------------------------------------------------------
def test_square_maxvol_is_dominant_and_finds_the_orthogonal_rows():
    X = np.array([0.5 * E[0], 2 * E[0], E[1], 0.3 * E[1] + 0.1 * E[0], 3 * E[2], E[2]])
    assert sorted(maxvol(X).tolist()) == [1, 2, 4]
    rng = np.random.default_rng(2)
    Y = rng.normal(size=(60, 5))
    rows = maxvol(Y, tol=1.01)
    assert maxvol_grade(Y, Y, rows).max() <= 1.01 + 1e-9
    with pytest.raises(ValueError):
        maxvol(Y, k=3)


# -- descriptors ---------------------------------------------------------------------------------------
def test_pool_by_type_means_per_element_and_zero_for_absent():
    per_atom = np.array([[1.0, 2.0], [3.0, 4.0], [10.0, 20.0]])
    out = pool_by_type(per_atom, np.array([0, 0, 2]), ntypes=4)
    assert out.tolist() == [2.0, 3.0, 0.0, 0.0, 10.0, 20.0, 0.0, 0.0]
    perm = [2, 0, 1]
    assert np.array_equal(pool_by_type(per_atom[perm], np.array([2, 0, 0]), 4), out)  # atom order irrelevant


def test_pca_is_deterministic_scaled_and_reduces():
    rng = np.random.default_rng(4)
    R = rng.normal(size=(80, 3)) @ rng.normal(size=(3, 40)) + 5.0  # rank-3 data in 40-d
    p = DescriptorPCA.fit(R, n_components=16)
    assert p.components.shape == (3, 40)  # only 3 non-zero components exist
    Z = p.transform(R)
    assert np.isclose(np.sqrt((Z ** 2).sum(axis=1).mean()), 1.0)
    q = DescriptorPCA.fit(R[rng.permutation(len(R))], n_components=16)
    assert np.allclose(q.transform(R), Z, atol=1e-8)
    with pytest.raises(ValueError):
        DescriptorPCA.fit(np.full((3, 4), np.nan))


def test_selection_pca_keeps_the_direction_in_which_a_candidate_is_new():
    """Bug (fixed): the PCA was fitted on the training rows only, so a frame new in a direction the training
    set does not span was projected onto the covered span and lost to big-but-familiar frames."""
    rng = np.random.default_rng(3)
    D = 12
    basis = np.linalg.qr(rng.normal(size=(D, D)))[0]
    covered, new = basis[:, :3], basis[:, 3]
    R = rng.normal(size=(20, 3)) @ covered.T                   # training set: a 3-d subspace
    familiar = 3.0 * rng.normal(size=(40, 3)) @ covered.T      # candidates far out, but in the covered span
    novel = familiar[:1] * 0.1 + 0.5 * new                     # one candidate that leaves the span
    C = np.vstack([familiar, novel])
    old = DescriptorPCA.fit(R, n_components=8)                 # what selection did before
    assert greedy_dopt(old.transform(C), 1, old.transform(R))[0] != len(C) - 1
    pca = selection_pca(R, C[::4].tolist() + [C[-1]], n_components=8)
    assert greedy_dopt(pca.transform(C), 1, pca.transform(R))[0] == len(C) - 1
    assert np.allclose(selection_pca(R, None, 8).transform(R), old.transform(R))  # no sample: as before
