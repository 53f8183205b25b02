"""Load test of the HTTP service: `python benchmarks/http_load.py [--clients 50] [--seconds 30] [--rates 2,0]`.

Starts `lcpfn serve` on a free loopback port and, for each rate in turn, drives N
concurrent clients posting 100-point curves to /v1/predict for the given time;
prints throughput, p50/p99 latency (client side, and the server's own histogram),
the error count and the server's resident memory before and after each phase.
Target on 2 cores: p99 <= 25 ms, 0 errors, memory flat.

`--soak SECONDS` instead runs paced /v1/predict load (10 clients at 5 req/s) mixed with
two clients posting /v1/mcmc/predict back to back, and prints every minute the 5xx
answers of each endpoint and the server's memory (its own RSS and its MCMC
workers'): a 10-minute soak must show no 5xx on /v1/predict and RSS growth <= 10 %.

A rate paces each client like a training job reporting a few times a second
(50 clients at 2 req/s: 100 req/s in all, Poisson-like bursts included); rate 0
is closed loop, each client firing its next request as soon as the last is
answered: the saturation throughput, where latency is 50 requests in flight
divided by the throughput (Little's law), whatever the server does.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _requests(rng: np.random.Generator, port: int, count: int = 64) -> list[bytes]:
    """Ready-made HTTP/1.1 POSTs of 100-point curves (encoded once, so the client spends its time waiting)."""
    x = np.arange(1, 101, dtype=float)
    out = []
    for _ in range(count):
        y = 2.0 + 3.0 * x ** -rng.uniform(0.2, 0.8) + 0.01 * rng.standard_normal(100)
        body = json.dumps({"x": x.tolist(), "y": y.tolist(), "horizon": 400}).encode()
        head = (
            f"POST /v1/predict HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        out.append(head + body)
    return out


async def _client(port: int, until: float, latencies: list, errors: list, rng: np.random.Generator, rate: float) -> None:
    """One keep-alive connection; a minimal HTTP/1.1 client on asyncio streams (httpx costs ~1 ms of
    CPU per request, which on 2 shared cores would be measured as the server's latency)."""
    requests = _requests(rng, port)
    next_at = time.perf_counter() + (rng.uniform(0, 1 / rate) if rate else 0.0)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        i = 0
        while time.perf_counter() < until:
            if rate:  # paced: a training job asking `rate` times a second, whatever the answers' latency
                await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
                next_at += 1 / rate
            t = time.perf_counter()
            writer.write(requests[i % len(requests)])
            i += 1
            try:
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10.0)
                length = int(
                    next(line.split(b":")[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length"))
                )
                await asyncio.wait_for(reader.readexactly(length), 10.0)
                status = int(head.split(b" ", 2)[1])
                if status != 200:
                    errors.append(status)
            except (asyncio.TimeoutError, asyncio.IncompleteReadError, ConnectionError, StopIteration) as e:
                errors.append(type(e).__name__)
                writer.close()
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
            latencies.append(time.perf_counter() - t)
    finally:
        writer.close()


async def _drive(port: int, clients: int, seconds: float, rate: float):
    latencies, errors = [], []
    until = time.perf_counter() + seconds
    await asyncio.gather(*(_client(port, until, latencies, errors, np.random.default_rng(i), rate) for i in range(clients)))
    return latencies, errors


def _histogram(base: str) -> list[tuple[float, float]]:
    """Cumulative (upper bound, count) buckets of /v1/predict's latency, from the server's /metrics."""
    text = httpx.get(f"{base}/metrics", timeout=5).text
    buckets = []
    for line in text.splitlines():
        if line.startswith("lcpfn_request_seconds_bucket") and 'endpoint="/v1/predict"' in line:
            le = line.split('le="')[1].split('"')[0]
            buckets.append((float(le), float(line.rsplit(" ", 1)[1])))
    return buckets


def _server_side(before: list, after: list) -> str:
    """p50/p99 bucket bounds of the requests between two histogram readings."""
    counts = [(le, c - dict(before).get(le, 0.0)) for le, c in after]
    if not counts or counts[-1][1] == 0:
        return "no data"
    total = counts[-1][1]

    def q(p):
        return next(le for le, c in counts if c >= p * total)

    return f"p50 <= {1e3 * q(0.5):g} ms, p99 <= {1e3 * q(0.99):g} ms"


def _tree_rss_mb(pid: int) -> tuple[float, float]:
    """RSS of the server and of its child processes (the MCMC workers)."""
    children = Path(f"/proc/{pid}/task/{pid}/children")
    kids = [int(c) for c in children.read_text().split()] if children.exists() else []
    return _rss_mb(pid), sum(_rss_mb(k) for k in kids)


def soak(port: int, base: str, pid: int, seconds: float) -> None:
    from collections import Counter

    from http_isolation import _mcmc_client

    async def minute(until: float, outcomes: list):
        results = await asyncio.gather(_drive(port, 10, until - time.perf_counter(), 5.0),
                                       *(_mcmc_client(base, until, outcomes) for _ in range(2)))  # fmt: skip
        return results[0]  # predict's (latencies, errors); the MCMC clients fill ``outcomes``

    start_rss = _tree_rss_mb(pid)
    print(f"soak {seconds:.0f} s: RSS server {start_rss[0]:.0f} MB, MCMC workers {start_rss[1]:.0f} MB")
    print("| minute | predict requests | predict 5xx | predict p99 ms | MCMC outcomes | RSS server MB | RSS workers MB |")
    print("|---|---|---|---|---|---|---|")
    end, k, total_5xx = time.perf_counter() + seconds, 0, 0
    while time.perf_counter() < end:
        k += 1
        outcomes: list = []
        lat, errors = asyncio.run(minute(min(end, time.perf_counter() + 60), outcomes))
        fivexx = sum(1 for e in errors if isinstance(e, int) and e >= 500)
        total_5xx += fivexx
        codes = ", ".join(f"{c}: {n}" for c, n in sorted(Counter(c for c, _ in outcomes).items())) or "-"
        rss = _tree_rss_mb(pid)
        print(f"| {k} | {len(lat)} | {fivexx} | {1e3 * np.percentile(lat, 99):.1f} | {codes} | {rss[0]:.0f} | {rss[1]:.0f} |")
    growth = _tree_rss_mb(pid)[0] / start_rss[0] - 1
    print(f"\npredict 5xx in all: {total_5xx}; server RSS growth {growth:+.1%}")


def start_server(args: list[str] = (), env: dict | None = None) -> tuple[subprocess.Popen, int, str]:
    """``python -m serve`` on a free port with ``args`` and ``env`` added, once it answers ``/readyz``: (process, port, base)."""
    port = _free_port()
    cmd = [sys.executable, "-m", "serve", "--port", str(port), *args]
    server = subprocess.Popen(
        cmd, cwd=ROOT, env={**os.environ, **(env or {})}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    base = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                return server, port, base
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    server.terminate()
    raise SystemExit("server did not become ready")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--clients", type=int, default=50)
    p.add_argument("--seconds", type=float, default=30.0, help="per phase")
    p.add_argument(
        "--rates",
        default="2,0",
        help="requests per second per client, one phase each "
        "(0: closed loop, each client sends its next request as soon as the last is answered)",
    )
    p.add_argument("--micro-batch", type=int, help="the server's LCPFN_MICRO_BATCH (default: its default; 0 turns it off)")
    p.add_argument("--model")
    p.add_argument("--soak", type=float, help="seconds of mixed predict + MCMC load, reported every minute")
    args = p.parse_args()
    env = {"LCPFN_MICRO_BATCH": str(args.micro_batch)} if args.micro_batch is not None else {}
    server, port, base = start_server(["--model", args.model] if args.model else [], env)
    batching = f"LCPFN_MICRO_BATCH={args.micro_batch}" if args.micro_batch is not None else "default micro-batching"
    try:
        print(f"server ready ({batching}); memory (RSS) {_rss_mb(server.pid):.0f} MB")
        if args.soak:
            soak(port, base, server.pid, args.soak)
            return
        for rate in (float(r) for r in args.rates.split(",")):
            before = _histogram(base)
            latencies, errors = asyncio.run(_drive(port, args.clients, args.seconds, rate))
            server_side = _server_side(before, _histogram(base))
            lat = 1e3 * np.array(latencies)
            load = f"each paced at {rate:g} req/s" if rate else "closed loop"
            print(
                f"{args.clients} clients ({load}) x {args.seconds:.0f} s: {len(lat)} requests, "
                f"{len(lat) / args.seconds:.0f} req/s"
            )
            print(f"  latency p50 {np.percentile(lat, 50):.1f} ms, p99 {np.percentile(lat, 99):.1f} ms, max {lat.max():.1f} ms")
            print(f"  server-side (its histogram, from receiving the request to the response): {server_side}")
            print(f"  errors: {len(errors)} {sorted(set(map(str, errors)))[:5]}")
            print(f"  memory (RSS) after: {_rss_mb(server.pid):.0f} MB")
    finally:
        server.terminate()
        server.wait(10)


if __name__ == "__main__":
    main()
