"""heal's durable embedded store: real FireWorks on real mongomock, checked across real processes.

Covers the round trip (run, close, reopen elsewhere), kill -9 durability, the one-writer lock and its
stale-lock takeover, read-only copies that refresh and never write, and MongoDB URI handling.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from fireworks import Firework, FWorker, ScriptTask, Workflow
from fireworks.core.rocket_launcher import rapidfire

from heal.errors import ConfigError, StoreLockedError
from heal.launchpad import DurableStore, ReadOnlyStore, lock_holder, mask_uri, open_launchpad

MONGO_URI = os.environ.get("HEAL_MONGO_URI")  # read before the fixture below hides it
KILL_TRIALS = 5


@pytest.fixture(autouse=True)
def _embedded_only(monkeypatch):
    """The embedded-store tests must not follow HEAL_MONGO_URI to a server."""
    monkeypatch.delenv("HEAL_MONGO_URI", raising=False)


def _child_env() -> dict:
    env = {k: v for k, v in os.environ.items() if k != "HEAL_MONGO_URI"}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _python(code: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """Run `code` in a new interpreter; fail the test with its stderr if it fails."""
    res = subprocess.run([sys.executable, "-c", textwrap.dedent(code), *args], capture_output=True, text=True,
                         timeout=timeout, env=_child_env())
    assert res.returncode == 0, res.stderr[-3000:]
    return res


def _spawn(code: str, *args: str, stdout=subprocess.PIPE) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code), *args], stdout=stdout,
                            stderr=subprocess.PIPE, text=True, env=_child_env())


def _wait_line(proc: subprocess.Popen, expect: str) -> str:
    line = proc.stdout.readline()  # pytest-timeout ends a hung child
    assert line.strip() == expect, f"child said {line!r}; stderr: {proc.stderr.read()[-2000:]}"
    return line


def _chain(n: int, prefix: str = "fw") -> Workflow:
    fws = [Firework(ScriptTask.from_str("true"), name=f"{prefix}-{i}") for i in range(n)]
    return Workflow(fws, {fws[i]: [fws[i + 1]] for i in range(n - 1)}, name=prefix)


def _kill(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)


STATES_CODE = """
    import json, sys
    from heal.launchpad import open_launchpad
    uri = sys.argv[3] if len(sys.argv) > 3 else None
    lp, store = open_launchpad(sys.argv[1], uri, readonly=sys.argv[2] == "ro")
    states = {i: lp.get_fw_by_id(i).state for i in lp.get_fw_ids()}
    print(json.dumps({"states": states, "indexes": sorted(lp.fireworks.index_information())}))
"""


# ---------------------------------------------------------------------------------------------------------
def test_round_trip_across_processes(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # rockets chdir into their launch directories
    camp = tmp_path / "camp"
    lp, store = open_launchpad(camp)
    assert isinstance(store, DurableStore)
    ids = lp.add_wf(_chain(3))
    lp.add_wf(_chain(2, "other"))
    (tmp_path / "launches").mkdir()
    rapidfire(lp, FWorker(), m_dir=str(tmp_path / "launches"), strm_lvl="ERROR")
    assert {lp.get_fw_by_id(i).state for i in lp.get_fw_ids()} == {"COMPLETED"}
    assert store.persist_count > 0
    store.close()
    assert not list((camp / "store").glob(".*.tmp"))

    for mode in ("rw", "ro"):
        out = json.loads(_python(STATES_CODE, str(camp), mode).stdout)
        assert len(out["states"]) == 5 and set(out["states"].values()) == {"COMPLETED"}, out
        assert {str(i) for i in ids.values()} <= set(out["states"])
        assert "fw_id_1" in out["indexes"]  # FireWorks' indexes survive a reload


def test_unique_index_survives_reload(tmp_path):
    lp, store = open_launchpad(tmp_path / "camp")
    lp.add_wf(_chain(1))
    store.close()
    lp2, store2 = open_launchpad(tmp_path / "camp")
    info = lp2.fireworks.index_information()
    assert info["fw_id_1"].get("unique") is True
    doc = lp2.fireworks.find_one({"fw_id": 1}, projection={"_id": 0})
    with pytest.raises(Exception, match="(?i)duplicate"):
        lp2.fireworks.insert_one(doc)
    store2.close()


# ---------------------------------------------------------------------------------------------------------
ADDER = """
    import json, sys, time
    from fireworks import Firework, ScriptTask, Workflow
    from heal.launchpad import open_launchpad
    lp, store = open_launchpad(sys.argv[1])
    print("ready", flush=True)
    i = 0
    while True:
        fws = [Firework(ScriptTask.from_str("true"), name=f"k{i}-{j}") for j in range(2)]
        ids = lp.add_wf(Workflow(fws, {fws[0]: [fws[1]]}, name=f"k{i}"))
        print(json.dumps([sorted(ids.values()), store.persist_seconds / max(1, store.persist_count)]), flush=True)
        i += 1
"""


def _reported(log: Path) -> tuple[list[list[int]], float]:
    """Complete lines only: a line cut by the kill was not reported."""
    text = log.read_text()
    lines = [json.loads(ln) for ln in text.split("\n")[:-1] if ln.strip()]
    return [ln[0] for ln in lines], (lines[-1][1] if lines else 0.0)


def test_kill_9_loses_no_reported_workflow(tmp_path):
    camp = tmp_path / "camp"
    snap = camp / "store" / "launchpad.json"
    seed = 20261201
    print(f"kill delays drawn with random.Random({seed})")
    rng = random.Random(seed)
    reported_all: list[list[int]] = []
    extra_wfs = 0
    stats = []
    for trial in range(KILL_TRIALS):
        log = tmp_path / f"child-{trial}.log"
        with open(log, "w") as fh:
            proc = _spawn(ADDER, str(camp), stdout=fh)
        try:
            t0 = time.monotonic()
            while "ready" not in log.read_text():
                assert proc.poll() is None, proc.stderr.read()
                assert time.monotonic() - t0 < 30
                time.sleep(0.01)
            delay = rng.uniform(0.05, 0.8)
            time.sleep(delay)
        finally:
            _kill(proc)
        assert proc.returncode == -signal.SIGKILL
        log.write_text(log.read_text().replace("ready\n", "", 1))
        reported, per_op = _reported(log)
        assert reported, "the child reported nothing before the kill: raise the delay"
        reported_all += reported
        stats.append((round(delay, 3), len(reported), round(1000 * per_op, 2)))

        json.loads(snap.read_bytes())  # a complete, valid snapshot: never torn
        lp, store = open_launchpad(camp)
        try:
            docs = list(lp.fireworks.find({}, projection={"fw_id": 1, "_id": 0}))
            fw_ids = [d["fw_id"] for d in docs]
            assert len(fw_ids) == len(set(fw_ids)), "duplicate fw_id"
            for ids in reported_all:
                assert set(ids) <= set(fw_ids), f"trial {trial}: reported workflow {ids} lost by the kill"
                wf = lp.workflows.find_one({"nodes": ids[0]})
                assert wf is not None and sorted(wf["nodes"]) == ids
            # at most the one workflow persisted just before the kill is unreported
            n_wfs = lp.workflows.count_documents({})
            assert len(reported_all) + extra_wfs <= n_wfs <= len(reported_all) + extra_wfs + trial + 1
            new = lp.add_wf(_chain(1, f"after-{trial}"))
            extra_wfs += 1
            assert min(new.values()) > max(fw_ids), "fw_id counter went backwards"
        finally:
            store.close()
        assert lock_holder(camp / "store")["pid"] == os.getpid()
        assert not list((camp / "store").glob(".*.tmp")), "a stale temp snapshot was left behind"
    print(f"\nkill trials (delay s, workflows reported, ms per persist): {stats}")


# ---------------------------------------------------------------------------------------------------------
HOLDER = """
    import sys, time
    from heal.launchpad import open_launchpad
    lp, store = open_launchpad(sys.argv[1])
    print("ready", flush=True)
    time.sleep(120)
"""


def test_second_writer_refused_then_takes_over_stale_lock(tmp_path):
    camp = tmp_path / "camp"
    proc = _spawn(HOLDER, str(camp))
    try:
        _wait_line(proc, "ready")
        with pytest.raises(StoreLockedError, match=f"pid {proc.pid}"):
            open_launchpad(camp)
        with pytest.raises(StoreLockedError):
            DurableStore(camp / "store")
        # a reader is not a writer: it can look while the writer holds the lock
        rlp, _ = open_launchpad(camp, readonly=True)
        assert rlp.get_fw_ids() == []
    finally:
        _kill(proc)
    assert lock_holder(camp / "store")["pid"] == proc.pid  # the stale record stays until taken over
    lp, store = open_launchpad(camp)
    try:
        assert lock_holder(camp / "store")["pid"] == os.getpid()
        ids = lp.add_wf(_chain(2))
        assert sorted(ids.values()) == [1, 2]
    finally:
        store.close()


def test_stale_temp_snapshot_is_removed_by_the_writer(tmp_path):
    sdir = tmp_path / "camp" / "store"
    sdir.mkdir(parents=True)
    junk = sdir / ".launchpad.json.abc123.tmp"
    junk.write_text('{"half')
    lp, store = open_launchpad(tmp_path / "camp")
    store.close()
    assert not junk.exists()


# ---------------------------------------------------------------------------------------------------------
READER = """
    import json, sys
    from fireworks import Firework, ScriptTask, Workflow
    from heal.launchpad import open_launchpad
    lp, store = open_launchpad(sys.argv[1], readonly=True)
    ids = lp.get_fw_ids()
    lp.add_wf(Workflow([Firework(ScriptTask.from_str("true"))]))  # only in the reader's private copy
    print(json.dumps({"before": ids, "after": lp.get_fw_ids()}))
"""


def _stamp(p: Path) -> tuple:
    st = p.stat()
    return st.st_mtime_ns, st.st_size, st.st_ino


def test_readers_see_state_refresh_and_never_write(tmp_path):
    camp = tmp_path / "camp"
    lp, store = open_launchpad(camp)
    try:
        first = lp.add_wf(_chain(2))
        snap = camp / "store" / "launchpad.json"
        stamp = _stamp(snap)
        data = snap.read_bytes()
        out = json.loads(_python(READER, str(camp)).stdout)
        assert sorted(out["before"]) == sorted(first.values()) and len(out["after"]) == 3
        assert _stamp(snap) == stamp and snap.read_bytes() == data, "a reader wrote the snapshot"

        rlp, rstore = open_launchpad(camp, readonly=True)
        assert isinstance(rstore, ReadOnlyStore)
        assert sorted(rlp.get_fw_ids()) == sorted(first.values())
        assert rstore.refresh() is False  # nothing changed
        second = lp.add_wf(_chain(1, "later"))
        assert rstore.refresh() is True
        assert rstore.refresh() is False
        new_id = next(iter(second.values()))
        assert new_id in rlp.get_fw_ids()  # the same LaunchPad object sees the refreshed copy
        assert rlp.get_fw_by_id(new_id).name == "later-0"
        assert rlp.get_wf_by_fw_id(new_id).name == "later"
        assert "fw_id_1" in rlp.fireworks.index_information()
    finally:
        store.close()


# ---------------------------------------------------------------------------------------------------------
def test_mask_uri():
    assert mask_uri("mongodb://user:s3cret@host:27017/db") == "mongodb://user:***@host:27017/db"
    assert "s3cret" not in mask_uri("mongodb+srv://u:s3cret@cluster.example.net/db?retryWrites=true")
    assert mask_uri("mongodb://host:27017/db") == "mongodb://host:27017/db"


def test_unreachable_mongodb_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError) as err:
        open_launchpad(tmp_path / "camp", uri="mongodb://heal:s3cret@127.0.0.1:1/x", timeout_ms=300)
    msg = str(err.value)
    assert "store.uri" in msg and "s3cret" not in msg and "heal:***@127.0.0.1:1" in msg, msg


@pytest.mark.skipif(not MONGO_URI, reason="set HEAL_MONGO_URI=mongodb://... to test on a real MongoDB server")
def test_round_trip_on_real_mongodb(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    camp = tmp_path / f"camp{os.getpid()}"
    lp, store = open_launchpad(camp, uri=MONGO_URI)
    assert store is None
    try:
        lp.add_wf(_chain(3))
        (tmp_path / "launches").mkdir()
        rapidfire(lp, FWorker(), m_dir=str(tmp_path / "launches"), strm_lvl="ERROR")
        out = json.loads(_python(STATES_CODE, str(camp), "ro", MONGO_URI).stdout)
        assert len(out["states"]) == 3 and set(out["states"].values()) == {"COMPLETED"}
        assert "fw_id_1" in out["indexes"]
    finally:
        lp.connection.drop_database(lp.db.name)


# --- journal format (heal.storefile) ---------------------------------------------------------------------
def _lp(directory):
    from heal.launchpad import DurableStore, _launchpad_with_client

    store = DurableStore(directory)
    lp = _launchpad_with_client(store.client(), store=store)
    if lp.fw_id_assigner.count_documents({}) == 0:
        lp.reset("", require_password=False)
    return lp, store


def test_journal_torn_last_line_drops_only_that_operation(tmp_path):
    from fireworks import Firework, ScriptTask, Workflow

    lp, store = _lp(tmp_path)
    store.compact_bytes = 10**9  # keep everything in the journal
    lp.add_wf(Workflow([Firework(ScriptTask.from_str("true"), name="a")]))
    lp.add_wf(Workflow([Firework(ScriptTask.from_str("true"), name="b")]))
    journal = next(tmp_path.glob("journal-*.jsonl"))
    store.close()
    data = journal.read_bytes()
    last = data.rstrip(b"\n").rfind(b"\n") + 1
    journal.write_bytes(data[: last + (len(data) - last) // 2])  # a crash in the middle of the last append
    lp2, store2 = _lp(tmp_path)
    names = sorted(d["name"] for d in lp2.fireworks.find({}, {"name": 1}))
    assert names == ["a"]  # the torn operation is wholly absent, the earlier one wholly present
    lp2.add_wf(Workflow([Firework(ScriptTask.from_str("true"), name="c")]))
    assert len(set(lp2.get_fw_ids())) == len(lp2.get_fw_ids()) == 2
    store2.close()


def test_compaction_interrupted_after_the_new_snapshot_is_recovered(tmp_path):
    from fireworks import Firework, ScriptTask, Workflow

    lp, store = _lp(tmp_path)
    store.compact_bytes = 10**9
    for i in range(3):
        lp.add_wf(Workflow([Firework(ScriptTask.from_str("true"), name=f"w{i}")]))
    old_journal = store._journal
    content = old_journal.read_bytes()
    store.compact()  # new snapshot, old journal deleted ...
    old_journal.write_bytes(content)  # ... as if the process died before deleting it
    store.close()
    lp2, store2 = _lp(tmp_path)
    assert sorted(d["name"] for d in lp2.fireworks.find({}, {"name": 1})) == ["w0", "w1", "w2"]
    assert not old_journal.exists()
    store2.close()


def test_persist_cost_does_not_grow_with_the_store(tmp_path):
    """One operation appends what it changed, not the whole store (the point of the journal)."""
    from fireworks import Firework, ScriptTask, Workflow

    lp, store = _lp(tmp_path)
    store.compact_bytes = 10**9
    lp.add_wf(Workflow([Firework(ScriptTask.from_str("true"), name=f"big{i}") for i in range(300)]))
    journal = store._journal
    before = journal.stat().st_size
    lp.add_wf(Workflow([Firework(ScriptTask.from_str("true"), name="one")]))
    grew = journal.stat().st_size - before
    assert 0 < grew < 20_000, grew  # one small workflow, though the store holds 300 Fireworks
    store.close()


def test_journal_replay_reproduces_the_live_state_exactly(tmp_path):
    """After real rockets (checkout, ping, complete, additions), disk == memory, document for document."""
    from bson import json_util
    from fireworks import Firework, FWorker, PyTask, Workflow
    from fireworks.core.rocket_launcher import rapidfire

    from heal.launchpad import ReadOnlyStore

    lp, store = _lp(tmp_path / "store")
    store.compact_bytes = 10**9
    a = Firework(PyTask(func="builtins.len", args=[[1, 2]]), name="a")
    b = Firework([PyTask(func="builtins.len", args=[[1]])], name="b", parents=[a])
    lp.add_wf(Workflow([a, b]))
    (tmp_path / "launches").mkdir()
    rapidfire(lp, FWorker(), m_dir=str(tmp_path / "launches"), strm_lvl="ERROR")
    lp.rerun_fw(lp.get_fw_ids(query={"name": "b"})[0])
    assert len(list((tmp_path / "store").glob("journal-*.jsonl"))) == 1

    def state(server):
        return {(d, c): json_util.dumps(sorted(col._documents.values(), key=lambda x: str(x["_id"])))
                for d, db in server._databases.items() for c, col in db._collections.items() if col._documents}

    live = state(store.server)
    disk = ReadOnlyStore(tmp_path / "store")
    assert state(disk.server) == live
    store.close()

