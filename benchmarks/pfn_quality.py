"""Prediction quality of a PFN model: `python benchmarks/pfn_quality.py [--model PATH]`.

1. LC-PFN's reference benchmark: curves of LC-PFN's own prior (pow3 + ilog2 +
   janoschek, 100 epochs), mean log-likelihood of every unseen point in raw
   units at cutoffs 10/20/40/80 %, next to the figures the LC-PFN paper reports.
2. Held-out curves of our prior: log-likelihood per remaining point (units of the
   curve's range) and 90 % interval coverage.
3. Every real-curve file given (default ../shared/data/*.jsonl.gz and the LM
   curves of benchmarks/data/): the same figures and the final-value error, against
   a last-value and a power-law baseline, and the PFN with and without the
   learning-rate schedule (knowing the schedule must help, never hurt): the
   schedule's gain in log-likelihood, paired curve by curve, with its standard
   error and whether it lies over two of them from 0 ("better", "worse") or not ("tie"),
   and the 90 % coverage with its standard error (:func:`coverage_se`). Curves that show the same points up
   to a cutoff (cooldowns resumed from one run's checkpoints) count once in the
   standard errors: the number of such contexts is in brackets.
4. With ``--against OTHER.onnx``: each real file's log-likelihood of the model minus
   OTHER's, paired curve by curve, with and without the schedule (a variant against
   its control; a continuation at another seed alone moves these by 0.01-0.07).
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import lcpfn
from training.evaluate import (
    CUTOFFS,
    last_value,
    paired_difference,
    pfn,
    power_law,
    prior_curves,
    real_curves,
    real_dev_files,
    score,
    table,
)

PAPER = {
    "LC-PFN paper, 3 layers x 128, 1M curves": {0.1: 1.528, 0.2: 1.894, 0.4: 2.159, 0.8: 2.279},
    "LC-PFN paper, 12 layers x 512, 10M curves": {0.1: 1.758, 0.2: 2.133, 0.4: 2.403, 0.8: 2.519},
    "MCMC (paper, 103 s per curve)": {0.1: 1.642, 0.2: 1.956, 0.4: 2.285, 0.8: 2.486},
}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", help="exported .onnx (default: the shipped model)")
    p.add_argument("--n-lcpfn", type=int, default=1000, help="curves of LC-PFN's prior")
    p.add_argument("--n-prior", type=int, default=2000, help="held-out curves of our prior")
    p.add_argument("--data", nargs="*", default=real_dev_files())
    p.add_argument("--only-real", action="store_true", help="skip the two prior suites")
    p.add_argument("--against", help="another exported .onnx: print the model's log-likelihood minus its, paired")
    args = p.parse_args()
    model = lcpfn.load(args.model)
    other = lcpfn.load(args.against) if args.against else None
    print(f"model: {model.name} ({model.card['n_params']:,} parameters, {model.card['training']['curves_seen']:,} curves seen)\n")

    if not args.only_real:
        prior_suites(model, args.n_lcpfn, args.n_prior)
    for path in args.data:
        curves = real_curves(path)
        ids = {c.id for c in curves if c.schedule is not None}  # the curves whose schedule can be withheld
        rows = {model.name: score(curves, pfn(model))}
        if ids:
            rows[f"{model.name} without schedule"] = score(curves, pfn(model, use_schedule=False))
        rows |= {"last value": score(curves, last_value), "power law": score(curves, power_law)}
        print(f"## {Path(path).name}: {len(curves)} curves\n")
        for metric in ("ll", "cover90", "final_abs_err"):
            print(table(rows, metric) + "\n")
        print(coverage_line(rows[model.name]) + "\n")
        if ids:
            print(schedule_gain(rows[model.name], rows[f"{model.name} without schedule"], ids) + "\n")
        if other is not None:
            for use in (True, False) if ids else (True,):
                theirs = score(curves, pfn(other, use_schedule=use))
                ours = rows[model.name] if use else rows[f"{model.name} without schedule"]
                print(model_gap(ours, theirs, args.against, "" if use else ", both without the schedule") + "\n")


def schedule_gain(with_schedule: dict, without: dict, ids: set[str]) -> str:
    """One line: log-likelihood with minus without the schedule per cutoff, paired over the curves ``ids`` (those that
    have a schedule: on the others the two are the same prediction)."""
    gaps = [
        paired_difference(with_schedule[c]["ll_by_curve"], without[c]["ll_by_curve"], ids, with_schedule[c]["context_by_curve"])
        for c in CUTOFFS
    ]
    return f"schedule's gain in ll (with - without, {_per_cutoff(gaps)}"


def model_gap(ours: dict, theirs: dict, name: str, note: str = "") -> str:
    """One line: this model's log-likelihood minus another's per cutoff, paired over the curves both scored."""
    gaps = [
        paired_difference(ours[c]["ll_by_curve"], theirs[c]["ll_by_curve"], contexts=ours[c]["context_by_curve"]) for c in CUTOFFS
    ]
    return f"ll minus {name}'s{note} ({_per_cutoff(gaps)}"


def coverage_line(rows: dict) -> str:
    """One line: the 90 % coverage per cutoff ± one standard error [contexts], and where it lies against 0.85-0.95."""
    parts = []
    for c in CUTOFFS:
        r = rows[c]
        n = len(set(r["context_by_curve"].values()))
        se = coverage_se(r["cover90"], r["cover90_se"], n)
        parts.append(f"{round(100 * c)} % {r['cover90']:.3f} ± {se:.3f} [{n}] ({_against_range(r['cover90'], se)})")
    head = "90 % coverage (± one standard error [contexts]; nominal 0.9, the issue's range 0.85-0.95)"
    return f"{head}: " + "; ".join(parts)


def coverage_se(cover: float, spread_se: float, contexts: int, low: float = 0.85, high: float = 0.95) -> float:
    """The larger of the contexts' spread (``cover90_se``) and a binomial count of ``contexts`` at the range's nearer end.

    A curve's later points move together, so a context is about one draw of "covered or not": six runs all covered say
    little against 0.95 (a 0.74 chance if it were true), though their spread is 0. So the standard error is at least
    ``sqrt(b (1 - b) / contexts)`` with ``b`` the end of 0.85-0.95 nearer the coverage.
    """
    end = high if cover >= (low + high) / 2 else low
    floor = math.sqrt(end * (1.0 - end) / max(contexts, 1))
    return max(spread_se, floor) if math.isfinite(spread_se) else floor  # one context has no spread (NaN)


def _against_range(value: float, se: float, low: float = 0.85, high: float = 0.95, z: float = 2.0) -> str:
    """``"above"``/``"below"`` the range where ``value`` lies over ``z`` standard errors beyond its end, else ``"inside"``
    (or ``"inside by its noise"`` where the value itself lies outside)."""
    if value > high + z * se:
        return "above"
    if value < low - z * se:
        return "below"
    return "inside" if low <= value <= high else "inside by its noise"


def _per_cutoff(gaps: list) -> str:
    """``paired over N curves, ± one standard error [contexts]): 10 % +0.010 ± 0.004 [N] (better); ...``"""
    parts = [f"{round(100 * c)} % {d} [{d.n}] ({d.verdict()})" for c, d in zip(CUTOFFS, gaps)]
    return f"paired over {gaps[0].curves} curves, ± one standard error [contexts]): " + "; ".join(parts)


def prior_suites(model, n_lcpfn: int, n_prior: int) -> None:
    t = time.time()
    res = score(prior_curves(n_lcpfn, lcpfn_only=True), pfn(model), raw_units=True)
    rows = {f"{model.name} (ours)": res} | {k: {c: {"ll": v} for c, v in d.items()} for k, d in PAPER.items()}
    print(f"## LC-PFN prior, {n_lcpfn} curves: mean log-likelihood of unseen points (higher is better)\n")
    print(table(rows, "ll") + f"\n\n({time.time() - t:.0f} s)\n")

    res = score(prior_curves(n_prior), pfn(model))
    print(f"## Our prior, {n_prior} held-out curves\n")
    print(table({model.name: res}, "ll") + "\n")
    print(table({model.name: res}, "cover90") + "\n")


if __name__ == "__main__":
    main()
