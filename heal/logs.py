"""heal's log files: one per campaign, plus a fallback for errors that happen outside any campaign.

A process that runs a campaign (``heal launch | worker | resume | demo``) writes heal's log records (INFO and
up), FireWorks' tracebacks of fizzled Fireworks and the traceback of any internal error to
``<campaign>/logs/heal.log``; the console carries heal's own lines. Warnings still reach the console too.

Engines that run inside the heal process (TensorFlow and DeePMD's C++ library behind ``DeepPot``, LAMMPS as a
Python module) write to file descriptor 2 directly, below Python's ``sys.stderr``: :func:`engine_output`
points that descriptor at the stage's ``engine.log`` while a stage runs, and :func:`engine_output_at_exit`
sends what their libraries print while unloading at process exit to ``<campaign>/logs/engines.log``.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path

LOG_NAME = "heal.log"
ENGINE_LOG = "engine.log"
_exit_log: list[Path] = []
_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

_file_handler: logging.FileHandler | None = None


class _LogFile(logging.FileHandler):
    """A log file that never turns a failed write (a full disk) into noise on the console or an exception:
    the campaign's own error handling reports the full disk."""

    def handleError(self, record: logging.LogRecord) -> None:
        pass


class _ErrorStream:
    """A text stream for tracebacks whose writes never raise (the file may sit on a full disk)."""

    def __init__(self, path: Path) -> None:
        self.name = str(path)
        try:
            self._fh = open(path, "a", encoding="utf-8", buffering=1)
        except OSError:
            self._fh = None

    def write(self, text: str) -> int:
        if self._fh is not None:
            try:
                self._fh.write(text)
            except OSError:
                pass
        return len(text)

    def flush(self) -> None:
        if self._fh is not None:
            try:
                self._fh.flush()
            except OSError:
                pass

    def close(self) -> None:
        if self._fh is not None:
            try:
                self._fh.close()
            except OSError:
                pass
            self._fh = None

    def __enter__(self) -> "_ErrorStream":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class _ConsoleWarnings(logging.StreamHandler):
    """``warning: …`` lines on stderr for WARNING and up (the details are in the log file)."""

    def __init__(self) -> None:
        super().__init__()
        self.setLevel(logging.WARNING)
        self.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))

    def format(self, record: logging.LogRecord) -> str:
        record = logging.makeLogRecord({**record.__dict__, "exc_info": None, "exc_text": None})
        return super().format(record).replace("WARNING:", "warning:", 1).replace("ERROR:", "error:", 1)


def campaign_log(root: Path) -> Path:
    """Send heal's log records to ``<root>/logs/heal.log`` (replacing an earlier campaign's file); its path."""
    global _file_handler
    path = Path(root) / "logs" / LOG_NAME
    logger = logging.getLogger("heal")
    if _file_handler is not None and Path(_file_handler.baseFilename) == path.resolve():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    if _file_handler is not None:
        logger.removeHandler(_file_handler)
        _file_handler.close()
    _file_handler = _LogFile(path, encoding="utf-8")
    _file_handler.setFormatter(logging.Formatter(_FORMAT))
    _file_handler.setLevel(logging.INFO)
    logger.addHandler(_file_handler)
    if not any(isinstance(h, _ConsoleWarnings) for h in logger.handlers):
        logger.addHandler(_ConsoleWarnings())
    logger.setLevel(logging.INFO)
    return path


def current_log() -> Path | None:
    return Path(_file_handler.baseFilename) if _file_handler is not None else None


def error_stream() -> _ErrorStream:
    """A text stream for tracebacks (the campaign log, else the fallback file); use it in a with-block."""
    return _ErrorStream(current_log() or Path(tempfile.gettempdir()) / "heal-errors.log")


def record_exception(exc: BaseException) -> Path:
    """Append `exc`'s traceback to the campaign log (or the fallback file); return that file's path."""
    with error_stream() as fh:
        fh.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} internal error\n")
        fh.write("".join(traceback.format_exception(exc)))
        return Path(fh.name)


def _flush_std() -> None:
    for stream in (sys.stdout, sys.stderr, sys.__stderr__):
        with contextlib.suppress(Exception):
            stream.flush()


@contextlib.contextmanager
def engine_output(path: Path):
    """Point file descriptor 2 at `path` (appending) for the block; the console is untouched if it cannot open."""
    _flush_std()
    try:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    except OSError:
        fd = None
    saved = None
    if fd is not None:
        saved = os.dup(2)
        os.dup2(fd, 2)
        os.close(fd)
    try:
        yield
    finally:
        if saved is not None:
            _flush_std()
            os.dup2(saved, 2)
            os.close(saved)


def _to_exit_log() -> None:
    _flush_std()
    with contextlib.suppress(OSError):
        fd = os.open(_exit_log[0], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(fd, 2)
        os.close(fd)


def engine_output_at_exit(root: Path) -> None:
    """At exit (after heal's last line), point file descriptor 2 at ``<root>/logs/engines.log``: the libraries
    loaded in-process (DeePMD's CUDA stubs) print while they unload, after Python has finished."""
    if not _exit_log:
        atexit.register(_to_exit_log)
        _exit_log.append(Path(root) / "logs" / "engines.log")
    else:
        _exit_log[0] = Path(root) / "logs" / "engines.log"
