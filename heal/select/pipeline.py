"""Selection for DeePMD campaigns: screen every run's deviation table, then pick the frames to label.

1. **Screen** each run's ``model_devi.out`` with the trust levels of its group (fixed ``f_lo``/``f_hi``, or the
   levels calibrated after the previous iteration, per composition × phase), streaming (``screen_file``).
2. **Filter** candidates: frames closer than ``label.d_min`` and frames already in the dataset are dropped.
3. **Pick** up to ``max_per_iter`` (fewer when less of ``loop.label_budget`` is left): ``random`` (DP-GEN's rule) or ``maxvol`` (greedy D-optimal on the
   iteration's own DeePMD descriptors, projected on components of the training set and a sample of the
   candidates, relative to the training set; memory-bounded streaming).
Units: deviations eV/Å.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from heal.campaign import Campaign
from heal.explore.parse import iter_dump
from heal.frames import frame_hash, min_distance
from heal.select.calibrate import calibration_group
from heal.select.screen import screen_file
from heal.select.trust import pick_random

#: training frames used as the max-volume reference (a deterministic subsample beyond this)
MAX_REFERENCE = 2000
#: candidates (evenly spaced) whose descriptors enter the projection's fit beside the training frames
PCA_SAMPLE = 512


def seed_name(run_dir: Path) -> str:
    """``fcc_s1.000_r0_T300_P-`` -> ``fcc_s1.000_r0`` (the seed structure a run started from)."""
    return run_dir.name.rsplit("_T", 1)[0]


def run_calibration_group(run_dir: Path, seeds: dict) -> str:
    """Calibration group of a run: the seed's composition and phase."""
    name = seed_name(run_dir)
    atoms = seeds.get(name)
    comp = atoms.get_chemical_formula(mode="metal") if atoms is not None else "?"
    return calibration_group(comp, name.split("_", 1)[0])


def current_levels(camp: Campaign, it: int):
    """The Calibration fitted after the latest earlier iteration, or None (fixed levels)."""
    if camp.cfg.select.trust != "calibrated":
        return None
    from heal.select.calibrate import Calibration, TrustLevels

    for j in range(it - 1, -1, -1):
        p = camp.iter_dir(j) / "calibration.json"
        if p.is_file():
            d = json.loads(p.read_text())
            groups = {g: TrustLevels(**{k: v for k, v in lv.items() if k in TrustLevels.__dataclass_fields__})
                      for g, lv in d["groups"].items()}
            return Calibration(target_error=d["target_error"], coverage=d["coverage"], fixed=tuple(d["fixed"]),
                               min_pairs=d["min_pairs"], groups=groups, ignored_pairs=d.get("ignored_pairs", 0))
    return None


def screen_runs(camp: Campaign, run_dirs: list[Path], seeds: dict, it: int):
    """Counts (accurate, candidate, failed) over all runs and the candidates as (run_dir, step, devi)."""
    spec = camp.cfg.select
    cal = current_levels(camp, it)
    totals = np.zeros(3, dtype=np.int64)
    cands: list[tuple[Path, int, float]] = []
    used: dict[str, list[float]] = {}
    for rd in run_dirs:
        lo, hi = (spec.f_lo, spec.f_hi) if cal is None else cal.levels_for(run_calibration_group(rd, seeds))
        used[rd.name] = [lo, hi]
        res = screen_file(rd / "model_devi.out", lo, hi, spec.v_lo, spec.v_hi)
        totals += (res.counts.accurate, res.counts.candidate, res.counts.failed)
        cands += [(rd, int(s), float(d)) for s, d in zip(res.steps, res.devi)]
    return totals, cands, used


def _load(cands: list[tuple[Path, int, float]], type_map, d_min: float, known: set):
    """Yield (index, atoms) of usable candidates, run by run (memory: one run's chosen frames)."""
    by_run: dict[Path, dict[int, int]] = {}
    for i, (rd, step, _) in enumerate(cands):
        by_run.setdefault(rd, {})[step] = i
    for rd, steps in sorted(by_run.items()):
        for step, atoms in iter_dump(rd / "traj.dump", type_map, steps=steps):
            i = steps[step]
            if min_distance(atoms) < d_min:
                yield i, None, "too_close"
            elif frame_hash(atoms) in known:
                yield i, None, "known"
            else:
                atoms.info.update(run=rd.name, step=step, max_devi_f=cands[i][2])
                yield i, atoms, "ok"


def pick(camp: Campaign, it: int, cands: list, models: list[Path], cap: int) -> tuple[list, dict]:
    """Choose up to `cap` candidate frames (``max_per_iter`` within the label budget); (frames, counters)."""
    spec, tm = camp.cfg.select, camp.type_map
    known = camp.dataset.hashes() | camp.testset.hashes()
    stats = {"too_close": 0, "already_labeled": 0}
    if cap <= 0:
        return [], stats
    if spec.strategy == "random" or not cands:
        return _pick_random(cands, cap, [spec.seed, it], tm, camp.cfg.label.d_min, known, stats)
    return _pick_maxvol(camp, it, cands, models[0], known, stats, cap)


def _pick_random(cands: list, cap: int, seed: list[int], type_map, d_min: float, known: set, stats: dict):
    """DP-GEN's rule, refilled: walk the candidates in a random order until `cap` usable frames are found.

    A frame dropped by the filters (too close, already labeled) is replaced by the next one in the order, so
    the filters never cost the iteration a label; the first pick is ``pick_random``'s.
    """
    order = [int(i) for i in pick_random(len(cands), cap, seed)]
    rest = np.random.default_rng([*seed, 1]).permutation(np.setdiff1d(np.arange(len(cands)), order))
    queue = order + [int(i) for i in rest]
    frames: list = []
    while queue and len(frames) < cap:
        batch, queue = queue[:cap - len(frames)], queue[cap - len(frames):]
        for _, atoms, why in _load([cands[i] for i in sorted(batch)], type_map, d_min, known):
            if why == "ok":
                frames.append(atoms)
            else:
                stats["too_close" if why == "too_close" else "already_labeled"] += 1
    return frames, stats


def _pick_maxvol(camp: Campaign, it: int, cands: list, model: Path, known: set, stats: dict, cap: int):
    from heal.select.maxvol import select_streaming, selection_pca, structure_descriptors

    spec, tm = camp.cfg.select, camp.type_map
    ref_frames = list(camp.dataset.iter_frames())
    if len(ref_frames) > MAX_REFERENCE:
        rng = np.random.default_rng([spec.seed, it, 7])
        ref_frames = [ref_frames[i] for i in np.sort(rng.choice(len(ref_frames), MAX_REFERENCE, replace=False))]
    ref = structure_descriptors(ref_frames, model, tm)
    every = max(1, -(-len(cands) // PCA_SAMPLE))
    sample = [a for _, a, why in _load(cands[::every], tm, camp.cfg.label.d_min, known) if why == "ok"]
    pca = selection_pca(ref, structure_descriptors(sample, model, tm) if sample else None, spec.descriptor_dim)
    kept: list[int] = []  # index into `cands` of each usable candidate, in chunk order

    def chunks(size: int = 256):
        buf: list = []
        for i, atoms, why in _load(cands, tm, camp.cfg.label.d_min, known):
            if why != "ok":
                stats["too_close" if why == "too_close" else "already_labeled"] += 1
                continue
            buf.append((i, atoms))
            if len(buf) == size:
                yield _emit(buf)
                buf = []
        if buf:
            yield _emit(buf)

    def _emit(buf):
        kept.extend(i for i, _ in buf)  # frames are dropped; the chosen ones are read again below
        return pca.transform(structure_descriptors([a for _, a in buf], model, tm))

    idx = select_streaming(chunks(), cap, pca.transform(ref), seed=int(spec.seed * 1000 + it),
                           min_grade=spec.min_grade, pool_factor=spec.pool_factor)
    chosen = [cands[kept[j]] for j in idx]
    loaded = {i: a for i, a, why in _load(chosen, tm, camp.cfg.label.d_min, known) if why == "ok"}
    return [loaded[i] for i in range(len(chosen)) if i in loaded], stats
