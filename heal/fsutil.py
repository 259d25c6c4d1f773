"""Crash-safe file writes: temp file in the same directory, fsync, rename, fsync the directory.

A reader sees the old content or the new one, never a torn file. A write that fails for lack of space
raises :class:`heal.errors.DiskFullError` naming the file (the temp file is removed, the old content stays).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from heal.errors import DiskFullError, is_no_space


def fsync_file(path: str | os.PathLike) -> None:
    """Flush one regular file's data and metadata to stable storage."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: str | os.PathLike) -> None:
    """Flush a directory's entries (names created / renamed / removed in it)."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_tree(root: str | os.PathLike) -> None:
    """fsync every file, then every directory bottom-up, below and including ``root``."""
    for dirpath, _dirnames, filenames in os.walk(root, topdown=False):
        for name in filenames:
            fsync_file(os.path.join(dirpath, name))
        fsync_dir(dirpath)


def link_dir(directory: Path, targets: list[Path], name: str) -> list[str]:
    """Make ``directory`` afresh with links ``name.format(i)`` -> ``targets[i]``; their paths relative to the
    directory's parent (what a job running there names, and forwards as ``directory.name``)."""
    directory = Path(directory)
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    out = []
    for i, target in enumerate(targets):
        link = directory / name.format(i)
        link.symlink_to(Path(target).resolve(), target_is_directory=Path(target).is_dir())
        out.append(f"{directory.name}/{link.name}")
    return out


def atomic_write_bytes(path: Path, data: bytes) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        if is_no_space(exc):
            raise DiskFullError(path) from exc
        raise
    fsync_dir(path.parent)
    return path


def atomic_write_with(path: Path, writer) -> Path:
    """Atomic write for libraries that write files by name: ``writer(tmp_path)``, fsync, rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        writer(Path(tmp))
        fsync_file(tmp)
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if is_no_space(exc):
            raise DiskFullError(path) from exc
        raise
    fsync_dir(path.parent)
    return path


def atomic_rename(src: Path, dest: Path) -> Path:
    """Make a file another program wrote complete (`src`) durable under its final name `dest` (same directory)."""
    fsync_file(src)
    os.replace(src, dest)
    fsync_dir(Path(dest).parent)
    return Path(dest)


def atomic_write_text(path: Path, text: str) -> Path:
    return atomic_write_bytes(path, text.encode())


def atomic_write_json(path: Path, obj: Any) -> Path:
    return atomic_write_bytes(path, json.dumps(obj, indent=1, sort_keys=True, default=str).encode())


def read_json_or_none(path: str | os.PathLike) -> Any:
    """The JSON document in `path`, or None if it is missing or unreadable (a stage that has not written it)."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


#: what programs print when a write fails for lack of space (strerror of ENOSPC and EDQUOT)
NO_SPACE_MESSAGES = ("No space left on device", "Disk quota exceeded")


def looks_out_of_space(path: str | os.PathLike, output: str = "", min_free: int = 1 << 20) -> bool:
    """True if a program that failed in `path` most likely ran out of space: its `output` says so, or the
    filesystem has less than `min_free` bytes left for unprivileged writers."""
    if any(m in output for m in NO_SPACE_MESSAGES):
        return True
    try:
        st = os.statvfs(path)
    except OSError:
        return False
    return st.f_bavail * st.f_frsize < min_free
