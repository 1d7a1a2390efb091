"""The bundled public datasets reproduce the experiments' published mu_nu results (README table)."""

from __future__ import annotations

import math

import pytest

from bayes_xmass.workflows.public_reproduction import reproduce_mu_nu


@pytest.fixture(scope="module")
def rows():
    return {(r.dataset, r.variant): r for r in reproduce_mu_nu()}


def test_xenonnt_within_25_percent_of_its_published_limit(rows):
    r = rows[("xenonnt_sr0", "as bundled")]
    # published 6.3e-12 mu_B (profile likelihood, unbinned 1-140 keV); ours binned 1-30 keV with the
    # released B0: one-sided profile likelihood 5.73e-12 (0.91x)
    assert r.published is not None and 0.75 <= r.ratio <= 1.25
    assert r.one_sided == pytest.approx(5.73e-12, rel=0.01)
    assert r.delta_chi2_271 == pytest.approx(7.09e-12, rel=0.01)
    assert r.discovery_z == pytest.approx(0.0, abs=0.05)


def test_xenon1t_excess_without_tritium_and_none_with_it(rows):
    b0 = rows[("xenon1t_sr1", "without tritium")]
    # PRD 102 072004: (1.4, 2.9)e-11 mu_B at 90% CL, 3.2 sigma over B0
    assert b0.lower_271 == pytest.approx(1.4e-11, rel=0.25) and b0.delta_chi2_271 == pytest.approx(2.9e-11, rel=0.25)
    assert 2.7 <= b0.discovery_z <= 3.5
    assert b0.best_fit == pytest.approx(2.18e-11, rel=0.02)
    free = rows[("xenon1t_sr1", "as bundled")]
    # with a free tritium component the excess goes (XENON1T: 0.9 sigma; ours: 0)
    assert free.discovery_z < 1.0 and free.lower_271 == 0.0
    assert free.published is None


def test_lz_and_pandax_frozen(rows):
    # published LZ / PandaX-4T limits are not checked here (see the README); our numbers are frozen
    expected = {"lz_ws2022": 1.279e-11, "lz_ws2024": 1.056e-11, "pandax4t_run1": 1.859e-11}
    for name, value in expected.items():
        r = rows[(name, "as bundled")]
        assert r.delta_chi2_271 == pytest.approx(value, rel=0.01), name
        assert math.isnan(r.ratio)
