"""Inference speed of the shipped model on this CPU: `python benchmarks/inference_speed.py`.

Prints the latency of one 100-point curve (median of many calls, 1 and 10 query
steps, with and without a schedule) and the throughput of `predict_many` on
1,000 curves of 100 points. Targets: <= 2 ms per curve, >= 1,000 curves/s.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import lcpfn
from priors.schedules import wsd


def _median_ms(f, n=200) -> float:
    times = []
    for _ in range(n):
        t = time.perf_counter()
        f()
        times.append(time.perf_counter() - t)
    return 1e3 * float(np.median(times))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--model")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    model = lcpfn.load(args.model, threads=args.threads)
    x = np.arange(1, 101, dtype=float)
    y = 2.0 + 3.0 * x**-0.5
    flops = 2 * model.card["n_params"] * 101
    print(f"model {model.name}: {model.card['n_params']:,} parameters, ~{flops / 1e9:.2f} GFLOP per 100-point curve, {args.threads} threads")
    print(f"1 curve, 1 query:               {_median_ms(lambda: model.predict(x, y, [200])):.2f} ms")
    print(f"1 curve, 10 queries:            {_median_ms(lambda: model.predict(x, y, np.linspace(101, 200, 10))):.2f} ms")
    sched = wsd(total=200, peak=1e-3, cooldown=0.2)
    print(f"1 curve, 1 query, WSD schedule: {_median_ms(lambda: model.predict(x, y, [200], schedule=sched)):.2f} ms")
    rng = np.random.default_rng(0)
    curves = [dict(x=x, y=y + 0.01 * rng.standard_normal(100), x_query=[200.0]) for _ in range(1000)]
    t = time.perf_counter()
    model.predict_many(curves)
    print(f"predict_many, 1,000 curves:     {1000 / (time.perf_counter() - t):,.0f} curves/s")


if __name__ == "__main__":
    main()
