"""Combined fits over several datasets: naming (``<label>__<name>``) and what may be combined.

The PyMC model of a combination is :func:`bayes_xmass.model.build.build_combined_model`; this module
checks, without PyMC, that the template sets can share one POI (same interaction, signal terms and
coupling scale) and that nuisances declared shared have identical priors.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from typing import Any

import numpy as np

from bayes_xmass.datasets.priors import Prior
from bayes_xmass.model.data import model_data, structure_key, template_rel_error
from bayes_xmass.model.poi_prior import POI_REFERENCE, PoiPrior, poi_prior_data
from bayes_xmass.model.poi_transform import poi_reference
from bayes_xmass.response.templates import TemplateSet

__all__ = [
    "PREFIX_SEP",
    "SHAREABLE",
    "check_combination",
    "combined_model_data",
    "combined_structure_key",
    "dataset_prefix",
]


PREFIX_SEP = "__"  # dataset variables are named <label>__<name>, dims <label>__energy_bin, ...
SHAREABLE = ("energy_scale", "gamma")  # besides norm_<background>


def dataset_prefix(label: str) -> str:
    """Variable/dim name prefix of a dataset in a combined model."""
    return f"{label}{PREFIX_SEP}"


def combined_model_data(
    tpls: Sequence[TemplateSet],
    labels: Sequence[str],
    sign: int,
    likelihood: str,
    poi_prior: PoiPrior | None = None,
) -> dict[str, np.ndarray]:
    """The pm.Data values of :func:`bayes_xmass.model.build.build_combined_model` for these template
    sets: each dataset's :func:`~bayes_xmass.model.data.model_data` under its prefix, the common
    coupling unit and POI reference, and (given ``poi_prior``) the POI prior's parameters. What a
    compiled combined model swaps between fits of the same :func:`combined_structure_key`."""
    data: dict[str, np.ndarray] = {}
    for lab, t in zip(labels, tpls):
        for key, value in model_data(t, sign, likelihood).items():
            if key not in ("coupling_unit_scale", POI_REFERENCE):
                data[dataset_prefix(lab) + key] = value
    data["coupling_unit_scale"] = np.asarray(float(sign) * tpls[0].coupling_scale)
    data[POI_REFERENCE] = np.asarray(poi_reference(list(tpls)))
    data.update(poi_prior_data(poi_prior))
    return data


def combined_structure_key(
    tpls: Sequence[TemplateSet], labels: Sequence[str], poi_prior: PoiPrior, likelihood: str, shared: Collection[str]
) -> tuple[Any, ...]:
    """Combined fits with equal keys can share one compiled model (only pm.Data differ)."""
    return (
        tuple(labels),
        tuple(structure_key(t, poi_prior, likelihood) for t in tpls),
        tuple(sorted(shared)),
    )


def check_combination(tpls: Sequence[TemplateSet], labels: Sequence[str], shared: Collection[str] = ()) -> None:
    """Raise ValueError unless the template sets can share one POI and the named nuisances.

    Requirements: same interaction, signal terms/powers and coupling scale (x is common); unique
    labels that are identifiers; each shared name a nuisance (``norm_<background>``,
    ``energy_scale``, ``gamma``) free in at least two datasets with identical priors there (and, for
    ``gamma``, identical binning and per-bin relative errors).
    """
    if len(tpls) < 1 or len(tpls) != len(labels):
        raise ValueError("need one label per template set")
    if len(set(labels)) != len(labels):
        raise ValueError(f"dataset labels must be unique, got {list(labels)}")
    for lab in labels:
        if not (isinstance(lab, str) and lab.isidentifier() and PREFIX_SEP not in lab):
            raise ValueError(f"dataset label {lab!r} must be an identifier without {PREFIX_SEP!r}")
    ref = tpls[0]
    for lab, t in zip(labels, tpls):
        if (t.interaction, t.signal_terms, t.signal_powers) != (ref.interaction, ref.signal_terms, ref.signal_powers):
            raise ValueError(
                f"dataset {lab!r}: signal terms differ ({t.interaction} {t.signal_terms} vs "
                f"{ref.interaction} {ref.signal_terms})"
            )
        if not math.isclose(t.coupling_scale, ref.coupling_scale, rel_tol=1e-12):
            raise ValueError(
                f"dataset {lab!r}: coupling scale {t.coupling_scale:g} differs from "
                f"{ref.coupling_scale:g}; rescale the signal to a common unit first"
            )
    for name in shared:
        priors = {lab: _nuisance_prior(t, name) for lab, t in zip(labels, tpls)}
        have = {lab: p for lab, p in priors.items() if p is not None}
        if len(have) < 2:
            raise ValueError(
                f"shared nuisance {name!r} is a free nuisance of {len(have)} dataset(s); need >= 2 "
                f"(names: norm_<background>, energy_scale, gamma)"
            )
        if len(set(have.values())) > 1:
            raise ValueError(f"shared nuisance {name!r} has different priors: {have}")
        if name == "gamma":
            with_gamma = [t for lab, t in zip(labels, tpls) if lab in have]
            if any(
                t.n_bins != with_gamma[0].n_bins
                or not np.allclose(t.bin_edges_kev, with_gamma[0].bin_edges_kev)
                or not np.allclose(template_rel_error(t), template_rel_error(with_gamma[0]))
                for t in with_gamma
            ):
                raise ValueError("shared nuisance 'gamma' needs identical bins and template errors")


def _nuisance_prior(tpl: TemplateSet, name: str) -> Prior | tuple[Any, ...] | None:
    """The prior of a free nuisance by its single-dataset name, or None (no such name, or fixed:
    a fixed parameter is not a nuisance and is never shared)."""
    if name == "energy_scale":
        return None if tpl.scale_prior.is_fixed else tpl.scale_prior
    if name == "gamma":
        rel = template_rel_error(tpl)
        return tuple(np.round(rel, 12)) if np.any(rel > 0) else None
    for bname, prior in zip(tpl.background_names, tpl.background_priors):
        if name == f"norm_{bname}":
            return None if prior.is_fixed else prior
    return None
