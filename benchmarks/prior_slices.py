"""Does the model know its own prior, slice by slice? `python benchmarks/prior_slices.py [--model PATH]`.

When knowing the schedule hurts on real curves (`benchmarks/schedule_value.py`), either the prior is wrong about
such curves or the model has not learned its prior there. This tells the two apart: it draws held-out curves from
the prior that trained the model (the card's ``prior.config``, not the dataclass's defaults), keeps those with a
known schedule, and scores the model with and without the schedule on slices of them.

A slice is chosen only by what the model sees: the run's length (under or over 500 steps), lower or higher is better,
whether the schedule starts with a warmup (the lr at the first logged point below half its peak) and whether the
first tenth of the points creeps (improves by under 5 % of its first value). An exact posterior covers its 90 %
interval 0.90 of the time on any such slice, and its log-likelihood with the schedule is at least that without it
(more information never lowers the expected log score). On a slice chosen by something the model does not see, such
as which prior source drew the curve or whether a value without bounds is a loss or an error rate, neither holds.

For each slice it prints the number of curves, the 90 % coverage of the remaining points with and without the
schedule, and the log-likelihood (units of the clean curve's range) with minus without, at cutoffs 10/20/40/80 %.
"""

from __future__ import annotations

import argparse
from collections import defaultdict

import lcpfn
from priors.checks import starts_with_warmup
from priors.config import PriorConfig
from priors.config_json import config_from_json
from training.evaluate import CUTOFFS, EvalCurve, pfn, prior_curves, score

SHORT_RUN = 500  # steps: the schedule laws draw no shorter runs (PriorConfig.law_horizon)
CREEP = 0.05  # improvement over the first tenth, x |first value|, below which a context creeps


def slice_of(curve: EvalCurve) -> str:
    """``"<short|long> <loss-like|accuracy-like>, <warmup|no warmup>, <creeping|improving>"`` from what the model sees
    of a curve with a known schedule: its planned length, direction, lr and first tenth of values."""
    length = "short" if curve.horizon < SHORT_RUN else "long"
    kind = "loss-like" if curve.direction == "min" else "accuracy-like"
    warmup = "warmup" if starts_with_warmup(curve.schedule[1]) else "no warmup"
    n_ctx, _ = curve.cut(CUTOFFS[0])
    sign = -1.0 if curve.direction == "min" else 1.0
    gain = sign * (curve.y[n_ctx - 1] - curve.y[0]) / max(abs(curve.y[0]), 1e-12)
    creep = "creeping" if gain < CREEP else "improving"
    return f"{length} {kind}, {warmup}, {creep}"


def slices(curves: list[EvalCurve], per_slice: int) -> dict[str, list[EvalCurve]]:
    """Curves with a known schedule by :func:`slice_of`, at most ``per_slice`` each, in a stable order."""
    out = defaultdict(list)
    for c in curves:
        if c.schedule is not None and c.horizon is not None:
            group = out[slice_of(c)]
            if len(group) < per_slice:
                group.append(c)
    return dict(sorted(out.items()))


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", help="exported .onnx (default: the shipped model)")
    p.add_argument("--curves", type=int, default=20_000, help="prior curves drawn (about 3 in 4 have a known schedule)")
    p.add_argument("--per-slice", type=int, default=300, help="curves scored per slice at most")
    p.add_argument("--points", type=int, default=50, help="points per curve (a tenth of them is the first context)")
    p.add_argument("--seed", type=int, default=20261205)
    args = p.parse_args(argv)
    model = lcpfn.load(args.model)
    prior = config_from_json(PriorConfig, model.card["prior"]["config"], where="prior.config.")
    curves = prior_curves(args.curves, seed=args.seed, n_points=args.points, config=prior)
    with_schedule, without = pfn(model), pfn(model, use_schedule=False)
    cut = "/".join(f"{round(100 * c)}" for c in CUTOFFS) + " %"
    print(f"model: {model.name}; {args.curves:,} curves of its training prior, {args.points} points each\n")
    print(f"| slice | curves | cover90 with the schedule, {cut} | cover90 without | LL with - without |")
    print("|---|---|---|---|---|")
    for name, group in slices(curves, args.per_slice).items():
        w, wo = score(group, with_schedule), score(group, without)
        cover_w = " / ".join(f"{w[c]['cover90']:.3f}" for c in CUTOFFS)
        cover_wo = " / ".join(f"{wo[c]['cover90']:.3f}" for c in CUTOFFS)
        diff = " / ".join(f"{w[c]['ll'] - wo[c]['ll']:+.3f}" for c in CUTOFFS)
        print(f"| {name} | {len(group)} | {cover_w} | {cover_wo} | {diff} |")


if __name__ == "__main__":
    main()
