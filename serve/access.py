"""Who may call, and how often: API keys and a token-bucket rate limit, as one ASGI middleware.

* ``LCPFN_API_KEYS`` (comma-separated, or ``@path`` of a file with one per line): when set,
  every ``/v1`` endpoint and the API docs need ``Authorization: Bearer <key>``, else 401
  with a JSON error. Keys are compared in constant time and never logged. ``/healthz``,
  ``/readyz``, the page and its static files stay open; ``/metrics`` too when
  ``LCPFN_METRICS_PUBLIC`` is true, else it needs a key as well.
* ``LCPFN_RATE_LIMIT`` (requests per second, 0: none) and ``LCPFN_RATE_BURST``: a token
  bucket per key, or per client address without keys; an empty bucket is a 429 with
  ``Retry-After``, counted in ``/metrics`` (``lcpfn_rate_limited_total``).
"""

from __future__ import annotations

import hmac
import json
import math
import threading
import time
from pathlib import Path

OPEN_PATHS = ("/healthz", "/readyz", "/", "/favicon.ico")
OPEN_PREFIXES = ("/static/",)
KEYED_PREFIXES = ("/v1", "/docs", "/redoc", "/openapi.json")


def read_keys(spec: str | None) -> tuple[bytes, ...]:
    """Keys from ``LCPFN_API_KEYS``: ``a,b,c`` or ``@path`` (one per line, ``#`` comments and blank lines ignored)."""
    if not spec:
        return ()
    if spec.startswith("@"):
        path = Path(spec[1:])
        try:
            lines = path.read_text().splitlines()
        except OSError as e:
            raise ValueError(f"LCPFN_API_KEYS={spec}: cannot read the key file ({e.strerror})") from None
    else:
        lines = spec.split(",")
    keys = tuple(k.strip().encode() for k in lines if k.strip() and not k.strip().startswith("#"))
    if not keys:
        raise ValueError("LCPFN_API_KEYS is set but holds no key")
    return keys


class TokenBucket:
    """``rate`` tokens per second up to ``burst``, one bucket per caller; thread-safe."""

    def __init__(self, rate: float, burst: int):
        self.rate, self.burst = rate, max(1, burst)
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, who: str, now: float | None = None) -> float:
        """0 if a request may go now, else the seconds until one may."""
        now = time.monotonic() if now is None else now
        with self._lock:
            tokens, last = self._buckets.get(who, (float(self.burst), now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            if tokens >= 1.0:
                self._buckets[who] = (tokens - 1.0, now)
                return 0.0
            self._buckets[who] = (tokens, now)
            return (1.0 - tokens) / self.rate


class Access:
    """ASGI middleware: API keys, then the rate limit, before anything else runs."""

    def __init__(self, app, *, keys: tuple[bytes, ...], metrics_public: bool, rate: float, burst: int, metrics):
        self.app, self.keys, self.metrics_public, self.metrics = app, keys, metrics_public, metrics
        self.bucket = TokenBucket(rate, burst) if rate > 0 else None

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path = scope["path"]
        key = None
        if self.keys and self._keyed(path):
            key = self._bearer(scope)
            if key is None or not any(hmac.compare_digest(key, k) for k in self.keys):
                msg = "missing API key: send Authorization: Bearer <key>" if key is None else "invalid API key"
                return await _json(send, 401, {"detail": msg}, [(b"www-authenticate", b"Bearer")])
        if self.bucket is not None and path.startswith("/v1"):
            # Per key where keys are used (a hash, never the key), else per client address.
            who = f"key:{hash(key)}" if key is not None else f"addr:{(scope.get('client') or ('?', 0))[0]}"
            wait = self.bucket.take(who)
            if wait > 0:
                self.metrics.rate_limited.inc()
                retry = str(max(1, math.ceil(wait))).encode()
                return await _json(send, 429, {"detail": "rate limit exceeded (LCPFN_RATE_LIMIT)"}, [(b"retry-after", retry)])
        return await self.app(scope, receive, send)

    def _keyed(self, path: str) -> bool:
        if path == "/metrics":
            return not self.metrics_public
        return path.startswith(KEYED_PREFIXES)

    @staticmethod
    def _bearer(scope) -> bytes | None:
        for name, value in scope.get("headers") or []:
            if name == b"authorization":
                scheme, _, token = value.partition(b" ")
                return token.strip() if scheme.lower() == b"bearer" and token.strip() else None
        return None


async def _json(send, status: int, body: dict, headers: list | None = None) -> None:
    data = json.dumps(body).encode()
    head = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode()), *(headers or [])]
    await send({"type": "http.response.start", "status": status, "headers": head})
    await send({"type": "http.response.body", "body": data})
