"""Statistical validation: simulation-based calibration, coverage, prior sensitivity.

CI runs a reduced analysis (magnetic moment, 2-30 keV in 4-keV bins, every nuisance of the
benchmark kept) with one compiled model shared by all tests of this module. The SBC tests check
both directions: the correct model passes the rank-uniformity test and deliberately wrong models
(truths from a prior twice as wide as the fit's; signal templates mis-scaled in the fit) fail it
with the same seed. Full-model SBC of every interaction: ``test_sbc_full_models.py``.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from bayes_xmass.cli.main import main
from bayes_xmass.datasets.loader import DEFAULT_DATASET, load_dataset
from bayes_xmass.errors import InputError
from bayes_xmass.model.poi_prior import PoiPrior
from bayes_xmass.outputs.validation_report import write_coverage_outputs, write_sbc_outputs
from bayes_xmass.validation import (
    SbcSettings,
    prior_sensitivity,
    rank_uniformity,
    run_coverage,
    run_sbc,
    scale_nuisance_priors,
    scale_prior_width,
    validation_setup,
)

SEED = 8128
CI_SBC = SbcSettings(replicas=40, chains=2, draws=300, tune=300, rank_draws=99, alpha=0.01, seed=SEED)
# wrong models fail by a wide margin: fewer replicas and draws are enough to see it
CI_WRONG = dataclasses.replace(CI_SBC, replicas=20, draws=150, tune=200, rank_draws=49)


@pytest.fixture(scope="module")
def reduced_mm():
    spec, target, tpl = validation_setup("magnetic-moment", load_dataset(DEFAULT_DATASET), reduced=True)
    return spec, target, tpl


@pytest.fixture(scope="module")
def sbc_correct(reduced_mm):
    spec, target, tpl = reduced_mm
    return run_sbc(tpl, target, spec.poi_prior, CI_SBC, likelihood=spec.likelihood)


# -- rank-uniformity test itself (fast, no sampling) -----------------------------------------------
def test_rank_uniformity_accepts_uniform_and_rejects_skewed_ranks():
    rng = np.random.default_rng(1)
    uniform = rng.integers(0, 100, size=(60, 3))
    res = rank_uniformity(uniform, 99, alpha=0.01, seed=SEED)
    assert res["passed"] and res["n_bins"] == 10 and res["alpha_per_test"] == pytest.approx(0.01 / 6)
    skewed = uniform.copy()
    skewed[:, 1] = rng.integers(0, 50, size=60)  # posterior too wide on one side
    res = rank_uniformity(skewed, 99, alpha=0.01, seed=SEED)
    assert not res["passed"] and not res["parameters"][1]["passed"] and res["parameters"][0]["passed"]
    with pytest.raises(ValueError):
        rank_uniformity(uniform, 99, n_bins=7)


def test_sbc_settings_validation():
    with pytest.raises(InputError, match="--replicas"):
        SbcSettings(replicas=3).validate()
    with pytest.raises(InputError, match="--draws"):
        SbcSettings(chains=1, draws=50, rank_draws=99).validate()
    with pytest.raises(InputError, match="--alpha"):
        SbcSettings(alpha=0.7).validate()


# -- SBC: correct model passes, wrong models fail -------------------------------------------------
def test_sbc_correct_model_passes(sbc_correct, tmp_path):
    res = sbc_correct
    assert res.parameters[0] == "x" and "energy_scale" in res.parameters and "gamma_z[0]" in res.parameters
    assert res.ranks.shape == (CI_SBC.replicas, len(res.parameters))
    assert res.ranks.min() >= 0 and res.ranks.max() <= CI_SBC.rank_draws
    assert res.passed, res.tests
    assert not res.misspecification["wrong_model"]
    paths = write_sbc_outputs(res, tmp_path)
    summary = json.loads(paths["json"].read_text())
    assert summary["passed"] and "execution" in summary["provenance"]
    import xarray as xr

    with xr.open_dataset(paths["netcdf"]) as ds:
        assert ds["rank"].shape == res.ranks.shape
        assert ds.attrs["seed"] == SEED
    assert paths["plot"].stat().st_size > 1000
    with pytest.raises(InputError, match="refusing to overwrite"):
        write_sbc_outputs(res, tmp_path)


def test_sbc_detects_prior_twice_as_wide(reduced_mm, sbc_correct):
    """Weak-signal regime (POI prior up to 0.5 x scale, where the prior shapes the posterior): the
    correct model passes and a fit with a prior twice as wide fails, same seed. Both reuse the
    compiled model of the TOML prior (range changed exactly by rescaling the signal terms)."""
    spec, target, tpl = reduced_mm
    p = spec.poi_prior
    weak = PoiPrior(p.kind, 0.5, p.power, p.floor)
    ok = run_sbc(tpl, target, weak, CI_WRONG, likelihood=spec.likelihood, compiled_prior=p)
    assert ok.passed and not ok.misspecification["wrong_model"], ok.tests
    wide = PoiPrior(p.kind, 1.0, p.power, p.floor)
    bad = run_sbc(tpl, target, weak, CI_WRONG, likelihood=spec.likelihood, fit_prior=wide, compiled_prior=p)
    assert bad.misspecification["wrong_model"]
    assert not bad.passed
    assert bad.tests["parameters"]["x"]["ks_p"] < 1e-3


def test_sbc_detects_wrong_likelihood(reduced_mm, sbc_correct):
    """Model-TOML prior: signal templates 20% too large in the fit (an exposure/efficiency error)
    make the test fail."""
    spec, target, tpl = reduced_mm
    res = run_sbc(tpl, target, spec.poi_prior, CI_WRONG, likelihood=spec.likelihood, fit_signal_factor=1.2)
    assert not res.passed
    assert res.tests["parameters"]["x"]["ks_p"] < 1e-3


def test_sbc_cli_and_bad_input(tmp_path, reduced_mm, sbc_correct, capsys):
    out = tmp_path / "sbc"
    code = main(
        [
            "validate",
            "sbc",
            "magnetic-moment",
            "--reduced",
            "--replicas",
            "10",
            "--draws",
            "100",
            "--tune",
            "150",
            "--rank-draws",
            "49",
            "--out",
            str(out),
        ]
    )
    assert code in (0, 3)
    assert {"sbc.nc", "sbc.json", "sbc.md", "sbc_ranks.png"} <= {p.name for p in out.iterdir()}
    prov = json.loads((out / "sbc.json").read_text())["provenance"]
    assert prov["seed"] == SEED and prov["dataset_checksum"] and "pymc" in prov["package_versions"]
    bad = tmp_path / "bad"
    assert main(["validate", "sbc", "magnetic-moment", "--replicas", "2", "--out", str(bad)]) == 2
    assert main(["validate", "sbc", "magnetic-moment", "--fit-signal-factor", "-1", "--out", str(bad)]) == 2
    assert main(["validate", "coverage", "magnetic-moment", "--true-values=-1e-10", "--out", str(bad)]) == 2
    assert not bad.exists()
    err = capsys.readouterr().err
    assert "--replicas" in err and "--fit-signal-factor" in err and "--true-values" in err


# -- coverage ---------------------------------------------------------------------------------------
def test_coverage_reduced(reduced_mm, sbc_correct, tmp_path):
    spec, target, tpl = reduced_mm
    from bayes_xmass.validation.coverage import reference_limit

    ref = reference_limit(tpl, target, spec.likelihood, spec.cl)
    res = run_coverage(
        tpl, target, spec, x_values=[0.0, ref], n_toys=10, n_bayes_toys=2, n_calibration_toys=100, seed=3
    )
    rows = res["rows"]
    assert res["reference_limit_scaled"] == pytest.approx(ref)
    assert [r["x_over_reference"] for r in rows] == pytest.approx([0.0, 1.0])
    assert rows[0]["coverage_xmass"] == 1.0 and rows[0]["coverage_bayes"] == 1.0  # limits >= 0 cover x = 0
    for r in rows:
        for key in ("xmass", "one_sided", "neyman", "bayes"):
            assert 0.0 <= r[f"coverage_{key}_lo"] <= r[f"coverage_{key}"] <= r[f"coverage_{key}_hi"] <= 1.0
        assert r["coverage_xmass"] >= r["coverage_one_sided"]  # the 2.71 limit is above the 1.64 one
    assert res["nominal"]["xmass"] == pytest.approx(0.95, abs=0.002)
    paths = write_coverage_outputs(res, tmp_path)
    assert paths["csv"].read_text().count("\n") == len(rows) + 1
    assert "Δχ² = 2.71" in paths["markdown"].read_text() and "toy-calibrated" in paths["markdown"].read_text()
    assert res["calibration"]["n_toys_per_point"] == 100 and len(res["calibration"]["critical_q"]) >= 10


def test_coverage_refuses_a_coupling_in_the_wrong_units(tmp_path, capsys):
    """`--true-values 1.0` for the magnetic moment is 1 mu_B (~1e10 x the limit): one line, exit 2, nothing written."""
    out = tmp_path / "cov"
    code = main(["validate", "coverage", "magnetic-moment", "--true-values", "1.0", "--out", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "--true-values" in err[0] and "x the expected limit" in err[0]
    assert not out.exists()


def test_sbc_refuses_a_prior_bound_with_absurd_signals(tmp_path, capsys):
    """`--prior-upper 1e9` (units of the coupling scale) would simulate ~1e20 events: one line, exit 2."""
    out = tmp_path / "sbc"
    code = main(["validate", "sbc", "magnetic-moment", "--prior-upper", "1e9", "--replicas", "20", "--out", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "--prior-upper" in err[0] and "signal events" in err[0]
    assert not out.exists()


@pytest.mark.parametrize("interaction", ["magnetic-moment", "millicharge", "dark-photon"])
def test_model_prior_bounds_pass_the_signal_size_check(interaction):
    """The bundled models' own POI prior bounds (mu_nu: 34 x the observed events) are >= 10x inside the refused region."""
    from bayes_xmass.validation.setup import MAX_SIGNAL_OVER_OBSERVED, check_signal_size, signal_counts_at

    spec, _, tpl = validation_setup(interaction, load_dataset(DEFAULT_DATASET))
    check_signal_size(tpl, spec.poi_prior.upper, "--prior-upper")
    assert signal_counts_at(tpl, spec.poi_prior.upper) < 0.1 * MAX_SIGNAL_OVER_OBSERVED * tpl.observed.sum()
    assert signal_counts_at(tpl, 0.0) == 0.0


# -- prior sensitivity ----------------------------------------------------------------------------
def test_scale_prior_width():
    from bayes_xmass.datasets.priors import make_prior

    assert scale_prior_width(make_prior("lognormal", mu=1.0, sigma=0.3), 2.0).params["sigma"] == pytest.approx(0.6)
    u = scale_prior_width(make_prior("uniform", lower=0.5, upper=1.5), 0.5)
    assert (u.params["lower"], u.params["upper"]) == (0.75, 1.25)
    fixed = make_prior("fixed", value=1.0)
    assert scale_prior_width(fixed, 2.0) is fixed


def test_prior_sensitivity_reweighting(reduced_mm, sbc_correct, tmp_path):
    spec, target, tpl = reduced_mm
    from bayes_xmass.model.spec import SamplerSettings
    from bayes_xmass.validation.setup import posterior_sampler_for

    wide = scale_nuisance_priors(tpl, 2.0)
    assert wide.scale_prior.params["sigma"] == pytest.approx(2 * tpl.scale_prior.params["sigma"])
    ps = posterior_sampler_for(tpl, spec.poi_prior, spec.likelihood)  # compiled once for this module
    dt = ps.sample(tpl, target, sampler=SamplerSettings("nutpie", 2, 1000, 500, 0.9), seed=2)
    sens = prior_sensitivity(tpl, target, spec.poi_prior, cl=0.9, method="reweight", base_dt=dt)
    rows = {r["variant"].split(" (")[0].split(",")[0]: r for r in sens["rows"]}
    assert len(sens["rows"]) == 7
    base = rows["flat in coupling²"]
    assert base["ratio_to_baseline"] == pytest.approx(1.0, rel=2e-3) and base["pareto_khat"] < 0.5
    # more prior mass at small coupling -> lower limit; less -> higher
    assert rows["flat in coupling"]["ratio_to_baseline"] < 1.0 < rows["flat in coupling⁴"]["ratio_to_baseline"]
    for r in sens["rows"]:
        assert np.isfinite(r["limit"]) and r["limit"] > 0 and "reliable" in r
    ps = sens["power_scaling"]  # ArviZ power-scaling sensitivity of the baseline posterior
    assert {"x", "energy_scale"} <= set(ps) and all(v["prior"] >= 0 and v["likelihood"] >= 0 for v in ps.values())

    # the pipeline hook (quick mode): reads the stored posterior, one table per interaction
    from bayes_xmass.outputs.html import _sensitivity_html
    from bayes_xmass.outputs.report import write_datatree
    from bayes_xmass.outputs.validation_report import sensitivity_markdown
    from bayes_xmass.workflows.validate import run_prior_sensitivity

    write_datatree(dt, tmp_path / f"{target.label}.nc")
    records = [
        {
            "interaction": target.interaction,
            "sign": 1,
            "flavours": None,
            "mass_MeV": None,
            "netcdf": f"{target.label}.nc",
        }
    ]
    tables = run_prior_sensitivity(
        {spec.interaction: spec}, tpl.dataset, records, tmp_path, quick=True, seed=1, log=lambda m: None
    )
    assert len(tables) == 1 and tables[0]["method"] == "reweight"
    assert tables[0]["rows"][1]["limit"] == pytest.approx(sens["rows"][1]["limit"])
    md, page = sensitivity_markdown(tables[0]), _sensitivity_html(tables)
    assert md.count("\n| ") == 8 and "k̂" in md and "power-scaling" in md.lower()
    assert page.count("<tr>") == 8 and "Prior sensitivity" in page


# -- full versions (slow) ----------------------------------------------------------------------------
@pytest.mark.slow
def test_prior_sensitivity_refit_matches_reweighting(reduced_mm):
    """Where PSIS reweighting is reliable (k-hat <= 0.7) it agrees with refitting every variant."""
    spec, target, tpl = reduced_mm
    from bayes_xmass.model.spec import SamplerSettings
    from bayes_xmass.validation.setup import posterior_sampler_for

    sampler = SamplerSettings("nutpie", 4, 2000, 1000, 0.95)
    refit = prior_sensitivity(tpl, target, spec.poi_prior, method="refit", sampler=sampler, seed=3, cache={})
    base = posterior_sampler_for(tpl, spec.poi_prior, spec.likelihood).sample(tpl, target, sampler=sampler, seed=4)
    rw = prior_sensitivity(tpl, target, spec.poi_prior, method="reweight", base_dt=base)
    compared = 0
    for a, b in zip(refit["rows"], rw["rows"]):
        if a["reliable"] and b["reliable"]:  # refit without divergences, reweighting with k-hat <= 0.7
            assert a["limit"] == pytest.approx(b["limit"], rel=0.1), (a, b)
            compared += 1
    assert compared >= 3


@pytest.mark.slow
def test_coverage_full_toys(reduced_mm):
    """300 frequentist / 60 Bayesian toys at 1 to 2 x the Asimov limit (reduced analysis): the
    toy-calibrated limit near nominal (binomial sd 1.7%, calibration 1%: >= 0.85 is 2.5 sd below 0.90),
    the credible limit not far below it. The asymptotic limits are not required to cover (README)."""
    spec, target, tpl = reduced_mm
    res = run_coverage(tpl, target, spec, x_values=None, n_toys=300, n_bayes_toys=60, seed=5)
    for r in res["rows"][2:]:  # x >= the Asimov limit (away from the boundary at 0)
        assert r["coverage_neyman"] >= 0.85 and r["coverage_bayes"] >= 0.75, r
