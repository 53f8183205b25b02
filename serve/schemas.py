"""Request and response bodies. Every number must be finite; unknown fields are refused."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, model_validator

from lcpfn.mcmc import FAMILIES, SCHEDULE_SOURCES
from lcpfn.schedules import MAX_MILESTONES, NAMES, SHAPES

Finite = float  # allow_inf_nan=False in every model's config makes these finite


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class ScheduleArrays(Strict):
    """The planned learning rate at given steps (piecewise-linear between them), up to the last query."""

    steps: list[Finite] = Field(min_length=2, max_length=100_000)
    lr: list[Finite] = Field(min_length=2, max_length=100_000)


class NamedSchedule(Strict):
    """A named schedule from ``priors.schedules`` with its parameters (steps in the units of x)."""

    name: Literal[NAMES]
    total: Finite
    peak: Finite
    warmup: Finite | None = None
    cooldown: Finite | None = None
    shape: Literal[SHAPES] | None = None
    final_ratio: Finite | None = None
    milestones: list[Finite] | None = Field(default=None, max_length=MAX_MILESTONES)
    factor: Finite | None = None
    timescale: Finite | None = None


def _schedule_kind(v: Any) -> str:
    """Which form a schedule takes: a ``name`` makes it a named one, so a wrong name is reported as such and not as
    a failed match of every form (``steps`` missing, ``name`` not allowed, ...)."""
    if isinstance(v, dict):
        return "named" if "name" in v else "arrays"
    return "named" if isinstance(v, NamedSchedule) else "arrays"


Schedule = Annotated[
    Annotated[ScheduleArrays, Tag("arrays")] | Annotated[NamedSchedule, Tag("named")], Discriminator(_schedule_kind)
]
Level = Annotated[float, Field(gt=0.0, lt=1.0)]
Bounds = tuple[Finite | None, Finite | None]


class Curve(Strict):
    x: list[Finite] = Field(min_length=1, description="steps (or epochs) where y was observed, strictly increasing")
    y: list[Finite] = Field(min_length=1, description="observed metric values")
    direction: Literal["min", "max"] = "min"
    bounds: Bounds | None = Field(default=None, description="known hard limits, e.g. [0, 1] for accuracy, [0, null] for a loss")
    schedule: Schedule | None = None


class PredictRequest(Curve):
    x_query: list[Finite] | None = Field(default=None, min_length=1, description="steps to predict (default: the horizon)")
    horizon: Finite | None = Field(
        default=None,
        description="the step the run is planned to end at (default: where the schedule ends; unknown without one, "
        "then time is measured in units of the last observed step)",
    )
    quantiles: list[Level] = Field(default=[0.05, 0.25, 0.5, 0.75, 0.95], min_length=1, max_length=99)

    @model_validator(mode="after")
    def _some_target(self):
        if self.x_query is None and self.horizon is None and self.schedule is None:
            raise ValueError("give x_query (steps to predict), or a horizon or schedule to predict the run's final step")
        return self


class PredictResponse(BaseModel):
    model: str
    version: str
    x_query: list[float]
    mean: list[float]
    median: list[float]
    quantiles: dict[str, list[float]]


class MCMCResponse(PredictResponse):
    diagnostics: dict[str, Any]  # sampler, seconds, draws, divergences, rhat_max, ess_bulk_min, posterior_mean, noise_sd


class BatchRequest(Strict):
    curves: list[PredictRequest] = Field(min_length=1)


class BatchResponse(BaseModel):
    predictions: list[PredictResponse]


class MCMCOptions(Strict):
    draws: int = Field(default=500, ge=10, description="MCMC: SMC particles per chain (capped by LCPFN_MCMC_MAX_DRAWS)")
    chains: int = Field(default=2, ge=1, le=8, description="MCMC: independent SMC runs")
    time_budget_s: float = Field(default=20.0, gt=0.0, description="MCMC: wall-clock seconds from arrival, queue included")
    families: list[Literal[tuple(FAMILIES)]] | None = Field(
        default=None, min_length=1, description="MCMC: the curve families the model mixes (default: all of the prior's)"
    )
    sources: list[Literal[SCHEDULE_SOURCES]] | None = Field(
        default=None, min_length=1, description="MCMC with a schedule: the schedule-aware laws it mixes (default: all)"
    )


class EarlyStopRequest(Curve, MCMCOptions):
    horizon: Finite = Field(description="the step the run is planned to end at")
    best_so_far: Finite | None = Field(description="best final value of the runs finished so far (null: none yet)")
    threshold: float = Field(default=0.05, gt=0.0, lt=1.0)
    min_points: int = Field(default=5, ge=1)
    method: Literal["pfn", "mcmc"] = Field(
        default="pfn", description="who predicts the final value: the PFN (ms), or the MCMC baseline (s; same rules as /v1/mcmc)"
    )


class EarlyStopResponse(BaseModel):
    stop: bool
    prob_improve: float
    predicted_final: float
    reason: str
    model: str
    diagnostics: dict[str, Any] | None = None  # the MCMC fit's (method "mcmc")


class MCMCRequest(PredictRequest, MCMCOptions):
    pass


class CooldownPlanSpec(Strict):
    """WSD cooldowns to scan: each start x length, on a run of ``total`` steps at constant ``peak`` so far."""

    total: Finite = Field(gt=0)
    peak: Finite = Field(gt=0)
    starts: list[Finite] = Field(min_length=1, max_length=50, description="steps where the cooldown would begin")
    lengths: list[Finite] = Field(min_length=1, max_length=50, description="steps it would last")
    shape: Literal[SHAPES] = "linear"
    final_ratio: Finite = Field(default=0.0, ge=0.0, le=1.0)
    warmup: Finite = Field(default=0.0, ge=0.0)


class WhatIfRequest(Strict):
    x: list[Finite] = Field(min_length=1, description="steps observed so far, strictly increasing")
    y: list[Finite] = Field(min_length=1, description="observed metric values")
    direction: Literal["min", "max"] = "min"
    bounds: Bounds | None = None
    schedules: dict[str, Schedule] | None = Field(
        default=None, min_length=1, max_length=20, description="candidate schedules by name: where does each end, which ends best"
    )
    cooldown: CooldownPlanSpec | None = Field(default=None, description="or: a table of cooldowns to plan")
    x_query: Finite | None = Field(default=None, description="compare the candidates at this step (default: each one's end)")
    horizon: Finite | None = Field(default=None, description="the planned last step (default: each schedule's end)")

    @model_validator(mode="after")
    def _one_question(self):
        if (self.schedules is None) == (self.cooldown is None):
            raise ValueError("give exactly one of schedules (candidates to compare) and cooldown (a plan to scan)")
        return self


class WhatIfResponse(BaseModel):
    model: str
    version: str
    compare: dict[str, Any] | None = None  # candidates (x_query, mean, median, quantiles 0.05/0.5/0.95), prob_best, best
    cooldown: dict[str, Any] | None = None  # starts, lengths, median/low/high per cell (null where it does not fit), best
