"""The LaunchPad factory: a MongoDB server, or heal's durable embedded store.

Embedded store
--------------
FireWorks can run on mongomock (an in-memory MongoDB), but its persistence add-on writes the whole state
only at clean process exit, with a plain ``open(..., 'w')`` and no locking. heal keeps FireWorks' mongomock
path and makes it durable itself:

- **persist after every state change**: every LaunchPad operation (a checkout, a completion, an add_wf)
  appends the documents it changed to a journal as one fsynced line; the journal is compacted into a
  snapshot written by temp file + fsync + rename (format and crash rules: :mod:`heal.storefile`). A torn
  last line is dropped on load and cut off by the next writer before it appends, so an operation is in the
  state wholly or not at all. Cost per operation is proportional to what changed, not to the size of the store;
- **a failed write stops the writer**: when a journal line or a snapshot cannot be written (a full disk:
  :class:`~heal.errors.DiskFullError`), the store keeps the error, refuses every later write and the worker
  stops; what is on disk is every operation acknowledged before, and a new process resumes from there;
- **one writer at a time**: ``writer.lock`` is held with ``flock`` by the writing process and names its
  holder (pid, host, command, start time). The kernel drops the lock when the holder dies, so a stale lock is
  taken over automatically; a second live writer gets :class:`StoreLockedError` naming the holder;
- **readers on a copy**: :func:`open_readonly` loads the snapshot into a private store that never writes
  back; :meth:`ReadOnlyStore.refresh` reloads it when the file changed (the web GUI does this per request);
- indexes are saved with the documents (index changes force a snapshot), so a reload keeps FireWorks'
  unique indexes.

Only small documents go in the store (ids, paths, hashes, statistics); frames, models and trajectories live
on disk in the campaign directory.
"""

from __future__ import annotations

import errno
import fcntl
import functools
import json
import logging
import os
import socket
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import mongomock

from heal import storefile as sf
from heal.errors import ConfigError, SetupError, StoreLockedError
from heal.store_changes import HealServerStore, new_collection, patch_mongomock

log = logging.getLogger("heal.launchpad")

DB_NAME = "heal"
LOCK = "writer.lock"



# ---------------------------------------------------------------------------------------------------------
class DurableStore:
    """A mongomock server store persisted after every change (journal + snapshots, see heal.storefile)."""

    tracks_changes = True  # heal.store_changes records what each mongomock call touched

    #: compact the journal into a new snapshot when it outgrows this many bytes and the snapshot
    compact_bytes = 4_000_000

    def __init__(self, directory: Path):
        self.dir = Path(directory).resolve()
        self.dir.mkdir(parents=True, exist_ok=True)
        self.path = self.dir / sf.SNAPSHOT
        self._mutex = threading.RLock()
        self._batch = 0
        self._dirty: dict[tuple[str, str], set] = {}
        self._full = False
        self._op: dict = {}  # collection store -> ids touched by the operation in progress
        self._op_thread: int | None = None
        self.persist_count = 0
        self.persist_seconds = 0.0
        self._lock_fd: int | None = None
        #: the error that made a write fail; once set, the store writes nothing more (see persist)
        self.failure: BaseException | None = None
        self._acquire_lock()
        for junk in self.dir.glob(f".{sf.SNAPSHOT}.*.tmp"):  # a writer killed mid-persist; only writers make these
            junk.unlink(missing_ok=True)
        self.server = HealServerStore(self)
        self.gen = sf.load(self.server, self.dir, lambda name: new_collection(name, self))
        for old in sf.stale_journals(self.dir, self.gen):  # compaction interrupted after the new snapshot
            old.unlink(missing_ok=True)
        self._journal = sf.journal_path(self.dir, self.gen)
        cut = sf.cut_torn_tail(self._journal)  # before any append: the next line must start on its own
        if cut:
            log.warning("%s: cut a torn last line (%d bytes) left by a crash; every complete operation is kept",
                        self._journal, cut)
        self._snapshot_size = self.path.stat().st_size if self.path.is_file() else 0
        patch_mongomock()

    # -- writer lock -----------------------------------------------------------------------------------
    def _acquire_lock(self) -> None:
        path = self.dir / LOCK
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = lock_holder(self.dir) or {}
            os.close(fd)
            raise StoreLockedError(
                f"the campaign store {self.dir} is in use by pid {holder.get('pid', '?')} on "
                f"{holder.get('host', '?')} ({holder.get('command', '?')}, since {holder.get('since', '?')}); "
                f"wait for it to finish or stop it, then retry") from None
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL):
                raise SetupError(
                    f"{path}: the filesystem holding the campaign does not support file locks (flock: "
                    f"{os.strerror(exc.errno)}); on Lustre mount it with '-o flock' (not 'noflock' or "
                    f"'localflock'), on NFS run the lock daemon (no 'nolock' mount option), or put the campaign "
                    f"on a local disk or use a MongoDB store (store.uri)") from None
            raise
        info = {"pid": os.getpid(), "host": socket.gethostname(), "command": " ".join(sys.argv[:3]),
                "since": time.strftime("%Y-%m-%dT%H:%M:%S")}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode(), 0)
        os.fsync(fd)
        self._lock_fd = fd

    def close(self) -> None:
        if self._lock_fd is not None:
            if self.failure is None:
                with self._mutex:
                    self.persist()
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
            self._lock_fd = None

    # -- persistence -----------------------------------------------------------------------------------
    def _changed(self, touched: dict, full: bool = False) -> None:
        if full:
            self._full = True
        if touched:
            where = {id(col): (dbname, cname) for dbname, db in self.server._databases.items()
                     for cname, col in db._collections.items()}
            for col, ids in touched.items():
                if id(col) in where:
                    self._dirty.setdefault(where[id(col)], set()).update(ids)
                else:
                    self._full = True  # a collection store replaced during the call (drop/rename)
        if self._batch == 0:
            self.persist()

    def persist(self) -> None:
        """Write what changed since the last call: a journal line, or a new snapshot when due.

        A write that fails leaves the memory ahead of the disk: the error is kept in :attr:`failure` and
        raised again by every later persist, so nothing more is written (a later line must never stand on
        a missing one); the process stops and a new one resumes from what is on disk.
        """
        with self._mutex:
            if self.failure is not None:
                raise self.failure
            if not self._full and not self._dirty:
                return
            t0 = time.perf_counter()
            try:
                if self._full or not self.path.is_file():
                    self.compact()
                else:
                    size = sf.append_line(self._journal, sf.journal_line(self.server, self._dirty))
                    if size > max(self.compact_bytes, self._snapshot_size):
                        self.compact()
            except Exception as exc:
                self.failure = exc
                raise
            self._dirty.clear()
            self._full = False
            self.persist_count += 1
            self.persist_seconds += time.perf_counter() - t0

    def compact(self) -> None:
        """Write the whole state as snapshot gen+1, then drop the old journal."""
        with self._mutex:
            old = self._journal
            sf.write_snapshot(self.dir, self.server, self.gen + 1)
            self.gen += 1
            self._journal = sf.journal_path(self.dir, self.gen)
            old.unlink(missing_ok=True)
            self._snapshot_size = self.path.stat().st_size

    @contextmanager
    def batch(self):
        """Group the changes made inside into one journal line (written when the outermost batch exits)."""
        with self._mutex:
            self._batch += 1
        try:
            yield self
        finally:
            with self._mutex:
                self._batch -= 1
                if self._batch == 0:
                    self.persist()

    def client(self) -> mongomock.MongoClient:
        return mongomock.MongoClient(_store=self.server)


def lock_holder(directory: Path) -> dict | None:
    try:
        return json.loads((Path(directory) / LOCK).read_text() or "null")
    except (OSError, ValueError):
        return None


class ReadOnlyStore:
    """A private copy of the stored state for readers (status, web GUI); never written back."""

    def __init__(self, directory: Path):
        self.dir = Path(directory).resolve()
        self.path = self.dir / sf.SNAPSHOT
        self.server = HealServerStore(None)
        self._stamp: tuple | None = None
        self.refresh()

    def refresh(self) -> bool:
        """Reload (in place, so open LaunchPads see it) if the stored state changed; True if it did."""
        for _ in range(3):  # a compaction may swap files under us: retry on a vanished file
            stamp = sf.stamp(self.dir)
            if not stamp or stamp == self._stamp:
                return False
            try:
                sf.load(self.server, self.dir, lambda name: new_collection(name, None))
            except FileNotFoundError:
                continue
            self._stamp = stamp
            return True
        return False

    def client(self) -> mongomock.MongoClient:
        return mongomock.MongoClient(_store=self.server)


# ---------------------------------------------------------------------------------------------------------
def mask_uri(uri: str) -> str:
    """``mongodb://user:secret@host`` -> ``mongodb://user:***@host`` (for every log and error line)."""
    import re

    return re.sub(r"(mongodb(?:\+srv)?://[^:/@]+):[^@]*@", r"\1:***@", uri)


def _batched_launchpad_class(store: DurableStore):
    """A LaunchPad subclass whose every public call is one batch: one snapshot per LaunchPad operation.

    FireWorks changes several collections per operation (a checkout touches fireworks, launches and
    workflows); snapshotting once at the end of the operation costs one write instead of ~15 and never
    leaves a snapshot between two halves of one operation.
    """
    from fireworks.core.launchpad import LaunchPad

    def wrap(fn):
        @functools.wraps(fn)
        def wrapper(self, *args, **kwargs):
            with store.batch():
                return fn(self, *args, **kwargs)
        return wrapper

    attrs = {}
    for name, fn in vars(LaunchPad).items():
        if not name.startswith("_") and callable(fn) and not isinstance(fn, (staticmethod, classmethod)):
            attrs[name] = wrap(fn)
    return type("DurableLaunchPad", (LaunchPad,), attrs)


def _launchpad_with_client(client, name: str = DB_NAME, store: DurableStore | None = None):
    """A FireWorks LaunchPad whose connection is `client` (mongomock) instead of a pymongo client."""
    import mongomock.gridfs
    from fireworks.core import launchpad as lpmod

    mongomock.gridfs.enable_gridfs_integration()  # FireWorks' GridFS fallback for large documents
    orig = lpmod.MongoClient
    lpmod.MongoClient = lambda *a, **k: client
    try:
        cls = lpmod.LaunchPad if store is None else _batched_launchpad_class(store)
        lp = cls(host="localhost", port=27017, name=name, strm_lvl="ERROR")
    finally:
        lpmod.MongoClient = orig
    lp.heal_store = store  # the worker checks store.failure after each Firework
    return lp


def open_launchpad(campaign_dir: Path, uri: str | None = None, *, readonly: bool = False, timeout_ms: int = 5000):
    """Return ``(launchpad, store)``: MongoDB when `uri` (or ``HEAL_MONGO_URI``) is set, else the embedded store.

    `store` is the DurableStore / ReadOnlyStore of the embedded path, or None for MongoDB.
    """
    uri = uri or os.environ.get("HEAL_MONGO_URI")
    if uri:
        from fireworks import LaunchPad
        from pymongo.errors import PyMongoError

        name = Path(campaign_dir).name.replace(".", "_")
        try:
            lp = LaunchPad(host=uri, uri_mode=True, name=f"heal_{name}", strm_lvl="ERROR",
                           mongoclient_kwargs={"serverSelectionTimeoutMS": timeout_ms})
            lp.connection.admin.command("ping")
            if not readonly:
                _initialise(lp)
        except PyMongoError as exc:
            raise ConfigError(f"field 'store.uri': cannot reach MongoDB at {mask_uri(uri)}: "
                              f"{mask_uri(str(exc))[:300]}; check the host, port and credentials, "
                              f"or remove store.uri to use the embedded store") from None
        return lp, None
    sdir = Path(campaign_dir) / "store"
    if readonly:
        store = ReadOnlyStore(sdir)
        return _launchpad_with_client(store.client()), store
    store = DurableStore(sdir)
    lp = _launchpad_with_client(store.client(), store=store)
    _initialise(lp)
    return lp, store


def _initialise(lp) -> None:
    """A new store (no fw_id counter yet) gets FireWorks' collections and indexes; an existing one is kept."""
    if lp.fw_id_assigner.count_documents({}) == 0:
        lp.reset("", require_password=False)
