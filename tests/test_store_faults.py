"""The embedded store under the failures SIGKILL cannot make: a torn journal tail, short writes, a full disk,
a filesystem without ``flock``. Real FireWorks on real mongomock; the full disk is a real tmpfs filled up.
"""

from __future__ import annotations

import errno
import shutil

import pytest
from fireworks import Firework, ScriptTask, Workflow

from heal import storefile as sf
from heal.errors import DiskFullError, SetupError, StoreCorruptError
from heal.launchpad import DurableStore, _launchpad_with_client


def _lp(directory):
    store = DurableStore(directory)
    lp = _launchpad_with_client(store.client(), store=store)
    if lp.fw_id_assigner.count_documents({}) == 0:
        lp.reset("", require_password=False)
    store.compact_bytes = 10**9  # keep every operation in the journal
    return lp, store


def _add(lp, name: str) -> None:
    lp.add_wf(Workflow([Firework(ScriptTask.from_str("true"), name=name)]))


def _names(lp) -> list[str]:
    return sorted(d["name"] for d in lp.fireworks.find({}, {"name": 1}))


def _fw_ids_consistent(lp) -> bool:
    ids = lp.get_fw_ids()
    next_id = lp.fw_id_assigner.find_one({})["next_fw_id"]
    return len(ids) == len(set(ids)) and all(i < next_id for i in ids)


def _last_line_span(journal) -> tuple[int, int]:
    data = journal.read_bytes()
    start = data.rstrip(b"\n").rfind(b"\n") + 1
    return start, len(data)


@pytest.fixture(scope="module")
def journal_pair(tmp_path_factory):
    """A store whose journal holds add_wf a, add_wf b, then a small last operation (a marker document)."""
    base = tmp_path_factory.mktemp("torn")
    lp, store = _lp(base / "store")
    _add(lp, "a")
    _add(lp, "b")
    lp.db.heal_markers.insert_one({"marker": "last"})
    store.close()
    return base / "store"


def _tear_and_check(src, dst, keep: int) -> None:
    """Tear the last journal line after `keep` of its bytes, reopen, append, reopen: nothing complete is lost."""
    shutil.copytree(src, dst)
    journal = next(dst.glob("journal-*.jsonl"))
    start, end = _last_line_span(journal)
    with open(journal, "r+b") as fh:
        fh.truncate(start + keep)
    lp, store = _lp(dst)
    assert _names(lp) == ["a", "b"]                 # every complete operation
    assert lp.db.heal_markers.count_documents({}) == 0 or keep == end - start - 1
    _add(lp, "c")                                   # the next operation after the tear
    store.close()
    lp2, store2 = _lp(dst)
    try:
        assert _names(lp2) == ["a", "b", "c"]
        assert _fw_ids_consistent(lp2)
        _add(lp2, "d")
        assert _fw_ids_consistent(lp2) and len(set(lp2.get_fw_ids())) == 4
    finally:
        store2.close()


def test_torn_last_line_at_every_byte_offset_loses_no_complete_operation(journal_pair, tmp_path):
    journal = next(journal_pair.glob("journal-*.jsonl"))
    start, end = _last_line_span(journal)
    n = end - start
    assert 20 < n < 400, n  # the small marker operation
    for keep in range(n):   # 0: the line is gone entirely; n - 1: only its newline is missing
        _tear_and_check(journal_pair, tmp_path / f"k{keep}", keep)


def test_torn_add_wf_line_at_spread_offsets(tmp_path):
    """The same with a real add_wf as the torn operation (a longer line: every 37th byte and both ends)."""
    src = tmp_path / "src"
    lp, store = _lp(src)
    _add(lp, "a")
    _add(lp, "b")
    _add(lp, "torn")
    store.close()
    start, end = _last_line_span(next(src.glob("journal-*.jsonl")))
    for keep in sorted({0, 1, end - start - 2, end - start - 1, *range(0, end - start, 37)}):
        dst = tmp_path / f"k{keep}"
        shutil.copytree(src, dst)
        journal = next(dst.glob("journal-*.jsonl"))
        with open(journal, "r+b") as fh:
            fh.truncate(start + keep)
        lp, store = _lp(dst)
        assert _names(lp) == ["a", "b"]
        _add(lp, "c")
        store.close()
        lp2, store2 = _lp(dst)
        assert _names(lp2) == ["a", "b", "c"] and _fw_ids_consistent(lp2), keep
        store2.close()


def test_garbage_in_the_last_line_is_cut_but_damage_before_good_lines_is_refused(tmp_path):
    lp, store = _lp(tmp_path / "s")
    for name in ("a", "b", "c"):
        _add(lp, name)
    store.close()
    journal = next((tmp_path / "s").glob("journal-*.jsonl"))
    good = journal.read_bytes()
    journal.write_bytes(good + b"\0\0\0\0{\"ops\": [")   # power loss: the size grew, the data did not land
    lp, store = _lp(tmp_path / "s")
    assert _names(lp) == ["a", "b", "c"] and journal.read_bytes() == good
    store.close()
    lines = good.split(b"\n")
    lines[1] = b"{not json at all"
    journal.write_bytes(b"\n".join(lines))
    with pytest.raises(StoreCorruptError, match=r"line 2 is damaged and complete lines follow"):
        DurableStore(tmp_path / "s")
    assert journal.read_bytes() == b"\n".join(lines)   # nothing was cut


def test_a_short_write_is_undone_and_stops_the_writer(tmp_path, monkeypatch):
    lp, store = _lp(tmp_path / "s")
    _add(lp, "a")
    journal = store._journal
    size = journal.stat().st_size
    real_write = sf.os.write

    def short_then_full(fd, data):
        n = real_write(fd, bytes(data)[: len(data) // 2])   # the kernel takes half ...
        monkeypatch.setattr(sf.os, "write", full)
        return n

    def full(fd, data):
        raise OSError(errno.ENOSPC, "No space left on device")  # ... then the disk is full

    monkeypatch.setattr(sf.os, "write", short_then_full)
    with pytest.raises(DiskFullError, match=f"disk full: {journal}"):
        _add(lp, "b")
    monkeypatch.setattr(sf.os, "write", real_write)
    assert journal.stat().st_size == size                   # the half line was cut back
    with pytest.raises(DiskFullError):                     # nothing more is written by this process
        _add(lp, "c")
    assert journal.stat().st_size == size
    store.close()                                          # releases the lock, writes nothing
    lp2, store2 = _lp(tmp_path / "s")
    assert _names(lp2) == ["a"]
    _add(lp2, "b")
    assert _names(lp2) == ["a", "b"]
    store2.close()


def test_full_disk_on_journal_append_and_on_snapshot(small_fs):
    root = small_fs.root / "store"
    lp, store = _lp(root)
    _add(lp, "a")
    _add(lp, "b")
    small_fs.fill()
    acknowledged = ["a", "b"]
    with pytest.raises(DiskFullError, match=r"disk full: .*journal-\d+\.jsonl") as err:
        for i in range(64):  # appends fit in the journal's last page until it is full: then ENOSPC
            _add(lp, f"x{i}")
            acknowledged.append(f"x{i}")
    print(f"{len(acknowledged) - 2} appends fitted after the disk filled; then: {err.value}")
    store.close()
    small_fs.free()
    lp, store = _lp(root)
    assert _names(lp) == sorted(acknowledged)  # every acknowledged operation, not the failed one
    _add(lp, "c")
    acknowledged.append("c")
    small_fs.fill()
    with pytest.raises(DiskFullError, match=r"disk full: .*launchpad\.json"):
        lp.fireworks.create_index("heal_probe")  # an index change is persisted as a whole new snapshot
    assert not list(root.glob(".launchpad.json.*.tmp"))      # the temp snapshot was removed
    store.close()
    small_fs.free()
    lp2, store2 = _lp(root)
    assert _names(lp2) == sorted(acknowledged)
    assert "heal_probe_1" not in lp2.fireworks.index_information()  # the failed operation is not there
    store2.close()


def test_a_filesystem_without_flock_is_a_clear_error(tmp_path, monkeypatch):
    import fcntl

    def no_locks(fd, op):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(fcntl, "flock", no_locks)
    with pytest.raises(SetupError, match=r"does not support file locks.*Lustre.*-o flock"):
        DurableStore(tmp_path / "s")
