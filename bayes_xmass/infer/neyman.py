"""Toy-calibrated (Neyman) one-sided upper limits: critical values of q~ from toys at each tested x.

The asymptotic one-sided limit puts the threshold of the profile statistic

    q~(x) = -2 ln[L(x) / L(x_hat)]  if x_hat <= x,  else 0      (x_hat >= 0, nuisances profiled)

at Phi^-1(CL)^2 = 1.64 for every x (Cowan, Cranmer, Gross, Vitells, EPJC 71 (2011) 1554). On the
benchmark that under-covers (the distribution of q~ has a longer tail than the asymptotic one: see
the README's coverage section). Here the threshold at each x on a grid is instead the ``cl``
quantile of q~(x) over toys generated at x, with the nuisances of each toy drawn from their priors
(:func:`bayes_xmass.infer.toys.toy_counts`, the ensemble the Feldman-Cousins code uses); the limit
is the first x above x_hat where q~ of the data crosses that critical value (linear interpolation
of q~ - critical between grid points). Because the nuisances are drawn independently of the data,
one calibration serves the data and every toy of a coverage study.

Couplings are in units of the coupling scale (``TemplateSet.coupling_scale``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from bayes_xmass.infer.batch_limits import BatchProfileLikelihood
from bayes_xmass.infer.batch_minimiser import BatchFit
from bayes_xmass.infer.frequentist import ProfileLikelihood
from bayes_xmass.infer.toys import BATCH_TOYS, shared_batch_likelihood, toy_counts
from bayes_xmass.runtime.seeds import step_seed

__all__ = [
    "NEYMAN_GRID_FACTORS",
    "OBSERVED_GRID_FACTORS",
    "CalibratedLimit",
    "CriticalValues",
    "calibrate_one_sided",
    "neyman_limits",
    "observed_neyman_limit",
    "one_sided_statistic",
    "toy_neyman_limits",
]

# Calibration grid in units of a reference limit (the asymptotic one): the toy-calibrated limit
# of data sets near the expectation falls inside; a limit beyond the last point is reported as inf.
NEYMAN_GRID_FACTORS = (0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0)


@dataclass(frozen=True)
class CriticalValues:
    """The ``cl`` quantile of q~(x) over ``n_toys`` toys generated at each grid point x (scaled)."""

    x_grid: np.ndarray
    critical: np.ndarray
    n_toys: int
    cl: float
    seed: int

    def at(self, x: ArrayLike) -> np.ndarray:
        """Critical value at x (linear interpolation; the end values beyond the grid)."""
        return np.asarray(np.interp(np.asarray(x, dtype=float), self.x_grid, self.critical), dtype=float)

    def describe(self, coupling_scale: float) -> dict[str, Any]:
        """JSON-able record (grid in physical units)."""
        return {
            "x_grid": [float(v) * coupling_scale for v in self.x_grid],
            "critical_q": [float(v) for v in self.critical],
            "n_toys_per_point": self.n_toys,
            "cl": self.cl,
            "seed": self.seed,
            "statistic": "q~ (one-sided profile likelihood ratio, x_hat >= 0)",
            "toy_nuisances": "drawn from their priors per toy (hybrid ensemble)",
        }


def _blocks(n: int, size: int = BATCH_TOYS) -> list[slice]:
    return [slice(i, min(i + size, n)) for i in range(0, n, size)]


def one_sided_statistic(
    bpl: BatchProfileLikelihood, counts: np.ndarray, x_grid: ArrayLike, best: BatchFit | None = None
) -> tuple[np.ndarray, BatchFit]:
    """q~(x) for each data set (rows of ``counts``) at each x of ``x_grid``: (n, len(x_grid)), and
    the best fits. Conditional fits start from the best fit's nuisances (one batch)."""
    counts = np.atleast_2d(np.asarray(counts, dtype="float64"))
    x_grid = np.atleast_1d(np.asarray(x_grid, dtype=float))
    best = best or bpl.best_fit(counts)
    conds = bpl.fit_many(counts, [(float(x), best.nuisances, 0.5) for x in x_grid])
    q = np.column_stack([np.maximum(c.nll2 - np.minimum(best.nll2, c.nll2), 0.0) for c in conds])
    q = np.where(best.x[:, None] <= x_grid[None, :], q, 0.0)
    return q.reshape(len(counts), x_grid.size), best


def calibrate_one_sided(
    pl: ProfileLikelihood, x_grid: ArrayLike, *, n_toys: int = 1000, seed: int = 1, cl: float = 0.9
) -> CriticalValues:
    """Critical values of q~ at each x of ``x_grid`` (scaled): toys at x (nuisances from their
    priors; seeds ``step_seed(seed, 'x', j)``), q~(x) of each, its ``cl`` quantile."""
    if n_toys < 10:
        raise ValueError("a toy calibration needs >= 10 toys per point")
    x_grid = np.asarray(x_grid, dtype=float)
    if x_grid.ndim != 1 or x_grid.size < 2 or np.any(np.diff(x_grid) <= 0) or x_grid[0] < 0:
        raise ValueError("the calibration grid must be >= 2 increasing values >= 0")
    bpl = shared_batch_likelihood(pl)
    critical = []
    for j, x in enumerate(x_grid):
        counts = toy_counts(pl, float(x), n_toys, step_seed(seed, "x", j))
        q = np.concatenate([one_sided_statistic(bpl, counts[b], [x])[0][:, 0] for b in _blocks(n_toys)])
        critical.append(float(np.quantile(q, cl)))
    return CriticalValues(x_grid, np.array(critical), n_toys, cl, seed)


def neyman_limits(q: np.ndarray, best_x: np.ndarray, crit: CriticalValues) -> np.ndarray:
    """Upper limits (scaled) from q~ on ``crit.x_grid`` ((n, grid) or (grid,)) and the best fits: the
    upper end of the confidence set {x : q~(x) <= critical(x)}, i.e. the largest accepted grid point,
    linearly interpolated in q~ - critical towards the rejected point above it (so a toy covers x_true
    on the grid whenever x_true is accepted: coverage = the calibration's CL). If no grid point is
    accepted above x_hat, the interpolation starts at x_hat (where q~ = 0); inf if the last grid point
    is accepted (the limit lies beyond the grid).

    >>> crit = CriticalValues(np.array([1.0, 2.0, 3.0]), np.array([2.0, 2.0, 2.0]), 100, 0.9, 0)
    >>> neyman_limits(np.array([[0.0, 1.0, 4.0]]), np.array([0.5]), crit).round(3).tolist()
    [2.333]
    """
    q = np.atleast_2d(np.asarray(q, dtype=float))
    best_x = np.atleast_1d(np.asarray(best_x, dtype=float))
    grid, c = crit.x_grid, crit.critical
    diff = q - c[None, :]
    accepted = (diff <= 0) | (grid[None, :] <= best_x[:, None])
    out = np.full(len(q), np.inf)
    for i in range(len(q)):
        idx = np.flatnonzero(accepted[i])
        if idx.size and idx[-1] == grid.size - 1:
            continue  # accepted up to the last grid point
        j = int(idx[-1]) if idx.size else -1
        x1, d1 = grid[j + 1], diff[i, j + 1]
        if j >= 0 and grid[j] >= best_x[i]:
            x0, d0 = grid[j], min(diff[i, j], 0.0)
        else:  # x_hat lies below the rejected point x1 and above the accepted one: q~(x_hat) = 0
            x0, d0 = best_x[i], -float(crit.at(best_x[i]))
        out[i] = x0 + (x1 - x0) * (-d0) / (d1 - d0) if d1 > d0 else x1
    return out


def toy_neyman_limits(
    pl: ProfileLikelihood, crit: CriticalValues, x_true: float, n_toys: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Toy-calibrated limits (scaled) of ``n_toys`` toys at ``x_true`` (nuisances from their priors,
    seed ``seed``: use one independent of the calibration's) and their best-fit x."""
    bpl = shared_batch_likelihood(pl)
    counts = toy_counts(pl, float(x_true), n_toys, seed)
    limits, best_x = [], []
    for b in _blocks(n_toys):
        q, best = one_sided_statistic(bpl, counts[b], crit.x_grid)
        limits.append(neyman_limits(q, best.x, crit))
        best_x.append(best.x)
    return np.concatenate(limits), np.concatenate(best_x)


# Grid of the observed data's toy-calibrated limit, in units of its asymptotic one-sided limit
# (on the benchmark the calibrated limit is 1.0-1.45x it); widened once if it lies beyond.
OBSERVED_GRID_FACTORS = (0.75, 1.0, 1.25, 1.5, 2.0)


@dataclass(frozen=True)
class CalibratedLimit:
    """The toy-calibrated one-sided limit of the observed data (scaled) and its calibration."""

    limit: float
    best_x: float
    critical_values: CriticalValues

    def describe(self, coupling_scale: float) -> dict[str, Any]:
        """JSON-able record (physical units)."""
        return {
            "limit": self.limit * coupling_scale,
            "best_fit": self.best_x * coupling_scale,
            "method": "one-sided Neyman construction: critical q~ from toys at each grid point",
            **self.critical_values.describe(coupling_scale),
        }


def observed_neyman_limit(
    pl: ProfileLikelihood, asymptotic_limit: float, *, n_toys: int = 500, seed: int = 1, cl: float = 0.9
) -> CalibratedLimit:
    """Toy-calibrated one-sided limit of ``pl``'s observed counts (scaled), calibrated on a grid of
    ``OBSERVED_GRID_FACTORS`` x ``asymptotic_limit`` (the asymptotic one-sided limit, scaled); if it
    lies beyond that grid, once more on a grid twice as wide (else inf)."""
    bpl = shared_batch_likelihood(pl)
    observed = pl.observed[None, :]
    best = bpl.best_fit(observed)
    top = asymptotic_limit if np.isfinite(asymptotic_limit) and asymptotic_limit > 0 else 1.0
    for widen in (1.0, 2.0):
        grid = top * widen * np.array(OBSERVED_GRID_FACTORS)
        crit = calibrate_one_sided(pl, grid, n_toys=n_toys, seed=step_seed(seed, "widen", int(widen)), cl=cl)
        q, _ = one_sided_statistic(bpl, observed, grid, best)
        limit = float(neyman_limits(q, best.x, crit)[0])
        if np.isfinite(limit):
            break
    return CalibratedLimit(limit, float(best.x[0]), crit)
