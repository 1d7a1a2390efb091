"""What a fit's DataTree records besides the draws: its constant data and provenance attributes."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import numpy as np

from bayes_xmass.model.data import PRIOR_PARAMETER_DIM, nuisance_prior_labels
from bayes_xmass.model.poi_prior import POI_PRIOR_PARAMETER_DIM, POI_PRIOR_PARAMETER_LABELS, PoiPrior
from bayes_xmass.model.targets import FitTarget
from bayes_xmass.physics.interactions import CHARGE_CONVENTION, INTERACTIONS
from bayes_xmass.response.templates import TemplateSet
from bayes_xmass.runtime.io import package_versions

__all__ = ["constant_data_group", "trace_attrs"]


def constant_data_group(model: Any, data: Mapping[str, Any], tpl: TemplateSet) -> Any:
    """The ``constant_data`` group: the model's pm.Data values (templates, spline coefficients, prior
    parameters) with their named dims; the observed counts are in ``observed_data``."""
    import xarray as xr

    dims = {name: model.named_vars_to_dims.get(name, ()) for name in data}
    coords = {
        "energy_bin": 0.5 * (tpl.bin_edges_kev[1:] + tpl.bin_edges_kev[:-1]),
        "energy_edge": tpl.bin_edges_kev,
        "background": list(tpl.background_names),
        "term": list(tpl.signal_terms),
        "spline_coefficient": [3, 2, 1, 0],
        "scale_interval": np.arange(tpl.signal.coefficients.shape[1]),
        "scale_point": np.arange(tpl.scale_grid.size),
        PRIOR_PARAMETER_DIM: nuisance_prior_labels(tpl),
        POI_PRIOR_PARAMETER_DIM: list(POI_PRIOR_PARAMETER_LABELS),
    }
    variables = {k: (dims[k], np.asarray(v)) for k, v in data.items() if k != "observed_counts"}
    return xr.Dataset(variables, coords={k: v for k, v in coords.items()})


def trace_attrs(
    tpl: TemplateSet,
    target: FitTarget,
    poi_prior: PoiPrior,
    likelihood: str,
    sampler: Any,
    seed: int,
    sampling_s: float,
    sampler_name: str,
    provenance: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """Provenance attributes of a fit's DataTree: model config, dataset checksum, seed, sampler, versions."""
    inter = INTERACTIONS[tpl.interaction]
    attrs = {
        "bayes_xmass_fit": target.label,
        "interaction": tpl.interaction,
        "poi": inter.poi,
        "coupling_unit": inter.coupling_unit,
        "coupling_scale": tpl.coupling_scale,
        "sign": target.sign,
        "options": json.dumps(tpl.options, default=str),
        "poi_prior": json.dumps(poi_prior.describe(tpl.coupling_scale)),
        "poi_prior_upper_physical": poi_prior.upper * tpl.coupling_scale,
        "likelihood": likelihood,
        "sampler": sampler_name,
        "nuts_implementation": (
            f"nutpie ({getattr(sampler, 'adaptation', 'diag').replace('_', '-')} mass matrix)"
            if sampler_name == "nutpie"
            else "PyMC NUTS"
        ),
        "sampler_settings": json.dumps(sampler.__dict__),
        "seed": seed,
        "sampling_seconds": round(sampling_s, 2),
        "dataset_checksum": tpl.dataset.checksum,
        "exposure_kg_day": float(tpl.dataset.exposure_kg_day),
        "dataset": json.dumps(tpl.dataset.summary(), default=str),
        "physics": json.dumps(tpl.physics.describe(), default=str),
        "atomic_model": tpl.physics.atomic.name,
        "charge_convention": CHARGE_CONVENTION,
        "package_versions": json.dumps(package_versions()),
    }
    if poi_prior.kind == "jeffreys":
        attrs["prior_group_note"] = (
            "prior group sampled from the uniform base; the Jeffreys Potential is not generative"
        )
    if provenance:
        attrs.update(
            {k: (v if isinstance(v, (str, int, float)) else json.dumps(v, default=str)) for k, v in provenance.items()}
        )
    return attrs
