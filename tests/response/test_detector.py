"""Detector response: conservation, resolution, efficiency, energy-scale morphing."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import curve_fit

from bayes_xmass.response.detector import (
    MorphingTemplates,
    Response,
    integrate_folded,
    scale_grid_for_prior,
    true_energy_grid,
)


def _sigma(e):
    return 0.31 * np.sqrt(np.maximum(e, 0)) + 0.0037 * np.asarray(e)


def _unit_eff(e):
    return np.ones_like(np.asarray(e, dtype=float))


def test_counts_conserved_with_unit_efficiency_and_wide_window():
    edges = np.linspace(0.0, 400.0, 801)
    resp = Response(edges, _sigma, _unit_eff)
    t, dt = true_energy_grid(20.0, 300.0)
    rate = np.exp(-t / 50.0)  # events/(keV kg day)
    counts = resp.fold(t, dt, rate, exposure_kg_day=1000.0)
    assert counts.sum() == pytest.approx(1000.0 * np.sum(rate * dt), rel=1e-9)


def test_smeared_line_has_width_sigma():
    edges = np.linspace(40.0, 80.0, 401)
    resp = Response(edges, _sigma, _unit_eff)
    t = np.array([60.0])
    counts = resp.fold(t, np.array([1.0]), np.array([1.0]), exposure_kg_day=1.0)
    centres = 0.5 * (edges[1:] + edges[:-1])

    def gauss(x, a, mu, s):
        return a * np.exp(-0.5 * ((x - mu) / s) ** 2)

    (a, mu, s), _ = curve_fit(gauss, centres, counts, p0=[0.04, 60.0, 2.0])
    assert mu == pytest.approx(60.0, abs=1e-3)
    assert abs(s) == pytest.approx(float(_sigma(60.0)), rel=2e-3)  # bin width 0.1 << sigma 2.6


def test_energy_scale_moves_line():
    edges = np.linspace(40.0, 80.0, 401)
    resp = Response(edges, _sigma, _unit_eff)
    centres = 0.5 * (edges[1:] + edges[:-1])
    counts = resp.fold(np.array([60.0]), np.array([1.0]), np.array([1.0]), 1.0, scale=1.1)
    mean = np.sum(centres * counts) / counts.sum()
    assert mean == pytest.approx(66.0, abs=0.01)


def test_efficiency_and_threshold_applied_in_reconstructed_energy():
    edges = np.linspace(0.0, 20.0, 41)

    def eff(e):
        return np.where(np.asarray(e) > 10.0, 0.5, 1.0)

    resp = Response(edges, lambda e: np.full_like(np.asarray(e, dtype=float), 1e-4), eff, threshold_kev=2.0)
    t = np.array([1.0, 5.0, 15.0])  # ~no smearing
    r = resp.matrix(t)
    assert r[:, 0].sum() == pytest.approx(0.0, abs=1e-12)  # below threshold
    assert r[:, 1].sum() == pytest.approx(1.0, rel=1e-9)
    assert r[:, 2].sum() == pytest.approx(0.5, rel=1e-9)


def test_integrate_folded_exact_for_piecewise_linear():
    e = np.array([0.0, 10.0, 20.0])
    r = np.array([1.0, 3.0, 1.0])
    counts = integrate_folded(e, r, np.array([0.0, 5.0, 10.0, 15.0, 20.0]), exposure_kg_day=2.0)
    np.testing.assert_allclose(counts, 2.0 * np.array([7.5, 12.5, 12.5, 7.5]))


def test_morphing_exact_at_grid_points_and_continuous():
    grid = scale_grid_for_prior(1.0, 0.1)
    edges = np.linspace(2.0, 30.0, 29)
    resp = Response(edges, _sigma, _unit_eff)
    t, dt = true_energy_grid(0.5, 60.0)
    rate = 1.0 / t
    values = np.stack([resp.fold(t, dt, rate, 1.0, scale=s)[None, :] for s in grid])
    morph = MorphingTemplates.from_grid(grid, values)
    for s, v in zip(grid, values):
        np.testing.assert_allclose(morph(s), v, rtol=1e-12, atol=1e-15)
    # continuity across a knot, and accuracy between knots vs direct folding
    knot = grid[4]
    np.testing.assert_allclose(morph(knot - 1e-9), morph(knot + 1e-9), rtol=1e-7)
    s_mid = 0.5 * (grid[3] + grid[4])
    direct = resp.fold(t, dt, rate, 1.0, scale=s_mid)
    np.testing.assert_allclose(morph(s_mid)[0], direct, rtol=2e-3)


def test_single_point_grid_is_constant():
    morph = MorphingTemplates.from_grid([1.0], np.ones((1, 2, 3)))
    np.testing.assert_array_equal(morph(1.3), np.ones((2, 3)))


def test_vectorised_evaluation_equals_one_value_at_a_time():
    """MorphingTemplates.at (used for whole posteriors) gives the scalar path's numbers, including
    values on knots, between knots and clipped beyond both ends of the grid."""
    rng = np.random.default_rng(5)
    grid = np.linspace(0.7, 1.3, 9)
    morph = MorphingTemplates.from_grid(grid, rng.uniform(1.0, 2.0, (grid.size, 3, 7)))
    scales = np.concatenate([grid, rng.uniform(0.5, 1.5, 40)])
    many = morph.at(scales)
    assert many.shape == (scales.size, 3, 7)
    for s, v in zip(scales, many):
        np.testing.assert_allclose(v, morph(s), rtol=1e-14, atol=0)
    single = MorphingTemplates.from_grid([1.0], np.ones((1, 2, 3)))
    np.testing.assert_array_equal(single.at([0.9, 1.3]), np.ones((2, 2, 3)))
