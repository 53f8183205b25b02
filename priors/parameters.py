"""Prior distributions of law parameters.

Each is a frozen dataclass with two entry points to the same distribution:
:meth:`from_uniform` turns uniforms into draws (the inverse CDF, so the prior sampler
can take all of a curve's randomness from one uniform matrix and transform it inside
a fused function), and :meth:`from_normal` turns standard normals into draws (the
same map after ``Φ``), so that the MCMC baseline samples every parameter as a
standard normal and maps it with the sampler's own definition.

>>> import torch
>>> d = LogUniform(0.1, 10.0)
>>> float(d.from_uniform(torch.tensor(0.5))), float(d.from_normal(torch.tensor(0.0), torch))
(1.0, 1.0)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass


def _standard_normal(u):
    import torch

    # torch.rand's uniforms lie in [0, 1 - 2^-24]; 0 would map to -inf.
    return torch.special.ndtri(u.clamp(min=2.0**-25))


def _phi(x, xp):
    """The standard normal CDF in namespace ``xp`` (torch or pytensor.tensor: both have ``erfc``)."""
    return 0.5 * xp.erfc(-x / math.sqrt(2.0))


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

    def from_normal(self, x, xp):
        return self.from_uniform(_phi(x, xp))


@dataclass(frozen=True)
class Normal(_Distribution):
    loc: float
    scale: float

    def from_uniform(self, u):
        return self.loc + self.scale * _standard_normal(u)

    def from_normal(self, x, xp):
        return self.loc + self.scale * x


@dataclass(frozen=True)
class LogNormal(_Distribution):
    """``exp(Normal(loc, scale))``."""

    loc: float
    scale: float

    def from_uniform(self, u):
        return (self.loc + self.scale * _standard_normal(u)).exp()

    def from_normal(self, x, xp):
        return xp.exp(self.loc + self.scale * x)


@dataclass(frozen=True)
class LogUniform(_Distribution):
    """``exp(Uniform(log low, log high))``."""

    low: float
    high: float

    def from_uniform(self, u):
        lo, hi = math.log(self.low), math.log(self.high)
        return (lo + (hi - lo) * u).exp()

    def from_normal(self, x, xp):
        lo, hi = math.log(self.low), math.log(self.high)
        return xp.exp(lo + (hi - lo) * _phi(x, xp))


@dataclass(frozen=True)
class OneMinus(_Distribution):
    """``1 - X`` for another distribution ``X`` (e.g. pow4's ``c = 1 - exp(U(-5, 0))``)."""

    base: Uniform | Normal | LogNormal | LogUniform

    def from_uniform(self, u):
        return 1.0 - self.base.from_uniform(u)

    def from_normal(self, x, xp):
        return 1.0 - self.base.from_normal(x, xp)


Distribution = Uniform | Normal | LogNormal | LogUniform | OneMinus


def params_from_uniform(priors: Mapping[str, Distribution], u) -> dict:
    """One draw ``(k, 1)`` of each parameter in ``priors`` from uniforms ``u`` ``(k, len(priors))``, column by column."""
    return {name: d.from_uniform(u[:, j : j + 1]) for j, (name, d) in enumerate(priors.items())}


def params_from_normal(priors: Mapping[str, Distribution], x, xp) -> dict:
    """:func:`params_from_uniform` from standard normals ``x`` ``(k, len(priors))`` in namespace ``xp``."""
    return {name: d.from_normal(x[:, j : j + 1], xp) for j, (name, d) in enumerate(priors.items())}
