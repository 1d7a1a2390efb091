"""Frequentist limits: closed-form one-bin answer, CLs consistency, coverage, Feldman-Cousins."""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import write_toy_dataset
from scipy.special import lambertw

from bayes_xmass.datasets.loader import load_dataset
from bayes_xmass.infer.frequentist import ProfileLikelihood, cls_upper_limit, delta_chi2_threshold
from bayes_xmass.infer.toys import feldman_cousins, toy_limits
from bayes_xmass.response.templates import build_templates


def one_bin(tmp_path, n_obs, b_counts):
    e = np.array([0.0, 10.0])
    rate = b_counts / (1000.0 * 2.0)  # flat rate, 2-keV bin, 1000 kg day
    folder = write_toy_dataset(
        tmp_path / f"one_bin_{n_obs}",
        np.array([2.0, 4.0]),
        [n_obs],
        [("b", e, [rate, rate], '{ kind = "normal", mu = 1.0, sigma = 0.0 }', None)],
    )
    return build_templates(load_dataset(folder), "magnetic_moment", coupling_scale=1e-10)


def analytic_signal_limit(n, b, c):
    """Signal s with 2[(s+b) - n - n ln((s+b)/n)] - min = c (Poisson, known b, s >= 0)."""
    if n == 0:
        return c / 2.0
    base = 0.0 if n > b else 2 * (b - n - n * math.log(b / n))
    k = (c + base) / (2 * n)  # y - 1 - ln y = k with y = (s + b) / n > 1
    y = -lambertw(-math.exp(-1 - k), -1).real
    return n * y - b


@pytest.mark.parametrize("n_obs, b", [(25, 20.0), (12, 20.0), (150, 140.0)])
@pytest.mark.parametrize("kind", ["xmass", "one_sided"])
def test_one_bin_limit_equals_closed_form(tmp_path, n_obs, b, kind):
    tpl = one_bin(tmp_path, n_obs, b)
    assert tpl.backgrounds(1.0).sum() == pytest.approx(b, rel=1e-9)
    s1 = float(tpl.signal(1.0).sum())  # signal counts at x = 1
    pl = ProfileLikelihood(tpl)
    x_up = pl.upper_limit(0.9, kind)
    s_up = analytic_signal_limit(n_obs, b, delta_chi2_threshold(0.9, kind))
    assert x_up**2 * s1 == pytest.approx(s_up, rel=1e-5)


def test_thresholds():
    assert delta_chi2_threshold(0.9, "xmass") == pytest.approx(2.7055, abs=1e-4)
    assert delta_chi2_threshold(0.9, "one_sided") == pytest.approx(1.6424, abs=1e-4)
    with pytest.raises(ValueError):
        delta_chi2_threshold(0.9, "two_tailed")


@pytest.fixture(scope="module")
def ten_bin_templates(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ten")
    e = np.linspace(0.0, 30.0, 61)
    write_toy_dataset(
        folder,
        np.linspace(2.0, 22.0, 11),
        [60] * 10,
        [
            ("flat", e, np.full(e.size, 3e-2), '{ kind = "normal", mu = 1.0, sigma = 0.05 }', None),
        ],
        exposure_kg_day=1000.0,
    )
    return build_templates(load_dataset(folder), "magnetic_moment", coupling_scale=1e-10)


def test_cls_plus_b_equals_one_sided_profile_limit(ten_bin_templates):
    # asymptotically CLs+b with q~_mu at alpha = 0.1 is the Delta chi2 = Phi^-1(0.9)^2 limit
    pl = ProfileLikelihood(ten_bin_templates)
    cls = cls_upper_limit(pl, 0.9)
    assert cls["clsb"] == pytest.approx(pl.upper_limit(0.9, "one_sided"), rel=1e-4)
    assert cls["cls"] >= cls["clsb"]  # CLs is conservative


def _coverage(tpl, x_true, n_toys, seed):
    tl = toy_limits(tpl, x_true=x_true, n_toys=n_toys, seed=seed, processes=1)
    return tl


def test_coverage_reduced(ten_bin_templates):
    """CI version: 200 toys at a true signal near the expected limit; one-sided 90% limit covers 90 +- 5%
    (binomial sigma 2.1%), the XMASS-style Delta chi2 = 2.71 limit covers ~95%; at zero signal both cover."""
    pl = ProfileLikelihood(ten_bin_templates)
    x_true = 0.8 * pl.upper_limit(0.9, "one_sided")
    tl = _coverage(ten_bin_templates, x_true, 200, seed=11)
    cov, err = tl.coverage("one_sided")
    assert abs(cov - 0.90) < 0.05, (cov, err)
    cov_x, _ = tl.coverage("xmass")
    assert 0.90 < cov_x <= 1.0
    tl0 = _coverage(ten_bin_templates, 0.0, 50, seed=12)
    assert tl0.coverage("one_sided")[0] == 1.0


@pytest.mark.slow
def test_coverage_full(ten_bin_templates):
    """Full version: 600 toys, 90 +- 3%."""
    pl = ProfileLikelihood(ten_bin_templates)
    x_true = 0.8 * pl.upper_limit(0.9, "one_sided")
    tl = toy_limits(ten_bin_templates, x_true=x_true, n_toys=600, seed=21)
    cov, _ = tl.coverage("one_sided")
    assert abs(cov - 0.90) < 0.03, cov


def test_toys_are_reproducible_and_independent_of_process_count(ten_bin_templates):
    a = toy_limits(ten_bin_templates, n_toys=6, seed=3, processes=1)
    b = toy_limits(ten_bin_templates, n_toys=6, seed=3, processes=2)
    np.testing.assert_allclose(a.limits["xmass"], b.limits["xmass"], rtol=1e-9)
    c = toy_limits(ten_bin_templates, n_toys=6, seed=4, processes=1)
    assert not np.allclose(a.limits["xmass"], c.limits["xmass"])


@pytest.mark.parametrize("fitter", ["scalar", "batch"])
def test_toys_leave_the_shared_likelihood_on_the_observed_data(ten_bin_templates, fitter):
    """The pipeline's profile likelihood is the toys' compiled one (one per structure and process):
    after toy limits and a Feldman-Cousins construction it still holds the observed counts."""
    from bayes_xmass.infer.toys import shared_profile_likelihood

    tpl = ten_bin_templates
    pl = shared_profile_likelihood(tpl, 1, "poisson")
    before = pl.best_fit()
    toy_limits(tpl, n_toys=5, seed=3, processes=1, pl=pl, fitter=fitter)
    feldman_cousins(tpl, n_toys=5, x_grid=[0.0, 1.0], seed=4, processes=1, pl=pl, fitter=fitter)
    assert shared_profile_likelihood(tpl, 1, "poisson") is pl
    np.testing.assert_array_equal(pl.observed, tpl.observed)
    assert pl.best_fit().nll2 == pytest.approx(before.nll2, rel=1e-9)


def test_feldman_cousins_close_to_wilks_in_asymptotic_regime(ten_bin_templates):
    pl = ProfileLikelihood(ten_bin_templates)
    wilks = pl.upper_limit(0.9, "xmass")
    fc = feldman_cousins(
        ten_bin_templates, n_toys=100, x_grid=np.linspace(0.0, 1.5 * wilks, 7), seed=5, processes=1, pl=pl
    )
    assert fc["lower"] == 0.0
    # FC's upper limit with a boundary lies between the one-sided and the two-sided Wilks limits
    assert pl.upper_limit(0.9, "one_sided") * 0.85 < fc["upper"] < wilks * 1.15
    assert np.all(fc["critical"] > 0.5) and np.all(fc["critical"] < 4.5)


def test_discovery_significance_of_injected_signal(ten_bin_templates):
    pl = ProfileLikelihood(ten_bin_templates)
    mu = pl.expected(1.5 * pl.upper_limit(0.9, "xmass"), pl.start)
    pl.set_observed(mu)  # Asimov data with a strong signal
    z = pl.discovery_significance()
    assert z > 2.0
    best = pl.best_fit()
    assert best.x == pytest.approx(1.5 * ProfileLikelihood(ten_bin_templates).upper_limit(0.9, "xmass"), rel=1e-3)


def test_fc_window_grid_and_its_bracketing_check():
    """The run's Feldman-Cousins grid: x = 0 plus the window around the asymptotic limit; a result is
    used only if the interval starts at 0 and ends inside the window (else the pipeline takes the
    full grid)."""
    import numpy as np

    from bayes_xmass.infer.toys import FC_WINDOW, fc_edges_inside, fc_window_grid

    grid = fc_window_grid(3.0, 7)
    assert grid[0] == 0.0 and len(grid) == 7
    assert grid[1] == pytest.approx(FC_WINDOW[0] * 3.0) and grid[-1] == pytest.approx(FC_WINDOW[1] * 3.0)
    assert np.all(np.diff(grid) > 0)
    with pytest.raises(ValueError):
        fc_window_grid(3.0, 2)
    ok = [True, True, True, True, False, False, False]
    assert fc_edges_inside({"accepted": ok})
    assert not fc_edges_inside({"accepted": [True] * 7})  # upper edge beyond the window
    assert not fc_edges_inside({"accepted": [True, False] + [False] * 5})  # edge between 0 and the window
    assert not fc_edges_inside({"accepted": [False, True, True, False, False, False, False]})  # x = 0 excluded
    assert not fc_edges_inside({"accepted": [True, True, False, True, False, False, False]})  # not one interval
