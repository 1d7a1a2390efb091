"""Summaries of a posterior: the credible upper limit and the convergence diagnostics of a NUTS run.

The credible limit is the one-sided ``cl`` quantile of the marginal posterior of |coupling|
(not an HDI/ETI, in the coupling's physical unit), reported with its Monte Carlo standard error.
:class:`Diagnostics` holds R-hat, bulk/tail ESS, divergences and BFMI of a run and checks them
against ``RHAT_MAX``, ``ESS_MIN``, ``POI_ESS_MIN`` and ``BFMI_MIN``, and the posterior against the
profile likelihood (:mod:`bayes_xmass.infer.mode_starts`: a chain's median POI that the profile
likelihood excludes by more than ``PROFILE_CHECK_DELTA_CHI2``) and against the POI prior's range (a
credible limit above ``PRIOR_BOUND_MAX`` of the prior's upper bound is set by the prior, not the data).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NotRequired, TypedDict

import numpy as np

from bayes_xmass.infer.convergence import dataset_rhat_ess
from bayes_xmass.infer.mode_starts import PROFILE_CHECK_DELTA_CHI2, mode_check_of
from bayes_xmass.infer.posterior_sampler import HEAVY_DETERMINISTICS
from bayes_xmass.model.poi_prior import POI_VALUE

__all__ = [
    "CredibleLimit",
    "BFMI_MIN",
    "ESS_MIN",
    "POI_ESS_MIN",
    "PRIOR_BOUND_MAX",
    "RHAT_MAX",
    "Diagnostics",
    "credible_limit",
    "diagnostics",
]

RHAT_MAX = 1.01
ESS_MIN = 400
POI_ESS_MIN = 1000
BFMI_MIN = 0.3
PRIOR_BOUND_MAX = 0.8  # credible limit / POI prior upper bound above this: the prior's range sets the limit


@dataclass(frozen=True)
class Diagnostics:
    """Convergence summary of one run; ``ok`` when every threshold is met."""

    rhat_max: float
    ess_bulk_min: float
    ess_tail_min: float
    poi_ess_bulk: float
    poi_ess_tail: float
    divergences: int
    bfmi_min: float
    worst_rhat_var: str
    worst_ess_var: str
    # largest profile Delta chi2 at a chain's posterior median of x against the likelihood's dominant
    # mode (infer/mode_starts.py); NaN when not checked (prior-scaled starts, combined fits)
    profile_delta_chi2: float = float("nan")
    # credible limit / the POI prior's upper bound (both in units of the coupling scale); NaN when unknown
    prior_bound_fraction: float = float("nan")

    @property
    def failures(self) -> list[str]:
        """Every failed check: :attr:`sampling_failures`, then the prior's bound setting the limit."""
        out = self.sampling_failures
        if self.prior_bound_fraction > PRIOR_BOUND_MAX:
            out.append(
                f"credible limit at {self.prior_bound_fraction:.0%} of the POI prior's upper bound: the prior "
                "range, not the data, sets it; widen the prior (--prior-upper)"
            )
        return out

    @property
    def sampling_failures(self) -> list[str]:
        """The failed checks of the sampling (what more draws or another seed may cure)."""
        out = []
        if not self.rhat_max <= RHAT_MAX:
            out.append(f"R-hat {self.rhat_max:.4f} > {RHAT_MAX} ({self.worst_rhat_var})")
        if not self.ess_bulk_min >= ESS_MIN:
            out.append(f"bulk ESS {self.ess_bulk_min:.0f} < {ESS_MIN} ({self.worst_ess_var})")
        if not self.ess_tail_min >= ESS_MIN:
            out.append(f"tail ESS {self.ess_tail_min:.0f} < {ESS_MIN}")
        if not self.poi_ess_bulk >= POI_ESS_MIN:
            out.append(f"POI bulk ESS {self.poi_ess_bulk:.0f} < {POI_ESS_MIN}")
        if self.divergences > 0:
            out.append(f"{self.divergences} divergent transitions")
        if not self.bfmi_min >= BFMI_MIN:
            out.append(f"BFMI {self.bfmi_min:.2f} < {BFMI_MIN}")
        if self.profile_delta_chi2 > PROFILE_CHECK_DELTA_CHI2:
            out.append(
                f"posterior median of the POI excluded by the profile likelihood (Delta chi2 "
                f"{self.profile_delta_chi2:.3g} > {PROFILE_CHECK_DELTA_CHI2:g}): chains away from the data's mode"
            )
        return out

    @property
    def ok(self) -> bool:
        return not self.failures

    def as_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d.update(
            ok=self.ok,
            failures=self.failures,
            thresholds={
                "rhat_max": RHAT_MAX,
                "ess_min": ESS_MIN,
                "poi_ess_min": POI_ESS_MIN,
                "bfmi_min": BFMI_MIN,
                "divergences": 0,
                "profile_delta_chi2": PROFILE_CHECK_DELTA_CHI2,
                "prior_bound_fraction": PRIOR_BOUND_MAX,
            },
        )
        return d


class CredibleLimit(TypedDict):
    """A one-sided credible limit: ``limit``, ``mcse``, ``posterior_mean`` in the coupling's unit
    (``coupling_unit``: mu_B, e or dimensionless), ``limit_scaled`` in units of the coupling scale."""

    limit: float
    mcse: float
    cl: float
    limit_scaled: float
    posterior_mean: float
    coupling_unit: str
    warning: NotRequired[str]  # set when the prior's range, not the data, sets the limit


def credible_limit(dt: Any, cl: float = 0.9) -> CredibleLimit:
    """One-sided ``cl`` quantile of |coupling| with its MCSE (physical units)."""
    import arviz as az

    scale = float(dt.attrs["coupling_scale"])
    x = dt.posterior[POI_VALUE]
    q = float(np.quantile(x.values.ravel(), cl))
    mcse = float(az.mcse(dt, var_names=[POI_VALUE], method="quantile", prob=cl)[POI_VALUE])
    out: CredibleLimit = {
        "limit": q * scale,
        "mcse": mcse * scale,
        "cl": cl,
        "limit_scaled": q,
        "posterior_mean": float(x.mean()) * scale,
        "coupling_unit": dt.attrs.get("coupling_unit", ""),
    }
    upper = _prior_upper(dt)
    if upper and q > PRIOR_BOUND_MAX * upper:
        out["warning"] = (
            f"limit within {1 - PRIOR_BOUND_MAX:.0%} of the prior's upper bound: the prior range sets it; "
            "widen the prior (poi.prior.upper, --prior-upper)"
        )
    return out


def _prior_upper(dt: Any) -> float | None:
    """The POI prior's upper bound (units of the coupling scale) recorded in ``dt.attrs``, if any."""
    try:
        upper = json.loads(dt.attrs.get("poi_prior", "{}")).get("upper_scaled")
    except (TypeError, ValueError, AttributeError):  # not a recorded prior (e.g. a hand-made DataTree)
        return None
    return float(upper) if upper else None


def _cl_of(dt: Any) -> float:
    """The credible level of the fit's model config in ``dt.attrs`` (0.9 if not recorded)."""
    try:
        return float(json.loads(dt.attrs.get("model_config", "{}")).get("cl", 0.9))
    except (TypeError, ValueError, AttributeError):
        return 0.9


def diagnostics(dt: Any, model: Any = None, *, cl: float | None = None) -> Diagnostics:
    """R-hat (rank-normalised), bulk/tail ESS, divergences and BFMI over the sampled parameters, and
    the ``cl`` credible limit (default: the model config's level in ``dt.attrs``, else 0.9) as a
    fraction of the POI prior's upper bound.

    R-hat and ESS are ArviZ's (``az.rhat``, ``az.ess`` bulk and tail) computed for all parameters
    at once by :func:`bayes_xmass.infer.convergence.dataset_rhat_ess` (same numbers to ~1e-14, ~5x faster)."""
    import arviz as az

    post = dt.posterior
    names = [v for v in post.data_vars if v not in HEAVY_DETERMINISTICS and v != "coupling" and v != "norm"]
    per_var = dataset_rhat_ess(post, names)
    rhat, ess_b, ess_t = ({k: v[i] for k, v in per_var.items()} for i in range(3))

    def extreme(by_var: Mapping[str, np.ndarray], fn: Callable[[np.ndarray], Any]) -> tuple[float, str]:
        vals = {k: float(fn(a)) for k, a in by_var.items() if np.size(a)}
        vals = {k: v for k, v in vals.items() if math.isfinite(v)}
        if not vals:  # undefined for every variable (R-hat of a single chain): flagged, not a crash
            return float("nan"), "undefined"
        key = (max if fn is np.nanmax else min)(vals, key=vals.__getitem__)
        return vals[key], key

    rmax, rvar = extreme(rhat, np.nanmax)
    emin, evar = extreme(ess_b, np.nanmin)
    tmin, _ = extreme(ess_t, np.nanmin)
    div = int(dt.sample_stats["diverging"].sum()) if "diverging" in dt.sample_stats else 0
    if "energy" in dt.sample_stats:
        bfmi = float(az.bfmi(dt)["energy"].min())  # one value per chain
    else:  # a sampler that does not record the Hamiltonian energy
        bfmi = float("nan")
    check = mode_check_of(dt)
    profile = float(check["max_delta_chi2"]) if check else float("nan")
    upper = _prior_upper(dt)
    limit = float(np.quantile(post[POI_VALUE].values.ravel(), _cl_of(dt) if cl is None else cl))
    bound = limit / upper if upper else float("nan")
    return Diagnostics(
        rmax, emin, tmin, float(ess_b[POI_VALUE]), float(ess_t[POI_VALUE]), div, bfmi, rvar, evar, profile, bound
    )
