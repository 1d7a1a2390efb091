"""Batched toy fits (infer/batch_*.py) against the scalar L-BFGS-B path of ProfileLikelihood.

The benchmark fits are used as they are. For the common millicharge (2-15 keV) -2 log L has one
minimum per toy, and both paths must give the same numbers to optimiser precision. The magnetic-
moment and B-L fits (windows down to 2 keV, with shell-edge features) have local minima in the energy
scale; there the batched fit (more starting points) must be at least as good as the scalar one on
(almost) every toy, and equal where both find the same minimum.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from bayes_xmass.datasets.loader import DEFAULT_DATASET, load_dataset
from bayes_xmass.infer.batch_limits import BatchProfileLikelihood, batch_fc_statistic, batch_limits
from bayes_xmass.infer.frequentist import ProfileLikelihood
from bayes_xmass.infer.toys import scalar_fc_statistic, toy_counts, toy_limits
from bayes_xmass.model.targets import fit_targets, target_templates
from bayes_xmass.workflows.run import RunSettings, _spec

N_TOYS = 30  # unimodal comparison
N_MULTI = 24  # multimodal comparison


@pytest.fixture(scope="module")
def dataset():
    return load_dataset(DEFAULT_DATASET)


def _fit(dataset, interaction, index=0, likelihood=None):
    spec = _spec(interaction, RunSettings.for_mode(True))
    target = list(fit_targets(spec))[index]
    tpl = target_templates(spec, dataset, target)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pl = ProfileLikelihood(tpl, sign=target.sign, likelihood=likelihood or spec.likelihood)
    return tpl, target, pl, BatchProfileLikelihood(pl)


def _scalar_rows(pl, counts):
    rows, nll2 = [], []
    for c in counts:
        pl.set_observed(c)
        best = pl.best_fit()
        nll2.append(best.nll2)
        rows.append([best.x, pl.upper_limit(0.9, "xmass", best), pl.upper_limit(0.9, "one_sided", best)])
    return np.array(rows), np.array(nll2)


@pytest.fixture(scope="module")
def millicharge(dataset):
    return _fit(dataset, "millicharge", 0)


def test_unimodal_fit_equals_scalar_path(millicharge):
    """Best fit, both Delta chi2 limits: batched == scalar (rtol 1e-5), -2 log L to 1e-6."""
    tpl, target, pl, bpl = millicharge
    counts = toy_counts(pl, 0.0, N_TOYS, seed=3)
    best = bpl.best_fit(counts)
    rows = batch_limits(bpl, counts)
    ref, ref_nll2 = _scalar_rows(pl, counts)
    np.testing.assert_allclose(best.nll2, ref_nll2, rtol=0, atol=1e-6)
    np.testing.assert_allclose(rows[:, 1:], ref[:, 1:], rtol=1e-5)
    # best-fit x: the profile is flat near the boundary, so compare through -2 log L above
    assert bpl.n_fallback == 0 and best.converged.all()


def test_unimodal_fc_statistic_equals_scalar_path(millicharge):
    tpl, target, pl, bpl = millicharge
    pl.set_observed(tpl.observed)
    x = 0.8 * pl.upper_limit(0.9, "xmass")
    counts = toy_counts(pl, x, N_TOYS, seed=4)
    got = batch_fc_statistic(bpl, counts, x)
    ref = scalar_fc_statistic(pl, counts, x)
    pl.set_observed(tpl.observed)
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-6)


@pytest.mark.parametrize("index, n, seed", [(0, 20, 5), (1, 100, 12)])
def test_result_does_not_depend_on_batch_composition(dataset, index, n, seed):
    """A toy fitted alone, in blocks of 7 or among all toys: the same numbers. (q < 0, seed 12 has
    toys whose x is held at its bound and later released: their Hessians must not depend on the
    other toys.)"""
    tpl, target, pl, bpl = _fit(dataset, "millicharge", index)
    counts = toy_counts(pl, 0.0, n, seed=seed)
    whole = batch_limits(bpl, counts)
    blocks = np.concatenate([batch_limits(bpl, counts[i : i + 7]) for i in range(0, n, 7)])
    alone = batch_limits(bpl, counts[12:13])
    np.testing.assert_allclose(blocks, whole, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(alone, whole[12:13], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("interaction, index", [("magnetic-moment", 0), ("dark-photon", 1)])
def test_multimodal_fit_at_least_as_good_as_scalar(dataset, interaction, index):
    """Energy-scale local minima: batched -2 log L <= scalar + 1e-5 on >= 95% of toys, equal limits
    (rtol 1e-5) where both find the same best fit, and expected-limit medians within 5% (the
    batched fit finds the lower minimum more often, which moves single toys' limits)."""
    tpl, target, pl, bpl = _fit(dataset, interaction, index)
    counts = toy_counts(pl, 0.0, N_MULTI, seed=6)
    best = bpl.best_fit(counts)
    rows = batch_limits(bpl, counts)
    ref, ref_nll2 = _scalar_rows(pl, counts)
    diff = ref_nll2 - best.nll2  # > 0: the batched fit found the lower minimum
    assert np.mean(diff > -1e-5) >= 0.95
    same = np.abs(diff) < 1e-6
    assert same.sum() >= 0.7 * N_MULTI
    agree = np.isclose(rows[same, 1], ref[same, 1], rtol=1e-5)
    assert agree.mean() >= 0.9  # the rest: a conditional fit at x in another energy-scale basin
    assert np.median(rows[:, 1]) == pytest.approx(np.median(ref[:, 1]), rel=0.05)


def test_chi2_likelihood_batched_equals_scalar(dataset):
    """The chi-square option: the Gaussian widths follow each toy's counts in the batch too."""
    tpl, target, pl, bpl = _fit(dataset, "millicharge", 0, likelihood="chi2")
    counts = toy_counts(pl, 0.0, 15, seed=7)
    rows = batch_limits(bpl, counts)
    ref, _ = _scalar_rows(pl, counts)
    np.testing.assert_allclose(rows[:, 1:], ref[:, 1:], rtol=1e-5)


def test_toy_limits_fitters_agree(millicharge):
    tpl, target, pl, bpl = millicharge
    kw = dict(sign=target.sign, n_toys=12, seed=9, processes=1, pl=pl)
    a = toy_limits(tpl, fitter="batch", **kw)
    b = toy_limits(tpl, fitter="scalar", **kw)
    for k in a.limits:
        np.testing.assert_allclose(a.limits[k], b.limits[k], rtol=1e-5)
    with pytest.raises(ValueError, match="fitter"):
        toy_limits(tpl, fitter="minuit", **kw)


def test_bands_with_toys_without_limit():
    """A quantile next to an infinite toy limit is +inf, not nan."""
    from bayes_xmass.infer.toys import ToyLimits

    lim = np.array([1.0, 2.0, 3.0, np.inf, np.inf])
    bands = ToyLimits(0.0, np.zeros(5), {"xmass": lim}, 1).bands("xmass")
    assert bands["median"] == 3.0 and bands["+2sigma"] == np.inf
    assert not any(np.isnan(v) for v in bands.values())


def test_saddle_free_step_fast_path_equals_eigendecomposition(monkeypatch):
    """The Cholesky shortcut for well-conditioned positive definite Hessians gives the saddle-free
    Newton step of the eigendecomposition; ill-conditioned and indefinite ones take the latter."""
    from bayes_xmass.infer import batch_minimiser

    rng = np.random.default_rng(1)
    a = rng.normal(size=(30, 6, 6))
    h = a @ np.swapaxes(a, 1, 2) + 0.1 * np.eye(6)  # positive definite
    h[10:20] = a[10:20] + np.swapaxes(a[10:20], 1, 2)  # indefinite
    w, v = np.linalg.eigh(h[20:])
    w[:, 0] = 1e-13 * w[:, -1]  # floored eigenvalue
    h[20:] = np.einsum("nij,nj,nkj->nik", v, w, v)
    g = rng.normal(size=(30, 6))

    def reference(h, g):
        w, v = np.linalg.eigh(h)
        wf = np.maximum(np.abs(w), batch_minimiser.EIGEN_FLOOR * np.max(np.abs(w), axis=1, keepdims=True))
        return -np.einsum("nij,nj->ni", v, np.einsum("nji,nj->ni", v, g) / wf), w[:, 0] <= 0

    ref_step, ref_indefinite = reference(h, g)
    for gufunc in (batch_minimiser._CHOLESKY_GUFUNC, None):  # numpy's gufunc, or bisection of the stack
        monkeypatch.setattr(batch_minimiser, "_CHOLESKY_GUFUNC", gufunc)
        step, indefinite = batch_minimiser.saddle_free_step(h, g)
        np.testing.assert_allclose(step, ref_step, rtol=1e-8, atol=1e-12)
        np.testing.assert_array_equal(indefinite, ref_indefinite)
        assert indefinite[10:20].any() and not indefinite[:10].any()


def test_evaluation_and_stacked_fits_independent_of_blocking(millicharge):
    """Rows are evaluated in blocks and several fits share one batch: the same numbers as alone."""
    tpl, target, pl, bpl = millicharge
    counts = toy_counts(pl, 0.0, 9, seed=8)
    theta = np.tile(np.concatenate([[0.3], pl.start]), (9, 1))
    v, g = bpl.value_and_grad(theta, counts)
    chunk = bpl.eval_chunk
    try:
        bpl.eval_chunk = 2
        v2, g2 = bpl.value_and_grad(theta, counts)
    finally:
        bpl.eval_chunk = chunk
    np.testing.assert_array_equal(v2, v)
    np.testing.assert_array_equal(g2, g)
    specs = [(0.0, None, 0.5), (None, None, 0.5), (0.7, None, 0.5)]
    many = bpl.fit_many(counts, specs)
    for (x, start, x_start), fit in zip(specs, many):
        alone = bpl.fit(counts, x, start=start, x_start=x_start)
        for field in ("x", "nll2", "nuisances", "converged", "grad"):
            np.testing.assert_array_equal(getattr(fit, field), getattr(alone, field))


def test_limits_are_roots_of_the_profile(millicharge):
    """Each limit: Delta chi2 at it (conditional fit from the best fit's nuisances) equals the
    threshold; the shared search of two thresholds gives each threshold's limit found alone."""
    from bayes_xmass.infer.frequentist import delta_chi2_threshold

    tpl, target, pl, bpl = millicharge
    counts = toy_counts(pl, 0.0, 12, seed=10)
    best = bpl.best_fit(counts)
    both = bpl.upper_limits(counts, best)
    for t in ("xmass", "one_sided"):
        alone = bpl.upper_limits(counts, best, thresholds=(t,))[t]
        np.testing.assert_allclose(alone, both[t], rtol=1e-6)
        delta, _ = bpl.profile_delta(counts, both[t], best)
        np.testing.assert_allclose(delta, delta_chi2_threshold(0.9, t), atol=2e-5)
