"""Find a campaign's parent (``grow_from``), check that the child can grow from it, and list the ancestors.

A child grows from its parent's final models with ``dp train --init-frz-model``, which looks the parent's
variables up by name: both campaigns need the same model type map (``train.type_map: chain``: DeePMD's
TensorFlow backend cannot add a type to a trained model) and the same network shape. Their labels must come
from the same oracle (``label.oracle`` and ``label.params``) unless ``grow.allow_oracle_change`` says that
mixing sources is intended.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from heal.config import CampaignConfig, load_config, parse_config
from heal.errors import ConfigError, FatalError

CONFIG_NAME = "campaign.yaml"  # heal.campaign.CONFIG_NAME (not imported: heal.campaign imports this module)
#: the network settings ``--init-frz-model`` needs equal in parent and child
SHAPE_FIELDS = ("engine", "descriptor", "attn_layer", "rcut", "rcut_smth", "embedding", "fitting", "axis_neuron",
                "type_map")


def _where(cfg: CampaignConfig) -> str:
    return str(cfg.source or cfg.name)


def _frozen(root: Path) -> CampaignConfig:
    cfile = root / CONFIG_NAME
    cfg = parse_config(yaml.safe_load(cfile.read_text()), cfile)
    cfg.root = str(root.resolve())
    return cfg


def find_parent(cfg: CampaignConfig) -> tuple[Path, CampaignConfig, bool]:
    """(parent campaign directory, its config, whether that directory exists) for ``cfg.grow_from``.

    ``grow_from`` is a campaign directory, a campaign file (the directory it names; its frozen config once it
    has run), or a campaign name (a sibling of this campaign's directory, or ./campaigns/<name>).
    """
    ref = str(cfg.grow_from)
    base = cfg.source.parent if cfg.source is not None else Path.cwd()
    p = Path(ref).expanduser()
    p = p if p.is_absolute() else base / p
    if (p / CONFIG_NAME).is_file():
        return p.resolve(), _frozen(p), True
    if p.is_file():
        pcfg = load_config(p)
        root = pcfg.campaign_dir()
        if (root / CONFIG_NAME).is_file():
            return root, _frozen(root), True
        return root, pcfg, False
    looked = [p]
    for c in (cfg.campaign_dir().parent / ref, Path.cwd() / "campaigns" / ref):
        looked.append(c)
        if (c / CONFIG_NAME).is_file():
            return c.resolve(), _frozen(c), True
    for d in (cfg.campaign_dir().parent, Path.cwd() / "campaigns"):  # by the name inside campaign.yaml
        for cfile in sorted(d.glob(f"*/{CONFIG_NAME}")) if d.is_dir() else []:
            try:
                named = (yaml.safe_load(cfile.read_text()) or {}).get("name")
            except yaml.YAMLError:
                continue
            if named == ref:
                return cfile.parent.resolve(), _frozen(cfile.parent), True
    raise ConfigError(f"{_where(cfg)}: field 'grow_from': no campaign {ref!r} (looked for {CONFIG_NAME} in "
                      f"{', '.join(str(x) for x in looked)}); give the parent's campaign directory, its campaign "
                      f"file or its name")


def check_growth(cfg: CampaignConfig, parent: CampaignConfig) -> None:
    """ConfigError (naming the field and the fix) unless `cfg` can grow from `parent`."""
    where = _where(cfg)
    if cfg.train.engine != "deepmd" or parent.train.engine != "deepmd":
        raise ConfigError(f"{where}: field 'train.engine': growing (grow_from) needs train.engine: deepmd in both "
                          f"campaigns (parent '{parent.name}': {parent.train.engine}, child: {cfg.train.engine})")
    lost = [el for el in parent.system.type_map if el not in cfg.system.type_map]
    if lost:
        raise ConfigError(f"{where}: field 'system': the parent '{parent.name}' has {', '.join(lost)}, which this "
                          f"campaign lacks; a grown campaign keeps every element of its parent: add them")
    pm, cm = parent.model_type_map, cfg.model_type_map
    if pm != cm:
        raise ConfigError(f"{where}: field 'train.type_map': the parent '{parent.name}' has models with the type "
                          f"map {' '.join(pm)}, this campaign's would have {' '.join(cm)}; a trained DeePMD model "
                          f"cannot gain or reorder types, so set 'train.type_map: chain' in both campaigns (the "
                          f"parent must be trained that way from its start)")
    diff = [f for f in SHAPE_FIELDS if getattr(cfg.train, f) != getattr(parent.train, f)]
    from heal.train.deepmd import member_sel

    if member_sel(cfg.train, cm) != member_sel(parent.train, pm):
        diff.append("sel")
    if diff:
        pairs = "; ".join(f"train.{f}: parent {getattr(parent.train, f, None)!r}, here {getattr(cfg.train, f, None)!r}"
                          for f in diff)
        raise ConfigError(f"{where}: field 'train': the child starts from the parent's models, so their network "
                          f"must match ({pairs}); copy the parent's values")
    same = cfg.label.oracle == parent.label.oracle and cfg.label.params == parent.label.params
    if not same and not cfg.grow.allow_oracle_change:
        raise ConfigError(f"{where}: field 'label.oracle': the parent '{parent.name}' was labeled by "
                          f"{parent.label.oracle!r} {parent.label.params or ''}, this campaign by {cfg.label.oracle!r} "
                          f"{cfg.label.params or ''}; one chain should use one oracle (mixed label sources disagree "
                          f"on energies). Use the parent's oracle, or set 'grow.allow_oracle_change: true' to mix "
                          f"them on purpose")


def final_models(root: Path, cfg: CampaignConfig) -> tuple[int, list[Path]]:
    """(iteration, frozen models) of the parent's last iteration whose whole ensemble is trained."""
    iters = sorted((int(p.name[5:]) for p in root.glob("iter-[0-9][0-9][0-9]") if p.is_dir()), reverse=True)
    for it in iters:
        models = [root / f"iter-{it:03d}" / "train" / f"model-{k:02d}" / "graph.pb" for k in range(cfg.n_models)]
        if all(m.is_file() for m in models):
            return it, models
    raise FatalError(f"{root}: the parent campaign '{cfg.name}' has no trained models yet; run it first "
                     f"(heal launch / heal resume), then launch the campaign that grows from it")


def ancestors(parent_root: Path, parent: CampaignConfig) -> list[dict]:
    """The parent, then its own ancestors (from its ``grow/lineage.json``): name, root, family, elements, oracle."""
    me = {"name": parent.name, "root": str(parent_root), "family": parent.system.family,
          "elements": parent.system.type_map, "oracle": parent.label.oracle}
    lin = parent_root / "grow" / "lineage.json"
    older = json.loads(lin.read_text())["ancestors"] if lin.is_file() else []
    return [me, *older]


def prepare_child(cfg: CampaignConfig) -> Path:
    """At launch: find and check the parent, make ``cfg.grow_from`` its absolute directory; return that."""
    root, parent, exists = find_parent(cfg)
    check_growth(cfg, parent)
    if not exists:
        raise ConfigError(f"{_where(cfg)}: field 'grow_from': the parent campaign '{parent.name}' has not run yet "
                          f"(no {root / CONFIG_NAME}); launch it first: heal launch {parent.source}")
    final_models(root, parent)
    cfg.grow_from = str(root)
    return root


def lineage(cfg: CampaignConfig, root: Path | None = None) -> dict | None:
    """This campaign's lineage: its recorded ``grow/lineage.json`` or, before init, the parent's chain."""
    if not cfg.grow_from:
        return None
    if root is not None and (root / "grow" / "lineage.json").is_file():
        return json.loads((root / "grow" / "lineage.json").read_text())
    proot, parent, _ = find_parent(cfg)
    return {"parent": str(proot), "ancestors": ancestors(proot, parent)}
