"""Progress bars: drawn on a terminal only, fed by the steps the engines write."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
from pathlib import Path

import yaml

from heal import PROJECT_ROOT
from heal.progress import last_step, steps_done

LCURVE_HEAD = ("#  step      rmse_trn    rmse_e_trn    rmse_f_trn         lr\n"
               "# If there is no available reference data, rmse_*_{val,trn} will print nan\n")


def test_last_step_reads_the_last_complete_line_of_a_growing_table(tmp_path):
    p = tmp_path / "lcurve.out"
    assert last_step(p) == 0  # not written yet
    p.write_text(LCURVE_HEAD)
    assert last_step(p) == 0
    p.write_text(LCURVE_HEAD + "      0   4.18e+01  2.44e-01  1.21e+00  2.0e-03\n"
                               "    100   1.91e+01  9.51e-02  6.71e-01  1.5e-03\n    200   2.8")  # a torn line
    assert last_step(p) == 100
    q = tmp_path / "model_devi.out"
    q.write_text("#       step         max_devi_v\n           0   7.8e-02\n          10   7.2e-02\n")
    assert steps_done([p, q])() == 110


def _seeds_cmd(tmp_path: Path) -> list[str]:
    cfg = yaml.safe_load((PROJECT_ROOT / "workflows" / "hea4.yaml").read_text())
    cfg["root"] = str(tmp_path / "camp")
    tmp_path.mkdir(parents=True, exist_ok=True)
    f = tmp_path / "c.yaml"
    f.write_text(yaml.safe_dump(cfg))
    return [sys.executable, "-m", "heal", "seeds", str(f), "--out", str(tmp_path / "seeds")]


def _run_on_terminal(argv: list[str]) -> str:
    pid, fd = pty.fork()
    if pid == 0:
        os.execv(argv[0], argv)
    out = b""
    while True:
        r, _, _ = select.select([fd], [], [], 120)
        if not r:
            break
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    os.waitpid(pid, 0)
    return out.decode(errors="replace")


def test_seed_generation_shows_a_bar_on_a_terminal_and_none_in_a_pipe(tmp_path):
    piped = subprocess.run(_seeds_cmd(tmp_path / "a"), capture_output=True, text=True, timeout=300)
    assert piped.returncode == 0, piped.stderr
    assert "cells, SQS)" not in piped.stdout and "\x1b[" not in piped.stdout and piped.stderr == ""
    term = _run_on_terminal(_seeds_cmd(tmp_path / "b"))
    assert "cells, SQS)" in term  # the bar was drawn
    assert "wrote " in term
