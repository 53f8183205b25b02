"""Prior distributions of law parameters.

Each is a frozen dataclass that samples a batch with a torch generator (the prior
sampler) and names its family and arguments so the MCMC model can build the same
distribution in PyMC.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


def _rand(generator, n: int, device):
    import torch

    return torch.rand(n, generator=generator, device=device)


def _randn(generator, n: int, device):
    import torch

    return torch.randn(n, generator=generator, device=device)


@dataclass(frozen=True)
class Uniform:
    low: float
    high: float

    def sample(self, generator, n: int, device=None):
        return self.low + (self.high - self.low) * _rand(generator, n, device)


@dataclass(frozen=True)
class Normal:
    loc: float
    scale: float

    def sample(self, generator, n: int, device=None):
        return self.loc + self.scale * _randn(generator, n, device)


@dataclass(frozen=True)
class LogNormal:
    """``exp(Normal(loc, scale))``."""

    loc: float
    scale: float

    def sample(self, generator, n: int, device=None):
        return (self.loc + self.scale * _randn(generator, n, device)).exp()


@dataclass(frozen=True)
class LogUniform:
    """``exp(Uniform(log low, log high))``."""

    low: float
    high: float

    def sample(self, generator, n: int, device=None):
        lo, hi = math.log(self.low), math.log(self.high)
        return (lo + (hi - lo) * _rand(generator, n, device)).exp()


@dataclass(frozen=True)
class OneMinus:
    """``1 - X`` for another distribution ``X`` (e.g. pow4's ``c = 1 - exp(U(-5, 0))``)."""

    base: Uniform | Normal | LogNormal | LogUniform

    def sample(self, generator, n: int, device=None):
        return 1.0 - self.base.sample(generator, n, device)


Distribution = Uniform | Normal | LogNormal | LogUniform | OneMinus
