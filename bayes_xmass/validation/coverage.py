"""Coverage of the credible limit and of the frequentist limits over toys at several true signal
values (built on :func:`bayes_xmass.infer.toy_studies.coverage_study`).

True values are in units of the coupling scale (``TemplateSet.coupling_scale``); the natural unit
is the Delta chi2 = 2.71 limit on background-only Asimov data (:func:`reference_limit`). Coverage =
fraction of toys whose limit is >= the true value, with 68.27% Clopper-Pearson binomial intervals.
"""

from __future__ import annotations

import math
import time

from bayes_xmass.errors import InputError
from bayes_xmass.infer.frequentist import ProfileLikelihood, asimov_counts, delta_chi2_threshold
from bayes_xmass.infer.neyman import NEYMAN_GRID_FACTORS, calibrate_one_sided
from bayes_xmass.infer.toy_studies import coverage_study
from bayes_xmass.model.spec import ModelSpec
from bayes_xmass.model.targets import FitTarget
from bayes_xmass.physics.interactions import INTERACTIONS
from bayes_xmass.response.templates import TemplateSet
from bayes_xmass.runtime.seeds import step_seed
from bayes_xmass.validation.setup import posterior_sampler_for

__all__ = ["COVERAGE_NOTE", "MAX_TRUE_OVER_REFERENCE", "reference_limit", "run_coverage"]

COVERAGE_NOTE = (
    "coverage = fraction of toys whose limit >= true value; [..] = 68.27% Clopper-Pearson binomial "
    "interval (the CSV also has the binomial standard error). At x = 0 every upper limit covers. "
    "Toys draw the nuisances from their priors (hybrid ensemble). 'toy-calibrated' = the one-sided "
    "limit with the critical value of q~ at each x taken from toys at x (Neyman construction, "
    "bayes_xmass.infer.neyman; calibration toys independent of these), on the same toys as the "
    "asymptotic columns. Credible limits are not built to have frequentist coverage."
)


# True values above this multiple of the expected (Asimov Delta chi2 = 2.71) limit are refused: the
# data would exclude them by thousands of sigma (for mu_nu at 100x, ~1e4 times the signal at the
# limit), so they are slips of units (a coupling of 1 mu_B, 1 e) rather than a coverage question.
MAX_TRUE_OVER_REFERENCE = 100.0


def reference_limit(
    tpl: TemplateSet, target: FitTarget, likelihood: str, cl: float, pl: ProfileLikelihood | None = None
) -> float:
    """Delta chi2 = 2.71 limit (scaled) on background-only Asimov data: the natural unit of true values."""
    pl = pl or ProfileLikelihood(tpl, sign=target.sign, likelihood=likelihood)
    saved = pl.observed.copy()
    pl.set_observed(asimov_counts(pl, 0.0))
    try:
        return float(pl.upper_limit(cl, "xmass"))
    finally:
        pl.set_observed(saved)


def run_coverage(
    tpl: TemplateSet,
    target: FitTarget,
    spec: ModelSpec,
    *,
    x_values=None,
    n_toys: int = 200,
    n_bayes_toys: int = 50,
    n_calibration_toys: int = 1000,
    seed: int = 11,
    provenance: dict | None = None,
    log=None,
) -> dict:
    """Coverage of the credible limit and of the Delta chi2 = 2.71 / one-sided limits at each true x.

    ``x_values`` in units of the coupling scale; default 0, 0.5, 1, 1.5, 2 x the background-only
    Asimov Delta chi2 = 2.71 limit. Toys draw nuisances from their priors (the hybrid ensemble).
    ``n_calibration_toys`` > 0: also the toy-calibrated one-sided limit, its critical values from
    that many toys at each of ``NEYMAN_GRID_FACTORS`` x the reference limit and at each true x.
    ``log`` gets one line naming the true values and toy counts (the table is
    :func:`bayes_xmass.outputs.validation_report.coverage_markdown`).
    """
    from scipy import stats

    if n_toys < 1 or n_bayes_toys < 0:
        raise InputError("command line", "--toys", "need --toys >= 1 and --bayes-toys >= 0")
    if n_calibration_toys != 0 and n_calibration_toys < 100:
        raise InputError("command line", "--calibration-toys", "need 0 (none) or >= 100 toys per grid point")
    started = time.perf_counter()
    pl = ProfileLikelihood(tpl, sign=target.sign, likelihood=spec.likelihood)
    ref = reference_limit(tpl, target, spec.likelihood, spec.cl, pl)
    if x_values is None:
        x_values = [f * ref for f in (0.0, 0.5, 1.0, 1.5, 2.0)]
    x_values = [float(x) for x in x_values]
    if any(not (math.isfinite(x) and x >= 0) for x in x_values):
        raise InputError("command line", "--true-values", "true values must be finite and >= 0")
    too_large = [x for x in x_values if x > MAX_TRUE_OVER_REFERENCE * ref]
    if too_large:
        unit = INTERACTIONS[target.interaction].coupling_unit
        raise InputError(
            "command line",
            "--true-values",
            f"{too_large[0] * tpl.coupling_scale:g} {unit} is {too_large[0] / ref:.3g} x the expected limit "
            f"{ref * tpl.coupling_scale:.3g} {unit}; give true couplings up to {MAX_TRUE_OVER_REFERENCE:g} x it "
            f"(in {unit}, e.g. {2 * ref * tpl.coupling_scale:.2g})",
        )
    if log:
        log(
            f"[coverage {target.label}] true x = {', '.join(f'{x:.3g}' for x in x_values)} (units of "
            f"{tpl.coupling_scale:g}); {n_toys} frequentist / {n_bayes_toys} Bayesian toys each"
        )
    sampler = posterior_sampler_for(tpl, spec.poi_prior, spec.likelihood) if n_bayes_toys else None
    crit = None
    if n_calibration_toys:
        grid = sorted({round(f * ref, 12) for f in NEYMAN_GRID_FACTORS} | {round(x, 12) for x in x_values if x > 0})
        crit = calibrate_one_sided(pl, grid, n_toys=n_calibration_toys, seed=step_seed(seed, "calibration"), cl=spec.cl)
    rows = coverage_study(
        tpl,
        x_values,
        poi_prior=spec.poi_prior,
        sign=target.sign,
        likelihood=spec.likelihood,
        n_toys=n_toys,
        n_bayes_toys=n_bayes_toys,
        seed=seed,
        cl=spec.cl,
        pl=pl,
        posterior_sampler=sampler,
        critical_values=crit,
    )
    nominal = {
        "bayes": spec.cl,
        "one_sided": spec.cl,
        "neyman": spec.cl,
        # Delta chi2 = 2.71 is two-sided 90% = one-sided 95% (asymptotically, away from x = 0)
        "xmass": float(stats.chi2.cdf(delta_chi2_threshold(spec.cl, "xmass"), 1) / 2 + 0.5),
    }
    for r in rows:
        keys = (("xmass", r["n_toys"]), ("one_sided", r["n_toys"]), ("neyman", r["n_toys"]))
        for key, n in keys + (("bayes", r.get("n_bayes_toys", 0)),):
            if r.get(f"coverage_{key}") is not None and n:
                ci = stats.binomtest(int(round(r[f"coverage_{key}"] * n)), n).proportion_ci(0.6827, "exact")
                r[f"coverage_{key}_lo"], r[f"coverage_{key}_hi"] = float(ci.low), float(ci.high)
        r["true_coupling"] = r["x_true"] * tpl.coupling_scale * target.sign
        r["x_over_reference"] = r["x_true"] / ref if ref > 0 else float("nan")
    return {
        "fit": target.label,
        "coupling_unit": INTERACTIONS[target.interaction].coupling_unit,
        "coupling_scale": tpl.coupling_scale,
        "reference_limit_scaled": ref,
        "cl": spec.cl,
        "nominal": nominal,
        "poi_prior": spec.poi_prior.describe(),
        "calibration": None if crit is None else crit.describe(tpl.coupling_scale),
        "rows": rows,
        "note": COVERAGE_NOTE,
        "provenance": provenance or {},
        "seconds": round(time.perf_counter() - started, 1),
    }
