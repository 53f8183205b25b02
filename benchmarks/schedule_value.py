"""Where knowing the schedule helps and where it hurts: `python benchmarks/schedule_value.py [--model PATH]`.

`benchmarks/pfn_quality.py` gives each real-curve file's log-likelihood with and without the learning-rate schedule;
this splits that comparison by what the curve is, so that a gap points at the part of the prior to look at: the
schedule's shape read from the logged lr (:func:`priors.checks.lr_shape`: constant, a full decay, a late cooldown or
other, such as steps and inverse-sqrt), whether it starts with a warmup (the lr at the first logged point below half
its peak: on small networks most of the schedule's cost sat there) and the metric (a loss or an accuracy-like value).
For each file and group it prints the number of curves, the mean log-likelihood of the remaining points with the
schedule (units of the curve's range) and the difference with minus without at cutoffs 10/20/40/80 %, paired curve by
curve, with its standard error (curves that show the same points up to the cutoff, branches of one run, count once in
it); negative differences are where the schedule hurts. Only curves with a schedule are used.
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from pathlib import Path

import lcpfn
from priors.checks import lr_shape, starts_with_warmup
from training.evaluate import CUTOFFS, paired_difference, pfn, real_curves, real_dev_files, score


def groups_of(curves) -> dict[str, list]:
    """Curves with a schedule by ``"<lr shape> <loss|accuracy-like>[, warmup]"``, in a stable order."""
    out = defaultdict(list)
    for c in curves:
        if c.schedule is not None:
            kind = "loss" if c.direction == "min" else "accuracy-like"
            warmup = ", warmup" if starts_with_warmup(c.schedule[1]) else ""
            out[f"{lr_shape(*c.schedule)} {kind}{warmup}"].append(c)
    return dict(sorted(out.items()))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", help="exported .onnx (default: the shipped model)")
    p.add_argument("--data", nargs="*", default=real_dev_files())
    args = p.parse_args()
    model = lcpfn.load(args.model)
    with_schedule, without = pfn(model), pfn(model, use_schedule=False)
    cut = "/".join(f"{round(100 * c)}" for c in CUTOFFS) + " %"
    print(f"model: {model.name}\n")
    print(f"| file | group | curves | LL with the schedule, {cut} | with - without ± one standard error, {cut} |")
    print("|---|---|---|---|---|")
    for path in args.data:
        for group, curves in groups_of(real_curves(path)).items():
            w, wo = score(curves, with_schedule), score(curves, without)
            ll = " / ".join(f"{w[c]['ll']:.3f}" for c in CUTOFFS)
            gaps = [
                paired_difference(w[c]["ll_by_curve"], wo[c]["ll_by_curve"], contexts=w[c]["context_by_curve"]) for c in CUTOFFS
            ]
            diff = " / ".join(map(str, gaps))
            print(f"| {Path(path).name.removesuffix('.jsonl.gz')} | {group} | {len(curves)} | {ll} | {diff} |")


if __name__ == "__main__":
    main()
