"""The shared expected-counts function and likelihood: PyTensor vs independent numpy."""

from __future__ import annotations

import numpy as np
import pytensor.tensor as pt
import pytest
from conftest import write_toy_dataset
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import optimize, stats

from bayes_xmass.datasets.loader import load_dataset
from bayes_xmass.infer.frequentist import ProfileLikelihood
from bayes_xmass.model.build import build_model
from bayes_xmass.model.likelihood import profiled_gamma, spline_templates
from bayes_xmass.model.poi_prior import PoiPrior
from bayes_xmass.model.poi_transform import forward_numpy, poi_reference
from bayes_xmass.response.templates import build_templates

EDGES = np.linspace(2.0, 12.0, 11)


@pytest.fixture(scope="module")
def toy_templates(tmp_path_factory):
    folder = tmp_path_factory.mktemp("toy")
    e = np.linspace(0.0, 20.0, 41)
    write_toy_dataset(
        folder,
        EDGES,
        [30, 25, 22, 20, 18, 15, 14, 12, 12, 10],
        [
            ("flat", e, np.full(e.size, 2e-3), '{ kind = "normal", mu = 1.0, sigma = 0.1 }', np.full(e.size, 1e-4)),
            ("falling", e, 3e-3 * np.exp(-e / 5.0), '{ kind = "lognormal", mu = 1.0, sigma = 0.3 }', None),
        ],
        exposure_kg_day=1000.0,
        energy_scale_sigma=0.05,
    )
    ds = load_dataset(folder)
    return build_templates(ds, "magnetic_moment", coupling_scale=1e-10)


def test_spline_templates_match_numpy(toy_templates):
    tpl = toy_templates
    s = pt.dscalar("s")
    f = (spline_templates(pt.as_tensor(tpl.signal.coefficients), pt.as_tensor(tpl.scale_grid), s)).eval
    for value in (0.81, 0.95, 1.0, 1.0337, 1.19):
        np.testing.assert_allclose(f({s: value}), tpl.signal(value), rtol=1e-12)


def test_spline_templates_are_constant_beyond_the_grid(toy_templates):
    """Beyond the energy-scale grid the templates are the edge ones, in PyTensor and numpy alike: no
    cubic extrapolation (it made a spurious posterior mode at energy scale -0.3 in SBC replicas)."""
    tpl = toy_templates
    s = pt.dscalar("s")
    f = (spline_templates(pt.as_tensor(tpl.signal.coefficients), pt.as_tensor(tpl.scale_grid), s)).eval
    lo, hi = tpl.scale_grid[0], tpl.scale_grid[-1]
    for beyond, edge in ((lo - 0.05, lo), (-0.3, lo), (hi + 0.2, hi)):
        np.testing.assert_allclose(f({s: beyond}), tpl.signal.values[0 if edge == lo else -1], rtol=1e-12)
        np.testing.assert_allclose(tpl.signal(beyond), tpl.signal(edge), rtol=1e-12)
    # the spline near the edge is still the spline (not the clip)
    assert not np.allclose(f({s: lo + 0.01}), f({s: lo}))


def test_model_logp_equals_independent_numpy(toy_templates):
    """PyMC model logp (no Jacobian) == numpy Poisson + Normal(gamma) + prior logpdfs, at random points."""
    tpl = toy_templates
    model = build_model(tpl, PoiPrior("flat", upper=50.0))
    logp = model.compile_logp(jacobian=False, mode="FAST_COMPILE")  # a graph check: compile fast
    rng = np.random.default_rng(3)
    # v = K u ~ U(0, K) is sampled (poi_transform.py): K = 10 / u_ref, u_ref = x_ref / upper for a flat prior
    size = float(np.clip(10.0 / (poi_reference(tpl) / 50.0), 10.0, 1e6))
    delta = np.sqrt(np.sum(tpl.background_errors**2, axis=0)) / tpl.backgrounds(1.0).sum(axis=0)
    for _ in range(5):
        x, n_flat, n_fall, s = 3 * rng.random(), 0.8 + 0.4 * rng.random(), 0.5 + rng.random(), 0.9 + 0.2 * rng.random()
        z = rng.normal(size=tpl.n_bins)
        gamma = 1 + delta * z
        mu = gamma * (n_flat * tpl.backgrounds(s)[0] + n_fall * tpl.backgrounds(s)[1]) + x**2 * tpl.signal(s)[0]
        expected = (
            stats.poisson.logpmf(tpl.observed, mu).sum()
            + stats.norm.logpdf(z).sum()
            + tpl.background_priors[0].logpdf(n_flat)
            + tpl.background_priors[1].logpdf(n_fall)
            + tpl.scale_prior.logpdf(s)
            + stats.uniform.logpdf(size * x / 50.0, 0, size)
        )  # x = 50 v / K
        point = {
            "poi_quantile_scaled_softinterval__": forward_numpy(size * x / 50.0, size),
            "norm_flat": n_flat,
            "norm_falling_log__": np.log(n_fall),
            "energy_scale": s,
            "gamma_z": z,
        }
        assert float(logp(point)) == pytest.approx(float(expected), rel=1e-9)


def test_frequentist_objective_is_the_same_likelihood(toy_templates):
    """-2 log L of the frequentist fit == the Bayesian model's likelihood with gamma at its profiled value."""
    tpl = toy_templates
    pl = ProfileLikelihood(tpl)
    rng = np.random.default_rng(5)
    for _ in range(3):
        x = 2 * rng.random()
        nuis = pl.start + 0.1 * rng.normal(size=pl.start.size)
        point = pl._point(x, nuis)
        mu, gamma = pl.deterministics(x, nuis, ("expected", "gamma"))
        delta = np.asarray(pl.model["template_rel_error"].get_value())
        n_flat, n_fall, s = point["norm_flat"], np.exp(point["norm_falling_log__"]), point["energy_scale"]
        manual = -2 * (
            stats.poisson.logpmf(tpl.observed, mu).sum()
            - 0.5 * np.sum(((gamma - 1) / delta) ** 2)
            + tpl.background_priors[0].logpdf(n_flat)
            + tpl.background_priors[1].logpdf(n_fall)
            + tpl.scale_prior.logpdf(s)
        )
        assert pl.nll2(x, nuis) == pytest.approx(float(manual), rel=1e-10)


@settings(max_examples=40, deadline=None)
@given(k=st.integers(0, 500), b=st.floats(0.5, 400.0), s=st.floats(0.0, 100.0), d=st.floats(0.01, 0.5))
def test_profiled_gamma_is_the_conditional_maximum(k, b, s, d):
    g = float(profiled_gamma(pt.as_tensor(float(k)), pt.as_tensor(b), pt.as_tensor(s), pt.as_tensor(d)).eval())

    def neg(gam):
        mu = max(gam * b + s, 1e-300)
        return -(k * np.log(mu) - mu - 0.5 * ((gam - 1) / d) ** 2)

    res = optimize.minimize_scalar(neg, bounds=(1e-6, 1 + 20 * d), method="bounded", options={"xatol": 1e-10})
    assert neg(g) <= neg(res.x) + 1e-7 * max(1.0, abs(neg(res.x)))


def test_expected_counts_monotone_in_coupling(toy_templates):
    tpl = toy_templates
    pl = ProfileLikelihood(tpl)
    values = [pl.expected(x, pl.start).sum() for x in (0.0, 0.5, 1.0, 2.0)]
    assert np.all(np.diff(values) > 0)
