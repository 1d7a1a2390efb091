"""``summary.md`` of the full analysis (``run``): headline table, conventions, per-fit details,
the B-L exclusion curve, prior sensitivity and provenance, from the limits.json content."""

from __future__ import annotations

import json

from bayes_xmass.datasets.types import Dataset
from bayes_xmass.outputs.atomic_report import ATOMIC_NOTE, atomic_markdown
from bayes_xmass.outputs.compare import markdown_table, scan_notes
from bayes_xmass.outputs.validation_report import SENSITIVITY_NOTE, sensitivity_markdown
from bayes_xmass.physics.interactions import CHARGE_CONVENTION

__all__ = ["diagnostics_failures", "summary_markdown"]


def summary_markdown(result: dict, dataset: Dataset) -> str:
    """summary.md: headline table, conventions, per-fit details, diagnostics, provenance."""
    rows = result["comparison"]
    prov = result["provenance"]
    lines = [
        f"# bayes_xmass analysis of {dataset.name}",
        "",
        f"Dataset checksum `{dataset.checksum[:16]}`; exposure {dataset.exposure_kg_day:.6g} kg day; "
        f"seed {prov['seed']}; quick = {prov['settings']['quick']}; wall time {prov['seconds']} s.",
        "",
        "## Limits (90% CL) next to XMASS-I (PLB 809 (2020) 135741)",
        "",
        markdown_table(rows),
        "",
        "Conventions: Bayesian = one-sided 90% quantile of the marginal posterior of |coupling| (POI prior "
        "named); Δχ² = 2.71 = the XMASS-style chi-square convention (≈95% one-sided coverage); one-sided = "
        "Δχ² = 1.64 (nominal 90% one-sided); CLs asymptotic. " + CHARGE_CONVENTION + ".",
        "",
        "## Fits",
        "",
    ]
    for r in result["fits"]:
        d = r["diagnostics"]
        status = "ok" if d["ok"] else "FLAGGED: " + "; ".join(d["failures"])
        lines += [
            f"### {r['fit']}",
            "",
            f"- credible limit {r['bayes']['limit']:.4g} ± {r['bayes']['mcse']:.2g} (MCSE) {r['coupling_unit']}; "
            f"prior {r['poi_prior']}; likelihood {r['likelihood']}",
            f"- best fit {r['frequentist']['best_fit']:.3g} {r['coupling_unit']}, χ²/dof "
            f"{r['frequentist']['chi2_best']:.1f}/{r['frequentist']['dof']} (zero signal "
            f"{r['frequentist']['chi2_zero']:.1f}), discovery Z = {r['frequentist']['discovery_z']:.2f}",
            f"- diagnostics {status} (max R-hat {d['rhat_max']:.4f}, POI bulk ESS {d['poi_ess_bulk']:.0f}, "
            f"divergences {d['divergences']})",
        ]
        if "toys" in r:
            t = r["toys"]
            lines.append(
                f"- expected (background-only toys): frequentist median {t['freq_bands']['median']:.3g} "
                f"[±1σ {t['freq_bands']['-1sigma']:.3g}, {t['freq_bands']['+1sigma']:.3g}], Bayesian median "
                f"{t['bayes_bands']['median']:.3g} ({t['n_freq_toys']}/{t['n_bayes_toys']} toys); "
                f"PCL {t['pcl']:.3g}" + _toy_divergence_note(t)
            )
        if "toy_calibrated" in r:
            tc = r["toy_calibrated"]
            lines.append(
                f"- toy-calibrated one-sided {tc['cl']:.0%} limit {tc['limit']:.4g} {r['coupling_unit']} (asymptotic "
                f"Δχ² = 1.64: {r['frequentist']['limit_one_sided_scaled'] * r['coupling_scale']:.4g}; critical q~ "
                f"{min(tc['critical_q']):.2f}-{max(tc['critical_q']):.2f} from {tc['n_toys_per_point']} toys per point)"
            )
        if "feldman_cousins" in r:
            fc = r["feldman_cousins"]
            lines.append(
                f"- Feldman-Cousins interval [{fc['lower']:.3g}, {fc['upper']:.3g}] ({fc['n_toys']} toys "
                f"per grid point)"
            )
        lines += ["", f"![posterior vs profile]({r['plots']['poi']}) ![spectrum]({r['plots']['spectrum']})", ""]
    scan = result["b_minus_l_scan"]
    lines += [
        "## B-L exclusion curve",
        "",
        f"![exclusion]({result['plots']['exclusion']})",
        "",
        "| M [MeV] | Bayes | Δχ²=2.71 | diagnostics |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {m:.3g} | {b:.3g}{'' if ok else ' (!)'} | {f:.3g} | {'ok' if ok else 'FAILED (!)'} |"
        for m, b, f, ok in zip(scan["mass_MeV"], scan["bayes"], scan["freq_xmass"], scan["diagnostics_ok"])
    ]
    lines += [f"\n{note}" for note in scan_notes(scan)]
    if result.get("prior_sensitivity"):
        lines += ["", "## Prior sensitivity", "", SENSITIVITY_NOTE, ""]
        lines += [sensitivity_markdown(s) for s in result["prior_sensitivity"]]
    if result.get("atomic_model_systematic"):
        lines += ["", "## Atomic-model systematic", "", ATOMIC_NOTE, ""]
        lines += [atomic_markdown(t) for t in result["atomic_model_systematic"]]
    lines += ["", "## Provenance", "", "```json", json.dumps(prov, indent=2, default=str), "```", ""]
    return "\n".join(lines)


def _toy_divergence_note(toys: dict) -> str:
    nuts = toys.get("bayes_toy_nuts") or {}
    if not nuts.get("divergences"):
        return ""
    return (
        f"; Bayesian toys: {nuts['divergences']} divergent transitions in {nuts['toys_with_divergences']} of "
        f"{toys['n_bayes_toys']} toys (2x{nuts['draws']} draws each)"
    )


def diagnostics_failures(result: dict) -> list[str]:
    """Labels of the fits whose diagnostics are flagged, from the limits.json content."""
    return [r["fit"] for r in result["fits"] if not r["diagnostics"]["ok"]]
