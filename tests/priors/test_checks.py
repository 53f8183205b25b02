"""Prior predictive checks: what real dev curves show lies inside the prior's 5-95 % range.

Real curves: copies of ``../shared/data`` files in ``tests/data`` (small networks, LCDB,
the 25M GPT), and in ``benchmarks/data`` the byte-level LM runs of ``benchmarks/lm_curves.py`` and the small
networks on other tasks of ``benchmarks/small_net_curves.py``.
"""

import gzip
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from priors import checks as C
from priors.config import SOURCES, PriorConfig
from priors.laws import progress_jump
from priors.parameters import LogUniform

ROOT = Path(__file__).resolve().parents[2]
FILES = {
    "torch_real_dev": ROOT / "tests" / "data" / "torch_real_dev.jsonl.gz",
    "lcdb_dev": ROOT / "tests" / "data" / "lcdb_dev.jsonl.gz",
    "mpl_llm_25m": ROOT / "tests" / "data" / "mpl_llm_25m.jsonl.gz",
    "lm_cpu": ROOT / "benchmarks" / "data" / "lm_cpu.jsonl.gz",
    "small_nets": ROOT / "benchmarks" / "data" / "small_nets.jsonl.gz",
}
SMALL_NETWORKS = ["torch_real_dev", "small_nets"]


def _records(name: str) -> list[dict]:
    with gzip.open(FILES[name], "rt") as f:
        return [json.loads(line) for line in f]


def _sign(r: dict) -> float:
    return 1.0 if r["direction"] == "max" else -1.0


def _inside(values, prior, what: str, levels: tuple[float, float] = (0.05, 0.95)) -> None:
    lo, hi = np.quantile(prior, levels)
    values = np.atleast_1d(values)
    band = f"{100 * levels[0]:g}-{100 * levels[1]:g} %"
    assert np.all((values >= lo) & (values <= hi)), (
        f"{what}: {np.round(values, 4)} outside the prior's {band} [{lo:.4g}, {hi:.4g}]"
    )


@pytest.mark.parametrize("name", ["torch_real_dev", "small_nets", "lcdb_dev", "mpl_llm_25m", "lm_cpu"])
def test_noise_of_real_curves_lies_inside_the_prior(name):
    records = _records(name)
    # Like with like: second differences see more of a curve's bend when it has fewer points.
    n_points = int(np.clip(np.median([len(r["x"]) for r in records]), 10, 200))
    # 30,000 curves: with 3,000 the prior's 5 % point moves by 8 % from seed to seed, past the smoothest real losses, and
    # with 10,000 a change of the laws' cooldown gains (prior v2.42) moved it from 0.00023 to 0.00028 at one seed (to
    # 0.00023-0.00024 at two others), past the smoothest quarter of torch_real_dev's losses (0.00026).
    prior = C.prior_statistic(lambda x, y, lr, d: C.noise_to_range(y), n=30000, n_points=n_points)
    for metric in ("loss", "accuracy"):
        noise = np.array([C.noise_to_range(np.asarray(r["y"])) for r in records if r["metric"] == metric])
        noise = noise[np.isfinite(noise)]
        if len(noise):
            _inside(np.quantile(noise, [0.25, 0.5, 0.75]), prior, f"{name} {metric} noise / range, quartiles")


def _log_spaced(batch) -> torch.Tensor:
    """Curves logged at geometric steps (sample-wise curves, LCDB's anchors): their log-gaps all alike."""
    gaps = torch.diff(torch.log(batch.x.double().clamp(min=1e-12)), dim=1)
    return gaps.std(dim=1) < 0.05 * gaps.mean(dim=1)


def test_lcdb_noise_lies_around_the_median_of_the_prior_s_sample_wise_curves():
    """A curve cut at 10 % of LCDB's anchors shows two of them, so its intervals are the prior's noise: LCDB's
    quartiles of noise / range must lie in the middle of the prior's log-spaced curves' (prior v2.38: at 0.35/0.52/0.73
    of them, at 0.50/0.68/0.84 before, when LCDB's coverage at 10 % was 0.85 with misses on both sides alike)."""
    records = _records("lcdb_dev")
    n_points = int(np.median([len(r["x"]) for r in records]))
    real = np.array([C.noise_to_range(np.asarray(r["y"])) for r in records])
    prior = C.prior_statistic(lambda x, y, lr, d: C.noise_to_range(y), n=6000, n_points=n_points, keep=_log_spaced)
    ranks = [float(np.mean(prior < q)) for q in np.nanquantile(real, [0.25, 0.5, 0.75])]
    assert 0.4 <= ranks[1] <= 0.6 and 0.2 <= ranks[0] and ranks[2] <= 0.8, f"LCDB noise quartiles at prior ranks {ranks}"


@pytest.mark.parametrize("name", ["torch_real_dev", "small_nets", "lcdb_dev"])
def test_overfitting_of_real_curves_lies_inside_the_prior(name):
    prior = C.prior_statistic(lambda x, y, lr, d: C.overfit(y, d), n=3000)
    real = np.array([C.overfit(np.asarray(r["y"]), _sign(r)) for r in _records(name)])
    _inside(np.quantile(real, [0.5, 0.75, 0.9]), prior, f"{name} final distance from the best / range, quantiles 50/75/90")
    # Validation losses that turn up after their minimum are common in real small-network runs.
    assert np.mean(prior > 0.05) > 0.5 * np.mean(real > 0.05)


@pytest.mark.parametrize("name", SMALL_NETWORKS)
def test_overfitting_of_real_small_networks_starts_early_and_rises_fast_as_in_the_prior(name):
    runs = _records(name)
    for stat, what in ((C.overfit_onset, "when the best value came"), (C.overfit_shape, "share of the rise half-way")):
        prior = C.prior_statistic(lambda x, y, lr, d, stat=stat: stat(x, y, d), n=4000)
        real = np.array([stat(np.asarray(r["x"], float), np.asarray(r["y"]), _sign(r)) for r in runs])
        real = real[np.isfinite(real)]
        assert len(real) >= 20
        _inside(np.quantile(real, [0.25, 0.5, 0.75]), prior, f"{name} overfitting curves: {what}, quartiles")
        # Stricter than the 5-95 % range: onsets of 10-80 % of the run put torch_real_dev's median below the prior's
        # quartile. The networks of small_nets overfit sooner (noisy labels): their median onset, 8.9 % of the run, lies
        # at the prior's 24.8 % point (prior v2.15), inside a 20-80 % band only.
        lo, hi = np.quantile(prior, [0.25, 0.75] if name == "torch_real_dev" else [0.2, 0.8])
        assert lo <= np.median(real) <= hi, f"{what}: real median {np.median(real):.3f} outside the prior's [{lo:.3f}, {hi:.3f}]"


@pytest.mark.parametrize("name", SMALL_NETWORKS)
def test_small_network_losses_that_end_above_their_start_are_as_common_as_in_the_prior(name):
    real = np.array([C.ends_worse(np.asarray(r["y"]), -1.0) for r in _records(name) if r["metric"] == "loss"])
    progress = SOURCES.index("progress")
    # Lower-is-better progress curves: losses, and the error rates a batch does not tell apart from them.
    prior = C.prior_statistic(
        lambda x, y, lr, d: C.ends_worse(y, d), n=4000, n_points=50, keep=lambda b: (b.source == progress) & (b.direction < 0)
    )
    # Real runs: an eighth. Prior v2.4 (rises of at most 3x the clean curve's drop, and none past where the curve
    # began): 0.4 %.
    assert 0.5 * real.mean() <= prior.mean() <= 2.0 * real.mean(), f"real {real.mean():.3f}, prior {prior.mean():.3f}"


def _progress_losses(statistic, *, n: int, config: PriorConfig = PriorConfig(p_bounds_known=1.0)) -> np.ndarray:
    """``statistic(x, y, lr)`` of the progress source's losses among ``n`` prior curves of 50 points: the only
    lower-is-better curves unbounded above once every bound is shown (``config`` must show them)."""
    progress = SOURCES.index("progress")
    return C.prior_statistic(
        lambda x, y, lr, d: statistic(x, y, lr),
        n=n,
        n_points=50,
        config=config,
        keep=lambda b: (b.source == progress) & (b.direction < 0) & torch.isinf(b.upper),
    )


@pytest.mark.parametrize("name", SMALL_NETWORKS)
def test_late_falls_of_real_small_network_losses_lie_inside_the_prior(name):
    real = np.array([C.late_fall(np.asarray(r["x"], float), np.asarray(r["y"])) for r in _records(name)
                     if r["metric"] == "loss"])  # fmt: skip
    real = real[np.isfinite(real)]
    assert len(real) >= 50
    prior = _progress_losses(lambda x, y, lr: C.late_fall(x, y), n=8000)
    # Drawn as the error itself (prior v2.11), the real 10 % and 25 % points lay at the prior's 3.3 % and 6.6 %.
    _inside(np.quantile(real, [0.1, 0.25, 0.5, 0.75, 0.9]), prior, f"{name} losses: log10 final / at 10 %")


def _decays(lr) -> bool:
    """The lr ends below half its peak: a full decay, WSD, steps, exponential or inverse-sqrt (not a constant lr)."""
    lr = np.asarray(lr, float)
    return bool(lr[-1] < 0.5 * lr.max())


def test_late_falls_of_real_small_network_losses_under_a_decaying_lr_lie_inside_the_prior():
    """From 40 % of the run to its end, real small networks' losses under a decaying lr barely move (log10 of the ratio:
    quartiles -0.063/-0.009/0.001 over both files' 385 curves) where the prior's progress losses fall more and spread
    wider (-0.14/-0.04/-0.00 under prior v2.15): the real 10-90 % quantiles lie at its 21-85 % points. Neither the
    clock's power nor the jumps at lr drops moves that much (clock powers of 0.9-1, or jumps of at most 0.1 or 0.05 x
    the gain: 16-85 %), nor overfitting that grows on the clock or on intrinsic time instead of the step."""
    real = np.array([C.late_fall(np.asarray(r["x"], float), np.asarray(r["y"]), at=0.4) for name in SMALL_NETWORKS
                     for r in _records(name) if r["metric"] == "loss" and _decays(r["lr"])])  # fmt: skip
    real = real[np.isfinite(real)]
    assert len(real) >= 200
    prior = _progress_losses(lambda x, y, lr: C.late_fall(x, y, at=0.4) if _decays(lr) else np.nan, n=16000)
    what = "small-network losses under a decaying lr: log10 final / at 40 %"
    _inside(np.quantile(real, [0.1, 0.25, 0.5, 0.75, 0.9]), prior, what)


def test_after_a_full_decay_real_small_network_losses_move_as_little_as_the_prior_says():
    """After 40 % of a run, real small networks' losses move less under a full decay (cosine, linear, exponential) than
    under a constant lr: 95 % points of the move (in ranges) 0.53 against 0.84 over both files. Under prior v2.15
    (overfitting grew on the step, slow starts delayed by a share of the steps) the prior's moved as much under either
    (0.72 and 0.72); since v2.16 overfitting grows on intrinsic time and slow starts last a share of the clock (0.33
    against 0.74)."""
    real = {"full": [], "constant": []}
    for name in SMALL_NETWORKS:
        for r in _records(name):
            x, y, lr = (np.asarray(r[k], float) for k in ("x", "y", "lr"))
            shape = C.lr_shape(x, lr)
            if r["metric"] == "loss" and shape in real:
                real[shape].append(C.late_move(x, y, -1.0))
    assert len(real["full"]) >= 200 and len(real["constant"]) >= 40
    known = PriorConfig(p_bounds_known=1.0, p_known_schedule=1.0)  # a hidden schedule shows as a constant lr
    prior = {
        shape: _progress_losses(lambda x, y, lr, shape=shape: C.late_move(x, y, -1.0) if C.lr_shape(x, lr) == shape else np.nan,
                                n=16000, config=known)
        for shape in real
    }  # fmt: skip
    _inside(np.quantile(real["full"], [0.1, 0.25, 0.5, 0.75, 0.9]), prior["full"], "losses after 40 % of a full decay")
    for source, values in (("real", real), ("prior", prior)):
        ratio = np.quantile(values["full"], 0.95) / np.quantile(values["constant"], 0.95)
        assert ratio < 0.75, f"{source}: 95 % point of the move after a full decay / after a constant lr = {ratio:.2f}"


def test_overfit_statistics_read_a_curve_that_turns_up():
    x = np.arange(13.0)
    y = np.array([5, 3, 2, 1, 1, 1, 1.5, 1.8, 1.9, 1.95, 2.0, 2.0, 2.0])  # best at steps 3-5, then a concave rise
    assert C.overfit_onset(x, y, -1.0, max_noise=1.0) == 3 / 12
    # half-way: step 3 + 9 // 2 = 7, where the running median is 1.8
    assert C.overfit_shape(x, y, -1.0, max_noise=1.0) == pytest.approx((1.0 - 1.8) / (1.0 - 2.0))
    assert np.isnan(C.overfit_onset(x, np.linspace(5, 1, 13), -1.0))


@pytest.mark.parametrize("name", SMALL_NETWORKS)
def test_jumps_at_lr_drops_of_real_step_schedules_lie_inside_the_prior(name):
    prior = C.prior_statistic(
        lambda x, y, lr, d: C.lr_drop_jump(y, lr, d), n=4000, keep=lambda b: b.source == SOURCES.index("progress")
    )
    runs = [r for r in _records(name) if r["meta"]["schedule"] == "step"]
    jumps = np.array([C.lr_drop_jump(np.asarray(r["y"]), np.asarray(r["lr"]), _sign(r)) for r in runs])
    _inside(np.quantile(jumps[np.isfinite(jumps)], [0.25, 0.5, 0.75]), prior, "jump after the lr drop / range, quartiles")


def test_jumps_at_lr_drops_grow_with_the_run_s_steps_in_real_runs_and_in_the_prior():
    """Real lr drops jump by a median 0.07 % of the range in 20-80 epochs of small networks and 1.5 % in the
    byte-level LM's 2,400-4,000 steps; the progress source's jumps grow with the run's steps (prior v2.17): the median
    share it draws in runs of 1,000-10,000 steps is above that in runs of 10-100, and the LM's jumps lie inside the
    prior's 5-95 % there. The growth is read off the share's law (``priors.laws.progress_jump``), not off the jumps seen
    in ~150 sampled curves of each length, whose medians (noise and progress included) passed or failed by the seed:
    1.13x at seed 1 under prior v2.19."""
    config = PriorConfig()
    g = torch.Generator().manual_seed(0)

    def median_share(low, high):
        steps = LogUniform(low, high).from_uniform(torch.rand(20000, generator=g, dtype=torch.float64))
        u = torch.rand(20000, generator=g, dtype=torch.float64)
        shares = progress_jump(u, steps, config.lr_drop_jump, config.lr_drop_jump_steps, config.lr_drop_jump_power, torch)
        return float(shares.median())

    short, long_ = median_share(10.0, 100.0), median_share(1000.0, 10000.0)
    assert long_ > 1.5 * short, f"the progress source's median jump share: {short:.4f} in short runs, {long_:.4f} in long"
    # Every run with an lr drop of at least 2x between logged points (step, two-stage, and WSD seen by the epoch).
    real = {name: [C.lr_drop_jump(np.asarray(r["y"]), np.asarray(r["lr"]), _sign(r)) for r in _records(name)]
            for name in ("small_nets", "lm_cpu")}  # fmt: skip
    medians = {name: np.nanmedian(v) for name, v in real.items()}
    assert medians["lm_cpu"] > 1.5 * medians["small_nets"], medians

    def long_run_jump(x, y, lr, d):
        return C.lr_drop_jump(y, lr, d) if 1000.0 <= np.max(x) < 10000.0 else np.nan

    prior = C.prior_statistic(long_run_jump, n=16000, keep=lambda b: b.source == SOURCES.index("progress"))
    _inside(np.nanquantile(real["lm_cpu"], [0.25, 0.5, 0.75]), prior, "lm_cpu jump after the lr drop / range, quartiles")


def test_final_to_initial_loss_of_lm_runs_lies_inside_the_prior():
    laws = [SOURCES.index(s) for s in ("multi_power", "lr_annealing", "intrinsic_time")]
    prior = C.prior_statistic(
        lambda x, y, lr, d: C.final_to_initial(y),
        n=8000,
        keep=lambda b: (b.x[:, 0] == 0) & (b.source >= min(laws)) & (b.source <= max(laws)),
    )
    ratios = [C.final_to_initial(np.asarray(r["y"])) for r in _records("lm_cpu") if r["x"][0] == 0]
    assert ratios
    _inside(ratios, prior, "lm_cpu final / initial loss")


def _gpt25m_runs() -> dict[str, dict]:
    """The 25M GPT's runs by file name (``constant_24000``, ``wsd_20000_24000``, ...)."""
    return {r["id"].split("/")[-1]: r for r in _records("mpl_llm_25m")}


def _pairs() -> list[tuple[str, dict, dict]]:
    """(name, constant-lr parent, branch that cools down from it) of the 25M GPT and the LM runs."""
    gpt = _gpt25m_runs()
    out = [("25M " + k, gpt["constant_24000"], gpt[k]) for k in ("wsd_20000_24000", "wsdld_20000_24000")]
    lm = {r["id"]: r for r in _records("lm_cpu")}
    out += [(r["id"], lm[r["meta"]["parent"]], r) for r in lm.values() if "wsd" in r["id"] and r["meta"].get("parent")]
    return out


def _cooldown_gain_ratios(parent: dict, branch: dict) -> tuple[float, np.ndarray]:
    """The real branch's cooldown gain / stable drop, and the laws' draws of it for runs of the branch's length under its
    schedule."""
    px, py = np.asarray(parent["x"], float), np.asarray(parent["y"], float)
    bx, blr = np.asarray(branch["x"], float), np.asarray(branch["lr"], float)
    end = bx[-1]
    real = C.cooldown_gain_ratio(lambda s: np.interp(s, px, py), branch["y"][-1], end)
    prior = C.law_cooldown_gain_ratios(lambda u: np.interp(u * end, bx, blr) / blr.max(), 2000, steps=end)
    return real, prior


def test_cooldown_gains_of_real_runs_lie_inside_the_prior():
    pairs = _pairs()
    assert len(pairs) >= 10
    for name, parent, branch in pairs:
        real, prior = _cooldown_gain_ratios(parent, branch)
        _inside(real, prior, f"{name}: cooldown gain / stable drop from 40 to 80 %")


def test_no_run_length_sits_in_a_tail_of_the_prior_s_cooldown_gains():
    """How a cooldown's gain grows with the run's steps, checked on every run length at once: the 25M GPT's cooldowns
    after 14,000-24,000 steps (WSD and the partial decays of ``wsdcon_*``), the small byte-level LM's after 1,000-4,000
    and the larger one's after 600-2,400. With the gain growing as T^0.45 (prior v2.6-v2.17) the 25M GPT's lay at a
    median 0.22 of the prior's draws and the larger LM's at 0.74 (0.35 and 0.61 at T^0.3, prior v2.19); each group's
    median rank must lie in 0.2-0.8. The 25M GPT's lie low (0.23 since prior v2.42 centred the tied gain at 1, 0.35
    before) because this ratio's denominator, its stable drop from 40 to 80 %, is larger than the laws' constant-lr
    draws expect (its fall after 4,000-12,000 of 24,000 steps lies at their 0.93-0.97 points; docs/prior_experiments.md);
    given their prefixes its cooldowns' gains lie in the laws' middle (tests/benchmarks/test_prior_conditional.py)."""
    gpt = _gpt25m_runs()
    pairs = _pairs() + [("25M " + k, gpt["constant_24000"], gpt[k]) for k in gpt if k.startswith("wsdcon")]
    groups: dict[str, list[float]] = {}
    for name, parent, branch in pairs:
        group = "25M" if name.startswith("25M") else branch["group"]
        real, prior = _cooldown_gain_ratios(parent, branch)
        groups.setdefault(group, []).append(float(np.mean(prior < real)))
    assert set(groups) == {"25M", "lm-cpu/s", "lm-cpu/m"} and len(groups["25M"]) == 5, {k: len(v) for k, v in groups.items()}
    medians = {group: round(float(np.median(ranks)), 3) for group, ranks in groups.items()}
    assert all(0.2 <= m <= 0.8 for m in medians.values()), medians


def test_the_25m_gpt_s_cosine_gain_keeps_growing_past_24000_steps_as_the_prior_s_does():
    """The 25M GPT's cosine runs end 0.42 of their constant twin's stable drop below it after 24,000 steps and 0.96 after
    72,000: a growth of 2.3 times over three times the steps. With the gain's growth stopped at 30,000 steps (prior
    v2.6-v2.40) the longer run lay at 0.77 of the prior's draws; each must lie in 0.25-0.75."""
    gpt = _gpt25m_runs()
    ranks = {}
    for steps in ("24000", "72000"):
        real, prior = _cooldown_gain_ratios(gpt[f"constant_{steps}"], gpt[f"cosine_{steps}"])
        ranks[steps] = round(float(np.mean(prior < real)), 3)
    assert all(0.25 <= r <= 0.75 for r in ranks.values()), ranks


# The 25M GPT's runs warm up linearly over their first 2,160 steps, which the file does not log (../shared/data/README.md).
_GPT25M_WARMUP_STEPS = 2160.0


def _constant_lr_lm_runs() -> list[tuple[str, object, float, float]]:
    """(id, loss at a step, last step, warmup as a fraction of the run) of the constant-lr runs of the byte-level LMs
    and the 25M GPT."""
    runs = [r for name in ("lm_cpu", "mpl_llm_25m") for r in _records(name) if r["id"].split("/")[-1].startswith("constant")]
    out = []
    for r in runs:
        x, y = np.asarray(r["x"], float), np.asarray(r["y"], float)
        schedule = r["meta"]["schedule"]
        warmup = schedule["warmup"] if isinstance(schedule, dict) else _GPT25M_WARMUP_STEPS
        out.append((r["id"], lambda s, x=x, y=y: np.interp(s, x, y), float(x[-1]), warmup / float(x[-1])))
    return out


def test_late_progress_of_real_constant_lr_lm_runs_lies_inside_the_prior():
    runs = _constant_lr_lm_runs()
    assert len(runs) >= 4
    for name, run_at, end, warmup in runs:
        _, late = C.law_constant_lr_shapes(4000, steps=end, warmup=warmup)
        _inside(C.late_progress(run_at, end), late, f"{name}: progress after 40 % / from 10 to 40 %")


def test_late_progress_of_real_lm_runs_given_their_early_shape_lies_inside_the_prior():
    """Given how a run progressed from 10 to 40 %, a pure power law fixes the rest to within a few hundredths, and real
    runs bend off it: the small byte-level LM (early shape 0.85) keeps 0.54 of its progress to come where power laws
    of that shape keep 0.63-0.78, and the PFN trained on them extrapolated it from 40 % too low (its final loss at the
    0.92 point of the prediction). Prior v2.14 bends the power term (``LawConfig.bend``). The 25M GPT's shape is
    measured with its warmup (without it, it looked like a power law of exponent 1 that flattens late)."""
    for name, run_at, end, warmup in _constant_lr_lm_runs():
        early, late = C.law_constant_lr_shapes(20000, steps=end, warmup=warmup)
        shape = C.early_shape(run_at, end)
        alike = np.abs(early - shape) < 0.05 * abs(shape)
        assert alike.sum() >= 200, f"{name}: {alike.sum()} prior draws with an early shape near {shape:.3f}"
        _inside(C.late_progress(run_at, end), late[alike], f"{name}: late progress given an early shape of {shape:.3f}")


_BYTE_LM_EARLY_SHAPE = (
    "a known misfit (2026-12-05): the byte-level LMs gain more from 20 to 40 % of the run than from 10 to 20 % (early "
    "shape 0.85 and 0.97, at the prior's 4 % and 10 % points; the 25M GPT's 2.10 and 1.53 at 64 % and 55 %), so at 10 % "
    "of the run the PFN predicts their loss too high (PIT of the final loss 0.32) in intervals too wide (coverage 0.99)"
)


@pytest.mark.parametrize(
    "run",
    [
        pytest.param("lm-cpu/s/constant", marks=pytest.mark.xfail(strict=True, reason=_BYTE_LM_EARLY_SHAPE)),
        pytest.param("lm-cpu/m/constant", marks=pytest.mark.xfail(strict=True, reason=_BYTE_LM_EARLY_SHAPE)),
        "mpl25m/constant_24000",
        "mpl25m/constant_72000",
    ],
)
def test_early_shape_of_real_constant_lr_lm_runs_lies_inside_the_prior(run):
    """The progress of a constant-lr run from 10 to 20 % of it over that from 20 to 40 % (2^alpha for a power law),
    warmup included, against the laws' draws of the same length and warmup. Strict xfails: the byte-level LMs' shape
    lies outside the prior's 10-90 %, and a prior that takes it in makes them fail as unexpected passes, to un-mark."""
    runs = {name: (run_at, end, warmup) for name, run_at, end, warmup in _constant_lr_lm_runs()}
    run_at, end, warmup = runs[run]
    early, _ = C.law_constant_lr_shapes(4000, steps=end, warmup=warmup)
    _inside(C.early_shape(run_at, end), early, f"{run}: early shape", levels=(0.1, 0.9))


def _wsd20(u):
    """A WSD schedule relative to its peak with a 20 % linear cooldown, at normalized times ``u``."""
    return np.clip((1.0 - u) / 0.2, 0.0, 1.0)


@pytest.mark.parametrize("law", [None, "multi_power", "lr_annealing", "intrinsic_time"])
def test_cooldowns_gain_more_of_the_stable_drop_in_longer_runs(law):
    """Real 20 % cooldowns gain -0.06 of the stable drop after 1,000 steps of the small byte-level LM, 0.43 after
    4,000 and 0.69 after the 25M GPT's 24,000: the prior's median grows with the run's length in steps too, in each
    law (prior v2.6 left the intrinsic-time law's untied, up to 5.4 stable drops at its 95 % point at any length)."""

    weights = None if law is None else {law: 1.0}
    ratios = [C.law_cooldown_gain_ratios(_wsd20, 2000, steps=s, weights=weights) for s in (1000.0, 4000.0, 24000.0)]
    medians = [float(np.median(r)) for r in ratios]
    assert medians[0] < medians[1] < medians[2], medians
    assert medians[2] > 1.5 * medians[0], medians
    assert np.quantile(ratios[1], 0.95) < 1.5, f"{law}: 95 % point after 4,000 steps {np.quantile(ratios[1], 0.95):.3f}"


def test_intrinsic_time_cooldowns_realize_about_as_much_as_the_other_laws():
    """Prior v2.7's intrinsic-time law forgot its noise floor slowly (kernel exponent 1.1-2.0): a 20 % cooldown after
    4,000 steps gained a median 0.14 of the stable drop against the other laws' 0.37, and real LM cooldowns lay at
    0.72-0.89 of its draws; no law should sit that far from the others that real runs sit between."""

    others = C.law_cooldown_gain_ratios(_wsd20, 4000, steps=4000.0, weights={"multi_power": 1.0, "lr_annealing": 1.0})
    intrinsic = C.law_cooldown_gain_ratios(_wsd20, 2000, steps=4000.0, weights={"intrinsic_time": 1.0})
    ratio = np.median(intrinsic) / np.median(others)
    assert 0.75 < ratio < 1.33, f"intrinsic-time median {np.median(intrinsic):.3f}, the others' {np.median(others):.3f}"
