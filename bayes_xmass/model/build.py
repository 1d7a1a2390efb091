"""The statistical model of one analysis as a PyMC model, shared by both inference paths.

:func:`build_model` turns a :class:`~bayes_xmass.response.templates.TemplateSet` into a PyMC model:

- parameter of interest ``x = |coupling| / coupling_scale >= 0`` with a declared prior (for the
  millicharge the sign is fixed per fit: ``coupling = sign * x * scale``),
- background normalisations and the energy scale from the dataset's prior registry; their prior
  parameters (centres, widths: :attr:`bayes_xmass.datasets.priors.PriorKind.data_params`) are the pm.Data
  vector ``nuisance_prior_parameters`` with labels ``prior_<variable>_<parameter>``
  (:func:`nuisance_prior_data`), so a compiled model serves any priors of the same family and
  bounds (e.g. the widened/narrowed priors of the sensitivity study),
- per-bin template factors gamma when the dataset gives template uncertainties
  (``gammas="marginalise"``: non-centred Normal(1, delta) variables for NUTS;
  ``gammas="profile"``: the closed-form conditional maximum, for the frequentist fit),
- the expected counts of :mod:`bayes_xmass.model.likelihood` and a Poisson (or Gaussian chi-square)
  likelihood of the observed counts.

The frequentist code compiles ``model.compile_logp(jacobian=False)`` of the model built with
``poi_prior=PoiPrior("improper")``: the same graph, with the POI free of any prior.

:func:`build_combined_model` puts several datasets in one model: one POI, and per dataset the
same blocks (:func:`_dataset_data`, :func:`_dataset_likelihood`) with names and dims prefixed by
``<label>__``; nuisances declared shared keep their single-dataset name and appear once (their prior
parameters are read from the first dataset that has them: :func:`check_combination` requires equal
priors).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

import numpy as np

from bayes_xmass.datasets.priors import Prior
from bayes_xmass.model.combination import check_combination, dataset_prefix
from bayes_xmass.model.data import (
    LOG_FACTORIAL,
    PRIOR_PARAMETER_DIM,
    nuisance_prior_data,
    nuisance_prior_labels,
    nuisance_priors,
    prior_data_label,
    template_rel_error,
)
from bayes_xmass.model.likelihood import (
    LIKELIHOODS,
    background_counts,
    chi2_sigma,
    expected_counts,
    gamma_log_penalty,
    gaussian_log_likelihood,
    log_factorial_counts,
    poisson_log_likelihood,
    profiled_gamma,
    signal_counts,
    spline_templates,
)
from bayes_xmass.model.poi_prior import (
    POI_PRIOR_PARAMETER_DIM,
    POI_PRIOR_PARAMETER_LABELS,
    POI_PRIOR_PARAMETERS,
    POI_QUANTILE,
    POI_QUANTILE_SCALED,
    POI_REFERENCE,
    POI_VALUE,
    QUANTILE_PRIOR_KINDS,
    PoiPrior,
)
from bayes_xmass.model.poi_transform import SoftInterval, poi_reference, quantile_range
from bayes_xmass.response.templates import TemplateSet

__all__ = ["build_combined_model", "build_model"]


def _coords(tpl: TemplateSet, prefix: str = "") -> dict[str, Any]:
    """Model coordinates of one dataset; the per-dataset dims are prefixed ('term' and
    'spline_coefficient' are common to all datasets of a combined fit)."""
    edges = tpl.bin_edges_kev
    return {
        prefix + "energy_bin": 0.5 * (edges[1:] + edges[:-1]),
        prefix + "energy_edge": np.asarray(edges),
        prefix + "background": list(tpl.background_names),
        "term": list(tpl.signal_terms),
        "spline_coefficient": [3, 2, 1, 0],
        prefix + "scale_interval": np.arange(tpl.signal.coefficients.shape[1]),
        prefix + "scale_point": np.arange(tpl.scale_grid.size),
        prefix + PRIOR_PARAMETER_DIM: nuisance_prior_labels(tpl),
    }


def _poi(pm: Any, pt: Any, prior: PoiPrior, x_reference: float = 1.0) -> Any:
    if prior.kind == "improper":
        return pm.Flat(POI_VALUE)
    if prior.kind in QUANTILE_PRIOR_KINDS:
        # x = F^-1(u), u ~ U(0, 1): uniform in x^power on [0, upper], or in log x on [floor, upper]
        pm.modelcontext(None).add_coord(POI_PRIOR_PARAMETER_DIM, list(POI_PRIOR_PARAMETER_LABELS))
        # sampled as v = K u ~ U(0, K) in a coordinate linear in the signal rate (poi_transform.py)
        par = pm.Data(POI_PRIOR_PARAMETERS, prior.data_values(), dims=POI_PRIOR_PARAMETER_DIM)
        x_ref = pm.Data(POI_REFERENCE, np.asarray(float(x_reference)))
        k = quantile_range(par, x_ref)
        v = pm.Uniform(POI_QUANTILE_SCALED, 0.0, k, default_transform=None, transform=SoftInterval())
        u = pm.Deterministic(POI_QUANTILE, v / k)
        power_form = par[1] * u ** par[2]
        log_form = pt.exp(par[3] + u * par[4])
        return pm.Deterministic(POI_VALUE, pt.switch(par[0] > 0.5, log_form, power_form))
    return pm.Uniform(POI_VALUE, 0.0, prior.upper)  # jeffreys: a Potential is added later


def _check_build_args(likelihood: str, sign: int, gammas: str) -> None:
    if likelihood not in LIKELIHOODS:
        raise ValueError(f"unknown likelihood {likelihood!r}; known: {', '.join(LIKELIHOODS)}")
    if sign not in (1, -1):
        raise ValueError("sign must be +1 or -1")
    if gammas not in ("marginalise", "profile"):
        raise ValueError("gammas must be 'marginalise' or 'profile'")


def _dataset_data(
    pm: Any, tpl: TemplateSet, sign: int, prefix: str = "", log_factorial_data: bool = False
) -> dict[str, Any]:
    """The pm.Data of one dataset (names and dims prefixed by ``prefix``; '' for a single fit)."""

    def d(name: str) -> str:  # a naming helper
        return prefix + name

    powers = np.array(tpl.signal_powers, dtype=float)
    sign_factors = np.array([float(sign) ** int(p) for p in tpl.signal_powers])
    extra: dict[str, Any] = {}
    if log_factorial_data:
        extra["log_factorial"] = pm.Data(d(LOG_FACTORIAL), log_factorial_counts(tpl.observed), dims=d("energy_bin"))
    return {
        **extra,
        "edges": pm.Data(d("bin_edges_keV"), np.asarray(tpl.bin_edges_kev, dtype="float64"), dims=d("energy_edge")),
        "observed": pm.Data(d("observed_counts"), tpl.observed.astype("float64"), dims=d("energy_bin")),
        "bkg_coef": pm.Data(
            d("background_coefficients"),
            tpl.backgrounds.coefficients,
            dims=("spline_coefficient", d("scale_interval"), d("background"), d("energy_bin")),
        ),
        "sig_coef": pm.Data(
            d("signal_coefficients"),
            tpl.signal.coefficients,
            dims=("spline_coefficient", d("scale_interval"), "term", d("energy_bin")),
        ),
        "grid": pm.Data(d("scale_grid"), tpl.scale_grid, dims=d("scale_point")),
        "powers": pm.Data(d("signal_powers"), powers, dims="term"),
        "sign_factors": pm.Data(d("signal_sign_factors"), sign_factors, dims="term"),
        "delta": pm.Data(d("template_rel_error"), template_rel_error(tpl), dims=d("energy_bin")),
        # zero or one vector: absent when every nuisance is fixed
        **{
            key: pm.Data(d(name), value, dims=d(PRIOR_PARAMETER_DIM))
            for key, (name, value) in zip(["prior_parameters"], nuisance_prior_data(tpl).items())
        },
    }


def _prior_variable(prior: Prior, var: str, prefix: str, data: Mapping[str, Any], labels: list[str]) -> Any:
    """The nuisance ``prefix + var``, its prior parameters read from the dataset's
    ``nuisance_prior_parameters`` (``data['prior_parameters']``, entries ``labels``); constant if fixed."""
    params = {
        param: data["prior_parameters"][labels.index(prior_data_label(var, param))] for param in prior.data_values()
    }
    return prior.to_pymc(prefix + var, params=params)


class _Nuisances:
    """Creates a dataset's nuisance variables, reusing the ones declared shared across datasets.

    ``prefix`` names a dataset's own variables; a name in ``shared`` is created once, unprefixed,
    by the first dataset that asks for it, and returned as is to the others.
    """

    def __init__(self, shared: Collection[str] = ()) -> None:
        self.shared = set(shared)
        self.made: dict[str, object] = {}

    def get(self, name: str, prefix: str, factory: Callable[[str], Any], free: bool = True) -> Any:
        """The variable ``name`` of a dataset, made by ``factory(p)`` as ``p + name`` (``p`` the
        dataset's prefix, or '' when shared); a fixed one (``free=False``) is never shared."""
        if name not in self.shared or not free:
            return factory(prefix)
        if name not in self.made:
            self.made[name] = factory("")
        return self.made[name]


def _dataset_likelihood(
    pm: Any,
    pt: Any,
    tpl: TemplateSet,
    data: dict[str, Any],
    x: Any,
    *,
    prefix: str,
    likelihood: str,
    gammas: str,
    nuisances: _Nuisances,
    jeffreys: bool,
) -> Any:
    """Nuisances, expected counts (:func:`likelihood.expected_counts`) and the likelihood Potential of one
    dataset; returns its Fisher information in x (for a combined Jeffreys prior) or None."""

    def d(name: str) -> str:
        return prefix + name

    rel_err = template_rel_error(tpl)
    use_gammas = likelihood == "poisson" and np.any(rel_err > 0)
    observed, bkg_coef, sig_coef, grid = data["observed"], data["bkg_coef"], data["sig_coef"], data["grid"]
    pw, sf, delta = data["powers"], data["sign_factors"], data["delta"]

    labels = nuisance_prior_labels(tpl)

    def prior_factory(var: str, prior: Prior) -> Callable[[str], Any]:
        """Makes nuisance ``var`` with the name prefix it is given (see :meth:`_Nuisances.get`)."""
        return lambda p: _prior_variable(prior, var, p, data, labels)

    made = {
        var: nuisances.get(var, prefix, prior_factory(var, prior), not prior.is_fixed)
        for var, prior in nuisance_priors(tpl)
    }
    norms = [made[f"norm_{name}"] for name in tpl.background_names]
    norm = pm.Deterministic(
        d("norm"), pt.stack([pt.as_tensor_variable(n, dtype="float64") for n in norms]), dims=d("background")
    )
    scale = pt.as_tensor_variable(made["energy_scale"], dtype="float64")

    bkg = background_counts(norm, bkg_coef, grid, scale)
    sig = signal_counts(x, pw, sf, sig_coef, grid, scale)
    gamma = None
    shared_gamma = "gamma" in nuisances.shared
    if use_gammas and (gammas == "marginalise" or shared_gamma):
        # a gamma shared across datasets has no closed-form profile: it stays a variable (and the
        # frequentist fit profiles it numerically, exactly)
        gamma = nuisances.get(
            "gamma",
            prefix,
            lambda p: pm.Deterministic(
                p + "gamma",
                pt.maximum(1.0 + delta * pm.Normal(p + "gamma_z", 0.0, 1.0, dims=d("energy_bin")), 1e-6),
                dims=d("energy_bin"),
            ),
        )
    elif use_gammas:
        gamma = pm.Deterministic(d("gamma"), profiled_gamma(observed, bkg, sig, delta), dims=d("energy_bin"))
        pm.Potential(d("gamma_penalty"), gamma_log_penalty(gamma, delta))
    mu = expected_counts(bkg, sig, gamma)
    pm.Deterministic(d("expected"), mu, dims=d("energy_bin"))
    pm.Deterministic(d("signal_expected"), sig, dims=d("energy_bin"))
    fisher = None
    if jeffreys:
        dmu_dx = pt.dot(pw * sf * pt.pow(pt.maximum(x, 1e-12), pw - 1.0), spline_templates(sig_coef, grid, scale))
        fisher = pt.sum(dmu_dx**2 / mu)
        if not prefix:  # single dataset: the Potential sits where it always did
            pm.Potential("jeffreys", 0.5 * pt.log(fisher + 1e-300))
    # The likelihood is a Potential of our own log-density (not an observed RV) so that
    # non-integer Asimov data are used as they are (PyMC would round observed Poisson data);
    # predictive counts are drawn from 'expected' (bayes.py).
    if likelihood == "poisson":
        pm.Potential(d("log_likelihood"), poisson_log_likelihood(observed, mu, data.get("log_factorial")))
    else:
        sigma = pm.Data(d("chi2_sigma"), chi2_sigma(tpl.observed, tpl.background_errors), dims=d("energy_bin"))
        pm.Potential(d("log_likelihood"), gaussian_log_likelihood(observed, mu, sigma))
    return fisher


def build_model(
    tpl: TemplateSet,
    poi_prior: PoiPrior = PoiPrior(),
    *,
    sign: int = 1,
    likelihood: str = "poisson",
    gammas: str = "marginalise",
    log_factorial_data: bool = False,
    check_bounds: bool = True,
) -> Any:
    """Build the PyMC model (see module docstring). ``sign`` is +1 or -1 (millicharge only).

    ``log_factorial_data``: log k! of the observed counts is the pm.Data ``log_factorial_counts``
    (whoever swaps ``observed_counts`` must set it too: :class:`bayes_xmass.infer.posterior_sampler.PosteriorSampler`
    does) instead of lgamma in the graph, which took ~13% of each log-density evaluation of NUTS.

    ``check_bounds=False`` (PyMC's model option): the log density does not re-check the priors'
    parameters (widths > 0, lower < upper) at every evaluation. They are checked once, where they
    enter (:mod:`bayes_xmass.datasets.priors` validation, dataset loading); for NUTS the checks were ~20% of
    each gradient evaluation (B-L model: 6.8 -> 5.5 us, measured)."""
    import pymc as pm
    import pytensor.tensor as pt

    _check_build_args(likelihood, sign, gammas)
    with pm.Model(coords=_coords(tpl), check_bounds=check_bounds) as model:
        data = _dataset_data(pm, tpl, sign, log_factorial_data=log_factorial_data and likelihood == "poisson")
        x = _poi(pm, pt, poi_prior, poi_reference(tpl))
        unit = pm.Data("coupling_unit_scale", np.asarray(float(sign) * tpl.coupling_scale))
        pm.Deterministic("coupling", unit * x)
        _dataset_likelihood(
            pm,
            pt,
            tpl,
            data,
            x,
            prefix="",
            likelihood=likelihood,
            gammas=gammas,
            nuisances=_Nuisances(),
            jeffreys=poi_prior.kind == "jeffreys",
        )
    return model


# -- combined fits over several datasets ------------------------------------------------------------
def build_combined_model(
    tpls: Sequence[TemplateSet],
    labels: Sequence[str],
    poi_prior: PoiPrior = PoiPrior(),
    *,
    sign: int = 1,
    likelihood: str = "poisson",
    gammas: str = "marginalise",
    shared: Collection[str] = (),
) -> Any:
    """One PyMC model over several datasets sharing the POI x (and the ``shared`` nuisances).

    Dataset ``labels[i]`` contributes the same variables as :func:`build_model` with names and dims
    prefixed by ``<label>__`` (``xmass__norm_kr85``, dim ``xmass__energy_bin``), its own expected
    counts from :func:`likelihood.expected_counts` and its own likelihood Potential. Shared
    nuisances keep their single-dataset name (``energy_scale``, ``norm_B0``, ``gamma``). The POI,
    its prior and ``coupling`` (= sign * scale * x, the scale common to all template sets) appear
    once. With ``poi_prior.kind == 'jeffreys'`` the Fisher information is summed over datasets.
    """
    import pymc as pm
    import pytensor.tensor as pt

    _check_build_args(likelihood, sign, gammas)
    check_combination(tpls, labels, shared)
    coords: dict[str, Any] = {}
    for lab, t in zip(labels, tpls):
        coords.update(_coords(t, dataset_prefix(lab)))
    nuisances = _Nuisances(shared)
    with pm.Model(coords=coords) as model:
        data = [_dataset_data(pm, t, sign, dataset_prefix(lab)) for lab, t in zip(labels, tpls)]
        x = _poi(pm, pt, poi_prior, poi_reference(list(tpls)))
        unit = pm.Data("coupling_unit_scale", np.asarray(float(sign) * tpls[0].coupling_scale))
        pm.Deterministic("coupling", unit * x)
        fisher = [
            _dataset_likelihood(
                pm,
                pt,
                t,
                dd,
                x,
                prefix=dataset_prefix(lab),
                likelihood=likelihood,
                gammas=gammas,
                nuisances=nuisances,
                jeffreys=poi_prior.kind == "jeffreys",
            )
            for lab, t, dd in zip(labels, tpls, data)
        ]
        if poi_prior.kind == "jeffreys":
            pm.Potential("jeffreys", 0.5 * pt.log(sum(fisher) + 1e-300))
    return model
