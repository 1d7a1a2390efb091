"""Priors as data, mapped to behaviour by a registry (kind -> :class:`PriorKind`).

A :class:`Prior` is plain data, ``kind`` plus ``params``, read from TOML inline tables such as
``{ kind = "normal", mu = 1.0, sigma = 0.05 }`` by :func:`parse_prior`. Everything a prior can do
is looked up in :data:`PRIOR_KINDS` (kinds: :mod:`bayes_xmass.datasets.prior_kinds`); there are no
if-chains over kinds:

- ``logpdf(prior, x)``: numpy, vectorised. The frequentist fit adds ``-2 * logpdf`` (see
  :func:`penalty`) so both paradigms use the same constraint.
- ``sample(prior, rng, size)``: draws with a :class:`numpy.random.Generator`.
- ``to_pymc(prior, name, **kw)``: a PyMC variable in the current model context (PyMC is imported
  lazily, so importing this module stays cheap).
- ``support(prior)`` -> ``(low, high)``, ``mean(prior)``, ``std(prior)``.

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
from typing import Any

import numpy as np

from bayes_xmass.datasets.prior_kind_base import PriorKind
from bayes_xmass.datasets.prior_kinds import BUILTIN_PRIOR_KINDS
from bayes_xmass.datasets.toml_reader import toml_type_name
from bayes_xmass.errors import InputError

__all__ = [
    "PRIOR_KINDS",
    "Prior",
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

    def structure(self) -> tuple[Any, ...]:
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


for _name, _kind in BUILTIN_PRIOR_KINDS:
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
def parse_prior(table: Any, source: object, field: str) -> Prior:
    """Validate a TOML inline table like ``{ kind = "normal", mu = 1.0, sigma = 0.05 }``.

    ``source`` is the file named in errors and ``field`` the prefix of the table, e.g.
    ``background[B0].prior``; errors name ``<field>.<param>``. Defaults are filled in.
    Raises :class:`InputError`.
    """
    example = '{ kind = "normal", mu = 1.0, sigma = 0.1 }'
    if not isinstance(table, Mapping):
        raise InputError(source, field, f"must be an inline table like {example}, got {toml_type_name(table)}")
    allowed_kinds = ", ".join(sorted(PRIOR_KINDS))
    if "kind" not in table:
        raise InputError(source, f"{field}.kind", f"missing required key 'kind' (one of: {allowed_kinds})")
    kind_name = table["kind"]
    if not isinstance(kind_name, str):
        raise InputError(source, f"{field}.kind", f"must be a string, got {toml_type_name(kind_name)}")
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
            raise InputError(source, f"{field}.{name}", f"must be a number, got {toml_type_name(value)} {value!r}")
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
