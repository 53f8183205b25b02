"""Parametric laws of training curves, each written once against an array namespace.

``xp`` is a module with numpy's names (``numpy``, ``torch``, ``pytensor.tensor``):
the prior sampler calls these with torch, the MCMC model with pytensor, the API and
tests with numpy. Parameters are python numbers or arrays broadcastable against the
output; pairwise sums over the schedule grid add a trailing axis, so per-row
parameters of shape ``(batch, 1)`` are expanded with :func:`_pair`.

Two kinds:

* **Schedule-free families** of Domhan et al. (2015) as used by LC-PFN (2023):
  increasing, accuracy-like curves of the epoch ``t >= 1``, with the parameter
  priors of LC-PFN ("peaked" ones for pow3, ilog2, janoschek).
* **Schedule-aware laws** of loss under a learning-rate schedule, functions of the
  (normalized) time ``u``, the intrinsic time ``s1 = ∫ lr`` at ``u`` and a
  :class:`~priors.schedules.ScheduleGrid` of the whole schedule. Their priors are
  in normalized units (time as a fraction of the run, lr relative to its peak).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

from priors.config import LawConfig
from priors.parameters import Distribution, LogNormal, LogUniform, Normal, OneMinus, Uniform
from priors.schedules import ScheduleGrid, annealing_area, cumulative_trapezoid

# Learning rates are floored here before negative powers (lr decayed to exactly 0).
_LR_FLOOR = 1e-12


def positive_pow(x, p, xp):
    """``x ** p`` for ``x > 0``, as ``exp(p log x)``.

    The prior evaluates these millions of times per batch (the pairwise sums most),
    and torch.compile's CPU ``pow`` of two tensors costs twice an ``exp`` and a ``log``.
    """
    return xp.exp(p * xp.log(x))


def _log(x, xp):
    """``log x`` of an array or a python number (``torch.log`` takes tensors only)."""
    return math.log(x) if isinstance(x, (int, float)) else xp.log(x)


def _scaled_pow(log_c, t, p, xp):
    """``(c t)^p`` for ``c, t > 0`` as ``exp(p (log c + log t))``: a mixture evaluates every family at the same ``t``,
    and the compiled prior computes ``log t`` once for all of them (``log c`` once per curve)."""
    return xp.exp(p * (log_c + xp.log(t)))


# --------------------------------------------------------------------------- schedule-free families


def pow3(t, *, c, a, alpha, xp=np):
    return c - a * positive_pow(t, -alpha, xp)


def ilog2(t, *, c, a, xp=np):
    return c - a / xp.log(t + 1.0)


def janoschek(t, *, a, beta, k, delta, xp=np):
    return a - (a - beta) * xp.exp(-k * positive_pow(t, delta, xp))


def log_power(t, *, a, b, c, xp=np):
    return a / (1.0 + xp.exp(c * (xp.log(t) - b)))  # (t / e^b)^c


def weibull(t, *, alpha, beta, kappa, delta, xp=np):
    return alpha - (alpha - beta) * xp.exp(-_scaled_pow(_log(kappa, xp), t, delta, xp))


def mmf(t, *, alpha, beta, kappa, delta, xp=np):
    """Morgan-Mercer-Flodin."""
    return alpha - (alpha - beta) / (1.0 + _scaled_pow(_log(kappa, xp), t, delta, xp))


def vap(t, *, a, b, c, xp=np):
    """Vapor pressure."""
    return xp.exp(a + b / t + c * xp.log(t))


def loglog_linear(t, *, a, b, xp=np):
    return xp.log(a * xp.log(t) + b)


def exp4(t, *, c, a, b, alpha, xp=np):
    return c - xp.exp(-a * positive_pow(t, alpha, xp) + b)


def pow4(t, *, c, a, b, alpha, xp=np):
    return c - positive_pow(a * t + b, -alpha, xp)


def dr_hill_zero_background(t, *, theta, eta, kappa, xp=np):
    return theta / (_scaled_pow(-_log(kappa, xp), t, -eta, xp) + 1.0)  # (kappa / t)^eta: theta t^eta / (kappa^eta + t^eta)


# --------------------------------------------------------------------------- schedule-aware laws


def _pair(p):
    """A per-row parameter ``(..., 1)`` against pairwise terms ``(..., N, G)``."""
    return p[..., None] if getattr(p, "ndim", 0) else p


# The parameters of :func:`power_term`, which every schedule-aware law shares.
POWER_PARAMS = ("L0", "A", "alpha", "s0", "bend")


def power_term(s1, *, L0, A, alpha, s0, bend=0.0, xp=np):
    """``L0 + A S^-alpha exp(-alpha bend S)`` with ``S = s1 + s0``: the loss a constant peak lr would reach at intrinsic
    time ``s1``.

    ``bend`` 0 is the power law of the published fits. Its local exponent ``-d log(L - L0) / d log S`` is
    ``alpha (1 + bend S)``: a negative bend (down to ``-1 / max S``) flattens it late in the run, which levels off
    sooner than a power law (a small model nearing its capacity), a positive one steepens it. Without it a run's
    progress after 40 % of it is fixed, to within a few hundredths, by its shape from 10 to 40 %
    (``priors.checks.early_shape``), and real runs leave that range.
    """
    S = s1 + s0
    return L0 + A * positive_pow(S, -alpha, xp) * xp.exp(-alpha * bend * S)


def multi_power(u, s1, grid: ScheduleGrid, *, L0, A, alpha, s0, B, C, beta, gamma, bend=0.0, xp=np):
    """Multi-power law (Luo et al. 2025).

    ``L = L0 + A (s1 + s0)^-alpha - B Σ_k drop_k (1 - (C lr_k^-gamma (s1 - s1_k) + 1)^-beta)``:
    a power law in intrinsic time minus a loss drop that each lr decrease
    realizes gradually as intrinsic time passes after it. ``s0`` is the warmup
    area when ``s1`` excludes warmup.

    A grid cell's decrease counts from the middle of the cell (in intrinsic time), at
    the lr there: counted from the cell's end at its final lr, a 20 % cooldown on the
    prior's 32-cell grid realized 13-16 % less than the law does (its last cell's drop
    not at all), and the PFN learned too shallow cooldowns; from the middle it is
    within 8 % of a 1,024-cell grid for linear, cosine and 1-sqrt decays.
    """
    lr_mid = grid.lr + 0.5 * grid.drop
    s1_mid = grid.s1 - 0.5 * grid.width * lr_mid  # (s1 at the cell's start + at its end) / 2 where the lr falls
    elapsed = xp.clip(s1[..., :, None] - s1_mid[..., None, :], 0.0, math.inf)  # (..., N, G)
    lr = xp.clip(lr_mid, _LR_FLOOR, math.inf)[..., None, :]
    rate = _pair(C) * positive_pow(lr, -_pair(gamma), xp)
    realized = 1.0 - positive_pow(rate * elapsed + 1.0, -_pair(beta), xp)
    drop = xp.sum(grid.drop[..., None, :] * realized, axis=-1)
    return power_term(s1, L0=L0, A=A, alpha=alpha, s0=s0, bend=bend, xp=xp) - B * drop


def lr_annealing(u, s1, grid: ScheduleGrid, *, L0, A, alpha, s0, C, decay_time, bend=0.0, xp=np):
    """LR-annealing scaling law (Tissue et al. 2024): ``L0 + A (s1 + s0)^-alpha - C S2`` (its power term bent by ``bend``).

    ``S2`` is the momentum-smoothed annealing area (:func:`~priors.schedules.annealing_area`)
    with momentum time constant ``decay_time`` in the units of ``u``.
    """
    return power_term(s1, L0=L0, A=A, alpha=alpha, s0=s0, bend=bend, xp=xp) - C * annealing_area(u, grid, decay_time, xp=xp)


def intrinsic_time(u, s1, grid: ScheduleGrid, *, L0, A, alpha, s0, noise, rho, bend=0.0, xp=np):
    """Power law in intrinsic time plus an SGD-noise term, after functional scaling laws.

    ``L = L0 + A (s1 + s0)^-alpha + N ∫ lr(s)² K(s1 - s1(s)) ds`` with the power-law
    kernel ``K(e) = (e + s0)^-rho`` and ``N = noise (rho - 1) s0^(rho - 1)``, so that
    under a constant lr the noise term settles at ``noise * lr``: lowering the lr
    (annealing) removes it, at a pace set by the intrinsic time that passes. Each
    grid cell is integrated exactly for the lr it ends with.
    """
    before = 1.0 * (grid.u[..., None, :] <= u[..., :, None])  # (..., N, G)
    elapsed = xp.clip(s1[..., :, None] - grid.s1[..., None, :], 0.0, math.inf) + _pair(s0)
    lr = grid.lr[..., None, :]
    cell = lr * grid.width[..., None, :]  # intrinsic time the cell spans
    exponent = 1.0 - _pair(rho)
    kernel_area = (positive_pow(elapsed, exponent, xp) - positive_pow(elapsed + cell, exponent, xp)) / (_pair(rho) - 1.0)
    noise_term = noise * (rho - 1.0) * s0 ** (rho - 1.0) * xp.sum(before * lr * kernel_area, axis=-1)
    return power_term(s1, L0=L0, A=A, alpha=alpha, s0=s0, bend=bend, xp=xp) + noise_term


def early_transient(s1, size, time, xp=np):
    """``size * exp(-s1 / time)``: the fast fall of a loss from its value at initialization (a language model starts
    near the log of its vocabulary size) before the power law takes over, in intrinsic time."""
    return size * xp.exp(-s1 / time)


# --------------------------------------------------------------------------- registry


@dataclass(frozen=True)
class Law:
    """A law with the prior over its parameters.

    ``priors`` are what the prior draws; ``derive`` (if set) turns those draws into
    the law's own parameters, so that a quantity real runs pin down (a cooldown's
    gain relative to the progress training makes) can carry the prior while the
    law keeps its published form.
    """

    name: str
    fn: Callable
    priors: Mapping[str, Distribution] = field(default_factory=dict)
    schedule_aware: bool = False
    derive: Callable | None = None

    def __call__(self, *args, xp=np, **params):
        return self.fn(*args, xp=xp, **params)

    def law_params(self, drawn: Mapping, xp=np) -> dict:
        """The law's parameters from a draw of ``priors`` (numpy, torch or pytensor values)."""
        return dict(drawn) if self.derive is None else self.derive(dict(drawn), xp)


# LC-PFN's own prior mixes these three.
LCPFN_FAMILIES = ("pow3", "ilog2", "janoschek")

FAMILIES: dict[str, Law] = {
    law.name: law
    for law in [
        # The three LC-PFN paper families with its "peaked" priors.
        Law("pow3", pow3, {"c": Uniform(0.0, 1.25), "a": Uniform(-0.6, 0.6), "alpha": LogNormal(0.0, 2.0)}),
        Law("ilog2", ilog2, {"c": Uniform(0.0, 1.0), "a": Uniform(-0.5, 0.5)}),
        Law(
            "janoschek",
            janoschek,
            {"a": Uniform(0.0, 1.0), "beta": Uniform(0.0, 2.0), "k": LogNormal(-2.0, 1.0), "delta": LogNormal(0.0, 0.5)},
        ),
        # The other Domhan et al. families with LC-PFN's priors.
        Law("log_power", log_power, {"a": Normal(0.8, 0.1), "b": Normal(1.0, 1.0), "c": Uniform(-3.0, 0.0)}),
        Law(
            "weibull",
            weibull,
            {"alpha": Uniform(0.0, 1.5), "beta": Uniform(0.0, 1.0), "kappa": LogNormal(-2.0, 1.0), "delta": LogNormal(0.0, 0.5)},
        ),
        Law(
            "mmf",
            mmf,
            {"alpha": Normal(0.8, 0.1), "beta": Normal(0.2, 0.1), "kappa": LogNormal(0.0, 2.0), "delta": LogNormal(0.0, 1.0)},
        ),
        Law("vap", vap, {"a": Uniform(-2.0, 0.0), "b": Uniform(-4.0, 0.0), "c": LogUniform(math.exp(-8.0), 1.0)}),
        Law("loglog_linear", loglog_linear, {"a": LogNormal(-2.0, 1.0), "b": LogUniform(1.0, math.e)}),
        Law(
            "exp4",
            exp4,
            {"c": Normal(0.8, 0.1), "a": LogNormal(-2.0, 1.0), "b": LogNormal(0.0, 0.5), "alpha": LogNormal(0.0, 1.0)},
        ),
        Law(
            "pow4",
            pow4,
            {
                "c": OneMinus(LogUniform(math.exp(-5.0), 1.0)),
                "a": LogNormal(-3.0, 2.0),
                "b": LogUniform(1.0, math.e),
                "alpha": LogNormal(0.0, 1.0),
            },
        ),
        Law(
            "dr_hill_zero_background",
            dr_hill_zero_background,
            {"theta": Normal(0.8, 0.1), "eta": LogNormal(1.0, 1.0), "kappa": LogNormal(1.0, 2.0)},
        ),
    ]
}


def family_weights(pick_u, include_u, weight_u, inclusion: float, xp=np):
    """Mixture weights ``(k, F)`` of the families from uniforms: the family ``floor(pick_u F)`` always
    joins, each other with probability ``inclusion``; weights ``weight_u`` ``(k, F)`` renormalized."""
    f = include_u.shape[-1]
    index = xp.cumsum(0.0 * include_u + 1.0, axis=-1) - 1.0  # 0 .. F-1, built from the input (any device)
    pick = xp.clip(xp.floor(pick_u * f), 0.0, f - 1.0)
    include = (include_u < inclusion) | (xp.abs(index - pick) < 0.5)  # ==: not elementwise in pytensor
    w = xp.where(include, weight_u, 0.0)
    return w / xp.clip(w.sum(-1, keepdims=True), 1e-12, math.inf)


def family_mixture(t, w, params: list[dict], names: tuple[str, ...], xp=np):
    """``Σ_f w_f f(t)`` ``(k, m)`` over the families ``names`` with weight ``w[:, f] > 0``, ``params[f]`` each.

    Every family is evaluated on every row: cheaper than gathering each family's
    rows, and a family a row leaves out (whose values may not even be finite
    there) adds an exact zero.
    """
    y = 0.0 * t
    for j, (name, p) in enumerate(zip(names, params)):
        wj = w[:, j : j + 1]
        y = y + xp.where(wj > 0, wj * FAMILIES[name].fn(t, xp=xp, **p), 0.0)
    return y


def is_family_curve(y, xp=np):
    """``(k,)``: rows ``(k, m)`` in time order that the prior keeps for an accuracy-like curve: finite, in [0, 1], improving."""
    inside = (y >= 0.0) & (y <= 1.0)  # false for NaN and infinities too
    return xp.all(inside, axis=-1) & (y[:, -1] > y[:, 0])


def is_loss_curve(y, xp=np):
    """``(k,)``: rows ``(k, m)`` in time order that the prior keeps for a loss curve: finite, positive, decreasing."""
    return xp.all((y > 0.0) & (y < math.inf), axis=-1) & (y[:, -1] < y[:, 0])  # comparisons fail for NaN


def last_doubling(*, A, alpha, s0, bend=0.0, xp=np):
    """What the second half of a constant-lr run gains: ``power_term(1/2) - power_term(1)`` in normalized units."""
    power = {"L0": 0.0, "A": A, "alpha": alpha, "s0": s0, "bend": bend}
    return power_term(0.5, **power, xp=xp) - power_term(1.0, **power, xp=xp)


def _with_gain(name: str, scale: Callable):
    """``derive`` for a law whose cooldown amplitude ``name`` is drawn as ``gain``: the loss a full
    decay of the lr removes, in units of :func:`last_doubling` (``scale`` turns it into the parameter)."""

    def derive(p: dict, xp) -> dict:
        gain = p.pop("gain") * last_doubling(A=p["A"], alpha=p["alpha"], s0=p["s0"], bend=p["bend"], xp=xp)
        return {**p, name: scale(gain, p)}

    return derive


def schedule_law_priors(name: str, cfg: LawConfig) -> dict[str, Distribution]:
    """The prior over the parameters a schedule-aware law draws (see :class:`~priors.config.LawConfig`), in the
    order the sampler reads its uniforms."""
    power = {
        "L0": LogUniform(*cfg.L0),
        "A": LogUniform(*cfg.A),
        "alpha": Uniform(*cfg.alpha),
        "s0": LogUniform(*cfg.s0),
        "bend": Uniform(*cfg.bend),
    }
    tied = LogNormal(*cfg.tied_gain)
    if name == "multi_power":
        # The law's C is drawn per step (at_horizon scales it); replacing the key keeps its place in the uniforms' order.
        return {**power, "gain": tied, **progress_drop_priors(cfg), "C": LogUniform(*cfg.multi_power_C_per_step)}
    if name == "lr_annealing":
        return {**power, "gain": tied, "decay_time": LogUniform(*cfg.annealing_decay_time)}
    if name == "intrinsic_time":
        return {**power, "gain": LogUniform(*cfg.noise_gain), "rho": Uniform(*cfg.noise_rho)}
    raise KeyError(f"{name!r} is not a schedule-aware law; they are {list(SCHEDULE_LAWS)}")


def at_horizon(name: str, drawn: dict, steps, cfg: LawConfig, xp=np) -> dict:
    """Parameters ``drawn`` from :func:`schedule_law_priors` for a run of ``steps`` steps (a number or an array
    broadcastable against them): the gain (each law's: the tied cooldown gain, the intrinsic-time law's noise floor)
    grows with the run's length and the multi-power law's C is drawn per step (:class:`~priors.config.LawConfig`).
    The other parameters are in units of the run already.

    >>> p = {"gain": 1.0, "C": 0.1}
    >>> {k: round(float(v), 3) for k, v in at_horizon("multi_power", p, 24000.0, LawConfig()).items()}
    {'gain': 1.712, 'C': 2400.0}
    """
    low, high = cfg.gain_steps_clip
    ratio = xp.clip(steps, low, high) / cfg.reference_steps
    out = {**drawn, "gain": drawn["gain"] * positive_pow(ratio, cfg.gain_steps_power, xp)}
    if name == "multi_power":
        out["C"] = drawn["C"] * steps
    return out


def progress_drop_priors(cfg: LawConfig) -> dict[str, Distribution]:
    """How the multi-power law realizes a loss drop after an lr decrease (``C``, ``beta``, ``gamma``); the
    ``progress`` source realizes its jumps at lr drops the same way."""
    return {"C": LogUniform(*cfg.multi_power_C), "beta": Uniform(*cfg.multi_power_beta), "gamma": Uniform(*cfg.multi_power_gamma)}


def progress_jump(u, steps, share: tuple[float, float], steps_clip: tuple[float, float], power: float, xp=np):
    """The ``progress`` source's jump at a full lr decay, as a share of the curve's gain, from ``u`` uniform in (0, 1):
    log-uniform over ``share`` in runs of up to ``steps_clip[0]`` steps, its low end growing as
    ``(steps / steps_clip[0]) ** power`` with the steps clipped to ``steps_clip`` (:class:`~priors.config.PriorConfig`).
    The low end stops growing where it meets the high end, so the range never inverts: a card of prior v2.14-v2.16
    (``share`` (0.005, 0.5), no growth fields) rebuilt with v2.17's growth meets it at 5,000 steps.

    >>> [round(float(progress_jump(0.0, s, (1e-4, 0.5), (50.0, 1e4), 1.0)), 5) for s in (20.0, 50.0, 800.0, 1e6)]
    [0.0001, 0.0001, 0.0016, 0.02]
    >>> round(float(progress_jump(1.0, 1e6, (1e-4, 0.5), (50.0, 1e4), 1.0)), 3)
    0.5
    >>> [round(float(progress_jump(u, 1e4, (0.005, 0.5), (50.0, 1e4), 1.0)), 3) for u in (0.0, 1.0)]
    [0.5, 0.5]
    """
    low, high = share
    log_meets_high = math.log(steps_clip[0]) + math.log(high / low) / power if power > 0 else math.inf
    top = math.exp(min(math.log(steps_clip[1]), log_meets_high))
    ratio = xp.clip(steps, steps_clip[0], top) / steps_clip[0]
    log_low = math.log(low) + power * xp.log(ratio)
    return xp.exp(log_low + (math.log(high) - log_low) * u)


def progress_clock(grid: ScheduleGrid, power, xp=np):
    """``∫ lr^power du`` at the grid's points ``(..., G + 1)``: the clock the ``progress`` source runs the families on
    (``power`` 1 is the intrinsic time ``grid.s1``, 0 the step), by the trapezoids ``grid.s1`` is made of.
    ``power`` ``(..., 1)`` may add rows to a grid of one schedule ``(1, G + 1)``.

    >>> from priors.schedules import schedule_grid
    >>> grid = schedule_grid(np.linspace(0.0, 1.0, 5), np.array([1.0, 1.0, 0.25, 0.25, 0.25]))
    >>> progress_clock(grid, 0.5).round(3).tolist()
    [0.0, 0.25, 0.438, 0.562, 0.688]
    """
    lr = positive_pow(xp.clip(grid.lr, _LR_FLOOR, math.inf), power, xp)
    return cumulative_trapezoid(lr, grid.width[..., 1:], xp=xp)


def schedule_laws(cfg: LawConfig) -> dict[str, Law]:
    """The schedule-aware laws with the parameter priors of ``cfg``."""
    return {
        name: Law(name, fn, schedule_law_priors(name, cfg), schedule_aware=True, derive=derive)
        for name, fn, derive in (
            ("multi_power", multi_power, _with_gain("B", lambda gain, p: gain)),
            # A full decay realizes S2 -> decay_time, so C = gain / decay_time.
            ("lr_annealing", lr_annealing, _with_gain("C", lambda gain, p: gain / p["decay_time"])),
            ("intrinsic_time", intrinsic_time, _with_gain("noise", lambda gain, p: gain)),
        )
    }


# With the default priors; the prior's own are ``schedule_laws(PriorConfig.laws)`` (the model card's may differ).
SCHEDULE_LAWS: dict[str, Law] = schedule_laws(LawConfig())

LAWS: dict[str, Law] = {**FAMILIES, **SCHEDULE_LAWS}
