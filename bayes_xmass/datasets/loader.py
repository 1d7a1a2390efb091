"""Dataset loader: reads and validates a dataset folder into a :class:`~bayes_xmass.datasets.types.Dataset`.

A dataset is a folder with ``dataset.toml`` plus CSV tables (format: ARCHITECTURE.md §5, with
the additions documented in :func:`load_dataset`; CSV rules in
:mod:`bayes_xmass.datasets.csv_tables`). Loading validates everything; any problem a user can
cause is an :class:`~bayes_xmass.errors.InputError` whose text is one line
``<file>: <field>: <message>``.

Internal units: energies in keV, exposure in kg*day, background rates in events/(keV kg day).
Conversions from tonne*year inputs happen here, at the edge, through :mod:`bayes_xmass.physics.constants`.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, cast

import numpy as np

from bayes_xmass.bundled import default_dataset
from bayes_xmass.datasets.csv_tables import check_curve, parse_csv
from bayes_xmass.datasets.dataset_files import checksum_of_bytes, find_dataset_toml, read_dataset_toml
from bayes_xmass.datasets.priors import Prior, parse_prior
from bayes_xmass.datasets.toml_reader import TomlReader, toml_type_name
from bayes_xmass.datasets.types import (
    EDGE_TOL_KEV,
    Background,
    Dataset,
    DatasetAnalysis,
    Efficiency,
    Resolution,
    frozen_array,
)
from bayes_xmass.errors import InputError
from bayes_xmass.physics.constants import DAYS_PER_YEAR, KG_PER_TONNE, tonne_year_to_kg_day

__all__ = [
    "BUILTIN_BACKGROUNDS",
    "DEFAULT_DATASET",
    "KNOWN_TARGETS",
    "RATE_UNITS",
    "RESOLUTION_MODELS",
    "load_dataset",
]

DEFAULT_DATASET = default_dataset()
"""Folder of the bundled XMASS-I benchmark dataset."""

BUILTIN_BACKGROUNDS = frozenset({"solar_nu_sm"})
"""Backgrounds computed by the package's physics engine (``builtin = "..."``)."""

RESOLUTION_MODELS = ("a_sqrtE_plus_bE", "table")
"""Resolution models: sigma(E) = a*sqrt(E/keV) + b*E (keV), or a CSV table energy_keV,sigma_keV."""

RATE_UNITS: dict[str, float] = {
    "per_keV_kg_day": 1.0,
    "per_keV_tonne_year": 1.0 / (KG_PER_TONNE * DAYS_PER_YEAR),
}
"""Background ``rate_unit`` -> factor converting to events/(keV kg day) (Julian year)."""

KNOWN_TARGETS = frozenset({"Xe"})
"""Target materials the physics engine knows."""

# CSV headers of each table (a background table may add rate_err)
OBSERVED_COLUMNS = ("e_low_keV", "e_high_keV", "counts")
EFFICIENCY_COLUMNS = ("energy_keV", "efficiency")
SIGMA_COLUMNS = ("energy_keV", "sigma_keV")
BACKGROUND_COLUMNS = (("energy_keV", "rate"), ("energy_keV", "rate", "rate_err"))


def _parse_observed(ld: TomlReader, obs: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    ld.check_keys(obs, "observed", ["file"])
    path, text = ld.read_ref(obs, "file", "observed")
    t = parse_csv(path, text, [OBSERVED_COLUMNS])
    if t.n_rows == 0:
        raise InputError(path, "rows", "observed table is empty (no data rows after the header)")
    lo, hi, c = t.data["e_low_keV"], t.data["e_high_keV"], t.data["counts"]
    for i in range(t.n_rows):
        if c[i] != math.floor(c[i]):
            raise t.error("counts", f"counts must be integers, got {c[i]:g}", i)
        if c[i] < 0:
            raise t.error("counts", f"counts must be >= 0, got {c[i]:g}", i)
        if c[i] > 2.0**53:
            raise t.error("counts", f"count {c[i]:g} is too large to be exact", i)
        if lo[i] < 0:
            raise t.error("e_low_keV", f"negative energy {lo[i]:g} keV", i)
        if not hi[i] > lo[i]:
            raise t.error("e_high_keV", f"e_high_keV ({hi[i]:g}) must be > e_low_keV ({lo[i]:g})", i)
        if i == 0:
            continue
        if lo[i] < lo[i - 1]:
            raise t.error(
                "e_low_keV", f"bins are not sorted: e_low_keV {lo[i]:g} comes after a bin starting at {lo[i - 1]:g}", i
            )
        if lo[i] < hi[i - 1] - EDGE_TOL_KEV:
            raise t.error(
                "e_low_keV", f"bin [{lo[i]:g}, {hi[i]:g}] overlaps the previous bin [{lo[i - 1]:g}, {hi[i - 1]:g}]", i
            )
        if lo[i] > hi[i - 1] + EDGE_TOL_KEV:
            raise t.error(
                "e_low_keV",
                f"gap between bins: previous e_high_keV = {hi[i - 1]:g} but e_low_keV = {lo[i]:g} "
                f"(tolerance {EDGE_TOL_KEV:g} keV)",
                i,
            )
    edges = np.append(lo, hi[-1])
    return edges, c.astype(np.int64)


def _parse_resolution(ld: TomlReader, res: Any, prefix: str) -> Resolution:
    if not isinstance(res, dict):
        raise ld.error(
            prefix,
            f'must be an inline table like {{ model = "a_sqrtE_plus_bE", a = 0.31, b = 0.0037 }}, '
            f"got {toml_type_name(res)}",
        )
    if "model" not in res:
        raise ld.error(f"{prefix}.model", f"missing required key 'model' (one of: {', '.join(RESOLUTION_MODELS)})")
    model = ld.string(res, "model", prefix)
    if model not in RESOLUTION_MODELS:
        raise ld.error(
            f"{prefix}.model", f"unknown resolution model '{model}'; allowed: {', '.join(RESOLUTION_MODELS)}"
        )
    if model == "table":
        ld.check_keys(res, prefix, ["model", "file"], what=f'{prefix} (model = "table")')
        path, text = ld.read_ref(res, "file", prefix)
        t = parse_csv(path, text, [SIGMA_COLUMNS])
        check_curve(t)
        s = t.data["sigma_keV"]
        bad = np.flatnonzero(s <= 0)
        if bad.size:
            raise t.error("sigma_keV", f"resolution must be > 0 keV, got {s[bad[0]]:g}", bad[0])
        return Resolution("table", energy_keV=frozen_array(t.data["energy_keV"]), sigma_keV=frozen_array(s))
    ld.check_keys(res, prefix, ["model", "a", "b"], what=f'{prefix} (model = "{model}")')
    a = ld.number(res, "a", prefix, minimum=0.0)
    b = ld.number(res, "b", prefix, minimum=0.0)
    if a == 0 and b == 0:
        raise ld.error(f"{prefix}.a", "a and b cannot both be 0 (zero resolution)")
    return Resolution(model, a=a, b=b)


def _parse_efficiency(ld: TomlReader, eff: Any, prefix: str) -> Efficiency:
    if not isinstance(eff, dict):
        raise ld.error(
            prefix,
            f'must be an inline table {{ file = "efficiency.csv" }} or {{ constant = 0.9 }}, got {toml_type_name(eff)}',
        )
    ld.check_keys(eff, prefix, [], ["file", "constant"])
    if ("file" in eff) == ("constant" in eff):
        raise ld.error(
            f"{prefix}.file", "give exactly one of 'file' or 'constant'" + (", not both" if "file" in eff else "")
        )
    if "constant" in eff:
        return Efficiency(None, None, constant=ld.number(eff, "constant", prefix, minimum=0.0, maximum=1.0))
    path, text = ld.read_ref(eff, "file", prefix)
    t = parse_csv(path, text, [EFFICIENCY_COLUMNS])
    check_curve(t)
    y = t.data["efficiency"]
    bad = np.flatnonzero((y < 0) | (y > 1))
    if bad.size:
        raise t.error("efficiency", f"efficiency must be within [0, 1], got {y[bad[0]]:g}", bad[0])
    return Efficiency(frozen_array(t.data["energy_keV"]), frozen_array(y))


def _parse_response(ld: TomlReader, resp: dict[str, Any]) -> tuple[Resolution, Efficiency, float, Prior]:
    ld.check_keys(resp, "response", ["resolution", "efficiency", "energy_scale"], ["threshold_keV"])
    resolution = _parse_resolution(ld, resp["resolution"], "response.resolution")
    efficiency = _parse_efficiency(ld, resp["efficiency"], "response.efficiency")
    threshold = ld.number(resp, "threshold_keV", "response", minimum=0.0) if "threshold_keV" in resp else 0.0
    es = resp["energy_scale"]
    if not isinstance(es, dict):
        raise ld.error(
            "response.energy_scale", f"must be a table {{ prior = {{ kind = ..., ... }} }}, got {toml_type_name(es)}"
        )
    ld.check_keys(es, "response.energy_scale", ["prior"])
    prior = parse_prior(es["prior"], ld.toml, "response.energy_scale.prior")
    return resolution, efficiency, threshold, prior


def _parse_background(ld: TomlReader, i: int, entry: Any, seen: dict[str, int]) -> Background:
    if not isinstance(entry, dict):
        raise ld.error(f"background[{i}]", f"must be a table ([[background]]), got {toml_type_name(entry)}")
    if "name" not in entry:
        raise ld.error(f"background[{i}].name", "missing required key 'name'")
    name = ld.string(entry, "name", f"background[{i}]")
    if not name.strip():
        raise ld.error(f"background[{i}].name", "name is empty")
    prefix = f"background[{name}]"
    if name in seen:
        raise ld.error(f"{prefix}.name", f"duplicate background name '{name}' (entries {seen[name] + 1} and {i + 1})")
    seen[name] = i
    has_file, has_builtin = "file" in entry, "builtin" in entry
    if has_file == has_builtin:
        raise ld.error(f"{prefix}.file", "give exactly one of 'file' or 'builtin'" + (", not both" if has_file else ""))
    if has_builtin:
        ld.check_keys(entry, prefix, ["name", "builtin", "prior"], what=f"{prefix} (a builtin background)")
        builtin = ld.string(entry, "builtin", prefix)
        if builtin not in BUILTIN_BACKGROUNDS:
            raise ld.error(
                f"{prefix}.builtin",
                f"unknown builtin background '{builtin}'; known: {', '.join(sorted(BUILTIN_BACKGROUNDS))}",
            )
        prior = parse_prior(entry["prior"], ld.toml, f"{prefix}.prior")
        return Background(name, "builtin", None, None, None, builtin, prior)
    ld.check_keys(
        entry, prefix, ["name", "file", "folded", "prior"], ["rate_unit"], what=f"{prefix} (a file background)"
    )
    folded = ld.boolean(entry, "folded", prefix)
    unit = "per_keV_kg_day"
    if "rate_unit" in entry:
        unit = ld.string(entry, "rate_unit", prefix)
        if unit not in RATE_UNITS:
            raise ld.error(f"{prefix}.rate_unit", f"unknown rate unit '{unit}'; allowed: {', '.join(RATE_UNITS)}")
    prior = parse_prior(entry["prior"], ld.toml, f"{prefix}.prior")
    path, text = ld.read_ref(entry, "file", prefix)
    t = parse_csv(path, text, BACKGROUND_COLUMNS)
    check_curve(t)
    factor = RATE_UNITS[unit]
    rate = t.data["rate"]
    bad = np.flatnonzero(rate < 0)
    if bad.size:
        raise t.error("rate", f"background rate must be >= 0, got {rate[bad[0]]:g}", bad[0])
    rate_err = t.data.get("rate_err")
    if rate_err is not None:
        bad = np.flatnonzero(rate_err < 0)
        if bad.size:
            raise t.error("rate_err", f"template uncertainty must be >= 0, got {rate_err[bad[0]]:g}", bad[0])
        rate_err = frozen_array(rate_err * factor)
    return Background(
        name,
        "folded" if folded else "true",
        frozen_array(t.data["energy_keV"]),
        frozen_array(rate * factor),
        rate_err,
        None,
        prior,
    )


def _check_coverage(ld: TomlReader, bkg: Background, ref: str, edges: np.ndarray) -> None:
    # a table tabulated at bin centres (e.g. 0.05 ... 29.95 keV) covers its outer bins to within half
    # its grid step (and never more than half the outermost observed bin)
    e = cast(np.ndarray, bkg.energy_keV)
    tol_lo = 0.5 * min(e[1] - e[0], edges[1] - edges[0]) + EDGE_TOL_KEV
    tol_hi = 0.5 * min(e[-1] - e[-2], edges[-1] - edges[-2]) + EDGE_TOL_KEV
    if e[0] > edges[0] + tol_lo or e[-1] < edges[-1] - tol_hi:
        raise ld.error(
            f"background[{bkg.name}].file",
            f"energy window outside template range: observed bins span [{edges[0]:g}, {edges[-1]:g}] keV "
            f"but folded template '{ref}' covers [{e[0]:g}, {e[-1]:g}] keV (half its grid step allowed at the ends)",
        )


def _parse_analysis(ld: TomlReader, table: dict[str, Any], edges: np.ndarray) -> DatasetAnalysis:
    ld.check_keys(table, "analysis", [], ["window_keV", "bin_width_keV"])
    window = None
    if "window_keV" in table:
        w = table["window_keV"]
        if not (isinstance(w, list) and len(w) == 2 and all(isinstance(v, (int, float)) for v in w)):
            raise ld.error("analysis.window_keV", f"must be a pair [lo, hi] of energies in keV, got {w!r}")
        lo, hi = float(w[0]), float(w[1])
        if not (math.isfinite(lo) and math.isfinite(hi) and 0 <= lo < hi):
            raise ld.error("analysis.window_keV", f"need finite 0 <= lo < hi, got [{lo:g}, {hi:g}]")
        if hi <= edges[0] or lo >= edges[-1]:
            raise ld.error(
                "analysis.window_keV",
                f"[{lo:g}, {hi:g}] keV does not overlap the data ({edges[0]:g}-{edges[-1]:g} keV)",
            )
        window = (lo, hi)
    width = ld.number(table, "bin_width_keV", "analysis", minimum=0.0) if "bin_width_keV" in table else None
    return DatasetAnalysis(window, width)


def load_dataset(path: str | Path) -> Dataset:
    """Load and validate a dataset folder (or its ``dataset.toml``). Raises :class:`InputError`.

    Keys (ARCHITECTURE.md §5 plus project additions)::

        [dataset]  name, description, target ("Xe"),
                   exactly one of exposure_kg_day | exposure_tonne_year (> 0; 1 t*yr = 365250 kg*day)
        [observed] file            CSV e_low_keV,e_high_keV,counts: contiguous bins, integer counts >= 0
        [response] resolution = { model = "a_sqrtE_plus_bE", a = .., b = .. }   sigma = a*sqrt(E/keV) + b*E
                             | { model = "table", file = "sigma.csv" }        CSV energy_keV,sigma_keV
                   efficiency = { file = "eff.csv" } (CSV energy_keV,efficiency) | { constant = 0.9 }
                   threshold_keV (optional, default 0.0)
        [analysis] (optional) window_keV = [lo, hi], bin_width_keV (0 = keep the bins): the data's own
                   analysis, used instead of the model file's unless the command line sets them
                   energy_scale = { prior = { kind = .., ... } }
        [[background]] name, prior, and either builtin = "solar_nu_sm" or
                   file (CSV energy_keV,rate[,rate_err]) + folded (bool) + rate_unit (optional,
                   "per_keV_kg_day" default | "per_keV_tonne_year")

    Referenced files are relative to the dataset folder. A folded template must cover the
    observed bins to within half its grid step at either end (tables tabulated at bin centres); its
    end values are extended over that half step. ``checksum`` is :func:`~bayes_xmass.datasets.dataset_files.dataset_checksum` of the bytes read.

    Examples
    --------
    >>> ds = load_dataset("data/xmass_i")  # doctest: +SKIP
    >>> ds.view(window=(2.0, 15.0), merge=2).counts  # doctest: +SKIP
    >>> ds.summary()["checksum"]  # doctest: +SKIP
    """
    toml_path = find_dataset_toml(path)
    raw, doc = read_dataset_toml(toml_path)
    ld = TomlReader(toml_path)
    ld.check_keys(doc, "", ["dataset", "observed", "response"], ["background", "analysis"])

    # [dataset]
    meta = ld.table(doc, "dataset", "")
    ld.check_keys(meta, "dataset", ["name", "description", "target"], ["exposure_kg_day", "exposure_tonne_year"])
    name = ld.string(meta, "name", "dataset")
    if not name.strip():
        raise ld.error("dataset.name", "name is empty")
    description = ld.string(meta, "description", "dataset")
    target = ld.string(meta, "target", "dataset")
    if target not in KNOWN_TARGETS:
        raise ld.error("dataset.target", f"unknown target '{target}'; known: {', '.join(sorted(KNOWN_TARGETS))}")
    has_kd, has_ty = "exposure_kg_day" in meta, "exposure_tonne_year" in meta
    if has_kd and has_ty:
        raise ld.error(
            "dataset.exposure_kg_day", "give exactly one of exposure_kg_day or exposure_tonne_year, not both"
        )
    if not (has_kd or has_ty):
        raise ld.error(
            "dataset.exposure_kg_day",
            "missing required key: give exactly one of exposure_kg_day or exposure_tonne_year",
        )
    if has_kd:
        exposure = ld.number(meta, "exposure_kg_day", "dataset", minimum=0.0, strict=True)
    else:
        exposure = tonne_year_to_kg_day(ld.number(meta, "exposure_tonne_year", "dataset", minimum=0.0, strict=True))

    # [observed]
    edges, counts = _parse_observed(ld, ld.table(doc, "observed", ""))

    # [analysis] (optional): the data's own window and binning
    analysis = _parse_analysis(ld, ld.table(doc, "analysis", ""), edges) if "analysis" in doc else DatasetAnalysis()

    # [response]
    resolution, efficiency, threshold, es_prior = _parse_response(ld, ld.table(doc, "response", ""))

    # [[background]]
    entries = doc.get("background", [])
    if not isinstance(entries, list):
        raise ld.error("background", f"must be an array of tables ([[background]]), got {toml_type_name(entries)}")
    seen: dict[str, int] = {}
    backgrounds = []
    for i, entry in enumerate(entries):
        bkg = _parse_background(ld, i, entry, seen)
        if bkg.source == "folded":
            _check_coverage(ld, bkg, entry["file"], edges)
        backgrounds.append(bkg)

    return Dataset(
        name=name,
        description=description,
        target=target,
        exposure_kg_day=float(exposure),
        bin_edges_keV=frozen_array(edges),
        counts=frozen_array(counts),
        resolution=resolution,
        efficiency=efficiency,
        threshold_keV=float(threshold),
        energy_scale_prior=es_prior,
        backgrounds=tuple(backgrounds),
        path=toml_path.parent,
        checksum=checksum_of_bytes(toml_path.name, raw, ld.files),
        toml_name=toml_path.name,
        files=tuple(sorted(ld.files)),
        analysis=analysis,
    )
