"""Prior distributions of law parameters.

Each is a frozen dataclass that turns uniforms into draws (:meth:`from_uniform`, the
inverse CDF, so the prior sampler can take all of a curve's randomness from one
uniform matrix and transform it inside a fused function) and names its family and
arguments so the MCMC model can build the same distribution in PyMC.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass


def _standard_normal(u):
    import torch

    # torch.rand's uniforms lie in [0, 1 - 2^-24]; 0 would map to -inf.
    return torch.special.ndtri(u.clamp(min=2.0**-25))


@dataclass(frozen=True)
class _Distribution:
    def sample(self, generator, n: int, device=None):
        """``n`` independent draws from a torch generator."""
        import torch

        return self.from_uniform(torch.rand(n, generator=generator, device=device))


@dataclass(frozen=True)
class Uniform(_Distribution):
    low: float
    high: float

    def from_uniform(self, u):
        return self.low + (self.high - self.low) * u


@dataclass(frozen=True)
class Normal(_Distribution):
    loc: float
    scale: float

    def from_uniform(self, u):
        return self.loc + self.scale * _standard_normal(u)


@dataclass(frozen=True)
class LogNormal(_Distribution):
    """``exp(Normal(loc, scale))``."""

    loc: float
    scale: float

    def from_uniform(self, u):
        return (self.loc + self.scale * _standard_normal(u)).exp()


@dataclass(frozen=True)
class LogUniform(_Distribution):
    """``exp(Uniform(log low, log high))``."""

    low: float
    high: float

    def from_uniform(self, u):
        lo, hi = math.log(self.low), math.log(self.high)
        return (lo + (hi - lo) * u).exp()


@dataclass(frozen=True)
class OneMinus(_Distribution):
    """``1 - X`` for another distribution ``X`` (e.g. pow4's ``c = 1 - exp(U(-5, 0))``)."""

    base: Uniform | Normal | LogNormal | LogUniform

    def from_uniform(self, u):
        return 1.0 - self.base.from_uniform(u)


Distribution = Uniform | Normal | LogNormal | LogUniform | OneMinus


def params_from_uniform(priors: Mapping[str, Distribution], u) -> dict:
    """One draw ``(k, 1)`` of each parameter in ``priors`` from uniforms ``u`` ``(k, len(priors))``, column by column."""
    return {name: d.from_uniform(u[:, j : j + 1]) for j, (name, d) in enumerate(priors.items())}
