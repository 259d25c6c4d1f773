"""MTP active set, extrapolation grade γ and ``select-add``, on the MTP's own linear basis (MLIP convention).

An MTP's energy is linear in its ``moment_coeffs`` (one per basis function B_α) and ``species_coeffs``. A
configuration (or, in ``neighborhood`` mode, one atom's neighbourhood) is the row ``x`` of derivatives of its
(site) energy by these coefficients: ``[Σ_i B_α(i) ..., n_species ...]`` per configuration, or
``[B_α(i) ..., one-hot species of i]`` per atom. The *active set* is the ``n x n`` submatrix ``A`` of the
training rows with (locally) maximal ``|det A|`` (MaxVol), ``n`` = number of basis functions + species.
The grade of a row is ``γ(x) = max_j |(x A⁻¹)_j|`` (Podryabinkin & Shapeev, Comput. Mater. Sci. 140, 171
(2017), Eq. 8): γ <= 1 inside the training domain (every training row, by MaxVol construction), γ > 1
extrapolates; replacing active row j by x multiplies ``|det A|`` by ``|(x A⁻¹)_j|``. A configuration's grade
is the max over its rows. γ is dimensionless.

What motep 0.2.0 provides and heal uses: the ``.mtp`` reader, the ASE calculator ``motep.calculator.MTP``
(engine ``cext``, mode ``run``, which fills the per-atom basis values ``engine.mbd.vatoms``), the Jacobians
``engine.jac_energy`` / ``engine.jac_energies`` restricted by ``mtp_data.optimized`` (as ``motep.grade``
does), and ``motep.grade.maxvol.MaxVol``. heal keeps the active set in a file (``state.npz``, the analogue
of MLIP's ``state.als``) so that MD can grade every step with one matrix product.

Columns are scaled by their norms over the training rows before MaxVol; grades and the MaxVol choice are
invariant under column scaling, but the rank test and the solves are better conditioned. Modes:
``configuration`` needs at least as many (linearly independent) training configurations as columns;
``neighborhood`` needs atoms. ``auto`` takes ``configuration`` when its matrix has full rank, else
``neighborhood``. A rank-deficient matrix (e.g. a species absent from the training set) uses the MLIP-2/3
MaxVol variant, which starts from ``1e-6 I``: a direction never seen in training then grades ~1e6.
"""

from __future__ import annotations

import hashlib
import logging
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
from ase import Atoms
from ase.data import atomic_numbers

from heal.errors import FatalError
from heal.fsutil import atomic_write_bytes

GradeMode = Literal["configuration", "neighborhood", "auto"]
#: the linear MTP coefficients the active set is built on (order as in motep's Jacobian: moments, species)
LINEAR = ["moment_coeffs", "species_coeffs"]
_RANK_RTOL = 1e-10


@contextmanager
def quiet_motep():
    """Silence motep's warnings about neighbours closer than the radial basis' min_dist (γ reports that
    extrapolation already; in MD it would repeat every step) and about unfilled MLIP-MaxVol slots (recorded
    in :attr:`ActiveSet.owners` as -1)."""
    logs = [logging.getLogger(n) for n in ("motep.potentials.mtp.base", "motep.grade.maxvol")]
    levels = [log.level for log in logs]
    for log in logs:
        log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for log, level in zip(logs, levels, strict=True):
            log.setLevel(level)


def load_mtp(potential: Path, type_map: list[str]):
    """Read an MLIP ``.mtp`` file with motep; species in `type_map` order, grading on the linear basis."""
    from motep.io.mlip.mtp import read_mtp

    data = read_mtp(Path(potential))
    data.species = [atomic_numbers[s] for s in type_map]
    data.optimized = list(LINEAR)
    return data


def mtp_calculator(mtp_data):
    """motep's ASE calculator (C engine, run mode): energy eV, forces eV/Å, stress eV/Å^3."""
    from motep.calculator import MTP

    return MTP(mtp_data, engine="cext", mode="run")


def evaluate(atoms: Atoms, calc) -> Atoms:
    """A copy of `atoms` evaluated from scratch by `calc` (any cell size); its engine holds the basis values."""
    b = atoms.copy()
    calc.reset()
    calc.engine.neighbor_list = None  # motep sizes its neighbour list for one atom count
    b.calc = calc
    with quiet_motep():
        b.get_potential_energy()
    return b


def rows_of(atoms: Atoms, calc, mode: str) -> np.ndarray:
    """Rows (k x n) of `atoms` (see the module docstring), evaluated from scratch by `calc`."""
    return rows_from_engine(evaluate(atoms, calc), calc.engine, mode)


def rows_from_engine(atoms: Atoms, engine, mode: str) -> np.ndarray:
    """Rows of the configuration the engine has just evaluated (no recomputation)."""
    if mode == "configuration":
        return np.atleast_2d(engine.jac_energy(atoms).parameters)
    return np.asarray(engine.jac_energies(atoms).parameters).T


def file_digest(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:20]


@dataclass
class ActiveSet:
    """MaxVol active set of a potential: ``A`` (n x n, scaled columns), its inverse and where its rows came from."""

    mode: str  # "configuration" | "neighborhood"
    algorithm: str  # "maxvol" (full rank) | "mlip" (rank-deficient training matrix)
    scale: np.ndarray  # (n,) column norms over the training rows
    submatrix: np.ndarray  # (n, n) active rows, scaled
    owners: np.ndarray  # (n,) training-frame index of each active row (-1: regularisation row)
    potential_digest: str = ""
    inverse: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        try:
            self.inverse = np.linalg.inv(self.submatrix)
        except np.linalg.LinAlgError:
            raise FatalError("the MTP active set is singular; the training set does not span the basis") from None

    @property
    def size(self) -> int:
        return int(self.submatrix.shape[0])

    def coefficients(self, rows: np.ndarray) -> np.ndarray:
        """``c = x A⁻¹`` for unscaled rows x (k x n)."""
        return (np.atleast_2d(rows) / self.scale) @ self.inverse

    def grade_rows(self, rows: np.ndarray) -> float:
        """γ of a configuration given its rows: max |c| (dimensionless)."""
        c = self.coefficients(rows)
        return float(np.max(np.abs(c))) if c.size else 0.0

    def save(self, path: Path) -> Path:
        import io

        buf = io.BytesIO()
        np.savez(buf, mode=self.mode, algorithm=self.algorithm, scale=self.scale, submatrix=self.submatrix,
                 owners=self.owners, potential_digest=self.potential_digest)
        return atomic_write_bytes(Path(path), buf.getvalue())

    @classmethod
    def load(cls, path: Path) -> "ActiveSet":
        with np.load(Path(path)) as z:
            return cls(mode=str(z["mode"]), algorithm=str(z["algorithm"]), scale=z["scale"],
                       submatrix=z["submatrix"], owners=z["owners"], potential_digest=str(z["potential_digest"]))


def check_digest(potential: Path, active: ActiveSet) -> None:
    """Refuse an active set built for another potential file."""
    if active.potential_digest and active.potential_digest != file_digest(potential):
        raise FatalError(f"the MTP active set was built for another potential than {potential}; "
                         f"rebuild it (rerun the train stage) instead of mixing iterations")


def _numerical_rank(matrix: np.ndarray) -> int:
    if matrix.size == 0:
        return 0
    s = np.linalg.svd(matrix, compute_uv=False)
    return int(np.sum(s > _RANK_RTOL * s[0])) if s[0] > 0 else 0


def build_active_set(potential: Path, type_map: list[str], frames: list[Atoms], mode: GradeMode = "auto",
                     seed: int = 0) -> ActiveSet:
    """MaxVol active set of `potential` on the training `frames` (MLIP: ``mlp calc-grade ... --als-filename``)."""
    from motep.grade.maxvol import MaxVol

    if not frames:
        raise FatalError("cannot build an MTP active set from an empty training set")
    data = load_mtp(potential, type_map)
    calc = mtp_calculator(data)
    modes = ["configuration", "neighborhood"] if mode == "auto" else [mode]
    per_frame: dict[str, list[np.ndarray]] = {m: [] for m in modes}
    for a in frames:
        b = evaluate(a, calc)
        for m in modes:
            per_frame[m].append(rows_from_engine(b, calc.engine, m))
    for m in modes:
        rows = np.vstack(per_frame[m])
        owner = np.concatenate([np.full(len(r), i) for i, r in enumerate(per_frame[m])])
        scale = np.linalg.norm(rows, axis=0)
        scale[scale == 0.0] = 1.0
        x = rows / scale
        full = x.shape[0] >= x.shape[1] and _numerical_rank(x) == x.shape[1]
        if mode == "auto" and m == "configuration" and not full:
            continue  # too few / degenerate configurations: grade neighbourhoods instead
        if full:
            res = MaxVol(algorithm="maxvol", init_method="qr", threshold=1e-9,
                         rng=np.random.default_rng(seed)).run(x)
            sub, owners, algo = x[res.indices], owner[res.indices], "maxvol"
        else:
            with quiet_motep():
                res = MaxVol(algorithm="mlip").run(x)
            sub, algo = res.submatrix, "mlip"
            owners = np.full(x.shape[1], -1)  # slots left at the 1e-6 identity row keep -1
            for r in res.indices:
                owners[int(np.argmin(np.linalg.norm(sub - x[r], axis=1)))] = owner[r]
        return ActiveSet(mode=m, algorithm=algo, scale=scale, submatrix=sub, owners=owners,
                         potential_digest=file_digest(potential))
    raise AssertionError("unreachable")


class Grader:
    """Grades configurations against a saved active set with the potential it was built for."""

    def __init__(self, potential: Path, type_map: list[str], active: ActiveSet):
        check_digest(potential, active)
        self.potential = Path(potential)
        self.type_map = list(type_map)
        self.active = active
        self.data = load_mtp(potential, type_map)

    def calculator(self):
        """A fresh motep calculator for this potential (one per MD run / per cell size)."""
        return mtp_calculator(self.data)

    def rows(self, atoms: Atoms) -> np.ndarray:
        return rows_of(atoms, self.calculator(), self.active.mode)

    def grade(self, atoms: Atoms) -> float:
        """Extrapolation grade γ of one configuration (dimensionless)."""
        return self.active.grade_rows(self.rows(atoms))


def select_add(active: ActiveSet, candidate_rows: list[np.ndarray], cap: int, threshold: float = 1.0 + 1e-3,
               max_swaps: int | None = None) -> list[int]:
    """MLIP ``select-add``: candidates whose rows enter the active set by greedy MaxVol swaps, at most `cap`.

    Each step puts the candidate row with the largest ``|c_ij|`` (``c = X A⁻¹``) into active slot j, which
    multiplies ``|det A|`` by ``|c_ij|``; it stops when no ``|c_ij|`` exceeds `threshold`. Once `cap`
    candidates hold active rows, only rows of those candidates may still enter. A candidate whose rows are all
    swapped out again by later ones is not selected. Returns candidate indices in order of first entry.
    """
    if cap <= 0 or not candidate_rows:
        return []
    X = np.vstack([np.atleast_2d(r) for r in candidate_rows]) / active.scale
    owner = np.concatenate([np.full(len(np.atleast_2d(r)), k) for k, r in enumerate(candidate_rows)])
    A = active.submatrix.copy()
    slot_owner = np.full(active.size, -1)  # -1: a training row (or regularisation row)
    slot_row = np.full(active.size, -1)  # candidate row index held by the slot
    used = np.zeros(len(X), dtype=bool)
    order: list[int] = []
    max_swaps = max_swaps or 10 * active.size + len(X)
    for _ in range(max_swaps):
        c = X @ np.linalg.inv(A)
        c[used] = 0.0
        inside = set(slot_owner[slot_owner >= 0].tolist())
        if len(inside) >= cap:
            c[~np.isin(owner, list(inside))] = 0.0
        i, j = np.unravel_index(np.argmax(np.abs(c)), c.shape)
        if abs(c[i, j]) <= threshold:
            break
        if slot_row[j] >= 0:  # the candidate row leaving the active set may come back later
            used[slot_row[j]] = False
        A[j] = X[i]
        slot_owner[j], slot_row[j] = owner[i], i
        used[i] = True
        if owner[i] not in order:
            order.append(int(owner[i]))
    inside = set(slot_owner[slot_owner >= 0].tolist())
    return [k for k in order if k in inside]


@dataclass
class MtpSelection:
    """What ``select-add`` over an iteration's runs did (counts of configurations)."""

    preselected: int
    too_close: int
    already_labeled: int
    graded: int
    selected: int
    max_gamma: float


def select_from_runs(run_dirs: list[Path], potential: Path, state: Path, type_map: list[str], cap: int, *,
                     d_min: float = 0.0, known: set[str] | frozenset = frozenset()) -> tuple[list[Atoms], MtpSelection]:
    """Candidates of the runs' ``preselected.extxyz`` that enter the active set (``select-add``), at most `cap`.

    Candidates closer than `d_min` (Å) or whose :func:`heal.frames.frame_hash` is in `known` are dropped
    first. The returned frames keep their info (``run``, ``step``, ``gamma``) plus ``gamma_now`` (γ against
    the active set, recomputed).
    """
    from ase.io import read

    from heal.frames import frame_hash, min_distance

    cands: list[Atoms] = []
    for rd in run_dirs:
        p = Path(rd) / "preselected.extxyz"
        if p.is_file() and p.stat().st_size:
            cands.extend(read(p, index=":", format="extxyz"))
    n_pre = len(cands)
    close = [a for a in cands if min_distance(a) < d_min]
    cands = [a for a in cands if min_distance(a) >= d_min]
    fresh = [a for a in cands if frame_hash(a) not in known]
    active = ActiveSet.load(state)
    grader = Grader(potential, type_map, active)
    rows = [grader.rows(a) for a in fresh]
    grades = [active.grade_rows(r) for r in rows]
    for a, g in zip(fresh, grades, strict=True):
        a.info["gamma_now"] = g
    picked = select_add(active, rows, cap)
    stats = MtpSelection(preselected=n_pre, too_close=len(close), already_labeled=len(cands) - len(fresh),
                         graded=len(fresh), selected=len(picked), max_gamma=max(grades, default=0.0))
    return [fresh[i] for i in picked], stats
