"""The vectorised R-hat / bulk ESS / tail ESS (bayes_xmass.infer.convergence) reproduce ArviZ, which stays the
reference: ``az.rhat`` (rank), ``az.ess(method="bulk")`` and ``az.ess(method="tail")`` per variable."""

from __future__ import annotations

import math
import warnings

import arviz as az
import numpy as np
import pytest
import xarray as xr
from arviz_base import from_dict

from bayes_xmass.infer.convergence import dataset_rhat_ess, rhat_ess
from bayes_xmass.infer.posterior_summary import diagnostics

RTOL = 1e-10


def _ar1(rng, phi, shape):
    """AR(1) chains along the last axis, started in the stationary distribution."""
    eps = rng.normal(size=shape)
    out = np.empty(shape)
    out[..., 0] = eps[..., 0] / math.sqrt(1 - phi**2)
    for t in range(1, shape[-1]):
        out[..., t] = phi * out[..., t - 1] + eps[..., t]
    return out


def _posteriors(chains=4, draws=1000):
    """Named synthetic posteriors (chain, draw[, k]) covering the cases that matter."""
    rng = np.random.default_rng(20240611)
    shape = (chains, draws)
    stuck = rng.normal(size=shape)
    stuck[0] = 3.0 + 0.1 * rng.normal(size=draws)  # one chain away from the others
    ties = rng.poisson(3.0, size=shape).astype(float)  # many tied values (average ranks)
    sticky = rng.normal(size=shape)
    sticky[:, 1::2] = sticky[:, ::2][:, : sticky[:, 1::2].shape[1]]  # every value repeated
    return {
        "mixed": rng.normal(size=shape),
        "vector": rng.normal(size=(*shape, 5)) * np.arange(1, 6),
        "stuck_chain": stuck,
        "constant": np.full(shape, 2.5),
        "ar1_slow": _ar1(rng, 0.95, shape),
        "ar1_anti": _ar1(rng, -0.6, shape),  # negative lag-1 autocorrelation: ESS > draws
        "ar1_vector": np.moveaxis(_ar1(rng, 0.8, (3, *shape)), 0, -1),
        "ties": ties,
        "sticky": sticky,
        "skewed": rng.lognormal(0.0, 2.0, size=shape),
    }


def _reference(ds):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return (az.rhat(ds), az.ess(ds, method="bulk"), az.ess(ds, method="tail"))


def _assert_matches(ds):
    ref = _reference(ds)
    got = dataset_rhat_ess(ds, list(ds.data_vars))
    for i, label in enumerate(("rhat", "ess_bulk", "ess_tail")):
        for name in ds.data_vars:
            want = ref[i][name].values
            assert got[name][i].shape == want.shape, (label, name)
            np.testing.assert_allclose(
                got[name][i], want, rtol=RTOL, atol=0, equal_nan=True, err_msg=f"{label} of {name}"
            )


@pytest.mark.parametrize("chains,draws", [(4, 1000), (4, 1001), (2, 37), (1, 600), (4, 4), (3, 3)])
def test_matches_arviz(chains, draws):
    """Well-mixed, stuck chain, constant, AR(1) (positive and negative), ties, vector-valued; even and
    odd draw counts (the split drops the middle draw), a single chain (R-hat NaN) and too few draws."""
    post = {k: v[:chains, :draws] for k, v in _posteriors().items()}
    ds = from_dict({"posterior": post}).posterior.to_dataset()
    _assert_matches(ds)


def test_nan_and_inf():
    """A NaN anywhere in a parameter makes its diagnostics NaN (ArviZ); others are unaffected."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=(4, 500, 3))
    x[2, 17, 1] = np.nan
    x[1, 40, 2] = np.inf  # ranks are fine with infinities
    ds = from_dict({"posterior": {"theta": x}}).posterior.to_dataset()
    _assert_matches(ds)
    rhat, ess_b, ess_t = rhat_ess(np.moveaxis(x, -1, 0))
    assert np.isnan([rhat[1], ess_b[1], ess_t[1]]).all()
    assert np.isfinite([rhat[0], ess_b[0], ess_t[0]]).all()


def test_diagnostics_matches_arviz_and_flags():
    """diagnostics() on a DataTree: worst R-hat / ESS and the POI's ESS are ArviZ's numbers."""
    rng = np.random.default_rng(11)
    post = _posteriors(4, 800)
    post = {
        "x": _ar1(rng, 0.5, (4, 800)),
        "norm_a": post["stuck_chain"],
        "gamma_z": post["vector"],
        "energy_scale": post["ar1_slow"],
        "coupling": rng.normal(size=(4, 800)),
    }
    stats_ = {"diverging": np.zeros((4, 800), bool), "energy": rng.normal(size=(4, 800))}
    dt = from_dict({"posterior": post, "sample_stats": stats_})
    d = diagnostics(dt)
    names = ["x", "norm_a", "gamma_z", "energy_scale"]
    rhat, ess_b, ess_t = (
        az.rhat(dt, var_names=names),
        az.ess(dt, var_names=names, method="bulk"),
        az.ess(dt, var_names=names, method="tail"),
    )
    assert d.worst_rhat_var == "norm_a" and d.rhat_max == pytest.approx(float(rhat["norm_a"]), rel=RTOL)
    worst_ess = min(names, key=lambda k: float(np.min(ess_b[k].values)))
    assert d.worst_ess_var == worst_ess
    assert d.ess_bulk_min == pytest.approx(float(np.min(ess_b[worst_ess].values)), rel=RTOL)
    assert d.ess_tail_min == pytest.approx(min(float(np.min(ess_t[k].values)) for k in names), rel=RTOL)
    assert d.poi_ess_bulk == pytest.approx(float(ess_b["x"]), rel=RTOL)
    assert d.poi_ess_tail == pytest.approx(float(ess_t["x"]), rel=RTOL)
    assert not d.ok and any("R-hat" in f for f in d.failures)


def test_diagnostics_single_chain_is_undefined_not_a_crash():
    rng = np.random.default_rng(5)
    dt = from_dict(
        {
            "posterior": {"x": rng.normal(size=(1, 500)), "norm_a": rng.normal(size=(1, 500))},
            "sample_stats": {"diverging": np.zeros((1, 500), bool)},
        }
    )
    d = diagnostics(dt)
    assert math.isnan(d.rhat_max) and d.worst_rhat_var == "undefined"
    assert d.poi_ess_bulk == pytest.approx(float(az.ess(dt, var_names=["x"])["x"]), rel=RTOL)
    assert math.isnan(d.bfmi_min) and not d.ok


def test_input_validation():
    with pytest.raises(ValueError, match="n_param, chain, draw"):
        rhat_ess(np.zeros((4, 100)))
    assert dataset_rhat_ess(xr.Dataset(), []) == {}


@pytest.mark.parametrize("draws", [4, 5, 7, 10, 11, 13, 24])
def test_short_chains_many_parameters(draws):
    """Short chains reach the end of Geyer's sequence (all pairs positive) and give ties and exact
    zeros; many random parameters at once exercise every branch of the vectorised truncation."""
    from arviz_stats.base import array_stats

    rng = np.random.default_rng(draws)
    x = np.concatenate(
        [
            _ar1(rng, 0.7, (150, 4, draws)),
            rng.normal(size=(150, 4, draws)),
            rng.integers(0, 3, size=(150, 4, draws)).astype(float),
        ]
    )
    got = rhat_ess(x, tail_prob=0.89)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        want = (array_stats.rhat(x), array_stats.ess(x, method="bulk"), array_stats.ess(x, method="tail", prob=0.89))
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=RTOL, atol=0, equal_nan=True)
