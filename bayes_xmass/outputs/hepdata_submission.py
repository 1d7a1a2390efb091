"""HEPData tables of a results document (``limits.json``, docs/results-schema.md): no file I/O.

:func:`hepdata_tables` turns the document into ``hepdata_lib`` tables, in this order:

- per interaction and dataset, the **limits table**: one row per fit (independent variables: the fit
  label, and the flavour set and sign for millicharge, the mediator mass for B-L), one column per
  limit kind in the coupling's physical unit (``mu_B``, ``e``, ``dimensionless``), the expected
  medians with their +-1 sigma / +-2 sigma bands as asymmetric uncertainties, and the signed best fit;
- per dataset with millicharge fits, the **millicharge table**: one row per flavour set, one column
  per limit kind and sign;
- per dataset and mass grid, the **B-L exclusion table**: limit vs mediator mass [MeV], one column
  per curve, the expected median with its bands.

Every limit column carries the qualifiers ``CL``, ``test statistic``, ``prior`` and ``dataset`` (and
``warnings`` when a limit in it must not be quoted as it is); every table's description lists the
warnings and the run's provenance (package versions, command, seed, dataset checksums). A limit
that is ``null`` in the document is written as ``-``. Only the physical-unit keys are read, never
the ``*_scaled`` ones. ``hepdata_lib`` (the ``export`` extra) is imported inside the functions.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from bayes_xmass.errors import InputError
from bayes_xmass.outputs.results import LIMIT_KINDS

__all__ = ["MISSING", "SubmissionMeta", "hepdata_tables", "prior_text", "provenance_text", "submission_metadata"]

MISSING = "-"  # HEPData's value for "no number here"
_DIGITS = 12  # significant digits kept in the YAML (hepdata_lib's default, 5, would round the limits)
_SOURCE = "limits.json"
# interaction -> (short name, words, LaTeX symbol of the coupling, keyword phrase)
_INTERACTIONS = {
    "magnetic_moment": ("magnetic moment", "neutrino magnetic moment", r"\mu_{\nu}", "Neutrino magnetic moment"),
    "millicharge": ("millicharge", "neutrino millicharge", r"q_{\nu}", "Neutrino millicharge"),
    "b_minus_l": ("B-L", "U(1)_B-L gauge coupling g_B-L", r"g_{B-L}", "Dark photon"),
}
_UNITS = {"magnetic_moment": "mu_B", "millicharge": "e", "b_minus_l": "dimensionless"}
_BANDS = (("1 sigma", "-1sigma", "+1sigma"), ("2 sigma", "-2sigma", "+2sigma"))
_EXPECTED = (
    "; expected limits: the median of background-only toys, the +-1 sigma and +-2 sigma bands as asymmetric "
    "uncertainties"
)
_SIGNS = {-1: "negative (q_nu < 0)", 1: "positive (q_nu > 0)"}


@dataclass(frozen=True)
class SubmissionMeta:
    """What the submission says as a whole: ``comment`` (submission.yaml) and the description of the
    attached ``limits.json``."""

    comment: str
    limits_json_description: str


def _num(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    return float(v) if v == v and abs(v) != float("inf") else None


def _cl_text(values: Iterable[Any]) -> str:
    return _join(f"{100 * float(v):g}%" for v in values if _num(v) is not None) or "not recorded"


def _join(values: Iterable[str], sep: str = "; ") -> str:
    return sep.join(dict.fromkeys(v for v in values if v))


def _names(interaction: str) -> tuple[str, str, str, str]:
    return _INTERACTIONS.get(interaction, (interaction,) * 4)


def _unit(rec: Mapping[str, Any]) -> str:
    return str(rec.get("coupling_unit") or _UNITS.get(str(rec.get("interaction")), ""))


def _dataset_text(doc: Mapping[str, Any], label: str) -> str:
    datasets = (doc.get("provenance") or {}).get("datasets") or {}
    if label == "combined":
        return f"combined ({', '.join(datasets)})" if datasets else "combined"
    name = (datasets.get(label) or {}).get("name")
    return f"{label} ({name})" if name and name != label else label


def prior_text(rec: Mapping[str, Any]) -> str:
    """The POI prior of a fit record (its optional ``poi_prior``) in words.

    >>> prior_text({"coupling_unit": "mu_B", "poi_prior": {"kind": "flat_power", "power": 2.0, "upper": 2e-09}})
    'flat_power in |coupling|, power 2, upper bound 2e-09 mu_B'
    """
    prior = rec.get("poi_prior")
    if not isinstance(prior, Mapping) or "kind" not in prior:
        return "not recorded (see limits.json)"
    parts = [f"{prior['kind']} in |coupling|"]
    if _num(prior.get("power")) is not None:
        parts.append(f"power {prior['power']:g}")
    if _num(prior.get("floor")) is not None:
        parts.append(f"floor {prior['floor']:.6g} {_unit(rec)}")
    if _num(prior.get("upper")) is not None:
        parts.append(f"upper bound {prior['upper']:.6g} {_unit(rec)}")
    return ", ".join(parts)


def provenance_text(doc: Mapping[str, Any]) -> str:
    """The run's provenance in one paragraph: versions, command, seed, creation time, datasets."""
    prov = doc.get("provenance") or {}
    versions = dict(prov.get("package_versions") or {})
    head = [f"bayes_xmass {versions.pop('bayes_xmass', 'unknown version')}"]
    head.append(f"command '{doc.get('command', 'unknown')}'")
    for key, label in (("seed", "seed"), ("created", "created")):
        if prov.get(key) is not None:
            head.append(f"{label} {prov[key]}")
    head.append(f"results schema {doc.get('schema_version', 'unknown')}")
    text = "Provenance: " + ", ".join(head) + "."
    datasets = prov.get("datasets") or {}
    if datasets:
        entries = [
            f"{label} = {(entry or {}).get('name', label)} (SHA-256 {(entry or {}).get('checksum', 'not recorded')})"
            for label, entry in datasets.items()
        ]
        text += " Datasets: " + "; ".join(entries) + "."
    if versions:
        text += " Packages: " + ", ".join(f"{k} {v}" for k, v in versions.items() if v) + "."
    return text + " Model configuration, sampler settings and every fit's details: the attached limits.json."


def submission_metadata(doc: Mapping[str, Any]) -> SubmissionMeta:
    """The submission's comment and the description of its attached ``limits.json``."""
    fits = doc.get("fits") or []
    present = {str(f.get("interaction")) for f in fits} | _curve_interactions(doc)
    kinds = [k for k in _INTERACTIONS if k in present] + sorted(present - set(_INTERACTIONS) - {"None"})
    what = ", ".join(_names(k)[1] for k in kinds) or "no fits"
    comment = (
        f"Upper limits at {_cl_text([doc.get('cl')])} CL on exotic neutrino-electron interactions ({what}) "
        "from solar-neutrino elastic scattering in liquid-xenon detectors, computed with bayes_xmass "
        "(Bayesian credible limits and frequentist profile-likelihood limits). Limits are in the coupling's "
        "physical unit: mu_B (Bohr magnetons), e (elementary charge), dimensionless (g_B-L). " + provenance_text(doc)
    )
    description = (
        f"The run's limits.json (bayes_xmass results schema {doc.get('schema_version', '?')}): every fit record "
        "with its details, the exclusion curves, the model configuration and the provenance."
    )
    return SubmissionMeta(comment, description)


def _curve_interactions(doc: Mapping[str, Any]) -> set[str]:
    return {str(c.get("interaction")) for c in doc.get("exclusion_curves") or [] if c.get("interaction")}


class _Builder:
    """Makes the tables of one document; keeps the table names (and so the file names) unique."""

    def __init__(self, doc: Mapping[str, Any]):
        import hepdata_lib

        self.lib = hepdata_lib
        self.doc = doc
        self.names: set[str] = set()
        self.provenance = provenance_text(doc)
        self.version = str(((doc.get("provenance") or {}).get("package_versions") or {}).get("bayes_xmass", "?"))

    def table(self, name: str, description: str, interaction: str, warnings: list[str]) -> Any:
        name = re.sub(r"[^A-Za-z0-9 _.+-]", "_", name)[:64].strip()
        base, i = name, 2
        while name.lower().replace(" ", "_") in self.names:
            suffix = f" {i}"
            name, i = base[: 64 - len(suffix)] + suffix, i + 1
        self.names.add(name.lower().replace(" ", "_"))
        table = self.lib.Table(name)
        if warnings:
            description += " WARNINGS (read before quoting these limits): " + " | ".join(warnings) + "."
        table.description = description + " " + self.provenance
        table.location = f"limits.json of a bayes_xmass '{self.doc.get('command', '?')}' run"[:256]
        phrase = _names(interaction)[3]
        table.keywords["phrases"] = [phrase, "Solar neutrinos", "Xenon", "Upper limit", f"bayes_xmass {self.version}"]
        table.keywords["reactions"] = ["NU E --> NU E"]
        return table

    def independent(self, name: str, values: list[Any], unit: str = "") -> Any:
        var = self.lib.Variable(name, is_independent=True, is_binned=False, units=unit)
        var.values = [MISSING if v is None else v for v in values]
        var.digits = _DIGITS
        return var

    def column(self, name: str, unit: str, values: list[float | None], qualifiers: dict[str, Any]) -> Any:
        var = self.lib.Variable(
            name, is_independent=False, is_binned=False, units=unit, zero_uncertainties_warning=False
        )
        var.values = [MISSING if v is None else v for v in values]
        var.digits = _DIGITS
        for key, value in qualifiers.items():
            if value not in (None, ""):
                var.add_qualifier(key, value)
        return var

    def bands(self, var: Any, median: list[float | None], bands: Mapping[str, list[Any]]) -> None:
        """The expected limit's bands as asymmetric uncertainties around the median (none where a
        number is missing)."""
        for label, lo_key, hi_key in _BANDS:
            if lo_key not in bands or hi_key not in bands:
                continue
            unc = self.lib.Uncertainty(label, is_symmetric=False)
            pairs = []
            for m, lo, hi in zip(median, bands[lo_key], bands[hi_key], strict=True):
                lo, hi = _num(lo), _num(hi)
                pairs.append((0.0, 0.0) if m is None or lo is None or hi is None else (lo - m, hi - m))
            unc.values = pairs
            for i, (m, lo, hi) in enumerate(zip(median, bands[lo_key], bands[hi_key], strict=True)):
                if m is None or _num(lo) is None or _num(hi) is None:
                    unc.values[i] = None  # hepdata_lib skips a None entry
            var.add_uncertainty(unc)

    def qualifiers(self, statistic: str, cl: str, prior: str, dataset: str) -> dict[str, Any]:
        return {
            "CL": cl,
            "test statistic": f"{statistic}: {LIMIT_KINDS.get(statistic, statistic)}",
            "prior": prior if statistic == "bayes" else "none (frequentist)",
            "dataset": dataset,
        }


def _kinds(maps: Iterable[Mapping[str, Any] | None]) -> list[str]:
    present = {k for m in maps for k in (m or {})}
    return [k for k in LIMIT_KINDS if k in present]


def _warned(recs: list[Mapping[str, Any]], kind: str | None) -> list[str]:
    """``"<fit>: <reason>"`` for the warnings of ``recs`` on ``kind`` and the fit-wide ones; with
    ``kind`` None every warning, as ``"<fit> (<kind>): <reason>"``."""
    out = []
    for rec in recs:
        for w in rec.get("warnings") or []:
            which = w.get("limit")
            if kind is None:
                out.append(f"{rec['fit']} ({which}): {w.get('reason')}")
            elif which in (kind, "fit"):
                out.append(f"{rec['fit']}: {w.get('reason')}")
    return list(dict.fromkeys(out))


def _limits_table(b: _Builder, interaction: str, dataset: str, recs: list[Mapping[str, Any]]) -> Any:
    short, words, sym, _ = _names(interaction)
    unit = _unit(recs[0])
    dtext = _dataset_text(b.doc, dataset)
    cl = _cl_text(r.get("cl", b.doc.get("cl")) for r in recs)
    prior = _join(prior_text(r) for r in recs)
    table = b.table(
        f"Limits {short} - {dataset}",
        f"Upper limits at {cl} CL on the {words} ({unit}), dataset {dtext}: one row per fit, one column per "
        "limit kind (qualifier 'test statistic')"
        + (_EXPECTED if any(r.get("expected") for r in recs) else "")
        + "; '-' = not finite or not computed.",
        interaction,
        _warned(recs, None),
    )
    table.add_variable(b.independent("Fit", [str(r["fit"]) for r in recs]))
    if interaction == "millicharge":
        table.add_variable(b.independent("Flavour set", [r.get("flavours") for r in recs]))
        table.add_variable(b.independent("Sign of $q_{\\nu}$", [int(r.get("sign") or 1) for r in recs]))
    if interaction == "b_minus_l" or any(_num(r.get("mass_MeV")) is not None for r in recs):
        table.add_variable(b.independent("Mediator mass", [_num(r.get("mass_MeV")) for r in recs], "MeV"))
    for kind in _kinds(r.get("limits") for r in recs):
        values = [_num((r.get("limits") or {}).get(kind)) for r in recs]
        q = b.qualifiers(kind, cl, prior, dtext)
        q["warnings"] = "; ".join(_warned(recs, kind))
        table.add_variable(b.column(f"Upper limit on $|{sym}|$ ({kind})", unit, values, q))
    for kind in _kinds(r.get("expected") for r in recs):
        expected = [(r.get("expected") or {}).get(kind) or {} for r in recs]
        median = [_num(e.get("median")) for e in expected]
        q = b.qualifiers(kind, cl, prior, dtext)
        q["toys"] = _join((str(e["n_toys"]) for e in expected if e.get("n_toys")), ", ")
        var = b.column(f"Expected upper limit on $|{sym}|$ ({kind}, median)", unit, median, q)
        b.bands(var, median, {k: [e.get(k) for e in expected] for _, lo, hi in _BANDS for k in (lo, hi)})
        table.add_variable(var)
    best = [_num(r.get("best_fit")) for r in recs]
    if any(v is not None for v in best):
        q = {"test statistic": "profile likelihood (signed best fit)", "dataset": dtext}
        q["warnings"] = "; ".join(w for w in _warned(recs, "fit") if w)
        table.add_variable(b.column(f"Best-fit ${sym}$", unit, best, q))
    return table


def _millicharge_table(b: _Builder, dataset: str, recs: list[Mapping[str, Any]]) -> Any:
    flavours = list(dict.fromkeys(str(r.get("flavours") or "unspecified") for r in recs))
    signs = [s for s in (-1, 1) if any(int(r.get("sign") or 1) == s for r in recs)]
    cell: dict[tuple[str, int], Mapping[str, Any]] = {}
    for r in recs:
        cell.setdefault((str(r.get("flavours") or "unspecified"), int(r.get("sign") or 1)), r)
    unit, dtext = _unit(recs[0]), _dataset_text(b.doc, dataset)
    cl = _cl_text(r.get("cl", b.doc.get("cl")) for r in recs)
    prior = _join(prior_text(r) for r in recs)
    table = b.table(
        f"Millicharge limits by flavour and sign - {dataset}",
        f"Upper limits at {cl} CL on the neutrino millicharge |q_nu| (e), dataset {dtext}, per neutrino flavour "
        "set (rows) and sign of q_nu (qualifier 'sign'), one column per limit kind and sign; '-' = not finite "
        "or not computed.",
        "millicharge",
        _warned(recs, None),
    )
    table.add_variable(b.independent("Flavour set", flavours))
    for kind in _kinds(r.get("limits") for r in recs):
        for sign in signs:
            column = [cell.get((f, sign)) for f in flavours]
            values = [None if r is None else _num((r.get("limits") or {}).get(kind)) for r in column]
            q = b.qualifiers(kind, cl, prior, dtext)
            q["sign"] = _SIGNS[sign]
            q["warnings"] = "; ".join(_warned([r for r in column if r is not None], kind))
            name = f"Upper limit on $|q_{{\\nu}}|$, $q_{{\\nu}} {'<' if sign < 0 else '>'} 0$ ({kind})"
            table.add_variable(b.column(name, unit, values, q))
    return table


def _curve_list(curve: Mapping[str, Any], key: str, n: int, where: str) -> list[Any]:
    values = curve.get(key)
    if not isinstance(values, list) or len(values) != n:
        raise InputError(_SOURCE, where, f"expected a list of {n} values (one per mass)")
    return values


def _curve_table(b: _Builder, dataset: str, masses: list[float], curves: list[tuple[int, Mapping[str, Any]]]) -> Any:
    dtext, n = _dataset_text(b.doc, dataset), len(masses)
    bl = [r for r in b.doc.get("fits") or [] if r.get("interaction") == "b_minus_l" and r.get("dataset") == dataset]
    prior = _join(prior_text(r) for r in bl) or "not recorded (see limits.json)"
    columns, warnings = [], []
    for i, curve in curves:
        stat, name = str(curve.get("statistic")), str(curve.get("name"))
        cl, unit = _cl_text([curve.get("cl")]), str(curve.get("coupling_unit") or "dimensionless")
        limit = [_num(v) for v in _curve_list(curve, "limit", n, f"exclusion_curves/{i}/limit")]
        notes = []
        if any(v is None for v in limit):
            notes.append(
                f"no finite limit at M = {', '.join(f'{m:g}' for m, v in zip(masses, limit) if v is None)} MeV"
            )
        if "diagnostics_ok" in curve:
            ok = _curve_list(curve, "diagnostics_ok", n, f"exclusion_curves/{i}/diagnostics_ok")
            bad = [f"{m:g}" for m, good in zip(masses, ok) if good is False]
            if bad:
                notes.append(f"sampling diagnostics failed at M = {', '.join(bad)} MeV")
        warnings += [f"{name}: {note}" for note in notes]
        q = b.qualifiers(stat, cl, prior, dtext)
        q["curve"] = name
        q["warnings"] = "; ".join(notes)
        columns.append(b.column(f"Upper limit on $|g_{{B-L}}|$ ({stat})", unit, limit, q))
        expected = curve.get("expected") or {}
        if "median" in expected:
            where = f"exclusion_curves/{i}/expected"
            bands = {k: _curve_list(expected, k, n, f"{where}/{k}") for k in expected}
            median = [_num(v) for v in bands["median"]]
            q = {**b.qualifiers(stat, cl, prior, dtext), "curve": name}
            var = b.column(f"Expected upper limit on $|g_{{B-L}}|$ ({stat}, median)", unit, median, q)
            b.bands(var, median, bands)
            columns.append(var)
    stats = ", ".join(dict.fromkeys(str(c.get("statistic")) for _, c in curves))
    table = b.table(
        f"B-L exclusion - {dataset}",
        f"Upper limits on the U(1)_B-L gauge coupling g_B-L (dimensionless) vs the mediator mass (MeV), dataset "
        f"{dtext}; statistics: {stats}"
        + (_EXPECTED if any("median" in (c.get("expected") or {}) for _, c in curves) else "")
        + "; '-' = not finite.",
        "b_minus_l",
        warnings,
    )
    table.add_variable(b.independent("Mediator mass", list(masses), "MeV"))
    for var in columns:
        table.add_variable(var)
    return table


def hepdata_tables(doc: Mapping[str, Any]) -> list[Any]:
    """The ``hepdata_lib.Table`` objects of a results document (module docstring); InputError if it
    holds neither fits nor exclusion curves, or a curve's lists differ in length from its masses."""
    fits = [f for f in doc.get("fits") or [] if isinstance(f, Mapping) and f.get("fit")]
    curves = [c for c in doc.get("exclusion_curves") or [] if isinstance(c, Mapping)]
    if not fits and not curves:
        raise InputError(_SOURCE, "fits", "nothing to export: no fits and no exclusion curves")
    b = _Builder(doc)
    groups: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    order = list(_INTERACTIONS)
    for rec in sorted(fits, key=lambda r: order.index(r["interaction"]) if r.get("interaction") in order else 99):
        groups.setdefault((str(rec.get("interaction")), str(rec.get("dataset", "unknown"))), []).append(rec)
    tables = [_limits_table(b, inter, ds, recs) for (inter, ds), recs in groups.items()]
    tables += [_millicharge_table(b, ds, recs) for (inter, ds), recs in groups.items() if inter == "millicharge"]
    grids: dict[tuple[str, tuple[float, ...]], list[tuple[int, Mapping[str, Any]]]] = {}
    for i, curve in enumerate(curves):
        masses = curve.get("mass_MeV")
        if not isinstance(masses, list) or not masses or any(_num(m) is None for m in masses):
            raise InputError(_SOURCE, f"exclusion_curves/{i}/mass_MeV", "expected a non-empty list of masses")
        key = (str(curve.get("dataset", "unknown")), tuple(float(m) for m in masses))
        grids.setdefault(key, []).append((i, curve))
    tables += [_curve_table(b, ds, list(masses), group) for (ds, masses), group in grids.items()]
    return tables
