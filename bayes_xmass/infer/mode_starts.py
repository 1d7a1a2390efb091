"""NUTS chain starts in the likelihood's dominant mode, and the check that the posterior stayed there.

The Bayesian and frequentist paths share one likelihood, so the frequentist fitter can tell the
sampler where the data's mode is. Before each NUTS run:

1. **Dominant mode.** Batched fits of -2 log L (POI free, x >= 0; the background normalisations'
   and energy scale's priors included, the per-bin template factors profiled in closed form) from
   several starts: x = 0 and x in ``MODE_X_START_FRACTIONS`` of the POI prior's range and at 0.5 and
   2, each from the nuisances' prior centres with the energy scale at its centre and at
   ``SCALE_START_FRACTIONS`` of the template grid. The lowest minimum is the mode. The starts are
   read from the run's data only (the sampler model's support point, the data's grid), so a compiled
   model gives the same draws for the same data whatever it was compiled from.
2. **Dispersed starts around it.** Chain starts are drawn from the mode's Laplace approximation
   widened by ``START_SPREAD`` (covariance ``START_SPREAD**2 * 2 H^-1``, H the Hessian of -2 log L),
   in the sampler's unconstrained coordinates: overdispersed relative to the posterior, as R-hat
   needs, and all in the mode's basin. A ridge bounds each coordinate's spread by one unit;
   transformed coordinates start within +-``TAIL_BOUND`` and the energy scale inside its template grid. The POI is reflected at 0 and at the prior's upper bound. At a
   boundary mode (x-hat below ``BOUNDARY_FRACTION`` of the prior range) the POI starts as before
   (:data:`bayes_xmass.infer.chain_init.POI_START_FRACTION` of the range) and the nuisances come from
   their own block of the Laplace approximation. The template factors start at the mode's profiled
   values.

Why: chains started from prior-scaled points with a small signal (the earlier default) settled, for
large true signals (magnetic moment x = 16-20), in a secondary mode with little signal, energy scale
0.65 and more 210Pb surface background, 1300-1600 in -2 log L below the dominant one; both chains
agreed there, so R-hat did not see it (``validate sbc magnetic-moment`` failed with p = 6e-39).

After the run, :meth:`ModeStarts.check` profiles the likelihood at each chain's posterior median of x:
Delta chi2 = -2 ln lambda(x_med) against the dominant mode. A chain whose median the profile
likelihood excludes at more than ``PROFILE_CHECK_DELTA_CHI2`` sits away from the data's mode (or the
prior, not the data, places it there); :mod:`bayes_xmass.infer.posterior_summary` reports it as a
failed diagnostic.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from bayes_xmass.infer.batch_limits import BatchProfileLikelihood
from bayes_xmass.infer.chain_init import POI_START_FRACTION
from bayes_xmass.infer.frequentist import ProfileLikelihood
from bayes_xmass.model.data import data_of_model

__all__ = [
    "BOUNDARY_FRACTION",
    "MODE_CHECK_ATTR",
    "MODE_X_START_FRACTIONS",
    "PROFILE_CHECK_DELTA_CHI2",
    "SCALE_START_FRACTIONS",
    "START_SPREAD",
    "DominantMode",
    "ModeStarts",
    "StartPlan",
    "find_dominant_mode",
    "mode_check_of",
]

MODE_X_START_FRACTIONS = (0.05, 0.25, 1.0)  # free-fit x starts, fractions of the POI prior's upper bound
SCALE_START_FRACTIONS = (0.25, 0.75)  # extra energy-scale starts, fractions of the template grid's range
START_SPREAD = 2.0  # chain starts: the Laplace approximation's standard deviations times this
RIDGE = 2.0  # added to the Hessian's diagonal: Laplace standard deviations <= 1 unconstrained unit
TAIL_BOUND = 8.0  # transformed (log, logit) coordinates start within +-8 of 0
GRID_MARGIN = 0.02  # the energy scale starts inside its template grid by this fraction of the range
BOUNDARY_FRACTION = 0.01  # a mode with x-hat below this fraction of the prior range is at the boundary
PROFILE_CHECK_DELTA_CHI2 = 9.0  # a chain's median x excluded at > 3 sigma by the profile likelihood
MODE_CHECK_ATTR = "mode_check"  # DataTree attribute holding :meth:`ModeStarts.check`'s result (JSON)


@dataclass(frozen=True)
class DominantMode:
    """The lowest -2 log L found: POI x (scaled), -2 log L, nuisances (the profile likelihood's
    unconstrained coordinates), profiled template factors gamma per bin (or None), and the Hessian
    H of -2 log L there ((p, p), rows theta = (x, nuisances))."""

    x: float
    nll2: float
    nuisances: np.ndarray
    gamma: np.ndarray | None
    hessian: np.ndarray


def _laplace_factor(h: np.ndarray) -> np.ndarray:
    """A factor F with F F^T = 2 (H + RIDGE I)^-1 for a symmetric Hessian H of -2 log L: the ridge
    bounds every coordinate's standard deviation by sqrt(2 / RIDGE) = 1 unit of the unconstrained
    space (flat directions, e.g. a normalisation at its bound, deep in its logit coordinate's tail,
    would otherwise send a chain to the other bound, where NUTS diverged on every step)."""
    h = 0.5 * (h + h.T) + RIDGE * np.eye(h.shape[0])
    vals, vecs = np.linalg.eigh(h)
    vals = np.where(vals > RIDGE, vals, RIDGE)
    return np.asarray(vecs * np.sqrt(2.0 / vals)[None, :])


def find_dominant_mode(
    bpl: BatchProfileLikelihood, counts: np.ndarray, x_upper: float, starts: list[np.ndarray] | None = None
) -> DominantMode:
    """The dominant mode of -2 log L for one spectrum ``counts`` (see the module docstring), from the
    nuisance vectors ``starts`` (default :meth:`BatchMinimiser.nuisance_starts`)."""
    counts = np.atleast_2d(np.asarray(counts, dtype="float64"))
    starts = bpl.nuisance_starts() if starts is None else starts
    x_starts = sorted({0.5, 2.0, *(f * x_upper for f in MODE_X_START_FRACTIONS)})
    specs = [(0.0, s, 0.5) for s in starts] + [(None, s, x0) for s in starts for x0 in x_starts]
    fits = bpl.fit_many(counts, specs)
    best = min(fits, key=lambda f: float(f.nll2[0]))
    theta = np.concatenate([[best.x[0]], best.nuisances[0]])[None, :]
    extra = bpl.extra_inputs(counts)
    _, grad = bpl.value_and_grad(theta, counts, extra)
    hess = bpl.hessian(theta, counts, extra, grad, np.ones(theta.shape[1], dtype=bool))[0]
    pl = bpl.pl
    gamma = None
    if "gamma" in pl.model.named_vars:
        gamma = np.asarray(pl.deterministics(float(best.x[0]), best.nuisances[0], ("gamma",))[0], dtype=float)
    return DominantMode(float(best.x[0]), float(best.nll2[0]), best.nuisances[0].copy(), gamma, hess)


@contextlib.contextmanager
def _data_swapped(pl: ProfileLikelihood, data: dict[str, Any]) -> Iterator[None]:
    """``pl``'s pm.Data set from ``data`` (the sampler's), restored afterwards (the compiled
    likelihood is shared with the frequentist code of this process)."""
    import pymc as pm

    values = data_of_model(pl.model, data)
    saved = {name: np.array(pl.model[name].get_value(), copy=True) for name in values}
    pm.set_data(values, model=pl.model)
    try:
        yield
    finally:
        pm.set_data(saved, model=pl.model)


@dataclass(frozen=True)
class StartPlan:
    """What one NUTS run starts from: the dominant mode, the spectrum and the POI prior's range."""

    mode: DominantMode
    counts: np.ndarray
    x_upper: float
    lower: np.ndarray | None = None  # bounds of the nuisances' starts (profile-likelihood coordinates)
    upper: np.ndarray | None = None

    def draw(self, seed: int) -> tuple[float, np.ndarray]:
        """One chain's start: (x, nuisances in the profile likelihood's coordinates)."""
        rng = np.random.default_rng(seed)
        m = self.mode
        z = np.asarray(rng.standard_normal(size=(m.hessian.shape[0],)), dtype=float)
        if m.x < BOUNDARY_FRACTION * self.x_upper:  # the nuisances' Laplace approximation given x = 0
            nuisances = m.nuisances + START_SPREAD * _laplace_factor(m.hessian[1:, 1:]) @ z[1:]
            x = self.x_upper * rng.uniform(*POI_START_FRACTION)
        else:
            theta = np.concatenate([[m.x], m.nuisances]) + START_SPREAD * _laplace_factor(m.hessian) @ z
            x = abs(float(theta[0]))  # reflected at 0 and at the prior's upper bound
            x = 2.0 * self.x_upper - x if x > self.x_upper else x
            x = float(np.clip(x, POI_START_FRACTION[0] * self.x_upper, (1.0 - 1e-3) * self.x_upper))
            nuisances = theta[1:]
        if not np.all(np.isfinite(nuisances)):
            nuisances = m.nuisances.copy()
        if self.lower is not None and self.upper is not None:
            nuisances = np.clip(nuisances, self.lower, self.upper)
        return float(x), nuisances


class ModeStarts:
    """Dominant-mode chain starts and the posterior-vs-profile check for one compiled structure.

    ``pl``: a single-dataset profile likelihood of the sampler's structure; its pm.Data are set from
    each run's data and restored afterwards."""

    def __init__(self, pl: ProfileLikelihood, bpl: BatchProfileLikelihood):
        self.pl = pl
        self.bpl = bpl

    def plan(self, data: dict[str, Any], x_upper: float, centre: dict[str, np.ndarray]) -> StartPlan:
        """Find the dominant mode of the likelihood given ``data`` (the sampler's pm.Data values);
        ``centre``: the nuisances' prior centres by unconstrained variable name (the sampler model's
        support point under ``data``)."""
        counts = np.asarray(data["observed_counts"], dtype="float64")
        with _data_swapped(self.pl, data):
            mode = find_dominant_mode(self.bpl, counts, x_upper, self._nuisance_starts(data, centre))
        return StartPlan(mode, counts, float(x_upper), *self._start_bounds(data))

    def _start_bounds(self, data: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
        """Transformed coordinates within +-TAIL_BOUND; an untransformed energy scale inside the grid."""
        lower, upper = [], []
        grid = np.asarray(data["scale_grid"], dtype=float)
        margin = GRID_MARGIN * (grid[-1] - grid[0])
        for name, size in zip(self.pl._names, self.pl._sizes):
            lo, hi = -np.inf, np.inf
            if name.endswith("__"):
                lo, hi = -TAIL_BOUND, TAIL_BOUND
            elif name == "energy_scale":
                lo, hi = grid[0] + margin, grid[-1] - margin
            lower += [lo] * size
            upper += [hi] * size
        return np.array(lower), np.array(upper)

    def _nuisance_starts(self, data: dict[str, Any], centre: dict[str, np.ndarray]) -> list[np.ndarray]:
        """The centre, and the same with the energy scale at ``SCALE_START_FRACTIONS`` of the grid."""
        base = np.concatenate([np.ravel(centre[name]) for name in self.pl._names]) if self.pl._names else np.zeros(0)
        starts = [base]
        if "energy_scale" in self.pl._names:
            j = int(np.sum(self.pl._sizes[: self.pl._names.index("energy_scale")]))
            grid = np.asarray(data["scale_grid"], dtype=float)
            rv = self.pl.model["energy_scale"]
            transform = self.pl.model.rvs_to_transforms.get(rv)
            for f in SCALE_START_FRACTIONS:
                value = float(grid[0] + f * (grid[-1] - grid[0]))
                if transform is not None:  # e.g. a truncated prior's interval coordinate (bounds are data)
                    value = float(transform.forward(np.asarray(value), *rv.owner.inputs).eval())
                start = base.copy()
                start[j] = value
                starts.append(start)
        return starts

    @property
    def nuisance_layout(self) -> list[tuple[str, tuple[int, ...], int]]:
        """(unconstrained variable name, shape, size) of the profile likelihood's nuisances, in order."""
        return list(zip(self.pl._names, [tuple(s) for s in self.pl._shapes], self.pl._sizes))

    def check(self, data: dict[str, Any], plan: StartPlan, chain_medians: np.ndarray) -> dict[str, Any]:
        """Profile Delta chi2 at each chain's posterior median of x, against the dominant mode."""
        xs = np.asarray(chain_medians, dtype=float)
        counts = np.tile(plan.counts, (xs.size, 1))
        with _data_swapped(self.pl, data):
            cond = self.bpl.fit(counts, xs, start=plan.mode.nuisances)
        delta = np.maximum(cond.nll2 - plan.mode.nll2, 0.0)
        return {
            "best_fit_x": plan.mode.x,
            "best_fit_nll2": plan.mode.nll2,
            "chain_median_x": xs.tolist(),
            "delta_chi2": delta.tolist(),
            "max_delta_chi2": float(delta.max()) if delta.size else 0.0,
            "threshold": PROFILE_CHECK_DELTA_CHI2,
        }


def mode_check_of(dt: Any) -> dict[str, Any] | None:
    """The check stored with a DataTree (``MODE_CHECK_ATTR``), or None."""
    raw = dt.attrs.get(MODE_CHECK_ATTR)
    return None if raw is None else dict(json.loads(raw))
