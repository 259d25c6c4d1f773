"""Progress bars (rich) for long local work: training, MD, labeling, seed generation.

Off unless a command that runs a campaign turned them on (:func:`enable`) and its stdout is a terminal. A bar
is transient: it disappears when its work is done, so the console keeps heal's one line per finished
Firework. Work that runs in other processes (``dp train``, ``lmp``) is followed by polling what it writes
(``lcurve.out`` steps, ``model_devi.out`` steps) from a background thread.
"""

from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path
from typing import Callable, Iterable

_console = None


def enable(console) -> None:
    """Show bars on `console` (a rich Console) if it is a terminal."""
    global _console
    _console = console if console.is_terminal else None


def disable() -> None:
    global _console
    _console = None


def enabled() -> bool:
    return _console is not None


def _progress():
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(TextColumn("  {task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=_console, transient=True)


@contextlib.contextmanager
def watch(description: str, total: int, current: Callable[[], float], poll_s: float = 1.0):
    """A bar for work done elsewhere: `current()` (how much is done) is polled every `poll_s` seconds."""
    if _console is None or total <= 0:
        yield
        return
    stop = threading.Event()
    with _progress() as progress:
        task = progress.add_task(description, total=total)

        def loop() -> None:
            while not stop.wait(poll_s):
                with contextlib.suppress(Exception):
                    progress.update(task, completed=min(total, current()))

        thread = threading.Thread(target=loop, daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()


@contextlib.contextmanager
def bar(description: str, total: int):
    """A bar for a loop in this process; yields ``advance(n=1)``."""
    if _console is None or total <= 0:
        yield lambda n=1: None
        return
    with _progress() as progress:
        task = progress.add_task(description, total=total)
        yield lambda n=1: progress.advance(task, n)


def last_step(path: Path) -> int:
    """The step (first column) of the last complete data line of a growing table such as ``lcurve.out`` or
    ``model_devi.out``; 0 if there is none yet."""
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - 4096))
            lines = fh.read().split(b"\n")[:-1]  # the last piece may be a line still being written
    except OSError:
        return 0
    for ln in reversed(lines):
        parts = ln.split()
        if parts and not parts[0].startswith(b"#"):
            with contextlib.suppress(ValueError):
                return int(float(parts[0]))
    return 0


def steps_done(paths: Iterable[Path]) -> Callable[[], int]:
    """A `current` for :func:`watch`: the sum of :func:`last_step` over `paths`."""
    paths = list(paths)
    return lambda: sum(last_step(p) for p in paths)


def counted(items: Iterable, total: int, description: str):
    """Yield from `items`, advancing a bar as the loop comes back for the next one."""
    with bar(description, total) as advance:
        for x in items:
            yield x
            advance()
