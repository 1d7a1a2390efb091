"""The records a run writes to ``limits.json``, as typed dictionaries (they are JSON objects).

:class:`FitRecord` is one fit (``limits.json["fits"][i]``), :class:`RunRecord` the whole file of
``run``. Limits are in the coupling's physical unit (mu_B, e, g) unless the key ends in
``_scaled`` (units of ``coupling_scale``). Optional parts are present when the step ran.
"""

from __future__ import annotations

from typing import Any, NotRequired, TypedDict

from bayes_xmass.infer.posterior_summary import CredibleLimit

__all__ = ["BminusLScanRecord", "FitRecord", "RunRecord"]


class FitRecord(TypedDict):
    """One fit of a run: the Bayesian and frequentist results side by side (before
    :func:`bayes_xmass.outputs.results.finalise_fit` adds the schema's core: limits, warnings, ...)."""

    fit: str  # label, e.g. "millicharge_e_neg", "b_minus_l_M10MeV"
    interaction: str
    sign: int
    flavours: str | None
    mass_MeV: float | None
    coupling_unit: str
    coupling_scale: float
    likelihood: str
    poi_prior: dict[str, Any]
    bayes: CredibleLimit
    diagnostics: dict[str, Any]  # Diagnostics.as_dict(): values, ok, failures, thresholds
    frequentist: dict[str, Any]  # a FrequentistSummary, its arrays as lists (JSON)
    netcdf: str  # the fit's DataTree, relative to the run directory
    toys: NotRequired[dict[str, Any]]  # expected bands (frequentist and Bayesian), PCL
    feldman_cousins: NotRequired[dict[str, Any]]
    toy_calibrated: NotRequired[dict[str, Any]]  # one-sided limit with toy critical values (infer/neyman.py)
    plots: NotRequired[dict[str, str]]  # set once the fit's plots are written
    seconds: NotRequired[float]
    step_seconds: NotRequired[dict[str, float]]


class BminusLScanRecord(TypedDict):
    """The B-L exclusion curve: limits on g per mediator mass (MeV)."""

    mass_MeV: list[float]
    bayes: list[float]
    freq_xmass: list[float]
    freq_one_sided: list[float]
    diagnostics_ok: list[bool]


class RunRecord(TypedDict):
    """``limits.json`` of ``run`` (the results schema, docs/results-schema.md, with run's sections)."""

    schema: str
    schema_version: str
    command: str
    cl: float
    exclusion_curves: list[dict[str, Any]]
    provenance: dict[str, Any]  # dataset checksum, seed, settings, model configs, versions, timings
    fits: list[FitRecord]
    comparison: list[dict[str, Any]]
    b_minus_l_scan: BminusLScanRecord
    plots: dict[str, str]
    prior_sensitivity: dict[str, Any]
    atomic_model_systematic: list[dict[str, Any]]  # per interaction: limits under each atomic model
