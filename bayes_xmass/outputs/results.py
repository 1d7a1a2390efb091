"""The results schema of ``limits.json``: one structure for every command, in physical units.

:func:`results_document` assembles the file every command writes; :func:`finalise_fit` gives each
fit record the schema's core (``limits``, ``expected``, ``best_fit``, ``warnings`` in the coupling's
physical unit) from its detail sections; :func:`validate_results` checks a document against the
JSON Schema shipped in ``outputs/schema/`` (:func:`results_schema`). The structure is described in
``docs/results-schema.md``.

>>> fit = finalise_fit({"fit": "magnetic_moment", "interaction": "magnetic_moment", "sign": 1,
...     "coupling_scale": 1e-10, "coupling_unit": "mu_B", "bayes": {"limit": 7.8e-11, "mcse": 1e-12},
...     "frequentist": {"limit_xmass_scaled": 0.765, "best_fit": 3.4e-11, "converged": True}},
...     dataset="xmass1_benchmark", cl=0.9)
>>> fit["limits"]["bayes"], round(fit["limits"]["delta_chi2"], 15), fit["warnings"]
(7.8e-11, 7.65e-11, [])
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterable, Mapping
from functools import cache
from importlib import resources
from typing import Any

from bayes_xmass.errors import InputError
from bayes_xmass.physics.interactions import INTERACTIONS

__all__ = [
    "COMMANDS",
    "LIMIT_KINDS",
    "SCHEMA_NAME",
    "SCHEMA_VERSION",
    "dataset_entry",
    "finalise_fit",
    "fit_expected",
    "fit_limits",
    "fit_warnings",
    "frequentist_physical",
    "results_document",
    "results_schema",
    "scan_curves",
    "scan_fits",
    "schema_errors",
    "validate_results",
]

SCHEMA_NAME = "bayes_xmass.results"
SCHEMA_VERSION = "1.0"
COMMANDS = ("sample", "limit", "compare", "run", "scan", "combine", "global")

# limit kind -> what it is (docs/results-schema.md); the order of tables and reports
LIMIT_KINDS: dict[str, str] = {
    "bayes": "one-sided credible limit (posterior quantile of |coupling|)",
    "delta_chi2": "profile likelihood, two-sided Delta chi2 threshold (2.71 at 90% CL; XMASS-I's convention)",
    "one_sided": "profile likelihood, one-sided Delta chi2 threshold (1.64 at 90% CL; q~, asymptotic)",
    "cls": "asymptotic CLs (q~, Asimov)",
    "clsb": "asymptotic CLs+b (q~, Asimov)",
    "toy_calibrated": "one-sided limit with toy critical values (Neyman construction)",
    "pcl": "power-constrained one-sided limit (not below the -1 sigma expected limit)",
    "feldman_cousins": "upper end of the Feldman-Cousins interval (toys)",
}
# frequentist summary key (units of the coupling scale) -> limit kind
_FREQ_KEYS = {
    "limit_xmass_scaled": "delta_chi2",
    "limit_one_sided_scaled": "one_sided",
    "limit_cls_scaled": "cls",
    "limit_clsb_scaled": "clsb",
}
# band -> variable of a scan Dataset: infer.scan.BAND_NAMES (not imported: reading results must not load
# PyTensor; tests/outputs/test_results_schema.py checks they agree)
_SCAN_BANDS = {
    "-2sigma": "expected_m2",
    "-1sigma": "expected_m1",
    "median": "expected_median",
    "+1sigma": "expected_p1",
    "+2sigma": "expected_p2",
}
_SCAN_LIMITS = {"freq_xmass": "delta_chi2", "freq_one_sided": "one_sided", "bayes": "bayes"}
_BAND_KEYS = ("median", "-1sigma", "+1sigma", "-2sigma", "+2sigma")
_PRIOR_BOUND_MAX = 0.8  # as infer.posterior_summary.PRIOR_BOUND_MAX, for records without their thresholds


def _finite(v: Any) -> float | None:
    """A finite float, or None (not computed, infinite, nan, or written as a string)."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    return float(v) if math.isfinite(v) else None


def frequentist_physical(freq: Mapping[str, Any], scale: float) -> dict[str, Any]:
    """A frequentist summary with every ``*_scaled`` limit also in physical units (``limit_xmass``,
    ``limit_one_sided``, ``limit_cls``, ``limit_clsb``, ``profile_x``); arrays become lists."""
    out = {k: (v.tolist() if hasattr(v, "tolist") else v) for k, v in freq.items()}
    for key in list(out):
        if key.endswith("_scaled") and key != "best_fit_scaled":
            v = out[key]
            base = key.removesuffix("_scaled")
            out[base] = [float(x) * scale for x in v] if isinstance(v, list) else _scaled_value(v, scale)
    return out


def _scaled_value(v: Any, scale: float) -> Any:
    return float(v) * scale if isinstance(v, (int, float)) and not isinstance(v, bool) else v


def fit_limits(fit: Mapping[str, Any]) -> dict[str, float | None]:
    """Every upper limit a fit record holds, by kind (:data:`LIMIT_KINDS`), in the coupling's unit;
    None where the limit was computed but is not finite."""
    out: dict[str, float | None] = {
        k: _finite(v) for k, v in (fit.get("limits") or {}).items() if k in LIMIT_KINDS
    }  # given directly (scan points, global summaries); the detail sections below take precedence
    bayes = fit.get("bayes") or {}
    if "limit" in bayes:
        out["bayes"] = _finite(bayes["limit"])
    freq = fit.get("frequentist") or {}
    scale = float(fit.get("coupling_scale") or 1.0)
    for key, kind in _FREQ_KEYS.items():
        if key in freq:
            v = _finite(freq[key])
            out[kind] = None if v is None else v * scale
    if "limit" in (fit.get("toy_calibrated") or {}):
        out["toy_calibrated"] = _finite(fit["toy_calibrated"]["limit"])
    if "pcl" in (fit.get("toys") or {}):
        out["pcl"] = _finite(fit["toys"]["pcl"])
    if "upper" in (fit.get("feldman_cousins") or {}):
        out["feldman_cousins"] = _finite(fit["feldman_cousins"]["upper"])
    return out


def _bands(bands: Mapping[str, Any] | None, n_toys: Any) -> dict[str, Any] | None:
    if not bands or not all(k in bands for k in _BAND_KEYS):
        return None
    out: dict[str, Any] = {k: _finite(bands[k]) for k in _BAND_KEYS}
    out["n_toys"] = int(n_toys) if isinstance(n_toys, int) else None
    return out


def fit_expected(fit: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Expected-limit bands (background-only toys) by kind, in the coupling's unit."""
    toys = fit.get("toys") or {}
    found = {
        "delta_chi2": _bands(toys.get("freq_bands"), toys.get("n_freq_toys")),
        "one_sided": _bands(toys.get("one_sided_bands"), toys.get("n_freq_toys")),
        "bayes": _bands(toys.get("bayes_bands"), toys.get("n_bayes_toys")),
    }
    for kind, bands in (fit.get("expected") or {}).items():  # already in the schema's form
        if kind in LIMIT_KINDS and isinstance(bands, Mapping):
            found[kind] = _bands(bands, bands.get("n_toys"))
    return {k: v for k, v in found.items() if v is not None}


def _prior_bound(fit: Mapping[str, Any]) -> str | None:
    bayes, diag = fit.get("bayes") or {}, fit.get("diagnostics") or {}
    if bayes.get("warning"):
        return str(bayes["warning"])
    frac = diag.get("prior_bound_fraction")
    limit = (diag.get("thresholds") or {}).get("prior_bound_fraction", _PRIOR_BOUND_MAX)
    if isinstance(frac, (int, float)) and frac > limit:
        return (
            f"credible limit at {frac:.0%} of the POI prior's upper bound (threshold {limit:.0%}): the prior's "
            "range, not the data, sets it; widen the prior (--prior-upper)"
        )
    return None


def fit_warnings(fit: Mapping[str, Any]) -> list[dict[str, str]]:
    """What a reader must know before quoting a fit's limits: ``[{"limit": kind or "fit", "reason"}]``.

    Flags: a credible limit set by the prior's bound; failed sampling diagnostics (a limit let through
    with ``--allow-bad-diagnostics`` or kept in a run); a best fit that did not converge; a limit that
    is not finite; toy fits that fell back to the scalar fitter or failed.
    """
    out: list[dict[str, str]] = []
    for w in fit.get("warnings") or []:  # kept when a record is finalised twice
        if isinstance(w, Mapping) and {"limit", "reason"} <= set(w):
            out.append({"limit": str(w["limit"]), "reason": str(w["reason"])})
    if fit.get("bayes"):
        bound = _prior_bound(fit)
        if bound:
            out.append({"limit": "bayes", "reason": bound})
        diag = fit.get("diagnostics") or {}
        if diag.get("ok") is False:
            failures = [str(f) for f in diag.get("failures") or []]
            sampling = [f for f in failures if "prior's upper bound" not in f]
            if sampling or not bound:
                reason = "; ".join(sampling or failures or ["see the fit's diagnostics"])
                out.append({"limit": "bayes", "reason": f"sampling diagnostics failed: {reason}"})
    freq = fit.get("frequentist") or {}
    if freq.get("converged") is False:
        out.append({"limit": "fit", "reason": "the best fit (profile likelihood) did not converge"})
    for kind, value in fit_limits(fit).items():
        if value is None:
            out.append({"limit": kind, "reason": "not finite: the limit is above the search range"})
    unique: list[dict[str, str]] = []
    for w in out:
        if w not in unique:
            unique.append(w)
    return unique


def finalise_fit(fit: Mapping[str, Any], *, dataset: str, cl: float) -> dict[str, Any]:
    """A fit record with the schema's core added (``poi``, ``dataset``, ``cl``, ``limits``,
    ``expected``, ``best_fit``, ``warnings``); the detail sections are kept as they are."""
    rec = dict(fit)
    inter = INTERACTIONS[rec["interaction"]]
    rec.setdefault("poi", inter.poi)
    rec.setdefault("coupling_unit", inter.coupling_unit)
    rec.setdefault("sign", 1)
    rec.setdefault("flavours", None)
    rec.setdefault("mass_MeV", None)
    rec.setdefault("dataset", dataset)
    rec["cl"] = cl
    rec["limits"] = fit_limits(rec)
    expected = fit_expected(rec)
    if expected:
        rec["expected"] = expected
    else:
        rec.pop("expected", None)
    best = _finite((rec.get("frequentist") or {}).get("best_fit", rec.get("best_fit")))
    rec["best_fit"] = None if best is None else best + 0.0  # + 0.0: no "-0.0" at a zero best fit
    rec["warnings"] = fit_warnings(rec)
    return rec


def dataset_entry(dataset: Any) -> dict[str, Any]:
    """A dataset's identity for ``provenance.datasets``: name, checksum, description, exposure."""
    return {
        "name": dataset.name,
        "checksum": dataset.checksum,
        "description": dataset.description,
        "exposure_tonne_year": float(dataset.exposure_tonne_year),
    }


def results_document(
    command: str,
    *,
    cl: float,
    provenance: Mapping[str, Any],
    fits: Iterable[Mapping[str, Any]],
    datasets: Mapping[str, Any],
    exclusion_curves: Iterable[Mapping[str, Any]] = (),
    **sections: Any,
) -> dict[str, Any]:
    """The ``limits.json`` content of ``command``: schema header, provenance (``datasets``: label ->
    Dataset, recorded by :func:`dataset_entry`; ``created`` set now), finalised fits, exclusion curves
    and the command's own sections. A fit without ``dataset`` gets the only dataset's label."""
    if command not in COMMANDS:
        raise ValueError(f"command must be one of {COMMANDS}, got {command!r}")
    default = next(iter(datasets)) if len(datasets) == 1 else "combined"
    prov = dict(provenance)
    prov["datasets"] = {label: dataset_entry(ds) for label, ds in datasets.items()}
    prov.setdefault("created", time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    return {
        "schema": SCHEMA_NAME,
        "schema_version": SCHEMA_VERSION,
        "command": command,
        "cl": cl,
        "provenance": prov,
        "fits": [finalise_fit(f, dataset=str(f.get("dataset", default)), cl=cl) for f in fits],
        "exclusion_curves": [dict(c) for c in exclusion_curves],
        **sections,
    }


def _column(ds: Any, name: str) -> list[float | None]:
    return [_finite(float(v)) for v in ds[name].values]


def scan_curves(ds: Any, *, dataset: str, cl: float, prefix: str = "") -> list[dict[str, Any]]:
    """The exclusion curves of a B-L scan (xarray Dataset of :func:`bayes_xmass.infer.scan.scan_dataset`,
    dim ``mass`` in MeV): Delta chi2 (with its expected bands when toys ran), one-sided, and Bayesian
    (with the fits' diagnostics) when sampled."""
    masses = [float(m) for m in ds["mass"].values]
    unit = INTERACTIONS["b_minus_l"].coupling_unit
    curves: list[dict[str, Any]] = []
    for var, kind in (("freq_xmass", "delta_chi2"), ("freq_one_sided", "one_sided"), ("bayes", "bayes")):
        if var not in ds:
            continue
        curve: dict[str, Any] = {
            "name": f"{prefix}{kind}",
            "interaction": "b_minus_l",
            "dataset": dataset,
            "statistic": kind,
            "cl": cl,
            "coupling_unit": unit,
            "mass_MeV": masses,
            "limit": _column(ds, var),
        }
        if kind == "delta_chi2" and all(v in ds for v in _SCAN_BANDS.values()):
            curve["expected"] = {band: _column(ds, column) for band, column in _SCAN_BANDS.items()}
        if kind == "bayes" and "diagnostics_ok" in ds:
            curve["diagnostics_ok"] = [bool(v) for v in ds["diagnostics_ok"].values]
        curves.append(curve)
    return curves


def scan_fits(ds: Any, labels: list[str]) -> list[dict[str, Any]]:
    """One fit record per scan mass (``labels``: their fit labels), limits in g (dimensionless)."""
    out = []
    for i, label in enumerate(labels):
        point = {k: float(ds[k].values[i]) for k in ds.data_vars if k != "diagnostics_ok"}
        limits = {kind: point[var] for var, kind in _SCAN_LIMITS.items() if var in point}
        rec: dict[str, Any] = {
            "fit": label,
            "interaction": "b_minus_l",
            "sign": 1,
            "flavours": None,
            "mass_MeV": float(ds["mass"].values[i]),
            "coupling_scale": point["scale"],
            "limits": limits,
            "best_fit": point.get("best_fit"),
        }
        if all(v in point for v in _SCAN_BANDS.values()):
            rec["expected"] = {"delta_chi2": {band: point[var] for band, var in _SCAN_BANDS.items()}}
        if "bayes" in point:
            rec["bayes"] = {"limit": point["bayes"], "mcse": point.get("bayes_mcse", float("nan"))}
            if "diagnostics_ok" in ds:
                rec["diagnostics"] = {"ok": bool(ds["diagnostics_ok"].values[i])}
        out.append(rec)
    return out


@cache
def results_schema() -> dict[str, Any]:
    """The JSON Schema of ``limits.json`` (shipped as ``outputs/schema/results-1.0.json``)."""
    text = resources.files("bayes_xmass.outputs").joinpath(f"schema/results-{SCHEMA_VERSION}.json").read_text()
    schema: dict[str, Any] = json.loads(text)
    return schema


def schema_errors(doc: Any, limit: int = 20) -> list[str]:
    """Where ``doc`` breaks the results schema: up to ``limit`` messages ``path: problem`` (empty = valid)."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(results_schema())
    errors = sorted(validator.iter_errors(doc), key=lambda e: list(map(str, e.absolute_path)))
    return [f"{'/'.join(map(str, e.absolute_path)) or '(top level)'}: {e.message}" for e in errors[:limit]]


def validate_results(doc: Any, source: str = "limits.json") -> None:
    """Raise InputError (one line: ``source``, the first failing path and why) unless ``doc`` follows
    the results schema."""
    errors = schema_errors(doc, limit=1)
    if errors:
        path, _, message = errors[0].partition(": ")
        raise InputError(source, path, f"does not follow the results schema {SCHEMA_VERSION}: {message}")
