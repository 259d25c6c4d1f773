"""What a user sees when something goes wrong: setup errors that fizzle a stage without touching the frames,
the whole message of a fizzled Firework, and one line (plus a log file) for an internal error.

Wiring tier: a real campaign through the real ``heal`` command line, stopped by its setup before any engine
runs; the error-message parser on real Python tracebacks.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import traceback

import pytest

from heal.errors import ConfigError
from heal.fw.runner import error_message
from tiny_campaign import tiny_campaign


def _heal(*args, env=None):
    return subprocess.run([sys.executable, "-m", "heal", *args], capture_output=True, text=True, timeout=600,
                          env=env)


def test_vasp_campaign_without_vasp_pp_path_fizzles_with_the_message_and_rejects_nothing(tmp_path):
    cfg = tiny_campaign(tmp_path, "vasp", iterations=1, label={"oracle": "vasp", "batch_size": 2})
    root = tmp_path / "vasp"
    env = {k: v for k, v in os.environ.items() if k != "VASP_PP_PATH"}
    res = _heal("launch", str(cfg), env=env)
    out = res.stdout + res.stderr
    assert res.returncode == 1, out
    assert "FIZZLED" in out and "it0 init" in out and "VASP_PP_PATH is not set" in out, out
    assert f"heal resume {root}" in out
    assert "Traceback" not in out                              # FireWorks' traceback went to the log
    assert "Traceback" in (root / "logs" / "heal.log").read_text()
    assert not list(root.glob("init/label/*/rejected.json"))   # the frames are not at fault
    st = json.loads(_heal("status", str(root), "--json", env=env).stdout)
    (fz,) = st["fizzled"]
    assert fz["name"].endswith("it0 init") and fz["error"].startswith("ConfigError: no POTCAR library")
    assert "export VASP_PP_PATH" in fz["error"] or "VASP_PP_PATH" in fz["error"]
    again = _heal("resume", str(root), env=env)                 # still unset: the same, still nothing rejected
    assert again.returncode == 1 and "VASP_PP_PATH is not set" in again.stdout
    assert not list(root.glob("init/label/*/rejected.json"))


def _stored_exception(exc: BaseException, details=None) -> dict:
    try:
        raise exc
    except BaseException:
        return {"_stacktrace": traceback.format_exc(), "_details": details}


def test_the_whole_multi_line_message_of_a_fizzled_firework_is_kept():
    msg = "gpaw_python failed with exit code 2 in /c/iter-000/label/ab12/oracle; last lines of gpaw.err:\n" \
          "  File \"x.py\", line 1\nMemoryError: out of memory"
    stored = _stored_exception(RuntimeError(msg))
    assert error_message(stored) == f"RuntimeError: {msg}"
    try:
        try:
            raise KeyError("first")
        except KeyError:
            raise ValueError("final\nline two")
    except ValueError:
        chained = {"_stacktrace": traceback.format_exc(), "_details": None}
    assert error_message(chained) == "ValueError: final\nline two"
    heal_err = ConfigError("field 'label.params.kpts': must be >= 1\nsecond line")
    assert error_message(_stored_exception(heal_err, heal_err.to_dict())) == \
        "ConfigError: field 'label.params.kpts': must be >= 1\nsecond line"


def test_an_internal_error_prints_one_line_and_exits_3_with_the_traceback_in_the_log(tmp_path, monkeypatch,
                                                                                      capsys):
    import heal.cli as cli
    from heal.logs import campaign_log

    log = campaign_log(tmp_path / "camp")

    def broken_app():
        raise KeyError("iteration")

    def exit_now(code):
        raise SystemExit(code)

    monkeypatch.setattr(cli, "app", broken_app)
    monkeypatch.setattr(cli, "_exit_now", exit_now)
    with pytest.raises(SystemExit) as ex:
        cli.main()
    assert ex.value.code == 3
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"internal error: KeyError: 'iteration'; details in {log}"]
    text = log.read_text()
    assert "Traceback" in text and "broken_app" in text and "KeyError: 'iteration'" in text
