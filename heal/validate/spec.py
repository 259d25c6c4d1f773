"""The campaign file's ``validate:`` section and the ``loop.validate`` tolerances (typed, strict).

Kept apart from :mod:`heal.config` (which only names them) so the validation settings live with their code.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from heal.configutil import Strict, absolute_temperatures

PHASES = ("ni", "ni3al", "gamma", "cr23c6")
PROPERTIES = ("lattice", "lattice_300k", "elastic", "eos", "md")


class ValidateSpec(Strict):
    """What the validate stage computes each iteration, with the model and (once per campaign) the oracle.

    Phases: ``ni`` (FCC Ni), ``ni3al`` (L1₂ γ′), ``gamma`` (the family's FCC solid solution, random
    decoration), ``cr23c6`` (D8₄ carbide; skipped with a note in a family without Cr or C). Properties:
    ``lattice`` (0 K, E-V fit), ``eos`` (the E-V curve is kept), ``elastic`` (C11, C12, C44 of the ordered
    cubic phases ni, ni3al, cr23c6), ``lattice_300k`` (isotropic NPT at 300 K and 1 bar of the first of
    gamma, ni3al, ni: LAMMPS ``fix npt`` for the model, ase's MTK barostat for an in-process oracle; the
    thesis's 3.55-3.59 Å is the third column), ``md`` (NVT stability and RDF at each temperature, model
    against the oracle).
    """

    phases: list[Literal["ni", "ni3al", "gamma", "cr23c6"]] = Field(["ni", "ni3al", "gamma", "cr23c6"],
                                                                    min_length=1)
    properties: list[Literal["lattice", "lattice_300k", "elastic", "eos", "md"]] = Field(
        ["lattice", "eos", "elastic", "lattice_300k", "md"], min_length=1)
    #: NVT temperatures of the stability runs (K); thesis: RDF at 300 and 1000 K
    temperatures: list[float] = Field([300.0, 1000.0, 1500.0], min_length=1)
    #: MD steps per phase and temperature (10 ps at 1 fs = 10,000 steps in production)
    md_steps: int = Field(10000, ge=10)
    #: steps of the 300 K NPT run for the finite-temperature lattice constant
    npt_steps: int = Field(10000, ge=10)
    timestep_fs: float = Field(1.0, gt=0.0, le=5.0)
    #: frames kept every this many MD steps (RDF, stability checks, candidates)
    sample_every: int = Field(100, ge=1)
    #: MD cells: conventional cells repeated this many times along each axis (3: 108-atom FCC / L1₂)
    md_repeat: int = Field(3, ge=1, le=8)
    #: random decoration of the gamma cell (2 x 2 x 2 conventional FCC, 32 atoms)
    seed: int = 0
    #: strains of the elastic fits (both signs of each)
    strains: list[float] = Field([0.005, 0.01], min_length=1)
    #: ensemble spread of the 0 K lattice constant over all members (cheap: one E-V scan per member)
    spread: bool = True
    #: frames of unstable validation MD handed to the next label step, at most this many per iteration
    max_candidates: int = Field(8, ge=0)
    #: the oracle of the reference values (None: the campaign's label.oracle). In-process oracles (meam,
    #: universal) compute every property; external-job ones (VASP, GPAW) only the 0 K properties of the
    #: smallest Ni and Ni₃Al cells, as label jobs (heal.validate.external); the rest is against the thesis
    oracle: str | None = None
    oracle_params: dict = {}

    @field_validator("temperatures")
    @classmethod
    def _temps(cls, v: list[float]) -> list[float]:
        return absolute_temperatures(v)

    @field_validator("oracle")
    @classmethod
    def _oracle(cls, v: str | None) -> str | None:
        from heal.label.registry import LABELERS  # cheap: names -> import paths

        if v is not None and v not in LABELERS:
            raise ValueError(f"unknown oracle {v!r}; use one of {sorted(LABELERS)} (in-process: meam, universal)")
        return v

    @field_validator("strains")
    @classmethod
    def _strains(cls, v: list[float]) -> list[float]:
        for s in v:
            if not (0.0 < s <= 0.03):
                raise ValueError(f"strain {s} is outside (0, 0.03]; elastic constants need small strains, "
                                 f"e.g. [0.005, 0.01]")
        return v


class ValidateTolerance(Strict):
    """``loop.validate``: with it, a campaign converges only when the validation holds too.

    Relative errors are of the model against the oracle (the labels it learns from), not the thesis.
    """

    #: |a_model - a_oracle| / a_oracle at 0 K, every phase
    lattice: float = Field(0.01, gt=0.0)
    #: |Cij_model - Cij_oracle| / Cij_oracle, every constant of every phase
    elastic: float = Field(0.15, gt=0.0)
    #: every stability run stable (no lost atoms, no short distance, no exploding energy)
    stable: bool = True
    #: largest RDF distance to the oracle's (None: not checked)
    rdf: float | None = Field(None, gt=0.0)
