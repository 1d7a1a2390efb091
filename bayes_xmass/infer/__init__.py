"""Inference on the model: NUTS posteriors, profile likelihood, batched toy fits, toys, the B-L scan.

Modules: :mod:`~bayes_xmass.infer.posterior_sampler` (NUTS via nutpie or PyMC into a DataTree),
:mod:`~bayes_xmass.infer.posterior_summary` (credible limits, convergence diagnostics),
:mod:`~bayes_xmass.infer.convergence` (vectorised R-hat / ESS), :mod:`~bayes_xmass.infer.chain_init`
(chain starts), :mod:`~bayes_xmass.infer.forward_sampling` (prior draws),
:mod:`~bayes_xmass.infer.frequentist` (profile likelihood, Delta chi2 and CLs limits),
:mod:`~bayes_xmass.infer.combined_profile` (its multi-dataset form), :mod:`~bayes_xmass.infer.batch_objective`,
:mod:`~bayes_xmass.infer.batch_minimiser` and :mod:`~bayes_xmass.infer.batch_limits` (many toy fits at
once), :mod:`~bayes_xmass.infer.toys` (expected bands, Feldman-Cousins), :mod:`~bayes_xmass.infer.toy_studies` (Bayesian toys, coverage),
:mod:`~bayes_xmass.infer.scan` (the B-L mass scan) and :mod:`~bayes_xmass.infer.combined` (NUTS on
several datasets). Limits are on the scaled coupling x (dimensionless) unless a name says physical.

Notebook entry points are re-exported here, imported on first use (``import bayes_xmass.infer``
stays cheap, without PyMC); library code imports from the defining module.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bayes_xmass.lazy import lazy_exports

if TYPE_CHECKING:
    from bayes_xmass.infer.batch_limits import BatchProfileLikelihood as BatchProfileLikelihood
    from bayes_xmass.infer.batch_limits import batch_limits as batch_limits
    from bayes_xmass.infer.combined import sample_combined as sample_combined
    from bayes_xmass.infer.combined_profile import CombinedProfileLikelihood as CombinedProfileLikelihood
    from bayes_xmass.infer.convergence import rhat_ess as rhat_ess
    from bayes_xmass.infer.frequentist import FitPoint as FitPoint
    from bayes_xmass.infer.frequentist import ProfileLikelihood as ProfileLikelihood
    from bayes_xmass.infer.frequentist import cls_upper_limit as cls_upper_limit
    from bayes_xmass.infer.frequentist import delta_chi2_threshold as delta_chi2_threshold
    from bayes_xmass.infer.frequentist import frequentist_summary as frequentist_summary
    from bayes_xmass.infer.posterior_sampler import PosteriorSampler as PosteriorSampler
    from bayes_xmass.infer.posterior_sampler import posterior_only as posterior_only
    from bayes_xmass.infer.posterior_sampler import sample_posterior as sample_posterior
    from bayes_xmass.infer.posterior_summary import Diagnostics as Diagnostics
    from bayes_xmass.infer.posterior_summary import credible_limit as credible_limit
    from bayes_xmass.infer.posterior_summary import diagnostics as diagnostics
    from bayes_xmass.infer.scan import scan_b_minus_l as scan_b_minus_l
    from bayes_xmass.infer.toy_studies import bayesian_toy_limits as bayesian_toy_limits
    from bayes_xmass.infer.toy_studies import coverage_study as coverage_study
    from bayes_xmass.infer.toys import feldman_cousins as feldman_cousins
    from bayes_xmass.infer.toys import toy_counts as toy_counts
    from bayes_xmass.infer.toys import toy_limits as toy_limits

__all__, __getattr__ = lazy_exports(
    __name__,
    {
        "BatchProfileLikelihood": "bayes_xmass.infer.batch_limits",
        "batch_limits": "bayes_xmass.infer.batch_limits",
        "sample_combined": "bayes_xmass.infer.combined",
        "CombinedProfileLikelihood": "bayes_xmass.infer.combined_profile",
        "rhat_ess": "bayes_xmass.infer.convergence",
        "FitPoint": "bayes_xmass.infer.frequentist",
        "ProfileLikelihood": "bayes_xmass.infer.frequentist",
        "cls_upper_limit": "bayes_xmass.infer.frequentist",
        "delta_chi2_threshold": "bayes_xmass.infer.frequentist",
        "frequentist_summary": "bayes_xmass.infer.frequentist",
        "PosteriorSampler": "bayes_xmass.infer.posterior_sampler",
        "posterior_only": "bayes_xmass.infer.posterior_sampler",
        "sample_posterior": "bayes_xmass.infer.posterior_sampler",
        "Diagnostics": "bayes_xmass.infer.posterior_summary",
        "credible_limit": "bayes_xmass.infer.posterior_summary",
        "diagnostics": "bayes_xmass.infer.posterior_summary",
        "scan_b_minus_l": "bayes_xmass.infer.scan",
        "bayesian_toy_limits": "bayes_xmass.infer.toy_studies",
        "coverage_study": "bayes_xmass.infer.toy_studies",
        "feldman_cousins": "bayes_xmass.infer.toys",
        "toy_counts": "bayes_xmass.infer.toys",
        "toy_limits": "bayes_xmass.infer.toys",
    },
)
