"""The atomic model as a theory systematic: one fit's limits under each atomic model the tool has.

For the magnetic moment and the millicharge the signal rate depends on how the xenon electrons are
treated (``bayes_xmass.physics.atomic``): free electrons, the stepping approximation, stepping with the
equivalent-photon approximation (EPA) for the millicharge's photon-exchange term (at three values
of its neutrino-mass regulator), and a user's RRPA table when one is given. Each variant is refitted
(NUTS, and the profile likelihood from the same expected-counts function); the baseline row is the
fit's own result. Limits are in the coupling's physical unit.
"""

from __future__ import annotations

import dataclasses
import math
import time
import warnings
from typing import Any

import arviz as az

from bayes_xmass.datasets.types import Dataset
from bayes_xmass.infer.posterior_sampler import posterior_only
from bayes_xmass.infer.posterior_summary import credible_limit
from bayes_xmass.infer.toys import shared_profile_likelihood
from bayes_xmass.model.poi_prior import POI_VALUE
from bayes_xmass.model.spec import ModelSpec, SamplerSettings
from bayes_xmass.model.targets import FitTarget, spec_in_template_unit, target_templates
from bayes_xmass.physics.atomic import DEFAULT_M_NU_EV, AtomicModel

__all__ = [
    "ATOMIC_SYSTEMATIC_INTERACTIONS",
    "EPA_M_NU_EV",
    "AtomicVariant",
    "atomic_model_systematic",
    "atomic_variants",
]

ATOMIC_SYSTEMATIC_INTERACTIONS = ("magnetic_moment", "millicharge")

# EPA neutrino-mass regulator values [eV]: 0.05 ~ sqrt(|Delta m^2_31|) = sqrt(2.5e-3 eV^2), the least
# mass the heaviest neutrino can have (NuFIT 5.2, JHEP 09 (2020) 178); 0.1 the default
# (physics/atomic.py); 0.45 the KATRIN 90% CL upper limit on m_nu (Science 388 (2025) 180).
EPA_M_NU_EV = (0.05, DEFAULT_M_NU_EV, 0.45)


@dataclasses.dataclass(frozen=True)
class AtomicVariant:
    """One row of the table: a label, the atomic model, and a note (why it equals another row)."""

    label: str
    model: AtomicModel
    note: str = ""
    same_as: str | None = None
    """Label of a row with the identical signal (no refit; its numbers are copied)."""


def _label(model: AtomicModel) -> str:
    if model.uses_epa:
        return f"stepping+EPA (m_nu = {model.m_nu_ev:g} eV)"
    if model.name == "rrpa_table":
        return f"RRPA table ({model.rrpa_source})"
    return {"free": "free electrons", "stepping": "stepping"}.get(model.name, model.name)


def atomic_variants(interaction: str, baseline: AtomicModel, rrpa: AtomicModel | None = None) -> list[AtomicVariant]:
    """The rows for ``interaction``: free, stepping, stepping+EPA (three regulators for the
    millicharge; for the magnetic moment the EPA changes nothing), the baseline if it is none of
    these, and ``rrpa`` if given."""
    models = [AtomicModel("free"), AtomicModel("stepping")]
    variants = [AtomicVariant(_label(m), m) for m in models]
    if interaction == "millicharge":
        variants += [AtomicVariant(_label(m), m) for m in (AtomicModel("stepping+epa", m_nu_ev=v) for v in EPA_M_NU_EV)]
    else:
        epa = AtomicModel("stepping+epa", m_nu_ev=baseline.m_nu_ev)
        variants.append(
            AtomicVariant(
                "stepping+EPA",
                epa,
                "the EPA enters only the millicharge's photon-exchange term: the same signal as stepping",
                same_as="stepping",
            )
        )
    known = {v.model for v in variants}
    if baseline not in known and baseline.name != "stepping+epa":
        variants.append(AtomicVariant(_label(baseline), baseline))
    if rrpa is not None and rrpa != baseline:
        variants.append(AtomicVariant(_label(rrpa), rrpa))
    return variants


def _is_baseline(variant: AtomicVariant, baseline: AtomicModel, interaction: str) -> bool:
    if variant.same_as is not None:
        return False
    if interaction != "millicharge" and baseline.uses_epa:  # EPA = stepping for these interactions
        return variant.model.name == "stepping"
    return variant.model == baseline


def _record_row(record: dict[str, Any]) -> dict[str, float]:
    """The fit's own limits (physical units) for the baseline row."""
    scale = float(record["coupling_scale"])
    freq = record["frequentist"]
    return {
        "bayes": float(record["bayes"]["limit"]),
        "delta_chi2": float(freq["limit_xmass_scaled"]) * scale,
        "one_sided": float(freq["limit_one_sided_scaled"]) * scale,
    }


def _refit(
    spec: ModelSpec,
    dataset: Dataset,
    target: FitTarget,
    model: AtomicModel,
    sampler: SamplerSettings,
    seed: int,
    cache: dict[Any, Any] | None,
) -> dict[str, Any]:
    """Bayesian and profile-likelihood limits of ``target`` with atomic model ``model``."""
    vspec = spec.with_overrides(physics=dataclasses.replace(spec.physics, atomic=model))
    tpl = target_templates(vspec, dataset, target)
    vspec = spec_in_template_unit(vspec, tpl, target.sign)
    scale = tpl.coupling_scale
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pl = shared_profile_likelihood(tpl, target.sign, spec.likelihood)
        pl.set_observed(tpl.observed)
        best = pl.best_fit()
        delta = pl.upper_limit(spec.cl, "xmass", best) * scale
        one_sided = pl.upper_limit(spec.cl, "one_sided", best) * scale
    dt = posterior_only(
        tpl, target, poi_prior=vspec.poi_prior, sampler=sampler, likelihood=spec.likelihood, seed=seed, cache=cache
    )
    lim = credible_limit(dt, spec.cl)
    rhat = float(az.rhat(dt, var_names=[POI_VALUE])[POI_VALUE])
    div = int(dt.sample_stats["diverging"].sum()) if "diverging" in dt.sample_stats else 0
    return {
        "bayes": float(lim["limit"]),
        "mcse": float(lim["mcse"]),
        "delta_chi2": float(delta),
        "one_sided": float(one_sided),
        "rhat_poi": rhat,
        "divergences": div,
        "reliable": bool(rhat <= 1.01 and div == 0 and math.isfinite(lim["limit"])),
        "method": "NUTS refit + profile likelihood",
    }


def atomic_model_systematic(
    spec: ModelSpec,
    dataset: Dataset,
    record: dict[str, Any],
    *,
    sampler: SamplerSettings,
    seed: int,
    rrpa: AtomicModel | None = None,
    cache: dict[Any, Any] | None = None,
) -> dict[str, Any]:
    """The table for the fit of ``record`` (a run's fit record): Bayesian, Delta chi2 = 2.71 and
    one-sided limits under each atomic model, and their ratios to the fit's own (baseline) limits."""
    started = time.perf_counter()
    target = FitTarget(record["interaction"], record["sign"], record.get("flavours"), record.get("mass_MeV"))
    baseline = spec.physics.atomic
    base = _record_row(record)
    rows: list[dict[str, Any]] = []
    by_label: dict[str, dict[str, Any]] = {}
    for i, variant in enumerate(atomic_variants(target.interaction, baseline, rrpa)):
        row: dict[str, Any] = {"variant": variant.label, "atomic_model": variant.model.describe()}
        if variant.same_as is not None and variant.same_as in by_label:
            src = by_label[variant.same_as]
            row.update({k: src[k] for k in ("bayes", "delta_chi2", "one_sided", "reliable")})
            row.update(method=f"same as {variant.same_as}", baseline=False)
        elif _is_baseline(variant, baseline, target.interaction):
            row.update(base, reliable=True, method="the fit itself", baseline=True)
        else:
            row.update(_refit(spec, dataset, target, variant.model, sampler, seed + 1 + i, cache), baseline=False)
        if variant.note:
            row["note"] = variant.note
        for kind in ("bayes", "delta_chi2"):
            row[f"ratio_{kind}"] = row[kind] / base[kind] if base[kind] > 0 else float("nan")
        rows.append(row)
        by_label[variant.label] = row
    return {
        "fit": target.label,
        "interaction": target.interaction,
        "coupling_unit": record["coupling_unit"],
        "baseline_model": baseline.describe(),
        "cl": spec.cl,
        "rows": rows,
        "seconds": round(time.perf_counter() - started, 1),
    }
