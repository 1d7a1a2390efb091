"""The inputs of a fit command: a model spec with the user's overrides, and the dataset.

:class:`FitOptions` holds what the fit commands (``sample``, ``limit``, ``compare``, ``combine``)
take from their options (masses in MeV, window and bin width in keV); :func:`load_spec_and_dataset`
checks them and loads both, raising InputError (named after the command-line option) before any
output is created.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bayes_xmass.datasets.loader import DEFAULT_DATASET, load_dataset
from bayes_xmass.datasets.types import Dataset
from bayes_xmass.errors import InputError
from bayes_xmass.model.poi_prior import PoiPrior
from bayes_xmass.model.spec import ModelSpec, model_spec_for
from bayes_xmass.model.targets import analysis_view

__all__ = ["FitOptions", "load_spec_and_dataset"]


@dataclass(frozen=True)
class FitOptions:
    """A fit command's model and target choices; None = the model TOML's (or all its targets)."""

    interaction: str  # magnetic-moment, millicharge, dark-photon, or a model TOML file
    dataset: Path | None = None  # None: the bundled XMASS-I benchmark
    masses: tuple[float, ...] | None = None  # dark-photon mediator masses, MeV
    flavours: tuple[str, ...] | None = None
    signs: tuple[int, ...] | None = None
    prior: str | None = None
    prior_upper: float | None = None  # in units of the prior's unit: the model file's poi.scale (or the auto scale)
    prior_power: float | None = None
    likelihood: str | None = None
    window: tuple[float, float] | None = None  # keV
    bin_width: float | None = None  # keV; 0 keeps the dataset's bins
    scale: float | None = None  # coupling unit of the sampler and templates; the prior (physical) is unchanged
    sampler: str | None = None
    draws: int | None = None
    tune: int | None = None
    chains: int | None = None


def load_spec_and_dataset(options: FitOptions) -> tuple[ModelSpec, Dataset]:
    """The model spec with ``options`` applied and the dataset, checked against each other
    (analysis window vs data)."""
    spec = model_spec_for(options.interaction)
    for m in options.masses or []:
        if not (math.isfinite(m) and m >= 0):
            raise InputError("command line", "--mass", f"mediator mass must be finite and >= 0 MeV, got {m}")
    overrides: dict[str, Any] = {}
    if options.prior or options.prior_upper is not None or options.prior_power is not None:
        p = spec.poi_prior
        try:  # 'is not None': an explicit 0 is an error, not the model's default
            overrides["poi_prior"] = PoiPrior(
                options.prior or p.kind,
                p.upper if options.prior_upper is None else options.prior_upper,
                p.power if options.prior_power is None else options.prior_power,
                p.floor,
            )
        except ValueError as exc:
            raise InputError("command line", "--prior", str(exc)) from None
    sampler = spec.sampler
    for key in ("draws", "tune", "chains"):
        value = getattr(options, key)
        if value is not None:
            if value < (1 if key != "tune" else 0):
                raise InputError("command line", f"--{key}", f"must be positive, got {value}")
            sampler = dataclasses.replace(sampler, **{key: value})
    if options.sampler:
        sampler = dataclasses.replace(sampler, name=options.sampler)
    overrides["sampler"] = sampler
    if options.likelihood:
        overrides["likelihood"] = options.likelihood
    if options.window:
        lo, hi = options.window
        if not 0 <= lo < hi:
            raise InputError("command line", "--window", f"need 0 <= lo < hi, got {lo} {hi}")
        overrides["window_kev"] = (lo, hi)
    if options.bin_width is not None:
        if not 0 <= options.bin_width < math.inf:
            raise InputError("command line", "--bin-width", f"must be finite and >= 0, got {options.bin_width}")
        overrides["bin_width_kev"] = options.bin_width
    if options.scale is not None:
        if not 0 < options.scale < math.inf:
            raise InputError("command line", "--scale", f"must be positive and finite, got {options.scale}")
        overrides["poi_scale"] = options.scale
    spec = spec.with_overrides(**overrides)
    data = load_dataset(options.dataset or DEFAULT_DATASET)
    analysis_view(spec, data)  # window vs data: checked before any output is created
    return spec, data
