"""``heal lpad``: FireWorks' own lpad commands on a campaign's embedded store, through the command line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from fireworks import Firework, ScriptTask, Workflow

from heal.config import parse_config
from heal.launchpad import open_launchpad


@pytest.fixture(autouse=True)
def _embedded_only(monkeypatch):
    monkeypatch.delenv("HEAL_MONGO_URI", raising=False)


def _campaign(root: Path) -> Path:
    cfg = parse_config({"name": "lp", "system": {"elements": ["Ni", "Al"]}, "root": str(root)})
    root.mkdir(parents=True)
    (root / "campaign.yaml").write_text(yaml.safe_dump(cfg.model_dump(mode="json", exclude={"source"}),
                                                       sort_keys=True))
    lp, store = open_launchpad(root)
    fws = [Firework([ScriptTask.from_str("true")], name=f"lp it0 {s}", spec={"campaign": str(root), "iteration": 0})
           for s in ("train", "explore")]
    lp.add_wf(Workflow(fws, {fws[0]: [fws[1]]}, name="heal lp iteration 0"))
    store.close()
    return root


def lpad(root: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "heal", "lpad", str(root), *args], capture_output=True, text=True,
                          timeout=120)


def _state(root: Path, fw_id: int) -> str:
    lp, _ = open_launchpad(root, readonly=True)
    return lp.get_fw_dict_by_id(fw_id)["state"]


def test_lpad_reads_and_changes_the_campaign_store(tmp_path):
    root = _campaign(tmp_path / "camp")
    out = lpad(root, "get_wflows", "-d", "more")
    assert out.returncode == 0, out.stderr
    wf = json.loads(out.stdout)
    assert wf["name"].startswith("heal lp iteration 0")
    states = {k.split("--")[0]: v for k, v in wf["states"].items()}
    assert states == {"lp it0 train": "READY", "lp it0 explore": "WAITING"}
    ready = int(lpad(root, "get_fws", "-s", "READY", "-d", "ids").stdout.strip())
    assert f"lp it0 train--{ready}" in wf["states"]

    assert lpad(root, "defuse_fws", "-i", str(ready)).returncode == 0
    assert _state(root, ready) == "DEFUSED"  # saved in the durable store
    assert lpad(root, "get_fws", "-s", "DEFUSED", "-d", "count").stdout.strip() == "1"
    assert lpad(root, "reignite_fws", "-i", str(ready)).returncode == 0
    assert _state(root, ready) == "READY"


def test_lpad_reads_while_a_writer_holds_the_store_and_refuses_reset(tmp_path):
    root = _campaign(tmp_path / "camp")
    lp, store = open_launchpad(root)  # a running worker
    try:
        out = lpad(root, "get_fws", "-d", "count")
        assert out.returncode == 0 and out.stdout.strip() == "2", out.stderr
        out = lpad(root, "reset")
        assert out.returncode == 2 and "'reset' would replace or wipe" in out.stderr
        assert sorted(lp.get_fw_ids()) == [1, 2]
    finally:
        store.close()
