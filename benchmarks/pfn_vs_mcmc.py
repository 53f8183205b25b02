"""PFN against the MCMC baseline under the same prior: `python benchmarks/pfn_vs_mcmc.py`.

On held-out prior curves and real curves from ../shared/data, at cutoffs
10/20/40/80 %: the mean negative log-likelihood of the remaining points (units of
the curve's range) of both, the median ratio of their times per prediction, and how
often MCMC converged (r-hat <= 1.01 and bulk ESS >= 400 of the prediction, as
``lcpfn.mcmc`` reports them). Targets: PFN NLL no worse than MCMC on prior curves;
MCMC converged on >= 90 % of fits at a median <= 30 s.

The defaults (100 + 50 curves x 4 cutoffs = 600 MCMC fits of 10-60 s) take hours
on 2 cores, so every fit is appended to ``--results`` as it finishes and a rerun
resumes where the last stopped (``--report-only`` prints the table of what is
there). Curves are visited prior and real in turn, all cutoffs of a curve
together, so a partial run covers every row. MCMC fits that produce no draws
within the budget are counted and left out; NLLs (mean, median, and how often the
PFN's is lower) compare both methods on the fits MCMC finished (the PFN's mean over
all curves is printed beside it). Medians matter on real curves: where values
repeat exactly, MCMC's noise scale collapses and its density explodes.
"""

from __future__ import annotations

import argparse
import glob
import json
import math
import random
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / ".." / "shared" / "data"
RESULTS = ROOT / "benchmarks" / "results" / "pfn_vs_mcmc.jsonl"


def _fits(args) -> list[tuple[str, object, float]]:
    """(suite, curve, cutoff) in visiting order: prior and real curves in turn."""
    from training.evaluate import prior_curves, real_curves

    real = [c for f in sorted(glob.glob(str(DATA / "*.jsonl.gz"))) for c in real_curves(f)]
    random.Random(0).shuffle(real)
    suites = {"prior": prior_curves(args.n_prior, seed=777), "real": real[: args.n_real]}
    order = []
    for i in range(max(len(v) for v in suites.values())):
        for name, curves in suites.items():
            if i < len(curves):
                order += [(name, curves[i], c) for c in args.cutoffs]
    return order


def run(args) -> None:
    import lcpfn
    from lcpfn.errors import BudgetExceededError
    from lcpfn.mcmc import MCMCExtrapolator
    from training.evaluate import pfn, score

    model = lcpfn.load()
    mcmc = MCMCExtrapolator(draws=args.draws, chains=args.chains, time_budget_s=args.time_budget)
    last = {}

    def run_mcmc(curve, n_ctx, xq):
        pred = pfn(mcmc)(curve, n_ctx, xq)
        last["diagnostics"] = pred.diagnostics
        return pred

    done = {(r["suite"], r["curve"], r["cutoff"]) for r in _records(args.results)}
    args.results.parent.mkdir(parents=True, exist_ok=True)
    settings = {"draws": args.draws, "chains": args.chains, "budget_s": args.time_budget, "model": model.name}
    todo = [f for f in _fits(args) if (f[0], f[1].id, f[2]) not in done]
    print(f"{len(done)} fits already in {args.results}, {len(todo)} to go", flush=True)
    for suite, curve, cutoff in todo:
        a = score([curve], pfn(model), cutoffs=(cutoff,))[cutoff]
        # One call's time is noisy at 2 ms: the median of five (MCMC's 10-120 s needs no such care).
        a["ms"] = float(np.median([score([curve], pfn(model), cutoffs=(cutoff,))[cutoff]["ms"] for _ in range(5)]))
        last.clear()
        b = score([curve], run_mcmc, cutoffs=(cutoff,), tolerate=(BudgetExceededError,))[cutoff]
        diag = last.get("diagnostics", {})
        record = {
            "suite": suite,
            "curve": curve.id,
            "cutoff": cutoff,
            **settings,
            "pfn_ll": a["ll"],
            "pfn_ms": a["ms"],
            "mcmc_ll": None if b["failed"] else b["ll"],
            "mcmc_ms": None if b["failed"] else b["ms"],
            "mcmc_out_of_time": bool(b["failed"]),
            **{k: diag.get(k) for k in ("rhat_max", "ess_bulk_min", "rhat_coordinates_max", "ess_coordinates_min",
                                        "compile_seconds", "stages", "moves")},
        }  # fmt: skip
        with open(args.results, "a") as f:  # one line per fit: a killed run loses at most the fit in flight
            f.write(json.dumps(record) + "\n")
        print(
            f"{suite} {curve.id} {int(100 * cutoff)} %: PFN NLL {-a['ll']:.3f}, MCMC "
            + ("out of time" if b["failed"] else f"NLL {-b['ll']:.3f} in {b['ms'] / 1e3:.1f} s, r-hat {diag['rhat_max']:.3f}"),
            flush=True,
        )


def _records(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def report(path: Path) -> str:
    records = _records(path)
    if not records:
        return f"no results in {path}"
    r0 = records[0]
    lines = [
        f"PFN {r0['model']} vs MCMC (SMC, {r0['draws']} particles x {r0['chains']} chains, "
        f"budget {r0['budget_s']:.0f} s), "
        f"{len(records)} fits from {path.name}",
        "",
        "| suite | cutoff | curves | MCMC finished | MCMC converged | PFN NLL | MCMC NLL | PFN median NLL | MCMC median NLL | "
        "PFN wins | PFN NLL (all curves) | PFN ms | MCMC s | time ratio |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for suite in ("prior", "real"):
        for cutoff in sorted({r["cutoff"] for r in records}):
            rows = [r for r in records if r["suite"] == suite and r["cutoff"] == cutoff]
            if not rows:
                continue
            fin = [r for r in rows if not r["mcmc_out_of_time"]]
            pfn_ms = float(np.median([r["pfn_ms"] for r in rows]))
            mcmc_s = float(np.median([r["mcmc_ms"] for r in fin])) / 1e3 if fin else math.nan
            pfn_nll = -np.array([r["pfn_ll"] for r in fin])
            mcmc_nll = -np.array([r["mcmc_ll"] for r in fin])
            stats = [np.mean(pfn_nll), np.mean(mcmc_nll), np.median(pfn_nll), np.median(mcmc_nll)] if fin else [math.nan] * 4
            wins = f"{int(np.sum(pfn_nll < mcmc_nll))}/{len(fin)}"
            lines.append(
                f"| {suite} | {int(100 * cutoff)} % | {len(rows)} | {len(fin)} | {sum(map(_converged, fin))} | "
                + " | ".join(f"{v:.3f}" for v in stats)
                + f" | {wins} | {-float(np.mean([r['pfn_ll'] for r in rows])):.3f} | {pfn_ms:.1f} | {mcmc_s:.1f} | "
                f"{1e3 * mcmc_s / pfn_ms:,.0f}x |"
            )
    fin = [r for r in records if not r["mcmc_out_of_time"]]
    if fin:
        ratio = np.median([r["mcmc_ms"] for r in fin]) / np.median([r["pfn_ms"] for r in records])
        per_fit = np.median([r["mcmc_ms"] / r["pfn_ms"] for r in fin])
        lines += [
            "",
            f"All suites and cutoffs: median MCMC fit {np.median([r['mcmc_ms'] for r in fin]) / 1e3:.1f} s, "
            f"median PFN prediction {np.median([r['pfn_ms'] for r in records]):.2f} ms, ratio of the medians {ratio:,.0f}x, "
            f"median of the per-fit ratios {per_fit:,.0f}x; {len(records) - len(fin)} of {len(records)} MCMC fits out of time; "
            f"{sum(map(_converged, fin))} of {len(fin)} converged (r-hat <= {RHAT_TARGET} and bulk ESS >= {ESS_TARGET} "
            f"of the prediction; of every coordinate: {sum(_converged(r, 'coordinates') for r in fin)}).",
        ]
    return "\n".join(lines)


RHAT_TARGET, ESS_TARGET = 1.01, 400


def _converged(r: dict, of: str = "prediction") -> bool:
    rhat, ess = (r.get("rhat_max"), r.get("ess_bulk_min")) if of == "prediction" else (
        r.get("rhat_coordinates_max"), r.get("ess_coordinates_min"))  # fmt: skip
    return rhat is not None and ess is not None and rhat <= RHAT_TARGET and ess >= ESS_TARGET


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n-prior", type=int, default=100)
    p.add_argument("--n-real", type=int, default=50)
    p.add_argument("--cutoffs", default="0.1,0.2,0.4,0.8")
    p.add_argument("--draws", type=int, default=1000, help="SMC particles per chain")
    p.add_argument("--chains", type=int, default=2)
    p.add_argument("--time-budget", type=float, default=120.0, help="seconds per MCMC fit")
    p.add_argument("--results", type=Path, default=RESULTS, help="JSON lines, one per fit; resumed if present")
    p.add_argument("--report-only", action="store_true")
    args = p.parse_args()
    args.cutoffs = tuple(float(c) for c in args.cutoffs.split(","))
    if not args.report_only:
        run(args)
    print(report(args.results))


if __name__ == "__main__":
    main()
