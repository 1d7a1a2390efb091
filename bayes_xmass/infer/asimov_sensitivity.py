"""Expected (median, background-only) limits from the Asimov data set of a dataset's nominal model.

The Asimov data here are the background expectation with every nuisance where its constraint is
largest: normalisations at their priors' modes (1 for the normal kinds; mu exp(-sigma^2) for a
log-normal of median mu, whose mode is below its median), energy scale at its prior's centre, no
template shifts, no signal. The background-only fit of these data is then exactly at x = 0 (with
normalisations at 1 a log-normal constraint pulls the fit away and a spurious signal x > 0 fits best).
The Delta chi2 limit on them is, in the asymptotic (Gaussian) regime, the median of the
background-only toy limits, and does not depend on the one observed draw. It is what the benchmark is calibrated with (physics/xmass_published.py gives the
targets XMASS's published fits imply).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np

from bayes_xmass.datasets.priors import Prior
from bayes_xmass.datasets.types import Dataset
from bayes_xmass.infer.frequentist import ProfileLikelihood
from bayes_xmass.model.spec import ModelSpec
from bayes_xmass.model.targets import FitTarget, target_templates
from bayes_xmass.response.templates import TemplateSet

__all__ = [
    "AsimovLimit",
    "asimov_background_counts",
    "asimov_expected_limit",
    "constraint_mode",
    "nominal_background_counts",
]


@dataclass(frozen=True)
class AsimovLimit:
    """Expected limit of one fit on the nominal Asimov data (coupling in its physical unit)."""

    fit: str
    limit: float
    threshold: str
    cl: float


def nominal_background_counts(tpl: TemplateSet) -> np.ndarray:
    """Expected counts per bin at the nominal background model (normalisations 1, energy scale 1)."""
    scale = float(np.clip(1.0, tpl.scale_grid[0], tpl.scale_grid[-1]))
    return np.asarray(tpl.backgrounds(scale).sum(axis=0), dtype=float)


def constraint_mode(prior: Prior) -> float:
    """Where a normalisation prior's density is largest (the value an Asimov data set takes)."""
    p = prior.params
    if prior.is_fixed:
        return float(prior.fixed_value() or 0.0)
    if prior.kind == "lognormal":
        return float(p["mu"] * math.exp(-(p["sigma"] ** 2)))
    if prior.kind in ("normal", "truncated_normal"):
        return float(max(p["mu"], p.get("lower", -math.inf)))
    if prior.kind == "halfnormal":
        return 0.0
    return float(prior.mean())  # uniform: flat, its centre


def asimov_background_counts(tpl: TemplateSet) -> np.ndarray:
    """Expected counts per bin with every normalisation at its prior's mode (energy scale 1)."""
    scale = float(np.clip(1.0, tpl.scale_grid[0], tpl.scale_grid[-1]))
    modes = np.array([constraint_mode(p) for p in tpl.background_priors])
    return np.asarray(modes @ tpl.backgrounds(scale), dtype=float)


def asimov_expected_limit(
    spec: ModelSpec, dataset: Dataset, target: FitTarget, *, threshold: str = "xmass"
) -> AsimovLimit:
    """The Delta chi2 upper limit (``threshold``: "xmass" = 2.71, "one_sided" = 1.64 at 90% CL) of
    fit ``target`` on the Asimov data of ``dataset`` (:func:`asimov_background_counts`), with the
    model's likelihood and CL."""
    tpl = target_templates(spec, dataset, target)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pl = ProfileLikelihood(tpl, sign=target.sign, likelihood=spec.likelihood)
        pl.set_observed(asimov_background_counts(tpl))
        limit = pl.upper_limit(spec.cl, threshold, pl.best_fit())
    return AsimovLimit(target.label, float(limit * tpl.coupling_scale), threshold, spec.cl)
