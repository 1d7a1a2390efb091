"""Files of the validation studies: SBC (sbc.nc, sbc_ranks.png, sbc.md, sbc.json), coverage
(coverage.csv, coverage.png, coverage.md, coverage.json) and the prior-sensitivity tables
(Markdown for the study and for a run's ``summary.md``; the power-scaling line of ``report.html``).

Every file is written atomically; the JSON file is written last and marks a complete study.
"""

from __future__ import annotations

import json
from pathlib import Path

from bayes_xmass.infer.mode_starts import PROFILE_CHECK_DELTA_CHI2
from bayes_xmass.outputs.plot_validation import plot_coverage, plot_sbc_ranks
from bayes_xmass.runtime.io import write_json, write_text, write_with
from bayes_xmass.validation.sbc import SbcResult
from bayes_xmass.validation.sensitivity import PSENSE_THRESHOLD

__all__ = [
    "SENSITIVITY_NOTE",
    "coverage_csv",
    "coverage_markdown",
    "power_scaling_text",
    "sbc_markdown",
    "sensitivity_markdown",
    "write_coverage_outputs",
    "write_sbc_outputs",
    "write_sensitivity_outputs",
]


# -- simulation-based calibration ------------------------------------------------------------------
def sbc_markdown(result: SbcResult) -> str:
    """sbc.md: verdict, per-parameter rank tests, ESS and divergences, priors, provenance."""
    s = result.summary()
    t = result.tests
    lines = [
        f"# Simulation-based calibration: {result.label}",
        "",
        f"**{'PASSED' if result.passed else 'FAILED'}** — {s['replicas']} replicas, ranks of the true value "
        f"among L = {s['rank_draws']} thinned posterior draws (0..L); chi-square on {t['n_bins']} rank bins and "
        f"KS on randomised fractional ranks; family-wise α = {t['alpha_familywise']} (Bonferroni: each p ≥ "
        f"{t['alpha_per_test']:.2g}); seed {result.settings.seed}.",
        "",
        "| parameter | χ² | dof | χ² p | KS D | KS p | pass |",
        "|---|---|---|---|---|---|---|",
    ]
    for p, v in t["parameters"].items():
        lines.append(
            f"| {p} | {v['chi2']:.2f} | {v['chi2_dof']} | {v['chi2_p']:.3g} | {v['ks_stat']:.3f} | "
            f"{v['ks_p']:.3g} | {'yes' if v['passed'] else 'NO'} |"
        )
    lines += [
        "",
        f"POI bulk ESS per replica: min {s['poi_ess_bulk_min']:.0f}, median {s['poi_ess_bulk_median']:.0f} "
        f"(thinning to L draws is only independent if ESS ≳ L); replicas with divergences: "
        f"{s['replicas_with_divergences']}; replicas whose posterior the profile likelihood excludes "
        f"(a chain's median POI at Δχ² > {PROFILE_CHECK_DELTA_CHI2:g} from the dominant mode): "
        f"{s['replicas_flagged_by_profile_check']}; chain starts: {result.settings.chain_starts}.",
        "",
        f"Simulation prior {json.dumps(s['misspecification']['simulation_prior'])}; fit prior "
        f"{json.dumps(s['misspecification']['fit_prior'])}; fit signal factor "
        f"{s['misspecification']['fit_signal_factor']:g}.",
        "",
        "![SBC ranks](sbc_ranks.png)",
        "",
        "## Provenance",
        "",
        "```json",
        json.dumps(result.provenance, indent=2, default=str),
        "```",
        "",
    ]
    return "\n".join(lines)


def write_sbc_outputs(result: SbcResult, out: Path, overwrite: bool = False) -> dict:
    """sbc.nc (ranks), sbc_ranks.png, sbc.md and sbc.json (last: marks a complete study)."""
    out = Path(out)
    ds = result.to_dataset()
    paths = {
        "netcdf": write_with(out / "sbc.nc", lambda p: ds.to_netcdf(p), overwrite),
        "plot": plot_sbc_ranks(
            result.ranks,
            result.settings.rank_draws,
            result.parameters,
            n_bins=result.tests["n_bins"],
            title=f"SBC {result.label}",
            out=out / "sbc_ranks.png",
            overwrite=overwrite,
        ),
        "markdown": write_text(out / "sbc.md", sbc_markdown(result), overwrite),
    }
    write_json(
        out / "sbc.json",
        {**result.summary(), "provenance": result.provenance, "files": {k: Path(v).name for k, v in paths.items()}},
        overwrite,
    )
    paths["json"] = out / "sbc.json"
    return paths


# -- coverage -------------------------------------------------------------------------------------
def _coverage_cell(r: dict, key: str) -> str:
    """``coverage [lo, hi]`` of one limit kind in one row, or a dash."""
    v, lo, hi = r.get(f"coverage_{key}"), r.get(f"coverage_{key}_lo"), r.get(f"coverage_{key}_hi")
    return "–" if v is None else f"{v:.3f} [{lo:.3f}, {hi:.3f}]"


def coverage_markdown(result: dict, table_only: bool = False) -> str:
    """coverage.md (or, ``table_only``, just the table: the progress log's summary)."""
    nom = result["nominal"]
    head = [
        "| true coupling | x / Asimov limit | toys (freq/Bayes) | Bayesian credible | Δχ² = 2.71 (asymptotic) | "
        "one-sided Δχ² = 1.64 (asymptotic) | one-sided, toy-calibrated |",
        "|---|---|---|---|---|---|---|",
        f"| nominal | | | {nom['bayes']:.3f} | {nom['xmass']:.3f} | {nom['one_sided']:.3f} | "
        f"{nom.get('neyman', nom['one_sided']):.3f} |",
    ]
    for r in result["rows"]:
        head.append(
            f"| {r['true_coupling']:.3g} {result['coupling_unit']} | {r['x_over_reference']:.2f} | "
            f"{r['n_toys']}/{r.get('n_bayes_toys', 0)} | {_coverage_cell(r, 'bayes')} | "
            f"{_coverage_cell(r, 'xmass')} | {_coverage_cell(r, 'one_sided')} | {_coverage_cell(r, 'neyman')} |"
        )
    if table_only:
        return "\n".join(head)
    return "\n".join(
        [
            f"# Coverage of {result['cl']:.0%} upper limits: {result['fit']}",
            "",
            f"POI prior {json.dumps(result['poi_prior'])}; reference = Δχ² = 2.71 limit on background-only "
            f"Asimov data = {result['reference_limit_scaled'] * result['coupling_scale']:.3g} "
            f"{result['coupling_unit']}.",
            "",
        ]
        + head
        + [
            "",
            result["note"],
            "",
            "![coverage](coverage.png)",
            "",
            "## Provenance",
            "",
            "```json",
            json.dumps(result["provenance"], indent=2, default=str),
            "```",
            "",
        ]
    )


def coverage_csv(result: dict) -> str:
    """coverage.csv: one row per true value (coverages, binomial errors and intervals)."""
    keys = ["x_true", "true_coupling", "x_over_reference", "n_toys"]
    for key in ("xmass", "one_sided", "neyman"):
        keys += [f"coverage_{key}", f"coverage_{key}_err", f"coverage_{key}_lo", f"coverage_{key}_hi"]
    keys += ["n_bayes_toys", "coverage_bayes", "coverage_bayes_err", "coverage_bayes_lo", "coverage_bayes_hi"]
    units = {"x_true": "coupling scale", "true_coupling": result.get("coupling_unit") or "coupling unit"}
    lines = [",".join(f"{k} [{units[k]}]" if k in units else k for k in keys)]
    for r in result["rows"]:
        lines.append(",".join("" if r.get(k) is None else f"{r[k]:.8g}" for k in keys))
    return "\n".join(lines) + "\n"


def write_coverage_outputs(result: dict, out: Path, overwrite: bool = False) -> dict:
    """coverage.csv, coverage.png, coverage.md and coverage.json (last: marks a complete study)."""
    out = Path(out)
    paths = {
        "csv": write_text(out / "coverage.csv", coverage_csv(result), overwrite),
        "plot": plot_coverage(result, out=out / "coverage.png", overwrite=overwrite),
        "markdown": write_text(out / "coverage.md", coverage_markdown(result), overwrite),
    }
    write_json(out / "coverage.json", {**result, "files": {k: Path(v).name for k, v in paths.items()}}, overwrite)
    paths["json"] = out / "coverage.json"
    return paths


# -- prior sensitivity ----------------------------------------------------------------------------
SENSITIVITY_NOTE = (
    "Credible limit of one fit per interaction under each POI prior kind on the same range [0, upper] "
    "(flat in the coupling; flat in coupling² and coupling⁴; log-uniform with a lower cut at 1e-3 × upper; "
    "conditional Jeffreys) and with every nuisance prior (normalisations, energy scale, per-bin template "
    "errors) twice as wide / half as wide. Full runs reweight and refit with NUTS every variant where the "
    "reweighting is unreliable; --quick runs only reweight the "
    "baseline posterior with Pareto-smoothed importance sampling (k̂ > 0.7: the reweighting is unreliable, "
    "typically the log-uniform prior and widened nuisance priors; refit with `bayes-xmass validate "
    "prior-sensitivity`). Below each table: ArviZ power-scaling sensitivity of the baseline posterior; for a "
    "coupling whose posterior piles up at zero, sensitivity to both prior and likelihood is expected (the "
    "upper limit is shaped by both) and is not by itself a conflict."
)


def sensitivity_markdown(sens: dict) -> str:
    """One prior-sensitivity table (Markdown) with its power-scaling line below."""
    lines = [
        f"#### {sens['fit']} — baseline {sens['cl']:.0%} credible limit {sens['baseline_limit']:.3g} "
        f"{sens['coupling_unit']} (POI prior {sens['baseline_prior']['kind']}; {sens['method']})",
        "",
        "| prior variant | limit | ratio to baseline | method | check |",
        "|---|---|---|---|---|",
    ]
    for r in sens["rows"]:
        check = (
            f"k̂ = {r['pareto_khat']:.2f}"
            if "pareto_khat" in r
            else f"R-hat {r['rhat_poi']:.3f}, {r['divergences']} div."
        )
        limit, ratio = f"{r['limit']:.3g}", f"{r['ratio_to_baseline']:.2f}"
        if not r["reliable"]:
            check += " (unreliable)"
            if "pareto_khat" in r:  # an unreliable reweighting gives no number worth printing
                limit, ratio = "–", "– (refit needed)"
        lines.append(f"| {r['variant']} | {limit} | {ratio} | {r['method']} | {check} |")
    lines += ["", power_scaling_text(sens.get("power_scaling"))]
    return "\n".join(lines) + "\n"


def power_scaling_text(ps: dict | None) -> str:
    """One line: power-scaling sensitivity of the baseline posterior (prior / likelihood)."""
    if not ps:
        return ""
    if "error" in ps:
        return f"Power-scaling sensitivity: not computed ({ps['error']})."
    parts = [
        f"{k}: prior {v['prior']:.3f}, likelihood {v['likelihood']:.3f}"
        + (f" ({v['diagnosis']})" if v["diagnosis"] != "–" else "")
        for k, v in ps.items()
    ]
    return (
        f"Power-scaling sensitivity of the baseline posterior (arviz_stats.psense, threshold "
        f"{PSENSE_THRESHOLD}): " + "; ".join(parts) + "."
    )


def write_sensitivity_outputs(sens: dict, out: Path, overwrite: bool = False) -> dict:
    """prior_sensitivity.md and prior_sensitivity.json (last: marks a complete study)."""
    out = Path(out)
    return {
        "markdown": write_text(out / "prior_sensitivity.md", sensitivity_markdown(sens), overwrite),
        "json": write_json(out / "prior_sensitivity.json", sens, overwrite),
    }
