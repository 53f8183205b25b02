"""What happens between a clean law and the values a training run logs.

Pathologies of real runs as time warps and additive events on the clean curve
(slow starts, plateaus, loss spikes, divergence), then observation noise
(Gaussian with random scale, heteroscedastic in time, occasional outliers).

Each effect is a pair: ``draw_*`` takes everything random from the generator into
a small dataclass of tensors, and a pure function applies it. The split lets the
sampler fuse the arithmetic with ``torch.compile`` while the random draws stay on
the caller's generator (and so stay deterministic).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class NoiseConfig:
    """Probabilities and scales of noise and pathologies (per curve unless noted)."""

    log_sigma_loc: float = -4.0  # noise std relative to the curve's range, log-normal
    log_sigma_scale: float = 1.0
    p_heteroscedastic: float = 0.3
    p_outliers: float = 0.1
    outlier_rate: float = 0.03  # per point, on curves that have outliers
    p_slow_start: float = 0.1
    p_plateau: float = 0.08
    p_spike: float = 0.08
    p_divergence: float = 0.04


def _rand(g, b, n=1):
    return torch.rand(b, n, generator=g, device=g.device)


# --------------------------------------------------------------------------- time warps


@dataclass(frozen=True)
class Warp:
    """Per-curve ``(b, 1)`` slow start and plateau; zero delay/length where a curve has none."""

    delay: torch.Tensor
    start: torch.Tensor
    length: torch.Tensor


def draw_warp(g: torch.Generator, b: int, cfg: NoiseConfig) -> Warp:
    """A slow start holds the curve at its initial value for the first 5-30 % of the run;
    a plateau freezes progress over an interval of 5-25 % of it."""
    delay = torch.where(_rand(g, b) < cfg.p_slow_start, 0.05 + 0.25 * _rand(g, b), 0.0)
    start = 0.1 + 0.6 * _rand(g, b)
    length = torch.where(_rand(g, b) < cfg.p_plateau, 0.05 + 0.2 * _rand(g, b), 0.0)
    return Warp(delay, start, length)


def warp_time(u: torch.Tensor, w: Warp) -> torch.Tensor:
    """Warped normalized time on which the law is evaluated; both pathologies shift the
    rest of the curve later, as a stalled run does."""
    frozen = (u - w.start).clamp(0.0) - (u - w.start - w.length).clamp(0.0)
    warped = (u - frozen - w.delay).clamp(min=0.0)
    # Keep the first logged point's value: laws are evaluated at warped time >= u[:, :1].
    return torch.maximum(warped, u[:, :1])


# --------------------------------------------------------------------------- additive events


@dataclass(frozen=True)
class Events:
    """Per-curve ``(b, 1)`` loss spike and divergence; sizes relative to the curve's range."""

    has_spike: torch.Tensor  # bool
    at: torch.Tensor
    height: torch.Tensor
    recovery: torch.Tensor
    diverges: torch.Tensor  # bool
    onset: torch.Tensor
    rate: torch.Tensor
    size: torch.Tensor


def draw_events(g: torch.Generator, b: int, cfg: NoiseConfig) -> Events:
    return Events(
        has_spike=_rand(g, b) < cfg.p_spike,
        at=0.1 + 0.8 * _rand(g, b),
        height=0.1 + 0.9 * _rand(g, b),
        recovery=0.005 + 0.1 * _rand(g, b),
        diverges=_rand(g, b) < cfg.p_divergence,
        onset=0.3 + 0.65 * _rand(g, b),
        rate=5.0 + 45.0 * _rand(g, b),
        size=0.5 + _rand(g, b),
    )


def add_events(u: torch.Tensor, y: torch.Tensor, worse: float, e: Events) -> torch.Tensor:
    """Loss spikes (a jump that decays back) and divergence (a run that falls apart).

    ``worse`` is +1 where larger values are worse (losses), -1 otherwise.
    """
    span = (y.amax(1, keepdim=True) - y.amin(1, keepdim=True)).clamp(min=1e-12)
    after = (u - e.at).clamp(min=0.0)
    spike = torch.where(e.has_spike & (u >= e.at), span * e.height * torch.exp(-after / e.recovery), 0.0)
    grown = span * e.size * (1.0 - torch.exp(-e.rate * (u - e.onset).clamp(min=0.0)))
    divergence = torch.where(e.diverges, grown, 0.0)
    return y + worse * (spike + divergence)


# --------------------------------------------------------------------------- observation noise


@dataclass(frozen=True)
class Noise:
    """Observation noise of ``b`` curves of ``n`` points."""

    log_sigma: torch.Tensor  # (b, 1) log std relative to the range
    slope: torch.Tensor  # (b, 1) heteroscedastic: log std changes by this over the run
    z: torch.Tensor  # (b, n) standard normal
    outlier: torch.Tensor  # (b, n) U(0, 1) where a point is an outlier, else NaN


def draw_noise(g: torch.Generator, b: int, n: int, cfg: NoiseConfig) -> Noise:
    log_sigma = cfg.log_sigma_loc + cfg.log_sigma_scale * torch.randn(b, 1, generator=g, device=g.device)
    # Heteroscedastic: std grows or shrinks by up to e^±2 over the run.
    slope = torch.where(_rand(g, b) < cfg.p_heteroscedastic, 4.0 * _rand(g, b) - 2.0, 0.0)
    z = torch.randn(b, n, generator=g, device=g.device)
    # Only the few curves with outliers draw per-point uniforms.
    rows = (_rand(g, b)[:, 0] < cfg.p_outliers).nonzero().squeeze(1)
    outlier = torch.full((b, n), float("nan"), device=g.device)
    v = _rand(g, len(rows), n)
    outlier[rows] = torch.where(_rand(g, len(rows), n) < cfg.outlier_rate, v, float("nan"))
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


def lognormal_sigma(g: torch.Generator, b: int, loc: float, scale: float) -> torch.Tensor:
    """``exp(Normal(loc, scale))`` of shape ``(b, 1)``: LC-PFN's absolute noise prior."""
    return torch.exp(loc + scale * torch.randn(b, 1, generator=g, device=g.device))
