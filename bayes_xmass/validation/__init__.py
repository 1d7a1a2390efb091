"""Validation studies of the statistical model (the statistics; files are written by
:mod:`bayes_xmass.outputs.validation_report`, studies run by :mod:`bayes_xmass.workflows.validate`).

- :mod:`~bayes_xmass.validation.setup`: the (reduced) analysis of one fit, the shared compiled sampler;
- :mod:`~bayes_xmass.validation.sbc`: simulation-based calibration (rank uniformity of prior draws);
- :mod:`~bayes_xmass.validation.coverage`: coverage of credible and frequentist limits over toys;
- :mod:`~bayes_xmass.validation.sensitivity`: prior sensitivity (refit / PSIS reweighting) and
  power-scaling sensitivity.
"""

from bayes_xmass.validation.coverage import reference_limit, run_coverage
from bayes_xmass.validation.sbc import SbcResult, SbcSettings, rank_uniformity, run_sbc, sbc_parameters
from bayes_xmass.validation.sensitivity import (
    power_scaling,
    prior_sensitivity,
    scale_nuisance_priors,
    scale_prior_width,
)
from bayes_xmass.validation.setup import REDUCED_ANALYSIS, posterior_sampler_for, validation_setup

__all__ = [
    "REDUCED_ANALYSIS",
    "SbcResult",
    "SbcSettings",
    "posterior_sampler_for",
    "power_scaling",
    "prior_sensitivity",
    "rank_uniformity",
    "reference_limit",
    "run_coverage",
    "run_sbc",
    "sbc_parameters",
    "scale_nuisance_priors",
    "scale_prior_width",
    "validation_setup",
]
