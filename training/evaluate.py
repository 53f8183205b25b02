"""How good are the predictions: suites of curves, forecasting methods and scores.

A *suite* is a list of :class:`EvalCurve` (held-out prior curves, curves of
LC-PFN's own prior, or a file of real curves in ``../shared/data`` format). A
*method* maps a curve cut at a fraction of its points to a
:class:`~lcpfn.prediction.Prediction`-like object (``log_prob``, ``cdf``,
``quantile``). :func:`score` cuts every curve at each cutoff and reports, per
cutoff, the mean log-likelihood of the remaining points (in units of the curve's
range, or raw units for LC-PFN's benchmark), 90 % interval coverage, the median
absolute error of the final value and the time per prediction.
"""

from __future__ import annotations

import gzip
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

CUTOFFS = (0.1, 0.2, 0.4, 0.8)
MAX_EVAL_QUERIES = 200  # remaining points scored per curve (evenly spaced, the final one included)


@dataclass(frozen=True)
class EvalCurve:
    id: str
    x: np.ndarray
    y: np.ndarray
    direction: str  # "min" or "max"
    bounds: tuple | None = None
    schedule: tuple | None = None  # (steps, lrs) over the whole run, if known
    y_range: float = 1.0  # scores are per unit of this range

    def cut(self, fraction: float) -> tuple[int, np.ndarray]:
        """Context length and the indices of the scored remaining points."""
        n = len(self.x)
        n_ctx = int(np.clip(round(fraction * n), 2, n - 1))
        rest = np.arange(n_ctx, n)
        if len(rest) > MAX_EVAL_QUERIES:
            rest = rest[np.unique(np.round(np.linspace(0, len(rest) - 1, MAX_EVAL_QUERIES)).astype(int))]
        return n_ctx, rest


# --------------------------------------------------------------------------- suites


def real_curves(path: str | Path, *, with_schedule: bool = True) -> list[EvalCurve]:
    """Curves of a ``.jsonl.gz`` file in the ``../shared/data`` format."""
    out = []
    with gzip.open(path, "rt") as f:
        for line in f:
            r = json.loads(line)
            x, y = np.asarray(r["x"], float), np.asarray(r["y"], float)
            bounds = (0.0, 1.0) if r["metric"] == "accuracy" else (0.0, None)
            sched = (x, np.asarray(r["lr"], float)) if with_schedule and r.get("lr") else None
            out.append(EvalCurve(r["id"], x, y, r["direction"], bounds, sched, float(np.ptp(y)) or 1.0))
    return out


def prior_curves(n: int, *, seed: int = 424242, n_points: int = 100, lcpfn_only: bool = False) -> list[EvalCurve]:
    """Held-out curves of our prior (or, with ``lcpfn_only``, of LC-PFN's prior in raw [0, 1] units)."""
    import torch

    from priors.sample import PriorConfig, sample

    cfg = PriorConfig(source_weights=(0, 1, 0, 0, 0), p_affine=0.0) if lcpfn_only else PriorConfig()
    b = sample(torch.Generator().manual_seed(seed), n, n_points, config=cfg)
    out = []
    for i in range(n):
        x, y = b.x[i].double().numpy(), b.y[i].double().numpy()
        lo, hi = float(b.lower[i]), float(b.upper[i])
        bounds = None if not (math.isfinite(lo) or math.isfinite(hi)) else (lo if math.isfinite(lo) else None, hi if math.isfinite(hi) else None)
        sched = None
        if bool(b.known_schedule[i]):
            sched = (x, b.lr[i].double().numpy())
        direction = "max" if float(b.direction[i]) > 0 else "min"
        y_range = 1.0 if lcpfn_only else float(np.ptp(b.y_clean[i].double().numpy())) or 1.0
        out.append(EvalCurve(f"prior/{i}", x, y, direction, bounds, sched, y_range))
    return out


# --------------------------------------------------------------------------- methods


class _Normal:
    """Independent normal predictions per query, in the user's units (for the baselines)."""

    def __init__(self, mean: np.ndarray, sd: np.ndarray):
        self.mean, self.sd = np.asarray(mean, float), np.asarray(sd, float)

    def log_prob(self, v):
        return -0.5 * ((v - self.mean) / self.sd) ** 2 - np.log(self.sd * math.sqrt(2 * math.pi))

    def cdf(self, v):
        from scipy.special import ndtr

        return ndtr((v - self.mean) / self.sd)

    def quantile(self, levels):
        from scipy.special import ndtri

        return self.mean[None, :] + self.sd[None, :] * ndtri(np.asarray(levels, float))[:, None]


def last_value(curve: EvalCurve, n_ctx: int, x_query: np.ndarray) -> _Normal:
    """The last observed value, with the spread of the recent values as uncertainty."""
    y = curve.y[:n_ctx]
    recent = y[-max(3, n_ctx // 5) :]
    sd = max(float(np.std(recent)), 1e-3 * curve.y_range)
    return _Normal(np.full(len(x_query), y[-1]), np.full(len(x_query), sd))


def power_law(curve: EvalCurve, n_ctx: int, x_query: np.ndarray) -> _Normal:
    """Least-squares fit of ``a + b * (x + 1) ** -c``, with the residual spread as uncertainty."""
    from scipy.optimize import least_squares

    x, y = curve.x[:n_ctx], curve.y[:n_ctx]
    s = max(float(x[-1]), 1.0)
    xs = (x + 1.0) / s
    best = None
    for c0 in (0.3, 1.0):
        p0 = np.array([y[-1], (y[0] - y[-1]) * xs[0] ** c0 if len(y) > 1 else 0.0, c0])
        fit = least_squares(lambda p: p[0] + p[1] * xs ** -p[2] - y, p0, bounds=([-np.inf, -np.inf, 0.01], [np.inf, np.inf, 3.0]))
        if best is None or fit.cost < best.cost:
            best = fit
    a, b, c = best.x
    resid = float(np.sqrt(2 * best.cost / max(1, len(y) - 3))) if len(y) > 3 else 0.0
    sd = max(resid, 1e-3 * curve.y_range)
    return _Normal(a + b * ((x_query + 1.0) / s) ** -c, np.full(len(x_query), sd))


def pfn(model, *, use_schedule: bool = True) -> Callable:
    def predict(curve: EvalCurve, n_ctx: int, x_query: np.ndarray):
        return model.predict(
            curve.x[:n_ctx], curve.y[:n_ctx], x_query, direction=curve.direction, bounds=curve.bounds,
            schedule=curve.schedule if use_schedule else None,
        )

    return predict


# --------------------------------------------------------------------------- scores


def score(curves: list[EvalCurve], method: Callable, *, cutoffs=CUTOFFS, raw_units: bool = False) -> dict[float, dict[str, float]]:
    """Per cutoff: ``ll`` (mean log-likelihood of remaining points), ``cover90``, ``final_abs_err``, ``ms``."""
    out = {}
    for c in cutoffs:
        ll, cover, err, secs = [], [], [], []
        for curve in curves:
            n_ctx, rest = curve.cut(c)
            xq, yq = curve.x[rest], curve.y[rest]
            t = time.perf_counter()
            pred = method(curve, n_ctx, xq)
            secs.append(time.perf_counter() - t)
            unit = 0.0 if raw_units else math.log(curve.y_range)
            ll.append(float(np.mean(np.maximum(pred.log_prob(yq), -1e3))) + unit)
            cdf = pred.cdf(yq)
            cover.append(float(np.mean((cdf >= 0.05) & (cdf <= 0.95))))
            median = pred.quantile([0.5])[0][-1]
            err.append(abs(float(median) - yq[-1]) / curve.y_range)
        out[c] = {"ll": float(np.mean(ll)), "cover90": float(np.mean(cover)), "final_abs_err": float(np.median(err)), "ms": 1e3 * float(np.median(secs))}
    return out


def table(rows: dict[str, dict[float, dict[str, float]]], metric: str, *, fmt: str = "{:.3f}") -> str:
    """Markdown table: one row per method, one column per cutoff."""
    cutoffs = sorted(next(iter(rows.values())))
    head = f"| {metric} | " + " | ".join(f"{int(c * 100)} %" for c in cutoffs) + " |"
    lines = [head, "|" + "---|" * (len(cutoffs) + 1)]
    for name, res in rows.items():
        lines.append(f"| {name} | " + " | ".join(fmt.format(res[c][metric]) for c in cutoffs) + " |")
    return "\n".join(lines)
