"""On-disk format of heal's embedded store: a snapshot plus an append-only journal.

- ``launchpad.json``: ``{"gen": G, "data": {db: {collection: {documents, indexes, created}}}}``, written
  whole by temp file + fsync + rename (never torn);
- ``journal-G.jsonl``: one line per LaunchPad operation since snapshot G, each line
  ``{"ops": [{"d": db, "c": collection, "id": _id, "doc": document | null}, ...]}`` (null = deleted),
  appended with O_APPEND and fsynced. An append that fails (a full disk, a short write) is cut off again
  before the error is raised, so a failed operation leaves nothing behind.
- A crash can still tear the **last** line (power loss mid-write, a short write that could not be undone):
  it is not a complete JSON line and is not applied, so an operation is either wholly in the state or not
  at all. The writer cuts such a tail off when it opens the store, before it appends anything, so the next
  operation starts on a fresh line. A bad line *followed by* good ones is damage no crash makes: loading
  stops with :class:`heal.errors.StoreCorruptError` rather than dropping the good lines after it.
- Compaction writes snapshot G+1, then deletes journal G. A crash between the two leaves an old journal
  that no snapshot refers to; the next writer removes it.

Documents are MongoDB extended JSON (``bson.json_util``) so datetimes and ObjectIds survive.
"""

from __future__ import annotations

import errno
import os
from collections import OrderedDict
from pathlib import Path

from bson import json_util

from heal.errors import DiskFullError, StoreCorruptError, is_no_space
from heal.fsutil import atomic_write_bytes

SNAPSHOT = "launchpad.json"


def journal_path(directory: Path, gen: int) -> Path:
    return Path(directory) / f"journal-{gen}.jsonl"


def dump_snapshot(server, gen: int) -> bytes:
    data = {}
    for dbname, db in server._databases.items():
        cols = {}
        for cname, col in db._collections.items():
            with col._rwlock.reader():
                docs = list(col._documents.values())
            cols[cname] = {"documents": docs, "indexes": col.indexes, "created": col._is_force_created}
        data[dbname] = cols
    return json_util.dumps({"gen": gen, "data": data}).encode()


def write_snapshot(directory: Path, server, gen: int) -> None:
    atomic_write_bytes(Path(directory) / SNAPSHOT, dump_snapshot(server, gen))


def journal_line(server, dirty: dict[tuple[str, str], set]) -> bytes:
    ops = []
    for (dbname, cname), ids in dirty.items():
        col = server[dbname][cname]
        for _id in ids:
            ops.append({"d": dbname, "c": cname, "id": _id, "doc": col._documents.get(_id)})
    return (json_util.dumps({"ops": ops}) + "\n").encode()


def append_line(path: Path, line: bytes) -> int:
    """Append `line` whole and fsync; return the journal's new size in bytes.

    A short write or a failed write / fsync is undone (the file is cut back to its old size) before the
    error is raised; no space left raises :class:`DiskFullError` naming the journal.
    """
    fd = None
    start = None
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        start = os.fstat(fd).st_size
        view = memoryview(line)
        while view:
            n = os.write(fd, view)
            if n <= 0:  # a short write that makes no progress: the filesystem took nothing more
                raise OSError(errno.ENOSPC, "short write", str(path))
            view = view[n:]
        os.fsync(fd)
        return os.fstat(fd).st_size
    except OSError as exc:
        if fd is not None and start is not None:
            try:
                os.ftruncate(fd, start)
                os.fsync(fd)
            except OSError:
                pass  # the writer that opens the store next cuts the torn tail (see cut_torn_tail)
        if is_no_space(exc):
            raise DiskFullError(path, "journal append") from exc
        raise
    finally:
        if fd is not None:
            os.close(fd)


def load(server, directory: Path, new_collection) -> int:
    """Load snapshot + journal into `server` in place; return the snapshot generation (0 if none)."""
    directory = Path(directory)
    snap = directory / SNAPSHOT
    raw = snap.read_bytes() if snap.is_file() else b""
    dct = json_util.loads(raw.decode()) if raw.strip() else {"gen": 0, "data": {}}
    gen, data = int(dct.get("gen", 0)), dct.get("data", {})
    for dbname, cols in data.items():
        new = {}
        for cname, c in cols.items():
            col = new_collection(cname)
            col._documents = OrderedDict((d["_id"], d) for d in c["documents"])
            col.indexes = c.get("indexes", {})
            col._is_force_created = c.get("created", False) or bool(col._documents)
            new[cname] = col
        server[dbname]._collections = new
    for dbname, db in server._databases.items():
        if dbname not in data:
            db._collections = {}
    replay(server, journal_path(directory, gen), new_collection)
    return gen


def read_journal(path: Path) -> tuple[list[dict], int, int]:
    """``(records, good_bytes, size)``: the journal's complete records, the bytes they span, the file size.

    ``good_bytes < size`` means a torn last line (no newline, or not valid JSON). A bad line with complete
    lines after it raises :class:`StoreCorruptError` naming the file and the line.
    """
    path = Path(path)
    if not path.is_file():
        return [], 0, 0
    raw = path.read_bytes()
    records: list[dict] = []
    good = 0
    lines = raw.split(b"\n")
    for i, chunk in enumerate(lines[:-1]):  # every chunk here ended with a newline
        try:
            rec = json_util.loads(chunk.decode())
            if not isinstance(rec, dict) or not isinstance(rec.get("ops"), list):
                raise ValueError("not a journal record")
        except (ValueError, UnicodeDecodeError):
            if any(rest.strip() for rest in lines[i + 1:-1]):
                raise StoreCorruptError(
                    f"{path}: line {i + 1} is damaged and complete lines follow it; this is not a crash's torn "
                    f"tail, so nothing was dropped. Keep a copy of the store directory, then restore it from a "
                    f"backup or truncate the journal before line {i + 1} by hand") from None
            break  # the last line: torn by a crash
        records.append(rec)
        good += len(chunk) + 1
    return records, good, len(raw)


def cut_torn_tail(path: Path) -> int:
    """Cut a torn last line off the journal (and fsync); return how many bytes were cut."""
    _records, good, size = read_journal(path)
    if size <= good:
        return 0
    fd = os.open(path, os.O_WRONLY)
    try:
        os.ftruncate(fd, good)
        os.fsync(fd)
    finally:
        os.close(fd)
    return size - good


def replay(server, path: Path, new_collection) -> int:
    """Apply the journal's complete lines; return how many operations were applied."""
    records, _good, _size = read_journal(path)
    for rec in records:
        for op in rec["ops"]:
            db = server[op["d"]]
            if op["c"] not in db._collections:
                db._collections[op["c"]] = new_collection(op["c"])
            docs = db._collections[op["c"]]._documents
            if op["doc"] is None:
                docs.pop(op["id"], None)
            else:
                docs[op["id"]] = op["doc"]
    return len(records)


def stamp(directory: Path) -> tuple:
    """What changes whenever the stored state changes (for readers deciding to reload)."""
    out = []
    for p in sorted(Path(directory).glob("journal-*.jsonl")) + [Path(directory) / SNAPSHOT]:
        try:
            st = p.stat()
        except OSError:
            continue
        out.append((p.name, st.st_mtime_ns, st.st_size, st.st_ino))
    return tuple(out)


def stale_journals(directory: Path, gen: int) -> list[Path]:
    return [p for p in Path(directory).glob("journal-*.jsonl") if p != journal_path(directory, gen)]


__all__ = ["SNAPSHOT", "append_line", "cut_torn_tail", "dump_snapshot", "journal_line", "journal_path", "load",
           "read_journal", "replay", "stale_journals", "stamp", "write_snapshot"]
