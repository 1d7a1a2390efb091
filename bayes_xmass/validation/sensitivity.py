"""Prior sensitivity of the credible limit: the limit under each POI prior kind and with the
nuisance priors widened / narrowed, by refitting with NUTS or, cheaply, by Pareto-smoothed
importance reweighting of the baseline posterior (with the Pareto k-hat reported so unreliable
reweightings are visible); and ArviZ power-scaling sensitivity of the baseline posterior.

Limits are in the coupling's physical unit (POI x ``TemplateSet.coupling_scale``).
"""

from __future__ import annotations

import dataclasses
import math
import time
import warnings

import numpy as np

from bayes_xmass.datasets.priors import Prior
from bayes_xmass.infer.posterior_sampler import posterior_only, sample_posterior
from bayes_xmass.infer.posterior_summary import credible_limit
from bayes_xmass.model.data import template_rel_error
from bayes_xmass.model.poi_prior import POI_VALUE, PoiPrior
from bayes_xmass.model.spec import SamplerSettings
from bayes_xmass.model.targets import FitTarget
from bayes_xmass.physics.interactions import INTERACTIONS
from bayes_xmass.response.templates import TemplateSet
from bayes_xmass.runtime.seeds import step_seed
from bayes_xmass.validation.sbc import sbc_parameters

__all__ = [
    "NUISANCE_FACTORS",
    "PSENSE_THRESHOLD",
    "poi_prior_variants",
    "power_scaling",
    "prior_sensitivity",
    "scale_nuisance_priors",
    "scale_prior_width",
]

NUISANCE_FACTORS = (2.0, 0.5)  # nuisance-prior width factors of the sensitivity variants


def poi_prior_variants(base: PoiPrior) -> list[tuple[str, PoiPrior]]:
    """Each POI prior kind on the same range [0, upper]; log-uniform cut at 1e-3 x upper."""
    u = base.upper
    return [
        ("flat in coupling", PoiPrior("flat", u)),
        ("flat in coupling² (flat_power p=2)", PoiPrior("flat_power", u, 2.0)),
        ("flat in coupling⁴ (flat_power p=4)", PoiPrior("flat_power", u, 4.0)),
        ("log-uniform, cut at 1e-3 × upper", PoiPrior("log_uniform", u, floor=1e-3 * u)),
        ("Jeffreys (conditional)", PoiPrior("jeffreys", u)),
    ]


def scale_prior_width(prior: Prior, factor: float) -> Prior:
    """The same prior with its width multiplied by ``factor`` (location kept; fixed priors unchanged)."""
    if prior.is_fixed:
        return prior
    p = dict(prior.params)
    if prior.kind in ("normal", "truncated_normal", "lognormal", "halfnormal"):
        p["sigma"] = p["sigma"] * factor
    elif prior.kind == "uniform":
        mid, half = 0.5 * (p["lower"] + p["upper"]), 0.5 * (p["upper"] - p["lower"]) * factor
        p["lower"], p["upper"] = mid - half, mid + half
    else:
        raise ValueError(f"cannot rescale a {prior.kind!r} prior")
    return Prior(prior.kind, p)


def scale_nuisance_priors(tpl: TemplateSet, factor: float) -> TemplateSet:
    """Templates with every nuisance prior (normalisations, energy scale, per-bin template errors)
    ``factor`` times as wide."""
    return dataclasses.replace(
        tpl,
        background_priors=tuple(scale_prior_width(p, factor) for p in tpl.background_priors),
        scale_prior=scale_prior_width(tpl.scale_prior, factor),
        background_errors=tpl.background_errors * factor,
    )


_DRAWS_PER_PASS = 128  # posterior draws whose templates are interpolated at once (bounded memory)


def _numpy_expected(tpl: TemplateSet, sign: int, post, idx) -> tuple[np.ndarray, np.ndarray]:
    """Expected counts and d(expected)/dx at posterior draws ``idx`` (numpy twin of model/likelihood.py)."""
    x = post[POI_VALUE].values.reshape(-1)[idx]
    s = post["energy_scale"].values.reshape(-1)[idx] if "energy_scale" in post else np.full(len(idx), 1.0)
    norm = post["norm"].values.reshape(-1, len(tpl.background_names))[idx]
    delta = template_rel_error(tpl)
    z = post["gamma_z"].values.reshape(-1, tpl.n_bins)[idx] if "gamma_z" in post else np.zeros((len(idx), tpl.n_bins))
    gamma = np.maximum(1.0 + delta * z, 1e-6)
    powers = np.array(tpl.signal_powers, dtype=float)
    sf = np.array([float(sign) ** int(p) for p in tpl.signal_powers])
    mu, dmu = np.empty((len(idx), tpl.n_bins)), np.empty((len(idx), tpl.n_bins))
    for lo in range(0, len(idx), _DRAWS_PER_PASS):  # templates of a chunk of draws at once (bounded memory)
        k = slice(lo, lo + _DRAWS_PER_PASS)
        sig_t, bkg_t = tpl.signal.at(s[k]), tpl.backgrounds.at(s[k])
        mu[k] = gamma[k] * np.einsum("nc,ncb->nb", norm[k], bkg_t) + np.einsum(
            "nt,ntb->nb", sf * x[k, None] ** powers, sig_t
        )
        dmu[k] = np.einsum("nt,ntb->nb", powers * sf * np.maximum(x[k, None], 1e-12) ** (powers - 1.0), sig_t)
    return np.maximum(mu, 1e-9), dmu


def _poi_log_density(prior: PoiPrior, x: np.ndarray, fisher: np.ndarray | None) -> np.ndarray:
    """log pi(x) up to a constant (-inf outside the support)."""
    x = np.asarray(x, dtype=float)
    inside = (x >= 0) & (x <= prior.upper)
    with np.errstate(divide="ignore"):
        if prior.kind == "flat":
            lp = np.zeros_like(x)
        elif prior.kind == "flat_power":
            lp = (prior.power - 1.0) * np.log(x)
        elif prior.kind == "log_uniform":
            lp = -np.log(x)
            inside &= x >= prior.floor
        elif prior.kind == "jeffreys":
            lp = 0.5 * np.log(fisher + 1e-300)
        else:
            raise ValueError(f"no density for POI prior {prior.kind!r}")
    return np.where(inside, lp, -np.inf)


def _nuisance_log_ratio(tpl: TemplateSet, factor: float, post) -> np.ndarray:
    """log pi_factor(nuisances) - log pi(nuisances) per draw (normalisations, energy scale, gammas)."""
    n = post.sizes["chain"] * post.sizes["draw"]
    out = np.zeros(n)
    norm = post["norm"].values.reshape(n, len(tpl.background_names))
    for j, prior in enumerate(tpl.background_priors):
        if not prior.is_fixed:
            out += scale_prior_width(prior, factor).logpdf(norm[:, j]) - prior.logpdf(norm[:, j])
    if not tpl.scale_prior.is_fixed and "energy_scale" in post:
        s = post["energy_scale"].values.reshape(n)
        out += scale_prior_width(tpl.scale_prior, factor).logpdf(s) - tpl.scale_prior.logpdf(s)
    if "gamma_z" in post:  # gamma = 1 + delta z; widened delta' = f delta: density ratio in gamma
        z = post["gamma_z"].values.reshape(n, -1)
        used = template_rel_error(tpl) > 0
        out += np.sum(-0.5 * z[:, used] ** 2 * (1.0 / factor**2 - 1.0), axis=1)
    return out


def _weighted_quantile(values: np.ndarray, log_weights: np.ndarray, q: float) -> float:
    order = np.argsort(values)
    w = np.exp(log_weights[order] - np.max(log_weights))
    c = np.cumsum(w) / np.sum(w)
    return float(np.interp(q, c, values[order]))


def _psis(log_ratio: np.ndarray) -> tuple[np.ndarray, float, float]:
    """Pareto-smoothed log weights (normalised), k-hat and the importance-sampling ESS."""
    from arviz_stats.base import array_stats

    finite = np.isfinite(log_ratio)
    lr = np.where(finite, log_ratio, -np.inf)
    lw = np.full_like(lr, -np.inf)
    if finite.sum() < 20:
        return lw, float("inf"), 0.0
    if np.ptp(lr[finite]) < 1e-12:  # identical weights: the same prior (up to a constant)
        lw[finite] = -math.log(finite.sum())
        return lw, 0.0, float(finite.sum())
    # array_stats.psislw takes log-likelihood-like values and smooths the weights exp(-values)
    smoothed, khat = array_stats.psislw(-(lr[finite] - np.max(lr[finite])), r_eff=1.0)
    lw[finite] = smoothed
    w = np.exp(lw - np.max(lw))
    w /= w.sum()
    return lw, float(khat), float(1.0 / np.sum(w**2))


PSENSE_THRESHOLD = 0.05


def power_scaling(tpl: TemplateSet, target: FitTarget, base_prior: PoiPrior, dt, var_names=None) -> dict:
    """ArviZ power-scaling sensitivity (Kallioinen et al., Stat Comput 34 (2024) 57; arviz_stats.psense)
    of the POI and a few nuisances, from the stored posterior: log prior (POI prior in x, nuisance
    priors) and pointwise Poisson log likelihood are recomputed per draw (numpy twin of the model).
    Sensitivity >= 0.05 to both: possible prior-data conflict; to the prior only: prior dominates."""
    import arviz_stats
    import xarray as xr
    from scipy.special import gammaln

    post = dt.posterior
    nc, nd = post.sizes["chain"], post.sizes["draw"]
    n = nc * nd
    mu, dmu = _numpy_expected(tpl, target.sign, post, np.arange(n))
    k = np.asarray(tpl.observed, dtype=float)
    loglik = k * np.log(mu) - mu - gammaln(k + 1.0)
    x = post[POI_VALUE].values.reshape(n)
    fisher = np.sum(dmu**2 / mu, axis=1) if base_prior.kind == "jeffreys" else None
    logprior = _poi_log_density(base_prior, x, fisher)
    norm = post["norm"].values.reshape(n, len(tpl.background_names))
    for j, prior in enumerate(tpl.background_priors):
        if not prior.is_fixed:
            logprior = logprior + prior.logpdf(norm[:, j])
    if "energy_scale" in post:
        logprior = logprior + tpl.scale_prior.logpdf(post["energy_scale"].values.reshape(n))
    if "gamma_z" in post:
        logprior = logprior + np.sum(-0.5 * post["gamma_z"].values.reshape(n, -1) ** 2, axis=1)
    aug = xr.DataTree.from_dict(
        {
            "posterior": post.to_dataset(),
            "log_likelihood": xr.Dataset({"counts": (("chain", "draw", "energy_bin"), loglik.reshape(nc, nd, -1))}),
            "log_prior": xr.Dataset({"prior": (("chain", "draw"), logprior.reshape(nc, nd))}),
        }
    )
    names = var_names or [v for v in sbc_parameters(tpl) if "[" not in v]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pri = arviz_stats.psense(aug, var_names=names, group="prior")
        lik = arviz_stats.psense(aug, var_names=names, group="likelihood")
    out = {}
    for name in names:
        a, b = float(pri[name]), float(lik[name])
        diag = (
            "possible prior-data conflict"
            if a >= PSENSE_THRESHOLD and b >= PSENSE_THRESHOLD
            else "prior dominates (weak likelihood)"
            if a >= PSENSE_THRESHOLD
            else "–"
        )
        out[name] = {"prior": a, "likelihood": b, "diagnosis": diag}
    return out


def prior_sensitivity(
    tpl: TemplateSet,
    target: FitTarget,
    base_prior: PoiPrior,
    *,
    cl: float = 0.9,
    likelihood: str = "poisson",
    method: str = "refit",
    base_dt=None,
    sampler: SamplerSettings = SamplerSettings("nutpie", 4, 1000, 700, 0.95),
    seed: int = 1,
    cache: dict | None = None,
) -> dict:
    """Credible limit under each POI prior kind and with all nuisance priors x2 / x0.5 wider.

    ``method="refit"``: NUTS for every variant (compiled models shared through ``cache``).
    ``method="reweight"``: Pareto-smoothed importance weights pi_new / pi_base on the baseline
    posterior ``base_dt`` (no new sampling; k-hat > 0.7 marks a row as unreliable).
    ``method="hybrid"``: reweight, then refit with NUTS only the rows where reweighting is unreliable.
    """
    if method not in ("refit", "reweight", "hybrid"):
        raise ValueError("method must be 'refit', 'reweight' or 'hybrid'")
    started = time.perf_counter()
    scale = tpl.coupling_scale
    if base_dt is None:
        base_dt, _ = sample_posterior(
            tpl, target, poi_prior=base_prior, sampler=sampler, likelihood=likelihood, seed=seed, cache=cache
        )
    base_limit = credible_limit(base_dt, cl)["limit"]
    variants = [(label, p, tpl, 1.0) for label, p in poi_prior_variants(base_prior)]
    variants += [
        (f"nuisance priors ×{f:g} (baseline POI prior)", base_prior, scale_nuisance_priors(tpl, f), f)
        for f in NUISANCE_FACTORS
    ]
    rows = []
    if method in ("reweight", "hybrid"):
        post = base_dt.posterior
        n = post.sizes["chain"] * post.sizes["draw"]
        x = post[POI_VALUE].values.reshape(n)
        fisher = None
        if any(p.kind == "jeffreys" for _, p, _, _ in variants) or base_prior.kind == "jeffreys":
            mu, dmu = _numpy_expected(tpl, target.sign, post, np.arange(n))
            fisher = np.sum(dmu**2 / mu, axis=1)
        base_lp = _poi_log_density(base_prior, x, fisher)
        for label, prior, _, factor in variants:
            if factor == 1.0:
                log_ratio = _poi_log_density(prior, x, fisher) - base_lp
            else:
                log_ratio = _nuisance_log_ratio(tpl, factor, post)
            lw, khat, ess = _psis(log_ratio)
            q = _weighted_quantile(x, lw, cl) if ess > 0 else float("nan")
            rows.append(
                {
                    "variant": label,
                    "prior": prior.describe(),
                    "nuisance_width_factor": factor,
                    "limit": q * scale,
                    "ratio_to_baseline": q * scale / base_limit,
                    "method": "PSIS reweighting",
                    "pareto_khat": khat,
                    "ess": ess,
                    "reliable": bool(khat <= 0.7),
                }
            )
    if method != "reweight":
        for i, (label, prior, vtpl, factor) in enumerate(variants):
            if method == "hybrid" and rows[i]["reliable"]:
                continue
            dt = posterior_only(
                vtpl,
                target,
                poi_prior=prior,
                sampler=sampler,
                likelihood=likelihood,
                seed=step_seed(seed, "variant", i),
                cache=cache,
            )
            lim = credible_limit(dt, cl)
            rhat = float(__import__("arviz").rhat(dt, var_names=[POI_VALUE])[POI_VALUE])
            div = int(dt.sample_stats["diverging"].sum()) if "diverging" in dt.sample_stats else 0
            row = {
                "variant": label,
                "prior": prior.describe(),
                "nuisance_width_factor": factor,
                "limit": lim["limit"],
                "mcse": lim["mcse"],
                "ratio_to_baseline": lim["limit"] / base_limit,
                "method": "NUTS refit",
                "rhat_poi": rhat,
                "divergences": div,
                "reliable": bool(rhat <= 1.01 and div == 0),
            }
            if method == "hybrid":
                row["pareto_khat_reweighting"] = rows[i]["pareto_khat"]
                rows[i] = row
            else:
                rows.append(row)
    try:
        psense = power_scaling(tpl, target, base_prior, base_dt)
    except Exception as exc:  # a diagnostic: never fail the run for it
        psense = {"error": f"{type(exc).__name__}: {exc}"}
    return {
        "fit": target.label,
        "coupling_unit": INTERACTIONS[target.interaction].coupling_unit,
        "baseline_prior": base_prior.describe(),
        "baseline_limit": base_limit,
        "cl": cl,
        "method": method,
        "rows": rows,
        "power_scaling": psense,
        "seconds": round(time.perf_counter() - started, 1),
    }
