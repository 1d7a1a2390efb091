"""The one expected-counts function and the binned likelihoods, in PyTensor.

Both inference paths build their graphs from these functions (through :mod:`bayes_xmass.model.build`):

    lambda[bin] = gamma[bin] * sum_b n_b B_b[bin](s) + sum_k c_k(poi) T_k[bin](s)

with background normalisations n_b, energy-scale factor s (templates interpolated by the cubic
spline of :class:`~bayes_xmass.response.detector.MorphingTemplates`), signal coefficients
c_k = (sign * x)^p_k for the coupling x = coupling / scale >= 0, and optional per-bin template
factors gamma (only when the dataset gives per-bin template uncertainties).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytensor.tensor as pt

__all__ = [
    "LIKELIHOODS",
    "MIN_EXPECTED",
    "background_counts",
    "chi2_sigma",
    "expected_counts",
    "gamma_log_penalty",
    "gaussian_log_likelihood",
    "log_factorial_counts",
    "poisson_log_likelihood",
    "profiled_gamma",
    "signal_coefficients",
    "signal_counts",
    "spline_templates",
]

LIKELIHOODS = ("poisson", "chi2")
MIN_EXPECTED = 1e-9  # expected counts are clipped here (a negative interference can't go below 0)


def spline_templates(coefficients: Any, grid: Any, scale: Any) -> Any:
    """Evaluate morphing templates at energy-scale ``scale``.

    ``coefficients``: (4, n_interval, n_component, n_bin), highest power first; ``grid``: (n_scale,).
    Exact at grid points, C2 between them; constant beyond the grid's ends (the templates are known
    only on the grid: a cubic extrapolation there made spurious modes, e.g. at s < 0), so ``scale``
    is clipped to [grid[0], grid[-1]] (numpy twin: MorphingTemplates.__call__).
    """
    n = grid.shape[0]
    scale = pt.clip(scale, grid[0], grid[-1])
    idx = pt.clip(pt.extra_ops.searchsorted(grid, scale, side="right") - 1, 0, pt.maximum(n - 2, 0))  # type: ignore[no-untyped-call]
    d = scale - grid[idx]
    c = coefficients[:, idx]
    return ((c[0] * d + c[1]) * d + c[2]) * d + c[3]


def signal_coefficients(x: Any, powers: Any, sign_factors: Any) -> Any:
    """c_k = sign^p_k * x^p_k for x >= 0 (integer powers, so negative couplings are exact)."""
    return sign_factors * x**powers


def background_counts(norms: Any, background_coefficients: Any, grid: Any, scale: Any) -> Any:
    """sum_b n_b B_b[bin](s): expected background counts per bin (before gamma)."""
    templates = spline_templates(background_coefficients, grid, scale)
    return pt.dot(norms, templates)  # type: ignore[no-untyped-call]


def signal_counts(x: Any, powers: Any, sign_factors: Any, signal_coefficients_: Any, grid: Any, scale: Any) -> Any:
    """sum_k c_k(x) T_k[bin](s): expected signal counts per bin."""
    templates = spline_templates(signal_coefficients_, grid, scale)
    return pt.dot(signal_coefficients(x, powers, sign_factors), templates)  # type: ignore[no-untyped-call]


def expected_counts(background: Any, signal: Any, gamma: Any = None) -> Any:
    """lambda = gamma * background + signal, clipped at MIN_EXPECTED."""
    total = background * gamma + signal if gamma is not None else background + signal
    return pt.maximum(total, MIN_EXPECTED)


def profiled_gamma(observed: Any, background: Any, signal: Any, rel_error: Any) -> Any:
    """Per-bin template factor gamma maximising Poisson(k | gamma B + S) x Normal(gamma | 1, delta).

    Closed form (positive root of B g^2 + (S - B + B^2 d^2) g - S + B S d^2 - k B d^2 = 0), so the
    frequentist fit profiles the same gamma the Bayesian model marginalises. Bins with delta = 0
    get gamma = 1.
    """
    b = pt.maximum(background, MIN_EXPECTED)
    d2 = rel_error**2
    lin = signal - b + b * b * d2
    const = -signal + b * signal * d2 - observed * b * d2
    disc = pt.maximum(lin * lin - 4.0 * b * const, 0.0)
    root = (-lin + pt.sqrt(disc)) / (2.0 * b)
    return pt.switch(pt.gt(rel_error, 0), pt.maximum(root, 1e-6), 1.0)


def gamma_log_penalty(gamma: Any, rel_error: Any) -> Any:
    """log Normal(gamma | 1, delta) up to a constant, summed over bins with delta > 0."""
    safe = pt.switch(pt.gt(rel_error, 0), rel_error, 1.0)
    return pt.sum(pt.switch(pt.gt(rel_error, 0), -0.5 * ((gamma - 1.0) / safe) ** 2, 0.0))  # type: ignore[no-untyped-call]


def poisson_log_likelihood(observed: Any, expected: Any, log_factorial: Any = None) -> Any:
    """sum_i [k_i log mu_i - mu_i - log k_i!]; k may be non-integer (Asimov data). ``log_factorial``:
    log k_i! = lgamma(k_i + 1) given as data (:func:`log_factorial_counts`), not computed in the graph."""
    log_k_factorial = pt.gammaln(observed + 1.0) if log_factorial is None else log_factorial
    return pt.sum(observed * pt.log(expected) - expected - log_k_factorial)  # type: ignore[no-untyped-call]


def log_factorial_counts(observed: Any) -> np.ndarray:
    """log k! = lgamma(k + 1) per bin (NumPy), for :func:`poisson_log_likelihood`'s data form."""
    from scipy.special import gammaln

    log_factorial: np.ndarray = gammaln(np.asarray(observed, dtype="float64") + 1.0)
    return log_factorial


def gaussian_log_likelihood(observed: Any, expected: Any, sigma: Any) -> Any:
    """sum_i log Normal(k_i | mu_i, sigma_i) (the chi-square option)."""
    return pt.sum(-0.5 * ((observed - expected) / sigma) ** 2 - pt.log(sigma) - 0.5 * np.log(2 * np.pi))  # type: ignore[no-untyped-call]


def chi2_sigma(observed: Any, template_errors: Any) -> np.ndarray:
    """Per-bin Gaussian width for the chi-square option: sqrt(max(k, 1) + sum_b err_b^2) (XMASS style:
    data statistical error plus background-template errors in quadrature)."""
    obs = np.asarray(observed, dtype=float)
    err2 = np.sum(np.asarray(template_errors, dtype=float) ** 2, axis=0) if np.size(template_errors) else 0.0
    return np.sqrt(np.maximum(obs, 1.0) + err2)
