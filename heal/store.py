"""The LaunchPad factory: a MongoDB server, or heal's durable embedded store.

Embedded store
--------------
FireWorks can run on mongomock (an in-memory MongoDB), but its persistence add-on writes the whole state
only at clean process exit, with a plain ``open(..., 'w')`` and no locking. heal keeps FireWorks' mongomock
path and makes it durable itself:

- **persist after every state change**: every mutating collection call (insert / update / replace /
  delete / find-and-modify / bulk / index changes) is followed by a snapshot of the whole server store,
  written to a temp file, fsynced and renamed over ``launchpad.json`` (readers never see a torn file);
  ``with store.batch():`` groups many changes into one snapshot where the caller knows they belong together;
- **one writer at a time**: ``writer.lock`` is held with ``flock`` by the writing process and names its
  holder (pid, host, command, start time). The kernel drops the lock when the holder dies, so a stale lock is
  taken over automatically; a second live writer gets :class:`StoreLockedError` naming the holder;
- **readers on a copy**: :func:`open_readonly` loads the snapshot into a private store that never writes
  back; :meth:`ReadOnlyStore.refresh` reloads it when the file changed (the web GUI does this per request);
- indexes are saved with the documents, so a reload keeps FireWorks' unique indexes.

Only small documents go in the store (ids, paths, hashes, statistics); frames, models and trajectories live
on disk in the campaign directory.
"""

from __future__ import annotations

import fcntl
import functools
import json
import os
import socket
import sys
import threading
import time
from collections import OrderedDict
from contextlib import contextmanager
from pathlib import Path

import mongomock
from bson import json_util
from mongomock.store import CollectionStore, DatabaseStore, ServerStore

from heal.errors import ConfigError, StoreLockedError
from heal.fsutil import atomic_write_bytes

DB_NAME = "heal"
SNAPSHOT = "launchpad.json"
LOCK = "writer.lock"

_MUTATORS = ("insert_one", "insert_many", "replace_one", "update_one", "update_many", "delete_one", "delete_many",
             "find_one_and_update", "find_one_and_replace", "find_one_and_delete", "bulk_write", "drop",
             "create_index", "create_indexes", "drop_index", "drop_indexes", "rename")


# ---------------------------------------------------------------------------------------------------------
# snapshot (de)serialisation
def _dump(server: ServerStore) -> bytes:
    out = {}
    for dbname, db in server._databases.items():
        cols = {}
        for cname, col in db._collections.items():
            with col._rwlock.reader():
                docs = list(col._documents.values())
            cols[cname] = {"documents": docs, "indexes": col.indexes, "created": col._is_force_created}
        out[dbname] = cols
    return json_util.dumps(out).encode()


def _load_into(server: ServerStore, data: bytes, owner=None) -> None:
    """Replace the server's contents with a snapshot, in place.

    Database stores are kept (their collections swapped), because a LaunchPad's mongomock Database holds
    its DatabaseStore object: new ones would leave a refreshed reader's LaunchPad on the old data.
    """
    dct = json_util.loads(data.decode()) if data.strip() else {}
    for dbname, cols in dct.items():
        new = {}
        for cname, c in cols.items():
            col = _new_collection(cname, owner)
            col._documents = OrderedDict((d["_id"], d) for d in c["documents"])
            col.indexes = c.get("indexes", {})
            col._is_force_created = c.get("created", False) or bool(col._documents)
            new[cname] = col
        server[dbname]._collections = new
    for dbname, db in server._databases.items():
        if dbname not in dct:
            db._collections = {}


def _new_collection(name: str, owner) -> CollectionStore:
    col = CollectionStore(name)
    col._heal_owner = owner
    return col


class _HealDatabaseStore(DatabaseStore):
    def __init__(self, owner=None):
        super().__init__()
        self._heal_owner = owner

    def __getitem__(self, col_name):
        try:
            return self._collections[col_name]
        except KeyError:
            col = self._collections[col_name] = _new_collection(col_name, self._heal_owner)
            return col


class _HealServerStore(ServerStore):
    def __init__(self, owner=None):
        super().__init__()
        self._heal_owner = owner

    def __getitem__(self, db_name):
        try:
            return self._databases[db_name]
        except KeyError:
            db = self._databases[db_name] = _HealDatabaseStore(self._heal_owner)
            return db


def _patch_mongomock() -> None:
    """Make mongomock collections owned by a DurableStore persist after each mutating call."""
    if getattr(mongomock.Collection, "_heal_patched", False):
        return
    for name in _MUTATORS:
        orig = getattr(mongomock.Collection, name, None)
        if orig is None:
            continue

        def make(orig):
            @functools.wraps(orig)
            def wrapper(self, *args, **kwargs):
                owner = getattr(self._store, "_heal_owner", None)
                if owner is None or not isinstance(owner, DurableStore):
                    return orig(self, *args, **kwargs)
                with owner._mutex:
                    result = orig(self, *args, **kwargs)
                    owner._changed()
                return result
            return wrapper

        setattr(mongomock.Collection, name, make(orig))
    mongomock.Collection._heal_patched = True


# ---------------------------------------------------------------------------------------------------------
class DurableStore:
    """A mongomock server store persisted to ``<dir>/launchpad.json`` after every change; one writer."""

    def __init__(self, directory: Path):
        self.dir = Path(directory).resolve()
        self.dir.mkdir(parents=True, exist_ok=True)
        self.path = self.dir / SNAPSHOT
        self._mutex = threading.RLock()
        self._batch = 0
        self._dirty = False
        self.persist_count = 0
        self.persist_seconds = 0.0
        self._lock_fd: int | None = None
        self._acquire_lock()
        for junk in self.dir.glob(f".{SNAPSHOT}.*.tmp"):  # a writer killed mid-persist; only writers make these
            junk.unlink(missing_ok=True)
        self.server = _HealServerStore(self)
        if self.path.is_file():
            _load_into(self.server, self.path.read_bytes(), owner=self)
        _patch_mongomock()

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
        info = {"pid": os.getpid(), "host": socket.gethostname(), "command": " ".join(sys.argv[:3]),
                "since": time.strftime("%Y-%m-%dT%H:%M:%S")}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode(), 0)
        os.fsync(fd)
        self._lock_fd = fd

    def close(self) -> None:
        if self._lock_fd is not None:
            with self._mutex:
                if self._dirty:
                    self.persist()
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
            self._lock_fd = None

    # -- persistence -----------------------------------------------------------------------------------
    def _changed(self) -> None:
        self._dirty = True
        if self._batch == 0:
            self.persist()

    def persist(self) -> None:
        with self._mutex:
            t0 = time.perf_counter()
            atomic_write_bytes(self.path, _dump(self.server))
            self._dirty = False
            self.persist_count += 1
            self.persist_seconds += time.perf_counter() - t0

    @contextmanager
    def batch(self):
        """Group the changes made inside into one snapshot (written when the outermost batch exits)."""
        with self._mutex:
            self._batch += 1
        try:
            yield self
        finally:
            with self._mutex:
                self._batch -= 1
                if self._batch == 0 and self._dirty:
                    self.persist()

    def client(self) -> mongomock.MongoClient:
        return mongomock.MongoClient(_store=self.server)


def lock_holder(directory: Path) -> dict | None:
    try:
        return json.loads((Path(directory) / LOCK).read_text() or "null")
    except (OSError, ValueError):
        return None


class ReadOnlyStore:
    """A private copy of the snapshot for readers (status, web GUI); never written back."""

    def __init__(self, directory: Path):
        self.dir = Path(directory).resolve()
        self.path = self.dir / SNAPSHOT
        self.server = _HealServerStore(None)
        self._stamp: tuple | None = None
        self.refresh()

    def refresh(self) -> bool:
        """Reload if the snapshot changed since the last load; True if it did."""
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return False
        stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
        if stamp == self._stamp:
            return False
        _load_into(self.server, self.path.read_bytes(), owner=None)
        self._stamp = stamp
        return True

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
