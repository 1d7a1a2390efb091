"""Nuisance prior parameters as model data: one compiled model serves widened/narrowed priors.

The prior-sensitivity study refits the benchmark with every nuisance prior x2 / x0.5 wide
(:func:`bayes_xmass.validation.sensitivity.scale_nuisance_priors`). Centres and widths are the pm.Data vector
``nuisance_prior_parameters`` (labels ``prior_<variable>_<parameter>``), so those
template sets share the structure key and the compiled model of the baseline, and swapping
:func:`bayes_xmass.model.data.model_data` reproduces the model built from the scaled priors exactly.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from conftest import REPO_ROOT

from bayes_xmass.datasets.loader import load_dataset
from bayes_xmass.datasets.priors import make_prior
from bayes_xmass.infer.posterior_sampler import PosteriorSampler
from bayes_xmass.model.build import build_model
from bayes_xmass.model.data import data_of_model, model_data, nuisance_prior_labels, structure_key
from bayes_xmass.model.poi_prior import PoiPrior
from bayes_xmass.model.spec import SamplerSettings
from bayes_xmass.model.targets import FitTarget
from bayes_xmass.validation.sensitivity import scale_nuisance_priors

MM = FitTarget("magnetic_moment")
SAMPLER = SamplerSettings("nutpie", chains=2, draws=300, tune=300, target_accept=0.9)
FACTORS = (2.0, 0.5)
FAST = "FAST_COMPILE"  # logp comparisons of graphs: PyTensor's Python linker compiles in 0.2 s, not ~8 s


@pytest.fixture(scope="module")
def benchmark_mm():
    from bayes_xmass.model.spec import model_spec_for
    from bayes_xmass.model.targets import target_templates

    spec = model_spec_for("magnetic-moment")
    return spec, target_templates(spec, load_dataset(REPO_ROOT / "data" / "xmass_i"), MM)


# -- priors: data parameters and structure ---------------------------------------------------------
PRIORS = [
    (make_prior("normal", mu=1.0, sigma=0.1), make_prior("normal", mu=0.9, sigma=0.3), 1.05),
    (make_prior("truncated_normal", mu=1.0, sigma=0.5), make_prior("truncated_normal", mu=1.2, sigma=1.0), 0.4),
    (make_prior("lognormal", mu=1.0, sigma=0.3), make_prior("lognormal", mu=2.0, sigma=0.6), 1.7),
    (make_prior("uniform", lower=0.5, upper=1.5), make_prior("uniform", lower=0.2, upper=1.8), 1.1),
    (make_prior("halfnormal", sigma=1.0), make_prior("halfnormal", sigma=0.2), 0.3),
]


@pytest.mark.parametrize("prior, other, x", PRIORS, ids=[p.kind for p, _, _ in PRIORS])
def test_prior_parameters_as_data_follow_swaps(prior, other, x):
    """A variable built with pm.Data parameters has, after swapping in another prior's values, the log
    density of that prior built with constants (same family and bounds: same structure)."""
    import pymc as pm

    assert prior.structure() == other.structure()
    with pm.Model() as model:
        params = {k: pm.Data(f"prior_theta_{k}", np.asarray(v)) for k, v in prior.data_values().items()}
        rv = prior.to_pymc("theta", params=params)
    with pm.Model():
        direct = other.to_pymc("theta")
    pm.set_data({f"prior_theta_{k}": v for k, v in other.data_values().items()}, model=model)
    got = float(pm.logp(rv, x).eval())
    assert got == pytest.approx(float(pm.logp(direct, x).eval()), rel=1e-12)
    # PyMC evaluates the truncated-normal normalisation to ~1e-8 relative precision (test_priors.py)
    assert got == pytest.approx(float(other.logpdf(x)), rel=1e-6)


def test_prior_structure_keeps_family_bounds_and_fixed_values():
    normal = make_prior("normal", mu=1.0, sigma=0.1)
    assert normal.structure() == make_prior("normal", mu=3.0, sigma=2.0).structure()
    assert normal.structure() != make_prior("normal", mu=1.0, sigma=0.0).structure()  # fixed vs free
    assert normal.structure() != make_prior("lognormal", mu=1.0, sigma=0.1).structure()
    assert (
        make_prior("truncated_normal", mu=1.0, sigma=0.5).structure()
        != make_prior("truncated_normal", mu=1.0, sigma=0.5, lower=0.5).structure()
    )
    assert make_prior("fixed", value=1.0).structure() != make_prior("fixed", value=1.1).structure()
    assert make_prior("fixed", value=1.0).data_values() == {}


# -- the benchmark model ---------------------------------------------------------------------------
def test_structure_key_ignores_nuisance_prior_widths(benchmark_mm):
    spec, tpl = benchmark_mm
    key = structure_key(tpl, spec.poi_prior, spec.likelihood)
    for f in FACTORS:
        scaled = scale_nuisance_priors(tpl, f)
        assert structure_key(scaled, spec.poi_prior, spec.likelihood) == key
        assert structure_key(scaled, PoiPrior("improper"), spec.likelihood) == structure_key(
            tpl, PoiPrior("improper"), spec.likelihood
        )
    # another family, or a parameter fixed instead of free, is another model
    lognormal_scale = dataclasses.replace(tpl, scale_prior=make_prior("lognormal", mu=1.0, sigma=0.15))
    fixed_scale = dataclasses.replace(tpl, scale_prior=make_prior("fixed", value=1.0))
    assert structure_key(lognormal_scale, spec.poi_prior, spec.likelihood) != key
    assert structure_key(fixed_scale, spec.poi_prior, spec.likelihood) != key


def test_model_data_holds_the_prior_parameters(benchmark_mm):
    spec, tpl = benchmark_mm
    labels = nuisance_prior_labels(tpl)
    data = model_data(scale_nuisance_priors(tpl, 2.0), 1, spec.likelihood)
    values = dict(zip(labels, data["nuisance_prior_parameters"]))
    assert values["prior_energy_scale_sigma"] == pytest.approx(2.0 * tpl.scale_prior.params["sigma"])
    assert values["prior_energy_scale_mu"] == tpl.scale_prior.params["mu"]
    free = [f"norm_{n}" for n, p in zip(tpl.background_names, tpl.background_priors) if not p.is_fixed]
    assert {f"prior_{v}_sigma" for v in free} <= set(labels)
    model = build_model(tpl, spec.poi_prior, likelihood=spec.likelihood)
    assert set(data) <= set(model.named_vars)  # every swapped value is a pm.Data of the model
    assert list(model.coords["nuisance_prior_parameter"]) == labels


def _test_points(model, n, seed):
    """The initial point and ``n`` random points around it (transformed space)."""
    rng = np.random.default_rng(seed)
    ip = model.initial_point()
    points = [ip]
    for _ in range(n):
        points.append({k: v + rng.normal(0.0, 0.3, np.shape(v)) for k, v in ip.items()})
    return points


@pytest.mark.parametrize("gammas", ["marginalise", "profile"])
def test_swapped_prior_data_equals_the_scaled_model(benchmark_mm, gammas):
    """logp (with and without Jacobian) of the baseline model with the scaled templates' data swapped
    in equals that of the model built from the scaled templates, at several points."""
    import pymc as pm

    spec, tpl = benchmark_mm
    poi = spec.poi_prior if gammas == "marginalise" else PoiPrior("improper")
    shared = build_model(tpl, poi, likelihood=spec.likelihood, gammas=gammas)
    fns = [shared.compile_logp(jacobian=j, mode=FAST) for j in (True, False)]
    points = _test_points(shared, 4, 1)
    baseline_values = [float(fn(p)) for fn in fns for p in points]
    for f in FACTORS:
        scaled = scale_nuisance_priors(tpl, f)
        fresh = build_model(scaled, poi, likelihood=spec.likelihood, gammas=gammas)
        pm.set_data(data_of_model(shared, model_data(scaled, 1, spec.likelihood)), model=shared)
        swapped = [float(fn(p)) for fn in fns for p in points]
        refs = [float(fresh.compile_logp(jacobian=j, mode=FAST)(p)) for j in (True, False) for p in points]
        assert swapped == pytest.approx(refs, rel=1e-12)
        assert not np.allclose(swapped, baseline_values, rtol=1e-6)  # the swap did change the priors
    pm.set_data(data_of_model(shared, model_data(tpl, 1, spec.likelihood)), model=shared)
    assert [float(fn(p)) for fn in fns for p in points] == pytest.approx(baseline_values, rel=1e-12)


def test_profile_likelihood_load_swaps_the_priors(benchmark_mm):
    """The frequentist likelihood (same graph, gammas profiled) follows the priors through ``load``."""
    from bayes_xmass.infer.frequentist import ProfileLikelihood

    spec, tpl = benchmark_mm
    scaled = scale_nuisance_priors(tpl, 2.0)
    shared = ProfileLikelihood(tpl, likelihood=spec.likelihood).load(scaled)
    fresh = ProfileLikelihood(scaled, likelihood=spec.likelihood)
    rng = np.random.default_rng(3)
    for x in (0.0, 0.5, 1.5):
        nuis = fresh.start + rng.normal(0.0, 0.2, fresh.start.size)
        assert shared.nll2(x, nuis) == pytest.approx(fresh.nll2(x, nuis), rel=1e-12)


def test_shared_compiled_sampler_equals_a_fresh_compile(benchmark_mm):
    """NUTS on the baseline's compiled model with the x2 priors swapped in gives the draws of a model
    compiled from the x2 templates (same seed), and prior draws follow the swapped widths."""
    spec, tpl = benchmark_mm
    scaled = scale_nuisance_priors(tpl, 2.0)
    data = model_data(scaled, 1, spec.likelihood)
    shared = PosteriorSampler(tpl, spec.poi_prior, spec.likelihood)
    assert shared.compatible(scaled)
    got = shared.draw_posterior(data, SAMPLER, seed=5)["posterior"]
    want = PosteriorSampler(scaled, spec.poi_prior, spec.likelihood).draw_posterior(data, SAMPLER, seed=5)["posterior"]
    for name in ("x", "energy_scale", "norm"):
        np.testing.assert_allclose(got[name].values, want[name].values, rtol=1e-9)

    # same seed, so the same standard-normal deviates: the x2 prior's draws are exactly twice as far out
    mu = tpl.scale_prior.params["mu"]
    shared._set_data(data)
    wide = shared.prior_draws(500, seed=7)["prior"]["energy_scale"].values.ravel()
    shared._set_data(model_data(tpl, 1, spec.likelihood))
    nominal = shared.prior_draws(500, seed=7)["prior"]["energy_scale"].values.ravel()
    np.testing.assert_allclose(wide - mu, 2.0 * (nominal - mu), rtol=1e-9, atol=1e-12)
    assert np.std(nominal) == pytest.approx(tpl.scale_prior.params["sigma"], rel=0.1)


# -- the POI prior as data -------------------------------------------------------------------------
QUANTILE_PRIORS = [
    PoiPrior("flat", 20.0),
    PoiPrior("flat_power", 20.0, 2.0),
    PoiPrior("flat_power", 7.0, 4.0),
    PoiPrior("log_uniform", 20.0, floor=0.02),
]


def _poi_density(prior: PoiPrior, x: np.ndarray) -> np.ndarray:
    """The prior density of x, written out by hand."""
    if prior.kind == "log_uniform":
        return 1.0 / (x * np.log(prior.upper / prior.floor))
    p = prior.power if prior.kind == "flat_power" else 1.0
    return p * x ** (p - 1.0) / prior.upper**p


def test_flat_power_and_log_uniform_priors_share_one_structure(benchmark_mm):
    spec, tpl = benchmark_mm
    keys = {structure_key(tpl, p, spec.likelihood) for p in QUANTILE_PRIORS}
    assert len(keys) == 1
    assert structure_key(tpl, PoiPrior("jeffreys", 20.0), spec.likelihood) not in keys
    assert structure_key(tpl, PoiPrior("jeffreys", 20.0), spec.likelihood) != structure_key(
        tpl, PoiPrior("jeffreys", 10.0), spec.likelihood
    )  # its bound is in the graph


@pytest.mark.parametrize("prior", QUANTILE_PRIORS, ids=lambda p: f"{p.kind}{p.power:g}")
def test_swapped_poi_prior_gives_the_prior_density(benchmark_mm, prior):
    """After swapping in a prior's parameters, x = F^-1(u) with u ~ U(0, 1) has that prior's density:
    the change of variables |du/dx| equals the hand-written density, and the swapped model's logp
    equals that of a model built with the prior."""
    import pymc as pm
    import pytensor

    spec, tpl = benchmark_mm
    shared = build_model(tpl, PoiPrior("flat_power", 3.0, 1.5), likelihood=spec.likelihood)
    pm.set_data(model_data(tpl, 1, spec.likelihood, prior), model=shared)
    u = shared["poi_quantile"]
    x_of_u = pytensor.function([u], shared["x"])
    us = np.array([0.01, 0.2, 0.5, 0.9, 0.999])
    xs = np.array([float(x_of_u(v)) for v in us])
    h = 1e-6
    dudx = np.array([h / (float(x_of_u(v + h / 2)) - float(x_of_u(v - h / 2))) for v in us])
    np.testing.assert_allclose(dudx, _poi_density(prior, xs), rtol=1e-5)
    assert xs.min() >= (prior.floor if prior.kind == "log_uniform" else 0.0) and xs.max() <= prior.upper
    fresh = build_model(tpl, prior, likelihood=spec.likelihood)
    shared_logp, fresh_logp = shared.compile_logp(mode=FAST), fresh.compile_logp(mode=FAST)
    for point in _test_points(fresh, 3, 2):
        assert float(shared_logp(point)) == pytest.approx(float(fresh_logp(point)), rel=1e-12)


def test_one_compiled_sampler_serves_every_quantile_poi_prior(benchmark_mm):
    """for_prior views share the compiled model; their draws equal a fresh compile's for the same seed,
    and a Jeffreys prior (its own graph) is refused."""
    spec, tpl = benchmark_mm
    base = PosteriorSampler(tpl, spec.poi_prior, spec.likelihood)
    other = PoiPrior("log_uniform", spec.poi_prior.upper, floor=1e-3 * spec.poi_prior.upper)
    view = base.for_prior(other)
    assert view.compiled is base.compiled and view.poi_prior == other and base.poi_prior == spec.poi_prior
    data = model_data(tpl, 1, spec.likelihood)
    got = view.draw_posterior(data, SAMPLER, seed=9)["posterior"]["x"].values
    want = PosteriorSampler(tpl, other, spec.likelihood).draw_posterior(data, SAMPLER, seed=9)["posterior"]["x"].values
    np.testing.assert_allclose(got, want, rtol=1e-9)
    # the toys' fast path (POI draws straight from nutpie's tables) is the same run, draw for draw
    np.testing.assert_array_equal(view.poi_draws(data, SAMPLER, seed=9), got)
    # the base sampler still samples its own prior after the view ran
    again = base.draw_posterior(data, SAMPLER, seed=9)["posterior"]["x"].values
    assert not np.allclose(again, got)
    with pytest.raises(ValueError, match="own compiled model"):
        base.for_prior(PoiPrior("jeffreys", spec.poi_prior.upper))


def test_posterior_only_is_sample_posteriors_run(benchmark_mm):
    """The prior-sensitivity refits' lean path: same compiled model (from the cache), same draws and
    the same credible limit as the full DataTree of sample_posterior for the same seed."""
    from bayes_xmass.infer.posterior_sampler import posterior_only, sample_posterior
    from bayes_xmass.infer.posterior_summary import credible_limit

    spec, tpl = benchmark_mm
    wide = scale_nuisance_priors(tpl, 2.0)
    cache: dict = {}
    full, ps = sample_posterior(
        wide, MM, poi_prior=spec.poi_prior, sampler=SAMPLER, likelihood=spec.likelihood, seed=21, cache=cache
    )
    lean = posterior_only(
        wide, MM, poi_prior=spec.poi_prior, sampler=SAMPLER, likelihood=spec.likelihood, seed=21, cache=cache
    )
    assert len(cache) == 1 and set(lean.children) == {"posterior", "sample_stats"}
    np.testing.assert_array_equal(lean.posterior["x"].values, full.posterior["x"].values)
    for key in ("limit", "mcse", "limit_scaled"):
        assert credible_limit(lean, 0.9)[key] == pytest.approx(credible_limit(full, 0.9)[key], rel=1e-12)


def test_poi_draws_counts_the_runs_divergences(benchmark_mm):
    """The toys' divergence count (nutpie's tables, tuning rows dropped) is sample_stats' count of the
    same run; a run with almost no tuning from the prior-scaled starts is made to diverge so that the
    count is not trivially 0 (from the dominant mode's starts it does not diverge even so)."""
    spec, tpl = benchmark_mm
    ps = PosteriorSampler(tpl, spec.poi_prior, spec.likelihood, chain_starts="prior")
    data = model_data(tpl, 1, spec.likelihood)
    rough = SamplerSettings("nutpie", chains=2, draws=150, tune=3, target_accept=0.6)
    counts = []
    for seed in (1, 2, 3):
        draws, n_div = ps.poi_draws(data, rough, seed=seed, with_divergences=True)
        full = ps.draw_posterior(data, rough, seed=seed)
        np.testing.assert_array_equal(draws, full.posterior["x"].values)
        assert n_div == int(full.sample_stats["diverging"].sum())
        counts.append(n_div)
    assert max(counts) > 0, counts
