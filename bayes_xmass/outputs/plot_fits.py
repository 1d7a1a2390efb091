"""Per-fit plots of data and model (Agg backend, PNG): POI posterior vs profile likelihood, observed
spectrum vs posterior predictive / background components (rates in events/(keV kg day)), and true-energy
recoil spectra. Every plot has axis labels with units and a legend."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from bayes_xmass.outputs.figures import margins_in, new_figure, reusable_figure, save_png  # noqa: E402

__all__ = ["plot_poi_posterior", "plot_ppc_spectrum", "plot_recoil_spectra", "plot_spectrum_fit"]


def plot_recoil_spectra(
    t_kev,
    curves: dict[str, np.ndarray],
    sm: np.ndarray,
    title: str,
    out: Path,
    overwrite: bool = False,
    unit_label: str = "events / (keV t yr)",
) -> Path:
    """Log-log plot of true-energy recoil spectra with the SM solar-neutrino rate for reference.

    Negative curves (destructive interference) are drawn as |rate| dashed.
    """
    fig, ax = plt.subplots(figsize=(7, 4.5))
    ax.plot(t_kev, sm, color="k", lw=2, label="SM solar ν (B16-GS98)")
    for label, y in curves.items():
        y = np.asarray(y)
        pos = np.where(y > 0, y, np.nan)
        (line,) = ax.plot(t_kev, pos, lw=1.5, label=label)
        if np.any(y < 0):
            ax.plot(
                t_kev,
                np.where(y < 0, -y, np.nan),
                lw=1.5,
                ls="--",
                color=line.get_color(),
                label=f"{label} (negative, |rate|)",
            )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("electron recoil energy T [keV]")
    ax.set_ylabel(f"dR/dT [{unit_label}]")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    return save_png(fig, out, overwrite)


def _poi_layout():
    """Figure and axes of the POI posterior plot, without data, labels or legend."""
    fig = new_figure((6.5, 4.2))
    ax = fig.subplots()
    margins_in(fig, left=0.75, right=0.2, top=0.35, bottom=0.6, hspace=0.0)
    ax.grid(alpha=0.3)
    return fig, ax


def plot_poi_posterior(
    samples,
    limit: float,
    *,
    cl: float,
    unit: str,
    label: str,
    out: Path,
    profile: tuple[np.ndarray, np.ndarray] | None = None,
    freq_limit: float | None = None,
    overwrite: bool = False,
) -> Path:
    """Marginal posterior of |coupling| with the credible limit marked; optionally the profile
    likelihood exp(-Delta chi2 / 2) (scaled to the posterior's peak) and the frequentist limit."""
    fig, ax = reusable_figure(("poi",), _poi_layout)
    samples = np.asarray(samples).ravel()
    ax.hist(samples, bins=80, density=True, histtype="stepfilled", alpha=0.35, color="C0", label="marginal posterior")
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
    return save_png(fig, out, overwrite, tight=False, close=False)


def _spectrum_layout(figsize: tuple[float, float]):
    """Figure and (spectrum, residual) axes, shared energy axis, and the fixed axis labels of the spectrum
    plots (:func:`plot_ppc_spectrum`, :func:`plot_spectrum_fit`; log rate scale set after the data)."""
    fig = new_figure(figsize)
    ax, axr = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    margins_in(fig, left=0.8, right=0.15, top=0.35, bottom=0.55, hspace=0.15, nrows=2)
    ax.set_ylabel("rate [events / (keV kg day)]")
    axr.set_ylabel("residual [σ]")
    axr.set_xlabel("reconstructed energy [keV]")
    for a in (ax, axr):
        a.grid(alpha=0.3)
    return fig, (ax, axr)


def plot_ppc_spectrum(
    edges,
    observed,
    ppc_counts,
    background_expected,
    signal_at_limit,
    *,
    label: str,
    out: Path,
    exposure_kg_day: float,
    overwrite: bool = False,
) -> Path:
    """Observed spectrum vs the posterior predictive (median and 68/95% bands), the background-only
    expectation and the signal at the limit; residuals below. Rates in events/(keV kg day)."""
    edges = np.asarray(edges)
    width = np.diff(edges)
    centre = 0.5 * (edges[1:] + edges[:-1])
    norm = 1.0 / (exposure_kg_day * width)
    obs = np.asarray(observed, dtype=float)
    q = np.percentile(np.asarray(ppc_counts), [2.5, 16, 50, 84, 97.5], axis=0)
    fig, (ax, axr) = reusable_figure(("spectrum", (7, 5.5)), _spectrum_layout)
    ax.fill_between(
        edges,
        np.append(q[0], q[0][-1]) * np.append(norm, norm[-1]),
        np.append(q[4], q[4][-1]) * np.append(norm, norm[-1]),
        step="post",
        color="C0",
        alpha=0.2,
        label="posterior predictive 95%",
    )
    ax.fill_between(
        edges,
        np.append(q[1], q[1][-1]) * np.append(norm, norm[-1]),
        np.append(q[3], q[3][-1]) * np.append(norm, norm[-1]),
        step="post",
        color="C0",
        alpha=0.35,
        label="posterior predictive 68%",
    )
    ax.stairs(np.asarray(background_expected) * norm, edges, color="k", lw=1, label="background (posterior median)")
    ax.stairs(
        np.clip(np.asarray(signal_at_limit), 1e-12, None) * norm,
        edges,
        color="C3",
        lw=1.5,
        label="signal at the credible limit",
    )
    ax.errorbar(centre, obs * norm, yerr=np.sqrt(np.maximum(obs, 1.0)) * norm, fmt="o", ms=2.5, color="k", label="data")
    ax.set_yscale("log")
    ax.set_title(label)
    ax.legend(fontsize=7)
    resid = (obs - q[2]) / np.sqrt(np.maximum(q[2], 1.0))
    axr.axhline(0, color="k", lw=0.8)
    axr.plot(centre, resid, "o", ms=2.5, color="k", label="(data - median) / sqrt(median)")
    axr.legend(fontsize=7)
    return save_png(fig, out, overwrite, tight=False, close=False)


def plot_spectrum_fit(
    edges,
    observed,
    backgrounds: dict[str, np.ndarray],
    signal_at_limit,
    *,
    label: str,
    exposure_kg_day: float,
    out: Path,
    overwrite: bool = False,
) -> Path:
    """Data with stacked background components (posterior medians), the signal at the limit on top of
    the total, and residuals (data - total) / sqrt(total)."""
    edges = np.asarray(edges)
    width = np.diff(edges)
    centre = 0.5 * (edges[1:] + edges[:-1])
    norm = 1.0 / (exposure_kg_day * width)
    fig, (ax, axr) = reusable_figure(("spectrum", (7.5, 6)), _spectrum_layout)
    order = sorted(backgrounds, key=lambda k: np.sum(backgrounds[k]))
    stack = np.zeros_like(centre, dtype=float)
    floor = 1e-7
    for name in order:
        new = stack + np.asarray(backgrounds[name])
        ax.fill_between(
            edges,
            np.append(np.maximum(stack, floor * 0), stack[-1]) * np.append(norm, norm[-1]),
            np.append(new, new[-1]) * np.append(norm, norm[-1]),
            step="post",
            alpha=0.6,
            label=name,
        )
        stack = new
    total = stack
    sig = np.asarray(signal_at_limit)
    ax.stairs((total + sig) * norm, edges, color="C3", lw=1.5, label="total + signal at the limit")
    obs = np.asarray(observed, dtype=float)
    ax.errorbar(centre, obs * norm, yerr=np.sqrt(np.maximum(obs, 1.0)) * norm, fmt="o", ms=2.5, color="k", label="data")
    ax.set_yscale("log")
    ax.set_ylim(bottom=max(floor, 0.3 * np.min(total[total > 0] * norm[total > 0])) if np.any(total > 0) else floor)
    ax.set_title(label)
    ax.legend(fontsize=7, ncol=2)
    resid = (obs - total) / np.sqrt(np.maximum(total, 1.0))
    axr.axhline(0, color="k", lw=0.8)
    axr.plot(centre, resid, "o", ms=2.5, color="k", label="(data - background) / sqrt(background)")
    axr.plot(centre, sig / np.sqrt(np.maximum(total, 1.0)), color="C3", lw=1.2, label="signal at the limit")
    axr.legend(fontsize=7)
    return save_png(fig, out, overwrite, tight=False, close=False)
