"""Universal teacher: CHGNet, a pretrained universal potential whose wheel ships its weights (offline).

CHGNet (Deng et al., Nat. Mach. Intell. 5, 1031 (2023)) was trained on the Materials Project trajectories
and covers all ten HEA10 elements (Cr W Mo C Ni Co Fe Al Ti Nb), so it is the teacher for HEA7 / HEA10
where the MEAM has no parameters. It runs in-process on the CPU build of torch; the model is loaded
once per labeler (~3 s). Measured on 2 cores: ~0.2 s per 32-atom label, ~0.8 s per 108-atom label.

Units: energy eV (total, not per atom), forces eV/Å, stress eV/Å^3 with ASE's sign (positive =
tensile; CHGNet's GPa output is converted with ``ase.units.GPa``).

params: ``model`` — a CHGNet version shipped in the wheel: ``0.3.0`` (default), ``0.2.0`` or ``r2scan``.
The prepare -> execute -> parse shape is kept: ``input.extxyz`` in, ``universal.json`` out.
"""

from __future__ import annotations

import threading
import warnings
from typing import Any, ClassVar

import numpy as np
from ase import Atoms

from heal.errors import ConfigError, FatalError, SetupError
from heal.label.results import InProcessLabeler

OUTPUT = "universal.json"
MODELS = ("0.3.0", "0.2.0", "r2scan")
#: CHGNet's atom embedding covers Z = 1..94
MAX_Z = 94


class UniversalLabeler(InProcessLabeler):
    """Labels frames with CHGNet (``label.oracle: universal``)."""

    name: ClassVar[str] = "universal"
    #: any element up to Pu (Z 94) — in particular all HEA10 elements
    elements: ClassVar[tuple[str, ...] | None] = None
    output = OUTPUT
    what = "universal-potential"

    def __init__(self, params: dict[str, Any] | None = None) -> None:
        params = dict(params or {})
        self.params = dict(params)
        unknown = set(params) - {"model"}
        if unknown:
            raise ConfigError(f"field 'label.params': unknown universal-potential parameter(s) {sorted(unknown)}; "
                              f"allowed: model ({', '.join(MODELS)})")
        self.model_name = str(params.get("model", "0.3.0"))
        if self.model_name not in MODELS:
            raise ConfigError(f"field 'label.params.model': {self.model_name!r} is not a CHGNet model shipped "
                              f"in the chgnet wheel; use one of {list(MODELS)}")
        self._model = None
        self._lock = threading.Lock()

    def _load(self):
        if self._model is None:
            try:
                from chgnet.model import CHGNet
            except ImportError as exc:
                raise SetupError(f"the universal teacher needs chgnet ({exc}); install it with "
                                 f"'pip install torch==2.13.0 chgnet' (CPU torch first)") from None
            self._model = CHGNet.load(model_name=self.model_name, use_device="cpu", verbose=False)
        return self._model

    def check_frame(self, atoms: Atoms) -> None:
        too_heavy = sorted({s for s, z in zip(atoms.get_chemical_symbols(), atoms.numbers) if z > MAX_Z})
        if too_heavy:
            raise FatalError(f"CHGNet has no embedding for {', '.join(too_heavy)} (Z > {MAX_Z})")

    def result_meta(self) -> dict:
        return {"model": f"chgnet-{self.model_name}"}

    def compute(self, atoms: Atoms) -> tuple[float, np.ndarray, np.ndarray]:
        """Energy (eV), forces (eV/Å), stress (eV/Å^3, Voigt xx yy zz yz xz xy) of a periodic frame."""
        from ase import units

        if not all(atoms.pbc):
            raise FatalError("the universal labeler needs a fully periodic cell (pbc = True, True, True)")
        with self._lock:
            model = self._load()
            from pymatgen.io.ase import AseAtomsAdaptor

            structure = AseAtomsAdaptor.get_structure(atoms)
            try:
                with warnings.catch_warnings():  # chgnet's own "tensor.detach()" UserWarning, every call
                    warnings.simplefilter("ignore", UserWarning)
                    pred = model.predict_structure(structure, task="efs")
            except Exception as exc:  # torch / graph errors on this structure will recur
                raise FatalError(f"CHGNet failed on this frame: {type(exc).__name__}: {exc}") from None
        # CHGNet: e in eV/atom (an intensive model), f in eV/Å, s in GPa with s = (1/V) dE/dstrain (ASE sign)
        energy = float(pred["e"]) * (len(atoms) if model.is_intensive else 1)
        forces = np.asarray(pred["f"], dtype=float).reshape(len(atoms), 3)
        s = np.asarray(pred["s"], dtype=float).reshape(3, 3) * units.GPa
        stress = np.array([s[0, 0], s[1, 1], s[2, 2], s[1, 2], s[0, 2], s[0, 1]])
        return energy, forces, stress

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_model"], state["_lock"] = None, None
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._lock = threading.Lock()
