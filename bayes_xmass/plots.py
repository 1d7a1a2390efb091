"""Matplotlib figures (Agg backend, PNG). Every plot has axis labels with units and a legend."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
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
