"""From a model spec and a dataset to the templates of each fit ("fit targets").

One model spec expands into several fits: the millicharge per flavour set and sign, the dark
photon per mediator mass. Each fit gets its view of the dataset (window, merged bins), its
templates, and its coupling scale (given, or "auto": the coupling whose signal equals
3 sqrt(background) counts in the window, so the sampled x is of order one). The POI prior's bounds
are in the model file's scale (or the automatic one) whatever unit the templates use
(:func:`spec_in_template_unit` converts them), so ``--scale`` changes units, not the prior.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import brentq

from bayes_xmass.datasets.types import Dataset
from bayes_xmass.errors import InputError
from bayes_xmass.model.analysis_choice import effective_analysis
from bayes_xmass.model.spec import ModelSpec
from bayes_xmass.physics.interactions import INTERACTIONS
from bayes_xmass.response.detector import MorphingTemplates
from bayes_xmass.response.templates import TemplateSet, build_templates_cached

__all__ = [
    "AUTO_SCALE_SIGMAS",
    "FitTarget",
    "analysis_view",
    "auto_scale",
    "fit_targets",
    "prior_unit",
    "rescale_signal",
    "round_scale",
    "spec_in_template_unit",
    "target_templates",
]

AUTO_SCALE_SIGMAS = 3.0


@dataclass(frozen=True)
class FitTarget:
    """One fit: interaction options and the sign of the coupling."""

    interaction: str
    sign: int = 1
    flavours: str | None = None
    mass_mev: float | None = None

    @property
    def label(self) -> str:
        parts = [self.interaction]
        if self.flavours is not None:
            parts.append(self.flavours)
        if self.interaction == "millicharge":
            parts.append("pos" if self.sign > 0 else "neg")
        if self.mass_mev is not None:
            parts.append(f"M{self.mass_mev:g}MeV")
        return "_".join(parts)

    @property
    def options(self) -> dict[str, Any]:
        if self.interaction == "millicharge":
            return {"flavours": self.flavours or "common"}
        if self.interaction == "b_minus_l":
            return {"mass_mev": self.mass_mev}
        return {}


def fit_targets(
    spec: ModelSpec,
    *,
    flavours: Sequence[str] | None = None,
    signs: Sequence[int] | None = None,
    masses: Sequence[float] | None = None,
) -> list[FitTarget]:
    """Expand a model spec into its fits (optionally restricted)."""
    if spec.interaction == "millicharge":
        return [FitTarget("millicharge", s, f) for f in (flavours or spec.flavours) for s in (signs or spec.signs)]
    if spec.interaction == "b_minus_l":
        return [FitTarget("b_minus_l", 1, None, float(m)) for m in (masses or spec.masses_mev)]
    return [FitTarget(spec.interaction)]


def analysis_view(spec: ModelSpec, dataset: Dataset) -> Dataset:
    """The dataset restricted to the fit's window (intersected with the data's range, snapped to
    bin edges) with bins finer than the bin width merged (uniform binning only). Window and bin
    width: the command line's, else the dataset's ``[analysis]``, else the model's
    (:func:`~bayes_xmass.model.analysis_choice.effective_analysis`)."""
    edges = np.asarray(dataset.bin_edges_keV)
    choice = effective_analysis(spec, dataset)
    w_lo, w_hi = choice.window_kev
    bin_width = choice.bin_width_kev
    if w_hi <= edges[0] or w_lo >= edges[-1]:
        raise InputError(
            spec.source or "model",
            "window_keV",
            f"window {w_lo:g}-{w_hi:g} keV does not overlap the data ({edges[0]:g}-{edges[-1]:g} keV)",
        )
    inside = edges[(edges >= w_lo - 1e-9) & (edges <= w_hi + 1e-9)]
    if inside.size < 2:
        raise InputError(
            spec.source or "model", "window_keV", f"window {w_lo:g}-{w_hi:g} keV contains no whole bin of the data"
        )
    lo, hi = inside[0], inside[-1]
    view = dataset.view(window=(float(lo), float(hi)))
    widths = np.diff(view.bin_edges_keV)
    merge = 1
    if bin_width > 0 and np.allclose(widths, widths[0]) and widths[0] < bin_width:
        merge = int(round(bin_width / widths[0]))
        while merge > 1 and view.n_bins % merge:
            merge -= 1
    return view.view(merge=merge) if merge > 1 else view


def rescale_signal(tpl: TemplateSet, new_scale: float) -> TemplateSet:
    """Same templates with the coupling unit changed to ``new_scale`` (terms scale as c^p)."""
    factor = np.array([(new_scale / tpl.coupling_scale) ** p for p in tpl.signal_powers])
    values = tpl.signal.values * factor[None, :, None]
    coeffs = tpl.signal.coefficients * factor[None, None, :, None]
    return dataclasses.replace(
        tpl, coupling_scale=float(new_scale), signal=MorphingTemplates(tpl.signal.scale_grid, values, coeffs)
    )


def auto_scale(tpl: TemplateSet, sign: int = 1) -> float:
    """Coupling (physical units) whose total |signal| equals 3 sqrt(total background) counts."""
    s0 = float(np.clip(1.0, tpl.scale_grid[0], tpl.scale_grid[-1]))
    bkg = float(tpl.backgrounds(s0).sum())
    sig = tpl.signal(s0).sum(axis=1)  # per term, per unit coupling_scale^p
    target = AUTO_SCALE_SIGMAS * math.sqrt(max(bkg, 1.0))

    def excess(log_c: float) -> float:
        c = math.exp(log_c)
        return math.log(abs(sum((sign * c) ** p * v for p, v in zip(tpl.signal_powers, sig))) + 1e-300) - math.log(
            target
        )

    # search in units of coupling_scale around the interaction's typical size
    centre = math.log(INTERACTIONS[tpl.interaction].scale / tpl.coupling_scale)
    lo, hi = centre - 30.0, centre + 30.0
    if not excess(lo) < 0 < excess(hi):
        raise InputError("model", "poi.scale", "could not determine an automatic coupling scale; give poi.scale")
    return float(tpl.coupling_scale * math.exp(brentq(excess, lo, hi)))


def target_templates(spec: ModelSpec, dataset: Dataset, target: FitTarget) -> TemplateSet:
    """Templates for one fit, with the coupling scale resolved (given or auto)."""
    view = analysis_view(spec, dataset)
    tpl = build_templates_cached(
        view, target.interaction, spec.physics, options=target.options, coupling_scale=spec.poi_scale or 1.0
    )  # on-disk cache (bayes_xmass.runtime.cache)
    if spec.poi_scale is None:
        tpl = rescale_signal(tpl, round_scale(auto_scale(tpl, target.sign)))
    return tpl


def round_scale(value: float) -> float:
    """Round to 2 significant digits so the scale is a readable unit."""
    return float(f"{value:.2g}")


def prior_unit(spec: ModelSpec, tpls: TemplateSet | Sequence[TemplateSet], sign: int = 1) -> float:
    """The coupling (physical units) that the POI prior's bounds of ``spec`` are in: the model file's
    ``poi.scale``, or for ``scale = "auto"`` the automatic scale of the fit's templates (the largest
    over a combination's datasets, as :func:`bayes_xmass.infer.combined.combined_templates` takes)."""
    if spec.poi_prior_unit is not None:
        return spec.poi_prior_unit
    group = [tpls] if isinstance(tpls, TemplateSet) else list(tpls)
    return max(round_scale(auto_scale(t, sign)) for t in group)


def spec_in_template_unit(spec: ModelSpec, tpls: TemplateSet | Sequence[TemplateSet], sign: int = 1) -> ModelSpec:
    """``spec`` with its POI prior expressed in the coupling unit of its templates ``tpls`` (one fit's,
    or a combination's common unit), so that the prior in physical units is the model's whatever unit
    the templates and sampler use (``--scale``): the prior is rescaled by prior unit / template unit
    (exactly 1, the spec unchanged, when no scale was overridden). The result's prior unit is the
    templates', so applying this twice changes nothing.

    ``tpls`` are resolved from ``spec`` (:func:`target_templates`, ``combined_templates``, the scan's
    ``mass_templates``): with both the scale and the prior unit automatic, they are in the automatic
    scale already."""
    group = [tpls] if isinstance(tpls, TemplateSet) else list(tpls)
    unit = group[0].coupling_scale
    if (spec.poi_scale is None and spec.poi_prior_unit is None) or spec.poi_prior_unit == unit:
        return spec  # the prior is in the templates' unit already (for auto: the automatic scale)
    factor = prior_unit(spec, group, sign) / unit
    return spec.with_overrides(poi_prior=spec.poi_prior.rescaled(factor), poi_prior_unit=unit)
