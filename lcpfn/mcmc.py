"""The MCMC baseline: Bayesian extrapolation under the same laws and priors, done the slow way.

>>> from lcpfn.mcmc import MCMCExtrapolator
>>> mcmc = MCMCExtrapolator(draws=200, tune=300, chains=2, time_budget_s=60, seed=1)
>>> pred = mcmc.predict(range(1, 21), [1 - 0.5 * t ** -0.5 for t in range(1, 21)], [100], direction="max")
>>> pred.quantile([0.05, 0.95]).shape, pred.diagnostics["chains"], pred.diagnostics["sampler"] in ("nutpie", "pymc")
((2, 1), 2, True)

The PyMC model is built from :mod:`priors.laws` (the same functions, through
pytensor) with the parameter priors of :mod:`priors.laws` and works in the PFN's
normalized units (:mod:`lcpfn.features`: flipped so lower is better, shifted and
scaled by the context), so its predictions are comparable point by point:

* without a schedule: a weighted mix of families (default LC-PFN's pow3, ilog2
  and janoschek; ``families=tuple(priors.laws.FAMILIES)`` for all eleven) at a
  random time scale, as in the prior's ``families`` source;
* with a schedule: a schedule-aware law (default ``multi_power``) on the
  schedule's intrinsic time;

each seen through a random affine map (``z = b + a * law``, the metric's
direction folded in) with Gaussian noise whose scale has the prior's log-normal
law relative to the curve's range. Left out, and said so: the prior's
pathologies (plateaus, spikes, divergence), outliers and time warps.

The posterior predictive is the mixture over posterior draws of the observation
density (normal, truncated at known bounds), so ``log_prob`` compares with the
PFN's. NUTS runs with nutpie when it is installed, PyMC's sampler otherwise,
within a wall-clock budget; ``prediction.diagnostics`` holds r-hat, bulk ESS and
divergences, and a warning is logged when r-hat exceeds 1.01.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from lcpfn.errors import BudgetExceededError, InvalidCurveError, require
from lcpfn.features import evenly_spaced, normalize_context
from lcpfn.inputs import SCHEDULE_GRID, Curve, ScheduleLike, check_curve, schedule_on_grid
from lcpfn.prediction import Prediction
from priors.config import PriorConfig
from priors.laws import FAMILIES, LCPFN_FAMILIES, SCHEDULE_LAWS, power_term
from priors.parameters import LogNormal, LogUniform, Normal, OneMinus, Uniform
from priors.schedules import interpolate, schedule_grid

log = logging.getLogger(__name__)

MAX_FIT_POINTS = 300  # longer contexts are subsampled evenly for the likelihood (the latest point kept)
MCMC_GRID = 128  # schedule grid cells of the laws' pairwise sums (the PFN's features use SCHEDULE_GRID)
MAX_PREDICTIVE_DRAWS = 400  # posterior draws the predictive mixture keeps (evenly thinned)
RHAT_WARNING = 1.01


# --------------------------------------------------------------------------- the predictive


@dataclass(frozen=True)
class MixturePredictive:
    """Mixture over ``D`` draws of normals ``(mu (D, Q), sigma (D, 1))`` truncated to ``[lo, hi]``."""

    mu: np.ndarray
    sigma: np.ndarray
    lo: float = -math.inf
    hi: float = math.inf

    def _std(self, z):
        return (z - self.mu) / self.sigma

    def _log_mass(self):
        """log P(lo <= value <= hi) per draw and query; accurate when a draw's mean lies far outside."""
        return _log_ndtr_diff(self._std(self.lo), self._std(self.hi))

    def cdf(self, z):
        z = np.clip(np.broadcast_to(np.asarray(z, dtype=float), self.mu.shape[1:]), self.lo, self.hi)
        below = np.exp(_log_ndtr_diff(self._std(self.lo), self._std(z[None])) - self._log_mass())
        return np.clip(np.mean(below, axis=0), 0.0, 1.0)

    def log_prob(self, z):
        z = np.broadcast_to(np.asarray(z, dtype=float), self.mu.shape[1:])
        logpdf = -0.5 * self._std(z[None]) ** 2 - np.log(self.sigma * math.sqrt(2 * math.pi)) - self._log_mass()
        top = logpdf.max(axis=0)
        out = top + np.log(np.mean(np.exp(logpdf - top), axis=0))
        return np.where((z >= self.lo) & (z <= self.hi), out, -np.inf)

    def quantile(self, levels):
        """By bisection on the mixture's cdf: ``(Q, L)``."""
        levels = np.asarray(levels, dtype=float)
        spread = 10.0 * self.sigma.max()
        low = np.full((self.mu.shape[1], len(levels)), max(self.lo, self.mu.min() - spread))
        high = np.full_like(low, min(self.hi, self.mu.max() + spread))
        for _ in range(50):
            mid = 0.5 * (low + high)
            below = np.stack([self.cdf(mid[:, j]) for j in range(len(levels))], axis=1) < levels[None, :]
            low, high = np.where(below, mid, low), np.where(below, high, mid)
        return 0.5 * (low + high)

    def mean(self):
        from scipy.stats import truncnorm

        a, b = (self.lo - self.mu) / self.sigma, (self.hi - self.mu) / self.sigma
        return np.mean(truncnorm.mean(a, b, loc=self.mu, scale=np.broadcast_to(self.sigma, self.mu.shape)), axis=0)


def _log_ndtr_diff(a, b):
    """``log(Φ(b) - Φ(a))`` for ``a <= b``, without the cancellation of ``Φ(b) - Φ(a)`` when
    both lie in the same tail (a truncation limit many sigmas from a draw's mean)."""
    from scipy.special import log_ndtr

    a, b = np.broadcast_arrays(np.asarray(a, dtype=float), np.asarray(b, dtype=float))
    flip = a > 0  # Φ(b) - Φ(a) = Φ(-a) - Φ(-b): keep both arguments in the accurate lower tail
    lo, hi = np.where(flip, -b, a), np.where(flip, -a, b)
    log_hi, log_lo = log_ndtr(hi), log_ndtr(lo)
    with np.errstate(divide="ignore"):
        return log_hi + np.log1p(-np.exp(np.minimum(log_lo - log_hi, 0.0)))


# --------------------------------------------------------------------------- the model


def _pm_prior(pm, name: str, dist):
    """The PyMC twin of a :mod:`priors.parameters` distribution."""
    if isinstance(dist, Uniform):
        return pm.Uniform(name, dist.low, dist.high)
    if isinstance(dist, Normal):
        return pm.Normal(name, dist.loc, dist.scale)
    if isinstance(dist, LogNormal):
        return pm.LogNormal(name, dist.loc, dist.scale)
    if isinstance(dist, LogUniform):
        return pm.Deterministic(name, pm.math.exp(pm.Uniform(f"log_{name}", math.log(dist.low), math.log(dist.high))))
    if isinstance(dist, OneMinus):
        return pm.Deterministic(name, 1.0 - _pm_prior(pm, f"{name}_base", dist.base))
    raise TypeError(f"no PyMC twin for {type(dist).__name__}")


@dataclass(frozen=True)
class _Problem:
    """A checked curve in normalized units, with what the laws need at context and query steps."""

    u_ctx: np.ndarray
    z_ctx: np.ndarray
    u_qry: np.ndarray
    loc: float
    scale: float
    lo: float
    hi: float
    schedule: tuple | None  # (grid, s1_ctx, s1_qry) when a schedule is known


def _problem(curve: Curve) -> _Problem:
    keep = evenly_spaced(len(curve.x), MAX_FIT_POINTS)
    xs, ys = curve.x[keep], curve.y[keep]
    norm = normalize_context(ys[None], np.array([curve.direction]), np.array([curve.lower]), np.array([curve.upper]))
    sched = None
    horizon = curve.time_unit
    if curve.schedule is not None:
        _, grid_lr = schedule_on_grid(curve)
        u = np.linspace(0.0, 1.0, SCHEDULE_GRID + 1)
        fine = schedule_grid(u, grid_lr / grid_lr.max())
        # The laws' pairwise sums run on a coarser grid (each gradient costs points x cells);
        # its intrinsic times are the fine grid's, so s1 - s1_k stays exact at the cell edges.
        every = SCHEDULE_GRID // MCMC_GRID
        grid = schedule_grid(u[::every], fine.lr[::every])._replace(s1=fine.s1[::every])
        sched = (grid, interpolate(u, fine.s1, xs / horizon), interpolate(u, fine.s1, curve.x_query / horizon))
    return _Problem(
        xs / horizon,
        norm.z(ys[None])[0],
        curve.x_query / horizon,
        float(norm.loc[0, 0]),
        float(norm.scale[0, 0]),
        float(norm.best[0, 0]),
        float(norm.worst[0, 0]),
        sched,
    )


def _build(pm, pt, problem: _Problem, families: tuple[str, ...], law_name: str, prior: PriorConfig):
    """The PyMC model; returns it with the law as a function of (u, s1) for the predictive."""
    with pm.Model() as model:
        a = pm.LogNormal("a", 0.0, 2.0)  # z units per unit of the law (the context spans about 1)
        b = pm.Normal("b", 0.0, 10.0)
        rel_sigma = pm.LogNormal("rel_sigma", prior.noise.log_sigma_loc, prior.noise.log_sigma_scale)
        if problem.schedule is None:
            # Accuracy-like families, increasing in [0, 1]; lower is better, so z falls as they rise.
            median, sd = prior.family_time_scale
            time_scale = pm.LogNormal("time_scale", math.log(median), sd)
            weights = pm.Dirichlet("weights", np.ones(len(families))) if len(families) > 1 else None
            params = {f: {k: _pm_prior(pm, f"{f}.{k}", d) for k, d in FAMILIES[f].priors.items()} for f in families}

            def law(u, s1=None):
                t = pt.clip(u * time_scale, 1e-3, np.inf)
                parts = [FAMILIES[f](t, xp=pt, **params[f]) for f in families]
                mix = parts[0] if weights is None else sum(weights[i] * p for i, p in enumerate(parts))
                return -mix

            span = a  # the families live in [0, 1]
        else:
            grid = problem.schedule[0]
            spec = SCHEDULE_LAWS[law_name]
            params = spec.law_params({k: _pm_prior(pm, f"{law_name}.{k}", d) for k, d in spec.priors.items()}, pt)

            def law(u, s1):
                return spec(pt.as_tensor(u), pt.as_tensor(s1), grid, xp=pt, **params)

            # Loss laws are unbounded; the noise is relative to the power term's drop over the run.
            s1_end = float(grid.s1[-1])
            power = {k: params[k] for k in ("L0", "A", "alpha", "s0")}
            span = a * (power_term(0.0, xp=pt, **power) - power_term(s1_end, xp=pt, **power))
        s1_ctx = None if problem.schedule is None else problem.schedule[1]
        mu = b + a * law(problem.u_ctx, s1_ctx)
        sigma = pm.Deterministic("sigma", span * rel_sigma + 1e-9)
        pm.Normal("z", mu=mu, sigma=sigma, observed=problem.z_ctx)
    return model, law


class MCMCExtrapolator:
    """NUTS under the prior's laws; ``predict`` has the PFN's signature and returns a :class:`~lcpfn.Prediction`.

    ``draws``/``tune`` per chain; ``time_budget_s`` bounds the whole sampling (chains
    stop where they are when it runs out; the draws so far are used). ``families``
    (no schedule) and ``law`` (with a schedule) choose the laws; ``sampler`` is
    ``"auto"`` (nutpie if installed), ``"nutpie"`` or ``"pymc"``.
    """

    def __init__(
        self,
        *,
        draws: int = 500,
        tune: int = 500,
        chains: int = 2,
        time_budget_s: float = 120.0,
        target_accept: float = 0.9,
        families: Sequence[str] = LCPFN_FAMILIES,
        law: str = "multi_power",
        sampler: str = "auto",
        seed: int = 0,
    ):
        unknown = [f for f in families if f not in FAMILIES]
        if not families or unknown:
            raise ValueError(f"families must be a non-empty subset of {sorted(FAMILIES)}, got {list(families)}")
        if law not in SCHEDULE_LAWS:
            raise ValueError(f"law must be one of {sorted(SCHEDULE_LAWS)}, got {law!r}")
        if sampler not in ("auto", "nutpie", "pymc"):
            raise ValueError(f"sampler must be 'auto', 'nutpie' or 'pymc', got {sampler!r}")
        if draws < 1 or tune < 0 or chains < 1 or not time_budget_s > 0:
            raise ValueError(
                f"need draws >= 1, tune >= 0, chains >= 1, time_budget_s > 0; got {draws=}, {tune=}, {chains=}, {time_budget_s=}"
            )
        self.draws, self.tune, self.chains, self.time_budget_s = draws, tune, chains, time_budget_s
        self.target_accept, self.families, self.law, self.sampler, self.seed = target_accept, tuple(families), law, sampler, seed
        self.prior = PriorConfig()

    def predict(
        self,
        x: Sequence[float],
        y: Sequence[float],
        x_query: Sequence[float] | float | None = None,
        *,
        horizon: float | None = None,
        schedule: ScheduleLike = None,
        direction: str = "min",
        bounds: tuple[float | None, float | None] | None = None,
    ) -> Prediction:
        """Posterior predictive at ``x_query`` (default: the horizon); the arguments of :meth:`lcpfn.Model.predict`.

        >>> mcmc = MCMCExtrapolator(draws=50, tune=50, chains=1)
        >>> pred = mcmc.predict([1, 2, 3, 4], [3.0, 2.5, 2.3, 2.2], horizon=10)  # doctest: +SKIP
        """
        curve = check_curve(x, y, x_query, horizon=horizon, direction=direction, bounds=bounds, schedule=schedule)
        if len(curve.x) < 2:
            raise InvalidCurveError(f"the MCMC baseline needs at least 2 observed points, got {len(curve.x)}")
        pm = require("pymc", "mcmc")
        pt = require("pytensor.tensor", "mcmc")
        problem = _problem(curve)
        model, law = _build(pm, pt, problem, self.families, self.law, self.prior)
        start = time.perf_counter()
        idata, engine = self._sample(pm, model)
        seconds = time.perf_counter() - start
        post = idata.posterior
        n_draws = post.sizes["chain"] * post.sizes["draw"]
        if n_draws == 0:
            raise self._no_draws()
        diagnostics = self._diagnostics(idata, engine, seconds, n_draws)
        # Parameters in the prior's own terms: not the samplers' unconstrained twins (nutpie's "a_log__").
        free = [v for v in post.data_vars if post[v].ndim == 2 and not v.startswith("log_") and not v.endswith("__")]
        diagnostics["posterior_mean"] = {v: float(post[v].mean()) for v in free}
        diagnostics["noise_sd"] = float(post["sigma"].mean()) * problem.scale  # in the user's units
        mu, sigma = self._predictive(pt, model, law, post, problem, n_draws)
        return Prediction(
            x_query=curve.x_query,
            normalized=MixturePredictive(mu, sigma, problem.lo, problem.hi),
            loc=problem.loc,
            scale=problem.scale,
            direction=curve.direction,
            model=f"mcmc-{'families' if problem.schedule is None else self.law}",
            diagnostics=diagnostics,
        )

    # ----------------------------------------------------------------------- sampling

    def _no_draws(self) -> BudgetExceededError:
        return BudgetExceededError(f"MCMC produced no posterior draws within time_budget_s={self.time_budget_s}; raise it")

    def _sample(self, pm, model):
        engine = self.sampler
        if engine == "auto":
            try:
                import nutpie  # noqa: F401

                engine = "nutpie"
            except ImportError:
                engine = "pymc"
        if engine == "nutpie":
            nutpie = require("nutpie", "mcmc")
            compiled = nutpie.compile_pymc_model(model)
            run = nutpie.sample(
                compiled,
                draws=self.draws,
                tune=self.tune,
                chains=self.chains,
                cores=self.chains,
                seed=self.seed,
                progress_bar=False,
                save_warmup=False,
                blocking=False,
            )
            try:
                idata = run.wait(timeout=self.time_budget_s)
            except TimeoutError:
                log.warning("MCMC stopped by its time budget of %.1f s", self.time_budget_s)
                try:
                    idata = run.abort()  # the draws so far
                except Exception as e:  # nothing after warmup yet
                    raise self._no_draws() from e
            if not hasattr(idata, "posterior"):
                raise self._no_draws()
            return idata, "nutpie"
        deadline = time.perf_counter() + self.time_budget_s

        def budget(trace, draw):
            if time.perf_counter() > deadline:
                raise KeyboardInterrupt  # PyMC's documented way to stop sampling from a callback

        traces = []
        for chain in range(self.chains):  # one chain at a time, so a budget stop keeps the finished ones whole
            if time.perf_counter() > deadline:
                break
            try:
                with model:
                    t = pm.sample(
                        draws=self.draws,
                        tune=self.tune,
                        chains=1,
                        cores=1,
                        random_seed=self.seed + chain,
                        target_accept=self.target_accept,
                        progressbar=False,
                        callback=budget,
                        compute_convergence_checks=False,
                    )
            except ValueError as e:  # PyMC's answer to a stop before any draw after tuning
                if "Not enough samples" not in str(e):
                    raise
                break
            if t.posterior.sizes["draw"] > 0:
                traces.append(t)
        if not traces:
            raise self._no_draws()
        import arviz as az

        draws = min(t.posterior.sizes["draw"] for t in traces)
        idata = az.concat([t.isel(draw=slice(0, draws)) for t in traces], dim="chain") if len(traces) > 1 else traces[0]
        return idata, "pymc"

    def _diagnostics(self, idata, engine: str, seconds: float, n_draws: int) -> dict:
        import arviz as az

        post = idata.posterior
        free = [v for v in post.data_vars if post[v].ndim == 2]  # scalar parameters
        out = {"sampler": engine, "seconds": round(seconds, 2), "chains": int(post.sizes["chain"]), "draws": int(n_draws)}
        try:
            div = idata.sample_stats["diverging"]
            out["divergences"] = int(div.sum())
        except (AttributeError, KeyError):
            out["divergences"] = None
        if post.sizes["chain"] > 1 and post.sizes["draw"] >= 4:
            rhat = az.rhat(post[free])
            ess = az.ess(post[free], method="bulk")
            out["rhat_max"] = float(max(float(rhat[v]) for v in free))
            out["ess_bulk_min"] = float(min(float(ess[v]) for v in free))
            if out["rhat_max"] > RHAT_WARNING:
                log.warning(
                    "MCMC has not converged: max r-hat %.3f > %.2f (run more draws or chains)", out["rhat_max"], RHAT_WARNING
                )
        else:
            out["rhat_max"], out["ess_bulk_min"] = None, None
        return out

    def _predictive(self, pt, model, law, post, problem: _Problem, n_draws: int):
        """Location and scale of the observation density at the queries, per kept posterior draw."""
        import pytensor

        try:
            from pytensor.graph.traversal import ancestors
        except ImportError:  # pytensor < 2.31
            from pytensor.graph.basic import ancestors

        names = [v.name for v in model.free_RVs] + [v.name for v in model.deterministics]
        flat = {n: post[n].values.reshape(n_draws, *post[n].shape[2:]) for n in names if n in post}
        keep = evenly_spaced(n_draws, MAX_PREDICTIVE_DRAWS)
        s1_qry = None if problem.schedule is None else problem.schedule[2]
        a, b = model["a"], model["b"]
        mu_graph = b + a * law(problem.u_qry, s1_qry)
        inputs = [model[n] for n in flat if model[n] in ancestors([mu_graph])]
        fn = pytensor.function(inputs, mu_graph, on_unused_input="ignore")
        mu = np.stack([np.asarray(fn(*[flat[v.name][i] for v in inputs]), dtype=float).reshape(-1) for i in keep])
        sigma = flat["sigma"][keep].reshape(-1, 1)
        # A draw from a chain still wandering (cut by the budget) can overflow the law at the queries.
        finite = np.isfinite(mu).all(axis=1) & np.isfinite(sigma[:, 0]) & (sigma[:, 0] > 0)
        if not finite.any():
            raise BudgetExceededError(
                "MCMC posterior draws give no finite prediction at the queries (the sampler has not "
                f"converged); raise time_budget_s={self.time_budget_s} or draws={self.draws}"
            )
        if not finite.all():
            log.warning(
                "MCMC: %d of %d posterior draws give non-finite predictions and are left out", int((~finite).sum()), len(finite)
            )
        return mu[finite], sigma[finite]
