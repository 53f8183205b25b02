"""Prior predictive checks: statistics of training curves, measured alike on real runs and on the prior.

A prior is realistic where what real runs show lies well inside what it draws. Each
statistic here is a function of one curve (numpy, in the curve's own units, so the
prior's random affine map does not matter), and :func:`prior_statistic` draws its
distribution from :func:`priors.sample.sample`. The tests
(``tests/priors/test_checks.py``) assert that the values measured on real dev curves
lie inside the prior's 5-95 % range.

* :func:`noise_to_range`: observation noise relative to the curve's range.
* :func:`final_to_initial`: final over initial loss of a run logged from step 0.
* :func:`late_fall`: how many times a loss still falls after 10 % of the run.
* :func:`late_move`: how far a curve still moves after 40 % of the run, in units of its range; :func:`lr_shape`
  tells a full decay from a constant lr and a late cooldown, as real runs move less after a full decay.
* :func:`overfit`: how far the final value fell back from the best one; :func:`overfit_onset`
  when the best came and :func:`overfit_shape` how the fall-back grew after it.
* :func:`lr_drop_jump`: the improvement right after the largest lr drop.
* :func:`cooldown_gain_ratio`: a cooldown's gain over a constant lr, relative to the
  stable phase's drop from 40 % to 80 % of the run (:func:`law_cooldown_gain_ratios`
  draws it from the schedule-aware laws).
* :func:`late_progress`: the progress a constant-lr run still makes after 40 % of it, relative to
  what it made from 10 % to 40 %, and :func:`early_shape`, its progress from 10 % to 20 % over that
  from 20 % to 40 % (:func:`law_constant_lr_shapes` draws both from the laws).

>>> round(float(final_to_initial(np.array([5.0, 3.0, 2.0]))), 2)
0.4
"""

from __future__ import annotations

import numpy as np

# Residuals from a local quadratic (Savitzky-Golay, 5 points): the curve's bend does not
# count as noise. Gaussian noise of sd s leaves residuals of sd s * sqrt(18 / 35); 0.6745
# turns a median absolute deviation into a standard deviation.
_SMOOTH = np.array([-3.0, 12.0, 17.0, 12.0, -3.0]) / 35.0
_MAD_TO_SD = 1.0 / (0.6745 * np.sqrt(18.0 / 35.0))


def noise_to_range(y: np.ndarray) -> float:
    """Noise sd (robust: the residuals of a local quadratic fit) over the range of ``y``."""
    span = float(np.ptp(y))
    if len(y) < 7 or span <= 0:
        return float("nan")
    residuals = y[2:-2] - np.convolve(y, _SMOOTH[::-1], mode="valid")
    return float(np.median(np.abs(residuals)) * _MAD_TO_SD / span)


def final_to_initial(y: np.ndarray) -> float:
    """Last value over the first, for a loss logged from step 0 (raw units, lower bound 0); NaN where the first is 0
    (an outlier clipped at the bound)."""
    return float(y[-1] / y[0]) if y[0] > 0 else float("nan")


def _run_fraction(x: np.ndarray) -> np.ndarray:
    """Each logged step as a fraction of the run, from its first logged step (0) to its last (1)."""
    return (x - x[0]) / (x[-1] - x[0])


def _index_at(x: np.ndarray, at: float) -> int:
    """The last logged point at or before fraction ``at`` of the run."""
    return int(np.searchsorted(_run_fraction(x), at, side="right")) - 1


def late_fall(x: np.ndarray, y: np.ndarray, at: float = 0.1) -> float:
    """log10 of the final loss over the loss at fraction ``at`` of the run (from the first logged step to the last;
    both a 3-point running mean, raw units, lower bound 0); NaN where either is not positive.

    >>> late_fall(np.arange(11.0), np.array([2.0, 2, 2, 1, 1, 1, 1, 1, 0.2, 0.2, 0.2]))  # 2.0 at step 1, 0.2 at the end
    -1.0
    """
    smooth = np.convolve(np.pad(y, 1, mode="edge"), np.ones(3) / 3.0, mode="valid")
    early = smooth[_index_at(x, at)]
    return float(np.log10(smooth[-1] / early)) if early > 0 and smooth[-1] > 0 else float("nan")


def late_move(x: np.ndarray, y: np.ndarray, direction: float, at: float = 0.4) -> float:
    """How much worse the final value is than the value at fraction ``at`` of the run (from the first logged step to
    the last), in units of the curve's range: negative where the curve still improves, positive where it falls back.

    >>> late_move(np.arange(11.0), np.array([9.0, 5, 3, 2, 1.5, 1.2, 1.1, 1, 1, 1, 1]), -1.0)  # 1.5 at 40 %, 1 at the end
    -0.0625
    """
    span = float(np.ptp(y))
    return float(-direction * (y[-1] - y[_index_at(x, at)]) / span) if span > 0 else float("nan")


def lr_shape(x: np.ndarray, lr: np.ndarray) -> str:
    """``"constant"`` (the lr ends above 95 % of its peak), ``"full"`` (below 90 % of it by 40 % of the run, 60 % by
    70 % and 50 % at the end: cosine, linear, exponential decays), ``"late"`` (still at 95 % at 70 %, below half at the
    end: WSD cooldowns) or ``"other"``.

    >>> u = np.linspace(0.0, 1.0, 11)
    >>> lr_shape(u, 0.5 * (1 + np.cos(np.pi * u))), lr_shape(u, np.ones(11)), lr_shape(u, np.where(u < 0.8, 1.0, 0.1))
    ('full', 'constant', 'late')
    """
    u = _run_fraction(x)
    rel = np.asarray(lr, float) / max(float(np.max(lr)), 1e-30)
    at40, at70 = np.interp(0.4, u, rel), np.interp(0.7, u, rel)
    if rel[-1] > 0.95:
        return "constant"
    if at40 < 0.9 and at70 < 0.6 and rel[-1] < 0.5:
        return "full"
    if at70 > 0.95 and rel[-1] < 0.5:
        return "late"
    return "other"


def starts_with_warmup(lr: np.ndarray) -> bool:
    """The lr at the first logged point is below half its peak (on small networks most of the schedule's cost sits on
    such curves: ``benchmarks/schedule_value.py``).

    >>> starts_with_warmup(np.array([0.1, 0.6, 1.0, 1.0])), starts_with_warmup(np.array([1.0, 0.5, 0.1]))
    (True, False)
    """
    lr = np.asarray(lr, float)
    return bool(lr[0] < 0.5 * lr.max())


def overfit(y: np.ndarray, direction: float) -> float:
    """How far the final value is from the best value reached, in units of the range (0: it ends at its best)."""
    better = y * direction
    span = float(np.ptp(y))
    return float((better.max() - better[-1]) / span) if span > 0 else 0.0


def ends_worse(y: np.ndarray, direction: float) -> float:
    """1.0 for a curve whose last value is worse than its first (a validation loss that overfit past where it began)."""
    return float(y[-1] * direction < y[0] * direction)


def _running_median(y: np.ndarray, width: int = 5) -> np.ndarray:
    padded = np.pad(y, width // 2, mode="edge")
    return np.median(np.lib.stride_tricks.sliding_window_view(padded, width), axis=-1)


def _overfitting(y: np.ndarray, direction: float, least: float, max_noise: float):
    """The smoothed curve and the index of its best value, for a curve (noise at most ``max_noise`` x its range)
    whose smoothed version ends more than ``least`` x its range from its best; else None."""
    noise = noise_to_range(y)
    if not noise <= max_noise:  # NaN too
        return None
    smooth = _running_median(y)
    if overfit(smooth, direction) <= least:
        return None
    return smooth, int(np.argmax(smooth * direction))


def overfit_onset(x: np.ndarray, y: np.ndarray, direction: float, *, least: float = 0.1, max_noise: float = 0.05) -> float:
    """Fraction of the run (``x`` from its first to its last step) at which an overfitting curve was at its best
    (after a 5-point running median, so that noise does not make the best); NaN for a noisy curve or one that ends
    within ``least`` x its range of its best."""
    found = _overfitting(y, direction, least, max_noise)
    if found is None or x[-1] <= x[0]:
        return float("nan")
    return float(_run_fraction(x)[found[1]])


def overfit_shape(x: np.ndarray, y: np.ndarray, direction: float, *, least: float = 0.1, max_noise: float = 0.05) -> float:
    """Share of an overfitting curve's final fall-back reached half-way (in points) from its best to its end:
    0.5 for a linear rise, more for a fast-then-slow (concave) one; smoothed and NaN as :func:`overfit_onset`."""
    found = _overfitting(y, direction, least, max_noise)
    if found is None:
        return float("nan")
    smooth, best = found
    half = best + (len(y) - 1 - best) // 2
    return float((smooth[best] - smooth[half]) / (smooth[best] - smooth[-1]))


def lr_drop_jump(y: np.ndarray, lr: np.ndarray, direction: float) -> float:
    """Improvement over the two logged steps after the largest lr drop (to at most half), in units of the range;
    NaN without such a drop."""
    ratio = lr[1:] / np.maximum(lr[:-1], 1e-30)
    i = int(np.argmin(ratio)) + 1  # first step at the lower lr
    span = float(np.ptp(y))
    if ratio[i - 1] > 0.5 or i < 1 or i + 1 >= len(y) or span <= 0:
        return float("nan")
    return float(direction * (y[i + 1] - y[i - 1]) / span)


def cooldown_gain_ratio(parent_at, branch_final, end: float):
    """``(parent(end) - branch_final) / (parent(0.4 end) - parent(0.8 end))`` for a constant-lr parent
    (``parent_at(steps) -> loss``) and a branch that cools down to ``end``. Like the two below, a number for one run and
    an array for arrays of runs (the laws' draws)."""
    stable = parent_at(0.4 * end) - parent_at(0.8 * end)
    return (parent_at(end) - branch_final) / stable


def late_progress(run_at, end: float):
    """``(run(0.4 end) - run(end)) / (run(0.1 end) - run(0.4 end))`` for a run at a constant lr (``run_at(steps) ->
    loss``): how much of its progress is still to come at 40 % of the run, relative to what it made since 10 %.

    >>> round(late_progress(lambda s: 1.0 + 10.0 / s, 100.0), 3)  # 1 + 10 / s: 2.0, 1.25 and 1.1 at 10, 40, 100
    0.2
    """
    return (run_at(0.4 * end) - run_at(end)) / (run_at(0.1 * end) - run_at(0.4 * end))


def early_shape(run_at, end: float):
    """``(run(0.1 end) - run(0.2 end)) / (run(0.2 end) - run(0.4 end))``: the progress of a doubling over that of the
    next, ``2 ** alpha`` for a power law ``L0 + A s^-alpha``, below 1 where a run gains more from 20 to 40 % of it.

    >>> round(early_shape(lambda s: 1.0 + 10.0 / s, 100.0), 3)
    2.0
    """
    return (run_at(0.1 * end) - run_at(0.2 * end)) / (run_at(0.2 * end) - run_at(0.4 * end))


def law_cooldown_gain_ratios(lr_at, n: int, *, steps: float, seed: int = 0, weights: dict[str, float] | None = None,
                             config=None) -> np.ndarray:  # fmt: skip
    """:func:`cooldown_gain_ratio` of ``n`` curves of the schedule-aware laws (mixed by ``weights``,
    default the prior's source weights) under the laws' priors of ``config`` (a PriorConfig, default
    the default one) for runs of ``steps`` steps, each under a constant lr and under ``lr_at(u)``, a
    schedule relative to its peak at normalized times ``u`` in [0, 1]."""
    values = _law_values({"constant": np.ones_like, "branch": lr_at}, (0.4, 0.8, 1.0), n, steps=steps, seed=seed,
                         weights=weights, config=config)  # fmt: skip
    return cooldown_gain_ratio(values["constant"], values["branch"](1.0), 1.0)


def law_constant_lr_shapes(n: int, *, steps: float, warmup: float = 0.0, seed: int = 0,
                           weights: dict[str, float] | None = None, config=None) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """:func:`early_shape` and :func:`late_progress` of ``n`` curves of the schedule-aware laws at a constant lr after a
    linear warmup over the fraction ``warmup`` of the run, as :func:`law_cooldown_gain_ratios` draws them: two arrays,
    one value of each curve at the same index.

    The warmup matters: the 25M GPT warms up over 9 % of its 24,000 steps, so at 10 % of the run it has seen 5.5 % of
    its intrinsic time, and its early shape of 2.1 is that of a power law of exponent 0.5 (the published fit's), not 1.
    """

    def warmed_up(u):
        return np.clip(u / warmup, 0.0, 1.0) if warmup > 0 else np.ones_like(u)

    run_at = _law_values({"constant": warmed_up}, (0.1, 0.2, 0.4, 1.0), n, steps=steps, seed=seed, weights=weights,
                         config=config)["constant"]  # fmt: skip
    return early_shape(run_at, 1.0), late_progress(run_at, 1.0)


def _law_values(schedules: dict, points: tuple[float, ...], n: int, *, steps: float, seed: int, weights, config) -> dict:
    """The laws' losses at normalized times ``points`` of ``n`` drawn curves under each of ``schedules`` (label ->
    ``lr_at(u)`` relative to its peak), the same draws under every schedule, with the early transient as the prior draws
    it (a run's shape from 10 % of it on may still carry it): label -> ``run_at(u)``, the ``(n,)`` losses at a point
    ``u`` of ``points``, which the statistics above take as they take a real run's."""
    import torch

    from priors.config import SOURCES, PriorConfig
    from priors.laws import SCHEDULE_LAWS, at_horizon, early_transient, schedule_law_priors
    from priors.parameters import params_from_uniform
    from priors.sample import transient_from_uniform
    from priors.schedules import interpolate, schedule_grid

    config = config or PriorConfig()
    if weights is None:
        w = dict(zip(SOURCES, config.source_weights))
        weights = {name: w[name] for name in SCHEDULE_LAWS}
    total = sum(weights.values())
    u = np.linspace(0.0, 1.0, 1025)
    at = np.asarray(points)
    grids = {label: schedule_grid(u, np.asarray(lr_at(u), float)) for label, lr_at in schedules.items()}
    g = torch.Generator().manual_seed(seed)
    out = {label: [] for label in schedules}
    for name, weight in weights.items():
        law, priors = SCHEDULE_LAWS[name], schedule_law_priors(name, config.laws)
        k = int(round(n * weight / total))
        drawn = params_from_uniform(priors, torch.rand(k, len(priors), generator=g, dtype=torch.float64))
        params = law.law_params(at_horizon(name, {p: v.numpy() for p, v in drawn.items()}, steps, config.laws))
        transient_u = torch.rand(k, 3, generator=g, dtype=torch.float64)
        size, time = (v.numpy() for v in transient_from_uniform(transient_u, torch.from_numpy(params["A"]), config))
        for label, grid in grids.items():
            s1 = interpolate(u, grid.s1, at)[None, :]
            loss = law.fn(at[None, :], s1, _rows(grid, k), **params) + early_transient(s1, size, time)
            out[label].append(loss)  # (k, len(points))
    values = {label: np.concatenate(v) for label, v in out.items()}
    return {label: lambda u, v=v: v[:, points.index(u)] for label, v in values.items()}


def _rows(grid, k: int):
    from priors.schedules import ScheduleGrid

    return ScheduleGrid(*(np.broadcast_to(f, (k, len(f))) for f in grid))


def prior_statistic(statistic, *, n: int = 4000, n_points: int = 60, seed: int = 0, config=None, keep=None) -> np.ndarray:
    """``statistic(x, y, lr, direction)`` of ``n`` prior curves (raw values: no affine map), NaNs dropped.

    ``keep(batch) -> bool mask`` selects the curves it applies to (e.g. one source).
    """
    import dataclasses

    import torch

    from priors.config import PriorConfig
    from priors.sample import sample

    config = dataclasses.replace(config or PriorConfig(), p_affine=0.0)
    b = sample(torch.Generator().manual_seed(seed), n, n_points, config=config)
    mask = np.ones(n, bool) if keep is None else keep(b).numpy()
    x, y, lr, d = (b.x.double().numpy(), b.y.double().numpy(), b.lr.double().numpy(), b.direction.double().numpy())
    values = np.array([statistic(x[i], y[i], lr[i], d[i]) for i in np.flatnonzero(mask)])
    return values[np.isfinite(values)]
