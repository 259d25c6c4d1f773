"""Convert a DP-GEN campaign (``param.json`` [+ ``machine.json``]) into a heal campaign file.

Mapped (DP-GEN key -> heal field):

- ``type_map`` -> ``system.family`` when it is one of the HEA families, else ``system.elements`` (heal orders
  the elements itself; data are matched by element name);
- ``init_data_prefix`` + ``init_data_sys`` -> ``init.data`` (DeePMD systems; ``heal data import`` reads them);
- ``numb_models`` -> ``train.n_models``; ``default_training_param``: descriptor type / sel / rcut / rcut_smth /
  neuron / axis_neuron, fitting ``neuron``, learning rate ``start_lr`` / ``stop_lr``, loss prefactors,
  ``numb_steps`` (or ``stop_batch``), ``disp_freq``, ``seed`` -> ``train.*``; ``training_init_model`` /
  ``training_reuse_iter`` -> ``train.init_from_previous``;
- ``model_devi_f_trust_lo/hi``, ``model_devi_v_trust_lo/hi`` -> ``select.f_lo/f_hi``, ``v_lo/v_hi`` (a per-system
  list: its smallest lo and hi); ``fp_task_max`` / ``fp_task_min`` -> ``select.max_per_iter`` / ``min_per_iter``;
- ``model_devi_jobs`` -> ``explore.stages`` (``temps``, ``press`` when the ensemble is NPT, ``nsteps``);
  ``trj_freq`` -> ``explore.dump_freq``; ``model_devi_dt`` (ps) -> ``explore.timestep_fs``;
- ``fp_style`` vasp / custom -> ``label.oracle``; ``fp_pp_path`` -> ``label.params.pp_path``; INCAR tags
  (``fp_incar`` file) ENCUT / EDIFF / NELM / ALGO / ISPIN -> ``label.params``, other tags -> ``label.params.incar``;
- machine.json: the ``batch_type`` of the ``fp`` (else ``train``) section -> ``machine`` (slurm, pbs, lsf, local).

Every other key is listed as not mapped, in the file's header and in :attr:`Conversion.unmapped`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from heal.errors import ConfigError
from heal.families import FAMILIES

#: keys that are used, or that need nothing in heal (heal does it itself)
_HANDLED = {
    "type_map", "init_data_prefix", "init_data_sys", "numb_models", "default_training_param",
    "training_init_model", "training_reuse_iter", "model_devi_f_trust_lo", "model_devi_f_trust_hi",
    "model_devi_v_trust_lo", "model_devi_v_trust_hi", "fp_task_max", "fp_task_min", "model_devi_jobs",
    "model_devi_dt", "fp_style", "fp_pp_path", "fp_incar", "model_devi_engine", "train_backend",
}
_BATCH = {"slurm": "slurm", "pbs": "pbs", "torque": "pbs", "lsf": "lsf", "shell": "local"}


@dataclass
class Conversion:
    campaign: dict
    unmapped: list[str] = field(default_factory=list)

    def to_yaml(self, source: str) -> str:
        head = [f"# heal campaign converted from the DP-GEN file {source} by 'heal from-dpgen'."]
        if self.unmapped:
            head.append("# Not mapped (heal has no such option, or does it its own way; check them by hand):")
            head += [f"#   - {u}" for u in self.unmapped]
        return "\n".join(head) + "\n" + yaml.safe_dump(self.campaign, sort_keys=False)


def _read_json(path: Path, what: str) -> dict:
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: {what} not found; give the path to DP-GEN's {what}") from None
    except ValueError as exc:
        raise ConfigError(f"{path}: {what} is not valid JSON ({exc}); fix the file") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: {what} must be a JSON object")
    return data


def _level(v: Any) -> float | None:
    """A trust level: a number, or the smallest of a per-system list / mapping (None if absent)."""
    if v is None:
        return None
    if isinstance(v, dict):
        v = list(v.values())
    vals = [x for x in (v if isinstance(v, list) else [v]) if x is not None]
    return float(min(vals)) if vals else None


def _train(p: dict, unmapped: list[str], type_map: list[str]) -> dict:
    """``train.*``; a per-element ``sel`` is reordered from DP-GEN's type map onto heal's (`type_map`)."""
    tp = p.get("default_training_param") or {}
    model, lr, loss, tr = tp.get("model", {}), tp.get("learning_rate", {}), tp.get("loss", {}), tp.get("training", {})
    d, fit = model.get("descriptor", {}), model.get("fitting_net", {})
    out: dict[str, Any] = {"engine": "deepmd", "n_models": int(p.get("numb_models", 4))}
    dtype = d.get("type", "se_e2_a")
    if dtype in ("se_e2_a", "se_a"):
        out["descriptor"] = "se_e2_a"
    elif dtype in ("se_atten", "se_atten_v2", "dpa1"):
        out["descriptor"] = "se_atten"
        if "attn_layer" in d:
            out["attn_layer"] = int(d["attn_layer"])
    elif d:
        unmapped.append(f"default_training_param.model.descriptor.type = {dtype!r} (heal: se_e2_a or se_atten)")
    for src, dst in (("rcut", "rcut"), ("rcut_smth", "rcut_smth"), ("neuron", "embedding"),
                     ("axis_neuron", "axis_neuron"), ("sel", "sel")):
        if src in d and not (src == "sel" and isinstance(d[src], str)):
            out[dst] = d[src]
    if isinstance(out.get("sel"), list) and out.get("descriptor") == "se_e2_a":
        by_el = dict(zip(p["type_map"], out["sel"]))
        out["sel"] = [int(by_el[el]) for el in type_map]
    if "neuron" in fit:
        out["fitting"] = fit["neuron"]
    for src in ("start_lr", "stop_lr"):
        if src in lr:
            out[src] = float(lr[src])
    for k in sorted(set(lr) - {"type", "start_lr", "stop_lr", "decay_steps"}):
        unmapped.append(f"default_training_param.learning_rate.{k}")
    if "decay_steps" in lr:
        unmapped.append(f"default_training_param.learning_rate.decay_steps = {lr['decay_steps']} (heal sets it "
                        f"from train.steps)")
    for short in ("e", "f", "v"):
        if f"start_pref_{short}" in loss:
            out[f"pref_{short}"] = [float(loss[f"start_pref_{short}"]), float(loss.get(f"limit_pref_{short}", 1.0))]
    steps = tr.get("numb_steps", tr.get("stop_batch"))
    if steps is not None:
        out["steps"] = int(steps)
    if "disp_freq" in tr:
        out["disp_freq"] = int(tr["disp_freq"])
    if "seed" in tr:
        out["seed"] = int(tr["seed"])
    if p.get("training_init_model") is not None or p.get("training_reuse_iter") is not None:
        out["init_from_previous"] = bool(p.get("training_init_model", True))
    for k in ("training_reuse_old_ratio", "training_reuse_numb_steps", "training_reuse_start_lr",
              "training_reuse_start_pref_e", "training_reuse_start_pref_f"):
        if k in p:
            unmapped.append(f"{k} = {p[k]!r} (heal's reuse settings are grow.old_ratio / finetune_steps / "
                            f"finetune_start_lr of a campaign with grow_from)")
    if p.get("train_backend") not in (None, "tensorflow"):
        unmapped.append(f"train_backend = {p['train_backend']!r} (heal trains with the TensorFlow backend)")
    return out


def _explore(p: dict, unmapped: list[str]) -> dict:
    jobs = p.get("model_devi_jobs") or []
    stages, freqs = [], []
    for i, job in enumerate(jobs):
        st: dict[str, Any] = {"temperatures": [float(t) for t in job.get("temps", [300.0])],
                              "nsteps": int(job.get("nsteps", 1000))}
        ens = str(job.get("ensemble", "nvt")).lower()
        if ens.startswith("npt") and job.get("press"):
            st["pressures"] = [float(x) for x in job["press"]]
        elif ens not in ("nvt",) and not ens.startswith("npt"):
            unmapped.append(f"model_devi_jobs[{i}].ensemble = {ens!r} (heal explores NVT or NPT)")
        for k in ("sys_idx", "template", "rev_mat", "sys_rev_mat", "_idx"):
            if k in job:
                unmapped.append(f"model_devi_jobs[{i}].{k} (heal explores its own seed set; a stage runs every seed)")
        stages.append(st)
        if "trj_freq" in job:
            freqs.append(int(job["trj_freq"]))
    out: dict[str, Any] = {}
    if stages:
        out["stages"] = stages
    if freqs:
        out["dump_freq"] = min(freqs)
        if len(set(freqs)) > 1:
            unmapped.append(f"model_devi_jobs[*].trj_freq differ ({sorted(set(freqs))}); heal uses the smallest")
    if "model_devi_dt" in p:
        out["timestep_fs"] = float(p["model_devi_dt"]) * 1000.0
    return out


def _number(v: str) -> Any:
    for cast in (int, float):
        try:
            return cast(v)
        except ValueError:
            pass
    return v


def _incar(path: Path) -> dict[str, str]:
    tags = {}
    for line in path.read_text().splitlines():
        line = line.split("#")[0].split("!")[0]
        if "=" in line:
            k, v = line.split("=", 1)
            tags[k.strip().upper()] = v.strip()
    return tags


def _label(p: dict, base: Path, unmapped: list[str]) -> dict:
    style = p.get("fp_style", "vasp")
    if style == "vasp":
        out: dict[str, Any] = {"oracle": "vasp", "params": {}}
    else:
        unmapped.append(f"fp_style = {style!r} (heal oracles: vasp, gpaw, meam, universal; 'vasp' written)")
        out = {"oracle": "vasp", "params": {}}
    if p.get("fp_pp_path"):
        out["params"]["pp_path"] = str(p["fp_pp_path"])
    if p.get("fp_pp_files"):
        unmapped.append(f"fp_pp_files = {p['fp_pp_files']!r} (heal picks POTCARs per element: label.params.potcars "
                        f"names their directories under pp_path/pp_folder)")
    if p.get("fp_incar"):
        inc = Path(p["fp_incar"])
        inc = inc if inc.is_absolute() else base / inc
        if inc.is_file():
            tags = _incar(inc)
            conv = {"ENCUT": ("encut", float), "EDIFF": ("ediff", float), "NELM": ("nelm", int), "ALGO": ("algo", str)}
            extra = {}
            for k, v in tags.items():
                if k in conv:
                    out["params"][conv[k][0]] = conv[k][1](v)
                elif k == "ISPIN":
                    out["params"]["spin"] = v.strip() == "2"
                elif k not in ("KSPACING", "KGAMMA"):
                    extra[k] = _number(v)
            if extra:
                out["params"]["incar"] = extra
        else:
            unmapped.append(f"fp_incar = {p['fp_incar']!r} (file not found beside param.json; INCAR tags not read)")
    if not out["params"]:
        del out["params"]
    return out


def convert(param: Path, machine: Path | None = None, name: str | None = None) -> Conversion:
    """The heal campaign (as a mapping) for DP-GEN's `param` (+ `machine`), with the keys heal cannot map."""
    param = Path(param)
    p = _read_json(param, "param.json")
    if not p.get("type_map"):
        raise ConfigError(f"{param}: field 'type_map' is missing; a DP-GEN param.json lists its elements there")
    unmapped: list[str] = []
    tm = list(p["type_map"])
    fam = next((f for f, els in FAMILIES.items() if sorted(els) == sorted(tm)), None)
    system: dict[str, Any] = {"family": fam} if fam else {"elements": tm}
    default = re.sub(r"[^A-Za-z0-9_.-]", "-", param.resolve().parent.name or "dpgen").strip("-.") or "dpgen"
    camp: dict[str, Any] = {"name": name or f"{default[:50]}-from-dpgen", "system": system}
    prefix = Path(p.get("init_data_prefix", ""))
    prefix = prefix if prefix.is_absolute() else param.resolve().parent / prefix  # DP-GEN: beside param.json
    if p.get("init_data_sys"):
        camp["init"] = {"data": [str(prefix / s) for s in p["init_data_sys"]], "n_seed_labels": 0}
    ex = _explore(p, unmapped)
    if ex:
        camp["explore"] = ex
    sel: dict[str, Any] = {}
    for src, dst in (("model_devi_f_trust_lo", "f_lo"), ("model_devi_f_trust_hi", "f_hi"),
                     ("model_devi_v_trust_lo", "v_lo"), ("model_devi_v_trust_hi", "v_hi")):
        v = _level(p.get(src))
        if v is not None:
            sel[dst] = v
            if isinstance(p.get(src), (list, dict)):
                unmapped.append(f"{src} per system {p[src]} (heal: one level, or select.trust: calibrated)")
    if "fp_task_max" in p:
        sel["max_per_iter"] = int(p["fp_task_max"])
    if "fp_task_min" in p:
        sel["min_per_iter"] = int(p["fp_task_min"])
    if sel:
        camp["select"] = sel
    camp["label"] = _label(p, param.parent, unmapped)
    from heal.config import parse_config

    camp["train"] = _train(p, unmapped, parse_config({"name": "x", "system": system}).system.type_map)
    if machine is not None:
        m = _read_json(Path(machine), "machine.json")
        sec = m.get("fp") or m.get("train") or m.get("model_devi") or {}
        sec = sec[0] if isinstance(sec, list) and sec else sec
        mach = sec.get("machine", sec) if isinstance(sec, dict) else {}
        bt = str(mach.get("batch_type", "shell")).lower()
        camp["machine"] = _BATCH.get(bt, "local")
        if bt not in _BATCH:
            unmapped.append(f"machine.json batch_type {bt!r} (heal machines: slurm, pbs, lsf, local)")
        unmapped.append("machine.json resources / context (edit machines/<machine>.yaml: heal keeps commands, "
                        "queues and resources there)")
    for k in sorted(set(p) - _HANDLED - {"mass_map", "fp_pp_files", "training_reuse_old_ratio",
                                          "training_reuse_numb_steps", "training_reuse_start_lr",
                                          "training_reuse_start_pref_e", "training_reuse_start_pref_f"}):
        unmapped.append(f"{k}")
    if "mass_map" in p:
        unmapped.append("mass_map (heal takes the masses from ASE by element)")
    return Conversion(camp, unmapped)
