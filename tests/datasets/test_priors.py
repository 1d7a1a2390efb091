"""Tests for bayes_xmass.datasets.priors (and prior_kinds): densities vs scipy.stats, sampling moments, PyMC mapping, parsing."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, stats

from bayes_xmass.datasets.prior_kind_base import PriorKind
from bayes_xmass.datasets.priors import (
    PRIOR_KINDS,
    Prior,
    logpdf,
    make_prior,
    parse_prior,
    penalty,
    prior_mean,
    prior_std,
    register_prior_kind,
    sample,
    support,
    to_pymc,
)
from bayes_xmass.errors import InputError

SRC = "model.toml"

# (prior, frozen scipy distribution) pairs; lognormal: mu is the median -> scale = mu.
CASES = {
    "normal": (make_prior("normal", mu=1.0, sigma=0.05), stats.norm(1.0, 0.05)),
    "truncated_normal": (
        make_prior("truncated_normal", mu=0.2, sigma=0.5),
        stats.truncnorm((0.0 - 0.2) / 0.5, np.inf, loc=0.2, scale=0.5),
    ),
    "truncated_normal_2sided": (
        make_prior("truncated_normal", mu=1.0, sigma=0.3, lower=0.5, upper=2.0),
        stats.truncnorm((0.5 - 1.0) / 0.3, (2.0 - 1.0) / 0.3, loc=1.0, scale=0.3),
    ),
    "lognormal": (make_prior("lognormal", mu=2.0, sigma=0.3), stats.lognorm(s=0.3, scale=2.0)),
    "uniform": (make_prior("uniform", lower=-1.0, upper=3.0), stats.uniform(-1.0, 4.0)),
    "halfnormal": (make_prior("halfnormal", sigma=2.0), stats.halfnorm(scale=2.0)),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_logpdf_matches_scipy(case):
    prior, dist = CASES[case]
    lo, hi = dist.ppf(1e-4), dist.ppf(1 - 1e-4)
    x = np.linspace(lo, hi, 57)
    np.testing.assert_allclose(logpdf(prior, x), dist.logpdf(x), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(prior.logpdf(x), dist.logpdf(x), rtol=1e-10, atol=1e-10)
    # vectorised over any shape, penalty = -2 logpdf
    assert prior.logpdf(x.reshape(3, 19)).shape == (3, 19)
    np.testing.assert_allclose(penalty(prior, x), -2 * dist.logpdf(x), rtol=1e-10)


@pytest.mark.parametrize("case", sorted(CASES))
def test_outside_support_is_minus_inf_and_density_normalised(case):
    prior, dist = CASES[case]
    lo, hi = support(prior)
    assert (lo, hi) == prior.support()
    if math.isfinite(lo):
        assert prior.logpdf(lo - 1e-6) == -np.inf
    if math.isfinite(hi):
        assert prior.logpdf(hi + 1e-6) == -np.inf
    a, b = dist.ppf(0.0), dist.ppf(1.0)
    total, _ = integrate.quad(lambda t: math.exp(float(prior.logpdf(t))), max(a, lo), min(b, hi), limit=200)
    assert total == pytest.approx(1.0, abs=1e-7)


@pytest.mark.parametrize("case", sorted(CASES))
def test_mean_std_helpers_match_scipy(case):
    prior, dist = CASES[case]
    assert prior_mean(prior) == pytest.approx(dist.mean(), rel=1e-9)
    assert prior_std(prior) == pytest.approx(dist.std(), rel=1e-9)
    assert prior.mean() == prior_mean(prior) and prior.std() == prior_std(prior)


@pytest.mark.parametrize("case", sorted(CASES))
def test_sampling_moments(case):
    """200k draws, seed 12345: sample mean within 0.01 sd and sample sd within 1.5% of exact."""
    prior, dist = CASES[case]
    rng = np.random.default_rng(12345)
    x = sample(prior, rng, 200_000)
    assert x.shape == (200_000,)
    lo, hi = prior.support()
    assert np.all((x >= lo) & (x <= hi))
    assert abs(x.mean() - dist.mean()) < 0.01 * dist.std()
    assert x.std() == pytest.approx(dist.std(), rel=0.015)
    # same seed -> same draws
    np.testing.assert_array_equal(prior.sample(np.random.default_rng(12345), 10), x[:10])


def test_fixed_and_zero_width_normal_are_deltas():
    for p in (make_prior("fixed", value=1.0), make_prior("normal", mu=1.0, sigma=0.0)):
        assert p.is_fixed and p.fixed_value() == 1.0
        np.testing.assert_array_equal(p.logpdf([1.0, 1.1, 0.0]), [0.0, -np.inf, -np.inf])
        np.testing.assert_array_equal(p.sample(np.random.default_rng(0), 4), np.ones(4))
        assert p.support() == (1.0, 1.0)
        assert p.mean() == 1.0 and p.std() == 0.0
    assert not make_prior("normal", mu=1.0, sigma=0.1).is_fixed


def test_parse_fills_defaults_and_round_trips():
    p = parse_prior({"kind": "truncated_normal", "mu": 1, "sigma": 0.5}, SRC, "x.prior")
    assert p == Prior("truncated_normal", {"mu": 1.0, "sigma": 0.5, "lower": 0.0, "upper": math.inf})
    assert parse_prior(p.to_dict(), SRC, "x.prior") == p
    assert hash(p) == hash(parse_prior(p.to_dict(), SRC, "x.prior"))
    # explicit infinite bounds are allowed for truncated_normal
    q = parse_prior({"kind": "truncated_normal", "mu": 0, "sigma": 1, "lower": -math.inf, "upper": 1.0}, SRC, "p")
    assert q.support() == (-math.inf, 1.0)


# --- PyMC -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "case", ["normal", "truncated_normal", "truncated_normal_2sided", "lognormal", "uniform", "halfnormal"]
)
def test_to_pymc_logp_equals_logpdf(case):
    pm = pytest.importorskip("pymc")
    prior, dist = CASES[case]
    x = float(dist.ppf(0.3))
    with pm.Model() as model:
        rv = to_pymc(prior, "theta")
    assert model["theta"] is rv
    # PyMC evaluates the truncated-normal normalisation to ~1e-8 relative precision
    assert float(pm.logp(rv, x).eval()) == pytest.approx(float(prior.logpdf(x)), rel=1e-6, abs=1e-9)


def test_to_pymc_fixed_is_constant_with_requested_shape():
    pm = pytest.importorskip("pymc")
    with pm.Model(coords={"background": ["a", "b", "c"]}) as model:
        c = make_prior("fixed", value=1.02).to_pymc("s")
        d = make_prior("normal", mu=0.9, sigma=0.0).to_pymc("t", dims="background")
    assert "s" not in model.named_vars and "t" not in model.named_vars
    assert float(c.eval()) == pytest.approx(1.02)
    np.testing.assert_allclose(d.eval(), [0.9, 0.9, 0.9])


def test_to_pymc_passes_keywords():
    pm = pytest.importorskip("pymc")
    with pm.Model(coords={"background": ["a", "b"]}) as model:
        make_prior("normal", mu=1.0, sigma=0.1).to_pymc("n", dims="background")
    assert model.named_vars_to_dims["n"] == ("background",)


# --- registry ---------------------------------------------------------------------------------
def test_registry_has_the_documented_kinds():
    assert {"normal", "truncated_normal", "lognormal", "uniform", "halfnormal", "fixed"} <= set(PRIOR_KINDS)


def test_register_new_kind():
    class Exponential(PriorKind):
        required = ("rate",)

        def validate(self, params):
            return None if params["rate"] > 0 else ("rate", "must be > 0")

        def logpdf(self, prior, x):
            x = np.asarray(x, float)
            r = prior.params["rate"]
            return np.where(x >= 0, math.log(r) - r * x, -np.inf)

    register_prior_kind("test_exponential", Exponential())
    try:
        p = parse_prior({"kind": "test_exponential", "rate": 2.0}, SRC, "p")
        assert float(p.logpdf(0.5)) == pytest.approx(stats.expon(scale=0.5).logpdf(0.5))
        with pytest.raises(InputError, match="p.rate: must be > 0"):
            parse_prior({"kind": "test_exponential", "rate": -1.0}, SRC, "p")
        with pytest.raises(ValueError, match="already registered"):
            register_prior_kind("test_exponential", Exponential())
    finally:
        PRIOR_KINDS.pop("test_exponential", None)


# --- validation -----------------------------------------------------------------------------
BAD = [
    ("unknown kind", {"kind": "gauss", "mu": 1, "sigma": 1}, "bkg.prior.kind", "allowed kinds: fixed, halfnormal"),
    ("missing kind", {"mu": 1, "sigma": 1}, "bkg.prior.kind", "missing"),
    ("kind not str", {"kind": 3}, "bkg.prior.kind", "must be a string"),
    ("missing param", {"kind": "normal", "mu": 1}, "bkg.prior.sigma", "missing required parameter"),
    ("unknown param", {"kind": "normal", "mu": 1, "sigma": 1, "width": 2}, "bkg.prior.width", "unknown parameter"),
    ("nan param", {"kind": "normal", "mu": math.nan, "sigma": 1}, "bkg.prior.mu", "finite"),
    ("inf param", {"kind": "normal", "mu": 1, "sigma": math.inf}, "bkg.prior.sigma", "finite"),
    ("string param", {"kind": "normal", "mu": "1", "sigma": 1}, "bkg.prior.mu", "must be a number"),
    ("bool param", {"kind": "normal", "mu": True, "sigma": 1}, "bkg.prior.mu", "must be a number"),
    ("negative sigma", {"kind": "normal", "mu": 1, "sigma": -0.1}, "bkg.prior.sigma", "negative width"),
    ("neg trunc sigma", {"kind": "truncated_normal", "mu": 1, "sigma": -1}, "bkg.prior.sigma", "negative width"),
    ("zero trunc sigma", {"kind": "truncated_normal", "mu": 1, "sigma": 0}, "bkg.prior.sigma", "> 0"),
    ("neg halfnormal", {"kind": "halfnormal", "sigma": -2}, "bkg.prior.sigma", "negative width"),
    ("neg lognormal", {"kind": "lognormal", "mu": 1, "sigma": -2}, "bkg.prior.sigma", "negative width"),
    ("lognormal median", {"kind": "lognormal", "mu": 0.0, "sigma": 0.2}, "bkg.prior.mu", "median"),
    ("uniform order", {"kind": "uniform", "lower": 2, "upper": 1}, "bkg.prior.lower", "must be < upper"),
    ("uniform equal", {"kind": "uniform", "lower": 1, "upper": 1}, "bkg.prior.lower", "must be < upper"),
    ("uniform inf", {"kind": "uniform", "lower": 0, "upper": math.inf}, "bkg.prior.upper", "finite"),
    (
        "trunc order",
        {"kind": "truncated_normal", "mu": 1, "sigma": 1, "lower": 3, "upper": 2},
        "bkg.prior.lower",
        "must be < upper",
    ),
    (
        "trunc no mass",
        {"kind": "truncated_normal", "mu": -100, "sigma": 1e-3, "lower": 0},
        "bkg.prior.mu",
        "negligible",
    ),
    ("not a table", 1.0, "bkg.prior", "inline table"),
]


@pytest.mark.parametrize("label,table,field,text", BAD, ids=[b[0] for b in BAD])
def test_parse_errors(label, table, field, text):
    with pytest.raises(InputError) as info:
        parse_prior(table, SRC, "bkg.prior")
    msg = str(info.value)
    assert "\n" not in msg
    assert msg.startswith(f"{SRC}: {field}: ")
    assert text in msg


def test_zero_sigma_normal_allowed():
    p = parse_prior({"kind": "normal", "mu": 1.0, "sigma": 0.0}, SRC, "response.energy_scale.prior")
    assert p.is_fixed and p.fixed_value() == 1.0
