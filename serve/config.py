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

    @classmethod
    def from_env(cls, env=os.environ, **overrides) -> Settings:
        values = {}
        for f in fields(cls):
            raw = env.get(f"LCPFN_{f.name.upper()}")
            if raw is None:
                continue
            kind = f.type if isinstance(f.type, str) else f.type.__name__
            try:
                values[f.name] = float(raw) if "float" in kind else int(raw) if "int" in kind else raw
            except ValueError:
                raise ValueError(f"environment variable LCPFN_{f.name.upper()}={raw!r} is not a valid {kind}") from None
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)
