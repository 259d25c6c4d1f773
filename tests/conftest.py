"""Fixtures shared across test modules."""

from __future__ import annotations

from pathlib import Path

import pytest

from vasp_fixtures import SYNTH_ENMAX, synthetic_potcar


@pytest.fixture
def pp_lib(tmp_path, monkeypatch) -> Path:
    """A synthetic $VASP_PP_PATH with potpaw_PBE/<name>/POTCAR header-only files."""
    root = tmp_path / "pplib"
    for name, enmax in SYNTH_ENMAX.items():
        d = root / "potpaw_PBE" / name
        d.mkdir(parents=True)
        (d / "POTCAR").write_text(synthetic_potcar(name, enmax))
    monkeypatch.setenv("VASP_PP_PATH", str(root))
    return root
