"""The labeler interface: one frame in, the same frame with energy / forces / stress out.

A labeler follows prepare -> execute -> parse (ASE's calculator-template shape):

- ``write_input(atoms, workdir)`` writes every input file into ``workdir``;
- ``execute(workdir, executor)`` runs the program through a heal executor (``heal.exec``), or computes
  in-process for cheap classical teachers; an oracle that runs a program also offers ``job(workdir)``, the
  :class:`heal.exec.Job` of that run, so that the label stage sends a whole batch's jobs to the executor
  together (one scheduler submission);
- ``read_results(workdir, atoms)`` parses the outputs and returns the atoms with labels attached
  (``heal.frames.set_labels``: energy eV, forces eV/Å, stress eV/Å^3).

Failures raise ``heal.errors.TransientError`` (retry) or ``FatalError`` (quarantine the frame with the
message as its reason). Labelers are registered by name in ``heal.label.registry``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Protocol

from ase import Atoms


class Labeler(Protocol):
    name: ClassVar[str]
    #: elements the oracle can label; None = any
    elements: ClassVar[tuple[str, ...] | None]

    def __init__(self, params: dict[str, Any]) -> None: ...

    def write_input(self, atoms: Atoms, workdir: Path) -> None: ...

    def execute(self, workdir: Path, executor) -> None: ...

    def read_results(self, workdir: Path, atoms: Atoms) -> Atoms: ...
