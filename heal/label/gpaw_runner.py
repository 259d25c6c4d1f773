"""GPAW single point, run as ``<gpaw_python> gpaw_runner.py gpaw_input.json`` (writes ``gpaw_result.json``).

This file is copied next to its input and executed by the Python that can import GPAW (on Debian the
system ``/usr/bin/python3`` with Debian's numpy): it must import nothing from heal and stay compatible
with older ASE (3.22) and Python 3.9+.

Input JSON: ``symbols``, ``positions`` (Å), ``cell`` (Å), ``pbc`` and ``params`` (``ecut`` eV, ``kpts``,
``smearing`` eV, ``xc``, ``maxiter``, ``convergence``). Output JSON: ``converged``; when converged
``energy`` (free energy, the one consistent with the forces, eV), ``energy_zero_width`` (eV),
``forces`` (eV/Å), ``stress`` (eV/Å^3, ASE Voigt order and sign), ``iterations``; else ``error``.
Exit code 0 when the result file was written (converged or not), non-zero on any other failure.
"""

import json
import os
import sys
import time


def main(path):
    with open(path) as fh:
        inp = json.load(fh)
    p = inp["params"]
    import numpy as np
    from ase import Atoms
    from gpaw import GPAW, PW, FermiDirac, KohnShamConvergenceError

    atoms = Atoms(inp["symbols"], positions=inp["positions"], cell=inp["cell"], pbc=inp["pbc"])
    # no spin: ASE would start Ni/Co/Fe at 0.6 muB; zero every initial moment explicitly
    atoms.set_initial_magnetic_moments(np.zeros(len(atoms)))
    kw = dict(mode=PW(p["ecut"]), xc=p["xc"], kpts=p["kpts"], occupations=FermiDirac(p["smearing"]),
              spinpol=False, maxiter=p["maxiter"], txt="gpaw.txt")
    if p.get("convergence"):
        kw["convergence"] = p["convergence"]
    atoms.calc = GPAW(**kw)
    t0 = time.time()
    out = {"converged": False}
    try:
        free = atoms.get_potential_energy(force_consistent=True)
        out.update(converged=True, energy=float(free),
                   energy_zero_width=float(atoms.get_potential_energy()),
                   forces=atoms.get_forces().tolist(), stress=atoms.get_stress(voigt=True).tolist())
    except KohnShamConvergenceError as exc:
        out["error"] = "SCF did not converge in %d iterations (%s)" % (p["maxiter"], exc)
    try:
        out["iterations"] = int(atoms.calc.get_number_of_iterations())
    except Exception:
        pass
    out["seconds"] = time.time() - t0
    # the same temp + fsync + rename + fsync(dir) as heal.fsutil.atomic_write_bytes, written out here because
    # this file runs under another Python (Debian's, for GPAW) that cannot import heal
    tmp = "gpaw_result.json.tmp"
    with open(tmp, "w") as fh:
        json.dump(out, fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, "gpaw_result.json")
    fd = os.open(".", os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


if __name__ == "__main__":
    main(sys.argv[1])
