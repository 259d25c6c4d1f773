"""DeePMD-kit ensemble member: prepare (input.json) -> execute (dp train, dp freeze) -> parse (lcurve, dp test).

TensorFlow backend throughout: the LAMMPS plugin in the PyPI wheel loads only ``.pb`` models.
Units: energies eV (RMSE per atom), forces eV/Å, virial eV (RMSE per atom).

Idempotence: a model directory holding ``done.json`` is finished and is never retrained. A directory with
a ``checkpoint`` file (a killed ``dp train``) restarts from it with ``dp train --restart``.
"""

from __future__ import annotations

import json
import logging
import math
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from heal import progress
from heal.config import TrainSpec
from heal.errors import ConfigError, FatalError
from heal.exec.base import Job, run_jobs
from heal.fsutil import atomic_write_json, link_dir
from heal.templating import render_to

log = logging.getLogger("heal.train")

#: number density (atoms/Å^3) used to size the neighbour lists: above any metal of HEA10 (W: 0.063,
#: Ni: 0.091, C in carbides ~0.10) with margin for compressed, hot frames.
_SEL_DENSITY = 0.12


def default_sel(rcut: float, n_types: int) -> list[int]:
    """Neighbours per type within rcut: each type may fill a whole sphere (a pure-element region)."""
    n = math.ceil(4.0 / 3.0 * math.pi * rcut**3 * _SEL_DENSITY)
    return [int(math.ceil(n / 4.0) * 4)] * n_types


@dataclass
class TestErrors:
    """Held-out errors of one model: RMSE of energy per atom (eV/atom), force (eV/Å), virial per atom (eV/atom)."""

    n_frames: int
    rmse_e_per_atom: float
    rmse_f: float
    rmse_v_per_atom: float | None
    rmse_f_by_element: dict[str, float] = field(default_factory=dict)


@dataclass
class TrainResult:
    model: str  # frozen graph (.pb), absolute path
    seed: int
    steps: int
    seconds: float
    lcurve_last: dict[str, float]
    test: TestErrors | None

    def to_dict(self) -> dict:
        return asdict(self)


def member_sel(spec: TrainSpec, type_map: list[str]) -> list[int] | int:
    """``train.sel`` spelled out per element (ConfigError if a list does not match the type map); for se_atten
    one number for all neighbours (the sum of a list; default: one element's sphere)."""
    if spec.descriptor == "se_atten":
        if spec.sel is None:
            return default_sel(spec.rcut, 1)[0]
        return spec.sel if isinstance(spec.sel, int) else sum(spec.sel)
    if spec.sel is None:
        return default_sel(spec.rcut, len(type_map))
    if isinstance(spec.sel, int):
        return [spec.sel] * len(type_map)
    if len(spec.sel) != len(type_map):
        raise ConfigError(f"field 'train.sel': {len(spec.sel)} numbers for {len(type_map)} elements "
                          f"({' '.join(type_map)}); give one number per element, or a single number for all")
    return list(spec.sel)


def write_input(spec: TrainSpec, type_map: list[str], systems: list[Path], workdir: Path, seed: int,
                auto_prob: str | None = None) -> Path:
    """Render ``input.json`` for one ensemble member (seeds differ between members); relative `systems` are
    relative to `workdir` (see :func:`stage_systems`); `auto_prob`: DeePMD's per-system batch probabilities
    (e.g. ``prob_sys_size; 0:3:0.5; 3:7:0.5``), None for its default."""
    workdir.mkdir(parents=True, exist_ok=True)
    steps = spec.steps
    ctx = dict(
        type_map=type_map, sel=member_sel(spec, type_map), descriptor=spec.descriptor,
        attn_layer=spec.attn_layer, rcut=spec.rcut, rcut_smth=spec.rcut_smth,
        embedding=spec.embedding, fitting=spec.fitting, axis_neuron=min(spec.axis_neuron, spec.embedding[-1]),
        seed=seed, start_lr=spec.start_lr, stop_lr=spec.stop_lr, decay_steps=max(1, min(5000, steps // 100)),
        pref_e=list(spec.pref_e), pref_f=list(spec.pref_f), pref_v=list(spec.pref_v),
        systems=[str(s) if not Path(s).is_absolute() else str(Path(s).resolve()) for s in systems],
        batch_size=spec.batch_size, steps=steps, auto_prob=auto_prob,
        disp_freq=min(spec.disp_freq, steps), save_freq=max(1, min(1000, steps // 4)),
    )
    return render_to("deepmd/input.json.j2", ctx, workdir / "input.json")


def read_lcurve(path: Path) -> list[dict[str, float]]:
    """Parse ``lcurve.out`` into rows keyed by its header names (step, rmse_e_trn, rmse_f_trn, lr, ...)."""
    if not path.is_file():
        return []
    lines = path.read_text().splitlines()
    header = next((ln for ln in lines if ln.startswith("#")), None)
    if header is None:
        return []
    names = header.lstrip("#").split()
    rows = []
    for ln in lines:
        if ln.startswith("#") or not ln.strip():
            continue
        vals = ln.split()
        try:
            row = {k: float(v) for k, v in zip(names, vals, strict=True)}
        except ValueError:
            continue  # a torn last line of a killed run
        rows.append(row)
    return rows


def parse_test_details(prefix: Path, systems: list[Path], type_map: list[str]) -> TestErrors:
    """RMSEs from ``dp test -d prefix`` detail files; per-element force RMSE from each system's type.raw.

    The detail files hold the systems in the order of the data file given to ``dp test``.
    """
    e = np.loadtxt(f"{prefix}.e_peratom.out", ndmin=2)
    f = np.loadtxt(f"{prefix}.f.out", ndmin=2)
    vfile = Path(f"{prefix}.v_peratom.out")
    rmse_v = None
    if vfile.is_file():
        v = np.loadtxt(vfile, ndmin=2)
        if v.size and np.any(v[:, :9] != 0.0):
            rmse_v = float(np.sqrt(np.mean((v[:, :9] - v[:, 9:18]) ** 2)))
    # element of each force row
    elements: list[np.ndarray] = []
    for s in systems:
        types = np.loadtxt(Path(s) / "type.raw", dtype=int, ndmin=1)
        names = json_type_map(Path(s)) or type_map
        nframes = sum(np.load(p).shape[0] for p in sorted(Path(s).glob("set.*/energy.npy")))
        elements.append(np.tile(np.array([names[t] for t in types]), nframes))
    el = np.concatenate(elements) if elements else np.array([])
    err2 = np.sum((f[:, :3] - f[:, 3:6]) ** 2, axis=1) / 3.0
    by_el = {}
    if el.shape[0] == f.shape[0]:
        for name in type_map:
            m = el == name
            if m.any():
                by_el[name] = float(np.sqrt(err2[m].mean()))
    return TestErrors(n_frames=int(e.shape[0]), rmse_e_per_atom=float(np.sqrt(np.mean((e[:, 0] - e[:, 1]) ** 2))),
                      rmse_f=float(np.sqrt(err2.mean())), rmse_v_per_atom=rmse_v, rmse_f_by_element=by_el)


def json_type_map(system: Path) -> list[str] | None:
    p = system / "type_map.raw"
    return p.read_text().split() if p.is_file() else None


def complete_checkpoint(workdir: Path) -> bool:
    """True if ``model.ckpt`` can be restarted from.

    TensorFlow writes the ``checkpoint`` index, ``.index`` and ``.data`` first and the ``.meta`` graph last;
    DeePMD then links ``model.ckpt.*`` to the numbered files. A kill in between leaves a ``checkpoint`` file
    that ``dp train --restart`` cannot load (it fails on every retry), so only the links count; a torn
    checkpoint is removed and training starts again.
    """
    ok = all((workdir / f"model.ckpt.{ext}").exists() for ext in ("meta", "index"))
    if not ok and (workdir / "checkpoint").is_file():
        (workdir / "checkpoint").unlink()
    return ok


def stage_systems(workdir: Path, systems: list[Path], name: str) -> list[str]:
    """Link `systems` into ``workdir/<name>/s000, s001, ...``; return those names relative to `workdir`.

    A job then names its data by relative paths and forwards ``<name>``: dpdispatcher copies the linked
    systems to a cluster (SSH uploads dereference links), and nothing a task reads is a path of this machine.
    """
    return link_dir(Path(workdir) / name, systems, "s{:03d}")


def checkpoint_files(workdir: Path) -> list[str]:
    """The files ``dp train --restart`` / ``dp freeze`` read: the index and the checkpoint it names."""
    return ["checkpoint"] + sorted(p.name for p in Path(workdir).glob("model.ckpt*"))


def drop_checkpoint(workdir: Path) -> None:
    """Remove a training run's checkpoint files so that ``dp train`` starts from the beginning."""
    for p in [workdir / "checkpoint", *workdir.glob("model.ckpt*")]:
        p.unlink(missing_ok=True)


@dataclass
class Member:
    """One ensemble member to train: its directory, seed, initial model and held-out systems."""

    workdir: Path
    seed: int
    init_model: Path | None = None
    test_systems: list[Path] | None = None


def _load_done(workdir: Path) -> TrainResult | None:
    done = workdir / "done.json"
    if not done.is_file():
        return None
    d = json.loads(done.read_text())
    d["test"] = TestErrors(**d["test"]) if d.get("test") else None
    return TrainResult(**d)


def _member_job(member: Member, restart: bool) -> Job:
    """One task per member: ``dp train`` (fresh, from ``init.pb``, or ``--restart`` from its checkpoint), then
    ``dp freeze`` and, with a held-out set, ``dp test``: a member's freeze and test overlap the others' training,
    and a scheduler sees one job per member."""
    workdir = member.workdir
    args = ["--tf", "train", "input.json", "--skip-neighbor-stat"]
    forward = ["input.json", "data"]
    if restart:  # a killed run resumes from its last checkpoint
        args += ["--restart", "model.ckpt"]
        forward += checkpoint_files(workdir)
    elif member.init_model is not None:  # a copy beside the inputs, forwarded with them
        shutil.copyfile(member.init_model, workdir / "init.pb")
        args += ["--init-frz-model", "init.pb"]
        forward.append("init.pb")
    then = [("dp", ["--tf", "freeze", "-o", "graph.pb"])]
    # the numbered checkpoint files; DeePMD's model.ckpt.* links to them stay behind (``checkpoint`` names them)
    backward = ["lcurve.out", "checkpoint", "model.ckpt-*", "graph.pb"]
    if member.test_systems:
        test_args, test_forward, test_backward = _test_step(Path("graph.pb"), member.test_systems, workdir)
        then.append(("dp", test_args))
        forward += [f for f in test_forward if f != "graph.pb"]
        backward += test_backward
    return Job("dp", args, workdir, log="train", timeout=None, forward=forward, backward=backward, then=then)


def train_ensemble(spec: TrainSpec, type_map: list[str], systems: list[Path], members: list[Member],
                   executor, auto_prob: str | None = None) -> list[TrainResult]:
    """Train, freeze and test the ensemble: one job per member (train, freeze, test), all members' jobs to the
    executor together (one submission; concurrent processes locally). Finished members are read back; the
    members that did finish are recorded before the first error is raised."""
    results: dict[int, TrainResult] = {}
    for i, m in enumerate(members):
        m.workdir = Path(m.workdir).resolve()
        done = _load_done(m.workdir)
        if done is not None:
            results[i] = done
    todo = [i for i in range(len(members)) if i not in results]
    if not todo:
        return [results[i] for i in range(len(members))]
    if not systems:
        raise FatalError(f"no training data for {members[todo[0]].workdir}: the dataset is empty; label initial "
                         f"frames first")
    t0 = time.monotonic()
    errors: dict[int, Exception] = {}
    restarted = {}
    for i in todo:
        m = members[i]
        write_input(spec, type_map, stage_systems(m.workdir, systems, "data"), m.workdir, m.seed, auto_prob)
        restarted[i] = complete_checkpoint(m.workdir)
        (m.workdir / "graph.pb").unlink(missing_ok=True)  # a model must come from this run's freeze
    with progress.watch(f"dp train, {len(todo)} model(s)", len(todo) * spec.steps,
                        progress.steps_done(members[i].workdir / "lcurve.out" for i in todo)):
        outs = run_jobs(executor, [_member_job(members[i], restarted[i]) for i in todo])
    fresh = []
    for i, r in zip(todo, outs):
        if isinstance(r, FatalError) and restarted[i] and not (members[i].workdir / "graph.pb").is_file():
            # a checkpoint cut short (a full disk, a kill mid-write): dp train could not restart from it
            log.warning("%s: dp train could not restart from model.ckpt (%s); training from the start",
                        members[i].workdir, str(r).splitlines()[0])
            drop_checkpoint(members[i].workdir)
            fresh.append(i)
        elif isinstance(r, Exception):
            errors[i] = r
    for i, r in zip(fresh, run_jobs(executor, [_member_job(members[i], False) for i in fresh])):
        if isinstance(r, Exception):
            errors[i] = r
    for i in todo:
        if i not in errors and not (members[i].workdir / "graph.pb").is_file():
            errors[i] = FatalError(f"dp freeze wrote no graph.pb in {members[i].workdir}; see train.err")
    for i in todo:
        if i in errors:
            continue
        m = members[i]
        test = parse_test_details(m.workdir / "test_detail", m.test_systems, type_map) if m.test_systems else None
        rows = read_lcurve(m.workdir / "lcurve.out")
        results[i] = TrainResult(model=str(m.workdir / "graph.pb"), seed=m.seed, steps=spec.steps,
                                 seconds=time.monotonic() - t0, lcurve_last=rows[-1] if rows else {}, test=test)
        atomic_write_json(m.workdir / "done.json", results[i].to_dict())
    if errors:
        raise errors[min(errors)]
    return [results[i] for i in range(len(members))]


def train_member(spec: TrainSpec, type_map: list[str], systems: list[Path], workdir: Path, executor, *,
                 seed: int, init_model: Path | None = None, test_systems: list[Path] | None = None) -> TrainResult:
    """Train, freeze and test one ensemble member in `workdir`; return the cached result if already done."""
    return train_ensemble(spec, type_map, systems, [Member(Path(workdir), seed, init_model, test_systems)],
                          executor)[0]


def _test_step(model: Path, systems: list[Path], workdir: Path) -> tuple[list[str], list[str], list[str]]:
    """``dp test`` of `model` (a file in `workdir`) on held-out `systems` linked into ``workdir/test_data``:
    its args, forward files and backward files."""
    datafile = workdir / "test_systems.txt"
    datafile.write_text("\n".join(stage_systems(workdir, systems, "test_data")) + "\n")
    args = ["--tf", "test", "-m", model.name, "-f", datafile.name, "-n", "1000000", "-d", "test_detail"]
    return (args, [model.name, datafile.name, "test_data"],
            [f"test_detail.{k}.out" for k in ("e", "e_peratom", "f", "v", "v_peratom")])


def _test_job(model: Path, systems: list[Path], workdir: Path) -> Job:
    model = Path(model)
    if model.resolve().parent != Path(workdir).resolve():
        shutil.copyfile(model, workdir / "tested.pb")
        model = workdir / "tested.pb"
    args, forward, backward = _test_step(model, systems, workdir)
    return Job("dp", args, workdir, log="test", timeout=3600, forward=forward, backward=backward)


def run_dp_tests(cases: list[tuple[Path, list[Path], Path]], type_map: list[str],
                 executor) -> list[TestErrors | Exception]:
    """``dp test`` of each ``(model, held-out systems, workdir)``, all together; errors parsed from the details."""
    outs = run_jobs(executor, [_test_job(model, systems, wd) for model, systems, wd in cases])
    return [r if isinstance(r, Exception) else parse_test_details(wd / "test_detail", systems, type_map)
            for (_, systems, wd), r in zip(cases, outs)]
