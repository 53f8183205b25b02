"""Is the PFN calibrated on its own prior's cooldowns? `python benchmarks/prior_cooldowns.py [--model PATH]`.

Curves of the schedule-aware laws with a known schedule that holds its peak lr and then decays to under a fifth of it,
starting between 60 % and 92 % of the run (WSD-like): the PFN sees the points before the decay and the whole schedule,
and predicts the final value. Printed per law and run length: how many curves, and where the true final value falls in
the predictive distribution (PIT: mean and median, and the shares below its 5 % and above its 95 % quantile). A model
calibrated on its prior has PIT mean and median 0.5 and shares of 0.05; a median below 0.5 says the truths fall lower
than predicted: the cooldown's gain is under-predicted. The same rows over the whole prior as the network learned it
(every source, value maps and noise) follow: where one law's curves cannot be told from another source's, the
network's answer mixes their beliefs, and only the whole prior's rows say whether it is calibrated.

A second table fixes the setup of the 25M GPT's what-if pairs and varies only the run's length: multi-power curves of
the prior with a warmup of up to 9 %, logged regularly from 9 % of the run (170 points), nearly noiseless, a linear
cooldown to 0 over the last 20 % (``--shape`` and ``--cooldown`` set another: ``--shape 1-sqrt --cooldown 0.4``
against ``--cooldown 0.4`` asks whether the network reads a 1-sqrt cooldown as its prior draws it; ``--noise`` sets
the log of its noise's sd over the curve's range, -9 by default, the 25M GPT's -7.2, the prior's median -5.5); it
gives the same PIT and the predicted drop from the last point before the cooldown to the end over the true
(noiseless) drop.
A third table draws that setup's curves once and sets them at each run length: how the drop grows with the length in
the prior (the gain's growth, ``LawConfig.gain_steps_power`` up to ``gain_steps_clip``) and in the network's predictions.
A fourth holds a drop instead of cooling down (the 25M GPT's `wsdcon_*` runs, the byte-level LMs' two-stage runs): the
same setup with the three laws at the model's source weights and the lr stepped down once, to 0.1-0.5 of its peak at
50-60 % of the run, then held; the network sees the points before the drop. Real held drops keep about a quarter of a
full cooldown's gain, as the published multi-power fit of the 25M GPT reproduces, and a network over-predicting them
shows here as a PIT median above 0.5 and a predicted fall over the true one above 1.

The real cooldowns' gains are under-predicted (benchmarks/what_if.py), and this tells whether the prior or the network
is at fault: a network calibrated here reproduces what its prior says.
"""

from __future__ import annotations

import argparse
import dataclasses
import json

import numpy as np
import torch

import lcpfn
from priors.config import SOURCES
from priors.sample import sample
from priors.schedules import SHAPES
from training.train import TrainConfig

LAWS = ("multi_power", "lr_annealing", "intrinsic_time")
BANDS = ((500.0, 3000.0), (3000.0, 10000.0), (10000.0, 60000.0), (60000.0, 1e6))


# The cooldown shares the what-if setup's table can draw (its logging starts at 9 % of the run).
COOLDOWNS = (0.05, 0.8)
# The setup's log noise sd over the curve's range: nearly noiseless by default; the 25M GPT's validation loss has -7.2.
SETUP_NOISE = -9.0
NOISES = (-12.0, -2.0)


def cooldown_cases(batch, starts: tuple[float, float] = (0.6, 0.92)) -> list[tuple[int, int]]:
    """(row, index of the first point after the peak lr) of the WSD-like rows of ``batch``: the decay starts within
    ``starts`` (fractions of the run)."""
    x, lr = batch.x.double().numpy(), batch.lr.double().numpy()
    cases = []
    for i in range(len(x)):
        if not bool(batch.known_schedule[i]) or float(batch.direction[i]) > 0:
            continue
        at_peak = np.flatnonzero(lr[i] >= 0.999 * lr[i].max())
        start = at_peak[-1] + 1
        held = np.all(np.diff(lr[i, at_peak[0] : start]) == 0)
        u = x[i, min(start, x.shape[1] - 1)] / x[i, -1]
        if start < x.shape[1] and held and starts[0] <= u <= starts[1] and lr[i, -1] <= 0.2 * lr[i].max():
            cases.append((i, start))
    return cases


def band_pits(model, batch) -> dict[tuple[str, int], list[float]]:
    """PITs of the final value at the WSD-like cooldowns of ``batch`` (:func:`cooldown_cases`), by (source, band of
    :data:`BANDS`): the model sees the points before the decay and the whole schedule."""
    x, y, lr = batch.x.double().numpy(), batch.y.double().numpy(), batch.lr.double().numpy()
    pit: dict[tuple[str, int], list[float]] = {}
    for i, start in cooldown_cases(batch):
        lower = float(batch.lower[i])
        kw = {"bounds": (lower, None)} if np.isfinite(lower) else {}
        pred = model.predict(x[i, :start], y[i, :start], [x[i, -1]], schedule=(x[i], lr[i]), direction="min", **kw)
        band = next(b for b, (lo, hi) in enumerate(BANDS) if lo <= x[i, -1] < hi or b == len(BANDS) - 1)
        pit.setdefault((SOURCES[int(batch.source[i])], band), []).append(float(pred.cdf([y[i, -1]])[0]))
    return pit


def pooled(pits: dict[tuple[str, int], list[float]], band: int, source: str | None = None) -> np.ndarray:
    """The PITs of ``band`` in :func:`band_pits`' answer, of one ``source`` or, with None, of every source."""
    return np.asarray([v for (s, b), values in pits.items() if b == band and source in (None, s) for v in values])


def check_setup(*, shape: str, cooldown: float, noise: float) -> None:
    """Raise ValueError naming the first of the what-if setup's options that :func:`wsd_setup` cannot draw."""
    if shape not in SHAPES:
        raise ValueError(f"shape must be one of {SHAPES}, got {shape!r}")
    if not COOLDOWNS[0] <= cooldown <= COOLDOWNS[1]:
        raise ValueError(f"cooldown must be a share of the run in [{COOLDOWNS[0]}, {COOLDOWNS[1]}], got {cooldown!r}")
    if not NOISES[0] <= noise <= NOISES[1]:
        raise ValueError(f"noise must be a log sd over the range in [{NOISES[0]}, {NOISES[1]}], got {noise!r}")


def wsd_setup(prior, steps: float, *, shape: str = "linear", cooldown: float = 0.2, noise: float = SETUP_NOISE):
    """``prior`` restricted to the 25M GPT's what-if setup (see the module's docstring) for runs of ``steps`` steps,
    its cooldown of ``shape`` (one of :data:`priors.schedules.SHAPES`) over the last ``cooldown`` of the run, its noise's
    sd over the curve's range about ``exp(noise)``."""
    check_setup(shape=shape, cooldown=cooldown, noise=noise)
    noise_config = dataclasses.replace(
        prior.noise, log_sigma_loc=noise, log_sigma_scale=0.3, p_outliers=0.0, p_spike=0.0, p_heteroscedastic=0.0,
        p_divergence_law=0.0, p_overfit_law=0.0, p_plateau_law=0.0, p_slow_start_law=0.0,
    )  # fmt: skip
    schedule = dataclasses.replace(
        prior.schedule, p_decay=1.0, p_step=0.0, p_constant=0.0, p_full_decay=0.0,
        wsd_cooldown=(cooldown - 0.001, cooldown + 0.001), shape_weights=tuple(float(s == shape) for s in SHAPES),
        p_final_zero=1.0, p_warmup=1.0, max_warmup=0.09,
    )  # fmt: skip
    logging = dataclasses.replace(prior.logging, p_first_step=0.0, late_first=(0.09, 0.0901), p_irregular=0.0, p_log_spaced=0.0)
    weights = tuple(1.0 if name == "multi_power" else 0.0 for name in SOURCES)
    return dataclasses.replace(
        prior, source_weights=weights, p_affine=0.0, law_horizon=(steps, steps * 1.0001), noise=noise_config, schedule=schedule,
        logging=logging, p_known_schedule=1.0, p_log_from_zero=0.0,
    )  # fmt: skip


def setup_cases(batch, cooldown: float) -> list[tuple[int, int]]:
    """:func:`cooldown_cases` of a :func:`wsd_setup` batch whose cooldown starts where it was asked to, within 5 % of
    the run (logging may place the first point after the peak a little late)."""
    return cooldown_cases(batch, starts=(1.0 - cooldown - 0.05, 1.0 - cooldown + 0.05))


def setup_predictions(model, batch, cases) -> list:
    """The ``model``'s prediction of the last point of each case of a :func:`wsd_setup` ``batch``, given the points
    before the cooldown and the whole schedule."""
    x, y, lr = batch.x.double().numpy(), batch.y.double().numpy(), batch.lr.double().numpy()
    return [
        model.predict(x[i, :start], y[i, :start], [x[i, -1]], schedule=(x[i], lr[i]), direction="min", bounds=(0.0, None))
        for i, start in cases
    ]


def drops(batch, cases, predictions=None) -> np.ndarray:
    """The drop from the last point before the cooldown to the end of each case of a :func:`wsd_setup` ``batch``: the
    noiseless curve's, or to the median of each of ``predictions`` (:func:`setup_predictions`)."""
    clean = batch.y_clean.double().numpy()
    ends = [clean[i, -1] for i, _ in cases] if predictions is None else [float(p.median[0]) for p in predictions]
    return np.asarray([clean[i, start - 1] - end for (i, start), end in zip(cases, ends)])


# The held drop's setup: the lr stepped down once, to a share of its peak in HELD_FACTORS at a share of the run in
# HELD_STARTS, and held to the end.
HELD_FACTORS = (0.1, 0.5)
HELD_STARTS = (0.5, 0.6)


def held_setup(prior, steps: float, *, noise: float = SETUP_NOISE):
    """:func:`wsd_setup`'s setup with the schedule-aware laws at ``prior``'s source weights and a held drop instead of
    a cooldown: one step of the lr to :data:`HELD_FACTORS` of its peak, within :data:`HELD_STARTS` of the run."""
    config = wsd_setup(prior, steps, noise=noise)
    schedule = dataclasses.replace(
        config.schedule, p_decay=0.0, p_step=1.0, max_drops=1, milestones=HELD_STARTS, p_factor_tenth=0.0, factor=HELD_FACTORS,
    )  # fmt: skip
    weights = tuple(w if name in LAWS else 0.0 for name, w in zip(SOURCES, prior.source_weights))
    return dataclasses.replace(config, schedule=schedule, source_weights=weights)


def held_cases(batch) -> list[tuple[int, int]]:
    """(row, index of the first point after the drop) of the rows of a :func:`held_setup` batch with at least ten
    points before it."""
    lr = batch.lr.double().numpy()
    cases = []
    for i in range(len(lr)):
        after = np.flatnonzero(lr[i] < 0.999 * lr[i].max())
        if len(after) and after[0] >= 10:
            cases.append((i, int(after[0])))
    return cases


def held_row(model, prior, steps: float, n: int, seed: int, *, noise: float = SETUP_NOISE) -> str:
    """PIT of the final value and median predicted over true fall (from the last point before the drop) on ``n``
    curves of :func:`held_setup`, the network given the points before the drop and the whole schedule."""
    batch = sample(torch.Generator().manual_seed(seed), n, 100, config=held_setup(prior, steps, noise=noise))
    return pit_row(model, batch, held_cases(batch), steps)


def pit_row(model, batch, cases, steps: float) -> str:
    """A table row of the cases of a setup's batch: how many, the final value's PIT (mean, median, share below 5 %) and
    the median predicted over true drop from the last point before the lr falls (:func:`drops`)."""
    predictions = setup_predictions(model, batch, cases)
    y = batch.y.double().numpy()
    p = np.asarray([float(pred.cdf([y[i, -1]])[0]) for (i, _), pred in zip(cases, predictions)])
    drop = drops(batch, cases, predictions) / drops(batch, cases)
    return f"| {steps:,.0f} | {len(p)} | {p.mean():.2f} | {np.median(p):.2f} | {np.mean(p < 0.05):.2f} | {np.median(drop):.2f} |"


def wsd_setup_row(model, prior, steps: float, n: int, seed: int, *, shape: str = "linear", cooldown: float = 0.2,
                  noise: float = SETUP_NOISE) -> str:  # fmt: skip
    config = wsd_setup(prior, steps, shape=shape, cooldown=cooldown, noise=noise)
    batch = sample(torch.Generator().manual_seed(seed), n, 170, config=config)
    return pit_row(model, batch, setup_cases(batch, cooldown), steps)


def growth_rows(model, prior, lengths, n: int, seed: int, *, reference: float = 24000.0, noise: float = SETUP_NOISE) -> list[str]:
    """How a cooldown's drop grows with the run's length, in the prior and as the network learned it: the same draws
    of :func:`wsd_setup` at each length (one seed draws the same parameters whatever the length; what depends on the
    length is the gain's growth and the multi-power law's C per step), each drop over the true drop of the same draw
    at ``reference`` steps, medians over the draws."""

    def batch_at(steps):
        return sample(torch.Generator().manual_seed(seed), n, 170, config=wsd_setup(prior, steps, noise=noise))

    base = batch_at(reference)
    ref_cases = dict(setup_cases(base, 0.2))
    rows = []
    for steps in lengths:
        batch = base if steps == reference else batch_at(steps)
        # Rounding steps to integers may move a short run's first point after the peak by one: rows whose cooldown
        # starts in the setup's window at both lengths, each at its own start.
        cases = [(i, start) for i, start in setup_cases(batch, 0.2) if i in ref_cases]
        true_ref = drops(base, [(i, ref_cases[i]) for i, _ in cases])
        predicted_drops = drops(batch, cases, setup_predictions(model, batch, cases))
        truth, predicted = np.median(drops(batch, cases) / true_ref), np.median(predicted_drops / true_ref)
        rows.append(f"| {steps:,.0f} | {len(cases)} | {truth:.2f} | {predicted:.2f} | {predicted / truth:.2f} |")
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", help="exported .onnx (default: the shipped model)")
    ap.add_argument(
        "--curves",
        type=int,
        default=40000,
        help="laws' curves drawn (about 3 %% WSD-like), three times as many of the whole prior",
    )
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--setup-curves", type=int, default=300, help="curves per run length in the 25M GPT's setup")
    ap.add_argument("--shape", choices=SHAPES, default="linear", help="the setup's cooldown shape")
    ap.add_argument("--cooldown", type=float, default=0.2, help=f"the setup's cooldown, a share of the run in {list(COOLDOWNS)}")
    ap.add_argument("--noise", type=float, default=SETUP_NOISE, help=f"the setup's log noise sd / range, in {list(NOISES)}")
    args = ap.parse_args()
    setup = {"shape": args.shape, "cooldown": args.cooldown, "noise": args.noise}
    try:  # before the first table's minutes of sampling, not in wsd_setup after them
        check_setup(**setup)
    except ValueError as e:
        ap.error(f"--{e}")
    model = lcpfn.load(args.model)
    prior = TrainConfig.from_json(json.dumps(model.card["training"]["config"])).prior  # the prior the model learned
    weights = tuple(w if name in LAWS else 0.0 for name, w in zip(SOURCES, prior.source_weights))
    config = dataclasses.replace(prior, source_weights=weights, p_affine=0.0)
    pit = band_pits(model, sample(torch.Generator().manual_seed(args.seed), args.curves, 100, config=config))
    # The prior exactly as the network learned it, every source and value map: whether another source's belief, which
    # the network cannot tell from a law's curve, explains a law's row.
    everything = band_pits(model, sample(torch.Generator().manual_seed(args.seed + 1), 3 * args.curves, 100, config=prior))
    whole = f"{3 * args.curves:,} of the whole prior"
    print(f"model: {model.name}, {args.curves:,} curves of its own prior's laws and {whole} (seed {args.seed})")
    print("| source | run length (steps) | curves | PIT mean | PIT median | below 5 % | above 95 % |")
    print("|---|---|---|---|---|---|---|")
    for name, pits, source in [*((law, pit, law) for law in LAWS), ("all, the whole prior", everything, None)]:
        for b, (lo, hi) in enumerate(BANDS):
            p = pooled(pits, b, source)
            if len(p) == 0:
                continue
            row = f"| {name} | {lo:,.0f}-{hi:,.0f} | {len(p)} | {p.mean():.2f} | {np.median(p):.2f} "
            print(row + f"| {np.mean(p < 0.05):.2f} | {np.mean(p > 0.95):.2f} |")
    cool = f"{args.shape} cooldown over the last {100 * args.cooldown:g} %"
    print(f"\nThe 25M GPT's what-if setup (multi-power, {cool}, logged from 9 % of the run, log noise / range {args.noise:g}):")
    print("| run length (steps) | curves | PIT mean | PIT median | below 5 % | predicted / true drop, median |")
    print("|---|---|---|---|---|---|")
    for steps in (1000.0, 4000.0, 24000.0, 100000.0, 500000.0):
        print(wsd_setup_row(model, prior, steps, args.setup_curves, args.seed, **setup))
    print("\nThe same draws of that setup (linear, 20 %) at each run length: drop over the same draw's true drop at 24,000 steps")
    print("| run length (steps) | curves | prior (true drop) | network (predicted drop) | network / prior |")
    print("|---|---|---|---|---|")
    lengths = (1000.0, 2000.0, 4000.0, 8000.0, 16000.0, 24000.0, 32000.0, 64000.0, 200000.0, 1e6)
    print("\n".join(growth_rows(model, prior, lengths, args.setup_curves, args.seed, noise=args.noise)))
    held = f"a step to {HELD_FACTORS[0]:g}-{HELD_FACTORS[1]:g} of the peak at {HELD_STARTS[0]:g}-{HELD_STARTS[1]:g} of the run"
    print(f"\nA held drop ({held}, kept to the end; the laws at the model's source weights, logging and noise as above):")
    print("| run length (steps) | curves | PIT mean | PIT median | below 5 % | predicted / true fall, median |")
    print("|---|---|---|---|---|---|")
    for steps in (4000.0, 14000.0, 24000.0):
        print(held_row(model, prior, steps, args.setup_curves, args.seed, noise=args.noise))


if __name__ == "__main__":
    main()
