"""Combined fits over several datasets sharing the coupling (issue 8, section 2).

Exactness argument used throughout: two datasets with the same templates at half the exposure and
counts k1 + k2 = k have  sum_d [k_d log(mu/2) - mu/2] = k log mu - mu + const,  so with the
nuisances shared the combined likelihood *is* the full-exposure one (up to a constant) and every
profile-likelihood number and the posterior must agree. With independent nuisances and a
symmetric split (k1 = k2) the optimum is symmetric, so the combined profile likelihood equals the
full one with every nuisance prior width divided by sqrt(2) (two identical Gaussian constraints on
the same value) -- a hand calculation we test. The posterior is not equal in that case (the
asymmetric directions n1 != n2 are marginalised, not fixed), and is not tested for equality.
"""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest
from conftest import write_toy_dataset

from bayes_xmass.datasets.loader import load_dataset
from bayes_xmass.infer.batch_limits import BatchProfileLikelihood, batch_limits
from bayes_xmass.infer.combined import dataset_labels, sample_combined
from bayes_xmass.infer.combined_profile import CombinedProfileLikelihood
from bayes_xmass.infer.frequentist import ProfileLikelihood
from bayes_xmass.infer.posterior_sampler import PosteriorSampler
from bayes_xmass.infer.posterior_summary import credible_limit
from bayes_xmass.infer.toys import scalar_limits, toy_counts
from bayes_xmass.model.build import build_combined_model, build_model
from bayes_xmass.model.data import model_data
from bayes_xmass.model.poi_prior import PoiPrior
from bayes_xmass.model.spec import SamplerSettings
from bayes_xmass.model.targets import FitTarget
from bayes_xmass.outputs.results import schema_errors
from bayes_xmass.response.detector import MorphingTemplates
from bayes_xmass.response.templates import build_templates

MM = FitTarget("magnetic_moment")
SHARED = ("norm_flat", "norm_slope", "energy_scale", "gamma")
EDGES = np.linspace(2.0, 22.0, 11)
E = np.linspace(0.0, 30.0, 61)
SAMPLER = SamplerSettings("nutpie", chains=4, draws=600, tune=400, target_accept=0.9)
PRIOR = PoiPrior("flat_power", 5.0, 2.0)
SCALE_GRID = np.linspace(0.75, 1.25, 11)  # coarser than the default (21 points): faster, same exactness


def _backgrounds(width=1.0):
    """Two folded backgrounds (one with per-bin template errors); prior widths times ``width``."""
    flat, slope = np.full(E.size, 3e-2), 4e-2 * np.exp(-E / 8.0)
    return [
        ("flat", E, flat, f'{{ kind = "normal", mu = 1.0, sigma = {0.1 * width!r} }}', 0.05 * width * flat),
        ("slope", E, slope, f'{{ kind = "normal", mu = 1.0, sigma = {0.2 * width!r} }}', None),
    ]


def _tpl(folder, counts, exposure, width=1.0):
    ds = load_dataset(
        write_toy_dataset(
            folder, EDGES, counts, _backgrounds(width), exposure_kg_day=exposure, energy_scale_sigma=0.05 * width
        )
    )
    return build_templates(ds, "magnetic_moment", coupling_scale=1e-10, scale_grid=SCALE_GRID)


@pytest.fixture(scope="module")
def toys(tmp_path_factory):
    root = tmp_path_factory.mktemp("combined")
    rng = np.random.default_rng(3)
    counts = 2 * rng.poisson(60, size=EDGES.size - 1)  # even, so a symmetric split exists
    k1 = rng.binomial(counts, 0.5)
    return {
        "full": _tpl(root / "full", counts, 2000.0),
        "h1": _tpl(root / "h1", k1, 1000.0),
        "h2": _tpl(root / "h2", counts - k1, 1000.0),
        "sym": _tpl(root / "sym", counts // 2, 1000.0),  # used twice: a symmetric split
        "full_narrow": _tpl(root / "narrow", counts, 2000.0, width=1 / math.sqrt(2.0)),
        # other background names and a fixed energy scale: nothing in common with the others
        "blind": _no_signal(
            build_templates(
                load_dataset(
                    write_toy_dataset(
                        root / "blind",
                        EDGES,
                        counts // 2,
                        [("other_" + n, e, r, p, None) for n, e, r, p, _ in _backgrounds()],
                        exposure_kg_day=1000.0,
                    )
                ),
                "magnetic_moment",
                coupling_scale=1e-10,
            )
        ),
    }


def _no_signal(tpl):
    """The same dataset with every signal template zero: no information on the coupling."""
    sig = tpl.signal
    return dataclasses.replace(tpl, signal=MorphingTemplates(sig.scale_grid, sig.values * 0.0, sig.coefficients * 0.0))


@pytest.fixture(scope="module")
def full_profile(toys):
    return _profile_numbers(ProfileLikelihood(toys["full"]))


def _profile_numbers(pl):
    best = pl.best_fit()
    return np.array(
        [
            best.x,
            pl.upper_limit(0.9, "xmass", best),
            pl.upper_limit(0.9, "one_sided", best),
            *pl.delta_chi2([0.3, 0.8], best),
        ]
    )


def test_half_exposure_halves_equal_full_profile_likelihood(toys, full_profile):
    full = full_profile
    comb = CombinedProfileLikelihood([toys["h1"], toys["h2"]], ["h1", "h2"], shared=SHARED)
    assert comb.n_bins == 20 and comb._names == ["norm_flat", "norm_slope", "energy_scale", "gamma_z"]
    np.testing.assert_allclose(_profile_numbers(comb), full, rtol=1e-5, atol=1e-6)


def test_independent_nuisances_equal_full_with_priors_narrowed_by_sqrt2(toys):
    """Hand calculation (module docstring): symmetric halves, independent nuisances."""
    comb = CombinedProfileLikelihood([toys["sym"], toys["sym"]], ["s1", "s2"])
    assert len(comb._names) == 6  # 2 norms + energy scale per dataset (gammas profiled in closed form)
    narrow = _profile_numbers(ProfileLikelihood(toys["full_narrow"]))
    np.testing.assert_allclose(_profile_numbers(comb), narrow, rtol=1e-4, atol=1e-5)


def test_dataset_without_signal_information_leaves_profile_limit_unchanged(toys, full_profile):
    comb = CombinedProfileLikelihood([toys["full"], toys["blind"]], ["main", "blind"])
    np.testing.assert_allclose(_profile_numbers(comb), full_profile, rtol=1e-5, atol=1e-6)
    assert comb.n_bins == 20


def test_combined_model_names_dims_and_sharing(toys):
    m = build_combined_model([toys["h1"], toys["h2"]], ["h1", "h2"], PRIOR, shared=("energy_scale",))
    names = set(m.named_vars)
    assert {
        "x",
        "coupling",
        "energy_scale",
        "h1__norm_flat",
        "h2__norm_flat",
        "h1__gamma_z",
        "h2__expected",
        "h1__log_likelihood",
    } <= names
    assert "h1__energy_scale" not in names and m.named_vars_to_dims["h2__gamma_z"] == ("h2__energy_bin",)
    # single-dataset model unchanged: no prefixes
    assert "norm_flat" in build_model(toys["full"], PRIOR).named_vars
    with pytest.raises(ValueError, match="shared nuisance 'norm_nope'"):
        build_combined_model([toys["h1"], toys["h2"]], ["h1", "h2"], shared=("norm_nope",))
    with pytest.raises(ValueError, match="different priors"):
        build_combined_model([toys["h1"], toys["full_narrow"]], ["a", "b"], shared=("norm_flat",))
    with pytest.raises(ValueError, match="coupling scale"):
        from bayes_xmass.model.targets import rescale_signal

        build_combined_model([toys["h1"], rescale_signal(toys["h2"], 2e-10)], ["a", "b"])
    with pytest.raises(ValueError, match="unique"):
        build_combined_model([toys["h1"], toys["h2"]], ["a", "a"])


def test_dataset_labels_are_identifiers_and_unique():
    class D:
        def __init__(self, name):
            self.name = name

    assert dataset_labels([D("xenon1t-sr1"), D("toy"), D("toy"), D("1x")]) == ["xenon1t_sr1", "toy", "toy_2", "d_1x"]


def _agree(a, b, n_sigma=3.5):
    return abs(a["limit"] - b["limit"]) < n_sigma * math.hypot(a["mcse"], b["mcse"])


def test_halves_plus_blind_dataset_equal_full_posterior(toys):
    """Credible limit of (half + half, nuisances shared) + a dataset without signal information
    equals the full-exposure one within the Monte Carlo standard error (both statements at once,
    to keep CI to two NUTS compilations)."""
    sampler = PosteriorSampler(toys["full"], PRIOR)
    full = credible_limit(
        _with_attrs(sampler.draw_posterior(model_data(toys["full"], 1, "poisson"), SAMPLER, 11), toys["full"]), 0.9
    )
    dt = sample_combined(
        [toys["h1"], toys["h2"], toys["blind"]],
        ["h1", "h2", "blind"],
        MM,
        poi_prior=PRIOR,
        sampler=SAMPLER,
        shared=SHARED,
        seed=12,
        predictive=False,
    )
    comb = credible_limit(dt, 0.9)
    assert _agree(comb, full), (comb, full)
    assert comb["mcse"] < 0.03 * comb["limit"]
    assert {"energy_scale", "norm_flat", "gamma_z", "blind__norm_other_flat"} <= set(dt.posterior)
    assert "h1__norm_flat" not in dt.posterior
    assert json.loads(dt.attrs["dataset_checksums"])["h1"] == toys["h1"].dataset.checksum


def _with_attrs(dt, tpl):
    dt.attrs.update(coupling_scale=tpl.coupling_scale, poi_prior=json.dumps(PRIOR.describe()))
    return dt


# -- command line ------------------------------------------------------------------------------------
def _halves_on_disk(root):
    rng = np.random.default_rng(5)
    counts = rng.poisson(120, size=EDGES.size - 1)
    k1 = rng.binomial(counts, 0.5)
    return [
        write_toy_dataset(root / name, EDGES, k, _backgrounds(), exposure_kg_day=1000.0, energy_scale_sigma=0.05)
        for name, k in (("h1", k1), ("h2", counts - k1))
    ]


@pytest.mark.parametrize(
    "extra, message",
    [
        ([], "at least two datasets"),
        (["--shared-nuisance", "norm_nope"], "shared nuisance 'norm_nope'"),
        (["--shared-nuisance", "energy_scale", "--dataset", "SAME"], "counted twice"),
        (["--window", "40", "50"], "does not overlap"),
    ],
)
def test_combine_bad_input_exit_2_nothing_written(tmp_path, capsys, extra, message):
    from bayes_xmass.cli.main import main

    h1, h2 = _halves_on_disk(tmp_path)
    datasets = ["--dataset", str(h1)] + ([] if not extra else ["--dataset", str(h2)])
    extra = [str(h1) if v == "SAME" else v for v in extra]
    out = tmp_path / "out"
    code = main(["combine", "magnetic-moment", *datasets, *extra, "--out", str(out), "--scale", "1e-10"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and not out.exists()
    assert len(err) == 1 and message in err[0], err


def test_combine_needs_one_fit_target(tmp_path, capsys):
    from bayes_xmass.cli.main import main

    h1, h2 = _halves_on_disk(tmp_path)
    code = main(["combine", "millicharge", "--dataset", str(h1), "--dataset", str(h2), "--out", str(tmp_path / "o")])
    assert code == 2 and "choose one" in capsys.readouterr().err and not (tmp_path / "o").exists()


@pytest.mark.slow
def test_combine_cli_writes_run_directory(tmp_path, capsys):
    """End to end (slow: one NUTS compilation): run directory with combined NetCDF, limits and comparison."""
    from bayes_xmass.cli.main import main
    from bayes_xmass.outputs.report import open_datatree

    h1, h2 = _halves_on_disk(tmp_path)
    out = tmp_path / "run"
    code = main(
        [
            "combine",
            "magnetic-moment",
            "--dataset",
            str(h1),
            "--dataset",
            str(h2),
            "--out",
            str(out),
            "--scale",
            "1e-10",
            "--prior-upper",
            "5",
            "--shared-nuisance",
            "energy_scale",
            "--shared-nuisance",
            "norm_flat",
            "--alone",
            "frequentist",
            "--chains",
            "2",
            "--draws",
            "300",
            "--tune",
            "300",
            "--no-progress",
            "--allow-bad-diagnostics",
        ]
    )
    assert code == 0, capsys.readouterr().err
    result = json.loads((out / "limits.json").read_text())
    assert [r["fit"] for r in result["comparison"]] == ["combined", "toy", "toy_2"]
    assert set(result["provenance"]["dataset_checksums"]) == {"toy", "toy_2"}
    assert schema_errors(result) == [] and result["command"] == "combine"
    assert [f["dataset"] for f in result["fits"]] == ["combined", "toy", "toy_2"]
    comb, alone = result["combined"]["frequentist"], [r["frequentist"] for r in result["alone"]]
    assert comb["limit_xmass_scaled"] <= min(a["limit_xmass_scaled"] for a in alone) * 1.05
    dt = open_datatree(out / "combined_magnetic_moment.nc")
    assert "frequentist" in dt.children and "toy_2__counts" in dt.posterior_predictive
    assert (out / "comparison.csv").is_file() and (out / "plots" / "combined_magnetic_moment_compare.png").is_file()
    assert main(["compare", str(out)]) == 0


# -- compiled once, data swapped (the global analysis's cache) -------------------------------------


def test_combined_profile_load_all_equals_a_fresh_build(toys):
    """Swapping other template sets of the same structure into a compiled combined likelihood gives
    the numbers of a likelihood built for them (rtol 1e-6); another structure is refused."""
    pl = CombinedProfileLikelihood([toys["h1"], toys["h2"]], ["a", "b"])
    loaded = _profile_numbers(pl.load_all([toys["sym"], toys["sym"]]))
    fresh = _profile_numbers(CombinedProfileLikelihood([toys["sym"], toys["sym"]], ["a", "b"]))
    np.testing.assert_allclose(loaded, fresh, rtol=1e-6, atol=1e-9)
    with pytest.raises(ValueError, match="structure"):
        pl.load_all([toys["h1"], toys["blind"]])


def test_cached_combined_sampler_gives_the_draws_of_a_fresh_build(toys):
    """sample_combined with a cache: the second fit (other data, same structure) reuses the compiled
    model and draws exactly what a fresh build draws for the same seed."""
    cache: dict = {}
    kwargs = dict(poi_prior=PRIOR, sampler=SAMPLER, seed=11, predictive=False)
    sample_combined([toys["h1"], toys["h2"]], ["a", "b"], MM, cache=cache, **kwargs)
    assert len(cache) == 1
    reused = sample_combined([toys["sym"], toys["sym"]], ["a", "b"], MM, cache=cache, **kwargs)
    fresh = sample_combined([toys["sym"], toys["sym"]], ["a", "b"], MM, **kwargs)
    assert len(cache) == 1
    np.testing.assert_array_equal(reused.posterior["x"].values, fresh.posterior["x"].values)


def test_combined_batched_toy_limits_equal_the_scalar_ones(toys):
    """The combined toys' batched fits (combined_toy_bands) against one scalar fit per toy: same best
    fits and limits (rtol 1e-4) on 12 background-only toys of a two-dataset combination."""
    pl = CombinedProfileLikelihood([toys["h1"], toys["h2"]], ["a", "b"])
    counts = np.concatenate(
        [toy_counts(ProfileLikelihood(toys[k]), 0.0, 12, seed) for k, seed in (("h1", 1), ("h2", 2))], axis=1
    )
    scalar = np.asarray(scalar_limits(pl, counts))
    batched = batch_limits(BatchProfileLikelihood(pl), counts)
    np.testing.assert_allclose(batched[:, 1:], scalar[:, 1:], rtol=1e-4)
    np.testing.assert_allclose(batched[:, 0], scalar[:, 0], atol=1e-4)
