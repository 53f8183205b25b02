"""Does the slow endpoint starve the fast one? `python benchmarks/http_isolation.py [--mcmc 4] [--seconds 60]`

Starts `lcpfn serve` (one MCMC worker process, `LCPFN_MCMC_WORKERS=1`) and measures
/v1/predict under paced load (5 clients, 10 requests/s each) alone, then with N
clients posting /v1/mcmc/predict (budget 20 s each) one after the other: predict's
p50/p99, and every MCMC request's outcome (200, 429 or 503) and wall time, which
must stay within its budget + 10 s. Targets on 2 cores with 1 MCMC worker: p99 under
4 MCMC clients <= 3x p99 alone and <= 50 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections import Counter

import httpx
import numpy as np
from http_load import _drive, _rss_mb, start_server

MCMC_BODY = {"x": list(range(1, 21)), "y": [round(2 + 3 * x**-0.5, 4) for x in range(1, 21)], "horizon": 100,
             "draws": 300, "chains": 2, "time_budget_s": 20}  # fmt: skip


async def _mcmc_client(base: str, until: float, outcomes: list) -> None:
    async with httpx.AsyncClient(timeout=120) as client:
        while time.perf_counter() < until:
            t = time.perf_counter()
            r = await client.post(f"{base}/v1/mcmc/predict", json=MCMC_BODY)
            outcomes.append((r.status_code, time.perf_counter() - t))
            if r.status_code == 429:
                await asyncio.sleep(float(r.headers.get("retry-after", "1")))


async def _phase(port: int, base: str, seconds: float, n_mcmc: int):
    until = time.perf_counter() + seconds
    outcomes: list = []
    mcmc = [_mcmc_client(base, until, outcomes) for _ in range(n_mcmc)]
    (latencies, errors), *_ = await asyncio.gather(_drive(port, 5, seconds, 10.0), *mcmc)
    return np.array(latencies) * 1e3, errors, outcomes


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--mcmc", type=int, default=4, help="concurrent MCMC clients in the second phase")
    p.add_argument("--seconds", type=float, default=60.0, help="per phase")
    args = p.parse_args()
    server, port, base = start_server(env={"LCPFN_MCMC_WORKERS": "1", "LCPFN_MCMC_MAX_SECONDS": "60"})
    try:
        time.sleep(10)  # let the MCMC worker finish importing PyMC
        print(f"server ready; RSS {_rss_mb(server.pid):.0f} MB\n")
        print("| phase | predict requests | p50 ms | p99 ms | predict errors | MCMC outcomes | MCMC wall s (max) |")
        print("|---|---|---|---|---|---|---|")
        for n in (0, args.mcmc):
            lat, errors, outcomes = asyncio.run(_phase(port, base, args.seconds, n))
            codes = Counter(code for code, _ in outcomes)
            walls = [w for _, w in outcomes]
            mcmc = ", ".join(f"{k}: {v}" for k, v in sorted(codes.items())) or "-"
            wall = f"{max(walls):.1f}" if walls else "-"
            label = "predict alone" if n == 0 else f"with {n} MCMC clients"
            p50, p99 = np.percentile(lat, [50, 99])
            print(f"| {label} | {len(lat)} | {p50:.1f} | {p99:.1f} | {len(errors)} | {mcmc} | {wall} |")
        print(f"\nMCMC budget per request: {MCMC_BODY['time_budget_s']} s (answered within budget + 10 s: wall <= "
              f"{MCMC_BODY['time_budget_s'] + 10} s); server RSS after: {_rss_mb(server.pid):.0f} MB")  # fmt: skip
        print(json.dumps({"mcmc_body": {k: v for k, v in MCMC_BODY.items() if k not in ("x", "y")}}))
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
