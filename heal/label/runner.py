"""The labeling stage: label a batch of frames with the campaign's oracle, exactly once per frame.

Layout (deterministic, keyed by content): every frame gets ``workdir/<frame_hash>/``; the oracle runs in
``<frame_hash>/oracle/`` (recreated for each attempt). A frame is *finished* when its done-marker exists,
written atomically (temp file, fsync, rename) as the very last step:

- ``result.extxyz``: the labeled frame (energy eV, forces eV/Å, stress eV/Å^3), or
- ``rejected.json``: ``{"hash", "reason", "stage", ...}`` with stage ``precheck`` (d_min etc., checked
  before any oracle call), ``oracle`` (fatal error, crash, or transient errors past ``spec.retries``) or
  ``sanity`` (the label failed :func:`heal.label.sanity.check_labels`).

A relaunch reads finished frames back and never calls the oracle for them again; a frame whose run was
interrupted (no marker) is labeled afresh. To retry a rejected frame, delete its ``rejected.json``.
A per-frame file lock keeps two concurrent stages from labeling the same frame twice.
Transient errors (``heal.errors.TransientError``) are retried with exponential backoff; any other
exception from the oracle rejects that frame only — the batch goes on.
"""

from __future__ import annotations

import io
import json
import os
import logging
import shutil
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import read, write
from filelock import FileLock

from heal.config import LabelSpec
from heal.errors import FatalError, TransientError
from heal.frames import frame_hash, has_labels
from heal.fsutil import atomic_write_json, atomic_write_text
from heal.label.sanity import check_labels, check_structure

log = logging.getLogger("heal.label")

RESULT = "result.extxyz"
REJECTED = "rejected.json"
ORACLE_DIR = "oracle"


@dataclass
class LabelBatchResult:
    """Outcome of one labeling stage. ``labeled`` keeps input order, one frame per distinct structure."""

    labeled: list[Atoms] = field(default_factory=list)
    #: one dict per rejected frame: ``hash``, ``reason``, ``stage`` (precheck | oracle | sanity)
    rejected: list[dict[str, str]] = field(default_factory=list)
    seconds: float = 0.0
    #: frames found finished by an earlier run (their results were reused, the oracle not called)
    reused: int = 0
    #: repeated structures in the input (labeled once)
    duplicates: int = 0

    @property
    def fail_fraction(self) -> float:
        n = len(self.labeled) + len(self.rejected)
        return len(self.rejected) / n if n else 0.0


def extxyz_text(frames: Atoms | list[Atoms]) -> str:
    """The extxyz text of one frame or a list of frames (labels included)."""
    buf = io.StringIO()
    write(buf, frames, format="extxyz")
    return buf.getvalue()


def _plain_info(info: dict[str, Any]) -> dict[str, Any]:
    """Keep the info entries extxyz can store faithfully (str, numbers, bools, numeric arrays)."""
    out = {}
    for k, v in info.items():
        if isinstance(v, (str, bool, int, float, np.integer, np.floating)):
            out[k] = v
        elif isinstance(v, np.ndarray) and v.dtype.kind in "biuf":
            out[k] = v
    return out


def _read_finished(fdir: Path) -> tuple[str, Any] | None:
    """('labeled', Atoms) or ('rejected', dict) for a finished frame directory; None if unfinished."""
    if (fdir / RESULT).is_file():
        return "labeled", read(fdir / RESULT, format="extxyz")
    if (fdir / REJECTED).is_file():
        return "rejected", json.loads((fdir / REJECTED).read_text())
    return None


def _reject(fdir: Path, h: str, reason: str, stage: str, **extra: Any) -> dict[str, Any]:
    rec = {"hash": h, "reason": reason, "stage": stage, **extra, "time": time.time()}
    atomic_write_json(fdir / REJECTED, rec)
    log.warning("frame %s rejected at %s: %s", h, stage, reason)
    return rec


JOURNAL = "oracle_calls.jsonl"


def _on_input_structure(labeled: Atoms, atoms: Atoms) -> Atoms:
    """The input frame, bit for bit, carrying the labels read back from ``result.extxyz``.

    extxyz stores positions to 1e-8 Å; putting the labels back on the exact input arrays keeps
    ``frame_hash`` of the labeled frame equal to the hash its label directory is named after, so the
    dataset, the selector's "already labeled" check and the label directories all agree on identity.
    """
    if len(labeled) != len(atoms) or np.abs(labeled.positions - atoms.positions).max() > 1e-6:
        raise FatalError("a stored label does not belong to its frame (positions differ); delete "
                         "its label directory to relabel it")
    out = Atoms(atoms.get_chemical_symbols(), positions=atoms.positions.copy(), cell=atoms.cell.array.copy(),
                pbc=atoms.pbc.copy())
    out.info.update(labeled.info)
    out.calc = SinglePointCalculator(out, **{k: v for k, v in labeled.calc.results.items()
                                             if k in ("energy", "free_energy", "forces", "stress")})
    return out


def _journal(fdir: Path, event: str) -> None:
    """Append one line to the label directory's oracle-call journal (audit trail for exactly-once checks)."""
    line = json.dumps({"hash": fdir.name, "event": event, "pid": os.getpid(), "t": round(time.time(), 3)})
    fd = os.open(fdir.parent / JOURNAL, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)


def _call_oracle(labeler, atoms: Atoms, odir: Path, executor) -> Atoms:
    """Run the oracle in `odir`, or reuse a complete result an interrupted run left there.

    A worker killed after the oracle finished but before the frame's done-marker was written leaves
    complete outputs behind; parsing them instead of recomputing is what keeps an expensive label
    (hours of DFT) from being computed twice.
    """
    if odir.is_dir():
        try:
            labeled = labeler.read_results(odir, atoms)
        except Exception:  # incomplete / failed outputs: compute afresh
            shutil.rmtree(odir)
        else:
            _journal(odir.parent, "reused")
            return labeled
    odir.mkdir(parents=True)
    labeler.write_input(atoms, odir)
    _journal(odir.parent, "start")
    labeler.execute(odir, executor)
    _journal(odir.parent, "done")
    return labeler.read_results(odir, atoms)


def _label_one(atoms: Atoms, h: str, fdir: Path, spec: LabelSpec, labeler, executor,
               backoff_s: float) -> tuple[str, Any]:
    reason = check_structure(atoms, spec)
    if reason is not None:
        return "rejected", _reject(fdir, h, reason, "precheck", oracle=labeler.name, attempts=0)
    frame = Atoms(atoms.get_chemical_symbols(), positions=atoms.positions, cell=atoms.cell, pbc=atoms.pbc)
    frame.info.update(_plain_info(atoms.info))
    attempts = 0
    while True:
        attempts += 1
        try:
            labeled = _call_oracle(labeler, frame.copy(), fdir / ORACLE_DIR, executor)
            break
        except TransientError as exc:
            if attempts > spec.retries:
                return "rejected", _reject(fdir, h, f"transient failure persisted after {attempts} attempt(s): {exc}",
                                           "oracle", oracle=labeler.name, attempts=attempts)
            delay = min(backoff_s * 2 ** (attempts - 1), 300.0)
            log.info("frame %s: transient error (%s); retry %d/%d in %.1f s", h, exc, attempts, spec.retries, delay)
            time.sleep(delay)
        except FatalError as exc:
            return "rejected", _reject(fdir, h, str(exc), "oracle", oracle=labeler.name, attempts=attempts)
        except Exception as exc:  # an oracle crash must never stop the batch
            tb = traceback.format_exc(limit=6)
            return "rejected", _reject(fdir, h, f"oracle crashed: {type(exc).__name__}: {exc}", "oracle",
                                       oracle=labeler.name, attempts=attempts, traceback=tb)
    if not isinstance(labeled, Atoms) or not has_labels(labeled):
        return "rejected", _reject(fdir, h, "the oracle returned no energy / forces", "sanity",
                                   oracle=labeler.name, attempts=attempts)
    reason = check_labels(labeled, spec, structure=False)  # structure checked above, positions unchanged
    if reason is not None:
        return "rejected", _reject(fdir, h, reason, "sanity", oracle=labeler.name, attempts=attempts)
    labeled.info.update(frame.info)
    labeled.info["heal_hash"] = h
    labeled.info["oracle"] = labeler.name
    atomic_write_text(fdir / RESULT, extxyz_text(labeled))
    # return what a relaunch would read back, so both runs give identical labels
    return "labeled", read(fdir / RESULT, format="extxyz")


def label_frames(frames: list[Atoms], spec: LabelSpec, workdir: Path, executor, labeler=None,
                 backoff_s: float = 2.0) -> LabelBatchResult:
    """Label `frames` with ``spec.oracle`` (or the given `labeler`) into ``workdir``; see the module doc.

    `executor` runs the oracle's programs (``heal.exec.get_executor``); in-process oracles ignore it.
    `backoff_s` is the first retry delay after a transient error (doubled per retry, at most 300 s).
    """
    t0 = time.monotonic()
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    if labeler is None:
        from heal.label.registry import get_labeler

        labeler = get_labeler(spec.oracle, spec.params)
    if getattr(labeler, "timeout", False) is None:
        labeler.timeout = spec.timeout_s
    res = LabelBatchResult()
    seen: set[str] = set()
    for atoms in frames:
        h = frame_hash(atoms)
        if h in seen:
            res.duplicates += 1
            continue
        seen.add(h)
        fdir = workdir / h
        fdir.mkdir(exist_ok=True)
        with FileLock(str(fdir / ".lock")):
            done = _read_finished(fdir)
            if done is not None:
                res.reused += 1
            else:
                done = _label_one(atoms, h, fdir, spec, labeler, executor, backoff_s)
        kind, value = done
        if kind == "labeled":
            res.labeled.append(_on_input_structure(value, atoms))
        else:
            res.rejected.append({k: str(value.get(k, "")) for k in ("hash", "reason", "stage")})
    res.seconds = time.monotonic() - t0
    log.info("labeled %d, rejected %d (reused %d) in %.1f s", len(res.labeled), len(res.rejected),
             res.reused, res.seconds)
    return res
