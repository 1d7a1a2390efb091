"""Bayesian inference: NUTS sampling of the model, credible limits, convergence diagnostics.

The credible limit is the one-sided ``cl`` quantile of the marginal posterior of |coupling|
(not an HDI/ETI), reported with its Monte Carlo standard error.
"""

from __future__ import annotations

import json
import math
import time
import warnings
from dataclasses import dataclass

import numpy as np

from .analysis import FitTarget
from .interactions import CHARGE_CONVENTION, INTERACTIONS
from .io import package_versions
from .model import POI_VALUE, PoiPrior, build_model
from .modelspec import SamplerSettings
from .templates import TemplateSet

RHAT_MAX = 1.01
ESS_MIN = 400
POI_ESS_MIN = 1000
BFMI_MIN = 0.3
PPC_DRAWS = 500
HEAVY_DETERMINISTICS = ("expected", "signal_expected", "gamma")
QUIET_WARNINGS = (  # known, harmless messages that would drown the progress output
    "Numba will use object mode",
    "The effect of Potentials on other parameters is ignored",
)


@dataclass(frozen=True)
class Diagnostics:
    """Convergence summary of one run; ``ok`` when every threshold is met."""

    rhat_max: float
    ess_bulk_min: float
    ess_tail_min: float
    poi_ess_bulk: float
    poi_ess_tail: float
    divergences: int
    bfmi_min: float
    worst_rhat_var: str
    worst_ess_var: str

    @property
    def failures(self) -> list[str]:
        out = []
        if not self.rhat_max <= RHAT_MAX:
            out.append(f"R-hat {self.rhat_max:.4f} > {RHAT_MAX} ({self.worst_rhat_var})")
        if not self.ess_bulk_min >= ESS_MIN:
            out.append(f"bulk ESS {self.ess_bulk_min:.0f} < {ESS_MIN} ({self.worst_ess_var})")
        if not self.ess_tail_min >= ESS_MIN:
            out.append(f"tail ESS {self.ess_tail_min:.0f} < {ESS_MIN}")
        if not self.poi_ess_bulk >= POI_ESS_MIN:
            out.append(f"POI bulk ESS {self.poi_ess_bulk:.0f} < {POI_ESS_MIN}")
        if self.divergences > 0:
            out.append(f"{self.divergences} divergent transitions")
        if not self.bfmi_min >= BFMI_MIN:
            out.append(f"BFMI {self.bfmi_min:.2f} < {BFMI_MIN}")
        return out

    @property
    def ok(self) -> bool:
        return not self.failures

    def as_dict(self) -> dict:
        d = dict(self.__dict__)
        d.update(ok=self.ok, failures=self.failures,
                 thresholds={"rhat_max": RHAT_MAX, "ess_min": ESS_MIN, "poi_ess_min": POI_ESS_MIN,
                             "bfmi_min": BFMI_MIN, "divergences": 0})
        return d


def _sampled_names(model) -> list[str]:
    names = [rv.name for rv in model.free_RVs]
    if POI_VALUE not in names:
        names.append(POI_VALUE)
    return names


def sample_posterior(tpl: TemplateSet, target: FitTarget, *, poi_prior: PoiPrior, sampler: SamplerSettings,
                     likelihood: str = "poisson", seed: int = 1, progress: bool = False,
                     provenance: dict | None = None):
    """Sample the posterior with NUTS; return a DataTree with posterior, sample_stats, prior,
    prior/posterior predictive, observed and constant data, and provenance attrs."""
    import pymc as pm

    model = build_model(tpl, poi_prior, sign=target.sign, likelihood=likelihood)
    started = time.perf_counter()
    with model, warnings.catch_warnings():
        for message in QUIET_WARNINGS:
            warnings.filterwarnings("ignore", message=message)
        kwargs = {}
        if sampler.name == "nutpie":
            # low-rank mass-matrix adaptation: the signal is often correlated with one background
            kwargs["nuts"] = {"adaptation": "low_rank"}
        dt = pm.sample(draws=sampler.draws, tune=sampler.tune, chains=sampler.chains,
                       cores=min(sampler.chains, 2), nuts_sampler=sampler.name, random_seed=seed,
                       target_accept=sampler.target_accept, progressbar=progress,
                       compute_convergence_checks=False, **kwargs)
        sampling_s = time.perf_counter() - started
        prior = pm.sample_prior_predictive(draws=PPC_DRAWS, random_seed=seed + 1)
        thin = max(1, (sampler.draws * sampler.chains) // PPC_DRAWS)
        post_sub = dt.posterior.isel(draw=slice(None, None, thin))
        ppc = pm.sample_posterior_predictive(post_sub, random_seed=seed + 2, progressbar=False,
                                             var_names=["counts", "expected", "signal_expected"])
    posterior = dt["posterior"].to_dataset()
    dt["posterior"] = posterior.drop_vars([v for v in HEAVY_DETERMINISTICS if v in posterior])
    for group in ("prior", "prior_predictive"):
        if group in prior.children:
            ds = prior[group].to_dataset()
            dt[group] = ds.drop_vars([v for v in HEAVY_DETERMINISTICS if v in ds])
    dt["posterior_predictive"] = ppc["posterior_predictive"].to_dataset()
    inter = INTERACTIONS[tpl.interaction]
    attrs = {
        "bayes_xmass_fit": target.label,
        "interaction": tpl.interaction,
        "poi": inter.poi,
        "coupling_unit": inter.coupling_unit,
        "coupling_scale": tpl.coupling_scale,
        "sign": target.sign,
        "options": json.dumps(tpl.options, default=str),
        "poi_prior": json.dumps(poi_prior.describe()),
        "likelihood": likelihood,
        "sampler": sampler.name,
        "sampler_settings": json.dumps(sampler.__dict__),
        "seed": seed,
        "sampling_seconds": round(sampling_s, 2),
        "dataset_checksum": tpl.dataset.checksum,
        "exposure_kg_day": float(tpl.dataset.exposure_kg_day),
        "dataset": json.dumps(tpl.dataset.summary(), default=str),
        "physics": json.dumps(tpl.physics.describe(), default=str),
        "atomic_model": tpl.physics.atomic.name,
        "charge_convention": CHARGE_CONVENTION,
        "package_versions": json.dumps(package_versions()),
    }
    if poi_prior.kind == "jeffreys":
        attrs["prior_group_note"] = "prior group sampled from the uniform base; the Jeffreys Potential is not generative"
    if provenance:
        attrs.update({k: (v if isinstance(v, (str, int, float)) else json.dumps(v, default=str))
                      for k, v in provenance.items()})
    dt.attrs.update(attrs)
    return dt, model


def credible_limit(dt, cl: float = 0.9) -> dict:
    """One-sided ``cl`` quantile of |coupling| with its MCSE (physical units)."""
    import arviz as az

    scale = float(dt.attrs["coupling_scale"])
    x = dt.posterior[POI_VALUE]
    q = float(np.quantile(x.values.ravel(), cl))
    mcse = float(az.mcse(dt, var_names=[POI_VALUE], method="quantile", prob=cl)[POI_VALUE])
    return {"limit": q * scale, "mcse": mcse * scale, "cl": cl, "limit_scaled": q,
            "posterior_mean": float(x.mean()) * scale, "coupling_unit": dt.attrs.get("coupling_unit", "")}


def diagnostics(dt, model=None) -> Diagnostics:
    """R-hat (rank-normalised), bulk/tail ESS, divergences and BFMI over the sampled parameters."""
    import arviz as az

    post = dt.posterior
    names = [v for v in post.data_vars if v not in HEAVY_DETERMINISTICS and v != "coupling"
             and v != "norm"]
    rhat = az.rhat(dt, var_names=names)
    ess_b = az.ess(dt, var_names=names, method="bulk")
    ess_t = az.ess(dt, var_names=names, method="tail")

    def extreme(ds, fn):
        vals = {k: float(fn(ds[k].values)) for k in ds.data_vars if np.size(ds[k].values)}
        vals = {k: v for k, v in vals.items() if math.isfinite(v)}
        key = (max if fn is np.nanmax else min)(vals, key=vals.get)
        return vals[key], key

    rmax, rvar = extreme(rhat, np.nanmax)
    emin, evar = extreme(ess_b, np.nanmin)
    tmin, _ = extreme(ess_t, np.nanmin)
    div = int(dt.sample_stats["diverging"].sum()) if "diverging" in dt.sample_stats else 0
    if "energy" in dt.sample_stats:
        bfmi = float(az.bfmi(dt)["energy"].min())  # one value per chain
    else:  # a sampler that does not record the Hamiltonian energy
        bfmi = float("nan")
    return Diagnostics(rmax, emin, tmin, float(ess_b[POI_VALUE]), float(ess_t[POI_VALUE]), div, bfmi, rvar, evar)
