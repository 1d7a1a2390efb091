"""The statistical model does not depend on the coupling unit (``--scale``): the POI prior's bounds are
in the model file's scale (or the automatic one) and are converted to the templates' unit, so the
physical prior, the credible limit and the frequentist limits are the same in any unit."""

from __future__ import annotations

import dataclasses
import math

import pytest

from bayes_xmass.infer.posterior_sampler import sample_posterior
from bayes_xmass.infer.posterior_summary import credible_limit
from bayes_xmass.infer.toys import shared_profile_likelihood
from bayes_xmass.model.poi_prior import PoiPrior
from bayes_xmass.model.targets import (
    auto_scale,
    fit_targets,
    prior_unit,
    rescale_signal,
    round_scale,
    spec_in_template_unit,
    target_templates,
)
from bayes_xmass.workflows.fit_inputs import FitOptions, load_spec_and_dataset

MU_NU_PRIOR_UPPER = 2e-9  # models/magnetic_moment.toml: upper = 20 in units of scale = 1e-10 mu_B


@pytest.fixture(scope="module")
def mm():
    """The magnetic-moment model (scale 1e-10) on the bundled benchmark: spec, target, templates.
    Templates in another unit are these rescaled (what ``target_templates`` gives for that scale)."""
    spec, dataset = load_spec_and_dataset(FitOptions("magnetic-moment"))
    (target,) = fit_targets(spec)
    return spec, target, target_templates(spec, dataset, target)


def test_poi_prior_rescaled_and_described_in_physical_units():
    prior = PoiPrior("log_uniform", 20.0, floor=0.01)
    assert prior.rescaled(1.0) is prior
    assert prior.rescaled(4.0) == PoiPrior("log_uniform", 80.0, floor=0.04)
    d = prior.rescaled(4.0).describe(2.5e-11)
    assert d["upper_scaled"] == 80.0 and d["upper"] == pytest.approx(2e-9) and d["floor"] == pytest.approx(1e-12)
    with pytest.raises(ValueError):
        prior.rescaled(0.0)


def test_scale_option_keeps_the_prior_unit():
    """--scale replaces the templates' unit only; --prior-upper stays in the model's unit."""
    spec, _ = load_spec_and_dataset(FitOptions("magnetic-moment", scale=1e-12, prior_upper=5.0))
    assert spec.poi_scale == 1e-12 and spec.poi_prior_unit == 1e-10 and spec.poi_prior.upper == 5.0
    assert spec.describe()["poi_prior"]["upper"] == pytest.approx(5e-10, rel=1e-12)


@pytest.mark.parametrize("scale", [None, 1e-10, 1e-12, 3e-11])
def test_physical_prior_bound_ignores_the_scale(mm, scale):
    """mu_nu: the prior ends at 2e-9 mu_B whatever --scale (it ended at 2e-11 with --scale 1e-12)."""
    raw, target, base = mm
    forced = raw if scale is None else raw.with_overrides(poi_scale=scale)
    tpl = rescale_signal(base, scale) if scale not in (None, 1e-10) else base
    spec = spec_in_template_unit(forced, tpl, target.sign)
    assert spec.poi_prior.upper * tpl.coupling_scale == pytest.approx(MU_NU_PRIOR_UPPER, rel=1e-12)
    assert spec.poi_prior.describe(tpl.coupling_scale)["upper"] == pytest.approx(MU_NU_PRIOR_UPPER, rel=1e-12)
    assert spec.poi_prior_unit == tpl.coupling_scale
    assert spec_in_template_unit(spec, tpl) == spec  # idempotent
    if scale in (None, 1e-10):  # the default: the spec exactly as it was (factor 1)
        assert spec is forced


def test_physical_prior_bound_ignores_the_scale_auto(mm):
    """A model with ``scale = "auto"``: the prior is in units of the automatic scale with or without --scale."""
    raw, target, base = mm
    auto = raw.with_overrides(poi_scale=None, poi_prior_unit=None)
    tpl_auto = rescale_signal(base, round_scale(auto_scale(base, target.sign)))  # as target_templates
    assert spec_in_template_unit(auto, tpl_auto) is auto  # the templates are in the automatic scale already
    physical = auto.poi_prior.upper * tpl_auto.coupling_scale
    for scale in (1e-11, 4e-10):
        forced, tpl = auto.with_overrides(poi_scale=scale), rescale_signal(base, scale)
        assert prior_unit(forced, tpl, target.sign) == tpl_auto.coupling_scale
        spec = spec_in_template_unit(forced, tpl, target.sign)
        assert spec.poi_prior.upper * scale == pytest.approx(physical, rel=1e-12)


def test_limits_do_not_depend_on_the_scale(mm):
    """Two coupling units: the same credible limit (within MCSE) and Delta chi2 = 2.71 limit (1e-4)."""
    _, target, base = mm
    limits, freq, cache = [], [], {}
    for scale in (1e-10, 3e-11):
        forced, _ = load_spec_and_dataset(FitOptions("magnetic-moment", scale=scale))
        tpl = base if scale == 1e-10 else rescale_signal(base, scale)  # = target_templates(forced, ...)
        spec = spec_in_template_unit(forced, tpl, target.sign)
        pl = shared_profile_likelihood(tpl, target.sign, spec.likelihood)
        freq.append(pl.upper_limit(spec.cl, "xmass") * tpl.coupling_scale)
        sampler = dataclasses.replace(spec.sampler, chains=2, draws=1000, tune=400)
        dt, _ = sample_posterior(
            tpl, target, poi_prior=spec.poi_prior, sampler=sampler, likelihood=spec.likelihood, seed=3, cache=cache
        )
        assert float(dt.attrs["poi_prior_upper_physical"]) == pytest.approx(MU_NU_PRIOR_UPPER, rel=1e-12)
        limits.append(credible_limit(dt, spec.cl))
    a, b = limits
    assert abs(a["limit"] - b["limit"]) < 4 * math.hypot(a["mcse"], b["mcse"]), limits
    assert freq[1] == pytest.approx(freq[0], rel=1e-4)
