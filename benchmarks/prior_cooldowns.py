"""Is the PFN calibrated on its own prior's cooldowns? `python benchmarks/prior_cooldowns.py [--model PATH]`.

Curves of the schedule-aware laws with a known schedule that holds its peak lr and then decays to under a fifth of it,
starting between 60 % and 92 % of the run (WSD-like): the PFN sees the points before the decay and the whole schedule,
and predicts the final value. Printed per law and run length: how many curves, and where the true final value falls in
the predictive distribution (PIT: mean and median, and the shares below its 5 % and above its 95 % quantile). A model
calibrated on its prior has PIT mean and median 0.5 and shares of 0.05; a median below 0.5 says the truths fall lower
than predicted: the cooldown's gain is under-predicted.

The real cooldowns' gains are under-predicted (benchmarks/what_if.py), and this tells whether the prior or the network
is at fault: a network calibrated here reproduces what its prior says.
"""

from __future__ import annotations

import argparse
import dataclasses
import json

import numpy as np
import torch

import lcpfn
from priors.config import SOURCES
from priors.sample import sample
from training.train import TrainConfig

LAWS = ("multi_power", "lr_annealing", "intrinsic_time")
BANDS = ((500.0, 3000.0), (3000.0, 10000.0), (10000.0, 60000.0), (60000.0, 1e6))


def cooldown_cases(batch) -> list[tuple[int, int]]:
    """(row, index of the first point after the peak lr) of the WSD-like rows of ``batch``."""
    x, lr = batch.x.double().numpy(), batch.lr.double().numpy()
    cases = []
    for i in range(len(x)):
        if not bool(batch.known_schedule[i]) or float(batch.direction[i]) > 0:
            continue
        at_peak = np.flatnonzero(lr[i] >= 0.999 * lr[i].max())
        start = at_peak[-1] + 1
        held = np.all(np.diff(lr[i, at_peak[0] : start]) == 0)
        u = x[i, min(start, x.shape[1] - 1)] / x[i, -1]
        if start < x.shape[1] and held and 0.6 <= u <= 0.92 and lr[i, -1] <= 0.2 * lr[i].max():
            cases.append((i, start))
    return cases


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", help="exported .onnx (default: the shipped model)")
    ap.add_argument("--curves", type=int, default=40000, help="prior curves drawn (about 3 %% are WSD-like laws' curves)")
    ap.add_argument("--seed", type=int, default=5)
    args = ap.parse_args()
    model = lcpfn.load(args.model) if args.model else lcpfn.load()
    prior = TrainConfig.from_json(json.dumps(model.card["training"]["config"])).prior  # the prior the model learned
    weights = tuple(w if name in LAWS else 0.0 for name, w in zip(SOURCES, prior.source_weights))
    config = dataclasses.replace(prior, source_weights=weights, p_affine=0.0)
    batch = sample(torch.Generator().manual_seed(args.seed), args.curves, 100, config=config)
    x, y, lr = batch.x.double().numpy(), batch.y.double().numpy(), batch.lr.double().numpy()
    pit: dict[tuple[str, int], list[float]] = {}
    for i, start in cooldown_cases(batch):
        lower = float(batch.lower[i])
        kw = {"bounds": (lower, None)} if np.isfinite(lower) else {}
        pred = model.predict(x[i, :start], y[i, :start], [x[i, -1]], schedule=(x[i], lr[i]), direction="min", **kw)
        band = next(b for b, (lo, hi) in enumerate(BANDS) if lo <= x[i, -1] < hi or b == len(BANDS) - 1)
        pit.setdefault((SOURCES[int(batch.source[i])], band), []).append(float(pred.cdf([y[i, -1]])[0]))
    print(f"model: {model.name}, {args.curves:,} curves of its own prior's laws (seed {args.seed})")
    print("| law | run length (steps) | curves | PIT mean | PIT median | below 5 % | above 95 % |")
    print("|---|---|---|---|---|---|---|")
    for law in LAWS:
        for b, (lo, hi) in enumerate(BANDS):
            p = np.asarray(pit.get((law, b), []))
            if len(p) == 0:
                continue
            row = f"| {law} | {lo:,.0f}-{hi:,.0f} | {len(p)} | {p.mean():.2f} | {np.median(p):.2f} "
            print(row + f"| {np.mean(p < 0.05):.2f} | {np.mean(p > 0.95):.2f} |")


if __name__ == "__main__":
    main()
