"""What happens between a clean law and the values a training run logs.

Pathologies of real runs as time warps and additive events on the clean curve
(slow starts, plateaus, loss spikes, divergence), then observation noise
(Gaussian with random scale, heteroscedastic in time, occasional outliers).
All functions work on ``(batch, n_points)`` torch tensors of one batch and draw
only from the generator they are given.
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


def time_warp(g: torch.Generator, u: torch.Tensor, cfg: NoiseConfig) -> torch.Tensor:
    """Warped normalized time on which the law is evaluated: slow starts and plateaus.

    A slow start holds the curve at its initial value for the first 5-30 % of the
    run; a plateau freezes progress over an interval of 5-25 % of it. Both shift the
    rest of the curve later, as a stalled run does.
    """
    b = u.shape[0]
    delay = torch.where(_rand(g, b) < cfg.p_slow_start, 0.05 + 0.25 * _rand(g, b), 0.0)
    start = 0.1 + 0.6 * _rand(g, b)
    length = torch.where(_rand(g, b) < cfg.p_plateau, 0.05 + 0.2 * _rand(g, b), 0.0)
    frozen = (u - start).clamp(0.0) - (u - start - length).clamp(0.0)
    warped = (u - frozen - delay).clamp(min=0.0)
    # Keep the first logged point's value: laws are evaluated at warped time >= u[:, :1].
    return torch.maximum(warped, u[:, :1])


def events(g: torch.Generator, u: torch.Tensor, y: torch.Tensor, worse: torch.Tensor, cfg: NoiseConfig) -> torch.Tensor:
    """Loss spikes (a jump that decays back) and divergence (a run that falls apart).

    ``worse`` is +1 where larger values are worse (losses), -1 otherwise; event sizes
    are relative to the curve's range.
    """
    b = u.shape[0]
    span = (y.amax(1, keepdim=True) - y.amin(1, keepdim=True)).clamp(min=1e-12)

    has_spike = _rand(g, b) < cfg.p_spike
    at = 0.1 + 0.8 * _rand(g, b)
    height = span * (0.1 + 0.9 * _rand(g, b))
    recovery = 0.005 + 0.1 * _rand(g, b)
    after = (u - at).clamp(min=0.0)
    spike = torch.where(has_spike & (u >= at), height * torch.exp(-after / recovery), 0.0)

    diverges = _rand(g, b) < cfg.p_divergence
    onset = 0.3 + 0.65 * _rand(g, b)
    rate = 5.0 + 45.0 * _rand(g, b)
    grown = span * (0.5 + _rand(g, b)) * (1.0 - torch.exp(-rate * (u - onset).clamp(min=0.0)))
    divergence = torch.where(diverges, grown, 0.0)
    return y + worse * (spike + divergence)


def observe(g: torch.Generator, u: torch.Tensor, y: torch.Tensor, cfg: NoiseConfig) -> torch.Tensor:
    """Noisy observations of clean values ``y`` at normalized times ``u``."""
    b, n = y.shape
    span = (y.amax(1, keepdim=True) - y.amin(1, keepdim=True)).clamp(min=1e-12)
    sigma = span * torch.exp(cfg.log_sigma_loc + cfg.log_sigma_scale * torch.randn(b, 1, generator=g, device=g.device))
    # Heteroscedastic: std grows or shrinks by up to e^±2 over the run.
    slope = torch.where(_rand(g, b) < cfg.p_heteroscedastic, 4.0 * _rand(g, b) - 2.0, 0.0)
    sigma = sigma * torch.exp(slope * (u - 0.5))
    noisy = y + sigma * torch.randn(b, n, generator=g, device=g.device)

    is_outlier = (_rand(g, b) < cfg.p_outliers) & (_rand(g, b, n) < cfg.outlier_rate)
    jump = span * (0.1 + _rand(g, b, n)) * torch.sign(torch.randn(b, n, generator=g, device=g.device))
    return torch.where(is_outlier, noisy + jump, noisy)


def lognormal_sigma(g: torch.Generator, b: int, loc: float, scale: float) -> torch.Tensor:
    """``exp(Normal(loc, scale))`` of shape ``(b, 1)``: LC-PFN's absolute noise prior."""
    return torch.exp(loc + scale * torch.randn(b, 1, generator=g, device=g.device))

