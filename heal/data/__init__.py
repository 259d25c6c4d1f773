"""Labeled-frame dataset (deepmd/npy chunks, extxyz export) and VASP AIMD import.

Units everywhere: energy eV, forces eV/Å, stress eV/Å^3 (ASE), virial eV (DeePMD), lengths Å.
See :mod:`heal.data.dataset` (layout, guarantees) and :mod:`heal.data.importer` (trim, d_min, dedup).
"""

from heal.data.dataset import AppendResult, Dataset
from heal.data.import_report import FileReport
from heal.data.importer import import_file, import_files

__all__ = ["AppendResult", "Dataset", "FileReport", "import_file", "import_files"]
