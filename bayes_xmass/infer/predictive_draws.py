"""Predictive draws of a posterior or prior: replicated counts and the per-bin deterministics.

The per-bin deterministics (expected counts, signal counts) are not stored per NUTS draw
(:data:`bayes_xmass.infer.posterior_sampler.HEAVY_DETERMINISTICS`); :func:`heavy_values` recomputes
them for the thinned draws that need them, from the model's own graph and its current pm.Data.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["PPC_DRAWS", "heavy_values", "predictive_draws"]

PPC_DRAWS = 500  # posterior predictive draws kept per fit (thinned from the NUTS draws)


def predictive_draws(
    model: Any, lazy: dict[str, Any], likelihood: str, draws: Any, data: dict[str, Any], seed: int, thin: bool
) -> Any:
    """Replicated counts drawn from the expected counts of posterior (thinned to ~PPC_DRAWS) or
    prior draws: Poisson(expected), or Normal(expected, sigma) for the chi-square likelihood."""
    import xarray as xr

    n = draws.sizes["chain"] * draws.sizes["draw"]
    step = max(1, n // PPC_DRAWS) if thin else 1
    sub = draws.isel(draw=slice(None, None, step))
    sub = sub[["expected", "signal_expected"]] if "expected" in sub else heavy_values(model, lazy, sub)
    rng = np.random.default_rng(seed)
    mu = sub["expected"].values
    if likelihood == "poisson":
        counts = rng.poisson(mu)
    else:
        counts = rng.normal(mu, data["chi2_sigma"])
    return xr.Dataset(
        {
            "counts": (sub["expected"].dims, counts),
            "expected": sub["expected"],
            "signal_expected": sub["signal_expected"],
        }
    )


def heavy_values(model: Any, lazy: dict[str, Any], draws: Any) -> Any:
    """``expected`` and ``signal_expected`` (counts per bin) at each draw of the free variables,
    from the model's own graph with the current pm.Data (compiled once per model)."""
    import pytensor
    import xarray as xr
    from pytensor.graph.replace import graph_replace

    if "heavy_fn" not in lazy:
        rvs = list(model.free_RVs)
        inputs = [rv.type(name=rv.name) for rv in rvs]
        outs = graph_replace([model["expected"], model["signal_expected"]], dict(zip(rvs, inputs)), strict=False)
        lazy["heavy_fn"] = (
            [rv.name for rv in rvs],
            pytensor.function(inputs, outs, on_unused_input="ignore"),
        )
    names, fn = lazy["heavy_fn"]
    n_chain, n_draw = draws.sizes["chain"], draws.sizes["draw"]
    values = [draws[name].values for name in names]
    out = np.empty((2, n_chain, n_draw, len(model.coords["energy_bin"])))
    for c in range(n_chain):
        for d in range(n_draw):
            out[:, c, d] = fn(*[v[c, d] for v in values])
    dims = ("chain", "draw", "energy_bin")
    coords = {
        "chain": draws["chain"].values,
        "draw": draws["draw"].values,
        "energy_bin": np.asarray(model.coords["energy_bin"]),
    }
    return xr.Dataset({"expected": (dims, out[0]), "signal_expected": (dims, out[1])}, coords=coords)
