"""Does the prior itself expect what a real run did next? `python benchmarks/prior_conditional.py [--model PATH]`.

The PFN learns its prior's posterior, so where a real run's future lies far in its predictive's tail, either the
network misses what the prior says or the prior says the wrong thing. This tells the two apart on real prefixes
(approximate Bayesian computation): draws of the schedule-aware laws (one parameter draw each, weighed by the prior's
source weights, with its early transient) are evaluated under the run's actual schedules, as the sampler evaluates them
(:func:`priors.sample.law_curves`), and kept where their prefix has the real one's shape: the values over the drop from
10 % of the prefix to its end, shifted to end at 0, nearest the real ones in root mean square (the ``--keep`` share of
the draws). Among the kept draws, where the real outcome lies, and where the model's median does:

* for each what-if pair (`benchmarks/what_if.py`: a constant-lr parent's prefix, a branch's planned cooldown), the
  cooldown's gain (the parent's loss at the branch's last step minus the branch's final loss), over that drop;
* for each ``--run FILE ID PREFIX`` (steps), the fall from the prefix's end to the run's last step under its own
  schedule, over that drop.

A rank near 0.5 for the truth and for the model says both agree with the prior; the truth in a tail with the model near
0.5 says the prior is off there (the network learned it); the model off while the truth is central says the network is.
A schedule not logged before the first point (the 25M GPT's 2,160 warmup steps) rises linearly from 0 to it.
Matching the shape alone leaves the level free (a loss's distance from 0), as the prior's affine maps do on half of its
curves.
"""

from __future__ import annotations

import argparse
import gzip
import json
from pathlib import Path

import numpy as np
import torch

import lcpfn
from benchmarks.what_if import DEFAULT_FILES, Pair, pairs_from, pfn
from priors.config import SOURCES, PriorConfig
from priors.laws import at_horizon, schedule_law_priors, schedule_laws
from priors.parameters import params_from_uniform
from priors.sample import law_curves, transient_from_uniform
from priors.schedules import schedule_grid

LEVELS = (0.05, 0.25, 0.5, 0.75, 0.95)


def relative_lr(schedule: tuple[np.ndarray, np.ndarray], peak: float, u: np.ndarray, horizon: float) -> np.ndarray:
    """The schedule ``(steps, lr)`` over ``peak`` at normalized times ``u``, rising linearly from 0 before its first step."""
    steps, lr = (np.asarray(v, float) for v in schedule)
    if steps[0] > 0:
        steps, lr = np.append(0.0, steps), np.append(0.0, lr)
    return np.interp(u * horizon, steps, lr / peak)


def reference(x: np.ndarray) -> int:
    """The index of the prefix's point at 10 % of its span: the prefix's drop is measured from there."""
    return int(np.argmin(np.abs(x - x[0] - 0.1 * (x[-1] - x[0]))))


def shape(y: np.ndarray, ref: int) -> tuple[np.ndarray, np.ndarray]:
    """``(y - y_end) / (y_ref - y_end)`` of rows ``y`` ``(k, n)``, and that drop ``(k,)``."""
    drop = y[:, ref] - y[:, -1]
    return (y - y[:, -1:]) / drop[:, None], drop


def conditional(x: np.ndarray, y: np.ndarray, schedules: dict, horizon: float, *, n: int, keep: float, seed: int,
                config: PriorConfig | None = None) -> tuple[dict[str, np.ndarray], float]:  # fmt: skip
    """The kept draws' values at ``horizon`` minus at the prefix's end, over the prefix's drop (see the module's
    docstring), under each of ``schedules`` (label -> (steps, lr)): label -> ``(kept,)``, the same draws in each; and
    the real prefix's drop, the unit a truth or a prediction is compared with them in."""
    cfg = config or PriorConfig()
    laws = schedule_laws(cfg.laws)
    weights = {name: w for name, w in zip(SOURCES, cfg.source_weights) if name in laws}
    total = sum(weights.values())
    peak = max(float(np.max(lr)) for _, lr in schedules.values())
    gu = torch.linspace(0.0, 1.0, cfg.grid_size + 1, dtype=torch.float64)[None]
    lrs = {
        label: torch.tensor(relative_lr(schedule, peak, gu[0].numpy(), horizon))[None] for label, schedule in schedules.items()
    }
    times = torch.tensor(np.append(x / horizon, 1.0))[None]
    ref = reference(x)
    real, real_drop = shape(y[None, :], ref)
    if not real_drop[0] > 0:
        raise ValueError(f"y: the prefix must fall from 10 % of it to its end, got {y[ref]:g} -> {y[-1]:g}")
    g = torch.Generator().manual_seed(seed)
    dist, out = [], {label: [] for label in schedules}
    for name, law in laws.items():
        k = int(round(n * weights[name] / total))
        priors = schedule_law_priors(name, cfg.laws)
        drawn = params_from_uniform(priors, torch.rand(k, len(priors), generator=g, dtype=torch.float64))
        steps = torch.full((k, 1), horizon, dtype=torch.float64)
        params = law.law_params(at_horizon(name, drawn, steps, cfg.laws, torch), torch)
        transient = transient_from_uniform(torch.rand(k, 3, generator=g, dtype=torch.float64), params["A"], cfg)
        for i, (label, lr) in enumerate(lrs.items()):
            grid = schedule_grid(gu.expand(k, -1), lr.expand(k, -1), xp=torch)
            values = law_curves(law.fn, grid, times.expand(k, -1), params, transient).numpy()
            z, drop = shape(values[:, :-1], ref)
            if i == 0:  # the prefix is the same under every schedule: its shape decides which draws stay
                dist.append(np.where(drop > 0, np.sqrt(np.mean((z - real) ** 2, axis=1)), np.inf))
            out[label].append((values[:, -2] - values[:, -1]) / drop)
    d = np.concatenate(dist)
    d = np.where(np.isfinite(d), d, np.inf)
    kept = d <= np.quantile(d, keep)
    return {label: np.concatenate(v)[kept] for label, v in out.items()}, float(real_drop[0])


def rank(values: np.ndarray, v: float) -> float:
    return float(np.mean(values < v))


def _row(name: str, values: np.ndarray, true: float, predicted: float) -> str:
    q = " / ".join(f"{v:.3f}" for v in np.quantile(values, LEVELS))
    return f"| {name} | {q} | {true:.3f} ({rank(values, true):.2f}) | {predicted:.3f} ({rank(values, predicted):.2f}) |"


def pair_gains(p: Pair, *, n: int, keep: float, seed: int) -> tuple[np.ndarray, float, float]:
    """The kept draws' cooldown gains of a what-if pair, its true gain, both over the prefix's drop, and that drop."""
    under = {"parent": p.parent_schedule, "branch": p.branch_schedule}
    falls, drop = conditional(p.x_prefix, p.y_prefix, under, p.x_final, n=n, keep=keep, seed=seed)
    return falls["branch"] - falls["parent"], (p.y_parent_final - p.y_final) / drop, drop


def pair_row(model, p: Pair, *, n: int, keep: float, seed: int) -> str:
    """The cooldown gain of a what-if pair: the conditional's quantiles, the truth's and the model's rank."""
    branch, _, _, parent = pfn(model)(p)  # the medians benchmarks/what_if.py scores the model by
    gains, true, drop = pair_gains(p, n=n, keep=keep, seed=seed)
    return _row(p.id, gains, true, (parent - branch) / drop)


def run_row(model, path: Path, run_id: str, prefix: float, *, n: int, keep: float, seed: int, stride: int) -> str:
    """The fall of a run from ``prefix`` steps to its last step under its own schedule."""
    with gzip.open(path, "rt") as f:
        r = next((rec for rec in map(json.loads, f) if rec["id"] == run_id), None)
    if r is None:
        raise SystemExit(f"--run: no run {run_id!r} in {path}")
    x, y, lr = (np.asarray(r[k], float) for k in ("x", "y", "lr"))
    horizon = float(x[-1])
    seen = x <= prefix
    if seen.sum() < 5 or prefix >= horizon:
        raise SystemExit(f"--run {run_id}: the prefix must hold 5 points and end before step {horizon:g}, got {prefix:g}")
    xs, ys = x[seen], y[seen]
    kw = {"direction": "min", "bounds": (0.0, None), "horizon": horizon}
    median = float(model.predict(xs, ys, [horizon], schedule=(x, lr), **kw).median[0])
    xs_fit, ys_fit = xs[xs > 0], ys[xs > 0]
    xs_fit, ys_fit = xs_fit[::-1][::stride][::-1], ys_fit[::-1][::stride][::-1]  # every stride-th, the last one kept
    falls, drop = conditional(xs_fit, ys_fit, {"own": (x, lr)}, horizon, n=n, keep=keep, seed=seed)
    true, predicted = (ys[-1] - y[-1]) / drop, (ys[-1] - median) / drop
    return _row(f"{run_id} from {prefix:,.0f}", falls["own"], true, predicted)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", help="exported .onnx (default: the shipped model)")
    p.add_argument("--pairs", nargs="*", type=Path, default=list(DEFAULT_FILES), help="files of what-if pairs")
    p.add_argument("--run", nargs=3, action="append", default=[], metavar=("FILE", "ID", "PREFIX"),
                   help="a run, and the step its prefix ends at; repeatable")  # fmt: skip
    p.add_argument("--draws", type=int, default=120_000, help="draws of the laws per row")
    p.add_argument("--keep", type=float, default=0.005, help="share of the draws kept, nearest in shape")
    p.add_argument("--stride", type=int, default=1, help="every stride-th prefix point of a --run (per-step logs)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    if not 0 < args.keep < 1:
        raise SystemExit(f"--keep must be a share in (0, 1), got {args.keep}")
    if args.draws * args.keep < 10:
        raise SystemExit(f"--draws x --keep must keep at least 10 draws, got {args.draws} x {args.keep}")
    if args.stride < 1:
        raise SystemExit(f"--stride must be at least 1, got {args.stride}")
    model = lcpfn.load(args.model) if args.model else lcpfn.load()
    opts = {"n": args.draws, "keep": args.keep, "seed": args.seed}
    columns = "| conditional 5/25/50/75/95 % | truth (rank) | model's median (rank) |"
    pairs = [pair for path in args.pairs for pair in pairs_from(path)]
    if pairs:
        print(f"Cooldown gain over the prefix's drop from 10 % of it, {len(pairs)} what-if pairs:")
        print(f"| pair {columns}\n|---|---|---|---|")
        for pair in pairs:
            print(pair_row(model, pair, **opts), flush=True)
    if args.run:
        print("\nFall from the prefix's end to the run's last step under its own schedule, over the same drop:")
        print(f"| run {columns}\n|---|---|---|---|")
        for path, run_id, prefix in args.run:
            print(run_row(model, Path(path), run_id, float(prefix), stride=args.stride, **opts), flush=True)


if __name__ == "__main__":
    main()
