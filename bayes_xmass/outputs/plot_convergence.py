"""MCMC convergence plots (Agg backend, PNG): per-fit trace and rank (Δ-ECDF) plots with the multi-chain
rank uniformity test, and the R-hat / ESS overview of every fit of a run.

Trace and rank plots are drawn with plain matplotlib: arviz-plots' PlotCollection (one artist tree per
variable x chain, xarray dispatch per panel) and scipy's per-point hypergeometric CDF made these two plots
~2.5 s of every fit.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402
import numpy as np  # noqa: E402

from bayes_xmass.outputs.figures import margins_in, new_figure, reusable_figure, save_png  # noqa: E402

__all__ = [
    "RANK_TABLE_MAX_DRAWS",
    "RANK_XTICKS",
    "TRACE_MAX_POINTS",
    "envelope_indices",
    "hypergeom_rank_tables",
    "plot_diagnostics_overview",
    "plot_rank",
    "plot_trace",
    "rank_uniformity_test",
]


RANK_TABLE_MAX_DRAWS = 2000  # per chain; the tables hold (draws + 1)^2 doubles each


@lru_cache(maxsize=2)  # every fit of a run has the same chains x (thinned) draws: computed once
def hypergeom_rank_tables(n_chains: int, n_draws: int) -> tuple[np.ndarray, np.ndarray]:
    """pmf and cdf of hypergeom(M = n_chains * n_draws, n = n_draws, N = k_i) at x = 0..n_draws for the
    k_i = floor(i / (n_draws + 1) * M), i = 1..n_draws, of the multi-chain rank test (rows i, columns x).
    One log-factorial table instead of scipy's per-point evaluation (same values to ~1e-12). Read-only
    arrays (cached)."""
    from scipy.special import gammaln

    total = n_chains * n_draws
    z = np.arange(1, n_draws + 1) / (n_draws + 1)
    k = np.floor(z * total).astype(int)
    lf = gammaln(np.arange(total + 1) + 1.0)
    x = np.arange(n_draws + 1)
    other = total - n_draws
    kx = k[:, None] - x[None, :]
    ok = (kx >= 0) & (kx <= other)
    kxc = np.clip(kx, 0, other)
    log_pmf = (
        (lf[n_draws] - lf[x] - lf[n_draws - x])[None, :]
        + lf[other]
        - lf[kxc]
        - lf[other - kxc]
        - (lf[total] - lf[k] - lf[total - k])[:, None]
    )
    pmf = np.exp(np.where(ok, log_pmf, -np.inf))
    pmf /= pmf.sum(axis=1, keepdims=True)
    cdf = np.clip(np.cumsum(pmf, axis=1), 0.0, 1.0)
    pmf.setflags(write=False)
    cdf.setflags(write=False)
    return pmf, cdf


def _shapley_mean(values: np.ndarray, axis: int = -1) -> np.ndarray:
    """Closed-form Shapley contributions of each term to a mean (as arviz-stats)."""
    n = values.shape[axis]
    if n < 2:
        return np.zeros_like(values)
    harmonic = np.sum(1.0 / np.arange(1, n + 1))
    mean_others = (np.sum(values, axis=axis, keepdims=True) - values) / (n - 1)
    return values / n + (harmonic - 1) / n * (values - mean_others)


def rank_uniformity_test(frac_ranks: np.ndarray, tables=None) -> tuple[float, np.ndarray]:
    """Multi-chain rank uniformity test with Cauchy combination ("mtc_c" of arviz-stats /
    ``arviz.plot_rank``; Tesso & Vehtari 2026) on fractional ranks of shape (chain, draw).

    Returns the global p-value and a (draw, chain) mask of the points that drive a rejection
    (positive between- and within-chain Shapley contributions; all False unless p < 0.01 is applied
    by the caller)."""
    n_chains, n_draws = frac_ranks.shape
    z = np.arange(1, n_draws + 1) / (n_draws + 1)
    if tables is None and n_draws <= RANK_TABLE_MAX_DRAWS:
        tables = hypergeom_rank_tables(n_chains, n_draws)
    rows = np.arange(n_draws)
    gamma = np.empty((n_draws, n_chains))
    for j in range(n_chains):
        e = np.searchsorted(np.sort(frac_ranks[j]), z, side="right")
        if tables is not None:
            pmf, cdf = tables
            lower = cdf[rows, e] - 0.5 * pmf[rows, e]  # mid-p
        else:  # the tables would be draws^2 large: scipy per point (slow, as arviz-stats)
            from scipy.stats import hypergeom

            k = np.floor(z * n_chains * n_draws).astype(int)
            lower = hypergeom.cdf(e, n_chains * n_draws, n_draws, k) - 0.5 * hypergeom.pmf(
                e, n_chains * n_draws, n_draws, k
            )
        gamma[:, j] = 2.0 * np.minimum(lower, 1.0 - lower)
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        b = np.tan((0.5 - gamma) * np.pi)
        ps = 0.5 - np.arctan(b.mean(axis=1)) / np.pi
        w = np.tan((0.5 - ps) * np.pi)
        p_value = float(0.5 - np.arctan(w.mean()) / np.pi)
        suspicious = (_shapley_mean(b, axis=1) > 0) & (_shapley_mean(w)[:, None] > 0)
    return p_value, suspicious


_TICK_STEPS = [1, 2, 2.5, 5, 10]  # as matplotlib's AutoLocator


def _chain_colors(n_chains: int) -> list[str]:
    """Colour of each chain (matplotlib's default cycle)."""
    return [f"C{c % 10}" for c in range(n_chains)]


def _chain_legend(fig, colors) -> None:
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], color=c, lw=1.5) for c in colors]
    fig.legend(
        handles,
        [str(c) for c in range(len(colors))],
        title="chain",
        loc="upper right",
        bbox_to_anchor=(0.995, 0.998),
        ncols=min(len(colors), 8),
        fontsize=8,
        title_fontsize=8,
        frameon=False,
    )


# per chain and variable: 2 per block of draws, blocks of >= 1/2 px on the 551 px trace axis (fewer points make
# the dense band visibly lighter: each pixel column is then crossed by fewer segments)
TRACE_MAX_POINTS = 2200


def envelope_indices(values: np.ndarray, max_points: int = TRACE_MAX_POINTS) -> tuple[np.ndarray, int]:
    """Indices (in draw order) of the draws that a trace line of ``values`` (one chain) is drawn through
    if it has more than ``max_points`` draws: the minimum and the maximum of every block of ``block``
    consecutive draws (and every draw of a last, partial block). Every excursion is kept; with blocks
    narrower than a pixel each pixel column spans the same range as through every draw. Returns
    (indices, block); block 1 = every draw."""
    n = len(values)
    block = max(1, -(-2 * n // max(max_points, 2)))
    if block == 1:
        return np.arange(n), 1
    full = n // block * block
    starts = np.arange(0, full, block)
    blocks = np.asarray(values[:full]).reshape(-1, block)
    idx = np.concatenate([starts + blocks.argmin(axis=1), starts + blocks.argmax(axis=1), np.arange(full, n)])
    return np.unique(idx), block


def _trace_layout(n: int, n_chains: int):
    """Figure and (n, 2) axes of a trace plot of n variables and n_chains chains, everything but the data,
    the names and the titles: margins, tick styles and locators, spines, chain legend."""
    fig = new_figure((10, 1.25 * n + 1.0))
    axes = fig.subplots(n, 2, squeeze=False, gridspec_kw={"width_ratios": [1, 1.6]})
    margins_in(fig, left=0.15, right=0.15, top=0.75, bottom=0.45, hspace=0.5, wspace=0.75, nrows=n, ncols=2)
    for i, (ad, at) in enumerate(axes):
        ad.set_yticks([])
        ad.spines[["left", "right", "top"]].set_visible(False)
        for ax in (ad, at):  # few ticks: creating tick artists is most of the cost of drawing 2n panels
            ax.tick_params(labelsize=7, pad=2)
        ad.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(6, steps=_TICK_STEPS))
        at.yaxis.set_major_locator(matplotlib.ticker.MaxNLocator(3, steps=_TICK_STEPS))
        if i < n - 1:  # same draw axis in every row: ticks on the bottom one only
            at.xaxis.set_major_locator(matplotlib.ticker.NullLocator())
    axes[-1, 1].xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(8, steps=_TICK_STEPS, integer=True))
    axes[-1, 1].set_xlabel("draw", fontsize=8)
    axes[0, 0].set_title("posterior density per chain (KDE)", fontsize=9)
    _chain_legend(fig, _chain_colors(n_chains))
    return fig, axes


def plot_trace(
    samples: dict[str, np.ndarray], *, title: str, out: Path, diverging=None, overwrite: bool = False
) -> Path:
    """Per variable: the posterior density of each chain (left; arviz-stats KDE with boundary
    correction, as ``arviz.plot_trace_dist``, from every draw) and the trace of each chain (right;
    through the minimum and maximum of each block of draws, :func:`envelope_indices`, if there are
    more than ``TRACE_MAX_POINTS`` draws), chains by colour; divergent transitions, if any, as black
    ticks under both, at their draws. ``samples`` maps names to (chain, draw) arrays."""
    from arviz_stats.base import array_stats

    names = list(samples)
    n_chains, n_draws = np.shape(samples[names[0]]) if names else (0, 0)
    colors = _chain_colors(n_chains)
    fig, axes = reusable_figure(("trace", max(len(names), 1), n_chains), _trace_layout)
    div = None if diverging is None else np.asarray(diverging, dtype=bool)
    if div is not None and not div.any():
        div = None
    draws = np.arange(n_draws)
    block = 1
    for i, name in enumerate(names):
        a = np.asarray(samples[name], dtype=float)
        ad, at = axes[i]
        grid, pdf, _ = array_stats.kde(a, axis=-1)
        for c in range(n_chains):
            ad.plot(grid[c], pdf[c], color=colors[c], lw=1.2)
            kept, block = envelope_indices(a[c])
            at.plot(kept, a[c, kept], color=colors[c], lw=0.4)
        if div is not None:
            ad.plot(a[div], np.zeros(int(div.sum())), "|", color="k", ms=8)
            at.plot(draws[np.nonzero(div)[1]], np.full(int(div.sum()), np.min(a)), "|", color="k", ms=8)
        ad.set_xlabel(name, fontsize=9, labelpad=1)
        at.set_ylabel(name, fontsize=8)
        at.set_xlim(0, max(n_draws - 1, 1))
    axes[0, 1].set_title(
        f"trace ({n_chains} chains x {n_draws} draws"
        + (f"; lines through min and max of every {block} draws)" if block > 1 else ")")
        + ("; black ticks: divergences" if div is not None else ""),
        fontsize=9,
    )
    fig.suptitle(title, fontsize=10, x=0.02, ha="left")
    return save_png(fig, out, overwrite, dpi=100, tight=False, close=False)


RANK_XTICKS = ([0.0, 0.25, 0.5, 0.75, 1.0], ["0", "0.25", "0.5", "0.75", "1"])


def _rank_layout(n: int, n_chains: int):
    """Figure and axes grid (up to 4 columns) of a rank plot of n variables and n_chains chains, everything
    but the data, the names and the title: margins, ticks, spines, chain legend; unused cells hidden."""
    ncols = min(4, n)
    nrows = -(-n // ncols)
    fig = new_figure((3.2 * ncols, 2.0 * nrows + 0.7))
    axes = fig.subplots(nrows, ncols, squeeze=False)
    margins_in(fig, left=0.15, right=0.15, top=0.85, bottom=0.45, hspace=0.75, wspace=0.3, nrows=nrows, ncols=ncols)
    for ax in axes.flat[:n]:
        ax.set_yticks([])
        ax.spines[["left", "right", "top"]].set_visible(False)
        ax.set_xlabel("fractional ranks", fontsize=8, labelpad=1)
        ax.tick_params(labelsize=7, pad=2)
        ax.set_xticks(*RANK_XTICKS)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    _chain_legend(fig, _chain_colors(n_chains))
    return fig, axes


def plot_rank(
    samples: dict[str, np.ndarray], *, title: str, out: Path, alpha: float = 0.01, overwrite: bool = False
) -> Path:
    """Fractional-rank Δ-ECDF per chain (ranks over all chains; flat if the chains target the same
    posterior) with the p-value of the multi-chain uniformity test, as ``arviz.plot_rank``; for
    p < alpha the points that drive the rejection are ringed. ``samples`` maps names to (chain, draw)
    arrays."""
    names = list(samples)
    n_chains, n_draws = np.shape(samples[names[0]]) if names else (0, 0)
    fig, axes = reusable_figure(("rank", max(len(names), 1), n_chains), _rank_layout)
    tables = (
        hypergeom_rank_tables(n_chains, n_draws) if names and n_chains > 1 and n_draws <= RANK_TABLE_MAX_DRAWS else None
    )
    u = np.linspace(0.0, 1.0, n_draws)
    colors = _chain_colors(n_chains)
    eps_expected = np.sqrt(np.log(2 / alpha) / (2 * n_draws)) * 1.3 if n_draws else 1.0
    for i, name in enumerate(names):
        ax = axes.flat[i]
        a = np.asarray(samples[name], dtype=float)
        ranks = np.empty(a.size)
        ranks[np.argsort(a, axis=None)] = np.arange(1, a.size + 1)
        frac = (ranks / a.size).reshape(a.shape)
        decdf = np.array([np.searchsorted(np.sort(frac[c]), u, side="right") / n_draws - u for c in range(n_chains)])
        for c in range(n_chains):
            ax.step(u, decdf[c], where="pre", color=colors[c], lw=1.3)
        eps = max(eps_expected, float(np.max(np.abs(decdf))))
        if n_chains > 1:
            p, suspicious = rank_uniformity_test(frac, tables)
            if p < alpha:  # ring the points that drive the rejection (draw-aligned mask, as arviz)
                for c in range(n_chains):
                    sel = suspicious[:, c]
                    ax.plot(u[sel], decdf[c, sel], "o", ms=3, mfc="none", color="k")
            ax.text(
                0.0, 0.85 * eps, f"p={p:.2f} (α={alpha:.2f})", fontsize=8, color="C3" if p < alpha else "k", va="center"
            )
        ax.set_xlim(-0.03, 1.03)
        ax.set_ylim(-eps, eps)
        ax.set_title(name, fontsize=10)
    fig.suptitle(title, fontsize=10, x=0.02, ha="left")
    return save_png(fig, out, overwrite, dpi=100, tight=False, close=False)


def plot_diagnostics_overview(rows: list[dict], *, out: Path, overwrite: bool = False) -> Path:
    """Max R-hat and POI bulk ESS of every fit against their thresholds."""
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 0.35 * len(rows) + 1.8), sharey=True)
    y = np.arange(len(rows))
    a1.plot([r["rhat_max"] for r in rows], y, "o", label="max R-hat")
    a1.axvline(1.01, color="C3", ls="--", label="threshold 1.01")
    a1.set_xlabel("R-hat (rank-normalised) [1]")
    a1.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(4))
    a1.set_ylabel("fit")
    a1.set_yticks(y, [r["fit"] for r in rows], fontsize=7)
    a1.legend(fontsize=7)
    a2.plot([r["poi_ess_bulk"] for r in rows], y, "o", label="POI bulk ESS")
    a2.axvline(1000, color="C3", ls="--", label="threshold 1000")
    a2.set_xlabel("effective sample size [draws]")
    a2.legend(fontsize=7)
    for a in (a1, a2):
        a.grid(alpha=0.3)
    return save_png(fig, out, overwrite)
