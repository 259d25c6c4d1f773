"""Unit tests of the streaming screen of model_devi.out (heal.select.screen).

The reference is the slow path the loop uses today: ``classify(read_model_devi(path)["max_devi_f"], ...)``.
Generated files carry what real runs produce (header, ``-nan``/``nan``/``inf``, a torn last line of a killed
run, a restart's second header) and a few malformed rows that must be handled exactly as the reference does.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from heal.config import SelectSpec
from heal.explore.parse import _parse_fast, read_model_devi
from heal.select.screen import screen_file
from heal.select.trust import CANDIDATE, Counts, classify, count

HEADER = "#       step         max_devi_v         min_devi_v         avg_devi_v         max_devi_f         " \
         "min_devi_f         avg_devi_f\n"


def _row(step, vals):
    return f"{step:>12d}" + "".join(f" {v:>18.6e}" for v in vals) + "\n"


TORN = "123450 0.1 0.1 0.1 0.2 0.1 0.1"  # a complete-looking row without its newline: a killed run's last write


def _write(path: Path, n: int, seed: int = 0, weird: bool = True, torn: str | None = TORN) -> Path:
    rng = np.random.default_rng(seed)
    lines = [HEADER]
    for i in range(n):
        vals = rng.lognormal(-2.0, 1.0, 6)
        line = _row(10 * i, vals)
        r = rng.random() if weird else 1.0
        if r < 0.02:
            line = line.replace(f"{vals[3]:.6e}", "-nan", 1)
        elif r < 0.03:
            line = line.replace(f"{vals[3]:.6e}", "nan", 1)
        elif r < 0.035:
            line = line.replace(f"{vals[3]:.6e}", "inf", 1)
        elif r < 0.04:
            line = line.replace(f"{vals[0]:.6e}", "-nan", 1)  # NaN virial deviation
        elif r < 0.045:
            line = " ".join(line.split()[:5]) + "\n"  # short row: skipped
        elif r < 0.05:
            line = line.rstrip("\n") + " extra 1.0\n"  # extra columns: ignored
        elif r < 0.055:
            lines.append(HEADER)  # a restarted run appends a second header
        elif r < 0.06:
            lines.append("\n")
        elif r < 0.065:
            line = line.replace(f"{vals[1]:.6e}", "garbage", 1)  # non-number in an unused column
        elif r < 0.07:
            line = "x" + line.lstrip()  # non-number step: skipped
        elif r < 0.075:
            line = line.replace(f"{vals[5]:.6e}", "1_0", 1)  # Python reads 10.0, numpy refuses
        lines.append(line)
    if torn:
        lines.append(torn)
    path.write_text("".join(lines))
    return path


def _reference(path: Path, spec: SelectSpec):
    devi = read_model_devi(path)
    cls = classify(devi["max_devi_f"], spec, devi_v=devi["max_devi_v"])
    cand = cls == CANDIDATE
    return count(cls), devi["step"][cand], devi["max_devi_f"][cand]


SPECS = [SelectSpec(f_lo=0.1, f_hi=0.4), SelectSpec(f_lo=0.05, f_hi=0.3, v_lo=0.05, v_hi=0.5)]


@pytest.mark.parametrize("spec", SPECS, ids=["force", "force+virial"])
@pytest.mark.parametrize("chunk_rows", [1, 7, 250, 100_000])
def test_equals_classify_of_read_model_devi_on_a_messy_file(tmp_path, spec, chunk_rows):
    path = _write(tmp_path / "model_devi.out", 3000)
    ref = _reference(path, spec)
    with np.errstate(all="raise"):
        res = screen_file(path, spec.f_lo, spec.f_hi, spec.v_lo, spec.v_hi, chunk_rows=chunk_rows)
    counts, steps, devi = res
    assert counts == ref[0] and counts.failed > 100 and counts.candidate > 100
    assert np.array_equal(steps, ref[1]) and steps.dtype == np.int64
    assert np.array_equal(devi, ref[2]) and np.isfinite(devi).all()


def test_clean_blocks_take_the_fast_path_and_agree(tmp_path):
    path = _write(tmp_path / "clean.out", 5000, weird=False, torn=None)
    body = path.read_bytes()
    assert _parse_fast(body) is not None  # header stripped, all rows numeric
    spec = SPECS[0]
    res = screen_file(path, spec.f_lo, spec.f_hi, chunk_rows=512)
    ref = _reference(path, spec)
    assert res.counts == ref[0] and res.counts.total == 5000
    assert np.array_equal(res.steps, ref[1]) and np.array_equal(res.devi, ref[2])


def test_missing_empty_header_only_and_torn_only_files(tmp_path):
    zero = Counts(0, 0, 0)
    assert screen_file(tmp_path / "nope.out", 0.1, 0.4).counts == zero
    for name, text in [("empty", ""), ("header", HEADER), ("torn", "10 0.1 0.1 0.1 0.2 0.1 0.1"),
                       ("header+torn", HEADER + "10 0.1 0.1 0.1 0.2 0.1 0.1")]:
        p = tmp_path / f"{name}.out"
        p.write_text(text)
        res = screen_file(p, 0.1, 0.4)
        assert res.counts == zero and res.steps.size == 0 and res.devi.size == 0, name
        assert read_model_devi(p).size == 0


def test_windows_line_endings_and_mid_file_carriage_returns(tmp_path):
    spec = SPECS[0]
    src = _write(tmp_path / "a.out", 400, seed=3)
    p = tmp_path / "crlf.out"
    p.write_bytes(src.read_bytes().replace(b"\n", b"\r\n"))
    for cr in (3, 100_000):
        res = screen_file(p, spec.f_lo, spec.f_hi, chunk_rows=cr)
        ref = _reference(p, spec)
        assert res.counts == ref[0] and np.array_equal(res.steps, ref[1]) and np.array_equal(res.devi, ref[2])


def test_all_nan_file_is_all_failed(tmp_path):
    p = tmp_path / "nan.out"
    p.write_text(HEADER + "".join(f"{i} -nan -nan -nan -nan -nan -nan\n" for i in range(50)))
    res = screen_file(p, 0.1, 0.4)
    assert res.counts == Counts(0, 0, 50) and res.steps.size == 0


def test_an_infinite_step_is_skipped_rather_than_raising(tmp_path):
    p = tmp_path / "inf_step.out"
    p.write_text(HEADER + "10 0.1 0.1 0.1 0.2 0.1 0.1\ninf 0.1 0.1 0.1 0.2 0.1 0.1\n20 0.1 0.1 0.1 nan 0.1 0.1\n")
    res = screen_file(p, 0.1, 0.4)
    assert res.counts == Counts(0, 1, 1) and res.steps.tolist() == [10]
    assert read_model_devi(p)["step"].tolist() == [10, 20]  # both readers share one line parser
