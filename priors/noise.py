"""What happens between a clean law and the values a training run logs.

Pathologies of real runs as time warps and additive events on the clean curve
(slow starts, plateaus, loss spikes, divergence, overfitting), then observation noise
(Gaussian with random scale, heteroscedastic in time, occasional outliers).

Each effect is a pair: a small dataclass of tensors holds everything random (built
by ``draw_noise`` from the generator, by ``*_from_uniform`` from given uniforms), and
a pure function applies it. The split lets the sampler fuse the arithmetic with
``torch.compile`` while the random draws stay on the caller's generator (and so
stay deterministic).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from priors.config import NoiseConfig
from priors.laws import positive_pow
from priors.parameters import LogUniform, Normal, Uniform


def _rand(g, b, n=1):
    return torch.rand(b, n, generator=g, device=g.device)


# --------------------------------------------------------------------------- time warps


@dataclass(frozen=True)
class Warp:
    """Per-curve ``(b, 1)`` slow start and plateau; zero delay/length where a curve has none."""

    delay: torch.Tensor
    creep: torch.Tensor
    start: torch.Tensor
    length: torch.Tensor
    creep_shape: torch.Tensor
    quiet: torch.Tensor


WARP_UNIFORMS = 8  # columns of ``u`` that :func:`warp_from_uniform` reads


def warp_from_uniform(u: torch.Tensor, cfg: NoiseConfig, law: bool = False) -> Warp:
    """A slow start runs the curve at ``slow_start_creep`` of its speed for the first ``slow_start_delay`` of the run;
    a plateau freezes progress over an interval of ``plateau_length`` of it, from ``plateau_start``. ``law``: a
    schedule-aware law's curve, which takes the rarer ``p_*_law`` rates."""
    has_delay, delay, creep, start, has_plateau, length, shape, quiet = u.split(1, dim=1)
    p_slow_start, p_plateau = (cfg.p_slow_start_law, cfg.p_plateau_law) if law else (cfg.p_slow_start, cfg.p_plateau)
    return Warp(
        delay=torch.where(has_delay < p_slow_start, Uniform(*cfg.slow_start_delay).from_uniform(delay), 0.0),
        creep=LogUniform(*cfg.slow_start_creep).from_uniform(creep),
        start=Uniform(*cfg.plateau_start).from_uniform(start),
        length=torch.where(has_plateau < p_plateau, Uniform(*cfg.plateau_length).from_uniform(length), 0.0),
        creep_shape=Uniform(*cfg.slow_start_shape).from_uniform(shape),
        quiet=LogUniform(*cfg.slow_start_quiet).from_uniform(quiet),
    )


def noise_gain(u: torch.Tensor, w: Warp) -> torch.Tensor:
    """``(k, n)``: the observation noise's factor at times ``u``, ``quiet`` during a slow start, 1 elsewhere."""
    return torch.where(u < w.delay, w.quiet, 1.0)


def creep_path(u: torch.Tensor, y: torch.Tensor, w: Warp) -> torch.Tensor:
    """Values ``(k, n)`` of a curve ``y`` at times ``u`` whose slow start goes from its first value to where the creep
    leaves it (the first point past the delay) as ``progress ** creep_shape``: steadily or faster and faster, as a
    network escaping its initial plateau does, rather than held, then bent as the curve's own start is."""
    in_delay = u < w.delay
    end = in_delay.sum(1, keepdim=True).clamp(max=u.shape[1] - 1)
    u_end, y_end = torch.gather(u, 1, end), torch.gather(y, 1, end)
    progress = ((u - u[:, :1]) / (u_end - u[:, :1]).clamp(min=1e-9)).clamp(0.0, 1.0)
    path = y[:, :1] + (y_end - y[:, :1]) * positive_pow(progress.clamp(min=1e-30), w.creep_shape, torch)
    return torch.where(in_delay, path, y)


def warp_time(u: torch.Tensor, w: Warp) -> torch.Tensor:
    """Warped normalized time on which the law is evaluated; both pathologies shift the
    rest of the curve later, as a stalled run does."""
    frozen = (u - w.start).clamp(0.0) - (u - w.start - w.length).clamp(0.0)
    running = u - frozen
    crept = w.creep * torch.minimum(running, w.delay)
    warped = (running - w.delay).clamp(min=0.0) + crept
    # Keep the first logged point's value: laws are evaluated at warped time >= u[:, :1].
    return torch.maximum(warped, u[:, :1])


# --------------------------------------------------------------------------- additive events


@dataclass(frozen=True)
class Events:
    """Per-curve ``(b, 1)`` loss spike, divergence and overfitting; sizes relative to the curve's range."""

    has_spike: torch.Tensor  # bool
    at: torch.Tensor
    height: torch.Tensor
    recovery: torch.Tensor
    diverges: torch.Tensor  # bool
    onset: torch.Tensor
    rate: torch.Tensor
    size: torch.Tensor
    overfits: torch.Tensor  # bool
    overfit_onset: torch.Tensor
    overfit_size: torch.Tensor
    overfit_power: torch.Tensor


EVENTS_UNIFORMS = 12  # columns of ``u`` that :func:`events_from_uniform` reads


def events_from_uniform(u: torch.Tensor, cfg: NoiseConfig, loss: torch.Tensor | bool, law: bool = False) -> Events:
    """Events from uniforms ``(k, EVENTS_UNIFORMS)``; a curve overfits by ``cfg.overfit_size_loss`` where ``loss``
    (``(k, 1)`` or one bool for all) and ``cfg.overfit_size`` elsewhere. ``law``: a schedule-aware law's curve, which
    diverges and overfits at the rarer ``p_*_law`` rates."""
    has_spike, at, height, recovery, diverges, onset, rate, size, overfits, ov_onset, ov_size, ov_power = u.split(1, dim=1)
    p_divergence, p_overfit = (cfg.p_divergence_law, cfg.p_overfit_law) if law else (cfg.p_divergence, cfg.p_overfit)
    return Events(
        has_spike=has_spike < cfg.p_spike,
        at=0.1 + 0.8 * at,
        height=0.1 + 0.9 * height,
        recovery=0.005 + 0.1 * recovery,
        diverges=diverges < p_divergence,
        onset=0.3 + 0.65 * onset,
        rate=5.0 + 45.0 * rate,
        size=0.5 + size,
        overfits=overfits < p_overfit,
        overfit_onset=LogUniform(*cfg.overfit_onset).from_uniform(ov_onset),
        overfit_size=torch.where(
            torch.as_tensor(loss, device=u.device),
            LogUniform(*cfg.overfit_size_loss).from_uniform(ov_size),
            LogUniform(*cfg.overfit_size).from_uniform(ov_size),
        ),
        overfit_power=LogUniform(*cfg.overfit_power).from_uniform(ov_power),
    )


def add_events(u: torch.Tensor, y: torch.Tensor, worse: float, e: Events) -> torch.Tensor:
    """Loss spikes (a jump that decays back), divergence (a run that falls apart) and
    overfitting (a worsening that grows as a power of the time since its onset).

    ``worse`` is +1 where larger values are worse (losses), -1 otherwise.
    """
    span = (y.amax(1, keepdim=True) - y.amin(1, keepdim=True)).clamp(min=1e-12)
    after = (u - e.at).clamp(min=0.0)
    spike = torch.where(e.has_spike & (u >= e.at), span * e.height * torch.exp(-after / e.recovery), 0.0)
    grown = span * e.size * (1.0 - torch.exp(-e.rate * (u - e.onset).clamp(min=0.0)))
    divergence = torch.where(e.diverges, grown, 0.0)
    since = (u - e.overfit_onset).clamp(min=0.0) / (1.0 - e.overfit_onset)
    overfit = torch.where(e.overfits, span * e.overfit_size * since**e.overfit_power, 0.0)
    return y + worse * (spike + divergence + overfit)


# --------------------------------------------------------------------------- observation noise


@dataclass(frozen=True)
class Noise:
    """Observation noise of ``b`` curves of ``n`` points."""

    log_sigma: torch.Tensor  # (b, 1) log std relative to the range
    slope: torch.Tensor  # (b, 1) heteroscedastic: log std changes by this over the run
    z: torch.Tensor  # (b, n) standard normal
    outlier: torch.Tensor  # (b, n) U(0, 1) where a point is an outlier, else NaN


def draw_noise(g: torch.Generator, b: int, n: int, cfg: NoiseConfig) -> Noise:
    sigma, has_slope, slope, has_outliers = _rand(g, b, 4).split(1, dim=1)
    log_sigma = Normal(cfg.log_sigma_loc, cfg.log_sigma_scale).from_uniform(sigma)
    # Heteroscedastic: std grows or shrinks by up to e^±2 over the run.
    slope = torch.where(has_slope < cfg.p_heteroscedastic, 4.0 * slope - 2.0, 0.0)
    z = torch.randn(b, n, generator=g, device=g.device)
    # Only the few curves with outliers draw per-point uniforms.
    rows = (has_outliers[:, 0] < cfg.p_outliers).nonzero().squeeze(1)
    outlier = torch.full((b, n), float("nan"), device=g.device)
    v, hit = _rand(g, len(rows), 2 * n).split(n, dim=1)
    outlier[rows] = torch.where(hit < cfg.outlier_rate, v, float("nan"))
    return Noise(log_sigma, slope, z, outlier)


def add_noise(u: torch.Tensor, y: torch.Tensor, noise: Noise) -> torch.Tensor:
    """Noisy observations of clean values ``y`` at normalized times ``u``."""
    span = (y.amax(1, keepdim=True) - y.amin(1, keepdim=True)).clamp(min=1e-12)
    sigma = span * torch.exp(noise.log_sigma + noise.slope * (u - 0.5))
    # One uniform v gives an outlier's size and sign: |2v - 1| is uniform and
    # independent of v < 0.5, so the size is U(0.1, 1.1) and the sign a fair coin.
    v = noise.outlier
    jump = torch.where(torch.isnan(v), 0.0, span * (0.1 + (2.0 * v - 1.0).abs()) * torch.where(v < 0.5, -1.0, 1.0))
    return y + sigma * noise.z + jump
