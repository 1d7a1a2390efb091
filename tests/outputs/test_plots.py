"""Per-fit plots: trace envelope, reused figure layouts (same pixels as a new figure), cached rank tables."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from bayes_xmass.outputs import figures, plot_convergence, plot_fits
from bayes_xmass.outputs.report import plotted_scalar_vars

SEED = 20201


def _pixels(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGBA"))


def _fresh_layouts() -> None:
    figures.LAYOUTS.__dict__.pop("figures", None)


def _samples(rng, n_chains: int, n_draws: int, shift: float = 0.0) -> dict[str, np.ndarray]:
    return {
        "x": np.abs(rng.normal(1.0 + shift, 0.5, (n_chains, n_draws))),
        "norm_a": rng.normal(1.0, 0.1, (n_chains, n_draws)) + shift * np.arange(n_chains)[:, None],
        "energy_scale": rng.normal(1.0, 0.05, (n_chains, n_draws)),
    }


def _spectrum_inputs(rng, n_bins: int = 20) -> dict:
    edges = np.linspace(1.0, 15.0, n_bins + 1)
    expected = 200.0 * np.exp(-0.2 * edges[:-1])
    return {
        "edges": edges,
        "observed": rng.poisson(expected),
        "expected": expected,
        "ppc": rng.poisson(expected, (400, n_bins)),
        "signal": 5.0 * np.exp(-0.5 * edges[:-1]),
        "backgrounds": {"flat": np.full(n_bins, 5.0), "falling": expected - 5.0, "empty": np.zeros(n_bins)},
    }


def test_envelope_keeps_every_block_extreme():
    rng = np.random.default_rng(SEED)
    values = rng.normal(size=6001)
    values[4321] = 50.0  # a lone excursion
    idx, block = plot_convergence.envelope_indices(values, max_points=1000)
    assert block == 13 and np.all(np.diff(idx) > 0) and len(idx) <= 1000 + block
    full = len(values) // block * block
    blocks = values[:full].reshape(-1, block)
    kept = values[idx[idx < full]]
    assert np.allclose(np.sort(kept), np.sort(np.concatenate([blocks.min(axis=1), blocks.max(axis=1)])))
    assert 4321 in idx and set(range(full, len(values))) <= set(idx)
    assert np.array_equal(plot_convergence.envelope_indices(values[:900], max_points=1000)[0], np.arange(900))


def test_trace_title_names_the_envelope(tmp_path):
    rng = np.random.default_rng(SEED)
    n_draws = plot_convergence.TRACE_MAX_POINTS  # more than max_points / 2: blocks of 2 draws
    plot_convergence.plot_trace(_samples(rng, 2, n_draws), title="t", out=tmp_path / "t.png")
    fig, axes = figures.LAYOUTS.figures[("trace", 3, 2)]
    assert "min and max of every 2 draws" in axes[0, 1].get_title()
    plot_convergence.plot_trace(_samples(rng, 2, 500), title="t", out=tmp_path / "t2.png")
    assert axes[0, 1].get_title() == "trace (2 chains x 500 draws)"


@pytest.mark.filterwarnings("error::UserWarning")  # e.g. a log axis left from the previous plot
@pytest.mark.parametrize("kind", ["trace", "rank", "poi", "ppc", "spectrum"])
def test_reused_layout_draws_the_same_pixels_as_a_new_figure(tmp_path, kind):
    """The second plot drawn on a reused layout (after a plot with other data, extra markers and texts)
    is pixel-identical to the same plot on a new figure."""
    rng = np.random.default_rng(SEED)
    first, second = _plot_pair(kind, rng)
    _fresh_layouts()
    first(tmp_path / "first.png")
    second(tmp_path / "reused.png")
    _fresh_layouts()
    second(tmp_path / "fresh.png")
    reused, fresh = _pixels(tmp_path / "reused.png"), _pixels(tmp_path / "fresh.png")
    assert reused.shape == fresh.shape
    assert np.array_equal(reused, fresh)


def _plot_pair(kind: str, rng):
    """Two plots of ``kind`` with different data: the first with more artists (divergences, rejected
    rank test, profile and frequentist limit, ...) than the second."""
    if kind == "trace":
        a, b = _samples(rng, 3, 300), _samples(rng, 3, 200, shift=2.0)
        div = np.zeros((3, 300), dtype=bool)
        div[1, [5, 100]] = True
        return (
            lambda p: plot_convergence.plot_trace(a, title="A", out=p, diverging=div),
            lambda p: plot_convergence.plot_trace(b, title="B", out=p),
        )
    if kind == "rank":
        a, b = _samples(rng, 3, 200, shift=1.0), _samples(rng, 3, 150)  # chains of a disagree: rings
        return (
            lambda p: plot_convergence.plot_rank(a, title="A", out=p),
            lambda p: plot_convergence.plot_rank(b, title="B", out=p),
        )
    if kind == "poi":
        grid = np.linspace(0.0, 3.0, 30)
        return (
            lambda p: plot_fits.plot_poi_posterior(
                rng.gamma(2.0, 1.0, 4000),
                2.5,
                cl=0.9,
                unit="1e-11 μB",
                label="A",
                out=p,
                profile=(grid, np.exp(-grid)),
                freq_limit=2.8,
            ),
            lambda p: plot_fits.plot_poi_posterior(
                np.linspace(0.0, 1.0, 1000) ** 2, 0.8, cl=0.9, unit="e", label="B", out=p
            ),
        )
    s, t = _spectrum_inputs(rng), _spectrum_inputs(rng, 12)
    if kind == "ppc":

        def ppc(d, label):
            return lambda p: plot_fits.plot_ppc_spectrum(
                d["edges"],
                d["observed"],
                d["ppc"],
                d["expected"],
                d["signal"],
                label=label,
                out=p,
                exposure_kg_day=100.0,
            )

        return ppc(s, "A"), ppc(t, "B")

    def fit(d, label):
        return lambda p: plot_fits.plot_spectrum_fit(
            d["edges"], d["observed"], d["backgrounds"], d["signal"], label=label, exposure_kg_day=100.0, out=p
        )

    return fit(s, "A"), fit(t, "B")


def test_rank_tables_are_cached_and_read_only():
    pmf, cdf = plot_convergence.hypergeom_rank_tables(2, 50)
    assert plot_convergence.hypergeom_rank_tables(2, 50)[0] is pmf
    assert not pmf.flags.writeable and not cdf.flags.writeable
    assert np.allclose(pmf.sum(axis=1), 1.0) and np.allclose(cdf[:, -1], 1.0)


def test_trace_and_rank_plots_show_x_not_its_sampler_coordinates():
    """poi_quantile(_scaled) are monotone in x: identical ranks, the same trace on another axis."""
    import numpy as np
    import xarray as xr

    draws = np.zeros((2, 5))
    post = xr.Dataset(
        {
            name: (("chain", "draw"), draws)
            for name in ("x", "poi_quantile", "poi_quantile_scaled", "energy_scale", "coupling")
        }
    )
    post["gamma_z"] = (("chain", "draw", "energy_bin"), np.zeros((2, 5, 3)))
    assert plotted_scalar_vars(xr.DataTree.from_dict({"posterior": post})) == ["x", "energy_scale"]
    # a model without x (none here) keeps its POI coordinate in the plots
    alone = post.drop_vars("x")
    assert "poi_quantile" in plotted_scalar_vars(xr.DataTree.from_dict({"posterior": alone}))
