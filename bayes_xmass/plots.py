"""Matplotlib figures (Agg backend, PNG). Every plot has axis labels with units and a legend."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.ticker  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from .io import write_with  # noqa: E402


def _save(fig, out: Path, overwrite: bool) -> Path:
    def writer(tmp):
        fig.savefig(tmp, format="png", dpi=120, bbox_inches="tight")

    try:
        return write_with(out, writer, overwrite)
    finally:
        plt.close(fig)


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


def plot_poi_posterior(samples, limit: float, *, cl: float, unit: str, label: str, out: Path,
                       profile: tuple[np.ndarray, np.ndarray] | None = None, freq_limit: float | None = None,
                       overwrite: bool = False) -> Path:
    """Marginal posterior of |coupling| with the credible limit marked; optionally the profile
    likelihood exp(-Delta chi2 / 2) (scaled to the posterior's peak) and the frequentist limit."""
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
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
    ax.grid(alpha=0.3)
    return _save(fig, out, overwrite)


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
    fig, (ax, axr) = plt.subplots(2, 1, figsize=(7, 5.5), sharex=True, gridspec_kw={"height_ratios": [3, 1]})
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
    ax.set_ylabel("rate [events / (keV kg day)]")
    ax.set_title(label)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    resid = (obs - q[2]) / np.sqrt(np.maximum(q[2], 1.0))
    axr.axhline(0, color="k", lw=0.8)
    axr.plot(centre, resid, "o", ms=2.5, color="k", label="(data - median) / sqrt(median)")
    axr.set_ylabel("residual [σ]")
    axr.set_xlabel("reconstructed energy [keV]")
    axr.legend(fontsize=7)
    axr.grid(alpha=0.3)
    return _save(fig, out, overwrite)


def save_plot_collection(pc, out: Path, overwrite: bool = False) -> Path:
    """Save an arviz-plots PlotCollection (matplotlib backend) atomically."""
    fig = getattr(pc.viz, "figure", None)
    fig = getattr(fig, "item", lambda: fig)() if fig is not None else None
    if hasattr(fig, "set_size_inches"):  # room between panel rows so titles do not overlap tick labels
        w, h = fig.get_size_inches()
        fig.set_size_inches(w, h * 1.35)
        fig.subplots_adjust(hspace=0.8)

    def writer(tmp):
        pc.savefig(tmp, format="png", dpi=100)

    try:
        return write_with(out, writer, overwrite)
    finally:
        plt.close("all")


def plot_spectrum_fit(edges, observed, backgrounds: dict[str, np.ndarray], signal_at_limit, *, label: str,
                      exposure_kg_day: float, out: Path, overwrite: bool = False) -> Path:
    """Data with stacked background components (posterior medians), the signal at the limit on top of
    the total, and residuals (data - total) / sqrt(total)."""
    edges = np.asarray(edges)
    width = np.diff(edges)
    centre = 0.5 * (edges[1:] + edges[:-1])
    norm = 1.0 / (exposure_kg_day * width)
    fig, (ax, axr) = plt.subplots(2, 1, figsize=(7.5, 6), sharex=True, gridspec_kw={"height_ratios": [3, 1]})
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
    ax.set_ylabel("rate [events / (keV kg day)]")
    ax.set_title(label)
    ax.legend(fontsize=7, ncol=2)
    ax.grid(alpha=0.3)
    resid = (obs - total) / np.sqrt(np.maximum(total, 1.0))
    axr.axhline(0, color="k", lw=0.8)
    axr.plot(centre, resid, "o", ms=2.5, color="k", label="(data - background) / sqrt(background)")
    axr.plot(centre, sig / np.sqrt(np.maximum(total, 1.0)), color="C3", lw=1.2, label="signal at the limit")
    axr.set_xlabel("reconstructed energy [keV]")
    axr.set_ylabel("residual [σ]")
    axr.legend(fontsize=7)
    axr.grid(alpha=0.3)
    return _save(fig, out, overwrite)


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
