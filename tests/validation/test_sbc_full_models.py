"""Simulation-based calibration of the full models (benchmark window and binning, every nuisance) of
every interaction: CI-sized here, the README's 200-replica table under ``make test-slow``.

CI size: 40 replicas, 2 chains x 400 draws after 500 tuning steps, ranks among L = 49 draws (300
tuning steps were too few for B-L at 1 keV: gamma_z[0] p = 7e-4). That is enough to see the failure
that the 200-replica study found (issue 22): with the earlier prior-scaled chain starts a quarter of
the magnetic-moment replicas (true x = 13-20) end in a secondary mode, at extreme ranks, and the
control below fails at CI size (19 of 40 replicas flagged, measured). The secondary mode is deep on
the benchmark as it was before its calibration to XMASS's sensitivity (issue 25), so the control
rebuilds that variant (``PRE_CALIBRATION_ASSUMPTIONS``, bit-for-bit the earlier bundled files). A full-model SBC can therefore not break
unseen: the CI version runs on every commit, the full one with ``make test-slow``.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from bayes_xmass.converters.benchmark import PRE_CALIBRATION_ASSUMPTIONS, make_benchmark
from bayes_xmass.datasets.loader import DEFAULT_DATASET, load_dataset
from bayes_xmass.infer.mode_starts import PROFILE_CHECK_DELTA_CHI2
from bayes_xmass.validation import SbcSettings, run_sbc, validation_setup

SEED = 8128  # validate sbc's default
CI_FULL = SbcSettings(replicas=40, chains=2, draws=400, tune=500, rank_draws=49, seed=SEED)
FITS = {  # id: (interaction, validation_setup keywords)
    "magnetic-moment": ("magnetic-moment", {}),
    "millicharge-neg": ("millicharge", {"sign": -1}),
    "millicharge-pos": ("millicharge", {"sign": 1}),
    "b-l-1keV": ("dark-photon", {"mass_mev": 0.001}),
    "b-l-10MeV": ("dark-photon", {"mass_mev": 10.0}),
}


def _setup(fit: str):
    interaction, kw = FITS[fit]
    return validation_setup(interaction, load_dataset(DEFAULT_DATASET), **kw)


@pytest.mark.parametrize("fit", list(FITS))
def test_full_model_sbc_ci_sized(fit):
    spec, target, tpl = _setup(fit)
    res = run_sbc(tpl, target, spec.poi_prior, CI_FULL, likelihood=spec.likelihood)
    assert res.passed, res.tests
    # at most one replica's posterior sits where the profile likelihood excludes it: a large-signal
    # replica at an extreme energy-scale truth whose chain diverges throughout (seen for B-L; such a
    # fit fails its diagnostics, so the tool reports it rather than returning a wrong limit)
    assert np.sum(res.profile_delta_chi2 > PROFILE_CHECK_DELTA_CHI2) <= 1, res.profile_delta_chi2


def test_ci_sized_sbc_catches_the_stuck_chains_of_prior_scaled_starts(tmp_path):
    """Control: the same CI-sized study with the earlier chain starts fails, and the gate flags the
    stuck replicas (so the test above has the power to see the failure it guards against)."""
    folder = make_benchmark(tmp_path / "xmass_i", assumptions=PRE_CALIBRATION_ASSUMPTIONS)
    spec, target, tpl = validation_setup("magnetic-moment", load_dataset(folder))
    res = run_sbc(
        tpl, target, spec.poi_prior, dataclasses.replace(CI_FULL, chain_starts="prior"), likelihood=spec.likelihood
    )
    assert not res.passed
    assert res.tests["parameters"]["x"]["ks_p"] < 1e-3
    flagged = res.profile_delta_chi2 > PROFILE_CHECK_DELTA_CHI2
    assert flagged.sum() >= 8  # 19 measured
    # the flagged replicas are mostly the large-signal ones with the truth above every kept draw
    stuck = (res.truths[:, 0] > 10.0) & (res.ranks[:, 0] == CI_FULL.rank_draws)
    assert np.sum(flagged & stuck) >= 0.6 * flagged.sum()


@pytest.mark.slow
@pytest.mark.parametrize("fit", list(FITS))
def test_full_model_sbc_defaults(fit):
    """``validate sbc`` with its defaults (200 replicas, 2 x 1000 draws, tune 500): the README's table."""
    spec, target, tpl = _setup(fit)
    res = run_sbc(tpl, target, spec.poi_prior, SbcSettings(seed=SEED), likelihood=spec.likelihood)
    assert res.passed, res.tests
    assert res.summary()["replicas_flagged_by_profile_check"] == 0


WEAK_UPPER = 0.7  # magnetic moment, units of 1e-10 mu_B: a POI prior up to the expected limit (prior matters)


@pytest.mark.slow
@pytest.mark.parametrize("case", ["signal x 1.2", "weak prior", "weak prior x 2"])
def test_full_model_sbc_wrong_models_fail(case):
    """Full magnetic-moment model, defaults: a wrong likelihood (signal templates x 1.2) fails at the
    TOML prior. A wrong prior is only visible where the prior shapes the posterior: with the prior up
    to ~the expected limit the correct model passes and a fit prior twice as wide fails (at the TOML
    prior, up to 28 x the expected limit, and still at 4 and 10 x, the data dominate and SBC has no
    power against it: p = 0.12, 0.25, 0.39 measured)."""
    spec, target, tpl = _setup("magnetic-moment")
    p = spec.poi_prior
    weak = dataclasses.replace(p, upper=WEAK_UPPER)
    if case == "signal x 1.2":
        res = run_sbc(tpl, target, p, SbcSettings(seed=SEED), likelihood=spec.likelihood, fit_signal_factor=1.2)
    else:
        fit = dataclasses.replace(weak, upper=2 * WEAK_UPPER) if case.endswith("x 2") else weak
        res = run_sbc(
            tpl, target, weak, SbcSettings(seed=SEED), likelihood=spec.likelihood, fit_prior=fit, compiled_prior=p
        )
    assert res.passed == (case == "weak prior"), res.tests
