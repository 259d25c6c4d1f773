"""0 K properties of cubic cells on any ASE calculator: E-V curve, equilibrium lattice constant, C11/C12/C44.

Lattice constant: the cubic cell is scaled homogeneously (fractional coordinates fixed) over a range of
lattice constants, a Birch-Murnaghan equation of state (``ase.eos``) is fitted to E(V) and gives V0, E0 and
B; a = a_ref (V0 / V_ref)^(1/3). A coarse pass (± ``span``) is refined by a fine one around its minimum.

Elastic constants (cubic symmetry): the relaxed cell is strained by Voigt strains of both signs,
ε1 = ±e (uniaxial along x) and ε4 = γ_yz = ±e (engineering shear), the ions are relaxed in the strained
cell when the strain leaves forces on them, and the stress is fitted linearly against the strain:
C11 = dσ1/dε1, C12 = ½ (dσ2/dε1 + dσ3/dε1), C44 = dσ4/dε4. ASE's stress sign (positive = tensile) makes
σ = C ε directly. Results in GPa.
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
    """A copy of the cubic cell `atoms` with lattice constant `a` (fractional coordinates kept)."""
    out = atoms.copy()
    out.set_cell(np.eye(3) * a * (_repeats(atoms)), scale_atoms=True)
    return out


def _repeats(atoms: Atoms) -> float:
    """Cell edge / lattice constant (1 for a conventional cell; n for an n x n x n supercell)."""
    return float(atoms.info.get("repeat", 1))


def energy_volume(atoms: Atoms, calc, lattice: np.ndarray) -> list[float]:
    """Energies (eV per cell) of `atoms` scaled to each lattice constant in `lattice` (Å)."""
    out = []
    for a in lattice:
        x = scaled(atoms, float(a))
        x.calc = calc
        out.append(float(x.get_potential_energy()))
    return out


def equilibrium(atoms: Atoms, calc, a_guess: float | None = None, span: float = 0.06, points: int = 7,
                fine_span: float = 0.015) -> EosResult:
    """Equilibrium lattice constant and bulk modulus of the cubic cell `atoms` (see the module docstring).

    ``a_guess`` defaults to the cell's own lattice constant; ``span`` and ``fine_span`` are relative
    half-widths of the coarse and fine scans of ``points`` lattice constants each.
    """
    n_rep = _repeats(atoms)
    a0 = a_guess if a_guess is not None else _cubic_a(atoms) / n_rep
    lat = a0 * np.linspace(1 - span, 1 + span, points)
    en = energy_volume(atoms, calc, lat)
    if not np.all(np.isfinite(en)):
        raise ValueError(f"{atoms.get_chemical_formula()}: non-finite energy on the E-V scan")
    i = int(np.argmin(en))
    if i in (0, len(en) - 1):  # minimum at the edge: move the window once
        lat = lat[i] * np.linspace(1 - span, 1 + span, points)
        en = energy_volume(atoms, calc, lat)
        i = int(np.argmin(en))
        if i in (0, len(en) - 1):
            raise ValueError(f"{atoms.get_chemical_formula()}: no energy minimum between "
                             f"{lat[0]:.3f} and {lat[-1]:.3f} Å; the potential has no stable cubic cell here")
    fine = lat[i] * np.linspace(1 - fine_span, 1 + fine_span, points)
    en_f = energy_volume(atoms, calc, fine)
    vols = (fine * n_rep) ** 3
    v0, e0, b = EquationOfState(vols, en_f, eos="birchmurnaghan").fit()
    a = v0 ** (1.0 / 3.0) / n_rep
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
    relaxed = False
    if relax_fmax is not None and np.abs(atoms.get_forces()).max() > relax_fmax:
        from ase.optimize import FIRE

        FIRE(atoms, logfile=None).run(fmax=relax_fmax, steps=max_steps)
        relaxed = True
    return np.asarray(atoms.get_stress(voigt=True)) / units.GPa, relaxed


def elastic_cubic(atoms: Atoms, calc, strains: tuple[float, ...] = (0.005, 0.01), relax_fmax: float | None = 1e-3,
                  max_steps: int = 200) -> ElasticResult:
    """C11, C12, C44 (GPa) of the cubic cell `atoms`, taken at its given (equilibrium) lattice constant.

    Both signs of each strain in `strains` are applied. With ``relax_fmax`` the ions of a strained cell are
    relaxed (FIRE) when any force exceeds it (relaxed-ion constants; cells whose atoms all sit on inversion
    centres, such as FCC and L1₂, need no relaxation and get none).
    """
    es = sorted({s * e for e in strains for s in (-1.0, 1.0)})
    uni, shear, relaxed = [], [], False
    for e in es:
        s1, r1 = _stress(strain_cell(atoms, 0, e), calc, relax_fmax, max_steps)
        s4, r4 = _stress(strain_cell(atoms, 3, e), calc, relax_fmax, max_steps)
        uni.append(s1)
        shear.append(s4)
        relaxed = relaxed or r1 or r4
    x = np.array(es)
    uni_a, shear_a = np.array(uni), np.array(shear)
    c11 = np.polyfit(x, uni_a[:, 0], 1)[0]
    c12 = 0.5 * (np.polyfit(x, uni_a[:, 1], 1)[0] + np.polyfit(x, uni_a[:, 2], 1)[0])
    c44 = np.polyfit(x, shear_a[:, 3], 1)[0]
    return ElasticResult(c11=float(c11), c12=float(c12), c44=float(c44), strains=es,
                         stress_uniaxial=uni_a.tolist(), stress_shear=shear_a.tolist(), relaxed_ions=relaxed)
