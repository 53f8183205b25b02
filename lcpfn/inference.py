"""Load an exported PFN and predict with ONNX Runtime (no torch, no network).

>>> import lcpfn
>>> model = lcpfn.load()
>>> pred = model.predict([100, 200, 300], [3.1, 2.9, 2.8], [1000], direction="min")
>>> low, high = pred.interval(0.9)
>>> bool(low[0] < pred.median[0] < high[0])
True
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lcpfn.distribution import LIMITS, BarDistribution
from lcpfn.errors import ModelFileError
from lcpfn.features import TOKEN_FEATURES, ContextNormalization, normalize_context, subsample_context, token_features
from lcpfn.inputs import Curve, ScheduleLike, check_curve, curves_from_dicts, step_features
from lcpfn.prediction import BarPredictive, Prediction

log = logging.getLogger(__name__)

DEFAULT_MODEL = Path(__file__).parent / "models" / "default.onnx"
CARD_FORMAT = "lcpfn-onnx/1"
BATCH_CHUNK = 256  # curves per ONNX Runtime call in predict_many


@dataclass(frozen=True)
class Prepared:
    """One curve as model inputs, plus what maps predictions back."""

    x_ctx: np.ndarray  # (Nc, F)
    y_ctx: np.ndarray  # (Nc,)
    x_qry: np.ndarray  # (Q, F)
    norm: ContextNormalization  # (1, 1) fields: the curve's units <-> the model's
    curve: Curve


def prepare(curve: Curve, max_context: int) -> Prepared:
    """A checked curve as the model sees it: its (subsampled) context and query tokens."""
    keep = subsample_context(len(curve.x), max_context)
    xs, ys = curve.x[keep], curve.y[keep]
    norm = normalize_context(ys[None, :], np.array([curve.direction]), np.array([curve.lower]), np.array([curve.upper]))
    steps = np.concatenate([xs, curve.x_query])
    f = step_features(curve, steps)
    known, horizon_known = np.array([f.known]), np.array([f.horizon_known])
    schedule = (f.t[None], f.lr[None], f.cum_lr[None], f.anneal_area[None])
    feats = token_features(*schedule, known, horizon_known, norm.best, norm.worst, steps=np.array([curve.time_unit]))
    n = len(xs)
    return Prepared(x_ctx=feats[0, :n], y_ctx=norm.z(ys[None, :])[0], x_qry=feats[0, n:], norm=norm, curve=curve)


def model_inputs(batch: list[Prepared]) -> dict[str, np.ndarray]:
    """The model's float32 inputs for curves of any lengths: padded, with the context mask."""
    b, f = len(batch), len(TOKEN_FEATURES)
    n_ctx = max(len(p.y_ctx) for p in batch)
    n_qry = max(len(p.x_qry) for p in batch)
    x_ctx = np.zeros((b, n_ctx, f), np.float32)
    y_ctx = np.zeros((b, n_ctx), np.float32)
    mask = np.zeros((b, n_ctx), bool)
    x_qry = np.zeros((b, n_qry, f), np.float32)
    for i, p in enumerate(batch):
        x_ctx[i, : len(p.y_ctx)], y_ctx[i, : len(p.y_ctx)], mask[i, : len(p.y_ctx)] = p.x_ctx, p.y_ctx, True
        x_qry[i, : len(p.x_qry)] = p.x_qry
    return {"x_ctx": x_ctx, "y_ctx": y_ctx, "x_qry": x_qry, "ctx_mask": mask}


def predictions(batch: list[Prepared], logits: np.ndarray, bars: BarDistribution, name: str) -> list[Prediction]:
    """Predictions in the users' units from the model's logits ``(B, Q, K)`` for ``batch``."""
    out = []
    for i, p in enumerate(batch):
        lo, hi = float(p.norm.best[0, 0]), float(p.norm.worst[0, 0])
        normalized = BarPredictive(bars, logits[i, : len(p.x_qry)].astype(np.float64), lo, hi)
        loc, scale = float(p.norm.loc[0, 0]), float(p.norm.scale[0, 0])
        out.append(Prediction(p.curve.x_query, normalized, loc, scale, p.curve.direction, model=name))
    return out


class Model:
    """An exported PFN with its card; one ONNX Runtime session, reused for every call."""

    def __init__(self, path: str | Path, *, threads: int | None = None, spin: bool = True):
        import onnxruntime as ort

        path = Path(path)
        self.path, self.card = path, _read_card(path)
        self.name = str(self.card.get("name", path.stem))
        self.max_context = int(self.card["model"]["max_context"])
        # Cards before 2026-12-06 carry no "limits": those models were trained with truncated limits.
        borders = np.asarray(self.card["borders"], dtype=np.float64)
        self.bars = BarDistribution(borders, limits=self.card.get("limits", "truncated"))
        if threads is not None and not (isinstance(threads, int) and threads >= 1):
            raise ValueError(f"threads must be an integer >= 1 (or None for the CPU count, at most 4), got {threads!r}")
        opts = ort.SessionOptions()
        # ONNX Runtime ignores OMP_NUM_THREADS; small graphs are fastest on the physical cores.
        opts.intra_op_num_threads = threads or max(1, min(4, os.cpu_count() or 1))
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if not spin:  # idle ORT threads otherwise busy-wait, taking the cores a web server's threads need
            opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            self._session = ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
        except Exception as e:  # onnxruntime raises its own exception types for bad files
            raise ModelFileError(f"{path}: not a loadable ONNX model ({type(e).__name__}: {e})") from None
        self.predict([0.0, 1.0, 2.0], [1.0, 0.8, 0.7], [4.0])  # warm-up: first run allocates

    def predict(
        self,
        x: Sequence[float],
        y: Sequence[float],
        x_query: Sequence[float] | float | None = None,
        *,
        horizon: float | None = None,
        schedule: ScheduleLike = None,
        direction: str = "min",
        bounds: tuple[float | None, float | None] | None = None,
    ) -> Prediction:
        """Predictive distribution of the metric at ``x_query`` given the values ``y`` observed at steps ``x``.

        ``horizon`` is the step the run is planned to end at (default: where the
        schedule ends; unknown without one, see :mod:`lcpfn.inputs`); ``x_query``
        defaults to it. The prediction at a step never depends on the other steps
        asked. ``schedule`` is the planned learning-rate schedule over the whole run
        (a :class:`priors.schedules.Schedule`, a ``(steps, lrs)`` pair or a callable
        with ``horizon``), or None if unknown. ``direction`` is "min" for losses and
        "max" for accuracies; ``bounds`` the metric's known hard limits, e.g. ``(0, 1)``.
        """
        curve = check_curve(x, y, x_query, horizon=horizon, direction=direction, bounds=bounds, schedule=schedule)
        return self._predict([self._prepare(curve)])[0]

    def predict_many(self, curves: Sequence[dict]) -> list[Prediction]:
        """Predict many curves (dicts of :meth:`predict`'s arguments), of any lengths, in batched calls."""
        prepared = [self._prepare(c) for c in curves_from_dicts(curves)]
        return [p for i in range(0, len(prepared), BATCH_CHUNK) for p in self._predict(prepared[i : i + BATCH_CHUNK])]

    def compare_schedules(
        self,
        x: Sequence[float],
        y: Sequence[float],
        schedules: dict[str, ScheduleLike],
        *,
        x_query: float | None = None,
        horizon: float | None = None,
        direction: str = "min",
        bounds: tuple[float | None, float | None] | None = None,
    ):
        """Where the run ends under each candidate schedule, and the probability each ends best (:mod:`lcpfn.what_if`)."""
        from lcpfn.what_if import compare_schedules

        return compare_schedules(self, x, y, schedules, x_query=x_query, horizon=horizon, direction=direction, bounds=bounds)

    def plan_cooldown(self, x: Sequence[float], y: Sequence[float], **options):
        """Predicted final values over cooldown starts x lengths, and the best cell (:func:`lcpfn.what_if.plan_cooldown`)."""
        from lcpfn.what_if import plan_cooldown

        return plan_cooldown(self, x, y, **options)

    # ----------------------------------------------------------------------- internals

    def _prepare(self, curve: Curve) -> Prepared:
        return prepare(curve, self.max_context)

    def _predict(self, batch: list[Prepared]) -> list[Prediction]:
        logits = self._session.run(None, model_inputs(batch))[0]
        return predictions(batch, logits, self.bars, self.name)


def _read_card(path: Path) -> dict:
    card_path = path.with_suffix(".json")
    if not path.is_file():
        raise ModelFileError(f"model file {path} does not exist")
    if not card_path.is_file():
        raise ModelFileError(f"model card {card_path} does not exist (it must lie beside {path.name})")
    try:
        card = json.loads(card_path.read_text())
    except (OSError, ValueError) as e:
        raise ModelFileError(f"model card {card_path} is not readable JSON: {e}") from None
    for key in ("format", "model", "borders", "token_features", "sha256"):
        if key not in card:
            raise ModelFileError(f"model card {card_path} lacks the field {key!r}")
    if card["format"] != CARD_FORMAT:
        raise ModelFileError(f"model card {card_path} has format {card['format']!r}; this lcpfn reads {CARD_FORMAT!r}")
    if tuple(card["token_features"]) != TOKEN_FEATURES:
        raise ModelFileError(
            f"{path} was trained on features {card['token_features']}, this lcpfn computes {list(TOKEN_FEATURES)}"
        )
    if card.get("limits", "truncated") not in LIMITS:
        raise ModelFileError(f"model card {card_path} has limits {card['limits']!r}; this lcpfn reads one of {LIMITS}")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != card["sha256"]:
        raise ModelFileError(f"{path} is corrupt: its sha256 {digest[:12]}… differs from the card's {card['sha256'][:12]}…")
    return card


def load(path: str | Path | None = None, *, threads: int | None = None, spin: bool = True) -> Model:
    """The shipped default model, a shipped model by name (``"default"``, or ``"large"`` where one is
    shipped: ``lcpfn/models/<name>.onnx``), or the exported model at ``path`` (its card ``.json`` beside it).

    ``threads`` sets ONNX Runtime's intra-op threads (default: the CPU count, at most 4).
    ``spin=False`` stops idle ONNX Runtime threads from busy-waiting between calls:
    a little slower per call, much kinder to other threads sharing the cores (a server).
    """
    if path is None:
        path = DEFAULT_MODEL
    elif isinstance(path, str) and not path.endswith(".onnx") and "/" not in path and "\\" not in path:
        shipped = sorted(p.stem for p in DEFAULT_MODEL.parent.glob("*.onnx"))
        if path not in shipped:
            raise ModelFileError(f"no shipped model named {path!r}; shipped: {shipped} (or give the path of an .onnx file)")
        path = DEFAULT_MODEL.parent / f"{path}.onnx"
    return Model(path, threads=threads, spin=spin)
