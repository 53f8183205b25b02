"""Early stopping replayed on real HPO runs: `python benchmarks/early_stopping.py [--orders 2]`.

Each group of `../shared/data/torch_real_dev.jsonl.gz` (or of `--data`, e.g. the small networks of other
tasks in `benchmarks/data/small_nets.jsonl.gz`: runs an HPO study would compare, of the same task, metric and
planned length) is replayed as an Optuna study, the runs arriving
in a random order and reporting one epoch at a time. For LCPFNPruner at
thresholds 0.01/0.05/0.1 and for Optuna's MedianPruner it prints the share of
epochs saved and the regret: how much worse the best final value found is than
the best final value of training every run to the end (in units of that group's
spread of final values, and raw). Beside them: Optuna's PercentilePruner,
SuccessiveHalvingPruner and HyperbandPruner, and the baseline "train every run k
epochs, continue only the best fifth at k" (Egele et al. 2024 found it hard to
beat), with the speed-up (epochs of training everything / epochs trained) and the
regret's mean, 95th percentile and max.

``--mcmc-subset N`` also replays N runs (spread over the groups) with the PFN and the
MCMC baseline deciding (LC-PFN's criterion, asked every ``--every`` epochs): epochs
saved, regret and the time per decision of each.
"""

from __future__ import annotations

import argparse
import gzip
import json
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import optuna

from lcpfn.integrations.optuna import LCPFNPruner

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "torch_real_dev.jsonl.gz"


def _groups(path: Path) -> dict[str, list[dict]]:
    groups = defaultdict(list)
    with gzip.open(path, "rt") as f:
        for line in f:
            r = json.loads(line)
            groups[f"{r['group']}/{r['metric']}/{r['meta']['planned_horizon']}"].append(r)
    return dict(groups)


def replay(runs: list[dict], order: np.ndarray, pruner: optuna.pruners.BasePruner) -> tuple[int, int, float]:
    """Epochs trained, epochs of training everything, best final value found."""
    direction = runs[0]["direction"]
    study = optuna.create_study(direction="minimize" if direction == "min" else "maximize", pruner=pruner)
    used = total = 0
    for i in order:
        run = runs[i]
        trial = study.ask()
        if run.get("lr"):  # each run's own planned schedule, known in advance
            trial.set_user_attr("lcpfn_schedule", {"steps": run["x"], "lr": run["lr"]})
        total += len(run["x"])
        for k, (x, y) in enumerate(zip(run["x"], run["y"]), start=1):
            trial.report(float(y), int(x))
            used += 1
            if k < len(run["x"]) and trial.should_prune():
                study.tell(trial, state=optuna.trial.TrialState.PRUNED)
                break
        else:
            study.tell(trial, float(run["y"][-1]))
    return used, total, study.best_value


def k_epochs(runs: list[dict], k: int, keep: float = 0.2) -> tuple[int, int, float]:
    """Train every run ``k`` epochs, continue only the best ``keep`` share of them at ``k``."""
    direction = runs[0]["direction"]
    sign = 1.0 if direction == "min" else -1.0
    at_k = np.array([sign * r["y"][min(k, len(r["y"])) - 1] for r in runs])
    kept = np.argsort(at_k)[: max(1, round(keep * len(runs)))]
    used = sum(min(k, len(r["x"])) for r in runs) + sum(len(runs[i]["x"]) - min(k, len(runs[i]["x"])) for i in kept)
    finals = [runs[i]["y"][-1] for i in kept]
    return used, sum(len(r["x"]) for r in runs), (min(finals) if direction == "min" else max(finals))


def decider_replay(runs: list[dict], order: np.ndarray, model, every: int) -> tuple[int, int, float, list[float]]:
    """Runs in ``order``, each asked every ``every`` epochs whether to stop (LC-PFN's criterion, ``model``
    predicting, against the best final value of the runs completed so far): epochs trained, epochs of training
    everything, best final value found, seconds per decision."""
    import lcpfn

    direction = runs[0]["direction"]
    horizon = max(r["meta"]["planned_horizon"] for r in runs)
    bounds = (0.0, 1.0) if runs[0]["metric"] == "accuracy" else (0.0, None)
    used = total = 0
    best, seconds = None, []
    for i in order:
        run = runs[i]
        schedule = (run["x"], run["lr"]) if run.get("lr") else None
        stopper = lcpfn.EarlyStopper(horizon, direction, bounds=bounds, schedule=schedule, model=model)
        n = len(run["x"])
        total += n
        stop_at = n
        for k in range(stopper.min_points, n, every):
            start = time.time()
            d = stopper.should_stop(run["x"][:k], run["y"][:k], best)
            seconds.append(time.time() - start)
            if d.stop:
                stop_at = k
                break
        used += stop_at
        if stop_at == n:
            final = run["y"][-1]
            best = final if best is None else (min(best, final) if direction == "min" else max(best, final))
    return used, total, best, seconds


def mcmc_subset(groups: dict[str, list[dict]], n: int, every: int, budget: float) -> None:
    """The PFN and the MCMC baseline as deciders on the same ``n`` runs (spread over the groups, one order each)."""
    import lcpfn
    from lcpfn.mcmc import MCMCExtrapolator

    per_group = max(1, -(-n // len(groups)))
    deciders = {"PFN": lcpfn.load(), "MCMC": MCMCExtrapolator(time_budget_s=budget)}
    print(f"\nPFN and MCMC deciding on {per_group} runs of each of {len(groups)} groups, asked every {every} epochs\n")
    print("| decider | epochs saved | regret: mean | max (spread units) | seconds per decision (median) |")
    print("|---|---|---|---|---|")
    for name, model in deciders.items():
        used = total = 0
        regrets, seconds = [], []
        for runs in groups.values():
            pick = [runs[i] for i in np.random.default_rng(0).permutation(len(runs))[:per_group]]
            finals = np.array([r["y"][-1] for r in pick])
            best = finals.min() if pick[0]["direction"] == "min" else finals.max()
            u, t, found, s = decider_replay(pick, np.arange(len(pick)), model, every)
            used, total = used + u, total + t
            regrets.append(abs(found - best) / (float(np.ptp(finals)) or 1.0))
            seconds += s
        print(f"| {name} | {1 - used / total:.1%} | {np.mean(regrets):.4f} | {np.max(regrets):.4f} | {np.median(seconds):.3f} |")


def _pruner(name: str, horizon: float, bounds):
    if name.startswith("LCPFNPruner"):
        threshold = float(name.split("=")[1].rstrip(")"))
        return LCPFNPruner(horizon=horizon, threshold=threshold, bounds=bounds)
    return {
        "MedianPruner(n_startup_trials=5)": lambda: optuna.pruners.MedianPruner(n_startup_trials=5),
        "PercentilePruner(25, n_startup_trials=5)": lambda: optuna.pruners.PercentilePruner(25.0, n_startup_trials=5),
        "SuccessiveHalvingPruner()": optuna.pruners.SuccessiveHalvingPruner,
        "HyperbandPruner()": optuna.pruners.HyperbandPruner,
    }[name]()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=str(DATA))
    p.add_argument("--orders", type=int, default=2, help="random run orders per group")
    p.add_argument("--k", default="3,5,10", help="epochs of the train-k-then-keep-the-best baseline")
    p.add_argument(
        "--mcmc-subset", type=int, default=0, help="also compare the PFN and the MCMC baseline as deciders on this many runs"
    )
    p.add_argument("--every", type=int, default=5, help="with --mcmc-subset: epochs between decisions")
    p.add_argument("--mcmc-budget", type=float, default=60.0, help="with --mcmc-subset: seconds per MCMC fit")
    args = p.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    groups = _groups(Path(args.data))
    names = [f"LCPFNPruner(threshold={t})" for t in (0.01, 0.05, 0.1)] + [
        "MedianPruner(n_startup_trials=5)", "PercentilePruner(25, n_startup_trials=5)", "SuccessiveHalvingPruner()",
        "HyperbandPruner()",
    ] + [f"train {k} epochs, keep the best 20 %" for k in map(int, args.k.split(","))]  # fmt: skip
    print(f"{len(groups)} groups, {sum(map(len, groups.values()))} runs, {args.orders} orders each\n")
    print("| method | epochs saved | speed-up | regret: mean | p95 | max (spread units) | mean (raw) | seconds |")
    print("|---|---|---|---|---|---|---|---|")
    for name in names:
        used = total = 0
        regrets, raw, start = [], [], time.time()
        for runs in groups.values():
            finals = np.array([r["y"][-1] for r in runs])
            best = finals.min() if runs[0]["direction"] == "min" else finals.max()
            spread = float(np.ptp(finals)) or 1.0
            horizon = max(r["meta"]["planned_horizon"] for r in runs)
            bounds = (0.0, 1.0) if runs[0]["metric"] == "accuracy" else (0.0, None)
            for seed in range(args.orders):
                if name.startswith("train "):
                    u, t, found = k_epochs(runs, int(name.split()[1]))
                else:
                    order = np.random.default_rng(seed).permutation(len(runs))
                    u, t, found = replay(runs, order, _pruner(name, horizon, bounds))
                used, total = used + u, total + t
                regrets.append(abs(found - best) / spread)
                raw.append(abs(found - best))
        print(
            f"| {name} | {1 - used / total:.1%} | {total / used:.2f}x | {np.mean(regrets):.4f} | "
            f"{np.percentile(regrets, 95):.4f} | {np.max(regrets):.4f} | {np.mean(raw):.4f} | {time.time() - start:.0f} |"
        )
    if args.mcmc_subset:
        mcmc_subset(groups, args.mcmc_subset, args.every, args.mcmc_budget)


if __name__ == "__main__":
    main()
