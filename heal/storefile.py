"""On-disk format of heal's embedded store: a snapshot plus an append-only journal.

- ``launchpad.json``: ``{"gen": G, "data": {db: {collection: {documents, indexes, created}}}}``, written
  whole by temp file + fsync + rename (never torn);
- ``journal-G.jsonl``: one line per LaunchPad operation since snapshot G, each line
  ``{"ops": [{"d": db, "c": collection, "id": _id, "doc": document | null}, ...]}`` (null = deleted),
  appended with O_APPEND and fsynced. A line torn by a crash is not valid JSON and ends the replay there,
  so an operation is either wholly in the state or not at all.
- Compaction writes snapshot G+1, then deletes journal G. A crash between the two leaves an old journal
  that no snapshot refers to; the next writer removes it.

Documents are MongoDB extended JSON (``bson.json_util``) so datetimes and ObjectIds survive.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from pathlib import Path

from bson import json_util
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
    """Append and fsync; return the journal's new size in bytes."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
        os.fsync(fd)
        return os.fstat(fd).st_size
    finally:
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


def replay(server, path: Path, new_collection) -> int:
    """Apply the journal's complete lines; return how many operations were applied."""
    if not path.is_file():
        return 0
    n = 0
    with open(path, "rb") as fh:
        for raw in fh:
            if not raw.endswith(b"\n"):
                break  # torn by a crash
            try:
                rec = json_util.loads(raw.decode())
            except (ValueError, UnicodeDecodeError):
                break
            for op in rec["ops"]:
                db = server[op["d"]]
                if op["c"] not in db._collections:
                    db._collections[op["c"]] = new_collection(op["c"])
                docs = db._collections[op["c"]]._documents
                if op["doc"] is None:
                    docs.pop(op["id"], None)
                else:
                    docs[op["id"]] = op["doc"]
            n += 1
    return n


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


__all__ = ["SNAPSHOT", "append_line", "dump_snapshot", "journal_line", "journal_path", "load",
           "replay", "stale_journals", "stamp", "write_snapshot"]
