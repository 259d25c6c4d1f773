"""0 K properties of cubic cells on any ASE calculator: E-V curve, equilibrium lattice constant, C11/C12/C44.

Lattice constant: the cubic cell is scaled homogeneously (fractional coordinates fixed) over a range of
lattice constants, a Birch-Murnaghan equation of state (``ase.eos``) is fitted to E(V) and gives V0, E0 and
B; a = a_ref (V0 / V_ref)^(1/3). A coarse pass (± ``span``) is refined by a fine one around its minimum.
A cell whose atoms feel forces at fixed fractions (a random solid solution such as the γ cell) has its ions
relaxed at each volume (``relax_fmax``; the cell is kept): E(V) is then the relaxed-ion curve, its minimum
lower than the unrelaxed one, and B the relaxed-ion bulk modulus.

Elastic constants (cubic symmetry): the relaxed cell is strained by Voigt strains of both signs,
ε1 = ±e (uniaxial along x) and ε4 = γ_yz = ±e (engineering shear), the ions are relaxed in the strained
cell when the strain leaves forces on them, and the stress is fitted linearly against the strain:
C11 = dσ1/dε1, C12 = ½ (dσ2/dε1 + dσ3/dε1), C44 = dσ4/dε4. ASE's stress sign (positive = tensile) makes
σ = C ε directly. Results in GPa.

The scan and the fits (:func:`scan_equilibrium`, :func:`fit_elastic`) take energies and stresses from
whoever computes them: an ASE calculator here, single-point label jobs for external DFT oracles
(:mod:`heal.validate.external`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
from ase import Atoms, units
from ase.eos import EquationOfState

#: Voigt index -> (i, j) of the symmetric tensor
VOIGT = ((0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1))


@dataclass
class EosResult:
    """An E-V curve and its fit. Energies eV per cell, volumes Å^3 per cell."""

    a: float  # Å, equilibrium lattice constant of the cubic cell
    volume: float  # Å^3 per cell at equilibrium
    energy: float  # eV per cell at equilibrium
    bulk_modulus: float  # GPa
    n_atoms: int
    lattice: list[float] = field(default_factory=list)  # Å, the sampled lattice constants
    energies: list[float] = field(default_factory=list)  # eV per cell
    relaxed_ions: bool = False  # the ions were relaxed at some volume
    max_force: float = 0.0  # eV/Å, the largest force left on an atom over the scan

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class ElasticResult:
    """Cubic elastic constants (GPa) and the raw strain-stress samples they were fitted from."""

    c11: float
    c12: float
    c44: float
    strains: list[float] = field(default_factory=list)
    #: per strain: Voigt stress (GPa) of the uniaxial and of the shear deformation
    stress_uniaxial: list[list[float]] = field(default_factory=list)
    stress_shear: list[list[float]] = field(default_factory=list)
    relaxed_ions: bool = False

    @property
    def bulk_modulus(self) -> float:
        return (self.c11 + 2.0 * self.c12) / 3.0

    def to_dict(self) -> dict:
        return {**asdict(self), "bulk_modulus": self.bulk_modulus}


def _cubic_a(atoms: Atoms) -> float:
    cell = atoms.cell.array
    if not np.allclose(cell, np.diag(np.diag(cell)), atol=1e-8) or not np.allclose(np.diag(cell), cell[0, 0]):
        raise ValueError(f"{atoms.get_chemical_formula()}: the validation cell is not cubic (cell {np.diag(cell)})")
    return float(cell[0, 0])


def scaled(atoms: Atoms, a: float) -> Atoms:
    """A copy of the cell `atoms` with lattice constant `a` (fractional coordinates kept): a cubic cell
    (``info["repeat"]`` conventional cells per edge), or any cell whose ``info["a"]`` names its lattice
    constant (e.g. the 1-atom primitive FCC cell), scaled homogeneously."""
    out = atoms.copy()
    if "a" in atoms.info:
        out.set_cell(atoms.cell.array * (a / float(atoms.info["a"])), scale_atoms=True)
        out.info["a"] = float(a)
        return out
    out.set_cell(np.eye(3) * a * (_repeats(atoms)), scale_atoms=True)
    return out


def lattice_of(atoms: Atoms) -> float:
    """The lattice constant of a cell :func:`scaled` can scale (Å)."""
    return float(atoms.info["a"]) if "a" in atoms.info else _cubic_a(atoms) / _repeats(atoms)


def _repeats(atoms: Atoms) -> float:
    """Cell edge / lattice constant (1 for a conventional cell; n for an n x n x n supercell)."""
    return float(atoms.info.get("repeat", 1))


def relax_ions(atoms: Atoms, calc, fmax: float, max_steps: int = 200, d_min: float | None = None) -> bool:
    """Relax the ions of `atoms` in its fixed cell (L-BFGS) until every force is below `fmax` eV/Å (at most
    `max_steps` steps); False (and no step) when no force exceeds it already.

    ValueError when two atoms come closer than `d_min` (Å) on the way: the potential lets the cell collapse.
    """
    atoms.calc = calc
    if largest_force(atoms) <= fmax:
        return False
    from ase.optimize import LBFGS

    from heal.validate.md import min_distance

    for _ in LBFGS(atoms, logfile=None).irun(fmax=fmax, steps=max_steps):
        if d_min is not None and (d := min_distance(atoms, cutoff=d_min + 0.1)) < d_min:
            raise ValueError(f"{atoms.get_chemical_formula()}: the ions collapse when relaxed (shortest distance "
                             f"{d:.2f} Å < {d_min} Å); the potential has no stable cell here")
    return True


def largest_force(atoms: Atoms) -> float:
    """The largest force on an atom of `atoms` (its calculator's or its stored forces), eV/Å."""
    return float(np.linalg.norm(atoms.get_forces(), axis=1).max())


def energy_volume(atoms: Atoms, calc, lattice: np.ndarray, relax_fmax: float | None = None,
                  max_steps: int = 200, info: dict | None = None, d_min: float | None = None) -> list[float]:
    """Energies (eV per cell) of `atoms` scaled to each lattice constant in `lattice` (Å).

    With ``relax_fmax`` the ions are relaxed at each lattice constant (fixed cell, see :func:`relax_ions`),
    each relaxation starting from the previous one's fractional coordinates; `info` (if given) gets
    ``relaxed`` and ``max_force`` (the largest force left, eV/Å: above ``relax_fmax`` when a relaxation
    ran out of steps).
    """
    out = []
    frac = None
    for a in lattice:
        x = scaled(atoms, float(a))
        if frac is not None:
            x.set_scaled_positions(frac)
        x.calc = calc
        if relax_fmax is not None:
            moved = relax_ions(x, calc, relax_fmax, max_steps, d_min)
            frac = x.get_scaled_positions(wrap=False)
            if info is not None:
                info["relaxed"] = info.get("relaxed", False) or moved
                info["max_force"] = max(info.get("max_force", 0.0), largest_force(x))
        out.append(float(x.get_potential_energy()))
    return out


def equilibrium(atoms: Atoms, calc, a_guess: float | None = None, span: float = 0.06, points: int = 7,
                fine_span: float = 0.015, relax_fmax: float | None = None, max_steps: int = 200,
                d_min: float | None = None) -> EosResult:
    """Equilibrium lattice constant and bulk modulus of the cubic cell `atoms` (see the module docstring).

    ``a_guess`` defaults to the cell's own lattice constant; ``span`` and ``fine_span`` are relative
    half-widths of the coarse and fine scans of ``points`` lattice constants each; ``relax_fmax`` (eV/Å):
    relax the ions at each lattice constant (None: fractional coordinates fixed) in at most ``max_steps``
    steps; ValueError when they come closer than ``d_min`` Å.
    """
    info: dict = {}
    kw = {"relax_fmax": relax_fmax, "max_steps": max_steps, "info": info, "d_min": d_min}
    eos = scan_equilibrium(atoms, lambda lat: energy_volume(atoms, calc, lat, **kw), a_guess, span, points,
                           fine_span)
    eos.relaxed_ions = bool(info.get("relaxed", False))
    eos.max_force = float(info.get("max_force", 0.0))
    return eos


def scan_equilibrium(atoms: Atoms, energies_of, a_guess: float | None = None, span: float = 0.06,
                     points: int = 7, fine_span: float = 0.015) -> EosResult:
    """The E-V scan and fit of :func:`equilibrium`, whoever computes the energies: ``energies_of(lattice)``
    gives the energies (eV per cell) of `atoms` scaled (:func:`scaled`) to each lattice constant of the array
    (one call per scan: coarse, a moved window when the minimum is at its edge, fine)."""
    a0 = a_guess if a_guess is not None else lattice_of(atoms)
    per_a3 = scaled(atoms, 1.0).get_volume()  # cell volume / a^3
    lat = a0 * np.linspace(1 - span, 1 + span, points)
    en = list(energies_of(lat))
    if not np.all(np.isfinite(en)):
        raise ValueError(f"{atoms.get_chemical_formula()}: non-finite energy on the E-V scan")
    i = int(np.argmin(en))
    if i in (0, len(en) - 1):  # minimum at the edge: move the window once
        lat = lat[i] * np.linspace(1 - span, 1 + span, points)
        en = list(energies_of(lat))
        i = int(np.argmin(en))
        if i in (0, len(en) - 1):
            raise ValueError(f"{atoms.get_chemical_formula()}: no energy minimum between "
                             f"{lat[0]:.3f} and {lat[-1]:.3f} Å; the potential has no stable cubic cell here")
    fine = lat[i] * np.linspace(1 - fine_span, 1 + fine_span, points)
    en_f = list(energies_of(fine))
    vols = fine ** 3 * per_a3
    v0, e0, b = EquationOfState(vols, en_f, eos="birchmurnaghan").fit()
    a = (v0 / per_a3) ** (1.0 / 3.0)
    lattice = np.concatenate([lat, fine])
    energies = np.concatenate([en, en_f])
    order = np.argsort(lattice)
    return EosResult(a=float(a), volume=float(v0), energy=float(e0), bulk_modulus=float(b / units.GPa),
                     n_atoms=len(atoms), lattice=lattice[order].tolist(), energies=energies[order].tolist())


def strain_cell(atoms: Atoms, voigt: int, e: float) -> Atoms:
    """`atoms` under the Voigt strain component `voigt` (0-5) of size `e` (engineering shear for 3-5)."""
    eps = np.zeros((3, 3))
    i, j = VOIGT[voigt]
    if i == j:
        eps[i, i] = e
    else:
        eps[i, j] = eps[j, i] = e / 2.0
    out = atoms.copy()
    out.set_cell(atoms.cell.array @ (np.eye(3) + eps), scale_atoms=True)
    return out


def _stress(atoms: Atoms, calc, relax_fmax: float | None, max_steps: int) -> tuple[np.ndarray, bool]:
    atoms.calc = calc
    relaxed = relax_fmax is not None and relax_ions(atoms, calc, relax_fmax, max_steps)
    return np.asarray(atoms.get_stress(voigt=True)) / units.GPa, relaxed


def elastic_cubic(atoms: Atoms, calc, strains: tuple[float, ...] = (0.005, 0.01), relax_fmax: float | None = 1e-3,
                  max_steps: int = 200) -> ElasticResult:
    """C11, C12, C44 (GPa) of the cubic cell `atoms`, taken at its given (equilibrium) lattice constant.

    Both signs of each strain in `strains` are applied. With ``relax_fmax`` the ions of a strained cell are
    relaxed (L-BFGS) when any force exceeds it (relaxed-ion constants; cells whose atoms all sit on inversion
    centres, such as FCC and L1₂, need no relaxation and get none).
    """
    es = signed_strains(strains)
    uni, shear, relaxed = [], [], False
    for e in es:
        s1, r1 = _stress(strain_cell(atoms, 0, e), calc, relax_fmax, max_steps)
        s4, r4 = _stress(strain_cell(atoms, 3, e), calc, relax_fmax, max_steps)
        uni.append(s1)
        shear.append(s4)
        relaxed = relaxed or r1 or r4
    return fit_elastic(es, uni, shear, relaxed)


def signed_strains(strains) -> list[float]:
    """Both signs of each strain, in increasing order: the strains of the elastic fit."""
    return sorted({s * e for e in strains for s in (-1.0, 1.0)})


def fit_elastic(es: list[float], uni, shear, relaxed: bool = False) -> ElasticResult:
    """C11, C12, C44 from the Voigt stresses (GPa) of the uniaxial (ε1 = e) and shear (ε4 = e) cells at
    each strain e of `es` (linear fits, see the module docstring); whoever computed the stresses."""
    x = np.array(es)
    uni_a, shear_a = np.array(uni, dtype=float), np.array(shear, dtype=float)
    c11 = np.polyfit(x, uni_a[:, 0], 1)[0]
    c12 = 0.5 * (np.polyfit(x, uni_a[:, 1], 1)[0] + np.polyfit(x, uni_a[:, 2], 1)[0])
    c44 = np.polyfit(x, shear_a[:, 3], 1)[0]
    return ElasticResult(c11=float(c11), c12=float(c12), c44=float(c44), strains=list(es),
                         stress_uniaxial=uni_a.tolist(), stress_shear=shear_a.tolist(), relaxed_ions=relaxed)
