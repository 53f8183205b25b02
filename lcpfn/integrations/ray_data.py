"""Ray Data: score many runs on an existing engine, the ONNX model loaded once per actor.

:class:`PredictFinal` is a callable class for ``Dataset.map_batches``: each row is a run
with columns ``x`` and ``y`` (arrays), ``horizon`` and optionally ``direction``,
``lower``, ``upper``; it adds ``final_median``, ``final_low`` and ``final_high`` (the
90 % interval of the value at the horizon), predicted with ``predict_many``.

>>> import ray  # doctest: +SKIP
>>> ds = ray.data.from_items([{"x": [1, 2, 3], "y": [3.0, 2.5, 2.3], "horizon": 20}])  # doctest: +SKIP
>>> ds.map_batches(PredictFinal, concurrency=2, batch_size=1024).take(1)  # doctest: +SKIP
"""

from __future__ import annotations

import math

import numpy as np


class PredictFinal:
    """``map_batches`` callable: the predicted final value of every run in a batch (dict of columns)."""

    def __init__(self, model_path: str | None = None, *, threads: int = 1, coverage: float = 0.9):
        import lcpfn

        self.model, self.coverage = lcpfn.load(model_path, threads=threads), coverage

    def __call__(self, batch: dict) -> dict:
        n = len(batch["x"])
        direction = batch.get("direction", ["min"] * n)
        lower = batch.get("lower", [math.nan] * n)
        upper = batch.get("upper", [math.nan] * n)
        curves = []
        for i in range(n):
            lo, hi = (None if math.isnan(float(v)) else float(v) for v in (lower[i], upper[i]))
            bounds = None if lo is None and hi is None else (lo, hi)
            curves.append(dict(x=np.asarray(batch["x"][i], float), y=np.asarray(batch["y"][i], float),
                               horizon=float(batch["horizon"][i]), direction=str(direction[i]), bounds=bounds))  # fmt: skip
        preds = self.model.predict_many(curves)
        q = (1 - self.coverage) / 2
        quantiles = np.array([p.quantile([q, 0.5, 1 - q])[:, 0] for p in preds]).reshape(n, 3)
        return {**batch, "final_low": quantiles[:, 0], "final_median": quantiles[:, 1], "final_high": quantiles[:, 2]}
