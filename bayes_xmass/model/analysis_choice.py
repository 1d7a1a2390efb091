"""Which energy window and binning a fit uses on a dataset: the user's, the dataset's, or the model's.

Order: a window or bin width given on the command line (``ModelSpec.user_analysis``) wins; then the
dataset's own ``[analysis]`` choices (the publication's region of interest and binning, set by the
converters of public releases); then the model file's (XMASS-I's analysis). When the model's window
starts above the data's first bin edge and neither the user nor the dataset says otherwise, the
window is extended down to the data (a dataset's threshold is kept). :func:`analysis_note` says in
one line what was chosen and why, for the log.

>>> from bayes_xmass.datasets.types import DatasetAnalysis
>>> AnalysisChoice((1.0, 30.0), 0.0, "dataset").window_kev
(1.0, 30.0)
"""

from __future__ import annotations

from dataclasses import dataclass

from bayes_xmass.datasets.types import Dataset
from bayes_xmass.model.spec import ModelSpec

__all__ = ["AnalysisChoice", "analysis_note", "effective_analysis"]


@dataclass(frozen=True)
class AnalysisChoice:
    """Window (keV), bin width (keV; 0 = keep the dataset's bins) and where each came from."""

    window_kev: tuple[float, float]
    bin_width_kev: float
    window_source: str  # "command line", "dataset", "model", "model, extended to the data"
    bin_width_source: str = "model"


def effective_analysis(spec: ModelSpec, dataset: Dataset) -> AnalysisChoice:
    """The window and bin width a fit of ``spec`` uses on ``dataset`` (see the module docstring)."""
    own = dataset.analysis
    window: tuple[float, float] = (float(spec.window_kev[0]), float(spec.window_kev[1]))
    if "window_kev" in spec.user_analysis:
        w_source = "command line"
    elif own.window_keV is not None:
        window, w_source = own.window_keV, "dataset"
    else:
        w_source = "model"
        first = float(dataset.bin_edges_keV[0])
        if first < window[0] < float(dataset.bin_edges_keV[-1]):
            window, w_source = (first, window[1]), "model, extended down to the data's first bin"
    if "bin_width_kev" in spec.user_analysis:
        width, b_source = float(spec.bin_width_kev), "command line"
    elif own.bin_width_keV is not None:
        width, b_source = float(own.bin_width_keV), "dataset"
    else:
        width, b_source = float(spec.bin_width_kev), "model"
    return AnalysisChoice(window, width, w_source, b_source)


def analysis_note(spec: ModelSpec, dataset: Dataset) -> str:
    """One line for the log: the window and binning chosen for ``dataset`` and their sources."""
    c = effective_analysis(spec, dataset)
    width = "the dataset's bins" if c.bin_width_kev == 0 else f"bins merged up to {c.bin_width_kev:g} keV"
    return (
        f"{dataset.name}: window {c.window_kev[0]:g}-{c.window_kev[1]:g} keV ({c.window_source}), "
        f"{width} ({c.bin_width_source})"
    )
