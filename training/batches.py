"""From prior curves to what the PFN is trained on: a context, queries and their targets.

The context and query features go through :mod:`lcpfn.features`, the same code
the library runs at inference, so training and serving cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from lcpfn.features import normalize_context, subsample_context, token_features
from priors.sample import CurveBatch


@dataclass(frozen=True)
class Task:
    """Model inputs and normalized targets of a batch cut at one context length."""

    x_ctx: torch.Tensor  # (B, Nc', F) Nc' = min(Nc, max_context)
    y_ctx: torch.Tensor  # (B, Nc')
    x_qry: torch.Tensor  # (B, Nq, F)
    z_qry: torch.Tensor  # (B, Nq) targets in normalized units
    lo: torch.Tensor  # (B, 1) known limits of z (best, worst), ±inf if unknown
    hi: torch.Tensor  # (B, 1)
    log_scale: torch.Tensor  # (B, 1) log of the normalization scale (densities of y = of z - log_scale)
    query_idx: torch.Tensor  # (Nq,) positions of the queries in the curve


def make_task(curves: CurveBatch, n_ctx: int, query_idx: torch.Tensor, max_context: int) -> Task:
    """Cut ``curves`` after ``n_ctx`` points and ask for the points at ``query_idx`` (all >= n_ctx)."""
    n = curves.x.shape[1]
    if not 1 <= n_ctx < n:
        raise ValueError(f"n_ctx must be in [1, n_points={n}), got {n_ctx=}")
    ctx_idx = torch.as_tensor(subsample_context(n_ctx, max_context), device=curves.y.device)
    norm = normalize_context(curves.y[:, ctx_idx], curves.direction, curves.lower, curves.upper, xp=torch)
    z = norm.z(curves.y, xp=torch)
    best, worst = norm.best, norm.worst
    # Where the horizon is hidden, time is in units of the last context step, as at inference.
    unit = torch.where(curves.horizon_known, curves.horizon, curves.x[:, n_ctx - 1])
    t = curves.x / unit[:, None]
    known = curves.known_schedule
    feats = token_features(
        t, curves.lr, curves.cum_lr, curves.anneal_area, known, curves.horizon_known, best, worst, steps=unit, xp=torch
    )
    # Targets sit on the limits they were clamped to; float rounding must not move them outside.
    z_qry = torch.minimum(torch.maximum(z[:, query_idx], best), worst)
    return Task(
        x_ctx=feats[:, ctx_idx],
        y_ctx=z[:, ctx_idx],
        x_qry=feats[:, query_idx],
        z_qry=z_qry,
        lo=best,
        hi=worst,
        log_scale=torch.log(norm.scale),
        query_idx=query_idx,
    )


def random_cut(g: torch.Generator, n_points: int, max_queries: int) -> tuple[int, torch.Tensor]:
    """A context length in [2, n_points) and up to ``max_queries`` later points, the last always among them."""
    n_ctx = int(torch.randint(2, n_points, (1,), generator=g, device=g.device))
    later = torch.arange(n_ctx, n_points - 1, device=g.device)
    pick = later[torch.randperm(len(later), generator=g, device=g.device)[: max_queries - 1]]
    return n_ctx, torch.cat([pick.sort().values, torch.tensor([n_points - 1], device=g.device)])


def cutoff_task(curves: CurveBatch, fraction: float, max_context: int) -> Task:
    """Context = the first ``fraction`` of the points (at least 2, as in training), queries = all the rest."""
    n = curves.x.shape[1]
    n_ctx = int(np.clip(round(fraction * n), 2, n - 1))
    return make_task(curves, n_ctx, torch.arange(n_ctx, n, device=curves.x.device), max_context)
