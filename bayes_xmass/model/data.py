"""The pm.Data of a built model: names, values for a template set, and what a compiled model can swap.

A model built by :func:`bayes_xmass.model.build.build_model` keeps everything that differs between fits
of the same structure as pm.Data: observed counts (events per bin), templates, signs, coupling units,
the per-bin relative template errors, the nuisance prior parameters (one vector,
``nuisance_prior_parameters``) and the POI prior's. :func:`model_data` gives these values for a
template set, :func:`data_of_model` the subset a given model has, and :func:`structure_key` tells
which fits can share one compiled model.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from bayes_xmass.datasets.priors import Prior
from bayes_xmass.model.likelihood import chi2_sigma
from bayes_xmass.model.poi_prior import POI_REFERENCE, PoiPrior, poi_prior_data
from bayes_xmass.model.poi_transform import poi_reference
from bayes_xmass.response.templates import TemplateSet

__all__ = [
    "LOG_FACTORIAL",
    "PRIOR_PARAMETERS",
    "PRIOR_PARAMETER_DIM",
    "data_of_model",
    "model_data",
    "nuisance_prior_data",
    "nuisance_prior_labels",
    "nuisance_priors",
    "prior_data_label",
    "structure_key",
    "template_rel_error",
]

LOG_FACTORIAL = "log_factorial_counts"  # pm.Data log k! of the observed counts (build_model(log_factorial_data=True))


def template_rel_error(tpl: TemplateSet) -> np.ndarray:
    """Relative 1-sigma uncertainty of the summed background template per bin (nominal)."""
    nominal = tpl.backgrounds(float(np.clip(1.0, tpl.scale_grid[0], tpl.scale_grid[-1]))).sum(axis=0)
    err = np.sqrt(np.sum(tpl.background_errors**2, axis=0))
    return np.where(nominal > 0, err / np.maximum(nominal, 1e-300), 0.0)


def nuisance_priors(tpl: TemplateSet) -> list[tuple[str, Prior]]:
    """``(variable name, Prior)`` of the normalisations (``norm_<background>``) and the energy scale."""
    return [(f"norm_{name}", prior) for name, prior in zip(tpl.background_names, tpl.background_priors)] + [
        ("energy_scale", tpl.scale_prior)
    ]


PRIOR_PARAMETERS = "nuisance_prior_parameters"  # pm.Data vector of the free nuisances' prior parameters
PRIOR_PARAMETER_DIM = "nuisance_prior_parameter"  # its dim; labels prior_<variable>_<parameter>


def prior_data_label(var: str, param: str) -> str:
    """Label of prior parameter ``param`` of nuisance ``var`` in the ``nuisance_prior_parameters``
    vector, e.g. ``prior_energy_scale_sigma``."""
    return f"prior_{var}_{param}"


def _prior_items(tpl: TemplateSet) -> list[tuple[str, float]]:
    return [
        (prior_data_label(var, param), value)
        for var, prior in nuisance_priors(tpl)
        for param, value in prior.data_values().items()
    ]


def nuisance_prior_labels(tpl: TemplateSet) -> list[str]:
    """Labels of the ``nuisance_prior_parameters`` entries (fixed priors are constants, not data)."""
    return [label for label, _ in _prior_items(tpl)]


def nuisance_prior_data(tpl: TemplateSet, prefix: str = "") -> dict[str, np.ndarray]:
    """``{prefix + 'nuisance_prior_parameters': values}``: centres and widths (and uniform bounds) of
    the free nuisances' priors, in the units of the constrained quantity (dimensionless
    normalisation / energy-scale factors); empty if every nuisance is fixed. One vector, not one
    pm.Data per value: each shared variable is an argument of nutpie's numba functions, and ~16
    scalars cost ~5 s more compilation per model than one vector (measured, magnetic moment)."""
    values = [value for _, value in _prior_items(tpl)]
    return {prefix + PRIOR_PARAMETERS: np.asarray(values, dtype="float64")} if values else {}


def model_data(
    tpl: TemplateSet, sign: int, likelihood: str, poi_prior: PoiPrior | None = None
) -> dict[str, np.ndarray]:
    """The pm.Data values of :func:`build_model` for a template set (what a compiled model swaps),
    including the nuisance prior parameters (:func:`nuisance_prior_data`) and, given
    ``poi_prior``, the POI prior's (:func:`bayes_xmass.model.poi_prior.poi_prior_data`)."""
    data = {
        "bin_edges_keV": np.asarray(tpl.bin_edges_kev, dtype="float64"),
        "observed_counts": tpl.observed.astype("float64"),
        "background_coefficients": tpl.backgrounds.coefficients,
        "signal_coefficients": tpl.signal.coefficients,
        "scale_grid": tpl.scale_grid,
        "signal_powers": np.array(tpl.signal_powers, dtype="float64"),
        "signal_sign_factors": np.array([float(sign) ** int(p) for p in tpl.signal_powers]),
        "template_rel_error": template_rel_error(tpl),
        "coupling_unit_scale": np.asarray(float(sign) * tpl.coupling_scale),
        POI_REFERENCE: np.asarray(poi_reference(tpl)),  # quantile-form POI priors only (data_of_model)
        **nuisance_prior_data(tpl),
        **poi_prior_data(poi_prior),
    }
    if likelihood == "chi2":
        data["chi2_sigma"] = chi2_sigma(tpl.observed, tpl.background_errors)
    return data


def data_of_model(model: Any, data: Mapping[str, Any]) -> dict[str, Any]:
    """The entries of ``data`` that are pm.Data of ``model`` (:func:`model_data` also gives
    ``poi_reference``, which models with a Jeffreys or no POI prior do not have)."""
    return {k: v for k, v in data.items() if k in model.named_vars}


def structure_key(tpl: TemplateSet, poi_prior: PoiPrior, likelihood: str) -> tuple[Any, ...]:
    """Fits with equal keys can share one compiled model (only pm.Data differ). Priors enter by their
    structure (nuisances: family, fixed or free, bounds; the POI: :meth:`PoiPrior.structure`): centres,
    widths and the POI prior's parameters are pm.Data."""
    return (
        tuple(np.round(tpl.bin_edges_kev, 9)),
        tpl.background_names,
        tuple(p.structure() for p in tpl.background_priors),
        tpl.scale_prior.structure(),
        tpl.scale_grid.size,
        tpl.signal_terms,
        poi_prior.structure(),
        likelihood,
        bool(np.any(tpl.background_errors > 0)),
    )
