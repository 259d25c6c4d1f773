"""The sections of a campaign file (``seeds:``, ``init:``, ``explore:``, ``select:``, ``label:``, ``train:``,
``loop:``, ``store:``), each a strict model; :mod:`heal.config` puts them together into a campaign.

Defaults follow the thesis behind heal (Mou 2023, see ``../shared/thesis-facts.md``) unless the field's docstring
says otherwise. Units: temperatures K, pressures bar, lengths Å, forces eV/Å, time steps fs.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import ConfigDict, Field, NonNegativeFloat, PositiveInt, field_validator, model_validator

from heal.configutil import Strict as _Strict
from heal.configutil import absolute_temperatures
from heal.validate.spec import ValidateTolerance


class SeedSpec(_Strict):
    """Seed structures for exploration (thesis: FCC/BCC/HCP and melt cells, 50-120 atoms, 0.95-1.2 scaling)."""

    #: fcc (γ), bcc, hcp, melt; l12 (γ′, Ni3Al-type with substitution on both sublattices); m23c6 (carbide,
    #: carbon on its 24e sites only; needs C). heal.systems / heal.ordered
    phases: list[Literal["fcc", "bcc", "hcp", "melt", "l12", "m23c6"]] = Field(["fcc", "bcc", "hcp", "melt"],
                                                                               min_length=1)
    min_atoms: int = Field(50, ge=1)
    max_atoms: int = Field(120, ge=1)
    scales: list[float] = [0.95, 1.0, 1.05, 1.1, 1.2]
    decoration: Literal["random", "sqs"] = "random"
    #: independent decorations per (phase, scale)
    replicas: int = Field(1, ge=1)
    #: l12 / m23c6: fraction of each sublattice's sites given to the other metals (substitution)
    substitution: float = Field(0.2, ge=0.0, le=1.0)
    seed: int = 0

    @field_validator("scales")
    @classmethod
    def _scales(cls, v: list[float]) -> list[float]:
        if not v:
            raise ValueError("give at least one lattice scale, e.g. [1.0]")
        for s in v:
            if not (0.5 <= s <= 2.0):
                raise ValueError(f"lattice scale {s} is outside 0.5-2.0; the thesis uses 0.95-1.2")
        return v

    @model_validator(mode="after")
    def _sizes(self) -> "SeedSpec":
        if self.min_atoms > self.max_atoms:
            raise ValueError(f"min_atoms ({self.min_atoms}) > max_atoms ({self.max_atoms}); swap them")
        return self


class HeldoutMD(_Strict):
    """A fixed held-out set from the oracle's own MD (NVT Langevin, ASE, the exploration's time step) at every
    exploration temperature from every seed: frames at steps `every`, 2·`every`, … ≤ `steps`. Needs an oracle
    computed in process (meam, chgnet, …); set ``train.test_fraction: 0`` so that every later label trains."""

    steps: int = Field(300, ge=1)
    every: int = Field(100, ge=1)
    seed: int = 0


class InitSpec(_Strict):
    """Initial data for iteration 0: imported AIMD frames and/or labeled rattled seeds."""

    data: list[str] = []
    trim: int = Field(0, ge=0)
    #: rattled, scaled seed structures labeled by the campaign's oracle before iteration 0
    n_seed_labels: int = Field(20, ge=0)
    rattle: float = Field(0.05, ge=0.0, description="Gaussian displacement std (Å)")
    #: held-out frames from the oracle's MD at the exploration temperatures (None: a hash share of the labels)
    heldout_md: HeldoutMD | None = None
    #: your own held-out frames (any file or directory ``heal data import`` reads: vasprun.xml, OUTCAR, extxyz,
    #: DeePMD systems, DP-GEN runs), paths relative to the campaign file: stored in the held-out set, never
    #: trained on; they add to ``heldout_md`` and to the ``train.test_fraction`` share
    heldout: list[str] = []


class ExploreStage(_Strict):
    """One rung of the exploration ladder."""

    temperatures: list[float]
    #: bar; None means NVT, a list means NPT (isotropic) at each pressure
    pressures: list[float] | None = None
    nsteps: int = Field(1000, ge=1)

    @field_validator("temperatures")
    @classmethod
    def _positive(cls, v: list[float]) -> list[float]:
        if not v:
            raise ValueError("give at least one temperature (K)")
        return absolute_temperatures(v)

    @field_validator("pressures")
    @classmethod
    def _finite_pressures(cls, v: list[float] | None) -> list[float] | None:
        for p in v or []:
            if not math.isfinite(p):
                raise ValueError(f"pressure {p} bar is not a finite number; give pressures in bar, e.g. [1, 10000]")
        return v


class ExploreSpec(_Strict):
    engine: Literal["lammps"] = "lammps"
    stages: list[ExploreStage] = Field([ExploreStage(temperatures=[300.0, 600.0, 1000.0]),
                                        ExploreStage(temperatures=[1500.0, 2000.0, 3000.0])], min_length=1)
    timestep_fs: float = Field(1.0, gt=0.0, le=10.0)
    dump_freq: int = Field(10, ge=1)
    #: seed structures explored per iteration (cycled through the seed set)
    structures_per_iter: int = Field(4, ge=1)
    #: LAMMPS runs grouped into one task (one Firework)
    runs_per_task: int = Field(4, ge=1)
    #: MTP: γ from which an MD step is preselected (MLIP select:threshold)
    mtp_save: float = Field(2.1, ge=1.0)
    #: MTP: γ above which the MD run stops (MLIP select:threshold-break)
    mtp_break: float = Field(10.0, gt=1.0)

    @model_validator(mode="after")
    def _mtp_thresholds(self) -> "ExploreSpec":
        if self.mtp_save >= self.mtp_break:
            raise ValueError(f"mtp_save ({self.mtp_save}) must be below mtp_break ({self.mtp_break})")
        return self


class SelectSpec(_Strict):
    """Trust levels on the max force deviation (eV/Å) and an optional virial criterion (eV/atom)."""

    strategy: Literal["random", "maxvol"] = "random"
    f_lo: float = Field(0.05, ge=0.0)
    f_hi: float = Field(0.35, gt=0.0)
    v_lo: float | None = Field(None, ge=0.0)
    v_hi: float | None = Field(None, gt=0.0)
    max_per_iter: int = Field(20, ge=1)
    min_per_iter: int = Field(0, ge=0)
    seed: int = 0
    #: MTP active set: per configuration, per atomic neighbourhood, or auto (configuration if full rank)
    mtp_grade_mode: Literal["auto", "configuration", "neighborhood"] = "auto"
    #: "fixed": f_lo/f_hi as given; "calibrated": fitted per composition × phase from labeled
    #: (deviation, true error) pairs after each iteration (fixed levels until a group has min_pairs)
    trust: Literal["fixed", "calibrated"] = "fixed"
    #: largest per-atom force error (eV/Å) that frames called accurate may have; required when calibrated
    target_error: float | None = Field(None, gt=0.0)
    #: fraction of accurate frames that must meet target_error
    coverage: float = Field(0.9, gt=0.0, lt=1.0)
    #: a group with fewer labeled pairs keeps f_lo/f_hi
    min_pairs: int = Field(40, ge=1)
    #: force error (eV/Å) beyond repair by a label; None: 10 × target_error
    hopeless_error: float | None = Field(None, gt=0.0)
    #: calibrated f_hi is at most hi_factor × f_lo
    hi_factor: float = Field(4.0, gt=1.0)
    #: maxvol: PCA dimension of the pooled DeePMD descriptor; stop grade (1: only frames outside what the
    #: training set spans); streaming pool = pool_factor × max_per_iter
    descriptor_dim: int = Field(32, ge=1, le=256)
    min_grade: float = Field(0.0, ge=0.0)
    pool_factor: int = Field(4, ge=1)

    @model_validator(mode="after")
    def _levels(self) -> "SelectSpec":
        if self.f_lo >= self.f_hi:
            raise ValueError(f"trust levels f_lo={self.f_lo} >= f_hi={self.f_hi}; f_lo must be below f_hi")
        if (self.v_lo is None) != (self.v_hi is None):
            raise ValueError("give both v_lo and v_hi for the virial criterion, or neither")
        if self.v_lo is not None and self.v_hi is not None and self.v_lo >= self.v_hi:
            raise ValueError(f"virial trust levels v_lo={self.v_lo} >= v_hi={self.v_hi}; v_lo must be below v_hi")
        if self.trust == "calibrated" and self.target_error is None:
            raise ValueError("select.trust = calibrated needs select.target_error (eV/Å), e.g. 0.3")
        if self.min_per_iter > self.max_per_iter:
            raise ValueError(f"min_per_iter ({self.min_per_iter}) > max_per_iter ({self.max_per_iter})")
        return self


class LabelSpec(_Strict):
    """The labeling oracle and the sanity checks every label must pass."""

    oracle: str = "meam"
    params: dict[str, Any] = {}
    #: largest allowed |F| component (eV/Å); bigger labels are rejected as broken
    max_force: float = Field(50.0, gt=0.0)
    #: shortest allowed interatomic distance (Å); thesis: 1.5
    d_min: float = Field(1.5, ge=0.0)
    batch_size: int = Field(10, ge=1)
    retries: int = Field(2, ge=0)
    #: the iteration stops if more than this fraction of labels fails
    max_fail_fraction: float = Field(0.5, ge=0.0, le=1.0)
    timeout_s: float = Field(3600.0, gt=0.0)


class TrainSpec(_Strict):
    """DeePMD ensemble (thesis defaults: se_e2_a, [25,50,100] / [240,240,240], rcut 6 Å) or MTP."""

    #: a name in heal.engines.ENGINES
    engine: str = "deepmd"
    n_models: int = Field(4, ge=1)
    steps: int = Field(100000, ge=1)
    rcut: float = Field(6.0, gt=0.0)
    rcut_smth: float = Field(0.5, ge=0.0)
    embedding: list[PositiveInt] = Field([25, 50, 100], min_length=1)
    fitting: list[PositiveInt] = Field([240, 240, 240], min_length=1)
    axis_neuron: int = Field(16, ge=1)
    #: neighbours kept per element within rcut (se_e2_a ``sel``): one number for every element or one per
    #: element of the type map. None: room for a whole sphere of any one element (safe; at rcut 5 Å 64 per
    #: element where HEA4 MD has at most 18); ``dp neighbor-stat`` on the data gives a tighter value, e.g.
    #: 24 made the demo's training 1.6x faster (benchmarks/RESULTS.md).
    sel: PositiveInt | list[PositiveInt] | None = None
    start_lr: float = Field(1e-3, gt=0.0)
    stop_lr: float = Field(3.51e-8, gt=0.0)
    pref_e: tuple[NonNegativeFloat, NonNegativeFloat] = (0.02, 1.0)
    pref_f: tuple[NonNegativeFloat, NonNegativeFloat] = (1000.0, 1.0)
    pref_v: tuple[NonNegativeFloat, NonNegativeFloat] = (100.0, 1.0)
    batch_size: int | Literal["auto"] = "auto"
    disp_freq: int = Field(100, ge=1)
    #: fraction of labeled frames held out (by frame hash) for ``dp test``
    test_fraction: float = Field(0.1, ge=0.0, lt=1.0)
    #: how many ensemble members run ``dp test`` (None = all); each test costs a TensorFlow start-up
    test_members: int | None = Field(None, ge=0)
    #: later iterations start from the previous iteration's models
    init_from_previous: bool = True
    #: the models' type map: "system" = the campaign's elements; "chain" = all ten elements of the HEA chain
    #: (heal.families.CHAIN_ORDER), so that a campaign grown from this one (``grow_from``) can start from its
    #: models (untrained types cost training and MD time; README "Growing a campaign")
    type_map: Literal["system", "chain"] = "system"
    #: DeePMD descriptor: se_e2_a (one embedding net per element; thesis) or se_atten (a type embedding
    #: shared by all elements; ``attn_layer`` attention layers, 0 = none)
    descriptor: Literal["se_e2_a", "se_atten"] = "se_e2_a"
    attn_layer: int = Field(0, ge=0, le=8)
    #: MTP settings (engine: mtp): level of the untrained template (templates/mtp/levelNN.mtp)
    mtp_level: Literal[2, 4, 6, 8, 10] = 10
    #: MTP: BFGS iterations (motep) / --max-iter (MLIP mlp train)
    mtp_max_iter: int = Field(1000, ge=0)
    #: MTP loss weights: energy per atom, forces, stress (MLIP defaults)
    mtp_weights: tuple[float, float, float] = (1.0, 0.01, 0.001)
    seed: int = 1

    @field_validator("engine")
    @classmethod
    def _known_engine(cls, v: str) -> str:
        from heal.engines import ENGINES  # cheap: the registry maps names to import paths

        if v not in ENGINES:
            raise ValueError(f"unknown engine {v!r}; use one of {sorted(ENGINES)}")
        return v

    @model_validator(mode="after")
    def _check(self) -> "TrainSpec":
        if self.rcut_smth >= self.rcut:
            raise ValueError(f"rcut_smth ({self.rcut_smth}) must be below rcut ({self.rcut}); "
                             f"lower rcut_smth (e.g. 0.5) or raise rcut")
        if self.stop_lr > self.start_lr:
            raise ValueError(f"stop_lr ({self.stop_lr}) > start_lr ({self.start_lr}); the rate decays")
        return self


class LoopSpec(_Strict):
    model_config = ConfigDict(populate_by_name=True)
    max_iterations: int = Field(10, ge=1)
    #: stop when the accurate ratio >= target for `converged_iterations` iterations in a row
    accurate_target: float = Field(0.95, gt=0.0, le=1.0)
    converged_iterations: int = Field(2, ge=1)
    #: total labels allowed (initial data excluded); None = no budget
    label_budget: int | None = Field(None, ge=1)
    #: ``validate:`` tolerances: when set, convergence also needs the iteration's validation to hold
    #: (named ``validation`` in Python: ``validate`` is a BaseModel method)
    validation: ValidateTolerance | None = Field(None, alias="validate")


class StoreSpec(_Strict):
    """``uri: mongodb://...`` for a MongoDB server; default: the embedded durable store in the campaign dir."""

    uri: str | None = None

    @field_validator("uri")
    @classmethod
    def _uri(cls, v: str | None) -> str | None:
        if v is not None and not v.startswith(("mongodb://", "mongodb+srv://")):
            raise ValueError("store.uri must start with mongodb:// or mongodb+srv://; "
                             "remove it to use the embedded store")
        return v
