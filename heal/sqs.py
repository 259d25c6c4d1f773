"""Special quasirandom structure (SQS) decoration of a seed supercell, with icet.

An SQS is the occupation of a fixed supercell whose pair correlations come closest to those of an
infinite random alloy of the same composition (Zunger et al., Phys. Rev. Lett. 65, 353 (1990)). heal uses
icet's simulated annealing on the *given* supercell (``generate_sqs_from_supercells``), so the cell shape
and the exact integer counts chosen by :mod:`heal.systems` are kept.

Choices (lengths in Å):

- Cluster space: pairs only, out to :data:`PAIR_CUTOFF_NN` times the phase's nearest-neighbour distance
  (three neighbour shells in FCC and BCC, four in ideal HCP). Triplets multiply the cost ~6x for the
  10-element HEA10 and are left out.
- Annealing: :data:`SQS_STEPS` Monte Carlo swaps (icet's own default for one supercell), cooled
  exponentially from :data:`SQS_T_START` (icet's default 5 is so hot that most of a short run is a random
  walk: measured on FCC 108-atom HEA4 cells, objective 0.05 with T_start 0.1 vs 0.11-0.15 with 5 and 0.24-0.30
  for a shuffle). Measured on 2 cores: ~0.5-1.5 s per 54-108-atom cell for HEA4 and HEA10.
- Deterministic: icet is given an integer seed drawn from heal's seeded generator.

The thesis behind heal (Mou 2023, MSc thesis, Missouri State University) randomised the transition metals
over the lattice sites; an SQS is the best-controlled version of that randomness for a small cell.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping

import numpy as np
from ase import Atoms

#: Monte Carlo swap trials per SQS cell (cost ~0.3 ms per trial for HEA10 on this machine)
SQS_STEPS = 3000
#: start temperature of the annealing (units of icet's objective, an L1 cluster-vector distance)
SQS_T_START = 0.1
#: pair cutoff in units of the nearest-neighbour distance of the phase
PAIR_CUTOFF_NN = 1.8


def _cluster_space(supercell: Atoms, species: list[str], nn_distance: float):
    from icet import ClusterSpace

    # Built on the supercell itself: icet reduces it to its primitive cell, and the supercell's sites are
    # then guaranteed to map onto that primitive cell (an independently built primitive may be shifted).
    return ClusterSpace(supercell, [PAIR_CUTOFF_NN * nn_distance], [list(species)] * len(supercell))


def _target(counts: Mapping[str, int]) -> tuple[list[str], dict[str, float]]:
    n = sum(counts.values())
    species = [el for el, c in counts.items() if c > 0]
    return species, {el: counts[el] / n for el in species}


def sqs_symbols(supercell: Atoms, counts: Mapping[str, int], nn_distance: float, seed: int,
                n_steps: int = SQS_STEPS) -> list[str]:
    """Chemical symbols (in the supercell's site order) of an SQS with exactly ``counts`` atoms per element.

    ``supercell``: the lattice to decorate (its symbols are ignored); ``nn_distance``: its nearest-neighbour
    distance (Å), which sets the pair cutoff; ``seed``: integer seed of the annealing.
    """
    n = sum(counts.values())
    if n != len(supercell):
        raise ValueError(f"counts sum to {n} but the supercell has {len(supercell)} sites")
    species, conc = _target(counts)
    if len(species) == 1:
        return [species[0]] * n
    from icet.tools.structure_generation import generate_sqs_from_supercells

    cell = supercell.copy()
    cell.set_chemical_symbols([species[0]] * n)
    with warnings.catch_warnings():  # spglib (under icet) warns about its own error handling
        warnings.simplefilter("ignore", DeprecationWarning)
        cs = _cluster_space(cell, species, nn_distance)
        out = generate_sqs_from_supercells(cs, [cell], conc, n_steps=n_steps, random_seed=int(seed),
                                           T_start=SQS_T_START)
    if len(out) != n or not np.allclose(out.positions, cell.positions, atol=1e-6):
        raise RuntimeError("icet returned an SQS whose sites differ from the supercell's; cannot map symbols")
    symbols = out.get_chemical_symbols()
    got = {el: symbols.count(el) for el in species}
    if any(got[el] != counts[el] for el in species):
        raise RuntimeError(f"icet SQS has counts {got}, expected {dict(counts)}")
    return symbols


def sqs_mismatch(atoms: Atoms, nn_distance: float) -> float:
    """Distance of ``atoms``' pair correlations from those of the infinite random alloy (0 = perfect).

    L1 norm of the pair part of the cluster-vector difference in the cluster space of :func:`sqs_symbols`
    (icet's annealing objective without its bonus for perfectly matched shells). A diagnostic: an SQS should
    score well below a shuffled decoration.
    """
    from icet.tools.structure_generation import _get_sqs_cluster_vector  # icet 3/4 helper

    symbols = atoms.get_chemical_symbols()
    counts = {el: symbols.count(el) for el in dict.fromkeys(symbols)}
    species, conc = _target(counts)
    if len(species) == 1:
        return 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        cs = _cluster_space(atoms, species, nn_distance)
        cv = np.asarray(cs.get_cluster_vector(atoms))
    target = np.asarray(_get_sqs_cluster_vector(cs, conc))
    pairs = [i for i, orbit in enumerate(cs.as_list) if orbit["order"] >= 2]
    return float(np.abs(cv[pairs] - target[pairs]).sum())
