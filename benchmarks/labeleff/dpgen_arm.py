"""The DP-GEN arm: dpgen 0.14 itself (``dpgen run param.json machine.json``) on heal's HEA4 + MEAM setting.

What is run:

- 00.train: ``n_models`` DeePMD models (TensorFlow, ``dp --tf train`` + ``freeze``) from `train_input`, heal's
  rendered ``input.json``, used as ``default_training_param``. dpgen replaces its systems, batch sizes and seeds
  and trains every iteration from scratch (no ``training_reuse_iter``), as DP-GEN does by default.
- 01.model_devi: LAMMPS NVT (``pair_style deepmd`` over all models) from every seed POSCAR at every temperature.
  The job is the same at every iteration, and frames are dumped every `dump_freq` steps.
- 02.fp: DP-GEN's rule. Frames with ``f_lo <= max force deviation < f_hi`` are candidates, and up to `cap` of
  them are picked at random. All seeds are one dpgen system (``sys_configs = [[...all POSCARs...]]``),
  because dpgen applies ``fp_task_max`` per system. The pick is labeled by ``fp_style: custom``, which runs
  :mod:`dpgen_label` (heal's MEAM teacher) once per task.

Stopping: ``model_devi_jobs`` holds exactly `iterations` jobs. After the fp of the last job, dpgen starts
iteration ``iterations``: it trains on all labels, then ``make_model_devi`` finds no job and dpgen exits. That
gives ``iterations + 1`` models: model i is trained on the initial frames plus the fp frames of iterations < i.
``record.dpgen`` then ends with ``<iterations> 2`` (post_train done), and that is checked.

Wall clock: dpgen calls dpdispatcher's ``Submission.run_submission()`` with its default 30 s poll, and each
step waits for at least one poll. The launcher lowers the poll to :data:`POLL_SECONDS` and changes nothing
else, so the timings reflect the work. Jobs run one at a time: each step's tasks form one group on the local
Shell batch.

Serialization on a shared machine (``flock``) is the caller's business. This module only runs dpgen.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

#: seconds between dpdispatcher status checks (dpgen leaves dpdispatcher's default of 30 s)
POLL_SECONDS = 2
#: thread settings of heal's machines/local.yaml, passed to every dpgen job
JOB_ENV = {"OMP_NUM_THREADS": "2", "TF_CPP_MIN_LOG_LEVEL": "2",
           "DP_INTRA_OP_PARALLELISM_THREADS": "2", "DP_INTER_OP_PARALLELISM_THREADS": "1"}
LABEL_SCRIPT = Path(__file__).with_name("dpgen_label.py")
FP_INPUT, FP_OUTPUT = "input.poscar", "labeled"

# `python -c LAUNCHER run param.json machine.json`: dpgen's own entry point with a shorter poll
LAUNCHER = f"""
import sys
from dpdispatcher import submission as _submission
_run = _submission.Submission.run_submission
def _run_submission(self, **kw):
    kw.setdefault("check_interval", {POLL_SECONDS})
    return _run(self, **kw)
_submission.Submission.run_submission = _run_submission
from dpgen.main import main
sys.argv = ["dpgen", *sys.argv[1:]]
sys.exit(main())
"""


def _tool(python: str, name: str) -> str:
    """The console script `name` next to `python` (the same venv), else the one on PATH."""
    cand = Path(python).parent / name
    if cand.is_file():
        return str(cand)
    found = shutil.which(name)
    if not found:
        raise RuntimeError(f"'{name}' is neither next to {python} nor on PATH")
    return found


def _deepmd_version(python: str) -> str:
    out = subprocess.run([python, "-c", "import importlib.metadata as m; print(m.version('deepmd-kit'))"],
                         capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"deepmd-kit is not installed for {python}: {out.stderr.strip()[-500:]}")
    return out.stdout.strip()


def stage_inputs(work: Path, init_systems: list[Path], seed_poscars: list[Path]) -> tuple[list[str], list[str]]:
    """Copy the initial systems to ``work/init/NNN`` and the seeds to ``work/confs/NNN/POSCAR``.

    POSCARs are rewritten sorted by element (ase), so each element appears once in the species line.
    Returns (init_data_sys names relative to ``work/init``, absolute POSCAR paths).
    """
    from ase.io import read, write

    init_names = []
    for i, src in enumerate(init_systems):
        dst = work / "init" / f"{i:03d}"
        if not dst.is_dir():
            shutil.copytree(src, dst, symlinks=False)
        init_names.append(dst.name)
    poscars = []
    for i, src in enumerate(seed_poscars):
        dst = work / "confs" / f"{i:03d}" / "POSCAR"
        if not dst.is_file():
            dst.parent.mkdir(parents=True, exist_ok=True)
            write(dst, read(src, format="vasp"), format="vasp", direct=True, sort=True)
        poscars.append(str(dst.resolve()))
    return init_names, poscars


def build_param(work: Path, *, init_names: list[str], poscars: list[str], type_map: list[str], train_input: dict,
                n_models: int, temps: list[float], nsteps: int, dump_freq: int, timestep_fs: float, f_lo: float,
                f_hi: float, cap: int, iterations: int) -> dict:
    """dpgen's ``param.json``: one explored system (all seeds), `iterations` identical NVT jobs, custom fp."""
    batch = train_input.get("training", {}).get("training_data", {}).get("batch_size", "auto")
    if not (batch == "auto" or isinstance(batch, int)):
        batch = "auto"  # dpgen accepts only an int or "auto" per system
    job = {"sys_idx": [0], "temps": [float(t) for t in temps], "trj_freq": int(dump_freq),
           "nsteps": int(nsteps), "ensemble": "nvt"}
    return {
        "type_map": list(type_map),
        "mass_map": "auto",
        "init_data_prefix": str((work / "init").resolve()),
        "init_data_sys": init_names,
        "init_batch_size": [batch] * len(init_names),
        "sys_configs": [poscars],
        "sys_format": "vasp/poscar",
        "sys_batch_size": [batch],
        "numb_models": int(n_models),
        "default_training_param": copy.deepcopy(train_input),
        "model_devi_engine": "lammps",
        "model_devi_dt": timestep_fs / 1000.0,  # ps
        "model_devi_skip": 0,
        "model_devi_f_trust_lo": float(f_lo),
        "model_devi_f_trust_hi": float(f_hi),
        "model_devi_clean_traj": True,
        "model_devi_jobs": [copy.deepcopy(job) for _ in range(iterations)],
        "fp_style": "custom",
        "fp_task_max": int(cap),
        "fp_task_min": 1,
        "fp_params": {"input_fmt": "vasp/poscar", "input_fn": FP_INPUT,
                      "output_fmt": "deepmd/npy", "output_fn": FP_OUTPUT},
    }


def build_machine(work: Path, *, python: str, type_map: list[str], n_models: int, n_md_tasks: int,
                  cap: int) -> dict:
    """dpgen's ``machine.json`` (api 1.0): local context and Shell batch, with each step's tasks in one job."""
    def section(command: str, group: int) -> dict:
        return {"command": command,
                "machine": {"batch_type": "Shell", "context_type": "LocalContext", "local_root": "./",
                            "remote_root": str((work / "remote").resolve())},
                "resources": {"batch_type": "Shell", "number_node": 1, "cpu_per_node": 2, "gpu_per_node": 0,
                              "queue_name": "", "group_size": max(1, int(group)), "envs": dict(JOB_ENV)}}

    fp = f"{python} {LABEL_SCRIPT.resolve()} {FP_INPUT} {FP_OUTPUT} --type-map {' '.join(type_map)}"
    return {"api_version": "1.0", "deepmd_version": _deepmd_version(python),
            "train": section(f"{_tool(python, 'dp')} --tf", n_models),
            "model_devi": section(_tool(python, "lmp"), n_md_tasks),
            "fp": section(fp, cap)}


def count_frames(system: Path) -> int:
    """Frames in a deepmd/npy system directory (sum over its ``set.*``)."""
    return sum(int(np.load(s / "box.npy").shape[0]) for s in sorted(system.glob("set.*")))


def training_labels(train_dir: Path) -> int:
    """Labeled frames in the training set of model 000 of a ``00.train`` (read from its input.json)."""
    task = (train_dir / "000").resolve()  # a copied model is a symlink to the previous iteration's task
    systems = json.loads((task / "input.json").read_text())["training"]["training_data"]["systems"]
    return sum(count_frames((task / s).resolve()) for s in systems)


def _tail(path: Path, n: int = 40) -> str:
    if not path.is_file():
        return f"({path.name} missing)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-n:])


def collect(work: Path, iterations: int, t0: float) -> list[dict]:
    """One row per trained model: iteration, labels in its training set, graph.000.pb, seconds since `t0`."""
    rows = []
    for i in range(iterations + 1):
        train_dir = work / f"iter.{i:06d}" / "00.train"
        model = train_dir / "graph.000.pb"
        if not model.exists():
            raise RuntimeError(f"dpgen finished but {model} is missing; see {work / 'dpgen.log'}")
        rows.append({"iteration": i, "labels": training_labels(train_dir), "model": model,
                     "seconds": round(os.lstat(model).st_mtime - t0, 1)})
    return rows


def run_dpgen_arm(work: Path, *, init_systems: list[Path], seed_poscars: list[Path], type_map: list[str],
                  train_input: dict, n_models: int, temps: list[float], nsteps: int, dump_freq: int,
                  timestep_fs: float, f_lo: float, f_hi: float, cap: int, iterations: int,
                  python: str = sys.executable) -> list[dict]:
    """Run dpgen 0.14 (``dpgen run param.json machine.json``) in `work` for `iterations` iterations.

    Returns one dict per trained model, ``iterations + 1`` in all (see the module docstring):
    ``{"iteration": i, "labels": initial frames + all fp frames of iterations < i (the training set of
    model i, counted from its input.json), "model": Path of iter.i/00.train/graph.000.pb, "seconds": wall
    time from the first start of this arm in `work` until that model was ready}``.

    A `work` holding ``record.dpgen`` is resumed by dpgen where it stopped. A finished run returns at once.
    dpgen's own log is ``work/dpgen.log``. Its stdout and stderr (dpdispatcher included) go to ``work/dpgen.out``.
    RuntimeError with both tails if dpgen fails or stops early.
    """
    if iterations < 1:
        raise ValueError("iterations must be >= 1")
    if not init_systems or not seed_poscars:
        raise ValueError("init_systems and seed_poscars must not be empty")
    work = Path(work).resolve()
    work.mkdir(parents=True, exist_ok=True)
    stamp = work / "arm_started"
    if not stamp.is_file():
        stamp.write_text(f"{time.time():.3f}\n")
    t0 = float(stamp.read_text())

    init_names, poscars = stage_inputs(work, [Path(p) for p in init_systems], [Path(p) for p in seed_poscars])
    param = build_param(work, init_names=init_names, poscars=poscars, type_map=type_map, train_input=train_input,
                        n_models=n_models, temps=temps, nsteps=nsteps, dump_freq=dump_freq,
                        timestep_fs=timestep_fs, f_lo=f_lo, f_hi=f_hi, cap=cap, iterations=iterations)
    machine = build_machine(work, python=python, type_map=type_map, n_models=n_models,
                            n_md_tasks=len(poscars) * len(temps), cap=cap)
    (work / "param.json").write_text(json.dumps(param, indent=2))
    (work / "machine.json").write_text(json.dumps(machine, indent=2))
    (work / "remote").mkdir(exist_ok=True)

    with open(work / "dpgen.out", "ab") as out:
        proc = subprocess.run([python, "-c", LAUNCHER, "run", "param.json", "machine.json"], cwd=work,
                              stdout=out, stderr=subprocess.STDOUT)
    record = work / "record.dpgen"
    lines = record.read_text().splitlines() if record.is_file() else []
    last = lines[-1].strip() if lines else ""
    if proc.returncode != 0 or last.split() != [str(iterations), "2"]:
        raise RuntimeError(
            f"dpgen run in {work} {'exited with ' + str(proc.returncode) if proc.returncode else 'stopped'} "
            f"at record '{last}' (expected '{iterations} 2')\n--- dpgen.log (tail) ---\n{_tail(work / 'dpgen.log')}"
            f"\n--- dpgen.out (tail) ---\n{_tail(work / 'dpgen.out')}")
    return collect(work, iterations, t0)
