"""Load test of the HTTP service: `python benchmarks/http_load.py [--clients 50] [--seconds 30]`.

Starts `lcpfn serve` on a free loopback port, drives N concurrent clients posting
100-point curves to /v1/predict for the given time, and prints throughput,
p50/p99 latency, the error count and the server's resident memory at start and
end. Target on 2 cores: p99 <= 25 ms, 0 errors, memory flat. Clients run closed
loop by default (the service's saturation point); ``--rate`` paces each client
like a training job reporting a few times a second.
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
        head = (f"POST /v1/predict HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n").encode()
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
                length = int(next(line.split(b":")[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")))
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


def _server_side(base: str) -> str:
    """p50/p99 of /v1/predict as the server's own histogram saw it (bucket bounds)."""
    text = httpx.get(f"{base}/metrics", timeout=5).text
    buckets = []
    for line in text.splitlines():
        if line.startswith("lcpfn_request_seconds_bucket") and 'endpoint="/v1/predict"' in line:
            le = line.split('le="')[1].split('"')[0]
            buckets.append((float(le), float(line.rsplit(" ", 1)[1])))
    if not buckets or buckets[-1][1] == 0:
        return "no data"
    total = buckets[-1][1]
    def q(p):
        return next(le for le, c in buckets if c >= p * total)
    return f"p50 <= {1e3 * q(0.5):g} ms, p99 <= {1e3 * q(0.99):g} ms"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--clients", type=int, default=50)
    p.add_argument("--seconds", type=float, default=30.0)
    p.add_argument("--rate", type=float, default=0.0, help="requests per second per client (0: closed loop, each "
                   "client sends its next request as soon as the last is answered)")
    p.add_argument("--micro-batch", type=int, help="the server's LCPFN_MICRO_BATCH (default: its default; 0 turns it off)")
    p.add_argument("--model")
    args = p.parse_args()
    port = _free_port()
    cmd = [sys.executable, "-m", "serve", "--port", str(port)] + (["--model", args.model] if args.model else [])
    env = {**os.environ, **({"LCPFN_MICRO_BATCH": str(args.micro_batch)} if args.micro_batch is not None else {})}
    server = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        else:
            raise SystemExit("server did not become ready")
        rss_start = _rss_mb(server.pid)
        latencies, errors = asyncio.run(_drive(port, args.clients, args.seconds, args.rate))
        rss_end = _rss_mb(server.pid)
        server_side = _server_side(base)
    finally:
        server.terminate()
        server.wait(10)
    lat = 1e3 * np.array(latencies)
    load = f"each paced at {args.rate:g} req/s" if args.rate else "closed loop"
    batching = f"LCPFN_MICRO_BATCH={args.micro_batch}" if args.micro_batch is not None else "default micro-batching"
    print(f"{args.clients} clients ({load}; {batching}) x {args.seconds:.0f} s: {len(lat)} requests, {len(lat) / args.seconds:.0f} req/s")
    print(f"latency p50 {np.percentile(lat, 50):.1f} ms, p99 {np.percentile(lat, 99):.1f} ms, max {lat.max():.1f} ms")
    print(f"server-side (its histogram, from receiving the request to the response): {server_side}")
    print(f"errors: {len(errors)} {sorted(set(map(str, errors)))[:5]}")
    print(f"server memory (RSS): {rss_start:.0f} MB at start, {rss_end:.0f} MB at end")


if __name__ == "__main__":
    main()
