"""Fault injection with real engines: SIGKILL the campaign process group at random moments, resume, finish.

A handful of kill points (CI time); ``benchmarks/fault_injection.py`` runs many more.
"""

from __future__ import annotations

import json

import pytest

from heal.loop.faults import run_with_kills
from tiny_campaign import tiny_campaign

pytestmark = [pytest.mark.engine, pytest.mark.slow]


def test_random_sigkills_lose_nothing_and_label_nothing_twice(tmp_path):
    cfg = tiny_campaign(tmp_path, "faulty", iterations=2)
    rep = run_with_kills(cfg, tmp_path / "faulty", n_kills=3, seed=2026, window=(6.0, 40.0), timeout=1500)
    print(json.dumps(rep.to_dict(), indent=1))  # where the kills landed, for the log
    assert rep.kills, "no kill landed before the campaign finished"
    assert rep.finished and rep.iterations == 2
    assert rep.lost == []
    assert rep.frames == rep.unique > 0
    assert rep.double_computed == []
