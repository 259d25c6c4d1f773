"""Fixtures shared across test modules."""

from __future__ import annotations

from pathlib import Path

import pytest

from e2e_campaign import finished_campaign  # noqa: F401  (session fixture: the finished tiny campaign)
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


@pytest.fixture
def small_fs(tmp_path):
    """A real, small filesystem (tmpfs, 64 MiB) mounted for the test, with `fill()` to use up its space.

    Writes past `fill()` fail with a real ENOSPC from the kernel, as on a full disk. Mounting needs root
    (CI runs as root); anywhere else the test fails and says why rather than being skipped.
    """
    import subprocess

    mnt = tmp_path / "fs"
    mnt.mkdir()
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(mnt)], capture_output=True,
                         text=True)
    if res.returncode != 0:
        pytest.fail(f"cannot mount a tmpfs for the disk-full test (needs root): {res.stderr.strip()}")
    fs = SmallFs(mnt)
    try:
        yield fs
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


class SmallFs:
    def __init__(self, root: Path):
        self.root = root
        self.filler = root / "filler.bin"

    def fill(self) -> None:
        """Write a filler file until the kernel says ENOSPC (nothing else can be written after this)."""
        import errno
        import os

        block = b"\0" * (1 << 20)
        fd = os.open(self.filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            while True:
                try:
                    os.write(fd, block)
                except OSError as exc:
                    assert exc.errno == errno.ENOSPC, exc
                    break
            while True:  # the last partial block
                try:
                    if os.write(fd, b"\0" * 512) == 0:
                        break
                except OSError:
                    break
        finally:
            os.close(fd)

    def free(self) -> None:
        self.filler.unlink(missing_ok=True)


@pytest.fixture(scope="session")
def slurm(tmp_path_factory):
    """A one-node Slurm on this machine (``machines/slurm-local.sh``; as root: CI is); stopped at the end."""
    import subprocess

    from heal import PROJECT_ROOT

    script = PROJECT_ROOT / "machines" / "slurm-local.sh"
    state = tmp_path_factory.mktemp("slurm-state")
    res = subprocess.run(["bash", str(script), "start", str(state)], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    yield state
    subprocess.run(["bash", str(script), "stop", str(state)], capture_output=True, text=True, timeout=60)


def slurm_job_ids() -> set[str]:
    """Batch jobs the controller knows (it keeps finished ones for MinJobAge = 300 s): scontrol's own list."""
    import subprocess

    out = subprocess.run(["scontrol", "-o", "show", "jobs"], capture_output=True, text=True, timeout=60).stdout
    return {ln.split()[0].split("=", 1)[1] for ln in out.splitlines() if ln.startswith("JobId=")}
