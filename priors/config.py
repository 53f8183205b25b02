"""The prior's configuration: every constant it draws with, in frozen dataclasses.

Plain data (no torch), so that the model card, the MCMC baseline and tools that
never sample read the same numbers the sampler uses. JSON round-trippable via
``dataclasses.asdict`` and ``PriorConfig(**json)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields

from priors.parameters import LogNormal
from priors.schedules import ScheduleConfig

SOURCES = ("families", "lcpfn", "multi_power", "lr_annealing", "intrinsic_time", "progress")


@dataclass(frozen=True)
class NoiseConfig:
    """Probabilities and scales of noise and pathologies (per curve unless noted)."""

    # Noise std relative to the curve's range, log-normal: real validation curves run from
    # ~0.03 % (smooth validation losses, LLM evaluations) to ~30 % (sample-wise curves of small
    # datasets) of their range (tests/priors/test_checks.py); with half of the small networks' curves shown
    # as losses, a log sd of 2.2 put the smoothest quarter of their real losses at the prior's 5 % edge.
    log_sigma_loc: float = -5.5
    log_sigma_scale: float = field(default=2.3, metadata={"range": (0.0, 5.0)})
    # Sample-wise curves (log-spaced points, each trained on a subset of its own) vary from point to point far more:
    # LCDB's accuracies have noise of 7 % of their range at the median, 18 % at the upper quartile. At e^2 (prior v2.1)
    # their quartiles sat at the 0.50/0.68/0.84 points of the prior's log-spaced curves of 16 points, and a curve cut at
    # 10 % of its anchors shows two, so its intervals are the prior's noise: LCDB's 90 % coverage 0.85 there, with its
    # misses on both sides alike (7 % each). At e^3 (prior v2.38) they sit at 0.35/0.52/0.73.
    log_spaced_shift: float = 3.0
    p_heteroscedastic: float = 0.3
    p_outliers: float = 0.15
    outlier_rate: float = field(default=0.04, metadata={"range": (0.0, 1.0)})  # per point, on curves that have outliers
    # A slow start: small networks trained with a small lr sit near their initial value for the first epochs, then
    # improve fast (digits-mlp/run027/loss in torch_real_dev: 2.299 .. 2.250 over 5 epochs of 50, then 0.164). At 0.1
    # (prior v2.8) small-network coverage at 10 % of the run was 0.838 with the schedule; at 0.25 (prior v2.10) 0.851,
    # gained across schedules (step-schedule losses 0.73 -> 0.78, constant-lr accuracies 0.75 -> 0.79), though
    # constant-lr losses stayed at 0.73 (their truths below the 5 % quantile 0.27 of the time): real slow starts drift
    # down and accelerate, and can last half the run (digits-mlp/run000/loss: 2.301 .. 2.285 over 5 epochs, 1.588 at
    # 50). Since prior v2.15 the curve creeps during the delay, at ``slow_start_creep`` of its own speed, then runs at
    # full speed from where it got to.
    p_slow_start: float = 0.25
    # fraction of the run it creeps, uniform (the progress source: of its clock since prior v2.16, so it ends sooner in
    # steps under a decaying lr)
    slow_start_delay: tuple[float, float] = (0.05, 0.45)
    slow_start_creep: tuple[float, float] = (0.01, 0.3)  # speed while creeping, log-uniform (0.01: nearly held)
    # ... along a path (progress through the delay) ** this, uniform: real small networks that break out late creep down
    # steadily first (the first tenth's mean step over the sd of its steps above 2: 12 of 31 creepers, 58 % of them
    # break out), where the curve held at its first value, then bent as its own start (prior v2.15-v2.29), made
    # such starts rare and read them as levelled off (19 % break out; docs/prior_experiments.md).
    # 1-1.5 (prior v2.33; 1-3 in v2.30): real small networks creep through a warmup steadily in intrinsic time (fall per
    # epoch over its lr: last half of the first tenth over its first half a median 1.0) and then break out; at 1-3 the
    # prior drew such contexts 8 times in 100,000 draws, at 1 26 times (docs/prior_experiments.md).
    slow_start_shape: tuple[float, float] = (1.0, 1.5)
    # ... with its noise x this, log-uniform: a network that has not started barely changes its outputs, so its
    # validation loss barely fluctuates (real creepers that break out: sd of second differences over the first tenth
    # a median 0.35 of the last 30 %'s, the prior's 0.52 with the noise unchanged; docs/prior_experiments.md).
    slow_start_quiet: tuple[float, float] = (0.05, 1.0)
    p_plateau: float = 0.08
    plateau_start: tuple[float, float] = (0.1, 0.7)  # uniform, as is ...
    plateau_length: tuple[float, float] = (0.05, 0.25)  # ... the fraction of the run it freezes
    p_spike: float = 0.08
    p_divergence: float = 0.04
    # The schedule-aware laws' losses (LLM pretraining: tuned recipes, one epoch) rarely stall, start late or fall
    # apart. At the small networks' rates (prior v2.10) these futures set the upper end of the PFN's intervals on
    # real LM runs: the truths of the 25M GPT and our byte-level LMs fell above the 75 % point 0-6 % of the time at
    # 10-40 % of the run and above the 95 % point never, coverage 0.92-0.99 (runs/pit.py in the closing note).
    p_slow_start_law: float = 0.02
    p_plateau_law: float = 0.02
    p_divergence_law: float = 0.01
    # Validation loss turning up after its minimum, accuracy decaying after its peak: common for small networks
    # trained for epochs (families, progress; a quarter of real small-network losses end 5 % of their range above
    # their best), rare for losses under a schedule-aware law (single-epoch pretraining: at 5 % the PFN predicted
    # the final losses of real LM runs too high from 10-20 % of the run, a median 0.1-0.3 of their predictive) ...
    p_overfit: float = 0.25
    p_overfit_law: float = 0.02
    # ... by this much x the curve's range at the end, log-uniform: real small-network losses end up to half their
    # range above their best (a tenth of them beyond that), which sizes up to 1.5 reached half as often.
    overfit_size: tuple[float, float] = (0.02, 3.0)
    # ... and losses (unbounded above) by up to 10x: an eighth of real small-network validation losses end above
    # their first logged value (cross-entropy grows without bound as the network turns over-confident), which
    # needs rises of several times the clean curve's drop when the best came early (priors.checks.ends_worse).
    overfit_size_loss: tuple[float, float] = (0.02, 10.0)
    # ... from an onset (fraction of the run, log-uniform; the progress source grows it on intrinsic time since prior
    # v2.16, as real small networks barely overfit once a full decay has brought the lr down) ...
    overfit_onset: tuple[float, float] = (0.01, 0.6)
    # ... growing as (time since onset)^power, log-uniform: real small networks that overfit are at their best at a
    # median 12 % of the run and then rise fast, then slower (concave: 71 % of the rise half-way from the best to the
    # end); onsets of 10-80 % and powers of 1-2.5 (convex) put the best at 42 % and 38 % of the rise half-way
    # (priors.checks.overfit_onset, overfit_shape; tests/priors/test_checks.py).
    overfit_power: tuple[float, float] = (0.3, 1.2)

    def __post_init__(self) -> None:
        for f in fields(self):  # JSON gives lists for the ranges
            value = getattr(self, f.name)
            if isinstance(value, (list, tuple)):
                object.__setattr__(self, f.name, tuple(float(v) for v in value))


@dataclass(frozen=True)
class LoggingConfig:
    """When curves are logged, in normalized time (fractions of the run)."""

    p_first_step: float = 0.5  # the first logged point is the first step (1/n), else late ...
    late_first: tuple[float, float] = (0.001, 0.301)  # ... uniformly here, as after a warmup
    p_irregular: float = 0.5  # gaps mixed with exponential ones ...
    max_irregular: float = field(default=0.95, metadata={"range": (0.0, 0.99)})  # ... with a uniform weight up to this
    p_log_spaced: float = 0.2  # (training-set sizes of sample-wise curves, LCDB's anchors) ...
    log_spaced_first: tuple[float, float] = (1e-4, 0.03)  # ... over 1.5 to 4 decades: the first point log-uniformly here

    def __post_init__(self) -> None:
        object.__setattr__(self, "late_first", tuple(float(v) for v in self.late_first))
        object.__setattr__(self, "log_spaced_first", tuple(float(v) for v in self.log_spaced_first))


@dataclass(frozen=True)
class LawConfig:
    """Parameter priors of the schedule-aware laws (:data:`priors.laws.SCHEDULE_LAWS`), in normalized units: time
    as a fraction of the run, lr relative to its peak, so intrinsic time ``s1 <= 1``. Ranges are ``(low, high)``,
    log-uniform unless said otherwise. (The schedule-free families keep LC-PFN's published priors, in ``priors.laws``.)

    A cooldown's gain is drawn relative to the progress of the run's last doubling under a constant lr
    (``tied_gain``, :func:`priors.laws.last_doubling`). The published multi-power fits of GPT models trained 24,000
    steps at peak lr 3e-4 after 2,160 warmup steps (Luo et al. 2025, github.com/thu-yao-01-luo/MultiPowerLaw: 25M,
    100M, 400M parameters) have gains 1.48, 1.58 and 1.77 and C of 2,700, 3,100 and 2,500 in these units (the 25M
    fit: A 0.19, alpha 0.51, s0 0.045, B 0.11); our byte-level LMs (benchmarks/lm_curves.py) gain about 0.9. The gain
    is log-normal around 1 (centred at 1.3 the PFN predicted the byte-level LMs' cooldowns twice too deep and left the
    25M GPT's as shallow as before; at 0.8, prior v2.6-v2.41, the laws' draws that share a real cooldown's prefix put 33
    of 35 real gains above their median), C log-uniform around 3,000. A 20 % cooldown then ends a median 0.25/0.52/1.09
    of the stable phase's drop from 40 % to 80 % of the run below a constant lr after 1,000/4,000/24,000 steps (real
    runs: the small byte-level LM's -0.06/0.43, the 25M GPT's 0.69, whose stable drop is larger than the laws'
    constant-lr draws expect). Drawn independently of A (prior v1), a cooldown's gain was unpredictable from the run
    before it, and the PFN predicted a tenth of real gains.

    Cooldowns gain more, relative to the run before them, the longer the run is in steps (prior v2.6): the law's
    amplitude of loss drops (B, C of the annealing law) is fixed in the loss's own units while the power term's
    progress over the last doubling shrinks as T^-alpha, and drops are realized over a fixed number of steps, so in
    units of the run C grows with T. Real 20 % cooldowns gain -0.06/0.22/0.30/0.43 of the stable drop after
    1,000/2,000/3,000/4,000 steps of our small byte-level LM and 0.69 after the 25M GPT's 24,000. So the tied gain's
    median is ``tied_gain`` at ``reference_steps`` and grows as ``(T / reference_steps) ** gain_steps_power`` with T
    clipped to ``gain_steps_clip``, the intrinsic-time law's noise floor with it (prior v2.7), and the multi-power law's
    C is
    ``multi_power_C_per_step`` x T (2,500-3,100 at 24,000 steps in the published fits). :func:`priors.laws.at_horizon`
    applies them; the PFN sees T as the token feature ``log_steps``.
    """

    # The power term L0 + A (s1 + s0)^-alpha that all three laws share.
    L0: tuple[float, float] = (0.02, 20.0)
    A: tuple[float, float] = (0.1, 1.0)
    alpha: tuple[float, float] = (0.15, 1.2)  # uniform
    s0: tuple[float, float] = (1e-3, 0.3)
    # The power term's bend, uniform (priors.laws.power_term): its local exponent alpha (1 + bend S) flattens late in the
    # run for a negative bend and steepens for a positive one; above -1 / max S = -1 / 1.3 it stays positive. Pure power
    # laws (prior v2.13) fixed a run's progress after 40 % of it by its shape from 10 to 40 %, and our small byte-level
    # LM levels off sooner than that allows (0.54 of its progress to come against 0.63-0.78; tests/priors/test_checks.py).
    # Bends down to -0.75 take it in (it lies at 6 % of the draws of its shape); beyond +0.5 the 25M GPT's runs leave.
    bend: tuple[float, float] = (-0.75, 0.5)
    # Centred at 0.8 (-0.22, prior v2.6-v2.41) the real cooldown gains lay at a median 0.70 of the laws' draws nearest
    # their prefix in shape (the 25M GPT's, the small and the larger byte-level LM's at 0.63/0.69/0.73; the 100M GPT's
    # at 0.94-0.97), the published fits' gains at 0.56-0.71 (tests/priors/test_laws.py); at 1 those are 0.46/0.53/0.60,
    # 0.89-0.93 and 0.37-0.53 (tests/benchmarks/test_prior_conditional.py). Unconditionally the 25M GPT's gain over its
    # stable drop then lies at 0.23 of the draws: that drop is larger than the laws expect (tests/priors/test_checks.py).
    tied_gain: tuple[float, float] = (0.0, 0.45)  # multi-power and annealing laws: log-normal (mean, sd of the log) ...
    reference_steps: float = field(default=4000.0, metadata={"range": (1.0, None)})  # ... at this many steps ...
    # ... growing as T^this. The larger byte-level LM's cooldowns gain 0.11/0.31/0.34/0.32 of the stable drop after
    # 600/1,200/1,800/2,400 steps, flat past 1,200; the small one's short runs rise only because they are still early.
    # At 0.45 (prior v2.6-v2.17) every 25M GPT cooldown lay at 0.15-0.24 of the prior's draws of that ratio and the
    # larger LM's short runs at 0.75-0.85. At 0.2 (v2.18) the ratios lie at 0.35-0.69, but the published fits' gains
    # at 24,000 steps (1.48-1.77) at 0.85-0.92 of the gain's draws, and the model trained on it predicted the 25M GPT's
    # WSD cooldowns 0.6 as deep as they are (0.83 before). At 0.3 (v2.19) each run length's median rank of the ratio
    # lies in 0.35-0.61 and the published gains at 0.57-0.72 (tests/priors/test_checks.py, tests/priors/test_laws.py).
    gain_steps_power: float = field(default=0.3, metadata={"range": (0.0, 2.0)})
    # ... with T clipped here. The 25M GPT's cosine runs end 0.42 of their constant twin's stable drop below it after
    # 24,000 steps and 0.96 after 72,000; with the growth stopped at 30,000 steps (prior v2.6-v2.40) the longer run lay
    # at 0.77 of the laws' draws, at 100,000 (v2.41) at 0.57.
    gain_steps_clip: tuple[float, float] = (500.0, 1e5)
    multi_power_C_per_step: tuple[float, float] = (0.01, 1.0)  # the law's C / T
    multi_power_C: tuple[float, float] = (300.0, 3e4)  # the progress source's C, in units of its run
    multi_power_beta: tuple[float, float] = (0.3, 1.0)  # uniform
    multi_power_gamma: tuple[float, float] = (0.3, 1.3)  # uniform
    annealing_decay_time: tuple[float, float] = (0.005, 0.2)
    # The intrinsic-time law's noise floor, x the last doubling, growing with T as the tied gain does (prior v2.7: a
    # floor fixed in the loss's units is a larger share of a longer run's shrinking progress). From 0.1 to 10 and untied
    # (prior v2.6), a 20 % cooldown's gain / stable drop reached 5.4 at the 95 % point at any length (tied, -12..18 at
    # 5-95 % after 24,000 steps; priors.checks.law_cooldown_gain_ratios), beyond any real run (-0.06..0.69 for 20 %
    # cooldowns), and LLM runs' intervals were too wide (coverage 0.99 at 40 % on the byte-level LMs).
    # The kernel's exponent rho sets how fast a lower lr forgets the floor. With rho 1.1-2.0 and the floor 0.3-3
    # (prior v2.7) this law's cooldowns realized least of it: a 20 % cooldown's median gain / stable drop was
    # 0.01/0.14/0.52 after 1,000/4,000/24,000 steps against the other laws' 0.10/0.37/1.10, and real LM cooldowns
    # (10-60 % of the run, -0.08..0.43) lay at 0.72-0.89 of its draws (0.5-0.7 of the others'). With rho 1.4-2.2 and
    # the floor 0.6-2.4 (prior v2.8) its medians are 0.12/0.33/1.05 and its 95 % point after 4,000 steps 1.31 (1.26).
    # Its median a quarter higher with the tied gain (prior v2.42), so that its cooldowns keep realizing about as much as
    # the other laws' (0.45 of the stable drop after 4,000 steps against their 0.53; at 0.6-2.4, 0.33); the top kept, as
    # at 0.75-3 its 95 % point after 4,000 steps reached 1.76 stable drops (now 1.44, the other laws' 1.36).
    noise_gain: tuple[float, float] = (0.9, 2.4)
    noise_rho: tuple[float, float] = (1.4, 2.2)  # uniform

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            object.__setattr__(self, f.name, float(value) if isinstance(value, (int, float)) else tuple(float(v) for v in value))
        steepest_flattening = -1.0 / (1.0 + self.s0[1])
        if self.bend[0] <= steepest_flattening:
            raise ValueError(
                f"bend: {self.bend} reaches below {steepest_flattening:.3f} = -1 / (1 + s0's high end), where the loss turns up"
            )


@dataclass(frozen=True)
class PriorConfig:
    """Every constant of the prior: mixture weights, ranges and knobs. JSON round-trippable via ``asdict``
    (the model card holds it, enough to rebuild the prior that trained the model). Ranges are
    ``(low, high)`` of log-uniform draws unless said otherwise."""

    source_weights: tuple[float, ...] = (0.18, 0.15, 0.22, 0.12, 0.08, 0.25)  # over SOURCES
    p_known_schedule: float = 0.75
    p_horizon_known: float = 0.7  # for curves whose schedule is hidden (a revealed schedule reveals the horizon)
    p_bounds_known: float = 0.5
    p_affine: float = 0.5  # values mapped by a random a*y + b ...
    affine_scale: tuple[float, float] = (1e-3, 1e3)  # ... a log-uniform ...
    affine_shift_sd: float = field(default=10.0, metadata={"range": (0.0, None)})  # ... b / a normal
    grid_size: int = field(default=32, metadata={"range": (4, 256)})  # schedule grid cells for the laws' pairwise sums
    family_inclusion: float = field(default=0.2, metadata={"range": (0.0, 1.0)})  # chance each family joins a mixture
    family_time_scale: tuple[float, float] = (100.0, 0.75)  # LC-PFN epochs per run: log-normal (median, sd of the log)
    # Steps of a run, log-uniform: the laws' cooldown gains grow with it (LawConfig) and the PFN sees it (log_steps), so
    # the other sources span the same range and the x-scale does not tell them apart (epochs of small networks, sizes
    # of LCDB's training sets up to 10^6, steps of small and large networks alike).
    family_horizon: tuple[float, float] = (10.0, 1e6)
    family_metrics: tuple[float, float, float] = (0.5, 0.25, 0.25)  # shown as accuracy, error rate, score
    law_horizon: tuple[float, float] = (500.0, 1e6)  # steps of a schedule-law run
    progress_horizon: tuple[float, float] = (10.0, 1e6)
    # accuracy, error rate, score, loss: small networks are watched by their validation loss as often as by an accuracy
    # (half of torch_real_dev's curves), and the schedule laws' losses (LLM-like, rarely overfitting) outnumbered
    # these five to one, so the PFN read a small network's loss as an LLM's (intervals too narrow on both sides at 10 %).
    progress_metrics: tuple[float, float, float, float] = (0.3, 0.1, 0.1, 0.5)
    # progress: a full lr decay's jump, x the curve's own gain; real small networks under step schedules jump by
    # 0-7 % of their range at the drop (tests/priors/test_checks.py), a range of 1-100 % of the gain overshot that.
    # Most jump by almost nothing (median 0.2 % of the range in both small-network files, 10 % of them by 6-20 %): from
    # 0.5 % (prior v2.15) the PFN expected a drop still to come under a linear or cosine decay where real losses had
    # levelled off (small_nets at 40 % of the run: log-likelihood 0.1 lower with the schedule than without).
    lr_drop_jump: tuple[float, float] = (1e-4, 0.5)
    # ... in runs of up to lr_drop_jump_steps[0] steps: a longer run's low end grows as (steps / that) ** the power, with
    # its steps clipped to lr_drop_jump_steps[1], as the laws' cooldown gains grow with the run (LawConfig). Real lr
    # drops jump by a median 0.07-0.2 % of the range in 20-80 epochs of small networks, 1.5 % in byte-level LM runs of
    # 2,400-4,000 steps and 7 % in the 25M GPT's of 14,000 (priors.checks.lr_drop_jump).
    # Jumps as small in long runs as in short ones (prior v2.16) halved the cooldowns the PFN expected of short LM runs
    # (what-if gain error 26 % -> 30 %), which it cannot tell apart from small networks otherwise.
    lr_drop_jump_steps: tuple[float, float] = (50.0, 1e4)
    lr_drop_jump_power: float = field(default=1.0, metadata={"range": (0.0, 2.0)})
    # progress: the families run on the clock ∫ lr^p du, p uniform here (1: intrinsic time, 0: the step). Real small
    # networks keep improving under a decaying lr more than intrinsic time allows: on intrinsic time alone (prior v2.7),
    # their validation losses under exponential and inverse-sqrt decay fell below the PFN's 5 % quantile at 10 % of the
    # run about twice as often with the schedule given as without it (0.10/0.14 against 0.04/0.07 of the points).
    progress_lr_power: tuple[float, float] = (0.0, 1.0)
    # progress: a loss is the families' error (1 - y) to this power, log-uniform. A cross-entropy falls by orders of
    # magnitude as a network grows confident, an error rate of the same run far less: real small-network validation
    # losses end at a median 0.70x, a quarter of them below 0.30x and a tenth below 0.17x of their value at 10 % of the
    # run. Losses drawn as the error itself (prior v2.11) put those at the prior's 6.6 % and 3.3 % points (powers of
    # 1-4: 16 % and 10 %; priors.checks.late_fall, tests/priors/test_checks.py), and the PFN's 5 % quantile at 10 % of
    # the run lay above the truths of 11-28 % of the points of real losses under constant, step and WSD schedules.
    progress_loss_power: tuple[float, float] = (1.0, 4.0)
    lcpfn_log_sigma: tuple[float, float] = (-4.0, 1.0)  # LC-PFN's absolute noise: normal log sd (mean, sd)
    p_log_from_zero: float = 0.25  # loss curves logged from step 0 (the untrained model's loss), as LM runs are
    p_transient: float = 0.5  # loss curves (schedule laws) with an early transient: a fast fall from the initial loss ...
    transient_size: tuple[float, float] = (0.5, 20.0)  # ... of this size x the power law's amplitude A ...
    # ... decaying on this intrinsic time (fractions of the run; a byte-level LM halves its loss within 0.1 % of it)
    transient_time: tuple[float, float] = (3e-4, 0.03)
    p_quantized: float = 0.3  # accuracies and error rates measured on a finite validation set ...
    quantized_n: tuple[float, float] = (30.0, 3000.0)  # ... of this many examples
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    noise: NoiseConfig = field(default_factory=NoiseConfig)
    laws: LawConfig = field(default_factory=LawConfig)

    def time_scale_prior(self) -> LogNormal:
        """LC-PFN epochs per run: the families' laws live in LC-PFN's epoch units (1..100)."""
        median, sd = self.family_time_scale
        return LogNormal(math.log(median), sd)

    def __post_init__(self) -> None:
        if len(self.source_weights) != len(SOURCES) or min(self.source_weights) < 0 or sum(self.source_weights) <= 0:
            raise ValueError(
                f"source_weights must be {len(SOURCES)} non-negative weights over {SOURCES}, got {self.source_weights}"
            )
        for f in fields(self):  # JSON gives lists for tuples and dicts for the nested configs
            value = getattr(self, f.name)
            if isinstance(value, list):
                object.__setattr__(self, f.name, tuple(float(v) for v in value))
        for name, kind in (("logging", LoggingConfig), ("schedule", ScheduleConfig), ("noise", NoiseConfig), ("laws", LawConfig)):
            if isinstance(getattr(self, name), dict):
                object.__setattr__(self, name, kind(**getattr(self, name)))
