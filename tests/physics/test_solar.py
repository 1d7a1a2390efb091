"""Solar-neutrino fluxes, spectra and survival probability."""

from __future__ import annotations

import numpy as np
import pytest

from bayes_xmass.physics import solar


def test_pp_averaged_survival_probability():
    # PHYSICS.md §5: <P_ee> about 0.54 for pp
    assert solar.mean_survival_probability("pp") == pytest.approx(0.54, abs=0.01)


def test_survival_probability_at_7be():
    # PHYSICS.md §5: about 0.53 at 862 keV
    assert float(solar.survival_probability(861.8)) == pytest.approx(0.53, abs=0.015)


def test_vacuum_limit_of_survival_probability():
    osc = solar.OscillationParameters(n_e_production=0.0)
    c13 = 1 - osc.sin2_theta13
    cos2 = 1 - 2 * osc.sin2_theta12
    expected = c13**2 * (0.5 + 0.5 * cos2**2) + osc.sin2_theta13**2
    np.testing.assert_allclose(solar.survival_probability([100.0, 5000.0], osc), expected, rtol=1e-12)


def test_flavour_probabilities_sum_to_one():
    e = np.geomspace(10, 2000, 50)
    p = solar.flavour_probabilities(e)
    np.testing.assert_allclose(p.sum(axis=0), 1.0, rtol=1e-12)
    np.testing.assert_allclose(p[1], p[2], rtol=1e-12)  # sin^2 theta23 = 0.5


@pytest.mark.parametrize("name", ["pp", "13N", "15O", "17F"])
@pytest.mark.parametrize("fermi", [True, False])
def test_beta_spectra_normalised(name, fermi):
    src = solar.SOURCES[name]
    e = np.linspace(0, src.q_kev, 200001)
    dens = solar.beta_spectrum(src, e, fermi)
    assert np.all(dens >= 0)
    assert np.trapezoid(dens, e) == pytest.approx(1.0, abs=2e-5)
    assert float(solar.beta_spectrum(src, src.q_kev * 1.001, fermi)) == 0.0


def test_pp_mean_energy():
    # The pp neutrino mean energy is 0.265 MeV (Bahcall, Neutrino Astrophysics, Table 6.3 [recalled])
    src = solar.SOURCES["pp"]
    e = np.linspace(0, src.q_kev, 100001)
    mean = np.trapezoid(e * solar.beta_spectrum(src, e), e)
    assert mean == pytest.approx(265.0, rel=0.01)


def test_fermi_function_is_one_without_charge():
    np.testing.assert_allclose(solar.fermi_function_positron(0, [600.0, 900.0]), 1.0)
    assert float(solar.fermi_function_positron(1, 510.99895)) == 0.0  # positron at rest
    assert float(solar.fermi_function_positron(1, 511.0)) < 1e-6  # strongly suppressed near rest


def test_flux_sets():
    assert set(solar.FLUX_SETS) == {"B16-GS98", "B16-AGSS09met", "SHP11-GS98"}
    assert solar.flux_set("SHP11-GS98").flux["7Be"] == 5.00e9  # as quoted by XMASS
    assert solar.flux_set("B16-AGSS09met").flux["pp"] == 6.03e10
    with pytest.raises(KeyError, match="unknown flux set"):
        solar.flux_set("nope")
