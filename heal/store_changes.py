"""Change tracking for heal's embedded store: mongomock stores that record which documents each call touched.

A :class:`heal.launchpad.DurableStore` owns the server / database / collection stores made here; while it has an
operation open on a thread, every document a mutating mongomock call matched, inserted or deleted is
recorded, so the store journals exactly those documents after the call (see :mod:`heal.storefile`).
Owners mark themselves with ``tracks_changes = True``; stores without such an owner (read-only copies)
record nothing.
"""

from __future__ import annotations

import functools
import threading

import mongomock
from mongomock.store import CollectionStore, DatabaseStore, ServerStore

_MUTATORS = ("insert_one", "insert_many", "replace_one", "update_one", "update_many", "delete_one", "delete_many",
             "find_one_and_update", "find_one_and_replace", "find_one_and_delete", "bulk_write", "drop",
             "create_index", "create_indexes", "drop_index", "drop_indexes", "rename")


def new_collection(name: str, owner) -> CollectionStore:
    col = _HealCollectionStore(name)
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
            col = self._collections[col_name] = new_collection(col_name, self._heal_owner)
            return col


class HealServerStore(ServerStore):
    def __init__(self, owner=None):
        super().__init__()
        self._heal_owner = owner

    def __getitem__(self, db_name):
        try:
            return self._databases[db_name]
        except KeyError:
            db = self._databases[db_name] = _HealDatabaseStore(self._heal_owner)
            return db


_TRACKED = ("insert_one", "insert_many", "replace_one", "update_one", "update_many", "delete_one", "delete_many",
            "find_one_and_update", "find_one_and_replace", "find_one_and_delete")


class _HealCollectionStore(CollectionStore):
    """Records inserted / deleted ids while its owner has an operation open on this thread."""

    def __setitem__(self, key, val):
        super().__setitem__(key, val)
        _touch(self, key)

    def __delitem__(self, key):
        super().__delitem__(key)
        _touch(self, key)


def _touch(col, _id) -> None:
    owner = getattr(col, "_heal_owner", None)
    if getattr(owner, "tracks_changes", False) and owner._op_thread == threading.get_ident():
        owner._op.setdefault(col, set()).add(_id)


def patch_mongomock() -> None:
    """Make mongomock collections owned by a DurableStore record what each mutating call changed.

    Documents a tracked call touches are the ones mongomock's own scan yields (``_iter_documents``: every
    document an update, replace, delete or find-and-modify matched) plus inserted and deleted ids: a
    superset of what changed, found without any extra scan. Untracked mutations (drop, index changes,
    bulk writes, renames) ask for a full snapshot.
    """
    if getattr(mongomock.Collection, "_heal_patched", False):
        return
    orig_iter = mongomock.Collection._iter_documents

    def _iter_documents(self, filter):
        docs = orig_iter(self, filter)
        owner = getattr(self._store, "_heal_owner", None)
        if not getattr(owner, "tracks_changes", False) or owner._op_thread != threading.get_ident():
            return docs
        ids = owner._op.setdefault(self._store, set())
        return (ids.add(d["_id"]) or d for d in docs)

    mongomock.Collection._iter_documents = _iter_documents
    for name in _MUTATORS:
        orig = getattr(mongomock.Collection, name, None)
        if orig is None:
            continue

        def make(orig, name):
            @functools.wraps(orig)
            def wrapper(self, *args, **kwargs):
                owner = getattr(self._store, "_heal_owner", None)
                if not getattr(owner, "tracks_changes", False):
                    return orig(self, *args, **kwargs)
                with owner._mutex:
                    outer = owner._op_thread is None
                    if outer:
                        owner._op_thread = threading.get_ident()
                    try:
                        result = orig(self, *args, **kwargs)
                    finally:
                        if outer:
                            owner._op_thread = None
                            touched, owner._op = owner._op, {}
                    if outer:
                        owner._changed(touched, full=name not in _TRACKED)
                return result
            return wrapper

        setattr(mongomock.Collection, name, make(orig, name))
    mongomock.Collection._heal_patched = True
