"""bayes_xmass: exotic neutrino-electron interactions with solar neutrinos in xenon detectors.

Re-does the XMASS-I search (PLB 809 (2020) 135741) for a neutrino millicharge, a neutrino
magnetic moment and a U(1)_B-L dark photon, Bayesian (PyMC/NUTS) and frequentist side by side,
from one expected-counts function. Data flow (one subpackage per layer, imports only downward):
physics -> datasets -> response -> model -> infer -> validation -> outputs -> workflows -> cli.

The names below are the public Python API (the README's *Use from Python* shows them at work).
They are imported on first use, so ``import bayes_xmass`` itself loads neither PyMC nor PyTensor.

>>> import bayes_xmass as bx
>>> spec = bx.model_spec_for("magnetic-moment")
>>> [t.label for t in bx.fit_targets(spec)]
['magnetic_moment']
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bayes_xmass.lazy import lazy_exports
from bayes_xmass.version import __version__

if TYPE_CHECKING:
    from bayes_xmass.datasets.loader import DEFAULT_DATASET as DEFAULT_DATASET
    from bayes_xmass.datasets.loader import load_dataset as load_dataset
    from bayes_xmass.datasets.types import Dataset as Dataset
    from bayes_xmass.errors import InputError as InputError
    from bayes_xmass.infer.combined import combined_templates as combined_templates
    from bayes_xmass.infer.combined import sample_combined as sample_combined
    from bayes_xmass.infer.combined_profile import CombinedProfileLikelihood as CombinedProfileLikelihood
    from bayes_xmass.infer.frequentist import ProfileLikelihood as ProfileLikelihood
    from bayes_xmass.infer.frequentist import frequentist_summary as frequentist_summary
    from bayes_xmass.infer.posterior_sampler import sample_posterior as sample_posterior
    from bayes_xmass.infer.posterior_summary import credible_limit as credible_limit
    from bayes_xmass.infer.posterior_summary import diagnostics as diagnostics
    from bayes_xmass.model.build import build_model as build_model
    from bayes_xmass.model.poi_prior import PoiPrior as PoiPrior
    from bayes_xmass.model.spec import ModelSpec as ModelSpec
    from bayes_xmass.model.spec import load_model_spec as load_model_spec
    from bayes_xmass.model.spec import model_spec_for as model_spec_for
    from bayes_xmass.model.targets import FitTarget as FitTarget
    from bayes_xmass.model.targets import fit_targets as fit_targets
    from bayes_xmass.model.targets import target_templates as target_templates
    from bayes_xmass.outputs.results import results_schema as results_schema
    from bayes_xmass.outputs.results import validate_results as validate_results
    from bayes_xmass.outputs.run_reader import FinishedRun as FinishedRun
    from bayes_xmass.outputs.run_reader import open_run as open_run

_all, __getattr__ = lazy_exports(
    __name__,
    {
        # data and configuration
        "DEFAULT_DATASET": "bayes_xmass.datasets.loader",
        "load_dataset": "bayes_xmass.datasets.loader",
        "Dataset": "bayes_xmass.datasets.types",
        "InputError": "bayes_xmass.errors",
        "ModelSpec": "bayes_xmass.model.spec",
        "load_model_spec": "bayes_xmass.model.spec",
        "model_spec_for": "bayes_xmass.model.spec",
        "FitTarget": "bayes_xmass.model.targets",
        "fit_targets": "bayes_xmass.model.targets",
        "target_templates": "bayes_xmass.model.targets",
        # the statistical model
        "PoiPrior": "bayes_xmass.model.poi_prior",
        "build_model": "bayes_xmass.model.build",
        # inference
        "sample_posterior": "bayes_xmass.infer.posterior_sampler",
        "credible_limit": "bayes_xmass.infer.posterior_summary",
        "diagnostics": "bayes_xmass.infer.posterior_summary",
        "ProfileLikelihood": "bayes_xmass.infer.frequentist",
        "frequentist_summary": "bayes_xmass.infer.frequentist",
        "combined_templates": "bayes_xmass.infer.combined",
        "sample_combined": "bayes_xmass.infer.combined",
        "CombinedProfileLikelihood": "bayes_xmass.infer.combined_profile",
        # finished runs
        "FinishedRun": "bayes_xmass.outputs.run_reader",
        "open_run": "bayes_xmass.outputs.run_reader",
        "results_schema": "bayes_xmass.outputs.results",
        "validate_results": "bayes_xmass.outputs.results",
    },
)
__all__ = ["__version__", *_all]
