"""Frequentist inference from the same model: profile likelihood, limits, toys, CLs, FC.

The objective is ``-2 log p`` of the model built by :func:`bayes_xmass.model.build.build_model` with an
improper POI prior and the per-bin template factors profiled in closed form: the likelihood and the
nuisance constraint terms are *the same graph* the Bayesian fit samples; only the POI prior and
marginalising vs profiling differ. Nuisances are minimised in PyMC's unconstrained (transformed)
space without Jacobian terms, which leaves maxima unchanged. :class:`~bayes_xmass.infer.combined_profile.CombinedProfileLikelihood`
does the same for the combined model of several datasets.

Conventions (documented in the README):

- the POI is x = |coupling| / scale >= 0 (sign fixed per fit), so the best fit is on the boundary
  x = 0 when the data prefer no signal; Delta chi2 is measured from the constrained best fit;
- ``threshold="xmass"``: Delta chi2 = chi2_1 quantile at CL (2.71 for 90%), as XMASS-style
  chi-square analyses quote "90% CL"; as a one-sided upper limit it covers ~95%;
- ``threshold="one_sided"``: Delta chi2 = Phi^-1(CL)^2 (1.64 for 90%), the asymptotic one-sided
  limit with the nominal coverage (Cowan, Cranmer, Gross, Vitells, EPJC 71 (2011) 1554).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypedDict

import numpy as np
import pytensor
import pytensor.tensor as pt
from pytensor.graph.replace import graph_replace
from scipy import optimize, stats

from bayes_xmass.model.build import build_model
from bayes_xmass.model.data import data_of_model, model_data, structure_key
from bayes_xmass.model.likelihood import chi2_sigma
from bayes_xmass.model.poi_prior import POI_VALUE, PoiPrior
from bayes_xmass.response.templates import TemplateSet

__all__ = [
    "FrequentistSummary",
    "THRESHOLDS",
    "X_MAX_FACTOR",
    "FitPoint",
    "ProfileLikelihood",
    "asimov_counts",
    "cls_upper_limit",
    "delta_chi2_threshold",
    "frequentist_summary",
]

THRESHOLDS = ("xmass", "one_sided")
X_MAX_FACTOR = 1e4


def delta_chi2_threshold(cl: float = 0.9, kind: str = "xmass") -> float:
    """Delta chi2 defining the limit: chi2_1 quantile ('xmass', 2.706 at 90%) or Phi^-1(cl)^2 ('one_sided')."""
    if kind == "xmass":
        return float(stats.chi2.ppf(cl, 1))
    if kind == "one_sided":
        return float(stats.norm.ppf(cl) ** 2)
    raise ValueError(f"unknown threshold {kind!r}; known: {', '.join(THRESHOLDS)}")


@dataclass(frozen=True)
class FitPoint:
    """A (conditional) maximum-likelihood fit: POI, -2 log L (+ constraints), nuisance values."""

    x: float
    nll2: float
    nuisances: np.ndarray
    converged: bool


class ProfileLikelihood:
    """-2 log L(x, nuisances) compiled once; fits, profiles, limits; observed data swappable."""

    def __init__(self, tpl: TemplateSet, *, sign: int = 1, likelihood: str = "poisson"):
        self.tpl = tpl
        self.sign = sign
        self.likelihood = likelihood
        self._key = structure_key(tpl, PoiPrior("improper"), likelihood)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.model = build_model(tpl, PoiPrior("improper"), sign=sign, likelihood=likelihood, gammas="profile")
        self._compile()

    def _compile(self) -> None:
        """Compile -2 log p of ``self.model`` as a function of theta = (x, nuisances)."""
        m = self.model
        ip = m.initial_point()
        self._poi_var = m.rvs_to_values[m[POI_VALUE]]
        self._nuis_vars = [v for v in m.value_vars if v is not self._poi_var]
        self._names = [v.name for v in self._nuis_vars]
        self._shapes = [np.shape(ip[n]) for n in self._names]
        self._sizes = [int(np.prod(s)) for s in self._shapes]
        self.start = np.concatenate([np.ravel(ip[n]) for n in self._names]) if self._names else np.zeros(0)
        # One compiled function of a flat parameter vector theta = (x, nuisances) returning
        # (-2 log p, gradient): the model's own logp graph, without Jacobian terms.
        theta = pt.vector("theta", dtype="float64")
        replace, i = {}, 0
        for var, shape, size in zip([self._poi_var] + self._nuis_vars, [()] + self._shapes, [1] + self._sizes):
            replace[var] = theta[i : i + size].reshape(shape) if shape else theta[i]
            i += size
        nll2 = -2.0 * graph_replace(m.logp(jacobian=False), replace, strict=False)
        self.theta_graph, self.nll2_graph = theta, nll2  # for the batched fits (infer/batch_objective.py)
        grad: Any = pt.grad(nll2, theta)
        self._value_and_grad = pytensor.function([theta], [nll2, grad], on_unused_input="ignore")
        self.n_calls = 0
        self._det_fns: dict[tuple[str, ...], Any] = {}

    # -- evaluation ---------------------------------------------------------------------------
    def _point(self, x: float, nuis: np.ndarray) -> dict[str, np.ndarray]:
        point = {self._poi_var.name: np.asarray(x, dtype=float)}
        i = 0
        for name, shape, size in zip(self._names, self._shapes, self._sizes):
            point[name] = np.reshape(nuis[i : i + size], shape)
            i += size
        return point

    def value_and_grad(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        """(-2 log p, gradient) at theta = (x, nuisances in transformed space)."""
        self.n_calls += 1
        v, g = self._value_and_grad(np.asarray(theta, dtype="float64"))
        v = float(v)
        if not math.isfinite(v):
            return 1e300, np.zeros_like(theta)
        return v, np.nan_to_num(np.asarray(g), nan=0.0, posinf=1e300, neginf=-1e300)

    def nll2(self, x: float, nuis: np.ndarray) -> float:
        """-2 log p at (x, nuisances in transformed space)."""
        return self.value_and_grad(np.concatenate([[x], nuis]))[0]

    def set_observed(self, counts: np.ndarray) -> None:
        """Swap the observed counts (toys) without recompiling."""
        import pymc as pm

        data = {"observed_counts": np.asarray(counts, dtype="float64")}
        if self.likelihood == "chi2":  # the Gaussian widths follow the (toy) data
            data["chi2_sigma"] = chi2_sigma(counts, self.tpl.background_errors)
        pm.set_data(data, model=self.model)

    def load(self, tpl: TemplateSet, sign: int = 1) -> ProfileLikelihood:
        """Swap in another template set of the same structure (and its sign) without recompiling."""
        import pymc as pm

        if structure_key(tpl, PoiPrior("improper"), self.likelihood) != self._key:
            raise ValueError("template set does not match the compiled likelihood's structure")
        data = model_data(tpl, sign, self.likelihood)
        edges = data["bin_edges_keV"]
        pm.set_data(
            data_of_model(self.model, data), model=self.model, coords={"energy_bin": 0.5 * (edges[1:] + edges[:-1])}
        )
        self.tpl, self.sign = tpl, sign
        return self

    @property
    def observed(self) -> np.ndarray:
        return np.asarray(self.model["observed_counts"].get_value())

    @property
    def n_bins(self) -> int:
        """Number of fitted bins (all datasets)."""
        return int(self.tpl.n_bins)

    @property
    def coupling_scale(self) -> float:
        """Physical coupling per unit of the POI x."""
        return float(self.tpl.coupling_scale)

    # -- fits ---------------------------------------------------------------------------------
    def fit(
        self, x: float | None = None, start: np.ndarray | None = None, x_starts: Sequence[float] = (0.0, 0.5, 2.0)
    ) -> FitPoint:
        """Minimise over the nuisances at fixed x, or over (x >= 0, nuisances) if x is None
        (L-BFGS-B from each of ``x_starts``, best kept)."""
        s0 = self.start if start is None else start
        if x is not None and s0.size == 0:  # no free nuisance: nothing to profile
            return FitPoint(float(x), self.nll2(float(x), s0), s0, True)
        if x is not None:

            def fixed_x(n: np.ndarray) -> tuple[float, np.ndarray]:
                v, g = self.value_and_grad(np.concatenate([[x], n]))
                return v, g[1:]

            res = optimize.minimize(
                fixed_x, s0, jac=True, method="L-BFGS-B", options={"maxiter": 2000, "ftol": 1e-12, "gtol": 1e-7}
            )
            return FitPoint(float(x), float(res.fun), res.x, bool(res.success))
        best: Any = None  # scipy's OptimizeResult
        for x0 in x_starts:
            res = optimize.minimize(
                self.value_and_grad,
                np.concatenate([[x0], s0]),
                jac=True,
                method="L-BFGS-B",
                bounds=[(0.0, None)] + [(None, None)] * s0.size,
                options={"maxiter": 3000, "ftol": 1e-12, "gtol": 1e-7},
            )
            if best is None or res.fun < best.fun:
                best = res
        return FitPoint(float(best.x[0]), float(best.fun), best.x[1:], bool(best.success))

    def best_fit(self) -> FitPoint:
        """Global best fit with x >= 0, refined against the x = 0 fit (boundary)."""
        free = self.fit(None)
        zero = self.fit(0.0)
        return zero if zero.nll2 <= free.nll2 else free

    def delta_chi2(self, x_values: float | Sequence[float] | np.ndarray, best: FitPoint | None = None) -> np.ndarray:
        """Profile Delta chi2(x) = -2 ln lambda(x) relative to the constrained best fit."""
        best = best or self.best_fit()
        out = []
        start = best.nuisances
        for x in np.atleast_1d(x_values):
            f = self.fit(float(x), start)
            start = f.nuisances
            out.append(max(f.nll2 - best.nll2, 0.0))
        return np.array(out)

    def upper_limit(self, cl: float = 0.9, threshold: str = "xmass", best: FitPoint | None = None) -> float:
        """x where Delta chi2 crosses the threshold above the best fit (scaled units)."""
        best = best or self.best_fit()
        target = delta_chi2_threshold(cl, threshold)

        def excess(x: float) -> float:
            return self.fit(x, best.nuisances).nll2 - best.nll2 - target

        lo = best.x
        hi = max(lo * 1.5, 0.5)
        while excess(hi) < 0:
            lo, hi = hi, hi * 2.0
            if hi > X_MAX_FACTOR:
                return float("inf")
        return float(optimize.brentq(excess, lo, hi, xtol=1e-6, rtol=1e-7))

    # -- goodness of fit --------------------------------------------------------------------------
    def deterministics(self, x: float, nuis: np.ndarray, names: Sequence[str] = ("expected",)) -> list[np.ndarray]:
        """Values of the model's deterministics (e.g. 'expected', 'gamma') at a point."""
        key = tuple(names)
        if key not in self._det_fns:
            exprs = self.model.replace_rvs_by_values([self.model[n] for n in names])
            self._det_fns[key] = self.model.compile_fn(
                exprs, inputs=self.model.value_vars, on_unused_input="ignore", point_fn=True
            )
        return [np.asarray(v) for v in self._det_fns[key](self._point(x, nuis))]

    def background_components(self, fit: FitPoint) -> np.ndarray:
        """Expected counts of each background (background, bin) at a fit (without the per-bin gamma)."""
        norm = self.deterministics(fit.x, fit.nuisances, ("norm",))[0]
        point = self._point(fit.x, fit.nuisances)
        fixed = self.tpl.scale_prior.fixed_value()
        s = float(point["energy_scale"]) if "energy_scale" in point else (fixed if fixed is not None else 1.0)
        s = float(np.clip(s, self.tpl.scale_grid[0], self.tpl.scale_grid[-1]))
        components: np.ndarray = self.tpl.backgrounds(s) * np.asarray(norm)[:, None]
        return components

    def expected(self, x: float, nuis: np.ndarray) -> np.ndarray:
        """Expected counts per bin at a point."""
        return self.deterministics(x, nuis)[0]

    def chi2(self, fit: FitPoint) -> float:
        """Goodness-of-fit chi2 at a fit: Gaussian chi2 (chi2 likelihood), or Baker-Cousins
        2 sum[mu - k + k ln(k/mu)] plus the pulls ((gamma - 1)/delta)^2 of the template factors."""
        k = self.observed
        if self.likelihood == "chi2":
            mu = self.expected(fit.x, fit.nuisances)
            sigma = np.asarray(self.model["chi2_sigma"].get_value())
            return float(np.sum(((k - mu) / sigma) ** 2))
        has_gamma = "gamma" in self.model.named_vars
        values = self.deterministics(fit.x, fit.nuisances, ("expected", "gamma") if has_gamma else ("expected",))
        mu = values[0]
        with np.errstate(divide="ignore", invalid="ignore"):
            term = np.where(k > 0, k * np.log(k / mu), 0.0)
        chi2 = float(2.0 * np.sum(mu - k + term))
        if has_gamma:
            delta = np.asarray(self.model["template_rel_error"].get_value())
            pulls = np.where(delta > 0, (values[1] - 1.0) / np.where(delta > 0, delta, 1.0), 0.0)
            chi2 += float(np.sum(pulls**2))
        return chi2

    def discovery_significance(self, best: FitPoint | None = None) -> float:
        """Z = sqrt(q0), q0 = -2 ln [L(0) / L(x_hat)] (asymptotic; 0 if x_hat = 0)."""
        best = best or self.best_fit()
        q0 = max(self.fit(0.0, best.nuisances).nll2 - best.nll2, 0.0)
        return float(math.sqrt(q0))


# -- CLs (asymptotic, Cowan-Cranmer-Gross-Vitells) --------------------------------------------------


def asimov_counts(pl: ProfileLikelihood, x: float = 0.0) -> np.ndarray:
    """Asimov data: expected counts at x with nuisances at their conditional fit to the observed data."""
    fit = pl.fit(x)
    return pl.expected(x, fit.nuisances)


def cls_upper_limit(pl: ProfileLikelihood, cl: float = 0.9, best: FitPoint | None = None) -> dict[str, float]:
    """Asymptotic CLs and CLs+b upper limits (scaled units) with the q~_mu test statistic.

    CLs+b = 1 - Phi(sqrt(q_mu)); CLb = Phi(sqrt(q_mu,A) - sqrt(q_mu)); CLs = CLs+b / CLb, with q_mu,A
    from the background-only Asimov data set (EPJC 71 (2011) 1554, Eqs. 59 and 65).
    """
    observed = pl.observed.copy()
    best = best or pl.best_fit()
    asimov = asimov_counts(pl, 0.0)
    pl.set_observed(asimov)
    try:
        best_a = pl.fit(0.0)
        best_a = FitPoint(0.0, best_a.nll2, best_a.nuisances, best_a.converged)

        cache_a: dict[float, float] = {}

        def qa(x: float) -> float:  # q_mu on the Asimov data (the caller has swapped the data in)
            if x not in cache_a:
                cache_a[x] = max(pl.fit(x, best_a.nuisances).nll2 - best_a.nll2, 0.0)
            return cache_a[x]

        pl.set_observed(observed)

        def q_obs(x: float) -> float:
            return 0.0 if best.x > x else max(pl.fit(x, best.nuisances).nll2 - best.nll2, 0.0)

        def p_values(x: float) -> tuple[float, float]:
            qo = q_obs(x)
            pl.set_observed(asimov)
            qa_x = qa(x)
            pl.set_observed(observed)
            clsb = 1.0 - stats.norm.cdf(math.sqrt(qo))
            clb = stats.norm.cdf(math.sqrt(qa_x) - math.sqrt(qo))
            return clsb, clsb / max(clb, 1e-300)

        alpha = 1.0 - cl
        out: dict[str, float] = {}
        for name, idx in (("clsb", 0), ("cls", 1)):
            lo, hi = max(best.x, 1e-6), max(best.x * 1.5, 0.5)
            while p_values(hi)[idx] > alpha:
                lo, hi = hi, hi * 2.0
                if hi > X_MAX_FACTOR:
                    break
            out[name] = (
                float(optimize.brentq(lambda x, idx=idx: p_values(x)[idx] - alpha, lo, hi, xtol=1e-6, rtol=1e-6))
                if hi <= X_MAX_FACTOR
                else float("inf")
            )
        return out
    finally:
        pl.set_observed(observed)


class FrequentistSummary(TypedDict):
    """Profile-likelihood results of one fit. ``*_scaled`` values are in units of the coupling scale
    (multiply by ``coupling_scale`` for mu_B, e or g); ``best_fit`` is signed and physical."""

    best_fit_scaled: float
    best_fit: float
    chi2_best: float  # Baker-Cousins Poisson deviance (goodness of fit)
    chi2_zero: float
    dof: int
    delta_chi2_zero: float
    limit_xmass_scaled: float  # Delta chi2 = 2.71 (XMASS's convention)
    limit_one_sided_scaled: float  # one-sided Delta chi2 = 1.64 at 90% CL
    limit_cls_scaled: float
    limit_clsb_scaled: float
    thresholds: dict[str, float]
    discovery_z: float
    profile_x_scaled: np.ndarray
    profile_delta_chi2: np.ndarray
    converged: bool
    cl: float


def frequentist_summary(pl: ProfileLikelihood, cl: float = 0.9, n_profile: int = 40) -> FrequentistSummary:
    """Best fit, chi2/dof (best fit and zero signal), Delta chi2 limits (both conventions),
    asymptotic CLs/CLs+b limits, discovery significance and the profile curve (scaled units)."""
    best = pl.best_fit()
    zero = pl.fit(0.0, best.nuisances)
    limits = {t: pl.upper_limit(cl, t, best) for t in THRESHOLDS}
    cls = cls_upper_limit(pl, cl, best)
    top = limits["xmass"] if math.isfinite(limits["xmass"]) else 10.0
    grid = np.linspace(0.0, 1.8 * top, n_profile)
    dof = pl.n_bins - 1
    summary: FrequentistSummary = {
        "best_fit_scaled": best.x,
        "best_fit": best.x * pl.coupling_scale * pl.sign,
        "chi2_best": pl.chi2(best),
        "chi2_zero": pl.chi2(zero),
        "dof": dof,
        "delta_chi2_zero": max(zero.nll2 - best.nll2, 0.0),
        "limit_xmass_scaled": limits["xmass"],
        "limit_one_sided_scaled": limits["one_sided"],
        "limit_cls_scaled": cls["cls"],
        "limit_clsb_scaled": cls["clsb"],
        "thresholds": {t: delta_chi2_threshold(cl, t) for t in THRESHOLDS},
        "discovery_z": pl.discovery_significance(best),
        "profile_x_scaled": grid,
        "profile_delta_chi2": pl.delta_chi2(grid, best),
        "converged": bool(best.converged),
        "cl": cl,
    }
    return summary
