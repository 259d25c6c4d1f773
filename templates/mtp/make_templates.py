"""Generate heal's untrained MTP level templates (``levelNN.mtp``) in MLIP's ``.mtp`` format.

Run: ``python templates/mtp/make_templates.py`` (needs ``motep``, whose writer emits the files).

What a level means (Shapeev, Multiscale Model. Simul. 14, 1153 (2016); MLIP-2, Novikov et al.,
Mach. Learn.: Sci. Technol. 2, 025002 (2021)): the moment tensor of radial function mu and rank nu,
``M_{mu,nu}(i) = sum_j f_mu(|r_ij|) rhat_ij^{(x) nu}``, has level ``2 + 4 mu + nu``; a basis function is a
scalar obtained by contracting a product of moments, and its level is the sum of its factors' levels. An
untrained ``levelL.mtp`` lists every basis function of level <= L. What motep computes from the file (read
from ``motep/potentials/mtp/numpy/moment.py`` and the C kernels of ``motep.potentials.mtp.cext``):

- ``alpha_index_basic`` rows ``[mu, a, b, c]``: the component of ``M_{mu, a+b+c}`` with ``a`` x-, ``b`` y- and
  ``c`` z-indices, ``sum_j f_mu(r) x^a y^b z^c / r^(a+b+c)``; they occupy the first moment slots.
- ``alpha_index_times`` rows ``[i1, i2, mult, i3]``: ``m[i3] += mult * m[i1] * m[i2]``, run in file order, so
  every slot is complete before it is read.
- ``alpha_moment_mapping``: the slots that are basis functions (``alpha_scalar_moments`` of them).

A symmetric rank-n tensor is stored by its distinct components (power vectors p, |p| = n); an index tuple
with powers p occurs ``n!/(p_x! p_y! p_z!)`` times, which is the integer ``mult`` of a contraction.
Generated basis functions (complete for L <= 11, see ``MAX_LEVEL``):

1. ``M_{mu,0}``;
2. full contractions ``A . B`` of two moments of equal rank ``n >= 1``;
3. stars ``(A contracted with B) . C`` where A has rank ``rank B + rank C`` (e.g. ``u_i A_ij v_j``); the partial
   contraction of A with B is again symmetric, so it is stored like a moment;
4. products of 2 or more of the above.

Connected contractions of 3 tensors that are not stars need three tensors of rank >= 2 (level >= 12), and
connected contractions of 4 tensors need level >= 14, so the list is complete up to level 11.

Radial basis (thesis: 8 Chebyshev functions, 5 Å cutoff): ``RBChebyshev`` on [2.0, 5.0] Å, 8 functions;
``species_count = 1`` and no coefficients: the trainer sets the species and draws the initial coefficients.
"""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np

MAX_LEVEL = 11
MIN_DIST, MAX_DIST, RADIAL_BASIS_SIZE = 2.0, 5.0, 8


def powers(n: int) -> list[tuple[int, int, int]]:
    """Power vectors (a, b, c) with a + b + c = n, in a fixed order."""
    return [(a, b, n - a - b) for a in range(n, -1, -1) for b in range(n - a, -1, -1)]


def multinomial(p: tuple[int, int, int]) -> int:
    return math.factorial(sum(p)) // (math.factorial(p[0]) * math.factorial(p[1]) * math.factorial(p[2]))


def _add(p, q):
    return (p[0] + q[0], p[1] + q[1], p[2] + q[2])


def basis(level: int) -> dict:
    """The alpha lists of an untrained MTP of `level` (see the module docstring)."""
    if not 2 <= level <= MAX_LEVEL:
        raise ValueError(f"level {level} outside 2..{MAX_LEVEL}")
    lev = lambda mu, nu: 2 + 4 * mu + nu  # noqa: E731
    moments = [(mu, nu) for mu in range(level) for nu in range(level) if lev(mu, nu) <= level]
    # irreducible scalars as (kind, operands, level)
    irred: list[tuple] = [("M", (m,), lev(*m)) for m in moments if m[1] == 0]
    for a, b in itertools.combinations_with_replacement(moments, 2):
        if a[1] == b[1] >= 1 and lev(*a) + lev(*b) <= level:
            irred.append(("dot", (a, b), lev(*a) + lev(*b)))
    for hub in moments:
        for b, c in itertools.combinations_with_replacement(moments, 2):
            if b[1] >= 1 and c[1] >= 1 and b[1] + c[1] == hub[1] and lev(*hub) + lev(*b) + lev(*c) <= level:
                irred.append(("star", (hub, b, c), lev(*hub) + lev(*b) + lev(*c)))
    irred.sort(key=lambda s: (s[2], s[0] != "M", s[1]))
    # products of irreducible scalars (multisets of size >= 2), built as prefix * last factor
    products: list[tuple[int, ...]] = []
    for k in range(2, level // 2 + 1):
        for combo in itertools.combinations_with_replacement(range(len(irred)), k):
            if sum(irred[i][2] for i in combo) <= level:
                products.append(combo)
    # slots: basic components first
    needed: dict[tuple[int, int], set] = {}
    for kind, ops, _ in irred:
        if kind == "M":
            needed.setdefault(ops[0], set()).add((0, 0, 0))
        elif kind == "dot":
            for m in ops:
                needed.setdefault(m, set()).update(powers(m[1]))
        else:
            for m in ops:
                needed.setdefault(m, set()).update(powers(m[1]))
    basic, slot = [], {}
    for (mu, nu) in sorted(needed):
        for p in powers(nu):
            if p in needed[(mu, nu)]:
                slot[("M", mu, nu, p)] = len(basic)
                basic.append([mu, *p])
    n = len(basic)
    times: list[list[int]] = []

    def new_slot() -> int:
        nonlocal n
        n += 1
        return n - 1

    scalar_slot: list[int] = []
    for kind, ops, _ in irred:
        if kind == "M":
            scalar_slot.append(slot[("M", *ops[0], (0, 0, 0))])
        elif kind == "dot":
            (a, b), out = ops, new_slot()
            for p in powers(a[1]):
                times.append([slot[("M", *a, p)], slot[("M", *b, p)], multinomial(p), out])
            scalar_slot.append(out)
        else:  # star: t = hub contracted with b (rank of c), then t . c
            hub, b, c = ops
            t = {}
            for p in powers(c[1]):
                t[p] = new_slot()
                for q in powers(b[1]):
                    times.append([slot[("M", *hub, _add(p, q))], slot[("M", *b, q)], multinomial(q), t[p]])
            out = new_slot()
            for p in powers(c[1]):
                times.append([t[p], slot[("M", *c, p)], multinomial(p), out])
            scalar_slot.append(out)
    prod_slot: dict[tuple[int, ...], int] = {}
    mapping = list(scalar_slot)
    for combo in sorted(products, key=lambda c: (sum(irred[i][2] for i in c), c)):
        prefix = combo[:-1]
        left = scalar_slot[prefix[0]] if len(prefix) == 1 else prod_slot[prefix]
        out = new_slot()
        times.append([left, scalar_slot[combo[-1]], 1, out])
        prod_slot[combo] = out
        mapping.append(out)
    return {"alpha_index_basic": np.array(basic, dtype=np.int32).reshape(-1, 4),
            "alpha_index_times": np.array(times, dtype=np.int32).reshape(-1, 4),
            "alpha_moment_mapping": np.array(mapping, dtype=np.int32),
            "alpha_moments_count": n, "radial_funcs_count": max(b[0] for b in basic) + 1}


def untrained(level: int):
    """An untrained ``MTPData`` of `level` (species_count 1, no coefficients)."""
    from motep.potentials.mtp.data import BasisData, MTPData

    b = basis(level)
    return MTPData(
        version="1.1.0", potential_name=f"MTP1m_level{level}", scaling=1.0, species_count=1,
        radial_basis=BasisData(type="RBChebyshev", min=np.float64(MIN_DIST), max=np.float64(MAX_DIST),
                               size=RADIAL_BASIS_SIZE),
        radial_funcs_count=b["radial_funcs_count"], alpha_moments_count=b["alpha_moments_count"],
        alpha_index_basic_count=len(b["alpha_index_basic"]), alpha_index_basic=b["alpha_index_basic"],
        alpha_index_times_count=len(b["alpha_index_times"]), alpha_index_times=b["alpha_index_times"],
        alpha_scalar_moments=len(b["alpha_moment_mapping"]), alpha_moment_mapping=b["alpha_moment_mapping"])


def main() -> None:
    from motep.io.mlip.mtp import write_mtp

    here = Path(__file__).resolve().parent
    for level in (2, 4, 6, 8, 10):
        data = untrained(level)
        write_mtp(here / f"level{level:02d}.mtp", data, legacy=True)
        print(f"level {level:2d}: {data.alpha_scalar_moments:3d} basis functions, "
              f"{data.alpha_index_basic_count:3d} basic components, {data.alpha_moments_count:3d} moments, "
              f"{data.radial_funcs_count} radial functions")


if __name__ == "__main__":
    main()
