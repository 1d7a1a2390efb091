"""XENON1T SR1 release -> dataset folder (needs ../shared)."""

from __future__ import annotations

import numpy as np
import pytest

from bayes_xmass.converters.xenon1t import b0_counts, convert_release
from bayes_xmass.datasets.loader import load_dataset
from bayes_xmass.errors import InputError


@pytest.fixture(scope="module")
def xenon1t_dataset(xenon1t_release, tmp_path_factory):
    return load_dataset(convert_release(xenon1t_release, tmp_path_factory.mktemp("x") / "xenon1t"))


def test_observed_counts(xenon1t_dataset):
    ds = xenon1t_dataset
    assert ds.n_bins == 29
    assert ds.bin_edges_keV[0] == 1.0 and ds.bin_edges_keV[-1] == 30.0
    assert int(ds.counts.sum()) == 1261  # SOURCE.md / PRD 102 072004
    assert int(ds.counts[:6].sum()) == 285  # "285 observed in 1-7 keV"
    assert ds.exposure_tonne_year == pytest.approx(0.6473)


def test_b0_integrates_to_published_expectation(xenon1t_dataset):
    # PRD 102 072004: 232 +- 15 expected in 1-7 keV; our conversion must give 232 +- 3
    assert b0_counts(xenon1t_dataset, 1.0, 7.0) == pytest.approx(232.0, abs=3.0)
    # and B0 = 76 events/(t yr keV) in 1-30 keV (PRD 102 072004), a rate corrected for efficiency
    e = np.linspace(1.0, 30.0, 2901)
    eff_integral = np.trapezoid(xenon1t_dataset.efficiency(e), e)  # keV
    mean_rate = b0_counts(xenon1t_dataset, 1.0, 30.0) / (0.6473 * eff_integral)
    assert mean_rate == pytest.approx(76.0, abs=3.0)


def test_efficiency_and_resolution(xenon1t_dataset):
    eff = xenon1t_dataset.efficiency
    np.testing.assert_allclose(eff(np.array([2.0, 10.0])), [0.72, 0.89], atol=0.02)
    assert float(xenon1t_dataset.resolution.sigma(np.array([4.0]))[0]) == pytest.approx(0.31 * 2 + 0.0037 * 4)


def test_refuses_existing_folder(xenon1t_release, tmp_path):
    out = convert_release(xenon1t_release, tmp_path / "x")
    with pytest.raises(InputError, match="refusing to overwrite"):
        convert_release(xenon1t_release, out)


def test_missing_release_is_one_line_error(tmp_path):
    with pytest.raises(InputError, match="data_below_30kev.txt: file: not found"):
        convert_release(tmp_path, tmp_path / "out")
