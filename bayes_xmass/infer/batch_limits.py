"""Profile-likelihood upper limits of many data sets at once: the batched limit search.

:class:`BatchProfileLikelihood` adds to the batched fits of
:class:`~bayes_xmass.infer.batch_minimiser.BatchMinimiser` the search for the x where the profile
Delta chi2 crosses its thresholds (:meth:`BatchProfileLikelihood.upper_limits`): it brackets as the
scalar path (:meth:`~bayes_xmass.infer.frequentist.ProfileLikelihood.upper_limit`), then takes Newton
steps in log Delta chi2 vs log(x - best x) with the envelope-theorem slope of each conditional fit,
and shares its fits between the thresholds. :func:`batch_limits` and :func:`batch_fc_statistic` are
the rows the toy ensembles need.

Example (benchmark magnetic-moment fit, background-only toys)::

    >>> from bayes_xmass.infer.toys import toy_counts
    >>> bpl = BatchProfileLikelihood(pl)                         # doctest: +SKIP
    >>> counts = toy_counts(pl, 0.0, 300, seed=1)                # doctest: +SKIP
    >>> best = bpl.best_fit(counts)                              # doctest: +SKIP
    >>> limits = bpl.upper_limits(counts, best, cl=0.9)          # doctest: +SKIP
"""

from __future__ import annotations

import numpy as np

from bayes_xmass.infer.batch_minimiser import BatchFit, BatchMinimiser
from bayes_xmass.infer.frequentist import X_MAX_FACTOR, FitPoint, delta_chi2_threshold

__all__ = ["ROOT_RTOL", "ROOT_XTOL", "BatchProfileLikelihood", "batch_fc_statistic", "batch_limits"]

ROOT_XTOL, ROOT_RTOL = 1e-7, 1e-8  # limit accuracy in x (10x tighter than upper_limit's brentq)


class BatchProfileLikelihood(BatchMinimiser):
    """The graph of a single-dataset :class:`ProfileLikelihood`, vectorised over data sets: batched
    fits (:class:`BatchMinimiser`) and upper limits.

    Templates are the ones currently loaded in ``pl`` (shared variables, so ``pl.load`` swaps
    them here too). Counts are passed per call as an (n_toys, n_bins) array.
    """

    def upper_limits(
        self, counts: np.ndarray, best: BatchFit, cl: float = 0.9, thresholds=("xmass", "one_sided")
    ) -> dict[str, np.ndarray]:
        """x where the profile Delta chi2 crosses each threshold above the best fit (as
        :meth:`ProfileLikelihood.upper_limit`; inf beyond ``X_MAX_FACTOR``). The thresholds' searches
        share the conditional fits already made (one profile per data set)."""
        counts = np.atleast_2d(np.asarray(counts, dtype="float64"))
        out: dict[str, np.ndarray] = {}
        profile = _Profile(len(counts))
        for name in sorted(thresholds, key=lambda t: -delta_chi2_threshold(cl, t)):  # widest first
            out[name] = self._crossing(counts, best, delta_chi2_threshold(cl, name), profile)
        return {t: out[t] for t in thresholds}

    def _crossing(self, counts, best: BatchFit, target: float, profile: _Profile) -> np.ndarray:
        """Batched safeguarded Newton/secant/bisection for Delta chi2(x) = target, x > best.x.

        Newton steps are taken for log Delta chi2 against log(x - best x), exact for a power law
        (quadratic asymptotically; other powers at a boundary best fit or for signals in x^2), with
        dDelta chi2/dx from the envelope theorem (the gradient in x at the conditional fit); secant
        steps in sqrt(Delta chi2). A search stops when the bracket is narrower than the tolerance, or
        at the result of a Newton step that is itself below it, or that is below 1e-3 x with an
        estimated error (from the change of the local power between the last two points) below a
        tenth of it. Brackets and starting points come also from the conditional fits of earlier
        searches (``profile``); a new search brackets the crossing as the scalar path does (x = max(1.5
        best x, 0.5), doubled while Delta chi2 is below the target; inf beyond ``X_MAX_FACTOR``).
        Conditional fits start from the best fit's nuisances (the scalar path's start)."""
        n = len(counts)
        xb = best.x
        log_t = np.log(target)
        lo = xb.copy()
        h_lo = np.full(n, -target)  # excess at lo (-target at the best fit)
        hi = np.full(n, np.inf)
        h_hi = np.full(n, np.nan)
        # Newton base point: x, excess and local power m = dlog Delta chi2 / dlog(x - best x)
        xc, hc, mc = np.full(n, np.nan), np.full(n, np.nan), np.full(n, np.nan)
        err_c = np.full(n, np.nan)  # |dm/du| / 2m (u = log(x - best x)), from the last two points
        hi0 = np.maximum(1.5 * lo, 0.5)
        with np.errstate(divide="ignore"):
            doublings = np.floor(np.log2(X_MAX_FACTOR / hi0))
        x_max = np.where(hi0 <= X_MAX_FACTOR, hi0 * 2.0 ** np.maximum(doublings, 0), hi0)
        result = np.full(n, np.nan)
        if profile.size:
            X, D, S = profile.arrays()
            H = D - target
            with np.errstate(invalid="ignore"):
                below = (H < 0) & (X > lo[:, None])
                above = H >= 0
            r = np.arange(n)
            k_hi = np.argmin(np.where(above, X, np.inf), axis=1)  # the lowest point above the target
            has_hi = above.any(axis=1)
            hi[has_hi], h_hi[has_hi] = X[r, k_hi][has_hi], H[r, k_hi][has_hi]
            below &= X < hi[:, None]  # and the highest below it
            k_lo = np.argmax(np.where(below, X, -np.inf), axis=1)
            has_lo = below.any(axis=1)
            lo[has_lo], h_lo[has_lo] = X[r, k_lo][has_lo], H[r, k_lo][has_lo]
            # Newton base: the point closest to the target; the power's change from the next closest
            M = _local_power(X, D, S, xb[:, None])
            with np.errstate(invalid="ignore", divide="ignore"):
                closeness = np.where(np.isfinite(X), np.abs(np.log(np.maximum(D, 1e-300)) - log_t), np.inf)
            order = np.argsort(closeness, axis=1)
            k, k2 = order[:, 0], order[:, min(1, X.shape[1] - 1)]
            have = np.isfinite(closeness[r, k])
            xc[have], hc[have], mc[have] = X[r, k][have], H[r, k][have], M[r, k][have]
            if X.shape[1] > 1:
                err_c = _power_change(X[r, k2], M[r, k2], xc, mc, xb)
            result[~has_hi & (below & (X >= x_max[:, None])).any(axis=1)] = np.inf
        active = np.flatnonzero(np.isnan(result))
        for _ in range(100):
            if active.size == 0:
                break
            a = active
            have = np.isfinite(xc[a])
            bracketed = np.isfinite(hi[a])
            tol = ROOT_XTOL + ROOT_RTOL * np.abs(np.where(bracketed, hi[a], xc[a]))
            with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                du = (log_t - np.log(hc[a] + target)) / mc[a]  # Newton step in log(x - best x)
                newton = xb[a] + (xc[a] - xb[a]) * np.exp(du)
                in_bracket = np.isfinite(newton) & (newton >= lo[a]) & (newton <= hi[a])
                dx = np.abs(newton - xc[a])
                err = (xc[a] - xb[a]) * err_c[a] * du * du  # estimated error of the Newton result
                fin_h = have & (np.abs(hc[a]) < 1e-10)
                fin_w = bracketed & (hi[a] - lo[a] <= tol)
                fin_n = in_bracket & ((dx <= 1e-3 * tol) | ((err <= 0.1 * tol) & (dx <= 1e-3 * np.abs(xc[a]))))
                secant_x = lo[a] - h_lo[a] * (hi[a] - lo[a]) / (h_hi[a] - h_lo[a])
            result[a] = np.where(fin_h, xc[a], np.where(fin_w, secant_x, np.where(fin_n, newton, np.nan)))
            keep = ~(fin_h | fin_w | fin_n)
            a, have, bracketed, newton = a[keep], have[keep], bracketed[keep], newton[keep]
            if a.size == 0:
                break
            # next point: bracketed -> Newton, else secant in sqrt(Delta chi2), else bisection; not
            # bracketed -> the scalar path's doubling sequence from max(1.5 best x, 0.5)
            q_lo, q_hi = _sqrt0(h_lo[a] + target), _sqrt0(h_hi[a] + target)
            with np.errstate(divide="ignore", invalid="ignore"):
                secant = lo[a] + (np.sqrt(target) - q_lo) * (hi[a] - lo[a]) / (q_hi - q_lo)
                inside = lambda z, a=a: np.isfinite(z) & (z > lo[a]) & (z < hi[a])  # noqa: E731
            mid = 0.5 * (lo[a] + hi[a])
            x_br = np.where(inside(newton), newton, np.where(inside(secant), secant, mid))
            with np.errstate(invalid="ignore"):
                x_br = np.where(have & (np.abs(x_br - xc[a]) > 0.5 * (hi[a] - lo[a])), mid, x_br)
            x_out = np.where(lo[a] < hi0[a], hi0[a], np.minimum(2.0 * lo[a], x_max[a]))
            x_new = np.where(bracketed, x_br, x_out)
            cond = self.fit(counts[a], x_new, start=best.nuisances[a])  # the scalar path's start
            d2 = cond.nll2 - best.nll2[a]
            h = d2 - target
            slope = cond.grad[:, 0]
            profile.add(a, x_new, d2, slope, cond.converged)
            up = h >= 0
            hi[a[up]], h_hi[a[up]] = x_new[up], h[up]
            lo[a[~up]], h_lo[a[~up]] = x_new[~up], h[~up]
            m_new = _local_power(x_new, d2, slope, xb[a])
            err_c[a] = _power_change(xc[a], mc[a], x_new, m_new, xb[a])
            xc[a], hc[a], mc[a] = x_new, h, m_new
            result[a[~bracketed & ~up & (x_new >= x_max[a])]] = np.inf
            active = a[np.isnan(result[a])]
        for i in np.flatnonzero(np.isnan(result)):  # no convergence: the scalar root finder
            self.n_fallback += 1
            result[i] = self._scalar_crossing(counts[i], best.point(i), target)
        return result

    def _scalar_crossing(self, counts, best: FitPoint, target: float) -> float:
        pl = self.pl
        saved = pl.observed.copy()
        try:
            pl.set_observed(counts)

            def excess(x):
                return pl.fit(x, best.nuisances).nll2 - best.nll2 - target

            lo, hi = best.x, max(best.x * 1.5, 0.5)
            while excess(hi) < 0:
                lo, hi = hi, hi * 2.0
                if hi > X_MAX_FACTOR:
                    return float("inf")
            from scipy import optimize

            return float(optimize.brentq(excess, lo, hi, xtol=ROOT_XTOL, rtol=ROOT_RTOL))
        finally:
            pl.set_observed(saved)


def _local_power(x, dchi2, slope, xb):
    """m = dlog Delta chi2 / dlog(x - best x) at profile points (NaN where undefined)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        m = (x - xb) * slope / dchi2
    return np.where((x > xb) & (dchi2 > 0) & (m > 0) & np.isfinite(m), m, np.nan)


def _power_change(x0, m0, x1, m1, xb):
    """|dm/du| / 2m at the second point (u = log(x - best x)): the Newton error constant in u."""
    with np.errstate(divide="ignore", invalid="ignore"):
        c = np.abs(m1 - m0) / np.abs(np.log((x1 - xb) / (x0 - xb))) / (2.0 * m1)
    return np.where(np.isfinite(c), c, np.nan)


def _sqrt0(a):
    """sqrt(max(a, 0)) (NaN stays NaN)."""
    with np.errstate(invalid="ignore"):
        return np.sqrt(np.maximum(a, 0.0))


class _Profile:
    """The conditional fits of the limit searches of a batch, per data set: x, Delta chi2 and its
    slope in x (columns: one per search round, NaN where a data set was not fitted or its fit did
    not converge)."""

    def __init__(self, n: int):
        self.n = n
        self.x, self.dchi2, self.slope = [], [], []

    @property
    def size(self) -> int:
        return len(self.x)

    def add(self, idx, x, dchi2, slope, converged) -> None:
        cols = [np.full(self.n, np.nan) for _ in range(3)]
        for col, values in zip(cols, (x, dchi2, slope)):
            col[idx] = values
        cols[0][idx[~converged]] = np.nan
        for store, col in zip((self.x, self.dchi2, self.slope), cols):
            store.append(col)

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return np.column_stack(self.x), np.column_stack(self.dchi2), np.column_stack(self.slope)


def batch_limits(
    bpl: BatchProfileLikelihood, counts: np.ndarray, cl: float = 0.9, thresholds=("xmass", "one_sided")
) -> np.ndarray:
    """Rows (best-fit x, limit per threshold) for each data set, as the scalar toy loop returns."""
    best = bpl.best_fit(counts)
    lim = bpl.upper_limits(counts, best, cl, thresholds)
    return np.column_stack([best.x] + [lim[t] for t in thresholds])


def batch_fc_statistic(bpl: BatchProfileLikelihood, counts: np.ndarray, x) -> np.ndarray:
    """Feldman-Cousins ordering statistic t(x) = -2 ln[L(x) / L(x_hat)] per data set (x_hat >= 0,
    free fits started also at x, as the scalar path)."""
    counts = np.atleast_2d(np.asarray(counts, dtype="float64"))
    x = np.broadcast_to(np.asarray(x, dtype=float), (len(counts),))
    best = bpl.best_fit(counts, x_starts=(0.5, 2.0, x))
    t, _ = bpl.profile_delta(counts, x, best)
    return t
