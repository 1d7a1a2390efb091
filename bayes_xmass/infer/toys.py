"""Toy ensembles: Poisson toys, expected-limit bands and Feldman-Cousins (Bayesian toys: toy_studies.py).

Toys are Poisson draws around the expected counts at a hypothesis x, with nuisances drawn from
their priors for each toy (see :func:`toy_counts`). Toys are drawn here from the master seed and
fitted in fixed blocks of ``TOYS_PER_TASK``: by default all toys of a block at once
(:mod:`bayes_xmass.infer.batch_limits`, the likelihood graph vectorised over toys), in this process for
small jobs (then blocks merged into batches of up to ``BATCH_TOYS``), or spread over local
processes or a dask cluster (:mod:`bayes_xmass.runtime.executor`, one compiled likelihood per worker and
structure). Results do not depend on the backend or worker count.
"""

from __future__ import annotations

import math
import os
import threading
import weakref
from dataclasses import dataclass

import numpy as np

from bayes_xmass.infer.batch_limits import BatchProfileLikelihood, batch_fc_statistic, batch_limits
from bayes_xmass.infer.frequentist import ProfileLikelihood, delta_chi2_threshold
from bayes_xmass.model.data import structure_key, template_rel_error
from bayes_xmass.model.likelihood import background_counts, expected_counts, signal_counts
from bayes_xmass.model.poi_prior import PoiPrior
from bayes_xmass.response.templates import TemplateSet
from bayes_xmass.runtime.executor import resolve_scheduler, run_tasks, worker_cache
from bayes_xmass.runtime.seeds import step_seed

__all__ = [
    "BAND_QUANTILES",
    "BATCH_TOYS",
    "FC_WINDOW",
    "FITTERS",
    "MIN_TOYS_PER_PROCESS",
    "TOYS_PER_TASK",
    "ToyLimits",
    "default_processes",
    "fc_edges_inside",
    "fc_window_grid",
    "feldman_cousins",
    "scalar_fc_statistic",
    "scalar_limits",
    "shared_batch_likelihood",
    "shared_profile_likelihood",
    "toy_counts",
    "toy_limits",
]

BAND_QUANTILES = {"-2sigma": 0.02275, "-1sigma": 0.158655, "median": 0.5, "+1sigma": 0.841345, "+2sigma": 0.97725}

_WORKER = threading.local()  # the worker thread's compiled likelihood (see _init_worker)


FITTERS = ("batch", "scalar")  # toy fits: vectorised Newton (infer/batch_minimiser.py) or one L-BFGS-B fit per toy


def _profile_key(tpl: TemplateSet, likelihood: str) -> tuple:
    return ("profile_likelihood", structure_key(tpl, PoiPrior("improper"), likelihood))


def shared_profile_likelihood(tpl: TemplateSet, sign: int, likelihood: str) -> ProfileLikelihood:
    """The process's compiled profile likelihood for this structure (one per structure and worker,
    shared with the toy fits here), with ``tpl`` and ``sign`` loaded."""
    pl = worker_cache(_profile_key(tpl, likelihood), lambda: ProfileLikelihood(tpl, sign=sign, likelihood=likelihood))
    return pl.load(tpl, sign)


_BATCHED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # ProfileLikelihood -> its batched twin


def shared_batch_likelihood(pl: ProfileLikelihood) -> BatchProfileLikelihood:
    """The batched twin of ``pl`` (compiled once per ``pl``; it follows ``pl``'s loaded templates)."""
    if pl not in _BATCHED:
        _BATCHED[pl] = BatchProfileLikelihood(pl)
    return _BATCHED[pl]


def _init_worker(tpl: TemplateSet, sign: int, likelihood: str) -> None:
    """Worker set-up: one compiled likelihood (and its batched twin) per structure and process,
    templates swapped in."""
    import warnings

    warnings.simplefilter("ignore")
    _WORKER.pl = pl = shared_profile_likelihood(tpl, sign, likelihood)
    _WORKER.bpl = shared_batch_likelihood(pl)


def _worker_limits(args):
    """(best x, limit per threshold) rows for a block of toys."""
    counts_block, cl, thresholds, fitter = args
    if fitter == "batch":
        return batch_limits(_WORKER.bpl, counts_block, cl, thresholds).tolist()
    return scalar_limits(_WORKER.pl, counts_block, cl, thresholds)


def scalar_limits(pl: ProfileLikelihood, counts_block, cl: float = 0.9, thresholds=("xmass", "one_sided")) -> list:
    """(best x, limit per threshold) rows by one L-BFGS-B fit per toy (the reference path); ``pl``'s
    observed counts are restored afterwards (it may be the process's shared likelihood)."""
    out = []
    saved = pl.observed.copy()
    try:
        for counts in counts_block:
            pl.set_observed(counts)
            best = pl.best_fit()
            out.append([best.x] + [pl.upper_limit(cl, t, best) for t in thresholds])
    finally:
        pl.set_observed(saved)
    return out


def scalar_fc_statistic(pl: ProfileLikelihood, counts_block, x: float) -> list:
    """Feldman-Cousins statistic t(x) = -2 ln[L(x) / L(x_hat)] per toy, one L-BFGS-B fit per toy
    (``pl``'s observed counts restored afterwards)."""
    out = []
    saved = pl.observed.copy()
    try:
        for counts in counts_block:
            pl.set_observed(counts)
            best = pl.fit(None, x_starts=(0.0, 0.5, 2.0, x))
            cond = pl.fit(x, best.nuisances)
            out.append(max(cond.nll2 - min(best.nll2, cond.nll2), 0.0))
    finally:
        pl.set_observed(saved)
    return out


def _worker_fc(args):
    """Feldman-Cousins statistic t(x) for a block of toys generated at x (the batched fitter: x per
    toy, (n,), also accepted)."""
    counts_block, x, fitter = args
    if fitter == "batch":
        return batch_fc_statistic(_WORKER.bpl, counts_block, x).tolist()
    return scalar_fc_statistic(_WORKER.pl, counts_block, x)


TOYS_PER_TASK = 100  # toys per task: fixed, so results do not depend on the backend or worker count
MIN_TOYS_PER_PROCESS = 2000  # batched fits: below this, starting worker processes costs more than it saves


def default_processes(n_toys: int = 10**9) -> int:
    """Worker processes for ``n_toys`` batched toy fits: up to the core count, 1 (in this
    process) for jobs that take a few seconds."""
    return max(1, min(os.cpu_count() or 1, n_toys // MIN_TOYS_PER_PROCESS))


_COMPILED = threading.local()  # per thread: the compiled expected-counts function (not thread-safe)


def _compiled_expected_counts():
    """lambda(norms, x, s, gamma, background/signal coefficients, grid, powers, sign factors), compiled
    once per thread from the shared expected-counts functions (likelihood.py); templates are inputs."""
    fn = getattr(_COMPILED, "fn", None)
    if fn is None:
        import pytensor
        import pytensor.tensor as pt

        norms, gamma, grid = pt.dvector("norms"), pt.dvector("gamma"), pt.dvector("scale_grid")
        x, s = pt.dscalar("x"), pt.dscalar("s")
        bkg_coef, sig_coef = pt.dtensor4("background_coefficients"), pt.dtensor4("signal_coefficients")
        powers, signs = pt.dvector("signal_powers"), pt.dvector("signal_sign_factors")
        bkg = background_counts(norms, bkg_coef, grid, s)
        sig = signal_counts(x, powers, signs, sig_coef, grid, s)
        fn = _COMPILED.fn = pytensor.function(
            [norms, x, s, gamma, bkg_coef, sig_coef, grid, powers, signs], expected_counts(bkg, sig, gamma)
        )
    return fn


def _expected_counts_function(tpl: TemplateSet, sign: int):
    """lambda(norms, x, s, gamma) -> expected counts per bin of ``tpl`` (events), from the shared
    expected-counts functions (likelihood.py), compiled once per thread for all template sets."""
    fn = _compiled_expected_counts()
    powers = np.array(tpl.signal_powers, dtype=float)
    fixed = (
        tpl.backgrounds.coefficients,
        tpl.signal.coefficients,
        np.asarray(tpl.scale_grid, dtype=float),
        powers,
        np.array([float(sign) ** int(p) for p in tpl.signal_powers]),
    )
    return lambda norms, x, s, gamma: fn(
        np.asarray(norms, dtype=float), float(x), float(s), np.asarray(gamma, dtype=float), *fixed
    )


def toy_counts(pl: ProfileLikelihood, x: float, n: int, seed: int) -> np.ndarray:
    """n Poisson toys at signal x with the nuisances of each toy drawn from their priors.

    Nuisances (background normalisations, energy scale, per-bin template factors) are drawn from
    the same priors the fits use as constraints (the 'hybrid' or unconditional ensemble, Cousins &
    Highland, NIM A 320 (1992) 331), so toys and fits agree on where the constraints are centred.
    Draws from ``seed``, in this order: every toy's normalisations (one prior after the other), energy
    scales, template factors, then the Poisson counts.
    """
    tpl = pl.tpl
    rng = np.random.default_rng(seed)
    fn = _expected_counts_function(tpl, pl.sign)
    delta = template_rel_error(tpl) if pl.likelihood == "poisson" else np.zeros(tpl.n_bins)
    lo, hi = float(tpl.scale_grid[0]), float(tpl.scale_grid[-1])
    norms = np.zeros((n, len(tpl.background_priors)))
    for j, prior in enumerate(tpl.background_priors):
        norms[:, j] = np.maximum(np.asarray(prior.sample(rng, size=n), dtype=float), 0.0)
    scales = np.clip(np.asarray(tpl.scale_prior.sample(rng, size=n), dtype=float), lo, hi)
    gamma = np.maximum(1.0 + delta * rng.normal(size=(n, tpl.n_bins)), 1e-6)
    expected = np.array([fn(norms[i], x, scales[i], gamma[i]) for i in range(n)]).reshape(n, tpl.n_bins)
    return rng.poisson(expected).astype(float)


def _map(fn, blocks, tpl, sign, likelihood, processes, scheduler=None):
    """Run ``fn`` over blocks of toys through :func:`bayes_xmass.runtime.executor.run_tasks` (order kept)."""
    return run_tasks(
        fn, blocks, scheduler=scheduler, processes=processes, init=_init_worker, init_args=(tpl, sign, likelihood)
    )


def _blocks(counts: np.ndarray, size: int = TOYS_PER_TASK) -> list[np.ndarray]:
    """Consecutive blocks of at most ``size`` toys (independent of the worker count)."""
    return [counts[i : i + size] for i in range(0, len(counts), size)]


BATCH_TOYS = 2000  # batched fits in this process: toys per batch (blocks merged; memory ~ toys x starts)


def _one_batch(fitter: str, processes: int, scheduler) -> bool:
    """Batched fits in this process: blocks merged into batches of up to ``BATCH_TOYS`` toys (fewer,
    larger batches; a toy's result does not depend on the other toys of its batch, so the numbers
    are the same as in blocks)."""
    s = resolve_scheduler(scheduler)
    return fitter == "batch" and processes == 1 and isinstance(s, str) and s == "local"


def _check_fitter(fitter: str) -> None:
    if fitter not in FITTERS:
        raise ValueError(f"unknown toy fitter {fitter!r}; known: {', '.join(FITTERS)}")


@dataclass(frozen=True)
class ToyLimits:
    """Per-toy best fit and limits (scaled units) for each threshold convention."""

    x_true: float
    best_x: np.ndarray
    limits: dict[str, np.ndarray]
    seed: int

    def bands(self, threshold: str) -> dict[str, float]:
        """Quantiles of the toy limits (a toy without a limit counts as +inf)."""
        lim = self.limits[threshold]
        out = {}
        for k, q in BAND_QUANTILES.items():
            with np.errstate(invalid="ignore"):
                value = float(np.quantile(lim, q))
            # interpolating next to an infinite limit gives inf - inf = nan: take the upper neighbour
            out[k] = float(np.quantile(lim, q, method="higher")) if math.isnan(value) else value
        return out

    def coverage(self, threshold: str) -> tuple[float, float]:
        """Fraction of toys whose limit is >= the true x, and its binomial standard error."""
        lim = self.limits[threshold]
        p = float(np.mean(lim >= self.x_true))
        return p, math.sqrt(max(p * (1 - p), 1e-12) / lim.size)

    def to_dataset(self, coupling_scale: float):
        import xarray as xr

        data = {"best_x": ("toy", self.best_x)}
        data.update({f"limit_{k}": ("toy", v) for k, v in self.limits.items()})
        return xr.Dataset(data, attrs={"x_true": self.x_true, "seed": self.seed, "coupling_scale": coupling_scale})


def toy_limits(
    tpl: TemplateSet,
    *,
    sign: int = 1,
    likelihood: str = "poisson",
    x_true: float = 0.0,
    n_toys: int = 200,
    seed: int = 1,
    cl: float = 0.9,
    thresholds=("xmass", "one_sided"),
    processes: int | None = None,
    pl: ProfileLikelihood | None = None,
    scheduler=None,
    fitter: str = "batch",
) -> ToyLimits:
    """Frequentist limits on toys generated at ``x_true`` (0 = background only).

    ``processes``/``scheduler``: execution backend (:func:`bayes_xmass.runtime.executor.run_tasks`); the
    toys are drawn here from ``seed`` and fitted in fixed blocks, so results do not depend on it.
    ``fitter``: ``"batch"`` (all toys of a block at once, :mod:`bayes_xmass.infer.batch_limits`) or
    ``"scalar"`` (one L-BFGS-B fit per toy)."""
    _check_fitter(fitter)
    pl = pl or ProfileLikelihood(tpl, sign=sign, likelihood=likelihood)
    counts = toy_counts(pl, x_true, n_toys, seed)
    processes = processes or default_processes(n_toys if fitter == "batch" else 20 * n_toys)
    blocks = _blocks(counts, BATCH_TOYS if _one_batch(fitter, processes, scheduler) else TOYS_PER_TASK)
    tasks = [(b, cl, tuple(thresholds), fitter) for b in blocks]
    rows = [r for block in _map(_worker_limits, tasks, tpl, sign, likelihood, processes, scheduler) for r in block]
    arr = np.array(rows)
    return ToyLimits(x_true, arr[:, 0], {t: arr[:, i + 1] for i, t in enumerate(thresholds)}, seed)


def feldman_cousins(
    tpl: TemplateSet,
    *,
    sign: int = 1,
    likelihood: str = "poisson",
    x_grid=None,
    n_toys: int = 200,
    seed: int = 7,
    cl: float = 0.9,
    processes: int | None = None,
    pl: ProfileLikelihood | None = None,
    scheduler=None,
    fitter: str = "batch",
) -> dict:
    """Feldman-Cousins interval for x by a toy Neyman construction with the profile LR ordering.

    At each grid value x_j toys are drawn at x_j (nuisances from their priors, :func:`toy_counts`); the
    critical value is the ``cl`` quantile of t(x_j) = -2 ln[L(x_j) / L(x_hat)], x_hat >= 0. The interval
    is the set of x_j with t_obs(x_j) <= critical value (FC, PRD 57 (1998) 3873; nuisances treated
    in the hybrid way).
    """
    _check_fitter(fitter)
    pl = pl or ProfileLikelihood(tpl, sign=sign, likelihood=likelihood)
    best = pl.best_fit()
    if x_grid is None:
        top = pl.upper_limit(cl, "xmass", best)
        x_grid = np.linspace(0.0, 1.6 * top, 17)
    x_grid = np.asarray(x_grid, dtype=float)
    t_obs = pl.delta_chi2(x_grid, best)
    n_all = n_toys * len(x_grid)
    processes = processes or default_processes(n_all if fitter == "batch" else 20 * n_all)
    tasks = []
    for j, x in enumerate(x_grid):
        counts = toy_counts(pl, float(x), n_toys, step_seed(seed, "x", j))
        tasks += [(b, float(x), fitter) for b in _blocks(counts)]
    if _one_batch(fitter, processes, scheduler):  # the grid points' toys together, x per toy
        xs = np.concatenate([np.full(len(t[0]), t[1]) for t in tasks])
        tasks = [
            (b, xb, fitter)
            for b, xb in zip(_blocks(np.concatenate([t[0] for t in tasks]), BATCH_TOYS), _blocks(xs, BATCH_TOYS))
        ]
    results = _map(_worker_fc, tasks, tpl, sign, likelihood, processes, scheduler)
    per_x: dict[float, list] = {}
    for (block, x, _), res in zip(tasks, results):
        for xi, t in zip(np.broadcast_to(x, (len(block),)), res):
            per_x.setdefault(float(xi), []).append(t)
    critical = np.array([np.quantile(per_x[float(x)], cl) for x in x_grid])
    accepted = t_obs <= critical
    lower, upper = _interval_edges(x_grid, t_obs - critical, accepted)
    return {
        "x_grid": x_grid,
        "t_obs": t_obs,
        "critical": critical,
        "accepted": accepted,
        "lower": lower,
        "upper": upper,
        "n_toys": n_toys,
        "cl": cl,
        "wilks_threshold": delta_chi2_threshold(cl, "xmass"),
    }


FC_WINDOW = (0.55, 1.45)  # where the FC upper edge is looked for, in units of the Delta chi2 = 2.71 limit


def fc_window_grid(top: float, n_points: int) -> np.ndarray:
    """FC grid for an upper limit: x = 0 (the lower edge of a null result) and ``n_points - 1`` points
    spanning ``FC_WINDOW`` x ``top`` (``top``: the asymptotic Delta chi2 = 2.71 limit, near which the
    FC upper edge lies). Use :func:`fc_edges_inside` to check that the edges fell where assumed.

    >>> fc_window_grid(2.0, 4).round(2).tolist()
    [0.0, 1.1, 2.0, 2.9]
    """
    if n_points < 3:
        raise ValueError("an FC window grid needs >= 3 points")
    return np.concatenate([[0.0], np.linspace(FC_WINDOW[0] * top, FC_WINDOW[1] * top, n_points - 1)])


def fc_edges_inside(fc: dict) -> bool:
    """Whether a :func:`fc_window_grid` result brackets the interval as assumed: x = 0 and the first
    window point accepted (so the lower edge is 0), the last point rejected, and one accepted run."""
    acc = np.asarray(fc["accepted"], dtype=bool)
    run = np.flatnonzero(acc)
    return bool(acc[0] and acc[1] and not acc[-1] and run.size and np.all(np.diff(run) == 1))


def _interval_edges(x, diff, accepted):
    """Interval edges by linear interpolation of t_obs - critical between grid points."""
    idx = np.flatnonzero(accepted)
    if idx.size == 0:
        return float("nan"), float("nan")
    lo_i, hi_i = idx[0], idx[-1]
    lower = float(x[0]) if lo_i == 0 else float(np.interp(0.0, [diff[lo_i], diff[lo_i - 1]], [x[lo_i], x[lo_i - 1]]))
    if hi_i == x.size - 1:
        upper = float("inf")
    else:
        upper = float(np.interp(0.0, [diff[hi_i], diff[hi_i + 1]], [x[hi_i], x[hi_i + 1]]))
    return lower, upper
