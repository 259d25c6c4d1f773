"""Validation of a potential as a metallurgist would: lattice constants, elastic constants, MD stability.

- :mod:`heal.validate.properties`: 0 K properties on any ASE calculator (E-V curve and equilibrium lattice
  constant, cubic elastic constants by finite strain);
- :mod:`heal.validate.md`: MD stability (ASE Langevin NVT / MTK NPT for any calculator, LAMMPS for a DeePMD
  model), RDF and the distance between two RDF curves;
- :mod:`heal.validate.structures`: which validation cells a campaign's elements can build (and which not, why);
- :mod:`heal.validate.calculators`: the oracle and the model as ASE calculators / LAMMPS pair commands;
- :mod:`heal.validate.runner`: ``python -m heal.validate.runner spec.json``, the job that computes them;
- :mod:`heal.validate.compare`: model vs oracle vs thesis, relative errors and the tolerances;
- :mod:`heal.validate.stage`: the per-iteration stage (oracle computed once per campaign, cached).

Units: lengths Å, energies eV, elastic constants and bulk moduli GPa, temperatures K, times ps.
"""
