"""The bundled XMASS-I benchmark: deterministic regeneration and published anchors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bayes_xmass.converters.benchmark import ENERGY_SCALE_SIGMA, TOTAL_RATE_AT_5KEV, make_benchmark
from bayes_xmass.datasets.dataset_files import dataset_checksum
from bayes_xmass.datasets.loader import load_dataset
from bayes_xmass.response.templates import build_templates

REPO_ROOT = Path(__file__).resolve().parents[2]

BUNDLED = REPO_ROOT / "data" / "xmass_i"


def test_regeneration_is_bit_for_bit(tmp_path):
    out = make_benchmark(tmp_path / "xmass_i")
    assert dataset_checksum(out) == dataset_checksum(BUNDLED)
    for f in sorted(p.name for p in BUNDLED.iterdir()):
        assert (out / f).read_bytes() == (BUNDLED / f).read_bytes(), f


def test_refuses_to_overwrite(tmp_path):
    from bayes_xmass.errors import InputError

    out = make_benchmark(tmp_path / "b")
    with pytest.raises(InputError, match="refusing to overwrite"):
        make_benchmark(out)


def test_benchmark_shape_and_anchors():
    ds = load_dataset(BUNDLED)
    assert ds.n_bins == 396 and ds.bin_edges_keV[0] == 2.0 and ds.bin_edges_keV[-1] == 200.0
    assert ds.exposure_kg_day == pytest.approx(97 * 711)
    mm_view = ds.view(window=(2.0, 200.0), merge=4)
    assert mm_view.n_bins == 99  # chi2/dof x/98 in PLB 809
    assert mm_view.counts.sum() == ds.counts.sum()
    # total expected rate at 5 keVee is the published 4.2e-3 /(day kg keVee) (PLB 789 (2019) 45)
    tpl = build_templates(ds, "magnetic_moment", scale_grid=[1.0])
    expected = tpl.backgrounds(1.0).sum(axis=0)
    centres = ds.bin_centers_keV
    near5 = np.abs(centres - 5.0) <= 0.5
    rate = expected[near5].sum() / (ds.exposure_kg_day * 0.5 * near5.sum())
    assert rate == pytest.approx(TOTAL_RATE_AT_5KEV, rel=1e-6)
    # the observed counts are a plausible Poisson draw from that expectation
    chi2 = np.sum((ds.counts - expected) ** 2 / expected)
    assert chi2 < ds.n_bins + 5 * np.sqrt(2 * ds.n_bins)
    # surface events dominate at low energy
    i = ds.background_names.index("pb210_surface")
    per = tpl.backgrounds(1.0)
    assert np.all(per[i, centres < 10] > 0.5 * per[:, centres < 10].sum(axis=0))


def test_energy_scale_prior_gives_about_15_percent_on_millicharge():
    ds = load_dataset(BUNDLED).view(window=(2.0, 15.0))
    s = ENERGY_SCALE_SIGMA
    tpl = build_templates(ds, "millicharge", coupling_scale=1e-12, scale_grid=[1 - s, 1.0, 1 + s])
    for q in (-5.4, 5.4):
        total = [np.sum(q * tpl.signal(x)[0] + q * q * tpl.signal(x)[1]) for x in (1 - s, 1.0, 1 + s)]
        up, down = total[2] / total[1] - 1, 1 - total[0] / total[1]
        assert 0.10 < up < 0.20 and 0.10 < down < 0.20, (q, up, down)
    # the pure q^2 term (which sets |q| limits) moves by +-15%
    pure = [tpl.signal(x)[1].sum() for x in (1 - s, 1.0, 1 + s)]
    assert 0.5 * (pure[2] - pure[0]) / pure[1] == pytest.approx(0.15, abs=0.015)


# Issue 25: the benchmark is as sensitive as XMASS-I was. Targets: the zero-signal Delta chi2 = 2.71
# limits XMASS's published best fits and chi2 values imply (physics/xmass_published.py), measured on
# the Asimov data (nuisances at their constraints' modes, infer/asimov_sensitivity.py); tolerance 20%
# of the target (the requirement). Values on the calibrated benchmark: ratios 1.04 (mu_nu),
# 0.88 (B-L 1 keV), 0.94 (B-L 10 MeV).
SENSITIVITY_TOLERANCE = 0.20


@pytest.mark.parametrize(
    ("model", "label"),
    [
        ("magnetic-moment", "magnetic_moment"),
        ("dark-photon", "b_minus_l_M0.001MeV"),
        ("dark-photon", "b_minus_l_M10MeV"),
    ],
)
def test_expected_limits_match_what_xmass_published_fits_imply(model, label):
    from bayes_xmass.infer.asimov_sensitivity import asimov_expected_limit
    from bayes_xmass.model.spec import model_spec_for
    from bayes_xmass.model.targets import fit_targets
    from bayes_xmass.physics.xmass_published import XMASS_FITS, implied_expected_limit

    spec = model_spec_for(model)
    target = next(t for t in fit_targets(spec) if t.label == label)
    expected = asimov_expected_limit(spec, load_dataset(BUNDLED), target).limit
    implied = implied_expected_limit(XMASS_FITS[label])
    assert abs(expected / implied - 1.0) <= SENSITIVITY_TOLERANCE, (label, expected, implied)


def test_implied_targets_reproduce_the_published_limits():
    """The Gaussian reading of XMASS's fits is self-consistent: best fit + 1.64 sigma gives the
    published limit (to the rounding of the published numbers, 5%)."""
    from bayes_xmass.physics.xmass_published import XMASS_FITS, implied_expected_limit, implied_observed_limit

    for fit in XMASS_FITS.values():
        assert implied_observed_limit(fit) == pytest.approx(fit.limit, rel=0.05), fit.label
    assert implied_expected_limit(XMASS_FITS["magnetic_moment"]) == pytest.approx(1.354e-10, rel=1e-3)
    assert implied_expected_limit(XMASS_FITS["b_minus_l_M0.001MeV"]) == pytest.approx(1.090e-6, rel=1e-3)
    assert implied_expected_limit(XMASS_FITS["b_minus_l_M10MeV"]) == pytest.approx(8.8e-5, rel=1e-9)
