"""The prior of the parameter of interest, x = |coupling| / coupling_scale (dimensionless, >= 0).

:class:`PoiPrior` declares the prior (kind, upper bound and shape parameters, in units of the
coupling scale; :meth:`PoiPrior.rescaled` converts them to another unit); the names here are those of the POI variables and pm.Data in every model
(:mod:`bayes_xmass.model.build` builds the graph). Light: NumPy only, so specs can hold a prior
without importing the PyMC builder.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

__all__ = [
    "POI_PRIOR_KINDS",
    "POI_PRIOR_PARAMETERS",
    "POI_PRIOR_PARAMETER_DIM",
    "POI_PRIOR_PARAMETER_LABELS",
    "POI_QUANTILE",
    "POI_QUANTILE_SCALED",
    "POI_REFERENCE",
    "POI_VALUE",
    "QUANTILE_PRIOR_KINDS",
    "PoiPrior",
    "poi_prior_data",
]

POI_PRIOR_KINDS = ("flat", "flat_power", "log_uniform", "jeffreys", "improper")
POI_VALUE = "x"  # name of the scaled POI variable in every model
# flat, flat_power and log_uniform priors share one graph: x is the prior's quantile function of
# u ~ U(0, 1) (the variable POI_QUANTILE), its parameters the pm.Data vector POI_PRIOR_PARAMETERS
QUANTILE_PRIOR_KINDS = ("flat", "flat_power", "log_uniform")
POI_QUANTILE = "poi_quantile"
POI_QUANTILE_SCALED = "poi_quantile_scaled"  # the sampled variable: K * poi_quantile ~ U(0, K)
POI_REFERENCE = "poi_reference"  # pm.Data: x_ref of poi_transform.poi_reference (sets K only)
POI_PRIOR_PARAMETERS = "poi_prior_parameters"
POI_PRIOR_PARAMETER_DIM = "poi_prior_parameter"
POI_PRIOR_PARAMETER_LABELS = ("is_log_uniform", "upper", "inverse_power", "log_floor", "log_range")


@dataclass(frozen=True)
class PoiPrior:
    """Prior of the scaled coupling x = |coupling| / scale on [0, upper] (upper in units of scale).

    - ``flat``: uniform in x;
    - ``flat_power``: uniform in x**power (power 2 = flat in mu^2 or q^2, i.e. in the signal rate
      of a quadratic signal); sampled as u = (x/upper)**power ~ U(0, 1);
    - ``log_uniform``: uniform in log x on [floor, upper];
    - ``jeffreys``: pi(x) ∝ sqrt(I(x)), I the Fisher information of the binned Poisson likelihood in
      x at the current nuisance values (a conditional Jeffreys/reference prior; added as a Potential,
      which prior-predictive sampling ignores: the stored prior group is then the uniform base);
    - ``improper``: no prior (flat, unbounded) -- for the frequentist profile likelihood.

    The first three are sampled the same way, as u ~ U(0, 1) (``poi_quantile``) and x = F^-1(u), F the
    prior's cumulative distribution: ``upper * u**(1/power)`` (power 1 for ``flat``) or
    ``floor * (upper/floor)**u``; the parameters are data (:meth:`data_values`), so one compiled model
    serves all of them (e.g. the prior-sensitivity variants). A generative form: prior predictive
    sampling and SBC are exact. NUTS samples u as v = K u ~ U(0, K) (``poi_quantile_scaled``) in a
    coordinate linear in the signal rate (:mod:`bayes_xmass.model.poi_transform`).

    >>> PoiPrior("flat_power", 20.0, 2.0).structure() == PoiPrior("log_uniform", 5.0, floor=0.01).structure()
    True
    >>> PoiPrior("flat_power", 20.0, 4.0).data_values().tolist()
    [0.0, 20.0, 0.25, 0.0, 0.0]
    """

    kind: str = "flat_power"
    upper: float = 10.0
    power: float = 2.0
    floor: float = 1e-3

    def __post_init__(self) -> None:
        if self.kind not in POI_PRIOR_KINDS:
            raise ValueError(f"unknown POI prior {self.kind!r}; known: {', '.join(POI_PRIOR_KINDS)}")
        if not (self.upper > 0 and math.isfinite(self.upper)):
            raise ValueError("POI prior upper bound must be positive and finite")
        if self.kind == "flat_power" and not self.power > 0:
            raise ValueError("flat_power prior needs power > 0")
        if self.kind == "log_uniform" and not (0 < self.floor < self.upper):
            raise ValueError("log_uniform prior needs 0 < floor < upper")

    def structure(self) -> tuple[Any, ...]:
        """What the PyMC graph fixes: priors with equal structures share a compiled model."""
        return ("quantile",) if self.kind in QUANTILE_PRIOR_KINDS else (self.kind, self.upper)

    def data_values(self) -> np.ndarray:
        """The ``poi_prior_parameters`` vector (labels POI_PRIOR_PARAMETER_LABELS) of a quantile-form prior."""
        if self.kind not in QUANTILE_PRIOR_KINDS:
            raise ValueError(f"a {self.kind!r} POI prior has no data parameters")
        if self.kind == "log_uniform":
            return np.array([1.0, self.upper, 1.0, math.log(self.floor), math.log(self.upper / self.floor)])
        power = self.power if self.kind == "flat_power" else 1.0
        return np.array([0.0, self.upper, 1.0 / power, 0.0, 0.0])

    def rescaled(self, factor: float) -> PoiPrior:
        """The same prior of |coupling| for x in a unit ``factor`` times smaller (x' = factor * x):
        ``upper`` and ``floor`` times ``factor``; the shape (kind, power) is unit-free.

        >>> PoiPrior("log_uniform", 20.0, floor=0.01).rescaled(10.0)
        PoiPrior(kind='log_uniform', upper=200.0, power=2.0, floor=0.1)
        """
        if not (factor > 0 and math.isfinite(factor)):
            raise ValueError(f"a POI prior is rescaled by a positive finite factor, got {factor}")
        if factor == 1.0:
            return self
        return replace(self, upper=self.upper * factor, floor=self.floor * factor)

    def describe(self, coupling_scale: float | None = None) -> dict[str, Any]:
        """Kind, bounds in units of the coupling scale (``upper_scaled``, ``floor_scaled``) and shape;
        given the scale (physical units per unit of x), also the bounds in physical units (``upper``,
        ``floor``) and the scale itself.

        >>> PoiPrior("flat_power", 20.0, 2.0).describe(1e-10)
        {'kind': 'flat_power', 'upper_scaled': 20.0, 'power': 2.0, 'coupling_scale': 1e-10, 'upper': 2e-09}
        """
        out: dict[str, Any] = {"kind": self.kind, "upper_scaled": self.upper}
        if self.kind == "flat_power":
            out["power"] = self.power
        if self.kind == "log_uniform":
            out["floor_scaled"] = self.floor
        if coupling_scale is not None:
            out["coupling_scale"] = coupling_scale
            out["upper"] = self.upper * coupling_scale
            if self.kind == "log_uniform":
                out["floor"] = self.floor * coupling_scale
        return out


def poi_prior_data(prior: PoiPrior | None) -> dict[str, np.ndarray]:
    """``{POI_PRIOR_PARAMETERS: values}`` for a quantile-form prior, else empty (what a fit swaps in)."""
    if prior is None or prior.kind not in QUANTILE_PRIOR_KINDS:
        return {}
    return {POI_PRIOR_PARAMETERS: prior.data_values()}
