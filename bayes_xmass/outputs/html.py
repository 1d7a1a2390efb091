"""report.html: one self-contained page (tables + plots embedded as base64 PNG)."""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path

from bayes_xmass.outputs.atomic_report import atomic_html
from bayes_xmass.outputs.compare import (
    PRIOR_BOUND_MARK,
    WARNING_MARK,
    bayes_cell,
    format_cell,
    limit_cell,
    scan_notes,
    warning_notes,
)
from bayes_xmass.outputs.validation_report import SENSITIVITY_NOTE, power_scaling_text
from bayes_xmass.physics.interactions import CHARGE_CONVENTION

__all__ = ["CSS", "report_html"]

CSS = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#222}
table{border-collapse:collapse;font-size:13px;margin:1em 0}th,td{border:1px solid #ccc;padding:3px 7px;text-align:right;white-space:nowrap}
th{background:#f0f0f0}td:first-child{text-align:left}img{max-width:100%;margin:6px 0}
.bad{color:#b00;font-weight:bold}.ok{color:#070}.fig{display:inline-block;width:49%;vertical-align:top}
code{background:#f4f4f4;padding:1px 3px}"""


def _img(run_dir: Path, rel: str, alt: str) -> str:
    data = base64.b64encode((run_dir / rel).read_bytes()).decode()
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def report_html(result: dict, run_dir: Path) -> str:
    """The page for a finished run: ``result`` is the run's summary record (provenance, comparison rows,
    fits with diagnostics, plot paths relative to ``run_dir``)."""
    prov = result["provenance"]
    ds = prov["dataset"]
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>bayes_xmass: {html.escape(ds['name'])}"
        f"</title><style>{CSS}</style></head><body>",
        f"<h1>bayes_xmass: exotic neutrino–electron interactions on {html.escape(ds['name'])}</h1>",
        f"<p>Dataset checksum <code>{ds['checksum'][:16]}</code>, exposure {ds['exposure_kg_day']:.6g} kg·day, "
        f"seed {prov['seed']}, quick run: {prov['settings']['quick']}, wall time {prov['seconds']} s. "
        f"{html.escape(CHARGE_CONVENTION)}.</p>",
        "<h2>90% CL upper limits vs XMASS-I (PLB 809 (2020) 135741)</h2>",
        _limits_table(result["comparison"]),
        "<p>Bayesian: one-sided 90% quantile of the marginal posterior (POI prior named in the table). "
        "Δχ² = 2.71: XMASS-style chi-square limit. One-sided: Δχ² = 1.64. CLs: asymptotic. Expected: "
        "median and ±1σ of background-only toys.</p>",
        "<h2>B−L exclusion curve and millicharge limits</h2>",
        f"<div class='fig'>{_img(run_dir, result['plots']['exclusion'], 'B-L exclusion')}</div>",
        f"<div class='fig'>{_img(run_dir, result['plots']['millicharge'], 'millicharge limits')}</div>",
        "".join(f"<p class='bad'>{html.escape(n)}</p>" for n in scan_notes(result.get("b_minus_l_scan") or {})),
        "<h2>Diagnostics</h2>",
        _diag_table(result["fits"]),
        _img(run_dir, result["plots"]["diagnostics"], "diagnostics overview"),
        _sensitivity_html(result.get("prior_sensitivity")),
        atomic_html(result.get("atomic_model_systematic")),
        "<h2>Fits</h2>",
    ]
    for r in result["fits"]:
        parts.append(f"<h3>{html.escape(r['fit'])}</h3>")
        parts.append(f"<div class='fig'>{_img(run_dir, r['plots']['spectrum'], 'spectrum fit')}</div>")
        parts.append(f"<div class='fig'>{_img(run_dir, r['plots']['poi'], 'posterior vs profile')}</div>")
    parts.append("<h2>Provenance</h2><pre>" + html.escape(_json(prov)) + "</pre></body></html>")
    return "\n".join(parts)


def _json(obj) -> str:
    return json.dumps(obj, indent=2, default=str)


def _limits_table(rows) -> str:
    head = [
        "fit",
        "unit",
        "Bayes",
        "prior",
        "Δχ²=2.71",
        "one-sided",
        "one-sided (toys)",
        "CLs",
        "expected (freq.)",
        "χ² best/zero/dof",
        "XMASS",
        "Bayes/XMASS",
        "Δχ²/XMASS",
    ]
    out = ["<table><tr>" + "".join(f"<th>{h}</th>" for h in head) + "</tr>"]
    for r in rows:
        prior = r["prior"].get("kind") if isinstance(r["prior"], dict) else r["prior"]
        chi = (
            f"{format_cell(r['chi2_best'], 4)} / {format_cell(r['chi2_zero'], 4)} / {r['dof']}"
            if r["chi2_best"] is not None
            else "–"
        )
        cells = [
            limit_cell(r, "fit"),
            r["unit"],
            bayes_cell(r),
            prior,
            limit_cell(r, "freq_xmass"),
            limit_cell(r, "freq_one_sided"),
            limit_cell(r, "freq_toy_calibrated"),
            limit_cell(r, "cls"),
            format_cell(r["freq_expected_median"]),
            chi,
            format_cell(r["published"]),
            format_cell(r["bayes_over_published"], 2),
            format_cell(r["freq_over_published"], 2),
        ]
        out.append("<tr>" + "".join(_td(str(c)) for c in cells) + "</tr>")
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in warning_notes(rows))
    return "".join(out) + "</table>" + (f"<ul class='bad warnings'>{notes}</ul>" if notes else "")


def _td(text: str) -> str:
    """A table cell; a marked one (a limit with a warning) in the warning colour."""
    marked = WARNING_MARK in text or PRIOR_BOUND_MARK in text
    return f"<td{' class=bad' if marked else ''}>{html.escape(text)}</td>"


def _diag_table(fits) -> str:
    out = [
        "<table><tr><th>fit</th><th>max R-hat</th><th>min bulk ESS</th><th>POI bulk ESS</th>"
        "<th>divergences</th><th>min BFMI</th><th>status</th></tr>"
    ]
    for r in fits:
        d = r["diagnostics"]
        status = (
            "<span class='ok'>ok</span>"
            if d["ok"]
            else "<span class='bad'>" + html.escape("; ".join(d["failures"])) + "</span>"
        )
        out.append(
            f"<tr><td>{html.escape(r['fit'])}</td><td>{d['rhat_max']:.4f}</td><td>{d['ess_bulk_min']:.0f}</td>"
            f"<td>{d['poi_ess_bulk']:.0f}</td><td>{d['divergences']}</td><td>{d['bfmi_min']:.2f}</td>"
            f"<td style='white-space:normal'>{status}</td></tr>"
        )
    return "".join(out) + "</table>"


def _sensitivity_html(tables) -> str:
    """Prior-sensitivity tables (validation/sensitivity.py): one per interaction; empty if absent."""
    if not tables:
        return ""
    out = ["<h2>Prior sensitivity</h2>", f"<p>{html.escape(SENSITIVITY_NOTE)}</p>"]
    for t in tables:
        out.append(
            f"<h3>{html.escape(t['fit'])}: baseline {t['cl']:.0%} credible limit "
            f"{format_cell(t['baseline_limit'])} {html.escape(t['coupling_unit'])} ({html.escape(t['baseline_prior']['kind'])}; {t['method']})</h3>"
        )
        out.append(
            "<table><tr><th>prior variant</th><th>limit</th><th>ratio to baseline</th><th>method</th>"
            "<th>check</th></tr>"
        )
        for r in t["rows"]:
            check = (
                f"k̂ = {r['pareto_khat']:.2f}"
                if "pareto_khat" in r
                else f"R-hat {r['rhat_poi']:.3f}, {r['divergences']} div."
            )
            cls = "ok" if r["reliable"] else "bad"
            limit, ratio = format_cell(r["limit"]), f"{r['ratio_to_baseline']:.2f}"
            if not r["reliable"] and "pareto_khat" in r:  # unreliable reweighting: no number
                limit, ratio = "–", "– (refit needed)"
            out.append(
                f"<tr><td>{html.escape(r['variant'])}</td><td>{limit}</td>"
                f"<td>{ratio}</td><td>{html.escape(r['method'])}</td>"
                f"<td><span class='{cls}'>{html.escape(check)}{'' if r['reliable'] else ' (unreliable)'}"
                f"</span></td></tr>"
            )
        out.append("</table>")
        out.append(f"<p>{html.escape(power_scaling_text(t.get('power_scaling')))}</p>")
    return "".join(out)
