"""DP-GEN ``fp_style: custom`` labeling script: one POSCAR in, one labeled deepmd/npy system out.

dpgen 0.14 runs ``fp_command`` in each ``02.fp/task.*`` directory after writing the candidate structure as
``fp_params.input_fn`` in ``fp_params.input_fmt`` (here ``vasp/poscar``). It then reads
``fp_params.output_fn`` back with dpdata in ``fp_params.output_fmt`` (here ``deepmd/npy``), without a type
map, so the output carries its own ``type_map.raw`` and dpgen re-orders it onto ``param.json``'s
``type_map``.

The label is heal's MEAM teacher (:class:`heal.label.meam.MeamLabeler`), the same oracle as the heal arms.
Units are DeePMD's: energy in eV, forces in eV/Å, and virial in eV. The virial is ``-stress * volume``
(:func:`heal.frames.virial`); the system is written by heal's own :func:`heal.data.npy.write_system`.

Usage (the arm writes this into ``machine.json``)::

    python dpgen_label.py INPUT OUTPUT --type-map Ni Co Cr Al
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

_REPO = Path(__file__).resolve().parents[2]
if (_REPO / "heal" / "__init__.py").is_file() and str(_REPO) not in sys.path:
    sys.path.insert(0, str(_REPO))  # run from a dpdispatcher work dir: make sure this checkout's heal is used


def read_structure(path: Path, fmt: str = "vasp/poscar"):
    """The single frame of `path` (read by dpdata) as a periodic ase.Atoms."""
    import dpdata
    from ase import Atoms

    system = dpdata.System(str(path), fmt=fmt)
    if len(system) != 1:
        raise ValueError(f"{path}: expected one frame, found {len(system)}")
    names = system["atom_names"]
    symbols = [names[t] for t in system["atom_types"]]
    return Atoms(symbols=symbols, positions=system["coords"][0], cell=system["cells"][0], pbc=True)


def label(inp: Path, out: Path, type_map: list[str], input_fmt: str = "vasp/poscar") -> dict:
    """Label the structure in `inp` with the MEAM teacher and write deepmd/npy to `out`; a short summary."""
    from heal.data.npy import write_system
    from heal.frames import set_labels
    from heal.label.meam import MeamLabeler

    atoms = read_structure(inp, input_fmt)
    labeler = MeamLabeler()
    try:
        energy, forces, stress = labeler.compute(atoms)
    finally:
        labeler.close()
    missing = sorted(set(atoms.get_chemical_symbols()) - set(type_map))
    if missing:
        raise ValueError(f"elements {missing} are not in the type map {type_map}")
    write_system(out, [set_labels(atoms.copy(), energy, forces, stress=stress)], type_map)  # heal's own writer
    return {"natoms": len(atoms), "energy": float(energy), "fmax": float(np.abs(forces).max())}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("input", type=Path, help="structure written by dpgen (fp_params.input_fn)")
    ap.add_argument("output", type=Path, help="deepmd/npy directory to write (fp_params.output_fn)")
    ap.add_argument("--type-map", nargs="+", required=True, help="element order of param.json's type_map")
    ap.add_argument("--input-fmt", default="vasp/poscar", help="dpdata format of INPUT")
    args = ap.parse_args(argv)
    summary = label(args.input, args.output, args.type_map, args.input_fmt)
    print(f"labeled {args.input}: {summary['natoms']} atoms, E = {summary['energy']:.6f} eV, "
          f"max |F| = {summary['fmax']:.4f} eV/A")
    return 0


if __name__ == "__main__":
    sys.exit(main())
