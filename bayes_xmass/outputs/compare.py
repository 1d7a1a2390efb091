"""Bayesian vs frequentist comparison: one row per fit, with XMASS's published limits and ratios."""

from __future__ import annotations

import csv
import io
import math

from bayes_xmass.outputs.results import fit_warnings
from bayes_xmass.physics.interactions import INTERACTIONS

__all__ = [
    "COLUMNS",
    "COLUMN_KINDS",
    "PRIOR_BOUND_FOOTNOTE",
    "PRIOR_BOUND_MARK",
    "WARNING_MARK",
    "bayes_cell",
    "csv_header",
    "limit_cell",
    "scan_notes",
    "warning_notes",
    "comparison_row",
    "csv_text",
    "format_cell",
    "markdown_table",
    "prior_bound_flag",
    "published_limit",
    "terminal_table",
]

PRIOR_BOUND_MARK = "(!prior bound)"
PRIOR_BOUND_FOOTNOTE = (
    f"{PRIOR_BOUND_MARK}: the credible limit is above 80% of the POI prior's upper bound, so the prior's "
    "range, not the data, sets it (the data alone would give a higher limit); widen the prior (--prior-upper)."
)
WARNING_MARK = "(!)"  # on a limit (or a fit's name) that carries a warning; the reasons follow the table
_PRIOR_BOUND_MAX = 0.8  # as infer.posterior_summary.PRIOR_BOUND_MAX, for records without their thresholds

COLUMNS = (
    "fit",
    "poi",
    "unit",
    "bayes",
    "bayes_mcse",
    "bayes_prior_bound",
    "prior",
    "freq_xmass",
    "freq_one_sided",
    "freq_toy_calibrated",
    "cls",
    "clsb",
    "pcl",
    "fc_upper",
    "freq_expected_median",
    "freq_expected_1sigma",
    "bayes_expected_median",
    "best_fit",
    "chi2_best",
    "chi2_zero",
    "dof",
    "discovery_z",
    "published",
    "bayes_over_published",
    "freq_over_published",
    "bayes_over_freq",
    "warning",
)
# comparison-row column -> limit kind of the results schema (outputs/results.py LIMIT_KINDS)
COLUMN_KINDS = {
    "bayes": "bayes",
    "freq_xmass": "delta_chi2",
    "freq_one_sided": "one_sided",
    "freq_toy_calibrated": "toy_calibrated",
    "cls": "cls",
    "clsb": "clsb",
    "pcl": "pcl",
    "fc_upper": "feldman_cousins",
}
# units of the CSV columns; "[unit]" = the row's ``unit`` column (mu_B, e or dimensionless)
_CSV_UNITS = {
    **{k: "unit" for k in COLUMN_KINDS},
    "bayes_mcse": "unit",
    "freq_expected_median": "unit",
    "freq_expected_1sigma": "unit",
    "bayes_expected_median": "unit",
    "best_fit": "unit",
    "published": "unit",
    "discovery_z": "sigma",
}


def published_limit(interaction: str, flavours: str | None, mass_mev: float | None, sign: int = -1) -> float | None:
    """XMASS-I published 90% CL limit for a fit, if there is one (PLB 809 (2020) 135741)."""
    pub = INTERACTIONS[interaction].published_limits
    if interaction == "millicharge" and sign > 0:
        return None  # XMASS quotes its ("positive neutrino") limits for the constructive sign: our q < 0
    if interaction == "b_minus_l":
        return next((v for m, v in pub.items() if mass_mev is not None and math.isclose(m, mass_mev)), None)
    return pub.get(flavours or "common")


def prior_bound_flag(fit: dict) -> bool:
    """Whether a fit record's credible limit is set by the POI prior's upper bound: its ``bayes`` record
    carries a ``warning``, or its diagnostics' ``prior_bound_fraction`` is above the threshold."""
    b, d = fit.get("bayes") or {}, fit.get("diagnostics") or {}
    frac = d.get("prior_bound_fraction")
    limit = (d.get("thresholds") or {}).get("prior_bound_fraction", _PRIOR_BOUND_MAX)
    return bool(b.get("warning")) or (isinstance(frac, (int, float)) and frac > limit)


def bayes_cell(row: dict, digits: int = 3) -> str:
    """The credible limit of a comparison row as a table cell, marked when the prior's bound sets it
    (and with :data:`WARNING_MARK` for any other warning on it).

    >>> bayes_cell({"bayes": 1.96e-11, "bayes_prior_bound": True}), bayes_cell({"bayes": 1.96e-11})
    ('1.96e-11 (!prior bound)', '1.96e-11')
    """
    text = format_cell(row.get("bayes"), digits)
    if row.get("bayes_prior_bound") and row.get("bayes") is not None:
        text = f"{text} {PRIOR_BOUND_MARK}"
    other = [w for w in row.get("warnings") or [] if w["limit"] == "bayes" and "prior's upper bound" not in w["reason"]]
    return f"{text} {WARNING_MARK}" if other else text


def limit_cell(row: dict, column: str, digits: int = 3) -> str:
    """A limit column of a comparison row as a table cell, with :data:`WARNING_MARK` when its limit
    (or, for ``fit``, the fit itself) carries a warning.

    >>> row = {"fit": "mm", "freq_xmass": 7.65e-11, "cls": None, "warnings": [{"limit": "cls", "reason": "not finite"}]}
    >>> limit_cell(row, "freq_xmass"), limit_cell(row, "cls"), limit_cell(row, "fit")
    ('7.65e-11', '– (!)', 'mm')
    """
    if column == "bayes":
        return bayes_cell(row, digits)
    kind = COLUMN_KINDS.get(column, "fit")
    text = str(row.get(column)) if column == "fit" else format_cell(row.get(column), digits)
    warned = any(w["limit"] == kind for w in row.get("warnings") or [])
    return f"{text} {WARNING_MARK}" if warned else text


def warning_notes(rows: list[dict]) -> list[str]:
    """The footnotes of a table: the prior-bound note, then each warning as ``(!) fit, kind: reason``."""
    notes = [PRIOR_BOUND_FOOTNOTE] if any(r.get("bayes_prior_bound") for r in rows) else []
    for r in rows:
        for w in r.get("warnings") or []:
            if w["limit"] == "bayes" and "prior's upper bound" in w["reason"]:
                continue  # the prior-bound note above says it
            notes.append(f"{WARNING_MARK} {r['fit']}, {w['limit']}: {w['reason']}")
    return notes


def scan_notes(scan: dict) -> list[str]:
    """The warning of a B-L curve (``b_minus_l_scan`` of run's limits.json): the masses (MeV) whose
    Bayesian fit failed its sampling diagnostics.

    >>> scan_notes({"mass_MeV": [0.001, 0.01, 1.0], "diagnostics_ok": [False, False, True]})
    ['(!) B-L curve, bayes: sampling diagnostics failed at M = 0.001, 0.01 MeV (do not quote these points as they are)']
    """
    bad = [m for m, ok in zip(scan.get("mass_MeV") or [], scan.get("diagnostics_ok") or []) if not ok]
    if not bad:
        return []
    masses = ", ".join(f"{m:g}" for m in bad)
    return [
        f"{WARNING_MARK} B-L curve, bayes: sampling diagnostics failed at M = {masses} MeV "
        "(do not quote these points as they are)"
    ]


def _footnote(rows: list[dict]) -> list[str]:
    return warning_notes(rows)


def csv_header(columns) -> list[str]:
    """CSV column names with their units: ``bayes [unit]`` = in the row's ``unit`` column.

    >>> csv_header(["fit", "unit", "bayes", "chi2_best", "discovery_z"])
    ['fit', 'unit', 'bayes [unit]', 'chi2_best', 'discovery_z [sigma]']
    """
    return [f"{c} [{_CSV_UNITS[c]}]" if c in _CSV_UNITS else c for c in columns]


def comparison_row(fit: dict) -> dict:
    """Flatten one fit record of limits.json into a comparison row (physical units)."""
    b, f = fit.get("bayes", {}), fit.get("frequentist", {})
    scale = fit.get("coupling_scale", 1.0)
    toys = fit.get("toys", {})
    pub = published_limit(fit["interaction"], fit.get("flavours"), fit.get("mass_MeV"), fit.get("sign", -1))

    def phys(key):
        v = f.get(key)
        return None if v is None else v * scale

    row = {
        "fit": fit["fit"],
        "poi": INTERACTIONS[fit["interaction"]].poi,
        "unit": INTERACTIONS[fit["interaction"]].coupling_unit,
        "bayes": b.get("limit"),
        "bayes_mcse": b.get("mcse"),
        "bayes_prior_bound": prior_bound_flag(fit) if b else None,
        "diagnostics_ok": (fit.get("diagnostics") or {}).get("ok"),
        "prior": fit.get("poi_prior"),
        "freq_xmass": phys("limit_xmass_scaled"),
        "freq_one_sided": phys("limit_one_sided_scaled"),
        "freq_toy_calibrated": fit.get("toy_calibrated", {}).get("limit"),
        "cls": phys("limit_cls_scaled"),
        "clsb": phys("limit_clsb_scaled"),
        "pcl": toys.get("pcl"),
        "fc_upper": fit.get("feldman_cousins", {}).get("upper"),
        "freq_expected_median": toys.get("freq_bands", {}).get("median"),
        "freq_expected_1sigma": _band(toys.get("freq_bands")),
        "bayes_expected_median": toys.get("bayes_bands", {}).get("median"),
        "best_fit": f.get("best_fit"),
        "chi2_best": f.get("chi2_best"),
        "chi2_zero": f.get("chi2_zero"),
        "dof": f.get("dof"),
        "discovery_z": f.get("discovery_z"),
        "published": pub,
        "warnings": list(fit.get("warnings") or fit_warnings(fit)),
    }
    row["warning"] = "; ".join(f"{w['limit']}: {w['reason']}" for w in row["warnings"]) or None
    row["bayes_over_published"] = _ratio(row["bayes"], pub)
    row["freq_over_published"] = _ratio(row["freq_xmass"], pub)
    row["bayes_over_freq"] = _ratio(row["bayes"], row["freq_xmass"])
    return row


def _band(bands):
    if not bands:
        return None
    return f"[{bands['-1sigma']:.3g}, {bands['+1sigma']:.3g}]"


def _ratio(a, b):
    return None if a is None or b in (None, 0) or not math.isfinite(a) else a / b


def format_cell(v, digits=3) -> str:
    """A table cell: ``digits`` significant digits for floats, "–" for None, "∞"/"nan" for non-finite.

    >>> format_cell(0.0123456), format_cell(2.5e-11, 2), format_cell(None), format_cell(float("inf")), format_cell(7)
    ('0.0123', '2.5e-11', '–', '∞', '7')
    """
    if v is None:
        return "–"
    if isinstance(v, float):
        if not math.isfinite(v):
            return "∞" if v > 0 else "nan"
        return f"{v:.{digits}g}"
    return str(v)


def markdown_table(rows: list[dict]) -> str:
    """Compact Markdown comparison table (with a footnote when a credible limit is marked)."""
    head = (
        "fit",
        "Bayes (prior)",
        "Δχ²=2.71",
        "one-sided",
        "one-sided (toys)",
        "CLs",
        "expected (freq., ±1σ)",
        "χ² best / zero / dof",
        "XMASS",
        "Bayes/XMASS",
        "freq/XMASS",
    )
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        chi = (
            f"{format_cell(r['chi2_best'], 4)} / {format_cell(r['chi2_zero'], 4)} / {r['dof']}"
            if r["chi2_best"] is not None
            else "–"
        )
        exp = (
            f"{format_cell(r['freq_expected_median'])} {r['freq_expected_1sigma'] or ''}"
            if r["freq_expected_median"] is not None
            else "–"
        )
        prior = r["prior"] if isinstance(r["prior"], str) else (r["prior"] or {}).get("kind", "")
        lines.append(
            "| "
            + " | ".join(
                [
                    f"{limit_cell(r, 'fit')} [{r['unit']}]",
                    f"{bayes_cell(r)} ({prior})" if prior else bayes_cell(r),
                    limit_cell(r, "freq_xmass"),
                    limit_cell(r, "freq_one_sided"),
                    limit_cell(r, "freq_toy_calibrated"),
                    limit_cell(r, "cls"),
                    exp,
                    chi,
                    format_cell(r["published"]),
                    format_cell(r["bayes_over_published"], 2),
                    format_cell(r["freq_over_published"], 2),
                ]
            )
            + " |"
        )
    note = _footnote(rows)
    return "\n".join(lines + ["", *note] if note else lines)


def csv_text(rows: list[dict]) -> str:
    """The comparison rows as CSV (columns :data:`COLUMNS` with their units, :func:`csv_header`; None as an
    empty field, a prior as its kind; ``warning``: the reasons a limit of the row must not be quoted as is)."""
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(csv_header(COLUMNS))
    for r in rows:
        w.writerow(
            ["" if r.get(k) is None else (r[k] if not isinstance(r[k], dict) else r[k].get("kind")) for k in COLUMNS]
        )
    return buf.getvalue()


def terminal_table(rows: list[dict]) -> str:
    """Plain-text table for the terminal: ours (Bayes, frequentist) vs XMASS with ratios; a limit with a
    warning is marked and the reasons follow the table."""
    w = max([10] + [len(bayes_cell(r)) for r in rows])
    wf = max([34] + [len(limit_cell(r, "fit")) for r in rows])
    head = f"{'fit':{wf}s} {'unit':13s} {'Bayes':>{w}s} {'Δχ²=2.71':>14s} {'XMASS':>9s} {'B/X':>6s} {'F/X':>6s}"
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(
            f"{limit_cell(r, 'fit'):{wf}s} {r['unit']:13s} {bayes_cell(r):>{w}s} "
            f"{limit_cell(r, 'freq_xmass'):>14s} {format_cell(r['published']):>9s} "
            f"{format_cell(r['bayes_over_published'], 2):>6s} {format_cell(r['freq_over_published'], 2):>6s}"
        )
    return "\n".join(lines + _footnote(rows))
