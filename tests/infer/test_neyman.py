"""Toy-calibrated one-sided limits (bayes_xmass.infer.neyman): the interpolation against hand-worked
numbers, and the calibration against the asymptotic threshold where that one is exact."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from bayes_xmass import DEFAULT_DATASET, load_dataset
from bayes_xmass.datasets.priors import make_prior
from bayes_xmass.infer.frequentist import ProfileLikelihood, delta_chi2_threshold
from bayes_xmass.infer.neyman import CriticalValues, calibrate_one_sided, neyman_limits
from bayes_xmass.validation.setup import validation_setup


@pytest.fixture(scope="module")
def reduced_mm():
    return validation_setup("magnetic-moment", load_dataset(DEFAULT_DATASET), reduced=True)


def test_limits_are_the_upper_end_of_the_confidence_set():
    crit = CriticalValues(np.array([1.0, 2.0, 3.0]), np.array([2.0, 2.0, 3.0]), 100, 0.9, 0)
    q = np.array(
        [
            [0.0, 1.0, 4.0],  # accepted up to 2; q - c from -1 to +1 between 2 and 3 -> 2.5
            [3.0, 5.0, 9.0],  # nothing accepted, best fit 0.5 (q~ = 0, c = 2) -> 0.5 + 0.5 * 2/3
            [0.0, 0.0, 0.5],  # accepted up to the last point: beyond the grid
            [0.0, 3.0, 9.0],  # best fit 1.5 between 1 and 2: from x_hat (d = -2) to 2 (d = +1)
            [3.0, 1.0, 9.0],  # rejected at 1 but accepted at 2: the set's upper end, 2.5 (not 1)
        ]
    )
    best = np.array([0.5, 0.5, 0.5, 1.5, 0.5])
    out = neyman_limits(q, best, crit)
    assert out[0] == pytest.approx(2.5)
    assert out[1] == pytest.approx(0.5 + 0.5 * 2.0 / 3.0)
    assert np.isinf(out[2])
    assert out[3] == pytest.approx(1.5 + 0.5 * 2.0 / 3.0)
    assert out[4] == pytest.approx(2.0 + 1.0 / 7.0)


def test_calibration_rejects_bad_grids(reduced_mm):
    _, target, tpl = reduced_mm
    pl = ProfileLikelihood(tpl, sign=target.sign)
    with pytest.raises(ValueError, match="grid"):
        calibrate_one_sided(pl, [1.0, 0.5], n_toys=20)
    with pytest.raises(ValueError, match=">= 10"):
        calibrate_one_sided(pl, [0.5, 1.0], n_toys=5)


def test_calibration_reproduces_the_asymptotic_threshold_without_nuisances(reduced_mm):
    """With every nuisance fixed and no template errors, the model is a Poisson counting fit with many
    events per bin: q~ at 2-3 x the expected limit is asymptotically half chi2_1 + half chi2_1, so the
    90% quantile is Phi^-1(0.9)^2 = 1.64 (the toys' quantile within its statistical error)."""
    _, target, tpl = reduced_mm
    tpl = dataclasses.replace(
        tpl,
        scale_prior=make_prior("fixed", value=1.0),
        background_priors=tuple(make_prior("fixed", value=1.0) for _ in tpl.background_priors),
        background_errors=np.zeros_like(tpl.background_errors),
    )
    pl = ProfileLikelihood(tpl, sign=target.sign)
    crit = calibrate_one_sided(pl, [2.0, 3.0], n_toys=2000, seed=4)
    # quantile error ~ sqrt(0.09 / 2000) / density at 1.64 (0.06) ~ 0.11
    assert crit.critical == pytest.approx([delta_chi2_threshold(0.9, "one_sided")] * 2, abs=0.3)
