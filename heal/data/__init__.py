"""Labeled-frame dataset (deepmd/npy chunks, extxyz export) and VASP AIMD import.

Units everywhere: energy eV, forces eV/Å, stress eV/Å^3 (ASE), virial eV (DeePMD), lengths Å.
See :mod:`heal.data.dataset` (layout, guarantees) and :mod:`heal.data.importer` (trim, d_min, dedup).
"""

from heal.data.importer import FileReport, import_file, import_files
from heal.data.dataset import AppendResult, Dataset

__all__ = ["AppendResult", "Dataset", "FileReport", "import_file", "import_files"]
