"""Datasets: observed binned counts, detector response and background templates.

A dataset is a folder with ``dataset.toml`` plus CSV tables (format: ARCHITECTURE.md §5, with
the additions documented in :func:`load_dataset`). Loading validates everything; any problem a
user can cause is an :class:`~bayes_xmass.errors.InputError` whose text is one line
``<file>: <field>: <message>``.

Internal units: energies in keV, exposure in kg*day, background rates in events/(keV kg day).
Conversions from tonne*year inputs happen here, at the edge, through :mod:`bayes_xmass.physics.constants`.

CSV tables: comma separated, UTF-8; lines whose first non-blank character is ``#`` and blank
lines are skipped; the first other line is the header and must list exactly the expected column
names, in order; every other line is one row of finite numbers. Whitespace around names and
values is ignored; quoting is not supported.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from bayes_xmass.physics.constants import DAYS_PER_YEAR, KG_PER_TONNE, kg_day_to_tonne_year, tonne_year_to_kg_day
from bayes_xmass.bundled import default_dataset
from bayes_xmass.errors import InputError

DEFAULT_DATASET = default_dataset()  # the bundled XMASS-I benchmark

from bayes_xmass.datasets.priors import Prior, parse_prior

__all__ = [
    "BUILTIN_BACKGROUNDS",
    "DATASET_TOML",
    "EDGE_TOL_KEV",
    "KNOWN_TARGETS",
    "RATE_UNITS",
    "RESOLUTION_MODELS",
    "Background",
    "Dataset",
    "Efficiency",
    "Resolution",
    "dataset_checksum",
    "load_dataset",
]

DATASET_TOML = "dataset.toml"
"""Name of the dataset description inside a dataset folder."""

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

EDGE_TOL_KEV = 1e-9
"""Tolerance (keV) when comparing bin edges (gaps, overlaps, view windows, template coverage)."""

OBSERVED_COLUMNS = ("e_low_keV", "e_high_keV", "counts")
EFFICIENCY_COLUMNS = ("energy_keV", "efficiency")
SIGMA_COLUMNS = ("energy_keV", "sigma_keV")
BACKGROUND_COLUMNS = (("energy_keV", "rate"), ("energy_keV", "rate", "rate_err"))


def _frozen(a: np.ndarray) -> np.ndarray:
    a = np.array(a, copy=True)
    a.flags.writeable = False
    return a


# --------------------------------------------------------------------------------------------
# Data types
# --------------------------------------------------------------------------------------------
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
            return np.interp(e, self.energy_keV, self.sigma_keV)
        return self.a * np.sqrt(np.maximum(e, 0.0)) + self.b * e

    def summary(self) -> dict[str, Any]:
        """JSON-able description."""
        if self.model == "table":
            return {"model": "table", "n_points": int(self.energy_keV.size),
                    "energy_range_keV": [float(self.energy_keV[0]), float(self.energy_keV[-1])]}
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
        return np.interp(e, self.energy_keV, self.efficiency)

    def summary(self) -> dict[str, Any]:
        """JSON-able description."""
        if self.constant is not None:
            return {"constant": self.constant}
        return {"table": True, "n_points": int(self.energy_keV.size),
                "energy_range_keV": [float(self.energy_keV[0]), float(self.energy_keV[-1])]}


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


@dataclass(frozen=True, eq=False)
class Dataset:
    """A validated dataset. Energies keV, exposure kg*day, rates events/(keV kg day).

    ``bin_edges_keV`` has n+1 entries, ``counts`` n (int64). ``path`` is the dataset folder,
    ``toml_name`` the description file in it, ``checksum`` the sha256 of
    :func:`dataset_checksum`. ``view_info`` is None for a loaded dataset and a small dict
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
        return 0.5 * (self.bin_edges_keV[:-1] + self.bin_edges_keV[1:])

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
                    src, "window",
                    f"{bad:g} keV is not a bin edge; window ({lo:g}, {hi:g}) keV must start and end on "
                    f"bin edges of [{edges[0]:g}, {edges[-1]:g}] keV",
                )
        if isinstance(merge, bool) or not isinstance(merge, (int, np.integer)) or merge < 1:
            raise InputError(src, "merge", f"must be a positive integer, got {merge!r}")
        merge = int(merge)
        n = i_hi - i_lo
        if n % merge:
            raise InputError(src, "merge", f"{n} bins in window ({lo:g}, {hi:g}) keV are not divisible by merge = {merge}")
        sub_edges = edges[i_lo : i_hi + 1]
        new_edges = sub_edges[::merge]
        new_counts = self.counts[i_lo:i_hi].reshape(-1, merge).sum(axis=1, dtype=np.int64)
        record = {"window_keV": [float(new_edges[0]), float(new_edges[-1])], "merge": merge,
                  "n_bins": int(new_counts.size), "parent_view": self.view_info}
        return dataclasses.replace(
            self, bin_edges_keV=_frozen(new_edges), counts=_frozen(new_counts), view_info=record
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
        }


# --------------------------------------------------------------------------------------------
# TOML helpers
# --------------------------------------------------------------------------------------------
def _type_name(value: Any) -> str:
    names = {bool: "boolean", int: "integer", float: "float", str: "string", dict: "table", list: "array"}
    return names.get(type(value), type(value).__name__)


def _join(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key


class _Loader:
    """State of one load: the TOML file (error source), folder, bytes of referenced files."""

    def __init__(self, toml_path: Path):
        self.toml = toml_path
        self.folder = toml_path.parent
        self.files: dict[str, bytes] = {}

    def error(self, field: str, message: str) -> InputError:
        return InputError(self.toml, field, message)

    # -- structure ---------------------------------------------------------------------------
    def check_keys(self, table: Mapping[str, Any], prefix: str, required: Sequence[str],
                   optional: Sequence[str] = (), what: str = "") -> None:
        allowed = list(required) + list(optional)
        for key in table:
            if key not in allowed:
                where = f" in {what}" if what else (f" in [{prefix}]" if prefix else " at top level")
                raise self.error(_join(prefix, key),
                                 f"unknown key '{key}'{where}; allowed keys: {', '.join(allowed)}")
        for key in required:
            if key not in table:
                raise self.error(_join(prefix, key), f"missing required key '{key}'")

    def table(self, parent: Mapping[str, Any], key: str, prefix: str) -> dict[str, Any]:
        value = parent[key]
        if not isinstance(value, dict):
            raise self.error(_join(prefix, key), f"must be a table, got {_type_name(value)}")
        return value

    def string(self, table: Mapping[str, Any], key: str, prefix: str) -> str:
        value = table[key]
        if not isinstance(value, str):
            raise self.error(_join(prefix, key), f"must be a string, got {_type_name(value)} {value!r}")
        return value

    def boolean(self, table: Mapping[str, Any], key: str, prefix: str) -> bool:
        value = table[key]
        if not isinstance(value, bool):
            raise self.error(_join(prefix, key), f"must be a boolean (true or false), got {_type_name(value)} {value!r}")
        return value

    def number(self, table: Mapping[str, Any], key: str, prefix: str, *, minimum: float | None = None,
               strict: bool = False, maximum: float | None = None) -> float:
        """Finite number, optionally >= minimum (> if strict) and <= maximum."""
        field = _join(prefix, key)
        value = table[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.error(field, f"must be a number, got {_type_name(value)} {value!r}")
        try:
            value = float(value)
        except OverflowError:  # a TOML integer beyond the float range
            raise self.error(field, f"must be finite, got an integer of {len(str(abs(value)))} digits") from None
        if not math.isfinite(value):
            raise self.error(field, f"must be finite, got {value}")
        if minimum is not None and (value <= minimum if strict else value < minimum):
            raise self.error(field, f"must be {'>' if strict else '>='} {minimum:g}, got {value:g}")
        if maximum is not None and value > maximum:
            raise self.error(field, f"must be <= {maximum:g}, got {value:g}")
        return value

    # -- referenced files ----------------------------------------------------------------------
    def read_ref(self, table: Mapping[str, Any], key: str, prefix: str) -> tuple[Path, str]:
        """Read the file named by ``table[key]`` (relative to the folder); returns (path, text)."""
        field = _join(prefix, key)
        ref = self.string(table, key, prefix)
        if not ref.strip():
            raise self.error(field, "file name is empty")
        path = self.folder / ref
        if not path.exists():
            raise self.error(field, f"referenced file '{ref}' not found (looked for {path})")
        if path.is_dir():
            raise self.error(field, f"referenced file '{ref}' is a directory, not a file")
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise self.error(field, f"cannot read referenced file '{ref}': {exc.strerror or exc}") from None
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise InputError(path, field, f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
        self.files[ref] = data
        return path, text


# --------------------------------------------------------------------------------------------
# CSV reading
# --------------------------------------------------------------------------------------------
@dataclass
class _Table:
    path: Path
    columns: tuple[str, ...]
    data: dict[str, np.ndarray]
    lines: np.ndarray  # 1-based file line number of each row

    @property
    def n_rows(self) -> int:
        return int(self.lines.size)

    def error(self, field: str, message: str, row: int | None = None) -> InputError:
        if row is not None:
            message = f"line {int(self.lines[row])}: {message}"
        return InputError(self.path, field, message)


def _parse_csv(path: Path, text: str, headers: Sequence[tuple[str, ...]]) -> _Table:
    """Parse CSV ``text``; the header must equal one of ``headers``. Never raises anything but InputError."""
    header: tuple[str, ...] | None = None
    rows: list[list[float]] = []
    lines: list[int] = []
    expected = " or ".join(",".join(h) for h in headers)
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        fields = [f.strip() for f in line.split(",")]
        if header is None:
            found = tuple(fields)
            if found not in headers:
                raise InputError(path, "header",
                                 f"line {lineno}: expected columns {expected}, found {','.join(found)}")
            header = found
            continue
        if len(fields) != len(header):
            raise InputError(path, "rows",
                             f"line {lineno}: expected {len(header)} comma-separated fields "
                             f"({','.join(header)}), found {len(fields)} (truncated or malformed row?)")
        values = []
        for name, f in zip(header, fields):
            try:
                v = float(f)
            except ValueError:
                raise InputError(path, name, f"line {lineno}: {f!r} is not a number") from None
            if not math.isfinite(v):
                raise InputError(path, name, f"line {lineno}: non-finite value {f!r} (NaN/inf not allowed)")
            values.append(v)
        rows.append(values)
        lines.append(lineno)
    if header is None:
        raise InputError(path, "header", f"file has no header line; expected columns {expected}")
    arr = np.array(rows, dtype=float).reshape(len(rows), len(header))
    data = {name: arr[:, i].copy() for i, name in enumerate(header)}
    return _Table(path, header, data, np.array(lines, dtype=int))


def _check_curve(table: _Table, *, min_rows: int = 2) -> None:
    """Energy column >= 0 and strictly increasing, at least ``min_rows`` rows."""
    if table.n_rows < min_rows:
        raise InputError(table.path, "rows",
                         f"table needs at least {min_rows} data rows, found {table.n_rows}")
    e = table.data["energy_keV"]
    neg = np.flatnonzero(e < 0)
    if neg.size:
        raise table.error("energy_keV", f"negative energy {e[neg[0]]:g} keV", neg[0])
    bad = np.flatnonzero(np.diff(e) <= 0)
    if bad.size:
        i = bad[0] + 1
        raise table.error("energy_keV",
                          f"energy column must be strictly increasing: {e[i]:g} keV after {e[i - 1]:g} keV", i)


# --------------------------------------------------------------------------------------------
# Section parsers
# --------------------------------------------------------------------------------------------
def _parse_observed(ld: _Loader, obs: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    ld.check_keys(obs, "observed", ["file"])
    path, text = ld.read_ref(obs, "file", "observed")
    t = _parse_csv(path, text, [OBSERVED_COLUMNS])
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
            raise t.error("e_low_keV",
                          f"bins are not sorted: e_low_keV {lo[i]:g} comes after a bin starting at {lo[i - 1]:g}", i)
        if lo[i] < hi[i - 1] - EDGE_TOL_KEV:
            raise t.error("e_low_keV",
                          f"bin [{lo[i]:g}, {hi[i]:g}] overlaps the previous bin [{lo[i - 1]:g}, {hi[i - 1]:g}]", i)
        if lo[i] > hi[i - 1] + EDGE_TOL_KEV:
            raise t.error("e_low_keV",
                          f"gap between bins: previous e_high_keV = {hi[i - 1]:g} but e_low_keV = {lo[i]:g} "
                          f"(tolerance {EDGE_TOL_KEV:g} keV)", i)
    edges = np.append(lo, hi[-1])
    return edges, c.astype(np.int64)


def _parse_resolution(ld: _Loader, res: Any, prefix: str) -> Resolution:
    if not isinstance(res, dict):
        raise ld.error(prefix, f"must be an inline table like {{ model = \"a_sqrtE_plus_bE\", a = 0.31, b = 0.0037 }}, "
                               f"got {_type_name(res)}")
    if "model" not in res:
        raise ld.error(f"{prefix}.model", f"missing required key 'model' (one of: {', '.join(RESOLUTION_MODELS)})")
    model = ld.string(res, "model", prefix)
    if model not in RESOLUTION_MODELS:
        raise ld.error(f"{prefix}.model", f"unknown resolution model '{model}'; allowed: {', '.join(RESOLUTION_MODELS)}")
    if model == "table":
        ld.check_keys(res, prefix, ["model", "file"], what=f"{prefix} (model = \"table\")")
        path, text = ld.read_ref(res, "file", prefix)
        t = _parse_csv(path, text, [SIGMA_COLUMNS])
        _check_curve(t)
        s = t.data["sigma_keV"]
        bad = np.flatnonzero(s <= 0)
        if bad.size:
            raise t.error("sigma_keV", f"resolution must be > 0 keV, got {s[bad[0]]:g}", bad[0])
        return Resolution("table", energy_keV=_frozen(t.data["energy_keV"]), sigma_keV=_frozen(s))
    ld.check_keys(res, prefix, ["model", "a", "b"], what=f"{prefix} (model = \"{model}\")")
    a = ld.number(res, "a", prefix, minimum=0.0)
    b = ld.number(res, "b", prefix, minimum=0.0)
    if a == 0 and b == 0:
        raise ld.error(f"{prefix}.a", "a and b cannot both be 0 (zero resolution)")
    return Resolution(model, a=a, b=b)


def _parse_efficiency(ld: _Loader, eff: Any, prefix: str) -> Efficiency:
    if not isinstance(eff, dict):
        raise ld.error(prefix, f"must be an inline table {{ file = \"efficiency.csv\" }} or {{ constant = 0.9 }}, "
                               f"got {_type_name(eff)}")
    ld.check_keys(eff, prefix, [], ["file", "constant"])
    if ("file" in eff) == ("constant" in eff):
        raise ld.error(f"{prefix}.file", "give exactly one of 'file' or 'constant'"
                       + (", not both" if "file" in eff else ""))
    if "constant" in eff:
        return Efficiency(None, None, constant=ld.number(eff, "constant", prefix, minimum=0.0, maximum=1.0))
    path, text = ld.read_ref(eff, "file", prefix)
    t = _parse_csv(path, text, [EFFICIENCY_COLUMNS])
    _check_curve(t)
    y = t.data["efficiency"]
    bad = np.flatnonzero((y < 0) | (y > 1))
    if bad.size:
        raise t.error("efficiency", f"efficiency must be within [0, 1], got {y[bad[0]]:g}", bad[0])
    return Efficiency(_frozen(t.data["energy_keV"]), _frozen(y))


def _parse_response(ld: _Loader, resp: dict[str, Any]) -> tuple[Resolution, Efficiency, float, Prior]:
    ld.check_keys(resp, "response", ["resolution", "efficiency", "energy_scale"], ["threshold_keV"])
    resolution = _parse_resolution(ld, resp["resolution"], "response.resolution")
    efficiency = _parse_efficiency(ld, resp["efficiency"], "response.efficiency")
    threshold = ld.number(resp, "threshold_keV", "response", minimum=0.0) if "threshold_keV" in resp else 0.0
    es = resp["energy_scale"]
    if not isinstance(es, dict):
        raise ld.error("response.energy_scale",
                       f"must be a table {{ prior = {{ kind = ..., ... }} }}, got {_type_name(es)}")
    ld.check_keys(es, "response.energy_scale", ["prior"])
    prior = parse_prior(es["prior"], ld.toml, "response.energy_scale.prior")
    return resolution, efficiency, threshold, prior


def _parse_background(ld: _Loader, i: int, entry: Any, seen: dict[str, int]) -> Background:
    if not isinstance(entry, dict):
        raise ld.error(f"background[{i}]", f"must be a table ([[background]]), got {_type_name(entry)}")
    if "name" not in entry:
        raise ld.error(f"background[{i}].name", "missing required key 'name'")
    name = ld.string(entry, "name", f"background[{i}]")
    if not name.strip():
        raise ld.error(f"background[{i}].name", "name is empty")
    prefix = f"background[{name}]"
    if name in seen:
        raise ld.error(f"{prefix}.name",
                       f"duplicate background name '{name}' (entries {seen[name] + 1} and {i + 1})")
    seen[name] = i
    has_file, has_builtin = "file" in entry, "builtin" in entry
    if has_file == has_builtin:
        raise ld.error(f"{prefix}.file", "give exactly one of 'file' or 'builtin'"
                       + (", not both" if has_file else ""))
    if has_builtin:
        ld.check_keys(entry, prefix, ["name", "builtin", "prior"], what=f"{prefix} (a builtin background)")
        builtin = ld.string(entry, "builtin", prefix)
        if builtin not in BUILTIN_BACKGROUNDS:
            raise ld.error(f"{prefix}.builtin",
                           f"unknown builtin background '{builtin}'; known: {', '.join(sorted(BUILTIN_BACKGROUNDS))}")
        prior = parse_prior(entry["prior"], ld.toml, f"{prefix}.prior")
        return Background(name, "builtin", None, None, None, builtin, prior)
    ld.check_keys(entry, prefix, ["name", "file", "folded", "prior"], ["rate_unit"], what=f"{prefix} (a file background)")
    folded = ld.boolean(entry, "folded", prefix)
    unit = "per_keV_kg_day"
    if "rate_unit" in entry:
        unit = ld.string(entry, "rate_unit", prefix)
        if unit not in RATE_UNITS:
            raise ld.error(f"{prefix}.rate_unit", f"unknown rate unit '{unit}'; allowed: {', '.join(RATE_UNITS)}")
    prior = parse_prior(entry["prior"], ld.toml, f"{prefix}.prior")
    path, text = ld.read_ref(entry, "file", prefix)
    t = _parse_csv(path, text, BACKGROUND_COLUMNS)
    _check_curve(t)
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
        rate_err = _frozen(rate_err * factor)
    return Background(name, "folded" if folded else "true", _frozen(t.data["energy_keV"]),
                      _frozen(rate * factor), rate_err, None, prior)


def _check_coverage(ld: _Loader, bkg: Background, ref: str, edges: np.ndarray) -> None:
    e = bkg.energy_keV
    if e[0] > edges[0] + EDGE_TOL_KEV or e[-1] < edges[-1] - EDGE_TOL_KEV:
        raise ld.error(f"background[{bkg.name}].file",
                       f"energy window outside template range: observed bins span [{edges[0]:g}, {edges[-1]:g}] keV "
                       f"but folded template '{ref}' covers [{e[0]:g}, {e[-1]:g}] keV")


# --------------------------------------------------------------------------------------------
# Entry points
# --------------------------------------------------------------------------------------------
def _resolve(path: str | Path) -> Path:
    p = Path(path).expanduser()
    if p.is_dir():
        toml_path = p / DATASET_TOML
        if not toml_path.is_file():
            raise InputError(p, DATASET_TOML, f"dataset folder has no {DATASET_TOML}")
        return toml_path.resolve()
    if not p.exists():
        raise InputError(p, "", "dataset not found (give a dataset folder or its dataset.toml)")
    return p.resolve()


def _read_toml(toml_path: Path) -> tuple[bytes, dict[str, Any]]:
    try:
        raw = toml_path.read_bytes()
    except OSError as exc:
        raise InputError(toml_path, "", f"cannot read: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8-sig")  # a leading BOM (Windows editors) is accepted, as in the CSVs
    except UnicodeDecodeError as exc:
        raise InputError(toml_path, "", f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(toml_path, "toml syntax", str(exc)) from None
    return raw, doc


def _checksum(toml_name: str, toml_bytes: bytes, files: Mapping[str, bytes]) -> str:
    """sha256 over (name, length, bytes) of the TOML, then of each referenced file sorted by name."""
    h = hashlib.sha256()
    for name, data in [(toml_name, toml_bytes)] + sorted(files.items()):
        h.update(name.encode("utf-8") + b"\0")
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)
    return h.hexdigest()


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
                   energy_scale = { prior = { kind = .., ... } }
        [[background]] name, prior, and either builtin = "solar_nu_sm" or
                   file (CSV energy_keV,rate[,rate_err]) + folded (bool) + rate_unit (optional,
                   "per_keV_kg_day" default | "per_keV_tonne_year")

    Referenced files are relative to the dataset folder. A folded template must cover the
    observed bins. ``checksum`` is :func:`dataset_checksum` of the bytes read.

    Examples
    --------
    >>> ds = load_dataset("data/xmass_i")  # doctest: +SKIP
    >>> ds.view(window=(2.0, 15.0), merge=2).counts  # doctest: +SKIP
    >>> ds.summary()["checksum"]  # doctest: +SKIP
    """
    toml_path = _resolve(path)
    raw, doc = _read_toml(toml_path)
    ld = _Loader(toml_path)
    ld.check_keys(doc, "", ["dataset", "observed", "response"], ["background"])

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
        raise ld.error("dataset.exposure_kg_day", "give exactly one of exposure_kg_day or exposure_tonne_year, not both")
    if not (has_kd or has_ty):
        raise ld.error("dataset.exposure_kg_day",
                       "missing required key: give exactly one of exposure_kg_day or exposure_tonne_year")
    if has_kd:
        exposure = ld.number(meta, "exposure_kg_day", "dataset", minimum=0.0, strict=True)
    else:
        exposure = tonne_year_to_kg_day(ld.number(meta, "exposure_tonne_year", "dataset", minimum=0.0, strict=True))

    # [observed]
    edges, counts = _parse_observed(ld, ld.table(doc, "observed", ""))

    # [response]
    resolution, efficiency, threshold, es_prior = _parse_response(ld, ld.table(doc, "response", ""))

    # [[background]]
    entries = doc.get("background", [])
    if not isinstance(entries, list):
        raise ld.error("background", f"must be an array of tables ([[background]]), got {_type_name(entries)}")
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
        bin_edges_keV=_frozen(edges),
        counts=_frozen(counts),
        resolution=resolution,
        efficiency=efficiency,
        threshold_keV=float(threshold),
        energy_scale_prior=es_prior,
        backgrounds=tuple(backgrounds),
        path=toml_path.parent,
        checksum=_checksum(toml_path.name, raw, ld.files),
        toml_name=toml_path.name,
        files=tuple(sorted(ld.files)),
    )


def _referenced_files(doc: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """(field, file reference) for every file a parsed dataset TOML names."""
    refs: list[tuple[str, Any]] = []
    obs = doc.get("observed")
    if isinstance(obs, dict) and "file" in obs:
        refs.append(("observed.file", obs["file"]))
    resp = doc.get("response")
    if isinstance(resp, dict):
        for key in ("resolution", "efficiency"):
            sub = resp.get(key)
            if isinstance(sub, dict) and "file" in sub:
                refs.append((f"response.{key}.file", sub["file"]))
    bkgs = doc.get("background")
    if isinstance(bkgs, list):
        for i, b in enumerate(bkgs):
            if isinstance(b, dict) and "file" in b:
                refs.append((f"background[{b.get('name', i)}].file", b["file"]))
    return refs


def dataset_checksum(folder: str | Path) -> str:
    """sha256 (hex) of a dataset: its TOML plus every referenced file, as (name, bytes).

    Files are taken in sorted order of their names as written in the TOML, so the checksum does
    not depend on where the folder lives. Equals ``load_dataset(folder).checksum``. Only the
    file references are checked here (use :func:`load_dataset` to validate).
    """
    toml_path = _resolve(folder)
    raw, doc = _read_toml(toml_path)
    ld = _Loader(toml_path)
    for field, ref in _referenced_files(doc):
        prefix, key = field.rsplit(".", 1)
        ld.read_ref({key: ref}, key, prefix)
    return _checksum(toml_path.name, raw, ld.files)
