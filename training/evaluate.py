"""How good are the predictions: suites of curves, forecasting methods and scores.

A *suite* is a list of :class:`EvalCurve` (held-out prior curves, curves of
LC-PFN's own prior, or a file of real curves in ``../shared/data`` format). A
*method* maps a curve cut at a fraction of its points to a
:class:`~lcpfn.prediction.Prediction`-like object (``log_prob``, ``cdf``,
``quantile``). :func:`score` cuts every curve at each cutoff and reports, per
cutoff, the mean log-likelihood of the remaining points (in units of the curve's
range, or raw units for LC-PFN's benchmark), 90 % interval coverage, the median
absolute error of the final value and the time per prediction.
"""

from __future__ import annotations

import glob
import gzip
import hashlib
import json
import logging
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lcpfn.errors import BudgetExceededError, require
from lcpfn.features import evenly_spaced

log = logging.getLogger(__name__)

CUTOFFS = (0.1, 0.2, 0.4, 0.8)
MCMC_BUDGET_S = 30.0  # wall-clock seconds per MCMC fit in reports
MAX_EVAL_QUERIES = 200  # remaining points scored per curve (evenly spaced, the final one included)


@dataclass(frozen=True)
class EvalCurve:
    id: str
    x: np.ndarray
    y: np.ndarray
    direction: str  # "min" or "max"
    bounds: tuple | None = None
    schedule: tuple | None = None  # (steps, lrs) over the whole run, if known
    y_range: float = 1.0  # scores are per unit of this range
    horizon: float | None = None  # planned last step, if known
    group: str | None = None  # runs an HPO study would compare (same task)

    def cut(self, fraction: float) -> tuple[int, np.ndarray]:
        """Context length and the indices of the scored remaining points."""
        n = len(self.x)
        n_ctx = int(np.clip(round(fraction * n), 2, n - 1))
        rest = np.arange(n_ctx, n)
        if len(rest) > MAX_EVAL_QUERIES:
            rest = rest[evenly_spaced(len(rest), MAX_EVAL_QUERIES)]
        return n_ctx, rest

    def context_key(self, n_ctx: int) -> str:
        """The same for curves that show the same first ``n_ctx`` points: branches of one run (cooldowns resumed from
        its checkpoints) are one piece of evidence until they part, however many futures they have."""
        h = hashlib.blake2b(digest_size=8)
        h.update(np.ascontiguousarray(self.x[:n_ctx], dtype=np.float64).tobytes())
        h.update(np.ascontiguousarray(self.y[:n_ctx], dtype=np.float64).tobytes())
        return h.hexdigest()


# --------------------------------------------------------------------------- suites


def real_dev_files() -> list[str]:
    """The real-curve files the benchmarks score by default: ``../shared/data/*.jsonl.gz`` beside the repository and
    ``benchmarks/data/*.jsonl.gz`` in it."""
    root = Path(__file__).resolve().parent.parent
    shared = sorted(glob.glob(str(root / "../shared/data/*.jsonl.gz")))
    return shared + sorted(glob.glob(str(root / "benchmarks/data/*.jsonl.gz")))


def real_curves(path: str | Path, *, with_schedule: bool = True) -> list[EvalCurve]:
    """Curves of a ``.jsonl.gz`` file in the ``../shared/data`` format.

    The horizon is known, as it is to whoever plans a run: ``meta.planned_horizon``,
    else the last logged step (the files hold whole runs).
    """
    out = []
    with gzip.open(path, "rt") as f:
        for line in f:
            r = json.loads(line)
            x, y = np.asarray(r["x"], float), np.asarray(r["y"], float)
            bounds = (0.0, 1.0) if r["metric"] == "accuracy" else (0.0, None)
            sched = (x, np.asarray(r["lr"], float)) if with_schedule and r.get("lr") else None
            horizon = float((r.get("meta") or {}).get("planned_horizon") or x[-1])
            out.append(EvalCurve(r["id"], x, y, r["direction"], bounds, sched, float(np.ptp(y)) or 1.0, horizon, r.get("group")))
    return out


def prior_curves(n: int, *, seed: int = 424242, n_points: int = 100, lcpfn_only: bool = False, config=None) -> list[EvalCurve]:
    """Held-out curves of our prior (``config``, a :class:`priors.config.PriorConfig`, default its defaults; a model
    card's ``prior.config`` is the mix that trained the model), or, with ``lcpfn_only``, of LC-PFN's prior in raw
    [0, 1] units."""
    import torch

    from priors.config import PriorConfig
    from priors.sample import sample

    if lcpfn_only:
        cfg = PriorConfig(source_weights=(0, 1, 0, 0, 0, 0), p_affine=0.0, p_horizon_known=1.0)
    else:
        cfg = config or PriorConfig()
    b = sample(torch.Generator().manual_seed(seed), n, n_points, config=cfg)
    out = []
    for i in range(n):
        x, y = b.x[i].double().numpy(), b.y[i].double().numpy()
        lo, hi = float(b.lower[i]), float(b.upper[i])
        bounds = (
            None
            if not (math.isfinite(lo) or math.isfinite(hi))
            else (lo if math.isfinite(lo) else None, hi if math.isfinite(hi) else None)
        )
        sched = None
        if bool(b.known_schedule[i]):
            sched = (x, b.lr[i].double().numpy())
        direction = "max" if float(b.direction[i]) > 0 else "min"
        y_range = 1.0 if lcpfn_only else float(np.ptp(b.y_clean[i].double().numpy())) or 1.0
        horizon = float(b.horizon[i]) if bool(b.horizon_known[i]) else None
        out.append(EvalCurve(f"prior/{i}", x, y, direction, bounds, sched, y_range, horizon))
    return out


# --------------------------------------------------------------------------- methods


class _Normal:
    """Independent normal predictions per query, in the user's units (for the baselines)."""

    def __init__(self, mean: np.ndarray, sd: np.ndarray):
        self.mean, self.sd = np.asarray(mean, float), np.asarray(sd, float)

    def log_prob(self, v):
        return -0.5 * ((v - self.mean) / self.sd) ** 2 - np.log(self.sd * math.sqrt(2 * math.pi))

    def is_atom(self, v):
        return np.zeros(np.shape(self.mean), dtype=bool)

    def cdf(self, v):
        from scipy.special import ndtr

        return ndtr((v - self.mean) / self.sd)

    def quantile(self, levels):
        from scipy.special import ndtri

        return self.mean[None, :] + self.sd[None, :] * ndtri(np.asarray(levels, float))[:, None]


def last_value(curve: EvalCurve, n_ctx: int, x_query: np.ndarray) -> _Normal:
    """The last observed value, with the spread of the recent values as uncertainty."""
    y = curve.y[:n_ctx]
    recent = y[-max(3, n_ctx // 5) :]
    sd = max(float(np.std(recent)), 1e-3 * curve.y_range)
    return _Normal(np.full(len(x_query), y[-1]), np.full(len(x_query), sd))


def power_law(curve: EvalCurve, n_ctx: int, x_query: np.ndarray) -> _Normal:
    """Least-squares fit of ``a + b * (x + 1) ** -c``, with the residual spread as uncertainty."""
    from scipy.optimize import least_squares

    x, y = curve.x[:n_ctx], curve.y[:n_ctx]
    s = max(float(x[-1]), 1.0)
    xs = (x + 1.0) / s
    best = None
    for c0 in (0.3, 1.0):
        p0 = np.array([y[-1], (y[0] - y[-1]) * xs[0] ** c0 if len(y) > 1 else 0.0, c0])
        fit = least_squares(lambda p: p[0] + p[1] * xs ** -p[2] - y, p0, bounds=([-np.inf, -np.inf, 0.01], [np.inf, np.inf, 3.0]))
        if best is None or fit.cost < best.cost:
            best = fit
    a, b, c = best.x
    resid = float(np.sqrt(2 * best.cost / max(1, len(y) - 3))) if len(y) > 3 else 0.0
    sd = max(resid, 1e-3 * curve.y_range)
    return _Normal(a + b * ((x_query + 1.0) / s) ** -c, np.full(len(x_query), sd))


def pfn(model, *, use_schedule: bool = True) -> Callable:
    """A method from anything with :meth:`lcpfn.Model.predict`'s signature (the PFN, the MCMC baseline)."""

    def predict(curve: EvalCurve, n_ctx: int, x_query: np.ndarray):
        return model.predict(
            curve.x[:n_ctx],
            curve.y[:n_ctx],
            x_query,
            horizon=curve.horizon,
            direction=curve.direction,
            bounds=curve.bounds,
            schedule=curve.schedule if use_schedule else None,
        )

    return predict


# --------------------------------------------------------------------------- scores


_CRPS_LEVELS = np.linspace(0.01, 0.99, 99)
CALIBRATION_LEVELS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95)
# The central intervals' lower ends in the order of CALIBRATION_LEVELS, then their upper ends in reverse.
_INTERVAL_LEVELS = [0.5 - lv / 2 for lv in CALIBRATION_LEVELS] + [0.5 + lv / 2 for lv in reversed(CALIBRATION_LEVELS)]


def _crps(quantiles: np.ndarray, truth: float) -> float:
    """CRPS from quantiles at ``_CRPS_LEVELS``: twice the mean pinball loss over the levels."""
    diff = truth - quantiles
    return float(2.0 * np.mean(np.maximum(_CRPS_LEVELS * diff, (_CRPS_LEVELS - 1.0) * diff)))


def score(
    curves: list[EvalCurve],
    method: Callable,
    *,
    cutoffs=CUTOFFS,
    raw_units: bool = False,
    tolerate: tuple[type[Exception], ...] = (),
) -> dict[float, dict[str, float]]:
    """Scores per cutoff, values in units of each curve's range (or raw units):

    ``ll`` mean log-likelihood of the remaining points, ``ll_final`` of the final
    value, ``final_abs_err`` median absolute error of the predicted median of the
    final value, ``crps`` of the final value, ``cover50``/``cover90`` central
    interval coverage of the remaining points, ``ms`` median time per prediction,
    ``calibration``: observed coverage at each of ``CALIBRATION_LEVELS``, and
    ``ll_by_curve``: each scored curve's ``ll`` by its id (for :func:`paired_difference`), ``context_by_curve`` its
    :meth:`EvalCurve.context_key`, and ``cover90_se`` the standard error of ``cover90`` with the curves that share a
    context counted as one (:func:`clustered_se`).
    A prediction raising one of ``tolerate`` (MCMC out of time) leaves its curve
    out of that cutoff's scores and counts in ``failed``.
    """
    out = {}
    for c in cutoffs:
        ll, ll_final, cover50, cover90, err, crps, secs, insides, failed = [], [], [], [], [], [], [], [], 0
        ll_by_curve, context_by_curve, cover90_by_curve = {}, {}, {}
        for curve in curves:
            n_ctx, rest = curve.cut(c)
            xq, yq = curve.x[rest], curve.y[rest]
            t = time.perf_counter()
            try:
                pred = method(curve, n_ctx, xq)
            except tolerate as e:
                log.warning("%s at %d %%: %s", curve.id, round(100 * c), e)
                failed += 1
                continue
            secs.append(time.perf_counter() - t)
            unit = 1.0 if raw_units else curve.y_range
            # A density is scaled to range units; the probability of an atom (a censored limit) is not.
            lp = np.maximum(pred.log_prob(yq), -1e3) + np.where(pred.is_atom(yq), 0.0, math.log(unit))
            ll.append(float(np.mean(lp)))
            ll_by_curve[curve.id] = ll[-1]
            context_by_curve[curve.id] = curve.context_key(n_ctx)
            ll_final.append(float(lp[-1]))
            # Central intervals from the quantiles, as users see them: a value on an atom is inside an interval
            # that ends on it, which the cdf alone (a PIT of 1 at an upper limit) cannot tell.
            q = np.asarray(pred.quantile(_INTERVAL_LEVELS), dtype=float)
            inside = (yq >= q[: len(CALIBRATION_LEVELS)]) & (yq <= q[len(CALIBRATION_LEVELS) :][::-1])
            insides.append(inside)
            cover50.append(float(np.mean(inside[CALIBRATION_LEVELS.index(0.5)])))
            cover90.append(float(np.mean(inside[CALIBRATION_LEVELS.index(0.9)])))
            cover90_by_curve[curve.id] = cover90[-1]
            q_final = np.asarray(pred.quantile(_CRPS_LEVELS))[:, -1]
            err.append(abs(float(q_final[49]) - yq[-1]) / unit)
            crps.append(_crps(q_final, yq[-1]) / unit)
        if not secs:
            keys = ("ll", "ll_final", "final_abs_err", "crps", "cover50", "cover90", "cover90_se", "ms")
            out[c] = {k: math.nan for k in keys}
            out[c].update(calibration=[math.nan] * len(CALIBRATION_LEVELS), failed=failed, ll_by_curve={}, context_by_curve={})
            continue
        inside = np.concatenate(insides, axis=1)
        out[c] = {
            "failed": failed,
            "ll": float(np.mean(ll)),
            "ll_final": float(np.mean(ll_final)),
            "final_abs_err": float(np.median(err)),
            "crps": float(np.mean(crps)),
            "cover50": float(np.mean(cover50)),
            "cover90": float(np.mean(cover90)),
            "cover90_se": clustered_se(cover90_by_curve, context_by_curve),
            "ms": 1e3 * float(np.median(secs)),
            "calibration": [float(np.mean(row)) for row in inside],
            "ll_by_curve": ll_by_curve,
            "context_by_curve": context_by_curve,
        }
    return out


def _by_context(values: dict[str, float], contexts: dict[str, str] | None) -> np.ndarray:
    """The mean of ``values`` per context (``contexts``: curve id -> :meth:`EvalCurve.context_key`; without it, or
    for an id it lacks, each curve is its own)."""
    groups: dict[str, list[float]] = {}
    for k, v in values.items():
        groups.setdefault((contexts or {}).get(k, k), []).append(v)
    return np.array([np.mean(g) for g in groups.values()], dtype=float)


def clustered_se(values: dict[str, float], contexts: dict[str, str] | None = None) -> float:
    """Standard error of the mean of per-curve ``values``, with the curves that share a context counted as one: the
    sd of the contexts' means over the root of their number (NaN below two contexts).

    >>> cover = {"a": 1.0, "b": 1.0, "c": 0.0}
    >>> round(clustered_se(cover), 3), round(clustered_se(cover, {"a": "run", "b": "run"}), 3)
    (0.333, 0.5)
    """
    return _se(_by_context(values, contexts))


def _se(units: np.ndarray) -> float:
    return float(np.std(units, ddof=1) / math.sqrt(len(units))) if len(units) > 1 else math.nan


@dataclass(frozen=True)
class PairedDifference:
    """Mean over curves of one method's log-likelihood minus another's on the same curve, with its standard error."""

    mean: float
    se: float  # sd of the per-context mean differences / sqrt(n); NaN below two contexts
    n: int  # contexts among the curves both methods scored (each curve its own where no contexts were given)
    curves: int = 0  # curves both methods scored

    def __str__(self) -> str:
        """``+0.123 ± 0.045``; a single context has no standard error: ``+0.123 (1 context)``."""
        return f"{self.mean:+.3f} ± {self.se:.3f}" if self.n > 1 else f"{self.mean:+.3f} ({self.n} context)"

    def verdict(self, z: float = 2.0) -> str:
        """``"better"`` or ``"worse"`` where the mean lies over ``z`` standard errors from 0, else ``"tie"``."""
        if not self.se > 0:
            return "tie" if self.mean == 0 or math.isnan(self.mean) else ("better" if self.mean > 0 else "worse")
        if self.mean > z * self.se:
            return "better"
        return "worse" if self.mean < -z * self.se else "tie"


def paired_difference(
    a: dict[str, float], b: dict[str, float], among: set[str] | None = None, contexts: dict[str, str] | None = None
) -> PairedDifference:
    """``a - b`` over the curves both scored (``score(...)[cutoff]["ll_by_curve"]`` of two methods), only those of
    ``among`` if given (e.g. the curves with a schedule, where with and without it differ).

    Two methods' means over the same curves differ by less than either's spread across curves: pairing each curve with
    itself removes what the curves share, so a gap of 0.01 nats can be told from a tie. With ``contexts``
    (``score(...)[cutoff]["context_by_curve"]``) the curves that show the same points (branches of one run) are
    averaged into one difference before the standard error: five cooldowns resumed from one run are one context, and
    a misread of it costs all five alike. The mean stays the mean over curves.

    >>> d = paired_difference({"a": 1.0, "b": 2.0, "c": 0.5}, {"a": 0.9, "b": 1.8, "c": 0.2, "d": 7.0})
    >>> round(d.mean, 3), round(d.se, 3), d.n, d.verdict(), str(d)
    (0.2, 0.058, 3, 'better', '+0.200 ± 0.058')
    >>> paired_difference({"a": 1.0, "b": 2.0}, {"a": 0.9, "b": 1.8}, contexts={"a": "run", "b": "run"}).n
    1
    """
    ids = [k for k in a if k in b and (among is None or k in among)]
    diff = {k: a[k] - b[k] for k in ids}
    if not diff:
        return PairedDifference(math.nan, math.nan, 0, 0)
    units = _by_context(diff, contexts)
    return PairedDifference(float(np.mean(list(diff.values()))), _se(units), len(units), len(diff))


def table(rows: dict[str, dict[float, dict[str, float]]], metric: str, *, fmt: str = "{:.3f}") -> str:
    """Markdown table: one row per method, one column per cutoff."""
    cutoffs = sorted(next(iter(rows.values())))
    head = f"| {metric} | " + " | ".join(f"{int(c * 100)} %" for c in cutoffs) + " |"
    lines = [head, "|" + "---|" * (len(cutoffs) + 1)]
    for name, res in rows.items():
        lines.append(f"| {name} | " + " | ".join(fmt.format(res[c][metric]) for c in cutoffs) + " |")
    return "\n".join(lines)


# --------------------------------------------------------------------------- report

METHODS = ("pfn", "pfn-noschedule", "last", "powerlaw", "mcmc")
METRICS = (
    ("ll", "mean log-likelihood of the remaining points (higher is better)"),
    ("ll_final", "log-likelihood of the final value (higher is better)"),
    ("final_abs_err", "median absolute error of the final value (lower is better)"),
    ("crps", "CRPS of the final value (lower is better)"),
    ("cover50", "50 % interval coverage of the remaining points (nominal 0.5)"),
    ("cover90", "90 % interval coverage of the remaining points (nominal 0.9)"),
    ("ms", "median time per prediction, ms"),
)


def _method(name: str, model, mcmc_budget: float = MCMC_BUDGET_S) -> Callable:
    if name == "pfn":
        return pfn(model)
    if name == "pfn-noschedule":
        return pfn(model, use_schedule=False)
    if name == "last":
        return last_value
    if name == "powerlaw":
        return power_law
    if name == "mcmc":
        mcmc = require("lcpfn.mcmc", "mcmc")
        return pfn(mcmc.MCMCExtrapolator(time_budget_s=mcmc_budget))
    raise SystemExit(f"--methods: unknown method {name!r}; choose from {', '.join(METHODS)}")


def _suite(spec: str, n_prior: int) -> tuple[str, list[EvalCurve]]:
    if spec == "prior":
        return f"prior ({n_prior} held-out curves of our prior)", prior_curves(n_prior)
    if spec == "lcpfn-prior":
        return f"lcpfn-prior ({n_prior} curves of LC-PFN's prior)", prior_curves(n_prior, lcpfn_only=True)
    curves = real_curves(spec)
    return f"{Path(spec).name} ({len(curves)} real curves)", curves


def fan_chart(ax, curve: EvalCurve, n_ctx: int, method: Callable, title: str) -> None:
    """Observed prefix, the truth after it, the median and 50/90 % bands."""
    xq = np.unique(np.concatenate([np.linspace(curve.x[n_ctx - 1], curve.x[-1], 60)[1:], curve.x[-1:]]))
    q = np.asarray(method(curve, n_ctx, xq).quantile([0.05, 0.25, 0.5, 0.75, 0.95]))
    ax.plot(curve.x[:n_ctx], curve.y[:n_ctx], "k.", ms=3, label="observed")
    ax.plot(curve.x[n_ctx:], curve.y[n_ctx:], ".", color="0.6", ms=2, label="truth")
    ax.fill_between(xq, q[0], q[4], alpha=0.2, color="C0", label="90 %")
    ax.fill_between(xq, q[1], q[3], alpha=0.35, color="C0", label="50 %")
    ax.plot(xq, q[2], "C0-", lw=1, label="median")
    if curve.schedule is not None:
        twin = ax.twinx()
        twin.plot(curve.schedule[0], curve.schedule[1], color="C3", lw=0.8, alpha=0.6)
        twin.set_yticks([])
    ax.set_title(title, fontsize=8)
    ax.tick_params(labelsize=6)


def report(
    suites: list[str],
    methods: list[str],
    out: Path,
    *,
    n_prior: int = 300,
    model_path: str | None = None,
    mcmc_curves: int = 4,
    mcmc_budget: float = MCMC_BUDGET_S,
) -> str:
    """Score ``methods`` on ``suites``, write the markdown report ``out`` with its figures beside it, return its text.

    Suites are ``prior``, ``lcpfn-prior`` or paths of real-curve files; methods are from :data:`METHODS`.

    >>> report(["prior"], ["pfn", "last"], Path("/tmp/eval.md"), n_prior=20)  # doctest: +SKIP
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from tqdm import tqdm

    import lcpfn

    model = lcpfn.load(model_path)
    figures = out.parent / out.stem
    figures.mkdir(parents=True, exist_ok=True)
    results: dict[str, dict[str, dict]] = {}
    data = {}
    with tqdm(total=len(suites) * len(methods), desc="evaluate", unit="suite x method") as bar:
        for spec in suites:
            name, curves = _suite(spec, n_prior)
            data[name] = curves
            results[name] = {}
            raw = spec == "lcpfn-prior"
            for m in methods:
                bar.set_postfix_str(f"{name.split(' ')[0]} / {m}")
                if m == "mcmc":  # minutes per curve: a fixed subset, with the PFN on the same curves beside it
                    few = [
                        curves[i]
                        for i in np.random.default_rng(1).choice(len(curves), min(mcmc_curves, len(curves)), replace=False)
                    ]
                    res = score(few, _method(m, model, mcmc_budget), raw_units=raw, tolerate=(BudgetExceededError,))
                    failed = sum(r["failed"] for r in res.values())
                    label = f"mcmc ({len(few)} curves" + (
                        f"; {failed} of {len(few) * len(CUTOFFS)} fits out of time)" if failed else ")"
                    )
                    results[name][label] = res
                    results[name][f"pfn (same {len(few)})"] = score(few, pfn(model), raw_units=raw)
                else:
                    results[name][m] = score(curves, _method(m, model), raw_units=raw)
                bar.update(1)

    lines = [
        "# Evaluation",
        "",
        f"Model `{model.name}` ({model.card['n_params']:,} parameters, "
        f"{model.card['training']['curves_seen']:,} prior curves seen).",
        f"Regenerate: `python -m training.evaluate --suites {','.join(_shown(s) for s in suites)} --methods {','.join(methods)} "
        f"--n-prior {n_prior}" + (f" --mcmc-curves {mcmc_curves} --mcmc-budget {mcmc_budget:g}`." if "mcmc" in methods else "`."),
        "",
        "Each curve is cut after 10/20/40/80 % of its points; the methods predict the rest (at most "
        f"{MAX_EVAL_QUERIES} evenly spaced points, the final one included). Values are in units of the curve's range "
        "(max - min of its observed values), except for `lcpfn-prior`, which uses LC-PFN's raw [0, 1] units as its paper does. "
        "`last` predicts the last value with the spread of the recent values; `powerlaw` fits `a + b x^-c` with the residual "
        "spread; `pfn-noschedule` is the PFN without the learning-rate schedule.",
        "",
    ]
    for name, res in results.items():
        lines += [f"## {name}", ""]
        for metric, what in METRICS:
            lines += [f"**{what}**", "", table(res, metric, fmt="{:.2f}" if metric == "ms" else "{:.3f}"), ""]
    aware = [
        n
        for n in results
        if "pfn" in results[n] and "pfn-noschedule" in results[n] and any(c.schedule is not None for c in data[n])
    ]
    if aware:
        lines += [
            "## Schedule awareness",
            "",
            "The same model with and without the schedule given, on the curves that have one: the mean log-likelihood "
            "of the remaining points with minus without, paired curve by curve, ± one standard error (better or worse: "
            "over two standard errors from 0, else a tie; curves that show the same points up to the cutoff, branches "
            "of one run, count once: their number in brackets), and the final value's median absolute error (units "
            "of the curve's range; change = 1 - with / without).",
            "",
        ]
        lines += [
            "| suite | cutoff | curves | ll with - without | verdict | error with schedule | without | change |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for n in aware:
            ids = {cv.id for cv in data[n] if cv.schedule is not None}
            for c in CUTOFFS:
                with_schedule, without = results[n]["pfn"][c], results[n]["pfn-noschedule"][c]
                d = paired_difference(
                    with_schedule["ll_by_curve"], without["ll_by_curve"], ids, with_schedule["context_by_curve"]
                )
                w, wo = with_schedule["final_abs_err"], without["final_abs_err"]
                lines.append(
                    f"| {n.split(' ')[0]} | {int(c * 100)} % | {d.curves} ({d.n}) | {d} | {d.verdict()} "
                    f"| {w:.4f} | {wo:.4f} | {1 - w / wo if wo else 0:+.0%} |"
                )
        lines.append("")

    # Fan charts: a few curves per suite, the LLM curves where the cooldown is still ahead.
    for name, curves in data.items():
        picks = _fan_picks(curves)
        fig, axes = plt.subplots(1, len(picks), figsize=(3.2 * len(picks), 2.6), squeeze=False)
        for ax, (curve, cut) in zip(axes[0], picks):
            n_ctx, _ = curve.cut(cut)
            fan_chart(ax, curve, n_ctx, pfn(model), f"{curve.id[-40:]} @ {int(cut * 100)} %")
        axes[0][0].legend(fontsize=6)
        fig.tight_layout()
        path = figures / f"fan_{_slug(name)}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        lines += [f"![fan charts {name}]({figures.name}/{path.name})", ""]

    fig, axes = plt.subplots(1, len(results), figsize=(3.2 * len(results), 3.0), squeeze=False)
    for ax, (name, res) in zip(axes[0], results.items()):
        ax.plot([0, 1], [0, 1], "k--", lw=0.8)
        for m, r in res.items():
            ax.plot(CALIBRATION_LEVELS, r[0.2]["calibration"], "o-", ms=3, label=m)
        ax.set_title(f"{name.split(' ')[0]} @ 20 %", fontsize=8)
        ax.set_xlabel("nominal coverage", fontsize=7)
        ax.tick_params(labelsize=6)
    axes[0][0].set_ylabel("observed coverage", fontsize=7)
    axes[0][0].legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(figures / "calibration.png", dpi=110)
    plt.close(fig)

    fig, axes = plt.subplots(1, len(results), figsize=(3.2 * len(results), 3.0), squeeze=False)
    for ax, (name, res) in zip(axes[0], results.items()):
        for m, r in res.items():
            ax.semilogy([100 * c for c in CUTOFFS], [max(r[c]["final_abs_err"], 1e-5) for c in CUTOFFS], "o-", ms=3, label=m)
        ax.set_title(name.split(" ")[0], fontsize=8)
        ax.set_xlabel("cutoff (% of points)", fontsize=7)
        ax.tick_params(labelsize=6)
    axes[0][0].set_ylabel("final-value error (range units)", fontsize=7)
    axes[0][0].legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(figures / "error_vs_cutoff.png", dpi=110)
    plt.close(fig)
    lines += [
        "## Calibration (cutoff 20 %)",
        "",
        f"![calibration]({figures.name}/calibration.png)",
        "",
        "## Final-value error against cutoff",
        "",
        f"![error vs cutoff]({figures.name}/error_vs_cutoff.png)",
        "",
    ]
    text = "\n".join(lines)
    out.write_text(text)
    return text


def _shown(spec: str) -> str:
    """A suite as a reader would type it: data files relative to the working directory."""
    return os.path.relpath(spec) if spec.endswith(".jsonl.gz") else spec


def _slug(name: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in name.split(" ")[0]).strip("_")


def _fan_picks(curves: list[EvalCurve]) -> list[tuple[EvalCurve, float]]:
    llm = [c for c in curves if c.schedule is not None and any(k in c.id.lower() for k in ("wsd", "cosine", "811", "constant"))]
    if llm:
        wanted = [c for c in llm if "wsd" in c.id.lower()][:2] + [c for c in llm if "cosine" in c.id.lower()][:1]
        return [(c, 0.4) for c in (wanted or llm[:3])]
    rng = np.random.default_rng(0)
    return [(curves[i], 0.2) for i in rng.choice(len(curves), size=min(4, len(curves)), replace=False)]


def main(argv: list[str] | None = None) -> None:
    import argparse
    import glob

    default_data = sorted(glob.glob(str(Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "*.jsonl.gz")))
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "--suites",
        default=",".join(["prior", "lcpfn-prior", *default_data]),
        help="comma-separated: prior, lcpfn-prior and/or .jsonl.gz files of real curves",
    )
    p.add_argument("--methods", default="pfn,pfn-noschedule,last,powerlaw", help=f"comma-separated, from {', '.join(METHODS)}")
    p.add_argument("--n-prior", type=int, default=300, help="curves per prior suite")
    p.add_argument("--model", help="exported .onnx (default: the shipped model)")
    p.add_argument("--mcmc-curves", type=int, default=4, help="curves per suite the (slow) mcmc method is scored on")
    p.add_argument("--mcmc-budget", type=float, default=MCMC_BUDGET_S, help="wall-clock seconds per MCMC fit")
    p.add_argument("--out", default="docs/evaluation.md", help="markdown report; figures go in a folder of the same name")
    args = p.parse_args(argv)
    suites = [s for part in args.suites.split(",") for s in (sorted(glob.glob(part)) if "*" in part else [part]) if s]
    report(
        suites,
        [m for m in args.methods.split(",") if m],
        Path(args.out),
        n_prior=args.n_prior,
        model_path=args.model,
        mcmc_curves=args.mcmc_curves,
        mcmc_budget=args.mcmc_budget,
    )


if __name__ == "__main__":
    main()
