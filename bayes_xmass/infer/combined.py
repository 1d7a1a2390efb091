"""Combined fits: several datasets sharing the coupling, each with its own nuisances.

The statistical model is :func:`bayes_xmass.model.build.build_combined_model` (one POI x, per-dataset
expected counts from :func:`bayes_xmass.model.likelihood.expected_counts`, optionally nuisances shared
by name); the Bayesian fit samples it with NUTS, the frequentist fit is
:class:`bayes_xmass.infer.frequentist.CombinedProfileLikelihood` (the same graph, POI prior removed).

Each dataset gets the model spec's window and bin width (clipped to its own range, as for a single
fit) and its own templates (response, efficiency, exposure). The POI unit is common: the model's
``poi.scale``, or with ``scale = "auto"`` the largest of the datasets' automatic scales (so the
POI prior, in physical units, covers the least sensitive dataset). The "alone" fits use the same
templates, unit and prior, so combined and single limits differ only by the data combined.
"""

from __future__ import annotations

import json
import re
import time
import warnings
from collections.abc import Collection, Iterable, Sequence
from typing import Any

import numpy as np

from bayes_xmass.datasets.types import Dataset
from bayes_xmass.errors import InputError
from bayes_xmass.infer.chain_init import pymc_initvals, with_prior_scaled_starts
from bayes_xmass.infer.forward_sampling import prior_draws
from bayes_xmass.infer.posterior_sampler import HEAVY_DETERMINISTICS, PPC_DRAWS, QUIET_WARNINGS, nutpie_adaptation
from bayes_xmass.model.build import build_combined_model
from bayes_xmass.model.combination import (
    check_combination,
    combined_model_data,
    combined_structure_key,
    dataset_prefix,
)
from bayes_xmass.model.data import data_of_model
from bayes_xmass.model.poi_prior import PoiPrior
from bayes_xmass.model.spec import ModelSpec, SamplerSettings
from bayes_xmass.model.targets import FitTarget, analysis_view, auto_scale, rescale_signal, round_scale
from bayes_xmass.physics.interactions import CHARGE_CONVENTION, INTERACTIONS
from bayes_xmass.response.templates import TemplateSet, build_templates_cached
from bayes_xmass.runtime.io import package_versions
from bayes_xmass.runtime.nutpie_compile import compile_for_nutpie
from bayes_xmass.runtime.seeds import step_seed

__all__ = [
    "combined_attrs",
    "combined_templates",
    "dataset_labels",
    "sample_combined",
    "validate_combination",
]


def dataset_labels(datasets: Iterable[Dataset]) -> list[str]:
    """Identifier labels from dataset names (``xenon1t-sr1`` -> ``xenon1t_sr1``); repeats get _2, _3..."""
    out: list[str] = []
    seen: dict[str, int] = {}
    for ds in datasets:
        base = re.sub(r"\W+", "_", str(ds.name)).strip("_").replace("__", "_") or "dataset"
        if not base[0].isalpha():
            base = "d_" + base
        seen[base] = seen.get(base, 0) + 1
        out.append(base if seen[base] == 1 else f"{base}_{seen[base]}")
    if len(set(out)) != len(out):  # e.g. names "a" and "a_2" plus a repeated "a"
        out = [f"{lab}_{i + 1}" for i, lab in enumerate(out)]
    return out


def combined_templates(spec: ModelSpec, datasets: Iterable[Dataset], target: FitTarget) -> list[TemplateSet]:
    """Templates of each dataset for one fit, rescaled to a common coupling unit (see module doc)."""
    tpls = [
        build_templates_cached(
            analysis_view(spec, ds),
            target.interaction,
            spec.physics,
            options=target.options,
            coupling_scale=spec.poi_scale or 1.0,
        )
        for ds in datasets
    ]
    scale = spec.poi_scale or max(round_scale(auto_scale(t, target.sign)) for t in tpls)
    return [rescale_signal(t, scale) for t in tpls]


def validate_combination(tpls: Sequence[TemplateSet], labels: Sequence[str], shared: Collection[str]) -> None:
    """:func:`bayes_xmass.model.combination.check_combination`, raised as an InputError naming the option."""
    try:
        check_combination(tpls, labels, shared)
    except ValueError as exc:
        raise InputError("command line", "--shared-nuisance" if shared else "--dataset", str(exc)) from None


def _combined_model(
    tpls: Sequence[TemplateSet],
    labels: Sequence[str],
    poi_prior: PoiPrior,
    sign: int,
    likelihood: str,
    shared: Collection[str],
    sampler_name: str,
    cache: dict[Any, Any] | None,
) -> tuple[Any, Any, dict[Any, Any]]:
    """(PyMC model, nutpie compiled model or None, the model's compiled helper functions) of a
    combination, its pm.Data set for ``tpls``: built and compiled, or taken from ``cache`` (same
    structure) with the data swapped in."""
    import pymc as pm

    key = (
        "combined_sampler",
        sampler_name,
        likelihood,
        combined_structure_key(tpls, labels, poi_prior, likelihood, shared),
    )
    hit = cache.get(key) if cache is not None else None
    if hit is None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = build_combined_model(tpls, labels, poi_prior, sign=sign, likelihood=likelihood, shared=shared)
            compiled = with_prior_scaled_starts(compile_for_nutpie(model), model) if sampler_name == "nutpie" else None
        lazy: dict[Any, Any] = {}
        if cache is not None:
            cache[key] = (model, compiled, lazy)
        return model, compiled, lazy
    model, compiled, lazy = hit
    data = data_of_model(model, combined_model_data(tpls, labels, sign, likelihood, poi_prior))
    pm.set_data(data, model=model)  # the chain starts and the predictive draws read the model's data
    if compiled is not None:
        known = {var.name for var in compiled.shared_var_keys}
        compiled = compiled.with_data(**{k: v for k, v in data.items() if k in known})
    return model, compiled, lazy


def _draw(model: Any, compiled: Any, sampler: SamplerSettings, seed: int, progress: bool) -> Any:
    import pymc as pm

    if sampler.name == "nutpie":
        import nutpie

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return nutpie.sample(
                compiled,
                draws=sampler.draws,
                tune=sampler.tune,
                chains=sampler.chains,
                cores=min(sampler.chains, 2),
                seed=seed,
                progress_bar=progress,
                save_warmup=False,
                target_accept=sampler.target_accept,
                **nutpie_adaptation(sampler),
            )
    with model, warnings.catch_warnings():
        for message in QUIET_WARNINGS:
            warnings.filterwarnings("ignore", message=message)
        return pm.sample(
            draws=sampler.draws,
            tune=sampler.tune,
            chains=sampler.chains,
            cores=min(sampler.chains, 2),
            nuts_sampler="pymc",
            random_seed=seed,
            target_accept=sampler.target_accept,
            progressbar=progress,
            compute_convergence_checks=False,
            init="adapt_diag",
            initvals=pymc_initvals(model, sampler.chains, seed),
        )


def _heavy(labels: Sequence[str], shared: Collection[str]) -> list[str]:
    names = [dataset_prefix(lab) + h for lab in labels for h in HEAVY_DETERMINISTICS]
    return names + (["gamma"] if "gamma" in shared else [])


def _predictive(draws: Any, labels: Sequence[str], likelihood: str, model: Any, seed: int, thin: bool) -> Any:
    """Replicated counts per dataset (``<label>__counts``) from the expected counts of the draws."""
    import xarray as xr

    n = draws.sizes["chain"] * draws.sizes["draw"]
    step = max(1, n // PPC_DRAWS) if thin else 1
    rng = np.random.default_rng(seed)
    out = {}
    for lab in labels:
        p = dataset_prefix(lab)
        sub = draws[[p + "expected", p + "signal_expected"]].isel(draw=slice(None, None, step))
        mu = sub[p + "expected"].values
        counts = (
            rng.poisson(mu)
            if likelihood == "poisson"
            else rng.normal(mu, np.asarray(model[p + "chi2_sigma"].get_value()))
        )
        out.update(
            {
                p + "counts": (sub[p + "expected"].dims, counts),
                p + "expected": sub[p + "expected"],
                p + "signal_expected": sub[p + "signal_expected"],
            }
        )
    return xr.Dataset(out)


def sample_combined(
    tpls: Sequence[TemplateSet],
    labels: Sequence[str],
    target: FitTarget,
    *,
    poi_prior: PoiPrior,
    sampler: SamplerSettings,
    likelihood: str = "poisson",
    shared: Collection[str] = (),
    seed: int = 1,
    progress: bool = False,
    provenance: dict[str, Any] | None = None,
    predictive: bool = True,
    cache: dict[Any, Any] | None = None,
) -> Any:
    """NUTS on the combined model -> DataTree (posterior, sample_stats, prior, predictive groups per
    dataset, observed and constant data, provenance attrs incl. every dataset's checksum).
    ``predictive=False`` keeps posterior and sample_stats only (no prior/predictive sampling).
    ``cache``: compiled models by structure, reused across calls (the same draws as a fresh build)."""
    import xarray as xr

    model, compiled, lazy = _combined_model(
        tpls, labels, poi_prior, target.sign, likelihood, shared, sampler.name, cache
    )
    started = time.perf_counter()
    dt = _draw(model, compiled, sampler, seed, progress)
    sampling_s = time.perf_counter() - started
    if not predictive:
        dt.attrs.update(combined_attrs(tpls, labels, target, poi_prior, likelihood, sampler, seed, shared))
        return dt
    with model, warnings.catch_warnings():
        for message in QUIET_WARNINGS:
            warnings.filterwarnings("ignore", message=message)
        prior = prior_draws(model, lazy, PPC_DRAWS, step_seed(seed, "prior_draws"))
    heavy = _heavy(labels, shared)
    post = dt["posterior"].to_dataset()
    dt["posterior_predictive"] = _predictive(
        post, labels, likelihood, model, step_seed(seed, "posterior_predictive"), thin=True
    )
    dt["posterior"] = post.drop_vars([v for v in heavy if v in post])
    prior_ds = prior["prior"].to_dataset()
    dt["prior_predictive"] = _predictive(
        prior_ds, labels, likelihood, model, step_seed(seed, "prior_predictive"), thin=False
    )
    dt["prior"] = prior_ds.drop_vars([v for v in heavy if v in prior_ds])
    obs, const = {}, {}
    for lab, t in zip(labels, tpls):
        p = dataset_prefix(lab)
        obs[p + "counts"] = (p + "energy_bin", t.observed.astype("int64"))
    for var in model.data_vars:
        if not var.name.endswith("observed_counts"):
            const[var.name] = (model.named_vars_to_dims.get(var.name, ()), np.asarray(var.get_value()))
    coords = {k: np.asarray(v) for k, v in model.coords.items()}
    dt["observed_data"] = xr.Dataset(obs, coords={k: v for k, v in coords.items() if k.endswith("energy_bin")})
    dt["constant_data"] = xr.Dataset(const, coords=coords)
    dt.attrs.update(combined_attrs(tpls, labels, target, poi_prior, likelihood, sampler, seed, shared))
    dt.attrs["sampling_seconds"] = round(sampling_s, 2)
    if provenance:
        dt.attrs.update(
            {k: (v if isinstance(v, (str, int, float)) else json.dumps(v, default=str)) for k, v in provenance.items()}
        )
    return dt


def combined_attrs(
    tpls: Sequence[TemplateSet],
    labels: Sequence[str],
    target: FitTarget,
    poi_prior: PoiPrior,
    likelihood: str,
    sampler: SamplerSettings,
    seed: int,
    shared: Collection[str],
) -> dict[str, Any]:
    """Provenance attrs of a combined DataTree (each dataset's checksum, exposure and summary)."""
    inter = INTERACTIONS[target.interaction]
    t0 = tpls[0]
    return {
        "bayes_xmass_fit": f"combined_{target.label}",
        "combined_datasets": json.dumps(list(labels)),
        "shared_nuisances": json.dumps(list(shared)),
        "interaction": t0.interaction,
        "poi": inter.poi,
        "coupling_unit": inter.coupling_unit,
        "coupling_scale": t0.coupling_scale,
        "sign": target.sign,
        "options": json.dumps(t0.options, default=str),
        "poi_prior": json.dumps(poi_prior.describe(t0.coupling_scale)),
        "poi_prior_upper_physical": poi_prior.upper * t0.coupling_scale,
        "likelihood": likelihood,
        "sampler": sampler.name,
        "nuts_implementation": (
            f"nutpie ({sampler.adaptation.replace('_', '-')} mass matrix)" if sampler.name == "nutpie" else "PyMC NUTS"
        ),
        "sampler_settings": json.dumps(sampler.__dict__),
        "seed": seed,
        "dataset_checksum": ";".join(f"{lab}:{t.dataset.checksum}" for lab, t in zip(labels, tpls)),
        "dataset_checksums": json.dumps({lab: t.dataset.checksum for lab, t in zip(labels, tpls)}),
        "exposure_kg_day": json.dumps({lab: float(t.dataset.exposure_kg_day) for lab, t in zip(labels, tpls)}),
        "dataset": json.dumps({lab: t.dataset.summary() for lab, t in zip(labels, tpls)}, default=str),
        "physics": json.dumps(t0.physics.describe(), default=str),
        "atomic_model": t0.physics.atomic.name,
        "charge_convention": CHARGE_CONVENTION,
        "package_versions": json.dumps(package_versions()),
    }
