"""Inference speed on this CPU: `python benchmarks/inference_speed.py [--threads 2]`.

* one curve, 100 context points, 1 query (and 10 queries, and with a WSD schedule):
  median latency of `Model.predict`, target <= 2 ms;
* `predict_many` on 1,000 curves of 50 observed points + 1 query: curves/s (target
  >= 1,000) and the GFLOP/s that achieves, next to a plain fp32 matrix product's
  GFLOP/s measured in the same run;
* the same two figures for the torch model (same architecture) for comparison.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import lcpfn
from priors.schedules import wsd


def _median_ms(f, n=300) -> float:
    f()
    times = []
    for _ in range(n):
        t = time.perf_counter()
        f()
        times.append(time.perf_counter() - t)
    return 1e3 * float(np.median(times))


def _matmul_gflops(threads: int) -> float:
    import torch

    torch.set_num_threads(threads)
    a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
    a @ b
    t, n = time.perf_counter(), 20
    for _ in range(n):
        a @ b
    return 2 * 1024**3 * n / (time.perf_counter() - t) / 1e9


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    model = lcpfn.load(args.model, threads=args.threads)
    n_params = model.card["n_params"]
    rng = np.random.default_rng(0)
    x = np.arange(1, 101, dtype=float)
    y = 2.0 + 3.0 * x**-0.5 + 0.01 * rng.standard_normal(100)
    print(
        f"model {model.name}: {n_params:,} parameters, ~{2 * n_params * 101 / 1e9:.3f} GFLOP per 100-point curve + 1 query; "
        f"{args.threads} threads\n"
    )
    print("| call | ONNX Runtime |")
    print("|---|---|")
    print(f"| 1 curve, 100 points, 1 query (p50) | {_median_ms(lambda: model.predict(x, y, [200])):.2f} ms |")
    print(
        f"| 1 curve, 100 points, 10 queries (p50) | {_median_ms(lambda: model.predict(x, y, np.linspace(101, 200, 10))):.2f} ms |"
    )
    sched = wsd(total=200, peak=1e-3, cooldown=0.2)
    print(
        f"| 1 curve, 100 points, 1 query, WSD schedule (p50) "
        f"| {_median_ms(lambda: model.predict(x, y, [200], schedule=sched)):.2f} ms |"
    )
    x50 = np.arange(1, 51, dtype=float)
    curves = [dict(x=x50, y=2.0 + 3.0 * x50**-0.5 + 0.01 * rng.standard_normal(50), x_query=[100.0]) for _ in range(1000)]
    model.predict_many(curves[:10])
    t = time.perf_counter()
    model.predict_many(curves)
    rate = 1000 / (time.perf_counter() - t)
    flop_per_curve = 2 * n_params * 51
    print(
        f"| predict_many, 1,000 curves x (50 points + 1 query) "
        f"| {rate:,.0f} curves/s = {rate * flop_per_curve / 1e9:.0f} GFLOP/s |"
    )

    try:
        import torch
    except ImportError:
        print("\n(torch not installed: no torch comparison)")
        return
    from lcpfn.model import PFN, ModelConfig

    torch.set_num_threads(args.threads)
    net = PFN(ModelConfig(**model.card["model"])).eval()
    f = net.cfg.n_features
    with torch.no_grad():
        one = (torch.randn(1, 100, f), torch.randn(1, 100), torch.randn(1, 1, f))
        ms = _median_ms(lambda: net(*one), n=100)
        batch = (torch.randn(1000, 50, f), torch.randn(1000, 50), torch.randn(1000, 1, f))
        net(*batch)
        t = time.perf_counter()
        net(*batch)
        torch_rate = 1000 / (time.perf_counter() - t)
    print(
        f"\ntorch {torch.__version__} (same architecture, forward pass only): 1 curve {ms:.2f} ms; "
        f"1,000 curves {torch_rate:,.0f} curves/s"
        f" = {torch_rate * flop_per_curve / 1e9:.0f} GFLOP/s"
    )
    print(f"fp32 matrix product (1024 x 1024, torch, {args.threads} threads): {_matmul_gflops(args.threads):.0f} GFLOP/s")


if __name__ == "__main__":
    main()
