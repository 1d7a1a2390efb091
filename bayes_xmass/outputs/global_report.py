"""Outputs of the global analysis: its tables (Markdown, CSV), figures and self-contained HTML page.

Input is the ``limits.json`` record of :func:`bayes_xmass.workflows.global_analysis.run_global`:
``targets`` (one per fit: each dataset alone and the combination, in physical units) and
``b_minus_l_curve`` (frequentist limits per mediator mass).
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from bayes_xmass.outputs.compare import WARNING_MARK, format_cell  # noqa: E402
from bayes_xmass.outputs.figures import save_png  # noqa: E402
from bayes_xmass.outputs.html import CSS  # noqa: E402
from bayes_xmass.physics.interactions import INTERACTIONS  # noqa: E402

__all__ = ["PRIOR_BOUND_MARK", "global_csv", "global_html", "global_markdown", "plot_b_minus_l_curve", "plot_target"]

PRIOR_BOUND_MARK = WARNING_MARK
"""Appended to a limit that carries a warning (failed diagnostics, the prior's bound, not finite)."""

COLUMNS = ("dataset", "bayes", "delta_chi2_271", "one_sided", "cls", "best_fit", "discovery_z")
_KINDS = {"bayes": "bayes", "delta_chi2_271": "delta_chi2", "one_sided": "one_sided", "cls": "cls"}


def _cell(rec: dict[str, Any], key: str) -> str:
    text = format_cell(rec.get(key))
    warned = any(w["limit"] == _KINDS.get(key, "fit") for w in rec.get("warnings") or [])
    if key == "bayes" and rec.get("bayes") is not None and not rec.get("diagnostics_ok", True):
        warned = True
    return f"{text} {WARNING_MARK}" if warned and key != "dataset" else text


def _rows(target: dict[str, Any], fits: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """Each dataset alone, then the combination; with ``fits`` (the results' fit records), each row
    carries its fit's warnings."""
    warnings = {f["fit"]: f.get("warnings") or [] for f in fits or []}
    rows = [{"dataset": lab, **rec} for lab, rec in target["alone"].items()]
    rows.append({"dataset": "combined", **target["combined"]})
    for row in rows:
        row["warnings"] = warnings.get(f"{row['dataset']}:{target['fit']}", [])
    return rows


def _notes(rows: list[dict[str, Any]]) -> list[str]:
    return [f"{WARNING_MARK} {r['dataset']}, {w['limit']}: {w['reason']}" for r in rows for w in r["warnings"]]


def global_markdown(result: dict[str, Any]) -> str:
    """summary.md: per fit, each dataset alone and combined; the combined expected band; the B-L curve."""
    prov = result["provenance"]
    lines = [
        "# bayes_xmass global analysis of public xenon electron-recoil data",
        "",
        f"Datasets: {', '.join(prov['datasets'])}. Seed {prov['seed']}, {prov['toys']} toys per combined fit, "
        f"wall time {prov['seconds']} s.",
        "",
        "Bayesian: one-sided 90% posterior quantile (prior flat in the signal's leading power). Δχ² = 2.71: "
        "two-sided-style profile-likelihood limit (XMASS's convention); one-sided: Δχ² = 1.64 on the "
        "one-sided statistic (the experiments' profile-likelihood convention); CLs: asymptotic. "
        f"{WARNING_MARK} marks a limit that carries a warning; the reasons follow each table.",
    ]
    for t in result["targets"]:
        unit = t["coupling_unit"]
        lines += ["", f"## {t['fit']} [{unit}]", "", "| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
        rows = _rows(t, result.get("fits"))
        for rec in rows:
            lines.append("| " + " | ".join(_cell(rec, k) if k != "dataset" else rec[k] for k in COLUMNS) + " |")
        notes = _notes(rows)
        if notes:
            lines += [""] + [f"- {n}" for n in notes]
        e = t.get("expected")
        if e:
            b = e["delta_chi2_271"]
            lines.append(
                f"\nCombined expected Δχ² = 2.71 limit ({e['n_toys']} toys): median {b['median']:.3g}, "
                f"68% [{b['-1sigma']:.3g}, {b['+1sigma']:.3g}], 95% [{b['-2sigma']:.3g}, {b['+2sigma']:.3g}]."
            )
            alone = e.get("alone") or {}
            if alone:
                lines.append(
                    "Each dataset alone on the same toys (median): "
                    + ", ".join(f"{lab} {a['delta_chi2_271']['median']:.3g}" for lab, a in alone.items())
                    + "."
                )
        failures = t["combined"].get("failures") or []
        if failures:
            lines.append(f"\nCombined fit diagnostics FAILED: {'; '.join(failures)}.")
    curve = result.get("b_minus_l_curve")
    if curve:
        lines += [
            "",
            "## B−L exclusion curve (Δχ² = 2.71)",
            "",
            "| M [MeV] | combined | " + " | ".join(curve["alone"]) + " |",
        ]
        lines.append("|" + "---|" * (2 + len(curve["alone"])))
        for i, m in enumerate(curve["masses_MeV"]):
            cells = [format_cell(curve["combined"][i])] + [format_cell(v[i]) for v in curve["alone"].values()]
            lines.append(f"| {m:.3g} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def global_csv(result: dict[str, Any]) -> str:
    """comparison.csv: one row per fit and dataset (physical units; unit in the header's unit column)."""
    import csv
    import io

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    units = {k: "unit" for k in COLUMNS[1:-1]} | {"discovery_z": "sigma"}
    w.writerow(
        ["fit", "unit", *(f"{k} [{units[k]}]" if k in units else k for k in COLUMNS), "diagnostics_ok", "warning"]
    )
    for t in result["targets"]:
        for rec in _rows(t, result.get("fits")):
            vals = [t["fit"], t["coupling_unit"], rec["dataset"]] + [
                "" if rec.get(k) is None else f"{rec[k]:.6g}" for k in COLUMNS[1:]
            ]
            warning = "; ".join(f"{x['limit']}: {x['reason']}" for x in rec["warnings"])
            w.writerow(vals + [str(rec.get("diagnostics_ok", "")), warning])
    return buf.getvalue()


def plot_target(target: dict[str, Any], *, out: Path, overwrite: bool = False) -> Path:
    """Limits of one fit per experiment and combined (log scale), with the combined expected band."""
    rows = _rows(target)
    fig, ax = plt.subplots(figsize=(7, 0.5 * len(rows) + 1.6))
    y = np.arange(len(rows))[::-1]
    e = target.get("expected")
    if e:
        b = e["delta_chi2_271"]
        ax.axvspan(b["-1sigma"], b["+1sigma"], color="0.88", label="combined expected ±1σ (Δχ² = 2.71, toys)")
    for key, marker, color, label in (
        ("bayes", "o", "C0", "90% credible"),
        ("delta_chi2_271", "s", "C3", "Δχ² = 2.71"),
        ("one_sided", "^", "C2", "one-sided PL (Δχ² = 1.64)"),
    ):
        vals = np.array([r.get(key) if r.get(key) is not None else np.nan for r in rows], dtype=float)
        ax.plot(vals, y, marker, color=color, ls="none", label=label)
    ax.set_yticks(y, [r["dataset"] for r in rows])
    ax.set_xscale("log")
    ax.set_xlabel(f"90% CL upper limit [{target['coupling_unit']}]")
    ax.set_title(target["fit"])
    ax.grid(True, axis="x", which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    return save_png(fig, out, overwrite)


def plot_b_minus_l_curve(curve: dict[str, Any], *, out: Path, overwrite: bool = False) -> Path:
    """B-L exclusion (Delta chi2 = 2.71): each dataset alone, the combination, XMASS-I's points."""
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    m = np.asarray(curve["masses_MeV"])
    for i, (lab, vals) in enumerate(curve["alone"].items()):
        ax.plot(m, np.asarray(vals, dtype=float), "--", color=f"C{i + 1}", lw=1, label=lab)
    ax.plot(m, np.asarray(curve["combined"], dtype=float), "-", color="k", lw=2, label="combined")
    pub = INTERACTIONS["b_minus_l"].published_limits
    ax.plot(list(pub), list(pub.values()), "*", ms=13, color="C0", label="XMASS-I (PLB 809 (2020) 135741)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("mediator mass M [MeV]")
    ax.set_ylabel("g_B-L (90% CL, Δχ² = 2.71)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    return save_png(fig, out, overwrite)


def _table_html(target: dict[str, Any], fits: list[dict[str, Any]] | None) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in COLUMNS)
    body = []
    rows = _rows(target, fits)
    for rec in rows:
        cells = []
        for k in COLUMNS:
            text = rec[k] if k == "dataset" else _cell(rec, k)
            bad = WARNING_MARK in text
            cells.append(f"<td{' class=bad' if bad else ''} style='white-space:nowrap'>{html.escape(text)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in _notes(rows))
    return f"<table><tr>{head}</tr>{''.join(body)}</table>" + (f"<ul class=bad>{notes}</ul>" if notes else "")


def global_html(result: dict[str, Any], run_dir: Path) -> str:
    """report.html: the tables and figures of ``global_markdown`` in one self-contained page."""
    import base64

    def img(rel: str) -> str:
        data = base64.b64encode((run_dir / rel).read_bytes()).decode()
        return f'<img alt="{html.escape(rel)}" src="data:image/png;base64,{data}">'

    prov = result["provenance"]
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>bayes_xmass global analysis</title>"
        f"<style>{CSS}</style></head><body><h1>Global analysis of public xenon electron-recoil data</h1>",
        f"<p>Datasets: {html.escape(', '.join(prov['datasets']))}; seed {prov['seed']}; "
        f"wall time {prov['seconds']} s. <span class=bad>{WARNING_MARK}</span> marks a limit that carries a "
        "warning; the reasons are listed under its table.</p>",
    ]
    for t in result["targets"]:
        parts.append(f"<h2>{html.escape(t['fit'])} [{html.escape(t['coupling_unit'])}]</h2>")
        parts.append(_table_html(t, result.get("fits")))
        parts.append(f"<div class='fig'>{img(t['plot'])}</div>")
    if result.get("b_minus_l_curve"):
        parts.append(f"<h2>B−L exclusion curve</h2><div class='fig'>{img(result['b_minus_l_curve']['plot'])}</div>")
    parts.append(
        "<h2>Provenance</h2><pre>" + html.escape(json.dumps(prov, indent=2, default=str)) + "</pre></body></html>"
    )
    return "\n".join(parts)
