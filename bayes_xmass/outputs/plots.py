"""Matplotlib figures (Agg backend, PNG). Every plot has axis labels with units and a legend."""

from __future__ import annotations

import threading
from functools import lru_cache
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.ticker  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from bayes_xmass.runtime.io import write_with  # noqa: E402


PNG_COMPRESS_LEVEL = 1  # zlib level of the PNG files: lossless at every level; 6 (zlib's default) is ~2x slower
# rendering settings of every figure: unhinted glyphs (FreeType hinting is ~40% of the time of drawing
# the ~300 texts of one fit's plots; the text stays as legible at these sizes and dpi)
RENDER_RC = {"text.hinting": "no_hinting"}


def _save(fig, out: Path, overwrite: bool, dpi: int = 120, tight: bool = True, close: bool = True) -> Path:
    """Write ``fig`` as PNG atomically and close it (pyplot figures; ``close=False`` for the reused
    figures of :func:`_reusable_figure`). ``tight=False`` for figures with fixed margins
    (:func:`_margins_in`): bbox_inches="tight" costs an extra layout pass over every text."""
    def writer(tmp):
        with matplotlib.rc_context(RENDER_RC):
            fig.savefig(tmp, format="png", dpi=dpi, bbox_inches="tight" if tight else None,
                        pil_kwargs={"compress_level": PNG_COMPRESS_LEVEL})

    try:
        return write_with(out, writer, overwrite)
    finally:
        if close:
            plt.close(fig)


def _new_figure(figsize):
    """A figure outside pyplot (no figure manager; closed by dropping it) with an Agg canvas."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize)
    FigureCanvasAgg(fig)
    return fig


# Layouts of the per-fit plots, kept for the next plot with the same panels (every fit of a run: same
# variables and chains): creating the axes and their ticks, and the first layout of their labels, is
# about a third of the time of such a plot. A layout holds no data, no data limits and no per-fit text.
# Per thread: a figure is never drawn by two threads at once.
_LAYOUTS = threading.local()
MAX_LAYOUTS = 8


def _reusable_figure(key: tuple, build):
    """``build(*key[1:])`` -> (fig, axes), or the same figure as at the previous call with this ``key``
    reset to what ``build`` made (:func:`_clear_data`): data artists and axes legends removed, data limits
    emptied, autoscaling on, linear scales. Axes, ticks, fixed labels and figure legends are kept; the
    caller sets the data, scales, limits, titles and legends of each plot anew."""
    layouts = _LAYOUTS.__dict__.setdefault("figures", {})
    cached = layouts.pop(key, None)
    if cached is None:
        cached = build(*key[1:])
    else:
        for ax in cached[0].axes:
            _clear_data(ax)
    layouts[key] = cached  # most recently used last
    while len(layouts) > MAX_LAYOUTS:
        layouts.pop(next(iter(layouts)))
    return cached


def _clear_data(ax) -> None:
    """Remove what plotting added to ``ax``; reset its data limits, autoscaling, scales (linear) and colour
    cycle, as for a new axes (a scale is set after the data: a log axis warns of data without positive
    values when the first artist has none)."""
    for container in list(ax.containers):
        container.remove()
    for artist in [*ax.lines, *ax.texts, *ax.collections, *ax.patches, *ax.images]:
        artist.remove()
    if ax.get_legend() is not None:
        ax.get_legend().remove()
    ax.relim()
    ax.set_autoscale_on(True)
    ax.set_prop_cycle(None)
    if ax.get_xscale() != "linear":  # setting a scale resets the axis' locators: only if needed
        ax.set_xscale("linear")
    if ax.get_yscale() != "linear":
        ax.set_yscale("linear")


def plot_recoil_spectra(t_kev, curves: dict[str, np.ndarray], sm: np.ndarray, title: str, out: Path,
                        overwrite: bool = False, unit_label: str = "events / (keV t yr)") -> Path:
    """Log-log plot of true-energy recoil spectra with the SM solar-neutrino rate for reference.

    Negative curves (destructive interference) are drawn as |rate| dashed.
    """
    fig, ax = plt.subplots(figsize=(7, 4.5))
    ax.plot(t_kev, sm, color="k", lw=2, label="SM solar ν (B16-GS98)")
    for label, y in curves.items():
        y = np.asarray(y)
        pos = np.where(y > 0, y, np.nan)
        line, = ax.plot(t_kev, pos, lw=1.5, label=label)
        if np.any(y < 0):
            ax.plot(t_kev, np.where(y < 0, -y, np.nan), lw=1.5, ls="--", color=line.get_color(),
                    label=f"{label} (negative, |rate|)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("electron recoil energy T [keV]")
    ax.set_ylabel(f"dR/dT [{unit_label}]")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, out, overwrite)


def _poi_layout():
    """Figure and axes of the POI posterior plot, without data, labels or legend."""
    fig = _new_figure((6.5, 4.2))
    ax = fig.subplots()
    _margins_in(fig, left=0.75, right=0.2, top=0.35, bottom=0.6, hspace=0.0)
    ax.grid(alpha=0.3)
    return fig, ax


def plot_poi_posterior(samples, limit: float, *, cl: float, unit: str, label: str, out: Path,
                       profile: tuple[np.ndarray, np.ndarray] | None = None, freq_limit: float | None = None,
                       overwrite: bool = False) -> Path:
    """Marginal posterior of |coupling| with the credible limit marked; optionally the profile
    likelihood exp(-Delta chi2 / 2) (scaled to the posterior's peak) and the frequentist limit."""
    fig, ax = _reusable_figure(("poi",), _poi_layout)
    samples = np.asarray(samples).ravel()
    ax.hist(samples, bins=80, density=True, histtype="stepfilled", alpha=0.35, color="C0",
            label="marginal posterior")
    ax.axvline(limit, color="C0", lw=2, label=f"{cl:.0%} credible limit {limit:.3g}")
    if profile is not None:
        grid, like = profile
        dens, _ = np.histogram(samples, bins=80, density=True)
        ax.plot(grid, like * dens.max(), color="C3", lw=2, label="profile likelihood exp(-Δχ²/2) (scaled)")
    if freq_limit is not None:
        ax.axvline(freq_limit, color="C3", ls="--", lw=2, label=f"Δχ² = 2.71 limit {freq_limit:.3g}")
    ax.set_xlabel(f"|coupling| [{unit}]")
    ax.set_ylabel(f"posterior density [1/{unit}]")
    ax.set_title(label)
    ax.legend(fontsize=8)
    return _save(fig, out, overwrite, tight=False, close=False)


def _spectrum_layout(figsize: tuple[float, float]):
    """Figure and (spectrum, residual) axes, shared energy axis, and the fixed axis labels of the spectrum
    plots (:func:`plot_ppc_spectrum`, :func:`plot_spectrum_fit`; log rate scale set after the data)."""
    fig = _new_figure(figsize)
    ax, axr = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    _margins_in(fig, left=0.8, right=0.15, top=0.35, bottom=0.55, hspace=0.15, nrows=2)
    ax.set_ylabel("rate [events / (keV kg day)]")
    axr.set_ylabel("residual [σ]")
    axr.set_xlabel("reconstructed energy [keV]")
    for a in (ax, axr):
        a.grid(alpha=0.3)
    return fig, (ax, axr)


def plot_ppc_spectrum(edges, observed, ppc_counts, background_expected, signal_at_limit, *, label: str,
                      out: Path, exposure_kg_day: float, overwrite: bool = False) -> Path:
    """Observed spectrum vs the posterior predictive (median and 68/95% bands), the background-only
    expectation and the signal at the limit; residuals below. Rates in events/(keV kg day)."""
    edges = np.asarray(edges)
    width = np.diff(edges)
    centre = 0.5 * (edges[1:] + edges[:-1])
    norm = 1.0 / (exposure_kg_day * width)
    obs = np.asarray(observed, dtype=float)
    q = np.percentile(np.asarray(ppc_counts), [2.5, 16, 50, 84, 97.5], axis=0)
    fig, (ax, axr) = _reusable_figure(("spectrum", (7, 5.5)), _spectrum_layout)
    ax.fill_between(edges, np.append(q[0], q[0][-1]) * np.append(norm, norm[-1]),
                    np.append(q[4], q[4][-1]) * np.append(norm, norm[-1]), step="post", color="C0", alpha=0.2,
                    label="posterior predictive 95%")
    ax.fill_between(edges, np.append(q[1], q[1][-1]) * np.append(norm, norm[-1]),
                    np.append(q[3], q[3][-1]) * np.append(norm, norm[-1]), step="post", color="C0", alpha=0.35,
                    label="posterior predictive 68%")
    ax.stairs(np.asarray(background_expected) * norm, edges, color="k", lw=1, label="background (posterior median)")
    ax.stairs(np.clip(np.asarray(signal_at_limit), 1e-12, None) * norm, edges, color="C3", lw=1.5,
              label="signal at the credible limit")
    ax.errorbar(centre, obs * norm, yerr=np.sqrt(np.maximum(obs, 1.0)) * norm, fmt="o", ms=2.5, color="k",
                label="data")
    ax.set_yscale("log")
    ax.set_title(label)
    ax.legend(fontsize=7)
    resid = (obs - q[2]) / np.sqrt(np.maximum(q[2], 1.0))
    axr.axhline(0, color="k", lw=0.8)
    axr.plot(centre, resid, "o", ms=2.5, color="k", label="(data - median) / sqrt(median)")
    axr.legend(fontsize=7)
    return _save(fig, out, overwrite, tight=False, close=False)


def plot_spectrum_fit(edges, observed, backgrounds: dict[str, np.ndarray], signal_at_limit, *, label: str,
                      exposure_kg_day: float, out: Path, overwrite: bool = False) -> Path:
    """Data with stacked background components (posterior medians), the signal at the limit on top of
    the total, and residuals (data - total) / sqrt(total)."""
    edges = np.asarray(edges)
    width = np.diff(edges)
    centre = 0.5 * (edges[1:] + edges[:-1])
    norm = 1.0 / (exposure_kg_day * width)
    fig, (ax, axr) = _reusable_figure(("spectrum", (7.5, 6)), _spectrum_layout)
    order = sorted(backgrounds, key=lambda k: np.sum(backgrounds[k]))
    stack = np.zeros_like(centre, dtype=float)
    floor = 1e-7
    for name in order:
        new = stack + np.asarray(backgrounds[name])
        ax.fill_between(edges, np.append(np.maximum(stack, floor * 0), stack[-1]) * np.append(norm, norm[-1]),
                        np.append(new, new[-1]) * np.append(norm, norm[-1]), step="post", alpha=0.6, label=name)
        stack = new
    total = stack
    sig = np.asarray(signal_at_limit)
    ax.stairs((total + sig) * norm, edges, color="C3", lw=1.5, label="total + signal at the limit")
    obs = np.asarray(observed, dtype=float)
    ax.errorbar(centre, obs * norm, yerr=np.sqrt(np.maximum(obs, 1.0)) * norm, fmt="o", ms=2.5, color="k",
                label="data")
    ax.set_yscale("log")
    ax.set_ylim(bottom=max(floor, 0.3 * np.min(total[total > 0] * norm[total > 0])) if np.any(total > 0) else floor)
    ax.set_title(label)
    ax.legend(fontsize=7, ncol=2)
    resid = (obs - total) / np.sqrt(np.maximum(total, 1.0))
    axr.axhline(0, color="k", lw=0.8)
    axr.plot(centre, resid, "o", ms=2.5, color="k", label="(data - background) / sqrt(background)")
    axr.plot(centre, sig / np.sqrt(np.maximum(total, 1.0)), color="C3", lw=1.2, label="signal at the limit")
    axr.legend(fontsize=7)
    return _save(fig, out, overwrite, tight=False, close=False)


def plot_exclusion(masses, bayes, freq, *, published: dict[float, float], cl: float, out: Path,
                   expected: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None, flagged=None,
                   overwrite: bool = False) -> Path:
    """B-L exclusion curve: coupling g vs mediator mass (log-log), Bayesian and frequentist; masses
    whose posterior failed the convergence checks (``flagged``) are ringed in red."""
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    if flagged is not None and bayes is not None and np.any(flagged):
        sel = np.asarray(flagged, dtype=bool)
        ax.plot(np.asarray(masses)[sel], np.asarray(bayes)[sel], "o", ms=12, mfc="none", mec="red",
                label="posterior diagnostics flagged")
    if expected is not None:
        lo, med, hi = expected
        ax.fill_between(masses, lo, hi, color="0.85", label="expected ±1σ (frequentist)")
        ax.plot(masses, med, color="0.5", ls=":", label="expected median (frequentist)")
    if bayes is not None:
        ax.plot(masses, bayes, "o-", color="C0", label=f"{cl:.0%} credible limit (this work)")
    ax.plot(masses, freq, "s--", color="C3", label="Δχ² = 2.71 limit (this work)")
    if published:
        ax.plot(list(published), list(published.values()), "*", ms=14, color="k",
                label="XMASS-I published (PLB 809 (2020) 135741)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("mediator mass M [MeV]")
    ax.set_ylabel("coupling g_B-L [dimensionless]")
    ax.xaxis.set_major_locator(matplotlib.ticker.LogLocator(numticks=8))
    ax.set_title("U(1)_B-L: excluded above the curves")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, out, overwrite)


def plot_millicharge_summary(rows: list[dict], *, out: Path, overwrite: bool = False) -> Path:
    """Millicharge limits per flavour set and sign: Bayesian and frequentist vs XMASS."""
    fig, ax = plt.subplots(figsize=(7, 4.2))
    labels = [r["fit"].replace("millicharge_", "") for r in rows]
    y = np.arange(len(rows))
    ax.plot([r["bayes"] for r in rows], y, "o", color="C0", label="90% credible limit")
    ax.plot([r["freq_xmass"] for r in rows], y, "s", mfc="none", color="C3", label="Δχ² = 2.71 limit")
    pubs = [r["published"] for r in rows]
    ax.plot([p if p else np.nan for p in pubs], y, "*", ms=11, color="k", label="XMASS-I published (|q|)")
    ax.set_yticks(y, labels)
    ax.set_ylabel("charged flavours, sign of q")
    ax.set_xscale("log")
    ax.set_xlabel("|q_ν| upper limit [e]")
    ax.set_title("neutrino millicharge: flavour set and sign (q in units of e > 0)")
    ax.grid(True, which="both", axis="x", alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, out, overwrite)


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
    return _save(fig, out, overwrite)


def plot_sbc_ranks(ranks: np.ndarray, rank_max: int, parameters: list[str], *, n_bins: int, title: str, out: Path,
                   overwrite: bool = False) -> Path:
    """SBC: rank histogram per parameter with the 99% band of a uniform histogram (top) and the
    ECDF difference of the fractional ranks with the 95% KS band (bottom)."""
    from scipy import stats

    n, k = ranks.shape
    fig, axes = plt.subplots(2, k, figsize=(2.6 * k + 0.6, 5.0), squeeze=False)
    expected = n / n_bins
    lo, hi = stats.binom.ppf([0.005, 0.995], n, 1.0 / n_bins)
    u_grid = np.linspace(0.0, 1.0, 201)
    ks_band = stats.kstwo.ppf(0.95, n)
    for j, name in enumerate(parameters):
        r = ranks[:, j]
        a = axes[0, j]
        a.hist(r, bins=np.linspace(0, rank_max + 1, n_bins + 1), color="C0", alpha=0.7, label="replicas")
        a.axhspan(lo, hi, color="0.8", alpha=0.6, label="99% band (uniform)")
        a.axhline(expected, color="k", lw=0.8)
        a.set_title(name, fontsize=9)
        a.set_xlabel(f"rank of true value [0..{rank_max}]")
        a.set_ylabel("replicas [1]")
        b = axes[1, j]
        frac = np.sort((r + 0.5) / (rank_max + 1))
        ecdf = np.searchsorted(frac, u_grid, side="right") / n
        b.plot(u_grid, ecdf - u_grid, color="C0", label="ECDF − uniform")
        b.fill_between(u_grid, -ks_band, ks_band, color="0.8", alpha=0.6, label="95% KS band")
        b.set_xlabel("fractional rank [1]")
        b.set_ylabel("ECDF difference [1]")
        for ax in (a, b):
            ax.grid(alpha=0.3)
    axes[0, 0].legend(fontsize=7)
    axes[1, 0].legend(fontsize=7)
    fig.suptitle(f"{title} ({n} replicas)", fontsize=10)
    fig.tight_layout()
    return _save(fig, out, overwrite)


def plot_coverage(result: dict, *, out: Path, overwrite: bool = False) -> Path:
    """Coverage of each limit vs the true coupling, 68% Clopper-Pearson error bars, nominal lines."""
    rows = result["rows"]
    x = np.array([r["true_coupling"] for r in rows])
    fig, ax = plt.subplots(figsize=(6.5, 4.0))
    styles = {"bayes": ("Bayesian credible", "C0", "o"), "xmass": ("Δχ² = 2.71", "C1", "s"),
              "one_sided": ("one-sided Δχ² = 1.64", "C2", "^")}
    offsets = {"bayes": -0.01, "xmass": 0.0, "one_sided": 0.01}
    span = (np.max(np.abs(x)) or 1.0)
    for key, (label, color, marker) in styles.items():
        vals = [(r["true_coupling"], r[f"coverage_{key}"], r.get(f"coverage_{key}_lo", r[f"coverage_{key}"]),
                 r.get(f"coverage_{key}_hi", r[f"coverage_{key}"])) for r in rows
                if r.get(f"coverage_{key}") is not None]
        if not vals:
            continue
        xs, ys, lo, hi = map(np.array, zip(*vals))
        ax.errorbar(xs + offsets[key] * span, ys, yerr=[ys - lo, hi - ys], fmt=marker, color=color, label=label,
                    capsize=3)
        ax.axhline(result["nominal"][key], color=color, ls="--", lw=0.8)
    ax.set_xlabel(f"true coupling [{result['coupling_unit']}]")
    ax.set_ylabel("coverage (limit ≥ true value) [1]")
    ax.set_title(f"coverage of {result['cl']:.0%} upper limits: {result['fit']} (dashed: nominal)", fontsize=9)
    ax.set_ylim(min(0.6, ax.get_ylim()[0]), 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return _save(fig, out, overwrite)


# -- MCMC diagnostics: trace and rank plots -------------------------------------------------------------------
# Drawn with plain matplotlib: arviz-plots' PlotCollection (one artist tree per variable x chain, xarray
# dispatch per panel) and scipy's per-point hypergeometric CDF made these two plots ~2.5 s of every fit.

RANK_TABLE_MAX_DRAWS = 2000  # per chain; the tables hold (draws + 1)^2 doubles each


@lru_cache(maxsize=2)  # every fit of a run has the same chains x (thinned) draws: computed once
def _hypergeom_tables(n_chains: int, n_draws: int) -> tuple[np.ndarray, np.ndarray]:
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
    log_pmf = ((lf[n_draws] - lf[x] - lf[n_draws - x])[None, :] + lf[other] - lf[kxc] - lf[other - kxc]
               - (lf[total] - lf[k] - lf[total - k])[:, None])
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
        tables = _hypergeom_tables(n_chains, n_draws)
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
            lower = hypergeom.cdf(e, n_chains * n_draws, n_draws, k) - 0.5 * hypergeom.pmf(e, n_chains * n_draws,
                                                                                           n_draws, k)
        gamma[:, j] = 2.0 * np.minimum(lower, 1.0 - lower)
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        b = np.tan((0.5 - gamma) * np.pi)
        ps = 0.5 - np.arctan(b.mean(axis=1)) / np.pi
        w = np.tan((0.5 - ps) * np.pi)
        p_value = float(0.5 - np.arctan(w.mean()) / np.pi)
        suspicious = (_shapley_mean(b, axis=1) > 0) & (_shapley_mean(w)[:, None] > 0)
    return p_value, suspicious


_TICK_STEPS = [1, 2, 2.5, 5, 10]  # as matplotlib's AutoLocator


def _margins_in(fig, *, left: float, right: float, top: float, bottom: float, hspace: float,
                wspace: float = 0.0, nrows: int = 1, ncols: int = 1) -> None:
    """subplots_adjust with margins and gaps in inches (fixed layout: no layout engine and no
    bbox_inches="tight", each of which costs an extra pass over every text of a many-panel figure)."""
    w, h = fig.get_size_inches()
    ax_h = (h - top - bottom - hspace * (nrows - 1)) / nrows
    ax_w = (w - left - right - wspace * (ncols - 1)) / ncols
    fig.subplots_adjust(left=left / w, right=1 - right / w, top=1 - top / h, bottom=bottom / h,
                        hspace=hspace / ax_h, wspace=wspace / ax_w if ncols > 1 else 0.2)


def _chain_colors(n_chains: int) -> list[str]:
    """Colour of each chain (matplotlib's default cycle)."""
    return [f"C{c % 10}" for c in range(n_chains)]


def _chain_legend(fig, colors) -> None:
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], color=c, lw=1.5) for c in colors]
    fig.legend(handles, [str(c) for c in range(len(colors))], title="chain", loc="upper right",
               bbox_to_anchor=(0.995, 0.998), ncols=min(len(colors), 8), fontsize=8, title_fontsize=8,
               frameon=False)


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
    fig = _new_figure((10, 1.25 * n + 1.0))
    axes = fig.subplots(n, 2, squeeze=False, gridspec_kw={"width_ratios": [1, 1.6]})
    _margins_in(fig, left=0.15, right=0.15, top=0.75, bottom=0.45, hspace=0.5, wspace=0.75, nrows=n, ncols=2)
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


def plot_trace(samples: dict[str, np.ndarray], *, title: str, out: Path, diverging=None,
               overwrite: bool = False) -> Path:
    """Per variable: the posterior density of each chain (left; arviz-stats KDE with boundary
    correction, as ``arviz.plot_trace_dist``, from every draw) and the trace of each chain (right;
    through the minimum and maximum of each block of draws, :func:`envelope_indices`, if there are
    more than ``TRACE_MAX_POINTS`` draws), chains by colour; divergent transitions, if any, as black
    ticks under both, at their draws. ``samples`` maps names to (chain, draw) arrays."""
    from arviz_stats.base import array_stats

    names = list(samples)
    n_chains, n_draws = np.shape(samples[names[0]]) if names else (0, 0)
    colors = _chain_colors(n_chains)
    fig, axes = _reusable_figure(("trace", max(len(names), 1), n_chains), _trace_layout)
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
    axes[0, 1].set_title(f"trace ({n_chains} chains x {n_draws} draws"
                         + (f"; lines through min and max of every {block} draws)" if block > 1 else ")")
                         + ("; black ticks: divergences" if div is not None else ""), fontsize=9)
    fig.suptitle(title, fontsize=10, x=0.02, ha="left")
    return _save(fig, out, overwrite, dpi=100, tight=False, close=False)


RANK_XTICKS = ([0.0, 0.25, 0.5, 0.75, 1.0], ["0", "0.25", "0.5", "0.75", "1"])


def _rank_layout(n: int, n_chains: int):
    """Figure and axes grid (up to 4 columns) of a rank plot of n variables and n_chains chains, everything
    but the data, the names and the title: margins, ticks, spines, chain legend; unused cells hidden."""
    ncols = min(4, n)
    nrows = -(-n // ncols)
    fig = _new_figure((3.2 * ncols, 2.0 * nrows + 0.7))
    axes = fig.subplots(nrows, ncols, squeeze=False)
    _margins_in(fig, left=0.15, right=0.15, top=0.85, bottom=0.45, hspace=0.75, wspace=0.3, nrows=nrows,
                ncols=ncols)
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


def plot_rank(samples: dict[str, np.ndarray], *, title: str, out: Path, alpha: float = 0.01,
              overwrite: bool = False) -> Path:
    """Fractional-rank Δ-ECDF per chain (ranks over all chains; flat if the chains target the same
    posterior) with the p-value of the multi-chain uniformity test, as ``arviz.plot_rank``; for
    p < alpha the points that drive the rejection are ringed. ``samples`` maps names to (chain, draw)
    arrays."""
    names = list(samples)
    n_chains, n_draws = np.shape(samples[names[0]]) if names else (0, 0)
    fig, axes = _reusable_figure(("rank", max(len(names), 1), n_chains), _rank_layout)
    tables = (_hypergeom_tables(n_chains, n_draws) if names and n_chains > 1 and n_draws <= RANK_TABLE_MAX_DRAWS
              else None)
    u = np.linspace(0.0, 1.0, n_draws)
    colors = _chain_colors(n_chains)
    eps_expected = np.sqrt(np.log(2 / alpha) / (2 * n_draws)) * 1.3 if n_draws else 1.0
    for i, name in enumerate(names):
        ax = axes.flat[i]
        a = np.asarray(samples[name], dtype=float)
        ranks = np.empty(a.size)
        ranks[np.argsort(a, axis=None)] = np.arange(1, a.size + 1)
        frac = (ranks / a.size).reshape(a.shape)
        decdf = np.array([np.searchsorted(np.sort(frac[c]), u, side="right") / n_draws - u
                          for c in range(n_chains)])
        for c in range(n_chains):
            ax.step(u, decdf[c], where="pre", color=colors[c], lw=1.3)
        eps = max(eps_expected, float(np.max(np.abs(decdf))))
        if n_chains > 1:
            p, suspicious = rank_uniformity_test(frac, tables)
            if p < alpha:  # ring the points that drive the rejection (draw-aligned mask, as arviz)
                for c in range(n_chains):
                    sel = suspicious[:, c]
                    ax.plot(u[sel], decdf[c, sel], "o", ms=3, mfc="none", color="k")
            ax.text(0.0, 0.85 * eps, f"p={p:.2f} (α={alpha:.2f})", fontsize=8,
                    color="C3" if p < alpha else "k", va="center")
        ax.set_xlim(-0.03, 1.03)
        ax.set_ylim(-eps, eps)
        ax.set_title(name, fontsize=10)
    fig.suptitle(title, fontsize=10, x=0.02, ha="left")
    return _save(fig, out, overwrite, dpi=100, tight=False, close=False)
