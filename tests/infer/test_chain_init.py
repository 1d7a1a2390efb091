"""Starting points of the NUTS chains (bayes_xmass.infer.chain_init): on the priors' scale, in nutpie's
layout, the same points for the PyMC sampler, and the stuck-chain fit they fixed."""

import warnings

import numpy as np
import pytest

from bayes_xmass.infer.chain_init import (
    POI_START_FRACTION,
    PRIOR_SHRINK,
    initial_point_function,
    pymc_initvals,
    with_prior_scaled_starts,
)
from bayes_xmass.model.poi_transform import SoftInterval


def _toy_model():
    import pymc as pm

    with pm.Model(coords={"bin": range(3)}) as m:
        pm.Normal("energy_scale", 1.0, 0.15)
        pm.LogNormal("norm", np.log(2.0), 0.1)
        pm.TruncatedNormal("norm_t", 1.0, 0.2, lower=0.0)
        pm.Normal("gamma_z", 0.0, 1.0, dims="bin")
        pm.Uniform("u", 0.0, 1.0, initval=0.25)
        pm.Uniform("poi_quantile_scaled", 0.0, 40.0, default_transform=None, transform=SoftInterval())
    return m


def test_starts_follow_the_prior_scale_not_a_unit_jitter():
    m = _toy_model()
    fn = initial_point_function(m)
    starts = [fn(seed) for seed in range(3000)]
    scale = np.array([s["energy_scale"] for s in starts])
    log_norm = np.array([s["norm_log__"] for s in starts])
    gz = np.array([s["gamma_z"] for s in starts])
    # centre + 0.5 (prior draw - centre): mean = prior centre, sd = 0.5 prior sd (3000 draws: sd of the
    # sample sd ~1.3%, tolerance 5%)
    assert scale.mean() == pytest.approx(1.0, abs=4 * 0.075 / np.sqrt(3000))
    assert scale.std() == pytest.approx(PRIOR_SHRINK * 0.15, rel=0.05)
    assert log_norm.std() == pytest.approx(PRIOR_SHRINK * 0.1, rel=0.05)
    assert gz.shape == (3000, 3) and gz.std() == pytest.approx(PRIOR_SHRINK, rel=0.05)
    # a fixed initval is kept
    assert all(float(s["u_interval__"]) == pytest.approx(np.log(0.25 / 0.75)) for s in starts[:10])
    # PyMC's default jitter, for contrast: U(-1, 1) on the energy scale, sd 0.58 = 7.7 x ours
    from pymc.initial_point import make_initial_point_fn

    default = make_initial_point_fn(model=m, jitter_rvs=set(m.free_RVs), return_transformed=True)
    assert np.std([default(s)["energy_scale"] for s in range(500)]) > 0.5
    # the POI starts in the lowest percent of its prior (a small signal), uniformly within
    size = 40.0  # K of v = K u ~ U(0, K)
    soft = [float(s["poi_quantile_scaled_softinterval__"]) for s in starts]
    f = np.array([(np.logaddexp(0, w) - np.logaddexp(0, w - size)) / size for w in soft])
    assert f.min() >= POI_START_FRACTION[0] and f.max() <= POI_START_FRACTION[1]
    assert np.mean(f) == pytest.approx(np.mean(POI_START_FRACTION), rel=0.03)
    assert fn(7)["energy_scale"] == fn(7)["energy_scale"]  # seeded
    assert fn(7)["energy_scale"] != fn(8)["energy_scale"]


def test_nutpie_starts_use_the_same_points_in_its_layout():
    import nutpie

    m = _toy_model()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        compiled = with_prior_scaled_starts(nutpie.compile_pymc_model(m), m)
    point = initial_point_function(m)(11)
    flat = compiled.initial_point_func(11)
    names = [m.rvs_to_values[rv].name for rv in m.free_RVs]
    np.testing.assert_array_equal(flat, np.concatenate([np.ravel(point[n]) for n in names]))
    logp = m.compile_logp()
    for seed in range(20):
        x = compiled.initial_point_func(seed)
        start, cursor = {}, 0
        for n in names:
            size = np.size(point[n])
            start[n] = x[cursor : cursor + size].reshape(np.shape(point[n]))
            cursor += size
        assert np.isfinite(logp(start))
    trace = nutpie.sample(compiled, draws=50, tune=50, chains=2, seed=3, progress_bar=False)
    assert trace.posterior["energy_scale"].shape == (2, 50)


def test_pymc_initvals_are_the_constrained_points():
    m = _toy_model()
    inits = pymc_initvals(m, chains=3, seed=5)
    assert len(inits) == 3
    for init in inits:
        assert set(init) == {"energy_scale", "norm", "norm_t", "gamma_z", "u", "poi_quantile_scaled"}
        assert POI_START_FRACTION[0] <= float(init["poi_quantile_scaled"]) / 40.0 <= POI_START_FRACTION[1]
        assert init["norm"] > 0 and init["norm_t"] > 0 and float(init["u"]) == pytest.approx(0.25)
        assert init["gamma_z"].shape == (3,)
        assert abs(float(init["energy_scale"]) - 1.0) < 5 * 0.075
    assert inits[0]["energy_scale"] != inits[1]["energy_scale"]


@pytest.mark.slow
def test_b_minus_l_1kev_fit_that_had_a_stuck_chain_now_converges():
    """With PyMC's default starts (U(-1, 1) jitter around the prior centres, the POI at its prior's
    middle), seed 29201 (the run's B-L 1e-3 MeV fit) left one chain at energy scale 0.64 (R-hat 1.53,
    2909 divergences)."""
    from bayes_xmass.datasets.loader import DEFAULT_DATASET, load_dataset
    from bayes_xmass.infer.posterior_sampler import sample_posterior
    from bayes_xmass.infer.posterior_summary import credible_limit, diagnostics
    from bayes_xmass.model.spec import model_spec_for
    from bayes_xmass.model.targets import fit_targets, target_templates

    spec = model_spec_for("dark-photon")
    target = [t for t in fit_targets(spec) if t.mass_mev == pytest.approx(1e-3)][0]
    tpl = target_templates(spec, load_dataset(DEFAULT_DATASET), target)
    dt, _ = sample_posterior(
        tpl, target, poi_prior=spec.poi_prior, sampler=spec.sampler, likelihood=spec.likelihood, seed=29201
    )
    diag = diagnostics(dt)
    assert diag.ok, diag.failures
    assert np.all(np.abs(dt.posterior["energy_scale"].mean("draw").values - 0.99) < 0.03)
    assert credible_limit(dt, 0.9)["limit"] == pytest.approx(1.0e-6, rel=0.05)  # run: 9.98e-7
