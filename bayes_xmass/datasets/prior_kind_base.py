"""The prior-kind interface: :class:`PriorKind` (behaviour of one kind) and :class:`PriorData` (what it reads).

A kind validates parameters and gives a prior's log density, random draws, PyMC variable, support
and moments. The built-in kinds are in :mod:`bayes_xmass.datasets.prior_kinds`; the registry is
:data:`bayes_xmass.datasets.priors.PRIOR_KINDS`.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Protocol

import numpy as np

__all__ = ["PriorData", "PriorKind"]


class PriorData(Protocol):
    """What a :class:`PriorKind` reads of a prior (e.g. a :class:`~bayes_xmass.datasets.priors.Prior`)."""

    @property
    def kind(self) -> str:
        """Kind name (a registry key)."""
        ...

    @property
    def params(self) -> dict[str, float]:
        """Parameter values."""
        ...


class PriorKind:
    """Behaviour of one prior kind. Subclass, set ``required``/``optional``, register it with
    :func:`bayes_xmass.datasets.priors.register_prior_kind`.

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

    def fixed_value(self, prior: PriorData) -> float | None:
        """Value of a delta prior, else None."""
        return None

    def data_values(self, prior: PriorData) -> dict[str, float]:
        """``{param: value}`` of the ``data_params`` (empty for a delta prior: a constant, no data)."""
        if self.fixed_value(prior) is not None:
            return {}
        return {k: prior.params[k] for k in self.data_params}

    def structure(self, prior: PriorData) -> tuple[Any, ...]:
        """Hashable summary of what the PyMC graph of ``prior`` fixes: the kind, whether it is a delta
        (and its value), and every parameter not in ``data_params`` (e.g. truncation bounds)."""
        fixed = self.fixed_value(prior)
        if fixed is not None:
            return prior.kind, "fixed", fixed
        return prior.kind, tuple(sorted((k, v) for k, v in prior.params.items() if k not in self.data_params))

    def logpdf(self, prior: PriorData, x: Any) -> np.ndarray:
        """Vectorised log density."""
        raise NotImplementedError

    def sample(self, prior: PriorData, rng: np.random.Generator, size: Any = None) -> Any:
        """Random draws."""
        raise NotImplementedError

    def to_pymc(self, prior: PriorData, name: str, params: Mapping[str, Any] | None = None, **kw: Any) -> Any:
        """PyMC random variable inside the current model context; ``params`` overrides the
        ``data_params`` values (floats or tensors), defaulting to ``prior.params``."""
        raise NotImplementedError

    def support(self, prior: PriorData) -> tuple[float, float]:
        """(low, high)."""
        raise NotImplementedError

    def mean(self, prior: PriorData) -> float:
        """Mean."""
        raise NotImplementedError

    def std(self, prior: PriorData) -> float:
        """Standard deviation."""
        raise NotImplementedError
