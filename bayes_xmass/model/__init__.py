"""The statistical model: expected counts, likelihood, POI prior and coordinate, PyMC model, specs, fit targets.

Modules: :mod:`~bayes_xmass.model.likelihood` (expected counts in events per bin and the Poisson /
chi-square log-likelihood as PyTensor functions), :mod:`~bayes_xmass.model.poi_prior` (the prior of the
scaled coupling x = |coupling| / coupling_scale), :mod:`~bayes_xmass.model.poi_transform` (the POI's
sampling coordinate), :mod:`~bayes_xmass.model.build` (the PyMC model of one or several datasets),
:mod:`~bayes_xmass.model.data` (the model's pm.Data values and which fits share a compiled model),
:mod:`~bayes_xmass.model.spec` (model specs from TOML) and :mod:`~bayes_xmass.model.targets` (the fits
of a spec and their templates).

Notebook entry points are re-exported here, imported on first use (``import bayes_xmass.model``
stays cheap); library code imports from the defining module.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bayes_xmass.lazy import lazy_exports

if TYPE_CHECKING:
    from bayes_xmass.model.build import build_combined_model as build_combined_model
    from bayes_xmass.model.build import build_model as build_model
    from bayes_xmass.model.data import model_data as model_data
    from bayes_xmass.model.data import structure_key as structure_key
    from bayes_xmass.model.likelihood import LIKELIHOODS as LIKELIHOODS
    from bayes_xmass.model.poi_prior import POI_PRIOR_KINDS as POI_PRIOR_KINDS
    from bayes_xmass.model.poi_prior import POI_VALUE as POI_VALUE
    from bayes_xmass.model.poi_prior import PoiPrior as PoiPrior
    from bayes_xmass.model.spec import ModelSpec as ModelSpec
    from bayes_xmass.model.spec import SamplerSettings as SamplerSettings
    from bayes_xmass.model.spec import load_model_spec as load_model_spec
    from bayes_xmass.model.spec import model_spec_for as model_spec_for
    from bayes_xmass.model.targets import FitTarget as FitTarget
    from bayes_xmass.model.targets import fit_targets as fit_targets
    from bayes_xmass.model.targets import target_templates as target_templates

__all__, __getattr__ = lazy_exports(
    __name__,
    {
        "build_combined_model": "bayes_xmass.model.build",
        "build_model": "bayes_xmass.model.build",
        "model_data": "bayes_xmass.model.data",
        "structure_key": "bayes_xmass.model.data",
        "LIKELIHOODS": "bayes_xmass.model.likelihood",
        "POI_PRIOR_KINDS": "bayes_xmass.model.poi_prior",
        "POI_VALUE": "bayes_xmass.model.poi_prior",
        "PoiPrior": "bayes_xmass.model.poi_prior",
        "ModelSpec": "bayes_xmass.model.spec",
        "SamplerSettings": "bayes_xmass.model.spec",
        "load_model_spec": "bayes_xmass.model.spec",
        "model_spec_for": "bayes_xmass.model.spec",
        "FitTarget": "bayes_xmass.model.targets",
        "fit_targets": "bayes_xmass.model.targets",
        "target_templates": "bayes_xmass.model.targets",
    },
)
