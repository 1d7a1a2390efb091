"""On-disk template cache: hits give identical arrays, keys follow the physics, damage is repaired."""

from __future__ import annotations

import numpy as np
import pytest
from scan_fixtures import small_bl_setup

from bayes_xmass.datasets.loader import load_dataset
from bayes_xmass.model.spec import load_model_spec
from bayes_xmass.model.targets import FitTarget, target_templates
from bayes_xmass.physics.spectra import PhysicsConfig
from bayes_xmass.response.templates import b_minus_l_templates_cached, build_templates_cached
from bayes_xmass.runtime import cache


@pytest.fixture()
def setup(tmp_path, monkeypatch):
    monkeypatch.setenv(cache.CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.delenv(cache.NO_CACHE_ENV, raising=False)
    ds, model = small_bl_setup(tmp_path)
    return load_dataset(ds), load_model_spec(model), tmp_path / "cache" / "templates"


def _same(a, b):
    for get in (
        lambda t: t.backgrounds.values,
        lambda t: t.backgrounds.coefficients,
        lambda t: t.signal.values,
        lambda t: t.signal.coefficients,
        lambda t: t.background_errors,
    ):
        np.testing.assert_array_equal(get(a), get(b))
    assert (a.signal_terms, a.signal_powers, a.coupling_scale) == (b.signal_terms, b.signal_powers, b.coupling_scale)


def test_second_call_hits_cache_with_identical_arrays(setup):
    ds, spec, folder = setup
    before = dict(cache.stats)
    first = target_templates(spec, ds, FitTarget("b_minus_l", 1, None, 0.01))
    second = target_templates(spec, ds, FitTarget("b_minus_l", 1, None, 0.01))
    assert cache.stats["misses"] == before["misses"] + 1 and cache.stats["hits"] == before["hits"] + 1
    assert len(list(folder.glob("*.npz"))) == 1
    _same(first, second)
    grid = b_minus_l_templates_cached(ds, [1e-3, 1.0])
    np.testing.assert_array_equal(grid, b_minus_l_templates_cached(ds, [1e-3, 1.0]))


def test_physics_option_changes_the_key(setup):
    ds, _, folder = setup
    build_templates_cached(ds, "magnetic_moment")
    misses = cache.stats["misses"]
    build_templates_cached(ds, "magnetic_moment", PhysicsConfig(flux_set="SHP11-GS98"))
    build_templates_cached(ds, "magnetic_moment", coupling_scale=2.0)
    build_templates_cached(ds.view(window=(2.0, 10.0)), "magnetic_moment")
    assert cache.stats["misses"] == misses + 3
    assert len(list(folder.glob("*.npz"))) == 4


def test_corrupt_entry_is_recomputed_and_overwritten(setup):
    ds, _, folder = setup
    good = build_templates_cached(ds, "magnetic_moment")
    (entry,) = folder.glob("*.npz")
    for damage in (b"not a zip file", entry.read_bytes()[:100]):
        entry.write_bytes(damage)
        with pytest.warns(UserWarning, match="unreadable"):
            again = build_templates_cached(ds, "magnetic_moment")
        _same(good, again)
        with np.load(entry, allow_pickle=False) as z:  # repaired in place
            assert "signal" in z.files


def test_no_cache_env_disables(setup, monkeypatch):
    ds, _, folder = setup
    monkeypatch.setenv(cache.NO_CACHE_ENV, "1")
    build_templates_cached(ds, "magnetic_moment")
    assert not folder.exists()
