"""Dataset data types: the validated, immutable dataset and its parts.

:class:`Dataset` (observed binned counts, exposure, detector response, backgrounds) with
:class:`Resolution`, :class:`Efficiency` and :class:`Background`; :meth:`Dataset.view` restricts
and rebins it. Built by :func:`bayes_xmass.datasets.loader.load_dataset`.

Units: energies in keV, exposure in kg*day, background rates in events/(keV kg day). Arrays held
by these types are read-only copies (:func:`frozen_array`).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, cast

import numpy as np

from bayes_xmass.datasets.priors import Prior
from bayes_xmass.errors import InputError
from bayes_xmass.physics.constants import kg_day_to_tonne_year

__all__ = [
    "DATASET_TOML",
    "EDGE_TOL_KEV",
    "Background",
    "Dataset",
    "DatasetAnalysis",
    "Efficiency",
    "Resolution",
    "frozen_array",
]

DATASET_TOML = "dataset.toml"
"""Name of the dataset description inside a dataset folder."""

EDGE_TOL_KEV = 1e-9
"""Tolerance (keV) when comparing bin edges (gaps, overlaps, view windows, template coverage)."""


def frozen_array(a: np.ndarray) -> np.ndarray:
    """A read-only copy of ``a``."""
    a = np.array(a, copy=True)
    a.flags.writeable = False
    return a


@dataclass(frozen=True, eq=False)
class Resolution:
    """Gaussian energy resolution sigma(E), keV.

    ``model == "a_sqrtE_plus_bE"``: sigma = a*sqrt(E/keV) + b*E (a in keV, b dimensionless);
    ``energy_keV``/``sigma_keV`` are None. ``model == "table"``: linear interpolation in the
    table; outside the table the end values are used (clipping). ``a``/``b`` are None.
    """

    model: str
    a: float | None = None
    b: float | None = None
    energy_keV: np.ndarray | None = None
    sigma_keV: np.ndarray | None = None

    def sigma(self, energy_keV: Any) -> np.ndarray:
        """sigma in keV at energies in keV (vectorised; negative energies are treated as 0)."""
        e = np.asarray(energy_keV, dtype=float)
        if self.model == "table":
            sigma: np.ndarray = np.interp(e, cast(np.ndarray, self.energy_keV), cast(np.ndarray, self.sigma_keV))
            return sigma
        return self.a * np.sqrt(np.maximum(e, 0.0)) + self.b * e

    def summary(self) -> dict[str, Any]:
        """JSON-able description."""
        if self.model == "table":
            energy = cast(np.ndarray, self.energy_keV)
            return {
                "model": "table",
                "n_points": int(energy.size),
                "energy_range_keV": [float(energy[0]), float(energy[-1])],
            }
        return {"model": self.model, "a": self.a, "b": self.b}


@dataclass(frozen=True, eq=False)
class Efficiency:
    """Detection efficiency (0..1) vs reconstructed energy in keV.

    Either a constant (``constant`` set, arrays None) or a table evaluated by linear
    interpolation (``np.interp``): outside the table the END VALUES are used, so a table that
    should vanish below threshold must itself end in 0 there.
    """

    energy_keV: np.ndarray | None
    efficiency: np.ndarray | None
    constant: float | None = None

    def __call__(self, energy_keV: Any) -> np.ndarray:
        """Efficiency at energies in keV (vectorised)."""
        e = np.asarray(energy_keV, dtype=float)
        if self.constant is not None:
            return np.full(e.shape, self.constant)
        eff: np.ndarray = np.interp(e, cast(np.ndarray, self.energy_keV), cast(np.ndarray, self.efficiency))
        return eff

    def summary(self) -> dict[str, Any]:
        """JSON-able description."""
        if self.constant is not None:
            return {"constant": self.constant}
        energy = cast(np.ndarray, self.energy_keV)
        return {
            "table": True,
            "n_points": int(energy.size),
            "energy_range_keV": [float(energy[0]), float(energy[-1])],
        }


@dataclass(frozen=True, eq=False)
class Background:
    """One background component and its normalisation prior (a dimensionless multiplier).

    ``source``: ``"folded"`` (rate vs reconstructed energy, efficiency and resolution already
    applied), ``"true"`` (rate vs true energy, to be folded by the detector response) or
    ``"builtin"`` (computed by the physics engine; arrays are None, ``builtin`` names it).
    ``rate`` and ``rate_err`` (absolute per-point template uncertainty, or None) are in
    events/(keV kg day) at ``energy_keV`` (keV, strictly increasing).
    """

    name: str
    source: Literal["folded", "true", "builtin"]
    energy_keV: np.ndarray | None
    rate: np.ndarray | None
    rate_err: np.ndarray | None
    builtin: str | None
    prior: Prior

    def summary(self) -> dict[str, Any]:
        """JSON-able description."""
        out: dict[str, Any] = {"name": self.name, "source": self.source, "prior": self.prior.to_dict()}
        if self.builtin is not None:
            out["builtin"] = self.builtin
        if self.energy_keV is not None:
            out["n_points"] = int(self.energy_keV.size)
            out["energy_range_keV"] = [float(self.energy_keV[0]), float(self.energy_keV[-1])]
            out["has_rate_err"] = self.rate_err is not None
        return out


@dataclass(frozen=True)
class DatasetAnalysis:
    """The data's own analysis choices (``[analysis]`` in dataset.toml), used instead of the model
    file's when the command line does not set them: ``window_keV`` (lo, hi) and ``bin_width_keV``
    (0 = keep the dataset's bins). None = not given."""

    window_keV: tuple[float, float] | None = None
    bin_width_keV: float | None = None

    def summary(self) -> dict[str, Any]:
        """JSON-able description."""
        return {"window_keV": list(self.window_keV) if self.window_keV else None, "bin_width_keV": self.bin_width_keV}


@dataclass(frozen=True, eq=False)
class Dataset:
    """A validated dataset. Energies keV, exposure kg*day, rates events/(keV kg day).

    ``bin_edges_keV`` has n+1 entries, ``counts`` n (int64). ``path`` is the dataset folder,
    ``toml_name`` the description file in it, ``checksum`` the sha256 of
    :func:`~bayes_xmass.datasets.dataset_files.dataset_checksum`. ``view_info`` is None for a loaded dataset and a small dict
    (window, merge, parent view) for one made by :meth:`view` (whose checksum is the parent's);
    :meth:`summary` reports it under the key ``"view"``.
    """

    name: str
    description: str
    target: str
    exposure_kg_day: float
    bin_edges_keV: np.ndarray
    counts: np.ndarray
    resolution: Resolution
    efficiency: Efficiency
    threshold_keV: float
    energy_scale_prior: Prior
    backgrounds: tuple[Background, ...]
    path: Path
    checksum: str
    view_info: dict[str, Any] | None = None
    toml_name: str = DATASET_TOML
    files: tuple[str, ...] = ()
    analysis: DatasetAnalysis = DatasetAnalysis()

    # -- derived ---------------------------------------------------------------------------
    @property
    def toml_path(self) -> Path:
        """Path of the dataset's TOML file."""
        return self.path / self.toml_name

    @property
    def exposure_tonne_year(self) -> float:
        """Exposure in tonne*year (Julian year)."""
        return kg_day_to_tonne_year(self.exposure_kg_day)

    @property
    def n_bins(self) -> int:
        """Number of energy bins."""
        return int(self.counts.size)

    @property
    def bin_centers_keV(self) -> np.ndarray:
        """Bin centres, keV."""
        centers: np.ndarray = 0.5 * (self.bin_edges_keV[:-1] + self.bin_edges_keV[1:])
        return centers

    @property
    def bin_widths_keV(self) -> np.ndarray:
        """Bin widths, keV."""
        return np.diff(self.bin_edges_keV)

    @property
    def background_names(self) -> tuple[str, ...]:
        """Background names in file order (use as the ``background`` dim coordinate)."""
        return tuple(b.name for b in self.backgrounds)

    def background(self, name: str) -> Background:
        """The background called ``name`` (KeyError if absent)."""
        for b in self.backgrounds:
            if b.name == name:
                return b
        raise KeyError(f"no background {name!r} in dataset {self.name!r}; have {self.background_names}")

    # -- views -----------------------------------------------------------------------------
    def view(self, window: Sequence[float] | None = None, merge: int = 1) -> Dataset:
        """Dataset restricted to ``window = (lo, hi)`` keV, then every ``merge`` bins summed.

        ``lo`` and ``hi`` must coincide with bin edges (within :data:`EDGE_TOL_KEV`); the number
        of bins in the window must be divisible by ``merge``. Everything but the binning and
        counts is shared with the parent (backgrounds are unbinned curves); ``checksum`` stays
        the parent's and ``view_info`` records what was done. Raises :class:`InputError`.
        """
        src = self.toml_path
        edges = self.bin_edges_keV
        i_lo: int | None
        i_hi: int | None
        if window is None:
            i_lo, i_hi = 0, edges.size - 1
            lo, hi = float(edges[0]), float(edges[-1])
        else:
            try:
                lo, hi = (float(v) for v in window)
            except (TypeError, ValueError):
                raise InputError(src, "window", f"must be a pair (lo, hi) of energies in keV, got {window!r}") from None
            if not (math.isfinite(lo) and math.isfinite(hi)) or not lo < hi:
                raise InputError(src, "window", f"need finite lo < hi, got ({lo:g}, {hi:g}) keV")
            i_lo, i_hi = self._edge_index(lo), self._edge_index(hi)
            if i_lo is None or i_hi is None:
                bad = lo if i_lo is None else hi
                raise InputError(
                    src,
                    "window",
                    f"{bad:g} keV is not a bin edge; window ({lo:g}, {hi:g}) keV must start and end on "
                    f"bin edges of [{edges[0]:g}, {edges[-1]:g}] keV",
                )
        if isinstance(merge, bool) or not isinstance(merge, (int, np.integer)) or merge < 1:
            raise InputError(src, "merge", f"must be a positive integer, got {merge!r}")
        merge = int(merge)
        n = i_hi - i_lo
        if n % merge:
            raise InputError(
                src, "merge", f"{n} bins in window ({lo:g}, {hi:g}) keV are not divisible by merge = {merge}"
            )
        sub_edges = edges[i_lo : i_hi + 1]
        new_edges = sub_edges[::merge]
        new_counts = self.counts[i_lo:i_hi].reshape(-1, merge).sum(axis=1, dtype=np.int64)
        record = {
            "window_keV": [float(new_edges[0]), float(new_edges[-1])],
            "merge": merge,
            "n_bins": int(new_counts.size),
            "parent_view": self.view_info,
        }
        return dataclasses.replace(
            self, bin_edges_keV=frozen_array(new_edges), counts=frozen_array(new_counts), view_info=record
        )

    def _edge_index(self, energy: float) -> int | None:
        diff = np.abs(self.bin_edges_keV - energy)
        i = int(np.argmin(diff))
        return i if diff[i] <= EDGE_TOL_KEV else None

    # -- provenance ------------------------------------------------------------------------
    def summary(self) -> dict[str, Any]:
        """JSON-able provenance: identity, checksum, binning, response, backgrounds, view.

        Prior parameters may be +-inf (``json.dumps`` writes ``Infinity``).
        """
        return {
            "name": self.name,
            "description": self.description,
            "target": self.target,
            "path": str(self.path),
            "toml": self.toml_name,
            "files": list(self.files),
            "checksum": self.checksum,
            "view": self.view_info,
            "exposure_kg_day": float(self.exposure_kg_day),
            "exposure_tonne_year": float(self.exposure_tonne_year),
            "n_bins": self.n_bins,
            "window_keV": [float(self.bin_edges_keV[0]), float(self.bin_edges_keV[-1])],
            "total_counts": int(self.counts.sum()),
            "threshold_keV": float(self.threshold_keV),
            "resolution": self.resolution.summary(),
            "efficiency": self.efficiency.summary(),
            "energy_scale_prior": self.energy_scale_prior.to_dict(),
            "backgrounds": [b.summary() for b in self.backgrounds],
            "analysis": self.analysis.summary(),
        }
