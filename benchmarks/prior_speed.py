"""Prior sampling throughput: curves per second for 100-point curves on CPU.

    python benchmarks/prior_speed.py [--threads 2] [--batch 8192] [--sweep 128,32768,65536] [--seconds 10]
                                     [--modes eager,compiled]

Prints the whole mixture's rate and each source's alone at ``--batch`` curves per
call (targets for the mixture on 2 threads: >= 150,000 curves/s compiled for prior v2; LC-PFN's per-curve
Python loop does ~5,600), then the mixture's rate at the ``--sweep`` batch sizes:
each call has a fixed cost (~3 ms compiled, ~16 ms eager: Python dispatch of the
tensor operations), so small calls are dominated by it, and past ~8,192 curves
memory traffic limits the gain. Both eager and with the arithmetic fused by
torch.compile (``sample(..., compiled=True)``, its one-off compilation time printed
apart). Figures vary by about ±10 % from run to run on a shared 2-core machine.
"""

from __future__ import annotations

import argparse
import time

import torch

from priors.config import SOURCES, PriorConfig
from priors.sample import sample


def rate(config: PriorConfig, batch: int, n_points: int, seconds: float, compiled: bool) -> float:
    g = torch.Generator().manual_seed(0)
    # Warm-up: later batches meet sub-batch sizes (0, 1) that compile anew.
    warm, start = 0, time.perf_counter()
    while warm < 10 or time.perf_counter() - start < 3.0:
        sample(g, batch, n_points, config=config, compiled=compiled)
        warm += 1
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        sample(g, batch, n_points, config=config, compiled=compiled)
        done += batch
    return done / (time.perf_counter() - start)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--batch", type=int, default=8192)
    p.add_argument("--sweep", default="128,32768,65536", help="comma-separated batch sizes for the mixture alone")
    p.add_argument("--points", type=int, default=100)
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--modes", default="eager,compiled")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} threads, batch {args.batch}, {args.points} points per curve")
    for mode in args.modes.split(","):
        compiled = {"eager": False, "compiled": True}[mode]
        print(mode)
        if compiled:
            start = time.perf_counter()
            sample(torch.Generator().manual_seed(0), args.batch, args.points, compiled=True)
            print(f"{'compilation':>16}: {time.perf_counter() - start:>10.1f} s (once per process)")
        print(f"{'mixture':>16}: {rate(PriorConfig(), args.batch, args.points, args.seconds, compiled):>10,.0f} curves/s")
        for i, name in enumerate(SOURCES):
            weights = tuple(float(j == i) for j in range(len(SOURCES)))
            r = rate(PriorConfig(source_weights=weights), args.batch, args.points, args.seconds / 3, compiled)
            print(f"{name:>16}: {r:>10,.0f} curves/s")
        for batch in (int(b) for b in args.sweep.split(",") if b):
            r = rate(PriorConfig(), batch, args.points, args.seconds / 2, compiled)
            print(f"{f'mixture at {batch:,}':>16}: {r:>10,.0f} curves/s")


if __name__ == "__main__":
    main()
