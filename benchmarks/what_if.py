"""A cooldown's outcome predicted before it runs: `python benchmarks/what_if.py [--model PATH]`.

Pairs of runs that share a prefix: a constant-lr parent and a branch that leaves
it (a WSD cooldown, a drop to a lower constant lr) at the branch step. Given the
parent's points before the branch diverges and the branch's planned schedule,
each method predicts the branch's final loss. Printed per method (median over
pairs): relative final-loss error, cooldown-gain error
``|predicted gain - true gain| / true gain`` (gain = the parent's loss at the
branch's last step minus the branch's final loss; predicted gain = the
prediction under the parent's constant schedule minus under the branch's),
90 % coverage of the final loss, and the 90 % interval's median width in true
gains (coverage alone rewards width). The gain error's standard error is a bootstrap
over the parent prefixes: a parent's branches move together.

Pairs come from ``../shared/data/mpl_llm_25m.jsonl.gz`` (constant → WSD and
WSD-to-lower-constant runs of a 25M GPT) and from ``benchmarks/data/lm_cpu.jsonl.gz``
(byte-level LMs trained by ``benchmarks/lm_curves.py``: cooldowns of several starts,
lengths and shapes resumed from a constant run's checkpoints, and two-stage drops).

Baselines on the same prefix: a power-law fit ``a + b x^-c`` (it cannot see the
schedule: its gain is 0) and an LR-annealing-law fit (Tissue et al. 2024),
``L0 + A S1^-alpha - C S2`` with (L0, A, alpha) fitted on the prefix; a constant
prefix cannot identify C or the momentum's decay time, so they are the prior's
median decay time (``priors.laws.SCHEDULE_LAWS["lr_annealing"]``) and a gain of 1 (relative
to the progress of the run's last doubling; ``ANNEALING_FIT_GAIN``, the prior-v2.5 median,
kept fixed so that the baseline does not move with the PFN's prior).
"""

from __future__ import annotations

import argparse
import gzip
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT / ".." / "shared" / "data"
DEFAULT_FILES = (SHARED / "mpl_llm_25m.jsonl.gz", ROOT / "benchmarks" / "data" / "lm_cpu.jsonl.gz")
# The annealing-law fit's gain: the prior-v2.5 median (prior v2.6 ties it to the run's length, 0.8 at 4,000 steps).
ANNEALING_FIT_GAIN = 1.0
# 25M GPT: the pairs the issue names. Branch step: where the branch's lr leaves the parent's.
MPL_PAIRS = ("wsd_20000_24000", "wsdld_20000_24000", "wsdcon_3", "wsdcon_9", "wsdcon_18")


@dataclass(frozen=True)
class Pair:
    id: str
    x_prefix: np.ndarray  # the parent's points before the branch diverges
    y_prefix: np.ndarray
    branch_schedule: tuple[np.ndarray, np.ndarray]  # (steps, lr) of the branch, whole run
    parent_schedule: tuple[np.ndarray, np.ndarray]  # the parent's schedule up to the branch's last step
    x_final: float
    y_final: float  # the branch's final loss
    y_parent_final: float  # the parent's loss at x_final (interpolated)

    @property
    def parent(self) -> bytes:
        """The same for pairs that branch from one parent at one step (their prefixes are equal)."""
        return self.x_prefix.tobytes() + self.y_prefix.tobytes()


def _read(path: Path) -> list[dict]:
    with gzip.open(path, "rt") as f:
        return [json.loads(line) for line in f]


def _pair(parent: dict, branch: dict) -> Pair | None:
    px, py, plr = (np.asarray(parent[k], float) for k in ("x", "y", "lr"))
    bx, by, blr = (np.asarray(branch[k], float) for k in ("x", "y", "lr"))
    parent_lr_at_b = np.interp(bx, px, plr)
    differs = np.flatnonzero(~np.isclose(blr, parent_lr_at_b, rtol=1e-6))
    if len(differs) == 0 or bx[-1] > px[-1]:
        return None
    diverge = bx[differs[0]]
    keep = px < diverge
    if keep.sum() < 3:
        return None
    x_final = bx[-1]
    parent_steps = np.append(px[px < x_final], x_final)
    parent_sched = (parent_steps, np.interp(parent_steps, px, plr))
    return Pair(branch["id"], px[keep], py[keep], (bx, blr), parent_sched, x_final, by[-1], float(np.interp(x_final, px, py)))


def pairs_from(path: Path) -> list[Pair]:
    """Every (constant parent, branch) pair in a file: branches name their parent in ``meta.parent``,
    and the 25M GPT file's pairs are the ones in ``MPL_PAIRS``."""
    records = _read(path)
    by_id = {r["id"]: r for r in records}
    out = []
    for r in records:
        parent_id = (r.get("meta") or {}).get("parent")
        if parent_id is None and r["id"].split("/")[-1] in MPL_PAIRS:
            parent_id = r["id"].rsplit("/", 1)[0] + "/constant_24000"
        if parent_id in by_id:
            p = _pair(by_id[parent_id], r)
            if p is not None:
                out.append(p)
    return out


# --------------------------------------------------------------------------- methods
# Each method returns (median under the branch schedule, 5 % and 95 % quantiles there,
# median under the parent schedule).


def pfn(model):
    def predict(p: Pair):
        kw = dict(direction="min", bounds=(0, None))
        b = model.predict(p.x_prefix, p.y_prefix, [p.x_final], schedule=p.branch_schedule, **kw)
        c = model.predict(p.x_prefix, p.y_prefix, [p.x_final], schedule=p.parent_schedule, **kw)
        q = b.quantile([0.05, 0.95])
        return float(b.median[0]), float(q[0, 0]), float(q[1, 0]), float(c.median[0])

    return predict


def _gaussian(mean: float, sd: float) -> tuple[float, float]:
    return mean - 1.6449 * sd, mean + 1.6449 * sd


def power_law(p: Pair):
    from scipy.optimize import least_squares

    x, y = _after_start(p)
    s = x[-1]
    best = None
    for c0 in (0.3, 1.0):
        p0 = np.array([y[-1], (y[0] - y[-1]) * (x[0] / s) ** c0, c0])
        fit = least_squares(
            lambda q: q[0] + q[1] * (x / s) ** -q[2] - y, p0, bounds=([-np.inf, -np.inf, 0.01], [np.inf, np.inf, 3.0])
        )
        best = fit if best is None or fit.cost < best.cost else best
    a, b, c = best.x
    sd = max(float(np.sqrt(2 * best.cost / max(1, len(y) - 3))), 1e-9)
    final = a + b * (p.x_final / s) ** -c
    return (final, *_gaussian(final, sd), final)


def _after_start(p: Pair) -> tuple[np.ndarray, np.ndarray]:
    """The prefix without step 0 (the untrained model's loss is no point of a power law in time)."""
    keep = p.x_prefix > 0
    return p.x_prefix[keep], p.y_prefix[keep]


def _integrals(schedule: tuple[np.ndarray, np.ndarray], at: np.ndarray, decay_steps: float) -> tuple[np.ndarray, np.ndarray]:
    """S1 (∫ lr/peak dstep) and the annealing area S2 at steps ``at``, from 0."""
    from priors.schedules import annealing_area, schedule_grid

    steps, lr = schedule
    grid_steps = np.linspace(0.0, steps[-1], 4097)
    grid_lr = np.interp(grid_steps, steps, lr) / lr.max()
    grid = schedule_grid(grid_steps, grid_lr)
    return np.interp(at, grid_steps, grid.s1), annealing_area(at, grid, decay_steps)


def annealing_law(p: Pair):
    """Tissue et al.'s law fitted on the prefix, in units where time is a fraction of the run."""
    from scipy.optimize import least_squares

    from priors.laws import SCHEDULE_LAWS

    law = SCHEDULE_LAWS["lr_annealing"]
    total = p.branch_schedule[0][-1]
    decay_time = _median(law.priors["decay_time"])
    decay = decay_time * total
    x, y = _after_start(p)
    s1, _ = _integrals(p.branch_schedule, x, decay)
    s1 = s1 / total  # normalized intrinsic time, as in the prior
    best = None
    for alpha0 in (0.3, 0.7):
        q0 = np.array([y[-1] * 0.9, (y[0] - y[-1]) * s1[0] ** alpha0, alpha0])
        fit = least_squares(lambda q: q[0] + q[1] * s1 ** -q[2] - y, q0, bounds=([0.0, 0.0, 0.01], [np.inf, np.inf, 3.0]))
        best = fit if best is None or fit.cost < best.cost else best
    l0, a, alpha = best.x
    c = law.law_params(dict(L0=l0, A=a, alpha=alpha, s0=0.0, bend=0.0, gain=ANNEALING_FIT_GAIN, decay_time=decay_time))["C"]
    sd = max(float(np.sqrt(2 * best.cost / max(1, len(y) - 3))), 1e-9)

    def final(schedule):
        s1_end, s2_end = _integrals(schedule, np.array([p.x_final]), decay)
        return float(l0 + a * (s1_end[0] / total) ** -alpha - c * s2_end[0] / total)

    f = final(p.branch_schedule)
    return (f, *_gaussian(f, sd), final(p.parent_schedule))


def _median(d) -> float:
    """Median of a prior distribution (inverse CDF at 0.5)."""
    import torch

    return float(d.from_uniform(torch.tensor([0.5])))


# --------------------------------------------------------------------------- report


# Bootstrap resamples of the parent runs for the standard error of a median (fixed seed: the figure must not move).
BOOTSTRAP = 2000


def median_se(values: list[float], parents: list[bytes], *, seed: int = 0) -> float:
    """Bootstrap standard error of ``median(values)``, resampling the parents (a pair's prefix) rather than the pairs:
    the branches of one parent share its prefix and move together.

    >>> round(median_se([1.0, 1.0, 1.0], [b"a", b"b", b"c"]), 3), round(median_se([1.0, 2.0, 3.0, 4.0], [b"a"] * 4), 3)
    (0.0, 0.0)
    """
    groups: dict[bytes, list[float]] = {}
    for v, k in zip(values, parents):
        groups.setdefault(k, []).append(v)
    runs = list(groups.values())
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(runs), size=(BOOTSTRAP, len(runs)))
    medians = [np.median(np.concatenate([runs[i] for i in row])) for row in picks]
    return float(np.std(medians))


def evaluate(pairs: list[Pair], method) -> dict[str, float]:
    """Median relative final-loss error, median cooldown-gain error with its standard error (:func:`median_se`), 90 %
    coverage and the 90 % interval's median width over the true gain (coverage alone rewards width: an interval many
    gains wide covers and tells little)."""
    rel, gain_err, cover, width = [], [], [], []
    for p in pairs:
        med, lo, hi, parent_med = method(p)
        true_gain = p.y_parent_final - p.y_final
        rel.append(abs(med - p.y_final) / p.y_final)
        gain_err.append(abs((parent_med - med) - true_gain) / abs(true_gain))
        cover.append(lo <= p.y_final <= hi)
        width.append((hi - lo) / abs(true_gain))
    return {
        "rel_err": float(np.median(rel)),
        "gain_err": float(np.median(gain_err)),
        "gain_err_se": median_se(gain_err, [p.parent for p in pairs]),
        "cover90": float(np.mean(cover)),
        "width90_gains": float(np.median(width)),
    }


def details(pairs: list[Pair], method) -> list[str]:
    lines = ["| pair | true final | predicted | 90 % interval | true gain | predicted gain |", "|---|---|---|---|---|---|"]
    for p in pairs:
        med, lo, hi, parent_med = method(p)
        lines.append(
            f"| {p.id} | {p.y_final:.4f} | {med:.4f} | [{lo:.4f}, {hi:.4f}] | {p.y_parent_final - p.y_final:.4f} | "
            f"{parent_med - med:.4f} |"
        )
    return lines


def figure(pairs: dict[str, list[Pair]], method, name: str, out: str, model=None) -> None:
    """Predicted (median, 90 % interval) against actual final loss, one panel per file, 20 % cooldowns marked;
    with ``model``, first a panel of 20 % cooldowns started at different points of the 25M GPT's constant run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    files = {k: v for k, v in pairs.items() if v}
    scan = model is not None and (SHARED / "mpl_llm_25m.jsonl.gz").exists()
    n = len(files) + scan
    fig, axes = plt.subplots(1, n, figsize=(4.2 * n, 4.0), squeeze=False)
    if scan:
        _cooldown_scan(axes[0][0], model)
    for ax, (file, ps) in zip(axes[0][int(scan) :], files.items()):
        for p in ps:
            med, lo, hi, _ = method(p)
            start = _branch_start(p)
            share = (p.x_final - start) / p.x_final
            twenty = abs(share - 0.2) < 0.04 and "wsd" in p.id
            color = "C3" if twenty else "C0"
            ax.errorbar(p.y_final, med, yerr=[[med - lo], [hi - med]], fmt="o", ms=4, color=color, alpha=0.8, lw=1)
            if twenty:
                ax.annotate(f"{start:g}", (p.y_final, med), fontsize=6, xytext=(3, 3), textcoords="offset points")
        lims = [min(p.y_final for p in ps), max(p.y_final for p in ps)]
        pad = 0.15 * (lims[1] - lims[0] or 1)
        ax.plot([lims[0] - pad, lims[1] + pad], [lims[0] - pad, lims[1] + pad], "k--", lw=0.8)
        ax.set_title(f"{file}: {len(ps)} branches", fontsize=8)
        ax.set_xlabel("actual final loss", fontsize=8)
        ax.tick_params(labelsize=7)
    first = axes[0][int(scan)]
    first.set_ylabel(f"{name}: predicted before the branch (90 %)", fontsize=8)
    first.plot([], [], "o", color="C3", label="20 % cooldowns (labelled with their start step)")
    first.plot([], [], "o", color="C0", label="other cooldowns and drops")
    first.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def _cooldown_scan(ax, model) -> None:
    """The 25M GPT: a 20 % linear cooldown started at step s (run of s / 0.8 steps), predicted from the constant
    run up to s, against the constant run's own loss there and the real cooldowns of the file."""
    records = {r["id"].split("/")[-1]: r for r in _read(SHARED / "mpl_llm_25m.jsonl.gz")}
    parent = records["constant_72000"]
    px, py = np.asarray(parent["x"], float), np.asarray(parent["y"], float)
    starts = np.array([8000, 12000, 16000, 20000, 30000, 40000, 57600])
    q = []
    for s in starts:
        total = s / 0.8
        steps = np.linspace(0, total, 2049)
        lr = np.where(steps <= s, 3e-4, 3e-4 * np.clip((total - steps) / (total - s), 0, 1))
        keep = px < s
        pred = model.predict(px[keep], py[keep], horizon=total, schedule=(steps, lr), bounds=(0, None))
        q.append(pred.quantile([0.05, 0.5, 0.95])[:, 0])
    q = np.array(q)
    ax.fill_between(starts, q[:, 0], q[:, 2], color="C0", alpha=0.25, label="predicted 90 %")
    ax.plot(starts, q[:, 1], "C0o-", ms=3, label="predicted median")
    ax.plot(starts, np.interp(starts / 0.8, px, py), "k--", lw=0.8, label="constant lr, same step")
    for key in ("wsd_20000_24000", "wsdld_20000_24000"):
        ax.plot([20000], [records[key]["y"][-1]], "C3*", ms=9, label=f"actual {key}" if key.startswith("wsd_") else None)
    ax.set_title("25M GPT: 20 % cooldowns started at step s", fontsize=8)
    ax.set_xlabel("cooldown start s (run of s / 0.8 steps)", fontsize=8)
    ax.set_ylabel("final loss", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.legend(fontsize=6)


def _branch_start(p: Pair) -> float:
    """The last step at the peak lr before the branch's lr falls (after any warmup)."""
    steps, lr = p.branch_schedule
    at_peak = np.flatnonzero(lr >= lr.max() * (1 - 1e-6))
    return float(steps[at_peak[-1]])


def main() -> None:
    import lcpfn

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", help="exported .onnx (default: the shipped model)")
    ap.add_argument("--files", nargs="*", default=[str(f) for f in DEFAULT_FILES])
    ap.add_argument("--details", action="store_true", help="one row per pair for the PFN")
    ap.add_argument("--figure", help="also draw predicted vs actual final loss of every pair (PNG)")
    args = ap.parse_args()
    # A missing file would leave its pairs out of the "all dev pairs" summary without a word.
    missing = [f for f in args.files if not Path(f).is_file()]
    if missing:
        ap.error(f"--files: {', '.join(missing)} not found (the shared files live in ../shared/data, beside the repository)")
    model = lcpfn.load(args.model)
    methods = {model.name: pfn(model), "power-law fit": power_law, "annealing-law fit": annealing_law}
    if args.figure:
        figure({Path(f).name: pairs_from(Path(f)) for f in args.files}, pfn(model), model.name, args.figure, model=model)
    everything = []
    for path in args.files:
        pairs = pairs_from(Path(path))
        if not pairs:
            print(f"## {Path(path).name}: no pairs (no branches with a parent in the file)\n")
            continue
        everything += pairs
        _table(f"{Path(path).name}: {len(pairs)} pairs", pairs, methods)
        if args.details:
            print("\n".join(details(pairs, methods[model.name])) + "\n")
    if len(everything) > 1:
        _table(f"all dev pairs: {len(everything)}", everything, methods)


def _table(title: str, pairs: list[Pair], methods: dict) -> None:
    print(f"## {title}\n")
    parents = len({p.parent for p in pairs})
    print(
        f"| method | median rel. final-loss error | median cooldown-gain error (± se, {parents} parent prefixes) "
        "| 90 % coverage | 90 % width / true gain |"
    )
    print("|---|---|---|---|---|")
    for name, m in methods.items():
        r = evaluate(pairs, m)
        gain = f"{r['gain_err']:.1%} ± {r['gain_err_se']:.1%}"
        print(f"| {name} | {r['rel_err']:.2%} | {gain} | {r['cover90']:.2f} | {r['width90_gains']:.1f} |")
    print()


if __name__ == "__main__":
    main()
