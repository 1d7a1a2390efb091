"""Set-up shared by the validation studies: the (optionally reduced) analysis of one fit and the
compiled posterior sampler reused by every replica or toy of a study in one process.

The reduced analyses (narrow window, merged bins) keep the full set of nuisances -- every
background normalisation, the energy scale and the per-bin template factors -- and run at CI speed.
Windows and bin widths are in keV, the dark-photon mediator mass in MeV.
"""

from __future__ import annotations

import math

import numpy as np

from bayes_xmass.datasets.types import Dataset
from bayes_xmass.errors import InputError
from bayes_xmass.infer.posterior_sampler import PosteriorSampler
from bayes_xmass.model.data import structure_key
from bayes_xmass.model.poi_prior import PoiPrior
from bayes_xmass.model.spec import ModelSpec, model_spec_for
from bayes_xmass.model.targets import FitTarget, fit_targets, spec_in_template_unit, target_templates
from bayes_xmass.response.templates import TemplateSet
from bayes_xmass.runtime.executor import worker_cache

__all__ = [
    "DEFAULT_SBC_MASS_MEV",
    "MAX_SIGNAL_OVER_OBSERVED",
    "REDUCED_ANALYSIS",
    "check_signal_size",
    "posterior_sampler_for",
    "signal_counts_at",
    "validation_setup",
]

# Reduced analyses for CI-speed validation: a narrow window with merged bins (still the full set
# of nuisances: every background normalisation, the energy scale, per-bin template factors).
REDUCED_ANALYSIS = {
    "magnetic_moment": {"window_kev": (2.0, 30.0), "bin_width_kev": 4.0},
    "millicharge": {"window_kev": (2.0, 15.0), "bin_width_kev": 1.0},
    "b_minus_l": {"window_kev": (2.0, 30.0), "bin_width_kev": 4.0},
}
DEFAULT_SBC_MASS_MEV = 10.0  # dark-photon mediator mass of the validation studies (MeV)
# A simulated signal above this multiple of the observed events (plus 100) is refused: the data would
# exclude it by thousands of sigma, and Poisson draws of such means overflow. It is a slip of units
# (a coupling of 1 mu_B, a prior bound in physical units), not a validation question.
MAX_SIGNAL_OVER_OBSERVED = 1e3


def signal_counts_at(tpl: TemplateSet, x: float) -> float:
    """Expected signal events (all bins, |sum of terms|) at coupling x (units of the coupling scale),
    nominal energy scale."""
    s = float(np.clip(1.0, tpl.scale_grid[0], tpl.scale_grid[-1]))
    terms = tpl.signal(s)
    counts = sum(float(x) ** int(p) * terms[k] for k, p in enumerate(tpl.signal_powers))
    return float(np.sum(np.abs(counts)))


def check_signal_size(tpl: TemplateSet, x: float, option: str, unit: str = "") -> None:
    """Refuse (InputError naming ``option``) a coupling x (scaled) whose signal exceeds
    ``MAX_SIGNAL_OVER_OBSERVED`` x (observed events + 100)."""
    signal, observed = signal_counts_at(tpl, x), float(np.sum(tpl.observed))
    if not math.isfinite(signal) or signal > MAX_SIGNAL_OVER_OBSERVED * (observed + 100.0):
        raise InputError(
            "command line",
            option,
            f"{x * tpl.coupling_scale:g} {unit} gives {signal:.3g} signal events against {observed:.0f} observed; "
            f"give a coupling in {unit or 'the interaction unit'} that the data do not exclude by orders of magnitude",
        )


def validation_setup(
    interaction: str,
    dataset: Dataset,
    *,
    reduced: bool = False,
    mass_mev: float | None = None,
    sign: int | None = None,
    flavours: str | None = None,
    spec: ModelSpec | None = None,
) -> tuple[ModelSpec, FitTarget, TemplateSet]:
    """Model spec (bundled TOML unless ``spec`` is given; its POI prior in the templates' unit), one
    fit target and its templates.

    Dark photon: one mass (default 10 MeV); millicharge: one flavour set and sign (default the
    model's first).
    """
    spec = spec or model_spec_for(interaction)
    if reduced:
        spec = spec.with_overrides(**REDUCED_ANALYSIS[spec.interaction])
    if spec.interaction == "b_minus_l":
        mass = DEFAULT_SBC_MASS_MEV if mass_mev is None else float(mass_mev)
        if not (math.isfinite(mass) and mass >= 0):
            raise InputError("command line", "--mass", f"mediator mass must be finite and >= 0 MeV, got {mass}")
        target = FitTarget("b_minus_l", 1, None, mass)
    elif spec.interaction == "millicharge":
        target = FitTarget("millicharge", sign or spec.signs[0], flavours or spec.flavours[0])
    else:
        target = fit_targets(spec)[0]
    tpl = target_templates(spec, dataset, target)
    return spec_in_template_unit(spec, tpl, target.sign), target, tpl


def posterior_sampler_for(
    tpl: TemplateSet, prior: PoiPrior, likelihood: str, sampler_name: str = "nutpie", chain_starts: str = "mode"
) -> PosteriorSampler:
    """A compiled model for this structure, kept per process (:func:`bayes_xmass.runtime.executor.worker_cache`)
    so replicas and repeated studies in one process do not recompile. ``chain_starts``: see
    :data:`bayes_xmass.infer.posterior_sampler.CHAIN_STARTS`."""
    key = ("posterior_sampler", structure_key(tpl, prior, likelihood), sampler_name)
    ps = worker_cache(key, lambda: PosteriorSampler(tpl, prior, likelihood, sampler_name)).for_prior(prior)
    return ps.with_chain_starts(chain_starts)
