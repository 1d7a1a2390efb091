"""Shared figure plumbing of the plots: Agg-backend figures, reusable per-fit layouts (margins in
inches), and the atomic PNG write (:func:`save_png`)."""

from __future__ import annotations

import threading
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from bayes_xmass.runtime.io import write_with  # noqa: E402

__all__ = [
    "LAYOUTS",
    "MAX_LAYOUTS",
    "PNG_COMPRESS_LEVEL",
    "RENDER_RC",
    "clear_data",
    "margins_in",
    "new_figure",
    "reusable_figure",
    "save_png",
]


PNG_COMPRESS_LEVEL = 1  # zlib level of the PNG files: lossless at every level; 6 (zlib's default) is ~2x slower
# rendering settings of every figure: unhinted glyphs (FreeType hinting is ~40% of the time of drawing
# the ~300 texts of one fit's plots; the text stays as legible at these sizes and dpi)
RENDER_RC = {"text.hinting": "no_hinting"}


def save_png(fig, out: Path, overwrite: bool, dpi: int = 120, tight: bool = True, close: bool = True) -> Path:
    """Write ``fig`` as PNG atomically and close it (pyplot figures; ``close=False`` for the reused
    figures of :func:`reusable_figure`). ``tight=False`` for figures with fixed margins
    (:func:`margins_in`): bbox_inches="tight" costs an extra layout pass over every text."""

    def writer(tmp):
        with matplotlib.rc_context(RENDER_RC):
            fig.savefig(
                tmp,
                format="png",
                dpi=dpi,
                bbox_inches="tight" if tight else None,
                pil_kwargs={"compress_level": PNG_COMPRESS_LEVEL},
            )

    try:
        return write_with(out, writer, overwrite)
    finally:
        if close:
            plt.close(fig)


def new_figure(figsize):
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
LAYOUTS = threading.local()
MAX_LAYOUTS = 8


def reusable_figure(key: tuple, build):
    """``build(*key[1:])`` -> (fig, axes), or the same figure as at the previous call with this ``key``
    reset to what ``build`` made (:func:`clear_data`): data artists and axes legends removed, data limits
    emptied, autoscaling on, linear scales. Axes, ticks, fixed labels and figure legends are kept; the
    caller sets the data, scales, limits, titles and legends of each plot anew."""
    layouts = LAYOUTS.__dict__.setdefault("figures", {})
    cached = layouts.pop(key, None)
    if cached is None:
        cached = build(*key[1:])
    else:
        for ax in cached[0].axes:
            clear_data(ax)
    layouts[key] = cached  # most recently used last
    while len(layouts) > MAX_LAYOUTS:
        layouts.pop(next(iter(layouts)))
    return cached


def clear_data(ax) -> None:
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


def margins_in(
    fig,
    *,
    left: float,
    right: float,
    top: float,
    bottom: float,
    hspace: float,
    wspace: float = 0.0,
    nrows: int = 1,
    ncols: int = 1,
) -> None:
    """subplots_adjust with margins and gaps in inches (fixed layout: no layout engine and no
    bbox_inches="tight", each of which costs an extra pass over every text of a many-panel figure)."""
    w, h = fig.get_size_inches()
    ax_h = (h - top - bottom - hspace * (nrows - 1)) / nrows
    ax_w = (w - left - right - wspace * (ncols - 1)) / ncols
    fig.subplots_adjust(
        left=left / w,
        right=1 - right / w,
        top=1 - top / h,
        bottom=bottom / h,
        hspace=hspace / ax_h,
        wspace=wspace / ax_w if ncols > 1 else 0.2,
    )
