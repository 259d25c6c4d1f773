"""The labeling stage: label a batch of frames with the campaign's oracle, exactly once per frame.

Layout (deterministic, keyed by content; see :mod:`heal.label.frame_dir`): every frame gets
``workdir/<frame_hash>/``; the oracle runs in ``<frame_hash>/oracle/``. A frame is *finished* when its
done-marker exists (``result.extxyz`` or ``rejected.json``), written atomically as the very last step.

A batch goes in three steps: **prepare** (finished frames are read back, structures checked, inputs written
for the rest), **run** (the oracle's jobs of the whole batch go to the executor together: one scheduler
submission packed by the machine's ``group_size``, or concurrent processes locally; in-process oracles label
one frame after another here, and go out as jobs of heal's own Python on a scheduler) and **finish**
(outputs parsed, labels checked, markers written).

Only the frame's own physics is recorded as a rejection: stage ``precheck`` (d_min etc., before any oracle
call), ``oracle`` (the oracle failed on this frame: ``FatalError`` such as SCF not converged, or a crash)
or ``sanity`` (the label failed :func:`heal.label.sanity.check_labels`). What the frame is not at fault
for writes nothing and stops the batch with the error, after the frames that did finish are stored, so
that ``heal resume`` labels the rest once the cause is fixed:

- setup errors (``ConfigError``, ``SetupError``: ``VASP_PP_PATH`` unset, a POTCAR or program missing, a
  package not installed, an element the oracle does not cover) and anything raised while writing inputs;
- a full disk (``DiskFullError``);
- transient errors (``TransientError``) still failing after ``spec.retries`` retries with exponential backoff
  (the failed frames of a batch are retried together).

A relaunch reads finished frames back and never calls the oracle for them again; complete outputs left in
``oracle/`` by a run killed before its marker are parsed, not recomputed. ``heal resume --retry-rejected``
moves the rejections of the campaign's unfinished label stages aside so their frames are labeled again.
Per-frame file locks keep two concurrent stages from labeling the same frame twice.
"""

from __future__ import annotations

import logging
import shutil
import time
import traceback
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ase import Atoms
from filelock import FileLock

from heal import progress
from heal.config import LabelSpec
from heal.errors import (ConfigError, DiskFullError, FatalError, HealError, SetupError, TransientError,
                         is_no_space)
from heal.exec.base import run_jobs
from heal.frames import frame_hash, has_labels
from heal.label.frame_dir import (ORACLE_DIR, REJECTED, RESULT, extxyz_text, journal, on_input_structure,
                                  plain_info, read_finished, reject, retry_rejected, write_result)
from heal.label.results import InProcessLabeler
from heal.label.sanity import check_labels, check_structure

log = logging.getLogger("heal.label")

__all__ = ["LabelBatchResult", "REJECTED", "RESULT", "extxyz_text", "label_frames", "retry_rejected"]


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
    #: the setup / disk / transient error that stopped the batch (``label_frames(..., partial=True)`` only);
    #: the frames it left unfinished were not labeled
    stopped_by: Exception | None = None

    @property
    def fail_fraction(self) -> float:
        n = len(self.labeled) + len(self.rejected)
        return len(self.rejected) / n if n else 0.0


@dataclass
class _Frame:
    atoms: Atoms                        # the input frame
    h: str
    fdir: Path
    frame: Atoms | None = None          # the clean copy the oracle sees
    labeled: Atoms | None = None        # the oracle's result, before the checks
    attempts: int = 0
    done: tuple[str, Any] | None = None  # ('labeled', Atoms) | ('rejected', dict)
    reused: bool = False

    @property
    def odir(self) -> Path:
        return self.fdir / ORACLE_DIR


# -- prepare -----------------------------------------------------------------------------------------------
def _prepare(f: _Frame, spec: LabelSpec, labeler) -> None:
    """Read a finished frame back, or check its structure and get its oracle directory ready."""
    done = read_finished(f.fdir)
    if done is not None:
        f.done, f.reused = done, True
        return
    why = check_structure(f.atoms, spec)
    if why is not None:
        f.done = reject(f.fdir, f.h, why, "precheck", oracle=labeler.name, attempts=0)
        return
    f.frame = Atoms(f.atoms.get_chemical_symbols(), positions=f.atoms.positions, cell=f.atoms.cell,
                    pbc=f.atoms.pbc)
    f.frame.info.update(plain_info(f.atoms.info))
    _ready_oracle_dir(f, labeler)


def _ready_oracle_dir(f: _Frame, labeler) -> None:
    """Reuse complete outputs an interrupted run left in ``oracle/`` (hours of DFT are not computed twice),
    else write the inputs afresh; anything failing while writing inputs is the setup's fault."""
    if f.odir.is_dir():
        try:
            f.labeled = labeler.read_results(f.odir, f.frame.copy())
        except Exception:  # incomplete / failed outputs: compute afresh
            shutil.rmtree(f.odir)
        else:
            journal(f.fdir, "reused")
            return
    f.odir.mkdir(parents=True)
    try:
        labeler.write_input(f.frame.copy(), f.odir)
    except (HealError, OSError):
        raise
    except Exception as exc:
        raise SetupError(f"{labeler.name}: writing the inputs in {f.odir} failed: {type(exc).__name__}: {exc}") \
            from exc


# -- run ---------------------------------------------------------------------------------------------------
def _run(frames: list[_Frame], labeler, executor):
    """Run the oracle for `frames`, yielding ``(frame, error or None)`` as each one ends: their jobs go to
    the executor together; an in-process oracle labels one frame after the other."""
    make_job = getattr(labeler, "job", None)
    if isinstance(labeler, InProcessLabeler) and not _schedules(executor):
        make_job = None  # a cheap teacher labels here, in this process; a scheduler gets it as jobs
    if make_job is None or executor is None:
        for f in frames:
            journal(f.fdir, "start")
            try:
                labeler.execute(f.odir, executor)
            except Exception as exc:
                yield f, exc
            else:
                yield f, None
        return
    jobs = []
    for f in frames:
        journal(f.fdir, "start")
        jobs.append(make_job(f.odir))
    for f, res in zip(frames, run_jobs(executor, jobs)):
        yield f, (res if isinstance(res, Exception) else None)


def _schedules(executor) -> bool:
    """True if `executor` sends jobs to a scheduler / another machine (dpdispatcher)."""
    return getattr(getattr(executor, "machine", None), "executor", "local") == "dispatcher"


def _classify(exc: Exception, f: _Frame, labeler) -> tuple[str, Any]:
    """('retry', exc) | ('stop', exc) | ('reject', done) for an error the oracle raised on frame `f`."""
    if isinstance(exc, TransientError):
        return "retry", exc
    if isinstance(exc, (ConfigError, SetupError)):
        return "stop", exc  # the setup's fault (DiskFullError included): fix it, then 'heal resume'
    if isinstance(exc, FatalError):
        return "reject", reject(f.fdir, f.h, str(exc), "oracle", oracle=labeler.name, attempts=f.attempts)
    if is_no_space(exc):
        return "stop", DiskFullError(getattr(exc, "filename", None) or f.odir)
    if isinstance(exc, ImportError):
        return "stop", SetupError(f"the {labeler.name} oracle cannot import {exc.name or exc}: install it, "
                                  f"then 'heal resume'")
    tb = "".join(traceback.format_exception(exc, limit=6))
    return "reject", reject(f.fdir, f.h, f"oracle crashed: {type(exc).__name__}: {exc}", "oracle",
                            oracle=labeler.name, attempts=f.attempts, traceback=tb)


def _label_pending(pending: list[_Frame], spec: LabelSpec, labeler, executor, backoff_s: float) -> None:
    """Run, retry and finish the frames that need the oracle; raise the first error that stops the batch
    after finishing every frame that did succeed."""
    todo = [f for f in pending if f.labeled is None]
    attempt = 0
    while True:
        attempt += 1
        retry, stop = [], None
        for f in pending:  # outputs reused from an interrupted run
            if f.labeled is not None and f.done is None:
                f.done = _finish(f, spec, labeler)
        for f, exc in progress.counted(_run(todo, labeler, executor), len(todo),
                                       f"label {len(todo)} frame(s), {spec.oracle}"):
            f.attempts = attempt
            if exc is None:
                journal(f.fdir, "done")
                try:
                    f.labeled = labeler.read_results(f.odir, f.frame.copy())
                except Exception as perr:  # noqa: BLE001 - classified below like an oracle error
                    exc = perr
            if exc is None:
                f.done = _finish(f, spec, labeler)  # stored at once: an interruption keeps it
                continue
            kind, val = _classify(exc, f, labeler)
            if kind == "retry":
                retry.append((f, val))
            elif kind == "stop":
                stop = stop or val
            else:
                f.done = val
        if stop is not None:
            raise stop
        if not retry:
            return
        f, last = retry[0]
        if attempt > spec.retries:
            raise TransientError(f"{len(retry)} frame(s), first {f.h}: transient failure persisted after "
                                 f"{attempt} attempt(s): {last}; nothing was recorded against them: "
                                 f"'heal resume' tries them again") from last
        delay = min(backoff_s * 2 ** (attempt - 1), 300.0)
        log.info("%d frame(s): transient error (%s); retry %d/%d in %.1f s", len(retry), last, attempt,
                 spec.retries, delay)
        time.sleep(delay)
        todo = [f for f, _ in retry]
        for f in todo:
            _ready_oracle_dir(f, labeler)
        todo = [f for f in todo if f.labeled is None]  # outputs completed after all: nothing to rerun


# -- finish ------------------------------------------------------------------------------------------------
def _finish(f: _Frame, spec: LabelSpec, labeler) -> tuple[str, Any]:
    labeled = f.labeled
    if not isinstance(labeled, Atoms) or not has_labels(labeled):
        return reject(f.fdir, f.h, "the oracle returned no energy / forces", "sanity", oracle=labeler.name,
                      attempts=f.attempts)
    why = check_labels(labeled, spec, structure=False)  # structure checked before, positions unchanged
    if why is not None:
        return reject(f.fdir, f.h, why, "sanity", oracle=labeler.name, attempts=f.attempts)
    labeled.info.update(f.frame.info)
    labeled.info["heal_hash"] = f.h
    labeled.info["oracle"] = labeler.name
    return write_result(f.fdir, labeled)


# -- the stage ---------------------------------------------------------------------------------------------
def label_frames(frames: list[Atoms], spec: LabelSpec, workdir: Path, executor, labeler=None,
                 backoff_s: float = 2.0, partial: bool = False) -> LabelBatchResult:
    """Label `frames` with ``spec.oracle`` (or the given `labeler`) into ``workdir``; see the module doc.

    `executor` runs the oracle's programs (``heal.exec.get_executor``); in-process oracles ignore it.
    `backoff_s` is the first retry delay after a transient error (doubled per retry, at most 300 s).
    An error that stops the batch is raised; with `partial` it is returned in ``stopped_by`` instead, with
    the frames finished before it, so that the caller can store those first and then raise it.
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
    batch: dict[str, _Frame] = {}
    for atoms in frames:
        h = frame_hash(atoms)
        if h in batch:
            res.duplicates += 1
        else:
            batch[h] = _Frame(atoms, h, workdir / h)
    try:
        with ExitStack() as locks:
            try:
                for h in sorted(batch):  # one order for every stage: no two lock each other out
                    batch[h].fdir.mkdir(exist_ok=True)
                    locks.enter_context(FileLock(str(batch[h].fdir / ".lock")))
                stop, pending = None, []
                for f in batch.values():
                    try:
                        _prepare(f, spec, labeler)
                    except (SetupError, ConfigError) as exc:  # this frame cannot go; label the others first
                        stop = stop or exc
                        continue
                    if f.done is None:
                        pending.append(f)
                if pending:
                    try:
                        _label_pending(pending, spec, labeler, executor, backoff_s)
                    except (SetupError, ConfigError, TransientError):
                        if stop is None:
                            raise
                if stop is not None:
                    raise stop
            except OSError as exc:
                if is_no_space(exc):
                    raise DiskFullError(exc.filename or workdir) from exc
                raise
    except (SetupError, ConfigError, TransientError) as exc:
        if not partial:
            raise
        res.stopped_by = exc
        log.info("labeling stopped: %s", exc)
    for f in batch.values():
        if f.done is None:
            continue
        kind, value = f.done
        res.reused += f.reused
        if kind == "labeled":
            res.labeled.append(on_input_structure(value, f.atoms))
        else:
            res.rejected.append({k: str(value.get(k, "")) for k in ("hash", "reason", "stage")})
    res.seconds = time.monotonic() - t0
    log.info("labeled %d, rejected %d (reused %d) in %.1f s", len(res.labeled), len(res.rejected),
             res.reused, res.seconds)
    return res
