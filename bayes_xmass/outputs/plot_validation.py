"""Validation plots (Agg backend, PNG): simulation-based-calibration rank histograms and ECDFs, and the
frequentist/Bayesian coverage of the upper limits vs the true coupling."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from bayes_xmass.outputs.figures import save_png  # noqa: E402

__all__ = ["plot_coverage", "plot_sbc_ranks"]


def plot_sbc_ranks(
    ranks: np.ndarray,
    rank_max: int,
    parameters: list[str],
    *,
    n_bins: int,
    title: str,
    out: Path,
    overwrite: bool = False,
) -> Path:
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
    return save_png(fig, out, overwrite)


def plot_coverage(result: dict, *, out: Path, overwrite: bool = False) -> Path:
    """Coverage of each limit vs the true coupling, 68% Clopper-Pearson error bars, nominal lines."""
    rows = result["rows"]
    x = np.array([r["true_coupling"] for r in rows])
    fig, ax = plt.subplots(figsize=(6.5, 4.0))
    styles = {
        "bayes": ("Bayesian credible", "C0", "o"),
        "xmass": ("Δχ² = 2.71", "C1", "s"),
        "one_sided": ("one-sided Δχ² = 1.64 (asymptotic)", "C2", "^"),
        "neyman": ("one-sided, toy-calibrated", "C3", "v"),
    }
    offsets = {"bayes": -0.015, "xmass": -0.005, "one_sided": 0.005, "neyman": 0.015}
    span = np.max(np.abs(x)) or 1.0
    for key, (label, color, marker) in styles.items():
        vals = [
            (
                r["true_coupling"],
                r[f"coverage_{key}"],
                r.get(f"coverage_{key}_lo", r[f"coverage_{key}"]),
                r.get(f"coverage_{key}_hi", r[f"coverage_{key}"]),
            )
            for r in rows
            if r.get(f"coverage_{key}") is not None
        ]
        if not vals:
            continue
        xs, ys, lo, hi = map(np.array, zip(*vals))
        ax.errorbar(
            xs + offsets[key] * span, ys, yerr=[ys - lo, hi - ys], fmt=marker, color=color, label=label, capsize=3
        )
        ax.axhline(result["nominal"].get(key, result["cl"]), color=color, ls="--", lw=0.8)
    ax.set_xlabel(f"true coupling [{result['coupling_unit']}]")
    ax.set_ylabel("coverage (limit ≥ true value) [1]")
    ax.set_title(f"coverage of {result['cl']:.0%} upper limits: {result['fit']} (dashed: nominal)", fontsize=9)
    ax.set_ylim(min(0.6, ax.get_ylim()[0]), 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return save_png(fig, out, overwrite)
