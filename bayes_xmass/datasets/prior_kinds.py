"""Prior kinds: the behaviour of each kind of prior (density, sampling, PyMC variable, moments).

Each is a :class:`~bayes_xmass.datasets.prior_kind_base.PriorKind` acting on a prior's ``params``;
the registry that maps kind names to instances is :data:`bayes_xmass.datasets.priors.PRIOR_KINDS`.
Densities are numpy and vectorised; PyMC, PyTensor and SciPy are imported lazily.

Kinds and parameters (all in the units of the constrained quantity, e.g. a dimensionless
normalisation or energy-scale factor):

============================  ==============================================================
``normal``                    ``mu``, ``sigma`` (>= 0; ``sigma = 0`` means fixed at ``mu``)
``truncated_normal``          ``mu``, ``sigma`` (> 0), ``lower`` (default 0.0),
                              ``upper`` (default +inf); ``lower``/``upper`` may be -inf/+inf
``lognormal``                 ``mu`` = MEDIAN of the variable (> 0, same units as the variable),
                              ``sigma`` = width of log(variable) (> 0, dimensionless);
                              i.e. log(x) ~ Normal(log(mu), sigma)
``uniform``                   ``lower`` < ``upper`` (finite)
``halfnormal``                ``sigma`` (> 0); support [0, inf)
``fixed``                     ``value``; a delta function
============================  ==============================================================
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import numpy as np

from bayes_xmass.datasets.prior_kind_base import PriorData, PriorKind

__all__ = [
    "BUILTIN_PRIOR_KINDS",
    "FixedKind",
    "HalfNormalKind",
    "LogNormalKind",
    "NormalKind",
    "TruncatedNormalKind",
    "UniformKind",
]

_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)
_FIXED_RTOL = 1e-12


# --------------------------------------------------------------------------------------------
# Helpers shared by the kinds
# --------------------------------------------------------------------------------------------
def _delta_logpdf(value: float, x: Any) -> np.ndarray:
    x = np.asarray(x, dtype=float)
    hit = np.isclose(x, value, rtol=_FIXED_RTOL, atol=_FIXED_RTOL)
    return np.where(hit, 0.0, -np.inf)


def _delta_sample(value: float, size: Any) -> Any:
    if size is None:
        return float(value)
    return np.full(size, float(value))


def _delta_pymc(value: float, **kw: Any) -> Any:
    """A PyTensor constant with the shape implied by ``shape``/``size``/``dims`` (if given)."""
    import pytensor.tensor as pt

    shape = kw.get("shape", kw.get("size"))
    dims = kw.get("dims")
    if shape is None and dims is not None:
        import pymc as pm

        model = pm.modelcontext(None)
        dims = (dims,) if isinstance(dims, str) else tuple(dims)
        shape = tuple(len(model.coords[d]) for d in dims)
    if shape is None:
        return pt.constant(float(value))
    return pt.constant(np.full(shape, float(value)))


def _positive(params: Mapping[str, float], name: str, hint: str = "") -> tuple[str, str] | None:
    v = params[name]
    if v < 0:
        return name, f"negative width {name} = {v:g}; must be > 0{hint}"
    if v == 0:
        return name, f"{name} = 0 is not allowed for this kind; must be > 0{hint}"
    return None


_FIXED_HINT = ' (for a fixed value use kind = "fixed" or kind = "normal" with sigma = 0)'


def _graph_params(prior: PriorData, params: Mapping[str, Any] | None) -> dict[str, Any]:
    """``prior.params`` with the entries of ``params`` (tensors, e.g. pm.Data) substituted."""
    out: dict[str, Any] = dict(prior.params)
    out.update(params or {})
    return out


def _log(value: Any) -> Any:
    """log of a float (exactly ``math.log``) or of a tensor (``pt.log``)."""
    if isinstance(value, (int, float)):
        return math.log(value)
    import pytensor.tensor as pt

    return pt.log(value)


# --------------------------------------------------------------------------------------------
# The kinds
# --------------------------------------------------------------------------------------------
class NormalKind(PriorKind):
    """Normal(mu, sigma); ``sigma = 0`` is a delta at ``mu``."""

    required = ("mu", "sigma")
    data_params = ("mu", "sigma")
    description = "Gaussian; sigma = 0 fixes the parameter at mu"

    def validate(self, params: Mapping[str, float]) -> tuple[str, str] | None:
        if params["sigma"] < 0:
            return "sigma", f"negative width sigma = {params['sigma']:g}; must be >= 0 (0 = fixed at mu)"
        return None

    def fixed_value(self, prior: PriorData) -> float | None:
        return prior.params["mu"] if prior.params["sigma"] == 0 else None

    def logpdf(self, prior: PriorData, x: Any) -> np.ndarray:
        mu, sigma = prior.params["mu"], prior.params["sigma"]
        if sigma == 0:
            return _delta_logpdf(mu, x)
        z = (np.asarray(x, dtype=float) - mu) / sigma
        return -0.5 * z * z - math.log(sigma) - _LOG_SQRT_2PI

    def sample(self, prior: PriorData, rng: np.random.Generator, size: Any = None) -> Any:
        mu, sigma = prior.params["mu"], prior.params["sigma"]
        if sigma == 0:
            return _delta_sample(mu, size)
        return rng.normal(mu, sigma, size)

    def to_pymc(self, prior: PriorData, name: str, params: Mapping[str, Any] | None = None, **kw: Any) -> Any:
        if prior.params["sigma"] == 0:
            return _delta_pymc(prior.params["mu"], **kw)
        import pymc as pm

        p = _graph_params(prior, params)
        return pm.Normal(name, mu=p["mu"], sigma=p["sigma"], **kw)

    def support(self, prior: PriorData) -> tuple[float, float]:
        mu, sigma = prior.params["mu"], prior.params["sigma"]
        return (mu, mu) if sigma == 0 else (-math.inf, math.inf)

    def mean(self, prior: PriorData) -> float:
        return prior.params["mu"]

    def std(self, prior: PriorData) -> float:
        return prior.params["sigma"]


def _log_normal_mass(a: float, b: float) -> float:
    """log(Phi(b) - Phi(a)) for standardised a < b, accurate in both tails."""
    from scipy import special

    if a > 0:  # reflect into the left tail where log_ndtr is accurate
        a, b = -b, -a
    la, lb = float(special.log_ndtr(a)), float(special.log_ndtr(b))
    if lb == -math.inf or la >= lb:
        return -math.inf
    return lb + math.log1p(-math.exp(la - lb))


class TruncatedNormalKind(PriorKind):
    """Normal(mu, sigma) truncated to [lower, upper] (defaults lower = 0, upper = +inf)."""

    required = ("mu", "sigma")
    optional = MappingProxyType({"lower": 0.0, "upper": math.inf})
    allow_infinite = frozenset({"lower", "upper"})
    data_params = ("mu", "sigma")  # the bounds set the transform: structural
    description = "Gaussian truncated to [lower, upper]"

    @staticmethod
    def _std_bounds(p: Mapping[str, float]) -> tuple[float, float]:
        return (p["lower"] - p["mu"]) / p["sigma"], (p["upper"] - p["mu"]) / p["sigma"]

    def validate(self, params: Mapping[str, float]) -> tuple[str, str] | None:
        bad = _positive(params, "sigma", _FIXED_HINT)
        if bad:
            return bad
        if not params["lower"] < params["upper"]:
            return "lower", f"lower = {params['lower']:g} must be < upper = {params['upper']:g}"
        if _log_normal_mass(*self._std_bounds(params)) < -700.0:
            return "mu", "the interval [lower, upper] has negligible probability under Normal(mu, sigma)"
        return None

    def logpdf(self, prior: PriorData, x: Any) -> np.ndarray:
        p = prior.params
        x = np.asarray(x, dtype=float)
        z = (x - p["mu"]) / p["sigma"]
        log_z = _log_normal_mass(*self._std_bounds(p))
        inside = (x >= p["lower"]) & (x <= p["upper"])
        return np.where(inside, -0.5 * z * z - math.log(p["sigma"]) - _LOG_SQRT_2PI - log_z, -np.inf)

    def _scipy(self, prior: PriorData) -> Any:
        from scipy.stats import truncnorm

        p = prior.params
        a, b = self._std_bounds(p)
        return truncnorm(a, b, loc=p["mu"], scale=p["sigma"])

    def sample(self, prior: PriorData, rng: np.random.Generator, size: Any = None) -> Any:
        return self._scipy(prior).rvs(size=size, random_state=rng)

    def to_pymc(self, prior: PriorData, name: str, params: Mapping[str, Any] | None = None, **kw: Any) -> Any:
        import pymc as pm

        p = _graph_params(prior, params)
        lower = None if p["lower"] == -math.inf else p["lower"]
        upper = None if p["upper"] == math.inf else p["upper"]
        return pm.TruncatedNormal(name, mu=p["mu"], sigma=p["sigma"], lower=lower, upper=upper, **kw)

    def support(self, prior: PriorData) -> tuple[float, float]:
        return prior.params["lower"], prior.params["upper"]

    def mean(self, prior: PriorData) -> float:
        return float(self._scipy(prior).mean())

    def std(self, prior: PriorData) -> float:
        return float(self._scipy(prior).std())


class LogNormalKind(PriorKind):
    """log(x) ~ Normal(log(mu), sigma): ``mu`` is the MEDIAN of x, ``sigma`` the log-space width."""

    required = ("mu", "sigma")
    data_params = ("mu", "sigma")
    description = "log-normal; mu = median of the variable, sigma = width of log(variable)"

    def validate(self, params: Mapping[str, float]) -> tuple[str, str] | None:
        if params["mu"] <= 0:
            return "mu", f"mu is the median of a log-normal variable and must be > 0, got {params['mu']:g}"
        return _positive(params, "sigma", _FIXED_HINT)

    def logpdf(self, prior: PriorData, x: Any) -> np.ndarray:
        median, sigma = prior.params["mu"], prior.params["sigma"]
        x = np.asarray(x, dtype=float)
        pos = x > 0
        lx = np.log(np.where(pos, x, 1.0))
        z = (lx - math.log(median)) / sigma
        return np.where(pos, -0.5 * z * z - lx - math.log(sigma) - _LOG_SQRT_2PI, -np.inf)

    def sample(self, prior: PriorData, rng: np.random.Generator, size: Any = None) -> Any:
        return rng.lognormal(math.log(prior.params["mu"]), prior.params["sigma"], size)

    def to_pymc(self, prior: PriorData, name: str, params: Mapping[str, Any] | None = None, **kw: Any) -> Any:
        import pymc as pm

        p = _graph_params(prior, params)
        return pm.LogNormal(name, mu=_log(p["mu"]), sigma=p["sigma"], **kw)

    def support(self, prior: PriorData) -> tuple[float, float]:
        return 0.0, math.inf

    def mean(self, prior: PriorData) -> float:
        return prior.params["mu"] * math.exp(0.5 * prior.params["sigma"] ** 2)

    def std(self, prior: PriorData) -> float:
        return self.mean(prior) * math.sqrt(math.expm1(prior.params["sigma"] ** 2))


class UniformKind(PriorKind):
    """Flat on [lower, upper] (both finite)."""

    required = ("lower", "upper")
    data_params = ("lower", "upper")
    description = "flat on [lower, upper]"

    def validate(self, params: Mapping[str, float]) -> tuple[str, str] | None:
        if not params["lower"] < params["upper"]:
            return "lower", f"lower = {params['lower']:g} must be < upper = {params['upper']:g}"
        return None

    def logpdf(self, prior: PriorData, x: Any) -> np.ndarray:
        lo, hi = prior.params["lower"], prior.params["upper"]
        x = np.asarray(x, dtype=float)
        return np.where((x >= lo) & (x <= hi), -math.log(hi - lo), -np.inf)

    def sample(self, prior: PriorData, rng: np.random.Generator, size: Any = None) -> Any:
        return rng.uniform(prior.params["lower"], prior.params["upper"], size)

    def to_pymc(self, prior: PriorData, name: str, params: Mapping[str, Any] | None = None, **kw: Any) -> Any:
        import pymc as pm

        p = _graph_params(prior, params)
        return pm.Uniform(name, lower=p["lower"], upper=p["upper"], **kw)

    def support(self, prior: PriorData) -> tuple[float, float]:
        return prior.params["lower"], prior.params["upper"]

    def mean(self, prior: PriorData) -> float:
        return 0.5 * (prior.params["lower"] + prior.params["upper"])

    def std(self, prior: PriorData) -> float:
        return (prior.params["upper"] - prior.params["lower"]) / math.sqrt(12.0)


class HalfNormalKind(PriorKind):
    """|Normal(0, sigma)| on [0, inf)."""

    required = ("sigma",)
    data_params = ("sigma",)
    description = "half-normal on [0, inf)"

    def validate(self, params: Mapping[str, float]) -> tuple[str, str] | None:
        return _positive(params, "sigma")

    def logpdf(self, prior: PriorData, x: Any) -> np.ndarray:
        sigma = prior.params["sigma"]
        x = np.asarray(x, dtype=float)
        z = x / sigma
        return np.where(x >= 0, math.log(2.0) - 0.5 * z * z - math.log(sigma) - _LOG_SQRT_2PI, -np.inf)

    def sample(self, prior: PriorData, rng: np.random.Generator, size: Any = None) -> Any:
        return np.abs(rng.normal(0.0, prior.params["sigma"], size))

    def to_pymc(self, prior: PriorData, name: str, params: Mapping[str, Any] | None = None, **kw: Any) -> Any:
        import pymc as pm

        return pm.HalfNormal(name, sigma=_graph_params(prior, params)["sigma"], **kw)

    def support(self, prior: PriorData) -> tuple[float, float]:
        return 0.0, math.inf

    def mean(self, prior: PriorData) -> float:
        return prior.params["sigma"] * math.sqrt(2.0 / math.pi)

    def std(self, prior: PriorData) -> float:
        return prior.params["sigma"] * math.sqrt(1.0 - 2.0 / math.pi)


class FixedKind(PriorKind):
    """Delta at ``value``: the parameter is not free."""

    required = ("value",)
    description = "delta function: the parameter is fixed at value"

    def fixed_value(self, prior: PriorData) -> float | None:
        return prior.params["value"]

    def logpdf(self, prior: PriorData, x: Any) -> np.ndarray:
        return _delta_logpdf(prior.params["value"], x)

    def sample(self, prior: PriorData, rng: np.random.Generator, size: Any = None) -> Any:
        return _delta_sample(prior.params["value"], size)

    def to_pymc(self, prior: PriorData, name: str, params: Mapping[str, Any] | None = None, **kw: Any) -> Any:
        return _delta_pymc(prior.params["value"], **kw)

    def support(self, prior: PriorData) -> tuple[float, float]:
        return prior.params["value"], prior.params["value"]

    def mean(self, prior: PriorData) -> float:
        return prior.params["value"]

    def std(self, prior: PriorData) -> float:
        return 0.0


BUILTIN_PRIOR_KINDS: tuple[tuple[str, PriorKind], ...] = (
    ("normal", NormalKind()),
    ("truncated_normal", TruncatedNormalKind()),
    ("lognormal", LogNormalKind()),
    ("uniform", UniformKind()),
    ("halfnormal", HalfNormalKind()),
    ("fixed", FixedKind()),
)
"""(name, kind) of the kinds registered at import, in registration order."""
