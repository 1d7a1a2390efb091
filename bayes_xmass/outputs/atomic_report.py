"""The atomic-model systematic tables of a run (``bayes_xmass.validation.atomic_systematic``) as
Markdown (summary.md) and HTML (report.html). Limits in the coupling's physical unit."""

from __future__ import annotations

import html
from typing import Any

from bayes_xmass.outputs.compare import format_cell

__all__ = ["ATOMIC_NOTE", "atomic_html", "atomic_markdown"]

ATOMIC_NOTE = (
    "The same fit with each atomic model the tool has: free electrons; the stepping approximation "
    "(binding thresholds); stepping with the equivalent-photon approximation (EPA) for the millicharge's "
    "photon-exchange term, at three values of its neutrino-mass regulator; a user RRPA table when given "
    "(`run --rrpa-table`). The baseline row is the fit itself (the model file's atomic model). The spread "
    "is a theory systematic; it is not included in the limits above."
)

_HEADER = ("atomic model", "Bayesian", "Δχ² = 2.71", "one-sided Δχ² = 1.64", "ratio to baseline (Bayes / Δχ²)", "how")


def _cells(row: dict[str, Any]) -> list[str]:
    mark = "" if row.get("reliable", True) else " (!)"
    how = row["method"]
    if "rhat_poi" in row:
        how += f"; R-hat {row['rhat_poi']:.3f}, {row['divergences']} div."
    if row.get("note"):
        how += f"; {row['note']}"
    label = row["variant"] + (" — baseline" if row.get("baseline") else "")
    return [
        label,
        format_cell(row["bayes"]) + mark,
        format_cell(row["delta_chi2"]),
        format_cell(row["one_sided"]),
        f"{row['ratio_bayes']:.2f} / {row['ratio_delta_chi2']:.2f}",
        how,
    ]


def _title(table: dict[str, Any]) -> str:
    base = table["baseline_model"]
    return (
        f"{table['fit']} — {table['cl']:.0%} CL limits [{table['coupling_unit']}], baseline atomic model {base['name']}"
    )


def atomic_markdown(table: dict[str, Any]) -> str:
    """One atomic-model table (Markdown)."""
    lines = [f"#### {_title(table)}", "", "| " + " | ".join(_HEADER) + " |", "|" + "---|" * len(_HEADER)]
    lines += ["| " + " | ".join(_cells(r)) + " |" for r in table["rows"]]
    if any(not r.get("reliable", True) for r in table["rows"]):
        lines += ["", "(!) the refit failed its sampling checks (R-hat > 1.01 or divergences)."]
    return "\n".join(lines) + "\n"


def atomic_html(tables: list[dict[str, Any]] | None) -> str:
    """The atomic-model tables (HTML section); empty if there are none."""
    if not tables:
        return ""
    out = ["<h2>Atomic-model systematic</h2>", f"<p>{html.escape(ATOMIC_NOTE)}</p>"]
    for table in tables:
        out.append(f"<h3>{html.escape(_title(table))}</h3><table><tr>")
        out.append("".join(f"<th>{html.escape(h)}</th>" for h in _HEADER) + "</tr>")
        for row in table["rows"]:
            cells = _cells(row)
            cls = "" if row.get("reliable", True) else " class='bad'"
            out.append(
                "<tr>"
                + "".join(f"<td{cls if i == 1 else ''}>{html.escape(c)}</td>" for i, c in enumerate(cells[:-1]))
                + f"<td style='white-space:normal'>{html.escape(cells[-1])}</td></tr>"
            )
        out.append("</table>")
    return "".join(out)
