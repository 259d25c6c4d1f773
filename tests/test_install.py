"""A non-editable install (``pip install .``) carries templates/, machines/ and workflows/.

The wheel is built from this checkout and installed into a directory of its own; heal is imported from
there (the dependencies come from the test's environment) and must find, outside the checkout, the shipped
templates (rendered), machine presets and campaign files (validated).
"""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile

from heal import PROJECT_ROOT

PROBE = r"""
import json, sys
from pathlib import Path
sys.path.insert(0, sys.argv[1])
import heal
from heal.config import TrainSpec, load_config
from heal.exec import load_machine
from heal.label.registry import check_oracle
from heal.train.deepmd import write_input

cfg = load_config(heal.WORKFLOWS_DIR / "demo.yaml")
check_oracle(cfg.label.oracle, cfg.label.params, cfg.system.type_map)
print(json.dumps({
    "heal": heal.__file__,
    "templates": str(heal.TEMPLATES_DIR),
    "deepmd_input": json.loads(write_input(TrainSpec(steps=10), ["Ni", "Al"], [], Path("dp"), 1).read_text()),
    "incar": (heal.TEMPLATES_DIR / "vasp" / "INCAR.j2").is_file(),
    "mtp_levels": sorted(p.name for p in (heal.TEMPLATES_DIR / "mtp").glob("level*.mtp")),
    "machines": sorted(p.name for p in heal.MACHINES_DIR.glob("*.yaml")),
    "local_commands": sorted(load_machine(heal.MACHINES_DIR / "local.yaml").commands),
    "workflows": sorted(p.name for p in heal.WORKFLOWS_DIR.glob("*.yaml")),
    "demo_machine": str(cfg.machine_file()),
}))
"""


def test_wheel_install_finds_templates_presets_and_workflows(tmp_path):
    dist, target = tmp_path / "dist", tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w",
                    str(dist), str(PROJECT_ROOT)], check=True, capture_output=True, text=True, timeout=600)
    (wheel,) = dist.glob("heal-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "heal/_share/templates/vasp/INCAR.j2" in names and "heal/_share/machines/local.yaml" in names
    assert not any(n.startswith(("tests/", "benchmarks/")) for n in names)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), str(wheel)],
                   check=True, capture_output=True, text=True, timeout=600)
    res = subprocess.run([sys.executable, "-c", PROBE, str(target)], capture_output=True, text=True, timeout=300,
                         cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert out["heal"].startswith(str(target)) and out["templates"].startswith(str(target))
    assert out["incar"] and out["mtp_levels"] == ["level02.mtp", "level04.mtp", "level06.mtp", "level08.mtp",
                                                   "level10.mtp"]
    assert {"local.yaml", "dispatcher-local.yaml", "slurm.yaml"} <= set(out["machines"])
    assert {"lmp", "dp", "vasp"} <= set(out["local_commands"])
    assert {"demo.yaml", "hea4.yaml", "hea10.yaml"} <= set(out["workflows"])
    assert out["demo_machine"].startswith(str(target))
    assert out["deepmd_input"]["model"]["type_map"] == ["Ni", "Al"]  # rendered from the installed template
