"""Toy studies built on the toy ensembles: Bayesian toy limits (NUTS on toy data) and coverage.

:func:`bayesian_toy_limits` fits toy data sets with one compiled NUTS model (data swapped per
toy); :func:`coverage_study` counts how often the frequentist and credible limits lie at or above
the true coupling over toys drawn at several true values x (x in units of the coupling scale).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any, Literal, overload

import numpy as np

from bayes_xmass.infer.frequentist import ProfileLikelihood
from bayes_xmass.infer.neyman import CriticalValues, toy_neyman_limits
from bayes_xmass.infer.posterior_sampler import PosteriorSampler
from bayes_xmass.infer.toys import toy_counts, toy_limits
from bayes_xmass.model.data import model_data
from bayes_xmass.model.likelihood import chi2_sigma
from bayes_xmass.model.poi_prior import PoiPrior
from bayes_xmass.model.spec import SamplerSettings
from bayes_xmass.response.templates import TemplateSet
from bayes_xmass.runtime.seeds import step_seed

__all__ = ["bayesian_toy_limits", "coverage_study"]


@overload
def bayesian_toy_limits(
    tpl: TemplateSet,
    counts: np.ndarray,
    *,
    poi_prior: PoiPrior,
    sign: int = ...,
    likelihood: str = ...,
    cl: float = ...,
    draws: int = ...,
    tune: int = ...,
    chains: int = ...,
    seed: int = ...,
    posterior_sampler: PosteriorSampler | None = ...,
    target_accept: float = ...,
    return_divergences: Literal[False] = ...,
) -> np.ndarray: ...


@overload
def bayesian_toy_limits(
    tpl: TemplateSet,
    counts: np.ndarray,
    *,
    poi_prior: PoiPrior,
    sign: int = ...,
    likelihood: str = ...,
    cl: float = ...,
    draws: int = ...,
    tune: int = ...,
    chains: int = ...,
    seed: int = ...,
    posterior_sampler: PosteriorSampler | None = ...,
    target_accept: float = ...,
    return_divergences: Literal[True],
) -> tuple[np.ndarray, np.ndarray]: ...


@overload
def bayesian_toy_limits(
    tpl: TemplateSet,
    counts: np.ndarray,
    *,
    poi_prior: PoiPrior,
    sign: int = ...,
    likelihood: str = ...,
    cl: float = ...,
    draws: int = ...,
    tune: int = ...,
    chains: int = ...,
    seed: int = ...,
    posterior_sampler: PosteriorSampler | None = ...,
    target_accept: float = ...,
    return_divergences: bool,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]: ...


def bayesian_toy_limits(
    tpl: TemplateSet,
    counts: np.ndarray,
    *,
    poi_prior: PoiPrior,
    sign: int = 1,
    likelihood: str = "poisson",
    cl: float = 0.9,
    draws: int = 1000,
    tune: int = 700,
    chains: int = 2,
    seed: int = 1,
    posterior_sampler: PosteriorSampler | None = None,
    target_accept: float = 0.95,
    return_divergences: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Credible limits (scaled units) on toy data sets: one compiled model, data swapped per toy
    (NUTS with a diagonal mass matrix: low-rank adaptation needs longer tuning than toys get).
    ``return_divergences``: (limits, divergent transitions per toy)."""
    ps = (posterior_sampler or PosteriorSampler(tpl, poi_prior, likelihood)).for_prior(poi_prior)
    settings = SamplerSettings("nutpie", chains, draws, tune, target_accept)
    base = model_data(tpl, sign, likelihood)
    out, divergences = [], []
    for i, c in enumerate(counts):
        data = {**base, "observed_counts": np.asarray(c, dtype="float64")}
        if likelihood == "chi2":
            data["chi2_sigma"] = chi2_sigma(c, tpl.background_errors)
        poi_draws, divergent = ps.poi_draws(data, settings, step_seed(seed, "toy", i), with_divergences=True)
        out.append(float(np.quantile(poi_draws.ravel(), cl)))
        divergences.append(divergent)
    return (np.array(out), np.array(divergences, dtype=int)) if return_divergences else np.array(out)


def coverage_study(
    tpl: TemplateSet,
    x_values: Iterable[float],
    *,
    poi_prior: PoiPrior | None = None,
    sign: int = 1,
    likelihood: str = "poisson",
    n_toys: int = 100,
    n_bayes_toys: int = 0,
    seed: int = 1,
    cl: float = 0.9,
    pl: ProfileLikelihood | None = None,
    posterior_sampler: PosteriorSampler | None = None,
    critical_values: CriticalValues | None = None,
) -> list[dict[str, Any]]:
    """Coverage of the frequentist limits (both asymptotic conventions; with ``critical_values``
    also the toy-calibrated one-sided limit, :mod:`bayes_xmass.infer.neyman`, on the same toys)
    and, if ``n_bayes_toys``, of the credible limit, for toys generated at each true x (scaled
    units). Returns one row per x. ``pl`` and ``posterior_sampler``: compiled models of ``tpl``."""
    rows = []
    pl = pl or ProfileLikelihood(tpl, sign=sign, likelihood=likelihood)
    ps = posterior_sampler
    for i, x in enumerate(x_values):
        tl = toy_limits(
            tpl,
            sign=sign,
            likelihood=likelihood,
            x_true=float(x),
            n_toys=n_toys,
            seed=step_seed(seed, "x", i, "frequentist"),
            cl=cl,
            pl=pl,
        )
        row: dict[str, Any] = {"x_true": float(x), "n_toys": n_toys}
        for t in tl.limits:
            row[f"coverage_{t}"], row[f"coverage_{t}_err"] = tl.coverage(t)
        if critical_values is not None:  # the same toys (same seed), limits from the calibrated thresholds
            lim, _ = toy_neyman_limits(pl, critical_values, float(x), n_toys, step_seed(seed, "x", i, "frequentist"))
            p = float(np.mean(lim >= x))
            row.update(coverage_neyman=p, coverage_neyman_err=math.sqrt(max(p * (1 - p), 1e-12) / n_toys))
        if n_bayes_toys and poi_prior is not None:
            ps = ps or PosteriorSampler(tpl, poi_prior, likelihood)
            counts = toy_counts(pl, float(x), n_bayes_toys, step_seed(seed, "x", i, "bayes_counts"))
            lim = bayesian_toy_limits(
                tpl,
                counts,
                poi_prior=poi_prior,
                sign=sign,
                likelihood=likelihood,
                cl=cl,
                seed=step_seed(seed, "x", i, "bayes_fits"),
                posterior_sampler=ps,
            )
            p = float(np.mean(lim >= x))
            row.update(
                n_bayes_toys=n_bayes_toys,
                coverage_bayes=p,
                coverage_bayes_err=math.sqrt(max(p * (1 - p), 1e-12) / n_bayes_toys),
            )
        rows.append(row)
    return rows
