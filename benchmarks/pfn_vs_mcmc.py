"""PFN against the MCMC baseline under the same prior: `python benchmarks/pfn_vs_mcmc.py`.

On held-out prior curves and real curves from ../shared/data, at cutoffs
10/20/40/80 %: the mean negative log-likelihood of the remaining points (units of
the curve's range) of both, and the median ratio of their times per prediction.
Targets: PFN NLL no worse than MCMC on prior curves; time ratio >= 10,000x.
MCMC fits that produce no draws within the budget are left out of MCMC's scores
and counted (the PFN is scored on every curve).
The defaults (100 + 50 curves) take hours of MCMC; --n-prior/--n-real shrink them.
"""

from __future__ import annotations

import argparse
import glob
import random
from pathlib import Path


import lcpfn
from lcpfn.errors import BudgetExceededError
from lcpfn.mcmc import MCMCExtrapolator
from training.evaluate import CUTOFFS, pfn, prior_curves, real_curves, score

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n-prior", type=int, default=100)
    p.add_argument("--n-real", type=int, default=50)
    p.add_argument("--cutoffs", default=",".join(str(c) for c in CUTOFFS))
    p.add_argument("--draws", type=int, default=500)
    p.add_argument("--tune", type=int, default=500)
    p.add_argument("--time-budget", type=float, default=120.0, help="seconds per MCMC fit")
    args = p.parse_args()
    cutoffs = tuple(float(c) for c in args.cutoffs.split(","))
    model = lcpfn.load()
    mcmc = MCMCExtrapolator(draws=args.draws, tune=args.tune, time_budget_s=args.time_budget)

    def run_mcmc(curve, n_ctx, xq):
        return mcmc.predict(curve.x[:n_ctx], curve.y[:n_ctx], xq, direction=curve.direction, bounds=curve.bounds, schedule=curve.schedule)

    real = [c for f in sorted(glob.glob(str(DATA / "*.jsonl.gz"))) for c in real_curves(f)]
    random.Random(0).shuffle(real)
    suites = {"prior": prior_curves(args.n_prior, seed=777), "real": real[: args.n_real]}
    print(f"PFN {model.name} vs MCMC (draws={args.draws}, tune={args.tune}, 2 chains, budget {args.time_budget:.0f} s)\n")
    print("| suite | cutoff | curves | PFN NLL | MCMC NLL | PFN ms | MCMC s | time ratio | MCMC out of time |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, curves in suites.items():
        if not curves:
            continue
        a = score(curves, pfn(model), cutoffs=cutoffs)
        b = score(curves, run_mcmc, cutoffs=cutoffs, tolerate=(BudgetExceededError,))
        for c in cutoffs:
            ratio = b[c]["ms"] / max(a[c]["ms"], 1e-9)
            print(f"| {name} | {int(c * 100)} % | {len(curves)} | {-a[c]['ll']:.3f} | {-b[c]['ll']:.3f} | {a[c]['ms']:.1f} | "
                  f"{b[c]['ms'] / 1e3:.1f} | {ratio:,.0f}x | {b[c]['failed']} |", flush=True)


if __name__ == "__main__":
    main()
