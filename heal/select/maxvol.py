"""Max-volume (D-optimal) selection of candidate frames on structure descriptors.

The training set's descriptors ``R`` (m×d) define the information matrix ``A = reg·I + RᵀR``. A candidate
``x`` has the *grade* ``g(x) = xᵀA⁻¹x`` (dimensionless: its squared Mahalanobis length in the metric of what is
already covered). Adding ``x`` to the design multiplies ``det A`` by ``1 + g(x)``, so picking the largest grade
is the greedy step of D-optimal design (maximum volume of the spanned ellipsoid). After each pick ``A⁻¹`` is
updated by Sherman–Morrison, which lowers the grades of the picked frame's near-duplicates (an exact duplicate
drops to ``g/(1+g) < 1``): correlated MD frames are not picked twice.

``greedy_dopt`` costs O(n·d²) once plus O(n·d) per pick. ``select_streaming`` bounds memory for 10⁶
candidates (see its docstring for the approximation).

Descriptors: ``structure_descriptors`` pools the DeePMD model's own per-atom descriptor per structure (mean
over the atoms of each element, concatenated in type-map order, zero for absent elements) and
``selection_pca`` reduces it to ≤ ~64 dimensions, fitted on the training set *and* a sample of the candidates:
the directions in which candidates are new must survive the projection, or the grade cannot see them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

_ROWS = 16384  # rows per block when computing grades (bounds temporary memory to _ROWS·d floats)
_REFRESH = 16  # recompute A⁻¹ from A by Cholesky every this many Sherman–Morrison updates


# -- the greedy D-optimal pick ---------------------------------------------------------------------------
def _splitmix(idx: np.ndarray, seed: int) -> np.ndarray:
    """A seeded, deterministic pseudo-random priority per global row index (ties go to the lowest value)."""
    z = idx.astype(np.uint64) + np.uint64((int(seed) * 0x9E3779B97F4A7C15 + 0x632BE59BD9B4E019) % 2**64)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def _grades(X: np.ndarray, Ainv: np.ndarray) -> np.ndarray:
    """``xᵀA⁻¹x`` per row, in blocks of _ROWS rows."""
    out = np.empty(len(X))
    for s in range(0, len(X), _ROWS):
        B = X[s:s + _ROWS]
        out[s:s + _ROWS] = np.einsum("ij,ij->i", B @ Ainv, B)
    return out


def information_matrix(reference: np.ndarray | None, d: int, reg: float = 1e-6) -> np.ndarray:
    """``A = reg·I + RᵀR`` over the finite rows of `reference` (m×d); rows with NaN/inf are dropped."""
    A = reg * np.eye(d)
    if reference is not None and len(reference):
        R = np.asarray(reference, dtype=float).reshape(len(reference), -1)
        if R.shape[1] != d:
            raise ValueError(f"reference descriptors have {R.shape[1]} columns, candidates {d}")
        R = R[np.isfinite(R).all(axis=1)]
        A = A + R.T @ R
    return A


def _inv_spd(A: np.ndarray) -> np.ndarray:
    try:
        L = np.linalg.cholesky(A)
        Linv = np.linalg.solve(L, np.eye(len(A)))
        return Linv.T @ Linv
    except np.linalg.LinAlgError:
        return np.linalg.pinv(A, hermitian=True)


def extrapolation_grades(candidates: np.ndarray, reference: np.ndarray | None, reg: float = 1e-6) -> np.ndarray:
    """Grade ``xᵀA⁻¹x`` of each candidate relative to the reference alone (NaN rows → NaN).

    A training row has grade ≤ 1 (its leverage), so a grade > 1 means "outside what the training set spans".
    """
    X = np.atleast_2d(np.asarray(candidates, dtype=float))
    g = np.full(len(X), np.nan)
    ok = np.isfinite(X).all(axis=1)
    g[ok] = _grades(X[ok], _inv_spd(information_matrix(reference, X.shape[1], reg)))
    return g


def _greedy(X: np.ndarray, k: int, A: np.ndarray, prio: np.ndarray, min_grade: float,
            rtol: float = 1e-9) -> tuple[list[int], list[float]]:
    """Greedy max-grade picks (row indices into X, grades at pick); NaN/inf rows are skipped.

    All grades are kept current: after picking x with u = A⁻¹x, every grade drops by (xᵢ·u)²/(1 + g(x))
    (the Sherman–Morrison update of A⁻¹ applied to the quadratic forms): O(n·d) per pick.
    """
    rows = np.flatnonzero(np.isfinite(X).all(axis=1))
    Xv = X if rows.size == len(X) else X[rows]
    pv = prio[rows]
    A = A.copy()
    Ainv = _inv_spd(A)
    g = _grades(Xv, Ainv)
    picks: list[int] = []
    grades: list[float] = []
    while len(picks) < k and len(Xv):
        j = int(np.argmax(g))
        if not g[j] > min_grade:
            break
        near = np.flatnonzero(g >= g[j] - rtol * abs(g[j]))
        if near.size > 1:  # deterministic tie-break among (near-)equal grades
            j = int(near[np.argmin(pv[near])])
        x = Xv[j]
        u = Ainv @ x
        gx = float(x @ u)
        picks.append(int(rows[j]))
        grades.append(gx)
        v = Xv @ u
        g -= v * v / (1.0 + gx)
        g[j] = -np.inf
        A += np.outer(x, x)
        if len(picks) % _REFRESH == 0:
            Ainv = _inv_spd(A)
        else:  # Sherman–Morrison: (A + xxᵀ)⁻¹ = A⁻¹ − uuᵀ/(1 + g)
            Ainv -= np.outer(u, u) / (1.0 + gx)
            Ainv = 0.5 * (Ainv + Ainv.T)
    return picks, grades


def greedy_dopt(candidates: np.ndarray, k: int, reference: np.ndarray | None = None, reg: float = 1e-6,
                seed: int = 0, min_grade: float = 0.0, return_grades: bool = False):
    """Pick up to `k` candidate rows that greedily maximise ``det(reg·I + RᵀR + Σ xxᵀ)``.

    candidates: n×d descriptors (any unit; `reg` is in that unit squared — use ``DescriptorPCA`` output,
    scaled so the reference rows have unit RMS norm, and the default 1e-6 is a relative ridge).
    reference: m×d descriptors of the training set (what is already covered), or None.
    Returns the chosen row indices in pick order (int64); with `return_grades` also each pick's grade.

    Stops early when the best remaining grade is ≤ `min_grade` (dimensionless). The default 0 only stops on
    zero vectors or when the candidates are used up; ``min_grade=1`` picks only frames outside the ellipsoid
    ``{y: yᵀA⁻¹y ≤ 1}`` that contains every training row — an exact duplicate of a pick never passes it.
    Rows with NaN/inf are never chosen. Ties (grades equal to 1e-9 relative) go to a seeded hash of the
    row index: the result is a deterministic function of the inputs and `seed`.
    """
    X = np.asarray(candidates, dtype=float)
    if X.ndim != 2:
        raise ValueError(f"candidates must be n×d, got shape {X.shape}")
    if k <= 0 or len(X) == 0:
        out = np.zeros(0, dtype=np.int64)
        return (out, np.zeros(0)) if return_grades else out
    A = information_matrix(reference, X.shape[1], reg)
    picks, grades = _greedy(X, int(k), A, _splitmix(np.arange(len(X)), seed), min_grade)
    out = np.asarray(picks, dtype=np.int64)
    return (out, np.asarray(grades)) if return_grades else out


def select_streaming(chunks: Iterable[np.ndarray], k: int, reference: np.ndarray | None = None,
                     reg: float = 1e-6, seed: int = 0, min_grade: float = 0.0, pool_factor: int = 4,
                     thin_factor: int = 16):
    """``greedy_dopt`` over candidates that arrive in chunks; returns global row indices (pick order).

    Keeps a pool of ``M = pool_factor·k`` rows. Per chunk: (1) once the pool is full, thin the chunk to the
    ``T = thin_factor·M`` rows with the largest grade relative to the reference *plus the pool* (one
    O(chunk·d²) pass: rows the pool already covers go); (2) the greedy D-optimal pick (relative to the
    reference) of M rows from pool ∪ chunk becomes the new pool. The final k are picked from the pool.
    Memory: two chunks (the iterator may build the next while one is held) plus M + T rows. Time: the
    greedy on the first chunk(s), O(M·chunk·d), dominates.

    Approximations: a row that the reference and the pool already cover well is dropped in (1), and a row
    not among the M greedy picks of its merge is dropped in (2), although the full-set greedy might have
    picked it later (greedy-of-greedies, as in distributed submodular maximisation; log det is submodular).
    When T ≥ every chunk and M ≥ the total number of rows nothing is dropped and the result equals
    ``greedy_dopt`` on the concatenated candidates.
    """
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    m = max(int(pool_factor), 1) * int(k)
    t = max(int(thin_factor), 1) * m
    pool_X: np.ndarray | None = None
    pool_i = np.zeros(0, dtype=np.int64)
    A = None
    offset = 0
    for chunk in chunks:
        C = np.asarray(chunk, dtype=float)
        if C.ndim != 2 or len(C) == 0:
            continue
        if A is None:
            A = information_matrix(reference, C.shape[1], reg)
            pool_X = np.zeros((0, C.shape[1]))
        ci = offset + np.arange(len(C), dtype=np.int64)
        offset += len(C)
        ok = np.isfinite(C).all(axis=1)
        if not ok.all():
            C, ci = C[ok], ci[ok]
        if len(C) > t and len(pool_X) >= m:
            g = _grades(C, _inv_spd(A + pool_X.T @ pool_X))
            top = np.sort(np.argpartition(-g, t)[:t])
            C, ci = C[top], ci[top]
        X = np.vstack([pool_X, C]) if len(pool_X) else C
        idx = np.concatenate([pool_i, ci])
        keep, _ = _greedy(X, m, A, _splitmix(idx, seed), 0.0)
        pool_X, pool_i = X[keep], idx[keep]
    if A is None:
        return np.zeros(0, dtype=np.int64)
    order = np.argsort(pool_i, kind="stable")  # pool rows in input order, as greedy_dopt would see them
    picks, _ = _greedy(pool_X[order], int(k), A, _splitmix(pool_i[order], seed), min_grade)
    return pool_i[order][np.asarray(picks, dtype=np.int64)]


# -- classic square MaxVol (k = d) ------------------------------------------------------------------------
def maxvol(X: np.ndarray, k: int | None = None, tol: float = 1.01, max_iter: int = 200) -> np.ndarray:
    """Rows of the n×d matrix `X` (n ≥ d) whose d×d submatrix has locally maximal |det| (Goreinov et al.).

    Only the square case ``k = d`` is supported. Every row of ``X @ inv(X[rows])`` then has entries with
    |·| ≤ `tol` — the MTP-style extrapolation grade ``maxvol_grade`` of the rows is ≤ tol.
    """
    X = np.asarray(X, dtype=float)
    n, d = X.shape
    if k is not None and k != d:
        raise ValueError(f"square MaxVol picks k = d = {d} rows; use greedy_dopt for k = {k}")
    if n < d:
        raise ValueError(f"MaxVol needs at least d = {d} rows, got {n}")
    import scipy.linalg

    rows = scipy.linalg.qr(X.T, pivoting=True, mode="r")[1][:d].copy()
    B = X @ np.linalg.inv(X[rows])
    for _ in range(max_iter):
        i, j = np.unravel_index(int(np.argmax(np.abs(B))), B.shape)
        if abs(B[i, j]) <= tol:
            break
        rows[j] = i
        col, row = B[:, j].copy(), B[i].copy()
        row[j] -= 1.0
        B -= np.outer(col, row) / col[i]
    return rows


def maxvol_grade(X: np.ndarray, active: np.ndarray, rows: Sequence[int]) -> np.ndarray:
    """γ per row of `X`: max |c| with x = cᵀ·active[rows] (MTP's grade; ≤ 1 inside the active set's span)."""
    return np.abs(np.asarray(X, float) @ np.linalg.inv(np.asarray(active, float)[list(rows)])).max(axis=1)


# -- descriptors -------------------------------------------------------------------------------------------
def pool_by_type(per_atom: np.ndarray, types: np.ndarray, ntypes: int) -> np.ndarray:
    """Per-structure descriptor: mean of `per_atom` (natoms×D) over the atoms of each type, concatenated
    in type order (ntypes·D); zeros for a type absent from the structure."""
    per_atom = np.asarray(per_atom, dtype=float).reshape(len(types), -1)
    types = np.asarray(types, dtype=np.int64)
    D = per_atom.shape[1]
    sums = np.zeros((ntypes, D))
    np.add.at(sums, types, per_atom)
    cnt = np.bincount(types, minlength=ntypes)[:, None]
    return np.divide(sums, cnt, out=np.zeros_like(sums), where=cnt > 0).reshape(-1)


def structure_descriptors(frames: Sequence, model: Path, type_map: Sequence[str], batch: int = 64) -> np.ndarray:
    """Pooled DeePMD descriptors of `frames` (ase.Atoms) from the frozen `model` (``graph.pb``).

    Atom types index into the model's own type map; the pooled blocks follow `type_map` (the campaign's
    element order), so every structure gets ``len(type_map)·D`` numbers (D = the model's per-atom descriptor
    size). Frames with the same type sequence and periodicity are evaluated together, `batch` at a time.
    Loads TensorFlow (~10 s the first time).
    """
    from deepmd.infer import DeepPot

    dp = DeepPot(str(model))
    model_map = list(dp.get_type_map())
    missing = [e for e in type_map if e not in model_map]
    if missing:
        raise ValueError(f"elements {missing} of the type map are not in the model's type map {model_map}")
    col = {e: i for i, e in enumerate(type_map)}
    groups: dict[tuple, list[int]] = {}
    for i, atoms in enumerate(frames):
        syms = atoms.get_chemical_symbols()
        bad = sorted(set(syms) - set(type_map))
        if bad:
            raise ValueError(f"frame {i} has elements {bad} outside the type map {list(type_map)}")
        pbc = bool(np.all(atoms.pbc))
        if not pbc and np.any(atoms.pbc):
            raise ValueError(f"frame {i}: mixed periodicity {atoms.pbc} is not supported")
        groups.setdefault((tuple(model_map.index(s) for s in syms), pbc), []).append(i)
    out: np.ndarray | None = None
    for (mtypes, pbc), idx in groups.items():
        atype = np.asarray(mtypes, dtype=np.int64)
        pool_types = np.asarray([col[model_map[t]] for t in mtypes])
        for s in range(0, len(idx), batch):
            part = [frames[i] for i in idx[s:s + batch]]
            coords = np.stack([a.get_positions() for a in part]).reshape(len(part), -1)
            cells = np.stack([a.cell.array for a in part]).reshape(len(part), 9) if pbc else None
            desc = np.asarray(dp.eval_descriptor(coords, cells, atype))
            for i, dsc in zip(idx[s:s + batch], desc.reshape(len(part), len(atype), -1)):
                row = pool_by_type(dsc, pool_types, len(type_map))
                if out is None:
                    out = np.zeros((len(frames), row.size))
                out[i] = row
    return out if out is not None else np.zeros((0, 0))


@dataclass(frozen=True)
class DescriptorPCA:
    """Projection onto the top principal components of the rows it was fitted on, scaled to unit RMS norm.

    ``transform(X) = (X − mean) @ componentsᵀ / scale``; `scale` (descriptor units) makes the fitted rows'
    RMS norm 1 after projection, so ``greedy_dopt``'s `reg` is relative. For selection fit it with
    ``selection_pca``, not on the training rows alone. Component signs are fixed (largest
    |loading| positive): the fit is a deterministic function of the fitted rows.
    """

    mean: np.ndarray
    components: np.ndarray  # q×D
    scale: float

    @classmethod
    def fit(cls, reference: np.ndarray, n_components: int = 32, rel_tol: float = 1e-10) -> "DescriptorPCA":
        R = np.asarray(reference, dtype=float)
        R = R[np.isfinite(R).all(axis=1)]
        if len(R) == 0:
            raise ValueError("no finite reference descriptors to fit the PCA on")
        mean = R.mean(axis=0)
        _, s, vt = np.linalg.svd(R - mean, full_matrices=False)
        q = int(min(n_components, np.count_nonzero(s > rel_tol * (s[0] if s.size else 0.0))))
        comps = vt[:max(q, 0)]
        signs = np.sign(comps[np.arange(len(comps)), np.argmax(np.abs(comps), axis=1)])
        comps = comps * np.where(signs == 0, 1.0, signs)[:, None]
        rms = float(np.sqrt(np.sum(s[:q] ** 2) / len(R))) if q else 1.0
        return cls(mean=mean, components=comps, scale=rms if rms > 0 else 1.0)

    def transform(self, X: np.ndarray) -> np.ndarray:
        return (np.asarray(X, dtype=float) - self.mean) @ self.components.T / self.scale


def selection_pca(reference: np.ndarray, candidate_sample: np.ndarray | None, n_components: int = 32
                  ) -> DescriptorPCA:
    """The projection for max-volume selection: principal components of the training rows *and* a sample of
    the candidate rows (e.g. evenly spaced over the iteration's candidates).

    Fitted on the training rows alone, the components span only what is already covered (m training frames
    give at most m − 1 of them): a candidate's component outside that span is projected away, and a frame
    that is new in exactly that direction gets a low grade. With the candidates in the fit, such directions
    are kept, where the training set's information is only the ridge `reg` — the greedy pick sees them first.
    """
    parts = [np.asarray(x, dtype=float) for x in (reference, candidate_sample) if x is not None and len(x)]
    return DescriptorPCA.fit(np.vstack(parts) if parts else np.zeros((0, 0)), n_components=n_components)
