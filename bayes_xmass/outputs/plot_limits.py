"""Run-level limit plots (Agg backend, PNG): the B-L exclusion curve (coupling vs mediator mass, MeV)
and the millicharge limits per flavour set and sign (units of e)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402
import numpy as np  # noqa: E402

from bayes_xmass.outputs.figures import save_png  # noqa: E402

__all__ = ["plot_exclusion", "plot_millicharge_summary"]


def plot_exclusion(
    masses,
    bayes,
    freq,
    *,
    published: dict[float, float],
    cl: float,
    out: Path,
    expected: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
    flagged=None,
    overwrite: bool = False,
) -> Path:
    """B-L exclusion curve: coupling g vs mediator mass (log-log), Bayesian and frequentist; masses
    whose posterior failed the convergence checks (``flagged``) are ringed in red."""
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    if flagged is not None and bayes is not None and np.any(flagged):
        sel = np.asarray(flagged, dtype=bool)
        ax.plot(
            np.asarray(masses)[sel],
            np.asarray(bayes)[sel],
            "o",
            ms=12,
            mfc="none",
            mec="red",
            label="posterior diagnostics flagged",
        )
    if expected is not None:
        lo, med, hi = expected
        ax.fill_between(masses, lo, hi, color="0.85", label="expected ±1σ (frequentist)")
        ax.plot(masses, med, color="0.5", ls=":", label="expected median (frequentist)")
    if bayes is not None:
        ax.plot(masses, bayes, "o-", color="C0", label=f"{cl:.0%} credible limit (this work)")
    ax.plot(masses, freq, "s--", color="C3", label="Δχ² = 2.71 limit (this work)")
    if published:
        ax.plot(
            list(published),
            list(published.values()),
            "*",
            ms=14,
            color="k",
            label="XMASS-I published (PLB 809 (2020) 135741)",
        )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("mediator mass M [MeV]")
    ax.set_ylabel("coupling g_B-L [dimensionless]")
    ax.xaxis.set_major_locator(matplotlib.ticker.LogLocator(numticks=8))
    ax.set_title("U(1)_B-L: excluded above the curves")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    return save_png(fig, out, overwrite)


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
    return save_png(fig, out, overwrite)
