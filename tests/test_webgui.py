"""``heal webgui``: FireWorks' GUI and heal's /heal page served from a campaign's read-only store copy.

A real server process on a free loopback port; the test is the store's writer and adds a workflow while
the server runs, which must then be visible (no HTTP 500).
"""

from __future__ import annotations

import base64
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml
from fireworks import Firework, ScriptTask, Workflow

from heal.config import parse_config
from heal.errors import ConfigError
from heal.report.webgui import check_auth_settings, is_loopback, status_html
from heal.launchpad import open_launchpad

HEAL = "import sys; from heal.cli import main; sys.argv[0] = 'heal'; main()"
START_TIMEOUT = 60


@pytest.fixture(autouse=True)
def _embedded_only(monkeypatch):
    monkeypatch.delenv("HEAL_MONGO_URI", raising=False)


def _env() -> dict:
    return {k: v for k, v in os.environ.items()
            if k not in ("HEAL_MONGO_URI", "HEAL_WEBGUI_USER", "HEAL_WEBGUI_PASSWORD")}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _campaign(root: Path) -> Path:
    cfg = parse_config({"name": "gui", "system": {"elements": ["Ni", "Al"]}, "root": str(root)})
    root.mkdir(parents=True)
    (root / "campaign.yaml").write_text(yaml.safe_dump(cfg.model_dump(mode="json", exclude={"source"}),
                                                       sort_keys=True))
    return root


def _iteration_wf(root: Path, it: int) -> Workflow:
    fws = []
    for k, stage in enumerate(("train", "explore", "select")):
        spec = {"_launch_dir": str(root / f"iter-{it:03d}" / stage), "campaign": str(root), "heal_stage": stage,
                "iteration": it, "index": k}
        fws.append(Firework([ScriptTask.from_str("true")], spec=spec, name=f"gui it{it} {stage}"))
    return Workflow(fws, {fws[0]: [fws[1]], fws[1]: [fws[2]]}, name=f"heal gui iteration {it}")


def _get(url: str, auth: tuple[str, str] | None = None) -> tuple[int, str]:
    req = urllib.request.Request(url)
    if auth:
        req.add_header("Authorization", "Basic " + base64.b64encode(":".join(auth).encode()).decode())
    try:
        with urllib.request.urlopen(req, timeout=20) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode(errors="replace")


def _start(root: Path, port: int, *extra: str, env: dict | None = None) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", HEAL, "webgui", str(root), "--port", str(port), *extra],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env={**_env(), **(env or {})})
    t0 = time.monotonic()
    while time.monotonic() - t0 < START_TIMEOUT:
        if proc.poll() is not None:
            pytest.fail(f"heal webgui exited with {proc.returncode}: {proc.stderr.read()[-3000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return proc
        except OSError:
            time.sleep(0.2)
    _stop(proc)
    pytest.fail("heal webgui did not answer in time")


def _stop(proc: subprocess.Popen) -> str:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.stderr.read()


def _stamp(p: Path) -> tuple:
    st = p.stat()
    return st.st_mtime_ns, st.st_size, st.st_ino


# ---------------------------------------------------------------------------------------------------------
def test_webgui_serves_fireworks_and_heal_pages_and_refreshes(tmp_path):
    root = _campaign(tmp_path / "camp")
    lp, store = open_launchpad(root)  # the test is the writer; the server only reads
    proc = None
    try:
        first = lp.add_wf(_iteration_wf(root, 0))
        port = _free_port()
        t0 = time.monotonic()
        proc = _start(root, port)
        started = time.monotonic() - t0
        base = f"http://127.0.0.1:{port}"
        wf0 = min(first.values())

        code, body = _get(f"{base}/")
        assert code == 200 and "heal gui iteration 0" in body
        code, body = _get(f"{base}/wf/{wf0}")
        assert code == 200 and "gui it0 train" in body
        # jQuery from this server (xstatic-jquery), not from a CDN; a link back to heal's pages
        assert "code.jquery.com" not in body and 'src="/heal/static/jquery.min.js"' in body
        assert 'href="/heal"' in body
        code, js = _get(f"{base}/heal/static/jquery.min.js")
        assert code == 200 and "jQuery" in js[:2000]
        assert _get(f"{base}/fw/{wf0}")[0] == 200
        code, body = _get(f"{base}/heal/status")
        assert code == 200 and "heal campaign gui" in body and "waiting" in body, body
        code, body = _get(f"{base}/heal")  # the live report, linked to FireWorks' pages
        assert code == 200 and "heal campaign gui" in body and f'href="/wf/{wf0}"' in body, body
        assert _get(f"{base}/heal/")[0] == 200
        code, body = _get(f"{base}/heal/status.json")
        assert code == 200 and '"iteration": 0' in body

        # the writer adds a workflow after the server started: its page must appear (no HTTP 500)
        second = lp.add_wf(_iteration_wf(root, 1))
        snap = root / "store" / "launchpad.json"
        stamp = _stamp(snap)
        wf1 = min(second.values())
        code, body = _get(f"{base}/wf/{wf1}")
        assert code == 200 and "gui it1 select" in body, body[-2000:]
        code, body = _get(f"{base}/heal/status")
        assert code == 200 and body.count("<tr><td>") == 2  # iterations 0 and 1
        code, body = _get(f"{base}/heal")  # the live report refreshes itself and links the new workflow
        assert code == 200 and '<meta http-equiv="refresh"' in body and f'href="/wf/{wf1}"' in body
        log = _stop(proc)
        assert _stamp(snap) == stamp, "the web GUI wrote the store"
        assert not list((root / "store").glob(".*.tmp"))
        print(f"\nheal webgui answered {started:.1f} s after start")
        assert "Traceback" not in log, log[-3000:]
    finally:
        if proc is not None:
            _stop(proc)
        store.close()


def test_webgui_basic_auth_covers_fireworks_and_heal_pages(tmp_path):
    root = _campaign(tmp_path / "camp")
    lp, store = open_launchpad(root)
    ids = lp.add_wf(_iteration_wf(root, 0))
    store.close()
    port = _free_port()
    proc = _start(root, port, env={"HEAL_WEBGUI_USER": "ann", "HEAL_WEBGUI_PASSWORD": "pw"})
    try:
        base = f"http://127.0.0.1:{port}"
        for path in ("/", f"/wf/{min(ids.values())}", "/heal"):
            assert _get(base + path)[0] == 401
            assert _get(base + path, ("ann", "wrong"))[0] == 401
            assert _get(base + path, ("ann", "pw"))[0] == 200
    finally:
        _stop(proc)


def test_webgui_refuses_non_loopback_without_credentials(tmp_path):
    root = _campaign(tmp_path / "camp")
    res = subprocess.run([sys.executable, "-c", HEAL, "webgui", str(root), "--host", "0.0.0.0",
                          "--port", str(_free_port())], capture_output=True, text=True, timeout=60, env=_env())
    assert res.returncode == 2
    assert "--username" in res.stderr and "0.0.0.0" in res.stderr


def test_auth_rules():
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.5") and not is_loopback("example.org")
    check_auth_settings("127.0.0.1", None, None)
    check_auth_settings("0.0.0.0", "u", "p")
    with pytest.raises(ConfigError, match="--username"):
        check_auth_settings("0.0.0.0", None, None)
    with pytest.raises(ConfigError, match="both"):
        check_auth_settings("127.0.0.1", "u", None)


def test_status_html_escapes_values():
    st = {"campaign": "c<b>", "state": "<script>x</script>", "iterations": [
        {"iteration": 0, "stage": 0, "state": "<i>odd</i>", "fireworks": {"READY": 1}, "explored": 3,
         "accurate": 1, "candidate": 1, "failed": 1, "accurate_ratio": 1 / 3, "candidate_ratio": 1 / 3,
         "failed_ratio": 1 / 3, "selected": 1, "labeled": 1, "rejected": 0, "rmse_force": 0.12345,
         "rmse_energy_per_atom": 0.002}],
        "fizzled": [{"fw_id": 7, "name": "c it0 init", "error": "ConfigError: no POTCAR <x>\nsecond line"}]}
    page = status_html(st)
    assert "FIZZLED c it0 init (fw 7)" in page and "no POTCAR &lt;x&gt;\nsecond line" in page
    assert "<script>" not in page and "<i>odd" not in page and "&lt;script&gt;" in page
    assert "33.3%" in page and "READY: 1" in page
    assert "<td>0.1235</td>" in page and "<td>2</td>" in page  # force RMSE (4 digits), energy RMSE in meV/atom
