"""Priors as data, mapped to behaviour by a registry (kind -> :class:`PriorKind`).

A :class:`Prior` is plain data, ``kind`` plus ``params``, read from TOML inline tables such as
``{ kind = "normal", mu = 1.0, sigma = 0.05 }`` by :func:`parse_prior`. Everything a prior can do
is looked up in :data:`PRIOR_KINDS`; there are no if-chains over kinds:

- ``logpdf(prior, x)``: numpy, vectorised. The frequentist fit adds ``-2 * logpdf`` (see
  :func:`penalty`) so both paradigms use the same constraint.
- ``sample(prior, rng, size)``: draws with a :class:`numpy.random.Generator`.
- ``to_pymc(prior, name, **kw)``: a PyMC variable in the current model context (PyMC is imported
  lazily, so importing this module stays cheap).
- ``support(prior)`` -> ``(low, high)``, ``mean(prior)``, ``std(prior)``.

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

Fixed priors (``fixed`` and ``normal`` with ``sigma = 0``) have ``logpdf = 0`` at the value and
``-inf`` elsewhere, ``sample`` returns the value and ``to_pymc`` returns a PyTensor constant (no
model variable). ``Prior.is_fixed`` (property) / ``Prior.fixed_value()`` (method) tell callers
to skip them.

Prior parameters as model data: ``PriorKind.data_params`` names the parameters a compiled model
may take as swappable data (``pm.Data``; e.g. ``mu`` and ``sigma`` of a normal), passed to
``to_pymc(name, params={...})`` as tensors; ``Prior.data_values()`` gives their values. The rest
(the kind, a fixed value, truncation bounds) is the prior's ``structure()``: two priors with the
same structure give the same graph up to data, so a compiled model serves both.

>>> p = make_prior("normal", mu=1.0, sigma=0.1)
>>> round(float(p.logpdf(1.0)), 6)  # = -log(0.1 * sqrt(2 pi))
1.383647
>>> round(float(p.penalty(1.2) - p.penalty(1.0)), 9)  # ((1.2 - 1.0) / 0.1)^2
4.0
>>> make_prior("lognormal", mu=2.0, sigma=0.5).support()
(0.0, inf)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

from bayes_xmass.errors import InputError

__all__ = [
    "PRIOR_KINDS",
    "Prior",
    "PriorKind",
    "get_prior_kind",
    "logpdf",
    "make_prior",
    "parse_prior",
    "penalty",
    "prior_mean",
    "prior_std",
    "register_prior_kind",
    "sample",
    "support",
    "to_pymc",
]

_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)
_FIXED_RTOL = 1e-12


# --------------------------------------------------------------------------------------------
# The data type
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Prior:
    """A prior: ``kind`` (a key of :data:`PRIOR_KINDS`) and its ``params`` (floats).

    Build it with :func:`parse_prior` (TOML) or :func:`make_prior` (code); both validate and
    fill defaults. The methods delegate to the registered :class:`PriorKind`.
    """

    kind: str
    params: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "params", {str(k): float(v) for k, v in self.params.items()})

    def __hash__(self) -> int:
        return hash((self.kind, tuple(sorted(self.params.items()))))

    @property
    def spec(self) -> PriorKind:
        """The registered :class:`PriorKind` of this prior."""
        return get_prior_kind(self.kind)

    def logpdf(self, x: Any) -> np.ndarray:
        """Log density at ``x`` (vectorised; -inf outside the support)."""
        return self.spec.logpdf(self, x)

    def penalty(self, x: Any) -> np.ndarray:
        """Frequentist penalty ``-2 * logpdf(x)`` (chi-square units, up to a constant)."""
        return -2.0 * self.logpdf(x)

    def sample(self, rng: np.random.Generator, size: Any = None) -> Any:
        """Random draws with the numpy Generator ``rng``."""
        return self.spec.sample(self, rng, size)

    def to_pymc(self, name: str, params: Mapping[str, Any] | None = None, **kw: Any) -> Any:
        """PyMC variable ``name`` in the current model context (constant if fixed); ``params``
        optionally replaces the values of :attr:`PriorKind.data_params` by tensors (e.g. pm.Data)."""
        return self.spec.to_pymc(self, name, params, **kw)

    def data_values(self) -> dict[str, float]:
        """Values of the parameters a compiled model takes as data (empty if fixed)."""
        return self.spec.data_values(self)

    def structure(self) -> tuple:
        """What a compiled model fixes of this prior (hashable; see :meth:`PriorKind.structure`)."""
        return self.spec.structure(self)

    def support(self) -> tuple[float, float]:
        """``(low, high)`` of the support."""
        return self.spec.support(self)

    def mean(self) -> float:
        """Mean of the distribution."""
        return self.spec.mean(self)

    def std(self) -> float:
        """Standard deviation of the distribution."""
        return self.spec.std(self)

    def fixed_value(self) -> float | None:
        """The value if the prior is a delta (``fixed``, or ``normal`` with sigma 0), else None."""
        return self.spec.fixed_value(self)

    @property
    def is_fixed(self) -> bool:
        """True if the prior is a delta function (the parameter is not free)."""
        return self.fixed_value() is not None

    def to_dict(self) -> dict[str, Any]:
        """JSON-able ``{"kind": ..., <params>}`` (inverse of :func:`parse_prior`)."""
        return {"kind": self.kind, **self.params}


# --------------------------------------------------------------------------------------------
# Kind base class and helpers shared by the delta-like priors
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


class PriorKind:
    """Behaviour of one prior kind. Subclass, set ``required``/``optional``, register.

    ``required``: parameter names that must be given. ``optional``: name -> default.
    ``allow_infinite``: parameters that may be +-inf (NaN is never allowed).
    ``data_params``: parameters that ``to_pymc`` accepts as tensors (model data swapped between fits
    without recompiling); the others are constants of the graph and part of :meth:`structure`.
    ``validate(params)`` returns ``None`` or ``(parameter, message)`` for the first problem.
    """

    required: tuple[str, ...] = ()
    optional: Mapping[str, float] = MappingProxyType({})
    allow_infinite: frozenset[str] = frozenset()
    data_params: tuple[str, ...] = ()
    description: str = ""

    @property
    def parameter_names(self) -> tuple[str, ...]:
        """All parameter names, required first."""
        return tuple(self.required) + tuple(self.optional)

    def validate(self, params: Mapping[str, float]) -> tuple[str, str] | None:
        """Check parameter values (all present, all floats); ``(param, message)`` or None."""
        return None

    def fixed_value(self, prior: Prior) -> float | None:
        """Value of a delta prior, else None."""
        return None

    def data_values(self, prior: Prior) -> dict[str, float]:
        """``{param: value}`` of the ``data_params`` (empty for a delta prior: a constant, no data)."""
        if self.fixed_value(prior) is not None:
            return {}
        return {k: prior.params[k] for k in self.data_params}

    def structure(self, prior: Prior) -> tuple:
        """Hashable summary of what the PyMC graph of ``prior`` fixes: the kind, whether it is a delta
        (and its value), and every parameter not in ``data_params`` (e.g. truncation bounds)."""
        fixed = self.fixed_value(prior)
        if fixed is not None:
            return prior.kind, "fixed", fixed
        return prior.kind, tuple(sorted((k, v) for k, v in prior.params.items() if k not in self.data_params))

    def logpdf(self, prior: Prior, x: Any) -> np.ndarray:
        """Vectorised log density."""
        raise NotImplementedError

    def sample(self, prior: Prior, rng: np.random.Generator, size: Any = None) -> Any:
        """Random draws."""
        raise NotImplementedError

    def to_pymc(self, prior: Prior, name: str, params: Mapping[str, Any] | None = None, **kw: Any) -> Any:
        """PyMC random variable inside the current model context; ``params`` overrides the
        ``data_params`` values (floats or tensors), defaulting to ``prior.params``."""
        raise NotImplementedError

    def support(self, prior: Prior) -> tuple[float, float]:
        """(low, high)."""
        raise NotImplementedError

    def mean(self, prior: Prior) -> float:
        """Mean."""
        raise NotImplementedError

    def std(self, prior: Prior) -> float:
        """Standard deviation."""
        raise NotImplementedError


def _positive(params: Mapping[str, float], name: str, hint: str = "") -> tuple[str, str] | None:
    v = params[name]
    if v < 0:
        return name, f"negative width {name} = {v:g}; must be > 0{hint}"
    if v == 0:
        return name, f"{name} = 0 is not allowed for this kind; must be > 0{hint}"
    return None


_FIXED_HINT = ' (for a fixed value use kind = "fixed" or kind = "normal" with sigma = 0)'


def _graph_params(prior: Prior, params: Mapping[str, Any] | None) -> dict[str, Any]:
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

    def validate(self, params):
        if params["sigma"] < 0:
            return "sigma", f"negative width sigma = {params['sigma']:g}; must be >= 0 (0 = fixed at mu)"
        return None

    def fixed_value(self, prior):
        return prior.params["mu"] if prior.params["sigma"] == 0 else None

    def logpdf(self, prior, x):
        mu, sigma = prior.params["mu"], prior.params["sigma"]
        if sigma == 0:
            return _delta_logpdf(mu, x)
        z = (np.asarray(x, dtype=float) - mu) / sigma
        return -0.5 * z * z - math.log(sigma) - _LOG_SQRT_2PI

    def sample(self, prior, rng, size=None):
        mu, sigma = prior.params["mu"], prior.params["sigma"]
        if sigma == 0:
            return _delta_sample(mu, size)
        return rng.normal(mu, sigma, size)

    def to_pymc(self, prior, name, params=None, **kw):
        if prior.params["sigma"] == 0:
            return _delta_pymc(prior.params["mu"], **kw)
        import pymc as pm

        p = _graph_params(prior, params)
        return pm.Normal(name, mu=p["mu"], sigma=p["sigma"], **kw)

    def support(self, prior):
        mu, sigma = prior.params["mu"], prior.params["sigma"]
        return (mu, mu) if sigma == 0 else (-math.inf, math.inf)

    def mean(self, prior):
        return prior.params["mu"]

    def std(self, prior):
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
    def _std_bounds(p):
        return (p["lower"] - p["mu"]) / p["sigma"], (p["upper"] - p["mu"]) / p["sigma"]

    def validate(self, params):
        bad = _positive(params, "sigma", _FIXED_HINT)
        if bad:
            return bad
        if not params["lower"] < params["upper"]:
            return "lower", f"lower = {params['lower']:g} must be < upper = {params['upper']:g}"
        if _log_normal_mass(*self._std_bounds(params)) < -700.0:
            return "mu", "the interval [lower, upper] has negligible probability under Normal(mu, sigma)"
        return None

    def logpdf(self, prior, x):
        p = prior.params
        x = np.asarray(x, dtype=float)
        z = (x - p["mu"]) / p["sigma"]
        log_z = _log_normal_mass(*self._std_bounds(p))
        inside = (x >= p["lower"]) & (x <= p["upper"])
        return np.where(inside, -0.5 * z * z - math.log(p["sigma"]) - _LOG_SQRT_2PI - log_z, -np.inf)

    def _scipy(self, prior):
        from scipy.stats import truncnorm

        p = prior.params
        a, b = self._std_bounds(p)
        return truncnorm(a, b, loc=p["mu"], scale=p["sigma"])

    def sample(self, prior, rng, size=None):
        return self._scipy(prior).rvs(size=size, random_state=rng)

    def to_pymc(self, prior, name, params=None, **kw):
        import pymc as pm

        p = _graph_params(prior, params)
        lower = None if p["lower"] == -math.inf else p["lower"]
        upper = None if p["upper"] == math.inf else p["upper"]
        return pm.TruncatedNormal(name, mu=p["mu"], sigma=p["sigma"], lower=lower, upper=upper, **kw)

    def support(self, prior):
        return prior.params["lower"], prior.params["upper"]

    def mean(self, prior):
        return float(self._scipy(prior).mean())

    def std(self, prior):
        return float(self._scipy(prior).std())


class LogNormalKind(PriorKind):
    """log(x) ~ Normal(log(mu), sigma): ``mu`` is the MEDIAN of x, ``sigma`` the log-space width."""

    required = ("mu", "sigma")
    data_params = ("mu", "sigma")
    description = "log-normal; mu = median of the variable, sigma = width of log(variable)"

    def validate(self, params):
        if params["mu"] <= 0:
            return "mu", f"mu is the median of a log-normal variable and must be > 0, got {params['mu']:g}"
        return _positive(params, "sigma", _FIXED_HINT)

    def logpdf(self, prior, x):
        median, sigma = prior.params["mu"], prior.params["sigma"]
        x = np.asarray(x, dtype=float)
        pos = x > 0
        lx = np.log(np.where(pos, x, 1.0))
        z = (lx - math.log(median)) / sigma
        return np.where(pos, -0.5 * z * z - lx - math.log(sigma) - _LOG_SQRT_2PI, -np.inf)

    def sample(self, prior, rng, size=None):
        return rng.lognormal(math.log(prior.params["mu"]), prior.params["sigma"], size)

    def to_pymc(self, prior, name, params=None, **kw):
        import pymc as pm

        p = _graph_params(prior, params)
        return pm.LogNormal(name, mu=_log(p["mu"]), sigma=p["sigma"], **kw)

    def support(self, prior):
        return 0.0, math.inf

    def mean(self, prior):
        return prior.params["mu"] * math.exp(0.5 * prior.params["sigma"] ** 2)

    def std(self, prior):
        return self.mean(prior) * math.sqrt(math.expm1(prior.params["sigma"] ** 2))


class UniformKind(PriorKind):
    """Flat on [lower, upper] (both finite)."""

    required = ("lower", "upper")
    data_params = ("lower", "upper")
    description = "flat on [lower, upper]"

    def validate(self, params):
        if not params["lower"] < params["upper"]:
            return "lower", f"lower = {params['lower']:g} must be < upper = {params['upper']:g}"
        return None

    def logpdf(self, prior, x):
        lo, hi = prior.params["lower"], prior.params["upper"]
        x = np.asarray(x, dtype=float)
        return np.where((x >= lo) & (x <= hi), -math.log(hi - lo), -np.inf)

    def sample(self, prior, rng, size=None):
        return rng.uniform(prior.params["lower"], prior.params["upper"], size)

    def to_pymc(self, prior, name, params=None, **kw):
        import pymc as pm

        p = _graph_params(prior, params)
        return pm.Uniform(name, lower=p["lower"], upper=p["upper"], **kw)

    def support(self, prior):
        return prior.params["lower"], prior.params["upper"]

    def mean(self, prior):
        return 0.5 * (prior.params["lower"] + prior.params["upper"])

    def std(self, prior):
        return (prior.params["upper"] - prior.params["lower"]) / math.sqrt(12.0)


class HalfNormalKind(PriorKind):
    """|Normal(0, sigma)| on [0, inf)."""

    required = ("sigma",)
    data_params = ("sigma",)
    description = "half-normal on [0, inf)"

    def validate(self, params):
        return _positive(params, "sigma")

    def logpdf(self, prior, x):
        sigma = prior.params["sigma"]
        x = np.asarray(x, dtype=float)
        z = x / sigma
        return np.where(x >= 0, math.log(2.0) - 0.5 * z * z - math.log(sigma) - _LOG_SQRT_2PI, -np.inf)

    def sample(self, prior, rng, size=None):
        return np.abs(rng.normal(0.0, prior.params["sigma"], size))

    def to_pymc(self, prior, name, params=None, **kw):
        import pymc as pm

        return pm.HalfNormal(name, sigma=_graph_params(prior, params)["sigma"], **kw)

    def support(self, prior):
        return 0.0, math.inf

    def mean(self, prior):
        return prior.params["sigma"] * math.sqrt(2.0 / math.pi)

    def std(self, prior):
        return prior.params["sigma"] * math.sqrt(1.0 - 2.0 / math.pi)


class FixedKind(PriorKind):
    """Delta at ``value``: the parameter is not free."""

    required = ("value",)
    description = "delta function: the parameter is fixed at value"

    def fixed_value(self, prior):
        return prior.params["value"]

    def logpdf(self, prior, x):
        return _delta_logpdf(prior.params["value"], x)

    def sample(self, prior, rng, size=None):
        return _delta_sample(prior.params["value"], size)

    def to_pymc(self, prior, name, params=None, **kw):
        return _delta_pymc(prior.params["value"], **kw)

    def support(self, prior):
        return prior.params["value"], prior.params["value"]

    def mean(self, prior):
        return prior.params["value"]

    def std(self, prior):
        return 0.0


# --------------------------------------------------------------------------------------------
# Registry
# --------------------------------------------------------------------------------------------
PRIOR_KINDS: dict[str, PriorKind] = {}
"""Registry kind name -> :class:`PriorKind`. Extend with :func:`register_prior_kind`."""


def register_prior_kind(name: str, kind: PriorKind, *, replace: bool = False) -> None:
    """Register ``kind`` under ``name`` (``ValueError`` if taken, unless ``replace=True``)."""
    if not isinstance(kind, PriorKind):
        raise TypeError(f"prior kind {name!r} must be a PriorKind instance, got {type(kind).__name__}")
    if name in PRIOR_KINDS and not replace:
        raise ValueError(f"prior kind {name!r} is already registered")
    PRIOR_KINDS[name] = kind


for _name, _kind in (
    ("normal", NormalKind()),
    ("truncated_normal", TruncatedNormalKind()),
    ("lognormal", LogNormalKind()),
    ("uniform", UniformKind()),
    ("halfnormal", HalfNormalKind()),
    ("fixed", FixedKind()),
):
    register_prior_kind(_name, _kind)


def get_prior_kind(kind: str) -> PriorKind:
    """The registered :class:`PriorKind` (``ValueError`` naming the allowed kinds if unknown)."""
    try:
        return PRIOR_KINDS[kind]
    except KeyError:
        raise ValueError(f"unknown prior kind {kind!r}; allowed: {', '.join(sorted(PRIOR_KINDS))}") from None


# Functional spellings of the Prior methods.
def logpdf(prior: Prior, x: Any) -> np.ndarray:
    """Vectorised log density of ``prior`` at ``x``."""
    return prior.spec.logpdf(prior, x)


def penalty(prior: Prior, x: Any) -> np.ndarray:
    """``-2 * logpdf(prior, x)``: the frequentist constraint term (chi-square units)."""
    return -2.0 * logpdf(prior, x)


def sample(prior: Prior, rng: np.random.Generator, size: Any = None) -> Any:
    """Random draws from ``prior`` with the numpy Generator ``rng``."""
    return prior.spec.sample(prior, rng, size)


def to_pymc(prior: Prior, name: str, params: Mapping[str, Any] | None = None, **kw: Any) -> Any:
    """PyMC variable ``name`` for ``prior`` in the current model (PyTensor constant if fixed);
    ``params`` replaces data parameters by tensors (see :attr:`PriorKind.data_params`)."""
    return prior.spec.to_pymc(prior, name, params, **kw)


def support(prior: Prior) -> tuple[float, float]:
    """(low, high) of ``prior``."""
    return prior.spec.support(prior)


def prior_mean(prior: Prior) -> float:
    """Mean of ``prior``."""
    return prior.spec.mean(prior)


def prior_std(prior: Prior) -> float:
    """Standard deviation of ``prior``."""
    return prior.spec.std(prior)


# --------------------------------------------------------------------------------------------
# Parsing
# --------------------------------------------------------------------------------------------
def _type_name(value: Any) -> str:
    names = {bool: "boolean", int: "integer", float: "float", str: "string", dict: "table", list: "array"}
    return names.get(type(value), type(value).__name__)


def parse_prior(table: Any, source: object, field: str) -> Prior:
    """Validate a TOML inline table like ``{ kind = "normal", mu = 1.0, sigma = 0.05 }``.

    ``source`` is the file named in errors and ``field`` the prefix of the table, e.g.
    ``background[B0].prior``; errors name ``<field>.<param>``. Defaults are filled in.
    Raises :class:`InputError`.
    """
    example = '{ kind = "normal", mu = 1.0, sigma = 0.1 }'
    if not isinstance(table, Mapping):
        raise InputError(source, field, f"must be an inline table like {example}, got {_type_name(table)}")
    allowed_kinds = ", ".join(sorted(PRIOR_KINDS))
    if "kind" not in table:
        raise InputError(source, f"{field}.kind", f"missing required key 'kind' (one of: {allowed_kinds})")
    kind_name = table["kind"]
    if not isinstance(kind_name, str):
        raise InputError(source, f"{field}.kind", f"must be a string, got {_type_name(kind_name)}")
    if kind_name not in PRIOR_KINDS:
        raise InputError(source, f"{field}.kind", f"unknown prior kind '{kind_name}'; allowed kinds: {allowed_kinds}")
    kind = PRIOR_KINDS[kind_name]
    names = kind.parameter_names
    for key in table:
        if key != "kind" and key not in names:
            raise InputError(
                source,
                f"{field}.{key}",
                f"unknown parameter '{key}' for prior kind '{kind_name}'; allowed: {', '.join(names)}",
            )
    params: dict[str, float] = {}
    for name in names:
        if name not in table:
            if name in kind.required:
                raise InputError(
                    source,
                    f"{field}.{name}",
                    f"missing required parameter '{name}' for prior kind '{kind_name}' "
                    f"(required: {', '.join(kind.required)})",
                )
            params[name] = float(kind.optional[name])
            continue
        value = table[name]
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InputError(source, f"{field}.{name}", f"must be a number, got {_type_name(value)} {value!r}")
        try:
            value = float(value)
        except OverflowError:  # a TOML integer beyond the float range
            raise InputError(source, f"{field}.{name}", "must be finite, got a huge integer") from None
        if math.isnan(value) or (math.isinf(value) and name not in kind.allow_infinite):
            raise InputError(source, f"{field}.{name}", f"must be finite, got {value}")
        params[name] = value
    problem = kind.validate(params)
    if problem is not None:
        param, message = problem
        raise InputError(source, f"{field}.{param}", message)
    return Prior(kind_name, params)


def make_prior(kind: str, **params: float) -> Prior:
    """Validated :class:`Prior` from code, e.g. ``make_prior("normal", mu=1, sigma=0.1)``."""
    return parse_prior({"kind": kind, **params}, "<python>", "prior")
