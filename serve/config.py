"""Service settings, from environment variables (documented in the README).

==========================  ==========================================  ==================
variable                    meaning                                     default
==========================  ==========================================  ==================
``LCPFN_MODEL``             exported .onnx model (card beside it)       the shipped model
``LCPFN_HOST``              interface to listen on                      127.0.0.1
``LCPFN_PORT``              port                                        8000
``LCPFN_WORKERS``           uvicorn worker processes                    1
``LCPFN_THREADS``           ONNX Runtime intra-op threads per worker    CPU count (<= 4)
``LCPFN_MAX_BODY_BYTES``    larger request bodies get 413               8388608
``LCPFN_MAX_POINTS``        observed points per curve                   100000
``LCPFN_MAX_QUERIES``       query steps per curve                       1000
``LCPFN_MAX_BATCH``         curves per /v1/predict/batch call           256
``LCPFN_MICRO_BATCH``       concurrent /v1/predict requests run as one  32
                            inference, at most (0: each on its own)
``LCPFN_MCMC_MAX_DRAWS``    cap on MCMC draws per chain                 1000
``LCPFN_MCMC_MAX_SECONDS``  cap on the MCMC wall-clock budget           60
``LCPFN_MCMC_WORKERS``      MCMC worker processes                       1
``LCPFN_MCMC_QUEUE``        MCMC requests that may wait for a worker    2
``LCPFN_API_KEYS``          keys (``a,b`` or ``@file``); unset: open    unset
``LCPFN_METRICS_PUBLIC``    /metrics without a key (when keys are set)  true
``LCPFN_RATE_LIMIT``        /v1 requests per second per caller (0: off) 0
``LCPFN_RATE_BURST``        requests a caller may make at once          20
``LCPFN_REQUEST_TIMEOUT_S`` predict, batch, early-stop, what-if: 503    30
                            past it (0: no deadline)
==========================  ==========================================  ==================
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields


@dataclass(frozen=True)
class Settings:
    model: str | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    threads: int | None = None
    max_body_bytes: int = 8 * 1024 * 1024
    max_points: int = 100_000
    max_queries: int = 1000
    max_batch: int = 256
    micro_batch: int = 32
    mcmc_max_draws: int = 1000
    mcmc_max_seconds: float = 60.0
    mcmc_workers: int = 1
    mcmc_queue: int = 2
    api_keys: str | None = None
    metrics_public: bool = True
    rate_limit: float = 0.0
    rate_burst: int = 20
    request_timeout_s: float = 30.0

    @classmethod
    def from_env(cls, env=os.environ, **overrides) -> Settings:
        values = {}
        for f in fields(cls):
            raw = env.get(f"LCPFN_{f.name.upper()}")
            if raw is None:
                continue
            kind = f.type if isinstance(f.type, str) else f.type.__name__
            try:
                values[f.name] = _parse(raw, kind)
            except ValueError:
                raise ValueError(f"environment variable LCPFN_{f.name.upper()}={raw!r} is not a valid {kind}") from None
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


def _parse(raw: str, kind: str):
    if "bool" in kind:
        if raw.strip().lower() not in ("1", "true", "yes", "0", "false", "no"):
            raise ValueError(raw)
        return raw.strip().lower() in ("1", "true", "yes")
    return float(raw) if "float" in kind else int(raw) if "int" in kind else raw
