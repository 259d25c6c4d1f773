"""HEA seed structures: FCC / BCC / HCP supercells and random "melt" cells, decorated with exact counts.

Units: lengths Å, volumes Å^3 per atom. Defaults follow the thesis behind heal (M. M. Mou, *Machine Learning
Strategies for Potential Development in High-Entropy Driven Nickel-Based Superalloys*, MSc thesis, Missouri
State University, 2023): FCC, BCC, HCP and random/melt starting cells of 50-120 atoms (the large cells
>= 108 atoms, e.g. FCC 3x3x3 = 108), lattices scaled 0.95-1.2, transition metals randomised over the sites.

**Volume (Vegard's law on the volume per atom).** The cell's volume per atom is the count-weighted mean of
the elements' reference atomic volumes, ``v = sum_i n_i v_i / N``, using the cell's exact counts. The
reference volumes (:data:`heal.composition.REFERENCE_STATES`) are the room-temperature elemental crystals tabulated by
Ashcroft & Mermin, *Solid State Physics* (1976), as shipped in ``ase.data.reference_states``, converted to
volume per atom (fcc a^3/4, bcc a^3/2, hcp sqrt(3)/4 a^2 c, diamond a^3/8). Carbon uses diamond
(5.69 Å^3/atom); that small volume is close to carbon's apparent volume in carbides (Cr23C6: a = 10.66 Å,
92 Cr + 24 C; subtracting 92 x 11.94 Å^3 for Cr leaves ~4.5 Å^3 per C). Like the thesis' AIMD cells, heal
places C on lattice sites like the metals. Elements outside the table use their ASE reference state when it
is fcc/bcc/hcp/diamond/sc, else ``4 sqrt(2) r_cov^3`` (touching spheres of covalent radius r_cov packed fcc).

**Lattice constants from v** (scale 1): FCC ``a = (4v)^(1/3)``, BCC ``a = (2v)^(1/3)``, HCP with the ideal
``c/a = sqrt(8/3)``: ``a = (sqrt(2) v)^(1/3)``. ``seeds.scales`` is a *linear* scale: it multiplies the
lattice constants (and the melt box edge), so the volume changes by scale^3. For equiatomic HEA4 this gives
FCC a = 3.70 Å, 3-4 % above the thesis's NPT 3.55-3.59 Å at 300-600 K (Al's elemental volume overstates
its volume in Ni alloys); the 0.95 scale (3.51 Å) brackets the measured value.

**Cells.** Diagonal repetitions of the conventional cells (FCC cubic 4 atoms, BCC cubic 2 atoms, HCP
orthohexagonal 4 atoms a x sqrt(3)a x c) with ``seeds.min_atoms <= N <= seeds.max_atoms`` and longest/shortest
edge <= :data:`MAX_ANISOTROPY`; the most cubic one wins, ties go to more atoms (defaults: FCC 3x3x3 = 108,
BCC 3x3x3 = 54, HCP 4x2x2 = 64). Melt cells are cubic boxes of :data:`MELT_ATOMS` atoms (clamped to the
range) at the mixed density: uniform random positions, then overlapping pairs pushed apart until no pair is
closer than :data:`MELT_DMIN_FRACTION` x the FCC nearest-neighbour distance at the same density.

**Counts (largest-remainder rounding).** Element i gets ``floor(x_i N)`` atoms; the atoms still missing go
one each to the largest remainders ``x_i N - floor(x_i N)``, ties broken by the type-map order. Counts sum to N
and differ from ``x_i N`` by less than 1.

**Decoration.** ``random``: the count list shuffled over the sites; ``sqs``: icet special quasirandom
structure on the chosen supercell (:mod:`heal.sqs`); melt cells are always random. One decorated structure is
made per (phase, replica) and scaled to every scale, so the scales differ only in volume. Every random
choice comes from ``numpy`` generators seeded by (``seeds.seed``, phase, replica): the same config gives
byte-identical files.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.build import bulk

from heal import progress
from heal.composition import exact_counts, lattice_constant, mixed_volume, nn_distance
from heal.config import CampaignConfig
from heal.errors import ConfigError
from heal.fsutil import atomic_write_text, atomic_write_with
from heal.frames import min_distance

#: solid solutions and melt, then the ordered phases of :mod:`heal.ordered` (γ′ L1₂, M₂₃C₆ carbide)
PHASES = ("fcc", "bcc", "hcp", "melt", "l12", "m23c6")
_PHASE_ID = {p: i for i, p in enumerate(PHASES)}
#: largest allowed ratio of the longest to the shortest supercell edge
MAX_ANISOTROPY = 2.0
#: atoms in a melt cell (thesis: large cells >= 108 atoms), clamped to [min_atoms, max_atoms]
MELT_ATOMS = 108
#: melt cells: no pair closer than this fraction of the FCC nearest-neighbour distance at the same density
MELT_DMIN_FRACTION = 0.8
_HCP_COA = math.sqrt(8.0 / 3.0)
# conventional cell: atoms, edge lengths in units of a
_CONVENTIONAL = {"fcc": (4, (1.0, 1.0, 1.0)), "bcc": (2, (1.0, 1.0, 1.0)),
                 "hcp": (4, (1.0, math.sqrt(3.0), _HCP_COA))}
_MAX_REPEAT = 12


@dataclass
class Seed:
    """One seed structure: ``atoms`` (Å) with ``info`` keys phase, scale, replica, name, a."""

    atoms: Atoms
    phase: str
    scale: float
    replica: int
    name: str

    @property
    def composition(self) -> str:
        """Atom counts in type-map order, elements with 0 atoms left out, e.g. ``Ni27Co27Cr27Al27``."""
        return self.atoms.info.get("composition") or _formula(self.atoms.get_chemical_symbols())

    @property
    def a(self) -> float:
        """Lattice constant (Å) at this scale; for melt cells the FCC-equivalent one at the same density."""
        return float(self.atoms.info["a"])


def _formula(symbols: list[str], order: list[str] | None = None) -> str:
    order = order or list(dict.fromkeys(symbols))
    return "".join(f"{el}{symbols.count(el)}" for el in order if symbols.count(el))


def cell_candidates(phase: str, min_atoms: int, max_atoms: int) -> list[tuple[int, int, int]]:
    """Admissible repetitions of the conventional cell, best first (most cubic, then more atoms)."""
    per_cell, edges = _CONVENTIONAL[phase]
    found = []
    rng = range(1, _MAX_REPEAT + 1)
    for reps in ((i, j, k) for i in rng for j in rng for k in rng):
        n = per_cell * reps[0] * reps[1] * reps[2]
        if not min_atoms <= n <= max_atoms:
            continue
        lengths = [r * e for r, e in zip(reps, edges)]
        aniso = max(lengths) / min(lengths)
        if aniso <= MAX_ANISOTROPY + 1e-9:
            found.append((round(aniso, 6), -n, reps))
    return [reps for _, _, reps in sorted(found)]


def _no_cell_error(cfg: CampaignConfig, phase: str) -> ConfigError:
    s = cfg.seeds
    per_cell, _ = _CONVENTIONAL[phase]
    sizes = sorted({per_cell * r[0] * r[1] * r[2] for r in cell_candidates(phase, 1, 100_000)})
    below = [n for n in sizes if n < s.min_atoms][-2:]
    above = [n for n in sizes if n > s.max_atoms][:2]
    src = f"{cfg.source}: " if cfg.source else ""
    return ConfigError(
        f"{src}field 'seeds.min_atoms/max_atoms': no near-cubic {phase} supercell has {s.min_atoms}-"
        f"{s.max_atoms} atoms (nearest sizes: {', '.join(map(str, below + above))}); widen "
        f"seeds.min_atoms/max_atoms to include one (thesis default 50-120) or remove '{phase}' from seeds.phases")


def _rng(seed: int, phase: str, replica: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed % 2**63, _PHASE_ID[phase], replica]))


def _crystal(phase: str, a: float, reps: tuple[int, int, int], placeholder: str) -> Atoms:
    if phase == "hcp":
        unit = bulk(placeholder, "hcp", a=a, c=_HCP_COA * a, orthorhombic=True)
    else:
        unit = bulk(placeholder, phase, a=a, cubic=True)
    atoms = unit.repeat(reps)
    atoms.set_initial_magnetic_moments(None)  # ase.build sets the placeholder's moment (e.g. 0.6 for Ni)
    return atoms


def _melt_positions(n: int, box: float, d_min: float, rng: np.random.Generator,
                    max_iter: int = 5000) -> np.ndarray:
    """Random positions in a cubic box (Å) with no pair closer than d_min: uniform draw, then push-apart."""
    pos = rng.uniform(0.0, box, size=(n, 3))
    target = 1.02 * d_min
    for _ in range(max_iter):
        d = pos[:, None, :] - pos[None, :, :]
        d -= box * np.round(d / box)
        r = np.linalg.norm(d, axis=-1)
        np.fill_diagonal(r, np.inf)
        if r.min() >= d_min:
            return pos
        overlap = np.clip(target - r, 0.0, None) / np.maximum(r, 1e-9)
        pos = (pos + 0.5 * np.einsum("ij,ijk->ik", overlap, d)) % box
    raise RuntimeError(f"could not place {n} atoms {d_min:.3f} Å apart in a {box:.3f} Å box")


def _structure(cfg: CampaignConfig, phase: str, replica: int) -> Atoms:
    """The decorated scale-1 structure of (phase, replica); info['a'] is its lattice constant (Å)."""
    from heal import ordered

    s = cfg.seeds
    # carbon only ever on carbide sites: the solid solutions and the melt take the metals
    comp = ordered.metal_composition(dict(cfg.system.composition or {}))
    rng = _rng(s.seed, phase, replica)
    if phase in ("l12", "m23c6"):
        if phase == "m23c6":
            atoms = ordered.carbide(dict(cfg.system.composition or {}), s.max_atoms, s.substitution, rng)
        else:
            cands = cell_candidates("fcc", s.min_atoms, s.max_atoms)
            if not cands:
                raise _no_cell_error(cfg, "fcc")
            atoms = ordered.gamma_prime(comp, cands[0], s.substitution, rng)
        atoms.info["composition"] = _formula(atoms.get_chemical_symbols(), list(cfg.system.composition or {}))
        return atoms
    if phase == "melt":
        n = min(max(MELT_ATOMS, s.min_atoms), s.max_atoms)
        counts = exact_counts(comp, n)
        v = mixed_volume(counts)
        a = lattice_constant("melt", v)
        box = (n * v) ** (1.0 / 3.0)
        pos = _melt_positions(n, box, MELT_DMIN_FRACTION * nn_distance("fcc", a), rng)
        atoms = Atoms(symbols=[next(iter(counts))] * n, positions=pos, cell=[box] * 3, pbc=True)
        symbols = _shuffled(counts, rng)
    else:
        cands = cell_candidates(phase, s.min_atoms, s.max_atoms)
        if not cands:
            raise _no_cell_error(cfg, phase)
        reps = cands[0]
        n = _CONVENTIONAL[phase][0] * reps[0] * reps[1] * reps[2]
        counts = exact_counts(comp, n)
        a = lattice_constant(phase, mixed_volume(counts))
        atoms = _crystal(phase, a, reps, next(iter(counts)))
        if s.decoration == "sqs":
            from heal.sqs import sqs_symbols

            symbols = sqs_symbols(atoms, counts, nn_distance(phase, a), int(rng.integers(2**31 - 1)))
        else:
            symbols = _shuffled(counts, rng)
    atoms.set_chemical_symbols(symbols)
    atoms.info["a"] = a
    atoms.info["composition"] = _formula(symbols, list(comp))
    return atoms


def _shuffled(counts: dict[str, int], rng: np.random.Generator) -> list[str]:
    symbols = [el for el, c in counts.items() for _ in range(c)]
    return [symbols[i] for i in rng.permutation(len(symbols))]


def generate_seeds(cfg: CampaignConfig) -> list[Seed]:
    """All seed structures of a campaign: phases x replicas x scales (``cfg.seeds``), in that order.

    Raises ConfigError (naming ``seeds.min_atoms/max_atoms``) when no supercell of a phase fits the range.
    Repeated scales are generated once.
    """
    s = cfg.seeds
    scales = list(dict.fromkeys(float(x) for x in s.scales))
    seeds: list[Seed] = []
    todo = [(phase, replica) for phase in dict.fromkeys(s.phases) for replica in range(s.replicas)]
    for phase, replica in progress.counted(todo, len(todo), f"seed structures ({len(todo)} cells, SQS)"):
        base = _structure(cfg, phase, replica)
        for scale in scales:
            atoms = base.copy()
            atoms.set_cell(base.cell.array * scale, scale_atoms=True)
            atoms.wrap()
            name = f"{phase}_s{scale:.3f}_r{replica}"
            atoms.info = {"name": name, "phase": phase, "scale": scale, "replica": replica,
                          "a": base.info["a"] * scale, "composition": base.info["composition"]}
            seeds.append(Seed(atoms=atoms, phase=phase, scale=scale, replica=replica, name=name))
    return seeds


SUMMARY_COLUMNS = ("name", "phase", "atoms", "composition", "scale", "a (Å)", "d_min (Å)")


def summary_rows(seeds: list[Seed]) -> list[tuple[str, ...]]:
    """One row of strings per seed, columns :data:`SUMMARY_COLUMNS` (a, d_min in Å)."""
    return [(sd.name, sd.phase, str(len(sd.atoms)), sd.composition, f"{sd.scale:.3f}", f"{sd.a:.4f}",
             f"{min_distance(sd.atoms):.4f}") for sd in seeds]


def write_seed_set(seeds: list[Seed], out_dir: str | Path) -> Path:
    """Write ``seeds.extxyz`` and ``summary.tsv`` (UTF-8, tab-separated) into out_dir; return out_dir.

    Each file is written to a temporary name and renamed, so a reader never sees a partial file.
    """
    from ase.io import write as ase_write

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    frames = []
    for sd in seeds:
        atoms = sd.atoms.copy()
        atoms.info = {"name": sd.name, "phase": sd.phase, "scale": float(sd.scale), "replica": int(sd.replica),
                      "a": float(sd.a), "composition": sd.composition}
        frames.append(atoms)
    atomic_write_with(out / "seeds.extxyz", lambda p: ase_write(p, frames, format="extxyz"))
    lines = ["\t".join(SUMMARY_COLUMNS)] + ["\t".join(r) for r in summary_rows(seeds)]
    atomic_write_text(out / "summary.tsv", "\n".join(lines) + "\n")
    return out


def read_seed_set(directory: str | Path) -> list[Seed]:
    """Read the seeds written by :func:`write_seed_set` from ``directory/seeds.extxyz``."""
    from ase.io import read as ase_read

    path = Path(directory) / "seeds.extxyz"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no seed set here; write one with `heal seeds FILE --out DIR`")
    seeds = []
    for atoms in ase_read(path, index=":", format="extxyz"):
        info = atoms.info
        atoms.calc = None
        seeds.append(Seed(atoms=atoms, phase=str(info["phase"]), scale=float(info["scale"]),
                          replica=int(info["replica"]), name=str(info["name"])))
    return seeds
