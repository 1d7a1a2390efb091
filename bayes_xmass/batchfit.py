"""Many profile-likelihood fits at once: the frequentist graph vectorised over toy data sets.

Toy ensembles (expected-limit bands, coverage, Feldman-Cousins) need the same fits -- best fit,
conditional fits at fixed x, Delta chi2 limits -- for hundreds of Poisson data sets.
:class:`BatchProfileLikelihood` takes the ``-2 log L(theta)`` graph of a
:class:`~bayes_xmass.frequentist.ProfileLikelihood` (so the same expected-counts function and
constraints), vectorises it over a leading toy axis with ``pytensor.graph.replace.vectorize_graph``
and minimises all toys together with a damped Newton method:

- Hessian by forward differences of the batched analytic gradient, made positive definite by
  taking absolute eigenvalues (saddle-free Newton), Armijo backtracking line search;
- the POI bound x >= 0 by projection (x at 0 with dL/dx > 0 is held fixed for that step);
- convergence when the Newton decrement g.H^-1.g < ``DECREMENT_TOL`` (in units of -2 log L).

Every toy has its own step, line search and convergence flag, and a converged toy is frozen, so a
toy's result does not depend on which other toys share its batch. Toys that fail to converge are
refitted with the scalar L-BFGS-B path of :class:`~bayes_xmass.frequentist.ProfileLikelihood`.

Example (benchmark magnetic-moment fit, background-only toys)::

    >>> from bayes_xmass.toys import toy_counts
    >>> bpl = BatchProfileLikelihood(pl)                         # doctest: +SKIP
    >>> counts = toy_counts(pl, 0.0, 300, seed=1)                # doctest: +SKIP
    >>> best = bpl.best_fit(counts)                              # doctest: +SKIP
    >>> limits = bpl.upper_limits(counts, best, cl=0.9)          # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .frequentist import X_MAX_FACTOR, FitPoint, ProfileLikelihood, delta_chi2_threshold

DECREMENT_TOL = 1e-10  # Newton decrement (predicted drop of -2 log L) at convergence
MAX_NEWTON = 60
MAX_BACKTRACK = 40
MAX_STEP = 5.0  # largest change of one coordinate per Newton step (transformed units)
FLAT_GRAD_TOL = 1e-6  # |gradient| below which a toy on a plateau counts as converged
RELATIVE_FTOL = 1e-12  # stop when a full step lowers -2 log L by less than this fraction
STALL_TOL = 1e-9  # ... or by less than this (absolute, in -2 log L)
EIGEN_FLOOR = 1e-10  # |Hessian eigenvalues| floored at this fraction of the largest
LATE_DECREMENT_TOL = (1e-6, 1e-4)  # after 15 / 30 iterations (a nuisance creeping to its bound)
SCALE_START_SIGMAS = 2.0  # extra energy-scale starts of the x = 0 fit, in prior sigmas
FD_STEP = 1e-6  # relative forward-difference step of the Hessian
ROOT_XTOL, ROOT_RTOL = 1e-7, 1e-8  # limit accuracy in x (10x tighter than upper_limit's brentq)
BAD_VALUE = 1e300


def _aligned(a) -> np.ndarray:
    """C-contiguous, aligned float64 (arrays unpickled by dask may be unaligned views)."""
    a = np.ascontiguousarray(a, dtype="float64")
    return a if a.flags.aligned else a.copy()


@dataclass(frozen=True)
class BatchFit:
    """Fits of many data sets: POI x (n,), -2 log L (n,), nuisances (n, p-1), converged (n,)."""

    x: np.ndarray
    nll2: np.ndarray
    nuisances: np.ndarray
    converged: np.ndarray

    def take(self, idx) -> "BatchFit":
        return BatchFit(self.x[idx], self.nll2[idx], self.nuisances[idx], self.converged[idx])

    def point(self, i: int) -> FitPoint:
        return FitPoint(float(self.x[i]), float(self.nll2[i]), self.nuisances[i], bool(self.converged[i]))


def _choose(better: np.ndarray, a: BatchFit, b: BatchFit) -> BatchFit:
    """Element-wise a where ``better`` else b."""
    return BatchFit(np.where(better, a.x, b.x), np.where(better, a.nll2, b.nll2),
                    np.where(better[:, None], a.nuisances, b.nuisances), np.where(better, a.converged, b.converged))


class BatchProfileLikelihood:
    """The graph of a single-dataset :class:`ProfileLikelihood`, vectorised over data sets.

    Templates are the ones currently loaded in ``pl`` (shared variables, so ``pl.load`` swaps
    them here too). Counts are passed per call as an (n_toys, n_bins) array.
    """

    def __init__(self, pl: ProfileLikelihood):
        import pytensor
        import pytensor.tensor as pt
        from pytensor.graph.replace import vectorize_graph

        if getattr(pl, "tpls", None) is not None:
            raise ValueError("batched fits support single-dataset likelihoods only")
        self.pl = pl
        self.n_params = 1 + int(sum(pl._sizes))
        theta = pt.matrix("theta_batch", dtype="float64")
        counts = pt.matrix("counts_batch", dtype="float64")
        replace = {pl.theta_graph: theta, pl.model["observed_counts"]: counts}
        inputs = [theta, counts]
        self._chi2 = pl.likelihood == "chi2"
        if self._chi2:  # the Gaussian widths follow each toy's counts
            sigma = pt.matrix("chi2_sigma_batch", dtype="float64")
            replace[pl.model["chi2_sigma"]] = sigma
            inputs.append(sigma)
        nll2 = vectorize_graph(pl.nll2_graph, replace=replace)
        grad = pt.grad(nll2.sum(), theta)  # toys are independent: row i is the gradient of toy i
        self._fn = pytensor.function(inputs, [nll2, grad], on_unused_input="ignore")
        self.n_evaluations = 0  # toy-evaluations of (value, gradient)
        self.n_fallback = 0  # toys refitted by the scalar path

    # -- evaluation -----------------------------------------------------------------------------
    def _extra(self, counts: np.ndarray) -> list:
        if not self._chi2:
            return []
        from .likelihood import chi2_sigma

        return [chi2_sigma(counts, self.pl.tpl.background_errors)]

    def value_and_grad(self, theta: np.ndarray, counts: np.ndarray, extra=None) -> tuple[np.ndarray, np.ndarray]:
        """(-2 log L (n,), gradient (n, p)) at theta (n, p) = (x, nuisances) for counts (n, n_bins)."""
        theta, counts = _aligned(theta), _aligned(counts)
        extra = self._extra(counts) if extra is None else extra
        v, g = self._fn(theta, counts, *extra)
        self.n_evaluations += len(theta)
        v = np.asarray(v, dtype=float).copy()
        g = np.asarray(g, dtype=float).copy()
        bad = ~np.isfinite(v)
        v[bad] = BAD_VALUE
        g[bad] = 0.0
        return v, np.nan_to_num(g, nan=0.0, posinf=BAD_VALUE, neginf=-BAD_VALUE)

    def _hessian(self, theta, counts, extra, grad, free_base) -> np.ndarray:
        """Forward-difference Hessian (n, p, p) in the coordinates free in this fit (``free_base``,
        the same for every toy, so a toy's Hessian does not depend on the other toys; one call)."""
        n, p = theta.shape
        cols = [j for j in range(p) if free_base[j]]
        h = FD_STEP * np.maximum(1.0, np.abs(theta[:, cols]))  # (n, k)
        shifted = np.repeat(theta[None], len(cols), axis=0)  # (k, n, p)
        for c, j in enumerate(cols):
            shifted[c, :, j] += h[:, c]
        rep = lambda a: np.concatenate([a] * len(cols))  # noqa: E731
        _, g = self.value_and_grad(shifted.reshape(-1, p), rep(counts), [rep(e) for e in extra])
        hess = np.zeros((n, p, p))
        for c, j in enumerate(cols):
            hess[:, :, j] = (g[c * n:(c + 1) * n] - grad) / h[:, c, None]
        return 0.5 * (hess + np.swapaxes(hess, 1, 2))

    # -- minimisation -----------------------------------------------------------------------------
    def _minimise(self, theta0: np.ndarray, counts: np.ndarray, fix_x: bool,
                  hess0: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Minimise each row of theta0 (x fixed if ``fix_x``, else x >= 0).

        Quasi-Newton: the Hessian starts from ``hess0`` (n, p, p) if given, else forward differences,
        and is updated by BFGS; a toy whose line search fails gets a fresh finite-difference Hessian.
        Returns theta, -2 log L, converged and the final Hessians."""
        theta = np.array(theta0, dtype=float)
        n, p = theta.shape
        extra = self._extra(counts)
        f, g = self.value_and_grad(theta, counts, extra)
        converged = np.zeros(n, dtype=bool)
        failed = np.zeros(n, dtype=bool)
        free_base = np.ones(p, dtype=bool)
        free_base[0] = not fix_x
        hess = np.zeros((n, p, p)) if hess0 is None else np.array(hess0, dtype=float)
        fresh = np.zeros(n, dtype=bool)  # Hessian from finite differences at the current point
        need_fd = np.ones(n, dtype=bool) if hess0 is None else np.zeros(n, dtype=bool)
        pinned = np.zeros(n, dtype=bool)  # x held at its bound in the last iteration
        if p == 1 and fix_x:
            return theta, f, np.ones(n, dtype=bool), hess
        for it in range(MAX_NEWTON):
            idx = np.flatnonzero(~converged & ~failed)
            if idx.size == 0:
                break
            th, gg, ff, kk = theta[idx], g[idx], f[idx], counts[idx]
            ex = [e[idx] for e in extra]
            free = np.tile(free_base, (idx.size, 1))
            if not fix_x:
                now_pinned = (th[:, 0] <= 0.0) & (gg[:, 0] > 0.0)  # projected: held at the bound
                need_fd[idx[pinned[idx] & ~now_pinned]] = True  # released: its x row is stale
                pinned[idx] = now_pinned
                free[:, 0] &= ~now_pinned
            fd = need_fd[idx]
            if fd.any():
                rows = idx[fd]
                hess[rows] = self._hessian(th[fd], kk[fd], [e[fd] for e in ex], gg[fd], free_base)
                fresh[rows], need_fd[rows] = True, False
            mask = free[:, :, None] & free[:, None, :]
            h_use = np.where(mask, hess[idx], 0.0) + np.eye(p)[None] * (~free)[:, None, :]
            w, vecs = np.linalg.eigh(h_use)
            indefinite = w[:, 0] <= 0.0
            wmax = np.max(np.abs(w), axis=1, keepdims=True)
            w = np.maximum(np.abs(w), EIGEN_FLOOR * np.maximum(wmax, 1e-300))
            gf = np.where(free, gg, 0.0)
            step = -np.einsum("nij,nj->ni", vecs, np.einsum("nji,nj->ni", vecs, gf) / w)
            step = np.where(free, step, 0.0)
            decrement = -np.sum(gf * step, axis=1)
            gnorm = np.max(np.abs(gf), axis=1)
            # a flat direction (a normalisation run off to its bound) gives huge steps: cap them
            step *= np.minimum(1.0, MAX_STEP / np.maximum(np.max(np.abs(step), axis=1), 1e-300))[:, None]
            # slow (sublinear) approach to a bound: looser tolerances after many iterations
            # (only trusted with a finite-difference Hessian at the current point)
            late = LATE_DECREMENT_TOL[0] if it < 30 else LATE_DECREMENT_TOL[1]
            loose = (it >= 15) & (decrement < late)
            done = (decrement < DECREMENT_TOL) | (loose & fresh[idx])
            need_fd[idx[loose & ~fresh[idx]]] = True
            converged[idx[done]] = True
            todo = np.flatnonzero(~done)
            if todo.size == 0:
                continue
            t = np.ones(todo.size)
            pending = np.arange(todo.size)
            for _ in range(MAX_BACKTRACK):
                rows = todo[pending]
                trial = th[rows] + t[pending, None] * step[rows]
                if not fix_x:
                    trial[:, 0] = np.maximum(trial[:, 0], 0.0)
                fv, gv = self.value_and_grad(trial, kk[rows], [e[rows] for e in ex])
                slope = np.sum(gg[rows] * (trial - th[rows]), axis=1)
                ok = fv <= ff[rows] + 1e-4 * np.minimum(slope, 0.0)
                acc = idx[rows[ok]]
                # stalled (as scipy's L-BFGS-B ftol test): a full step that lowers -2 log L by less
                # than RELATIVE_FTOL, or any accepted step on a plateau (tiny gradient)
                stalled = ff[rows] - fv <= np.maximum(STALL_TOL, RELATIVE_FTOL * np.abs(fv))
                flat = ok & stalled & ((t[pending] == 1.0) | (gnorm[rows] < FLAT_GRAD_TOL))
                converged[idx[rows[flat]]] = True
                if ok.any():
                    self._bfgs_update(hess, acc, trial[ok] - th[rows[ok]], gv[ok] - gg[rows[ok]])
                    fresh[acc] = False
                    # quasi-Newton only in the convex region where full steps are taken
                    need_fd[acc] = indefinite[rows[ok]] | (t[pending[ok]] < 1.0)
                theta[acc], f[acc], g[acc] = trial[ok], fv[ok], gv[ok]
                pending = pending[~ok]
                if pending.size == 0:
                    break
                t[pending] *= 0.5
                stale = ~fresh[idx[todo[pending]]] & (t[pending] < 0.1)
                if stale.any():  # a poor quasi-Newton direction: retry with a fresh Hessian
                    need_fd[idx[todo[pending[stale]]]] = True
                    pending = pending[~stale]
                    if pending.size == 0:
                        break
            if pending.size:  # no sufficient decrease along the step
                rows = todo[pending]
                stale = ~fresh[idx[rows]]
                need_fd[idx[rows[stale]]] = True
                rows = rows[~stale]
                small = (decrement[rows] < 1e-6) | (gnorm[rows] < FLAT_GRAD_TOL)
                converged[idx[rows[small]]] = True  # at the optimum to rounding, or on a plateau
                failed[idx[rows[~small]]] = True
        last = ~converged & ~failed  # out of iterations: converged only on a plateau
        if last.any():
            gf = g[last].copy()
            gf[:, 0] *= not fix_x
            converged[np.flatnonzero(last)[np.max(np.abs(gf), axis=1) < FLAT_GRAD_TOL]] = True
        return theta, f, converged, hess

    @staticmethod
    def _bfgs_update(hess: np.ndarray, rows: np.ndarray, s: np.ndarray, y: np.ndarray) -> None:
        """In-place BFGS update of hess[rows] with steps s and gradient changes y (curvature > 0 only)."""
        h = hess[rows]
        hs = np.einsum("nij,nj->ni", h, s)
        sy = np.sum(s * y, axis=1)
        shs = np.sum(s * hs, axis=1)
        ok = (sy > 1e-12 * np.sqrt(np.sum(s * s, axis=1) * np.sum(y * y, axis=1))) & (shs > 0)
        upd = (y[:, :, None] * y[:, None, :]) / np.where(ok, sy, 1.0)[:, None, None] \
            - (hs[:, :, None] * hs[:, None, :]) / np.where(ok, shs, 1.0)[:, None, None]
        hess[rows] = h + np.where(ok[:, None, None], upd, 0.0)

    def fit(self, counts: np.ndarray, x=None, start: np.ndarray | None = None, x_start=0.5) -> BatchFit:
        """Fit each data set at fixed x (scalar or (n,)), or with x >= 0 free if ``x`` is None
        (starting at ``x_start``). ``start``: nuisances (p-1,) or (n, p-1); default the model's
        initial point. Unconverged toys are refitted with the scalar path."""
        counts = np.atleast_2d(np.asarray(counts, dtype="float64"))
        n = counts.shape[0]
        s0 = self.pl.start if start is None else np.asarray(start, dtype=float)
        theta0 = np.empty((n, self.n_params))
        theta0[:, 1:] = np.broadcast_to(s0, (n, self.n_params - 1))
        theta0[:, 0] = np.broadcast_to(np.asarray(x_start if x is None else x, dtype=float), (n,))
        theta, nll2, conv, _ = self._minimise(theta0, counts, fix_x=x is not None)
        out = BatchFit(theta[:, 0].copy(), nll2, theta[:, 1:].copy(), conv)
        if not conv.all():
            out = self._fallback(out, counts, x, theta0)
        return out

    def _fallback(self, fits: BatchFit, counts, x, theta0) -> BatchFit:
        """Refit unconverged toys with the scalar L-BFGS-B path (kept if better)."""
        pl = self.pl
        saved = pl.observed.copy()
        xs, nll2, nuis, conv = fits.x.copy(), fits.nll2.copy(), fits.nuisances.copy(), fits.converged.copy()
        try:
            for i in np.flatnonzero(~conv):
                self.n_fallback += 1
                pl.set_observed(counts[i])
                fp = pl.fit(None if x is None else float(theta0[i, 0]), theta0[i, 1:].copy(),
                            x_starts=(0.0, float(theta0[i, 0])))
                if fp.nll2 <= nll2[i]:
                    xs[i], nll2[i], nuis[i], conv[i] = fp.x, fp.nll2, fp.nuisances, fp.converged
        finally:
            pl.set_observed(saved)
        return BatchFit(xs, nll2, nuis, conv)

    def nuisance_starts(self) -> list[np.ndarray]:
        """Starting nuisances: the model's initial point, and the same with the energy scale at its
        prior mean -/+ ``SCALE_START_SIGMAS`` sigma (inside the template grid). The energy scale
        shifts spectral features, so -2 log L can have local minima in it."""
        pl = self.pl
        prior, grid = pl.tpl.scale_prior, pl.tpl.scale_grid
        key = (prior.structure(), prior.mean(), prior.std(), float(grid[0]), float(grid[-1]), tuple(pl.start))
        if getattr(self, "_starts_key", None) == key:
            return self._starts
        starts = [pl.start.copy()]
        if "energy_scale" in pl._names:
            j = int(np.sum(pl._sizes[:pl._names.index("energy_scale")]))
            rv = pl.model["energy_scale"]
            transform = pl.model.rvs_to_transforms.get(rv)
            margin = 0.02 * (grid[-1] - grid[0])
            for k in (-SCALE_START_SIGMAS, SCALE_START_SIGMAS):
                value = float(np.clip(prior.mean() + k * prior.std(), grid[0] + margin, grid[-1] - margin))
                if transform is not None:
                    value = float(transform.forward(np.asarray(value), *rv.owner.inputs).eval())
                start = pl.start.copy()
                start[j] = value
                starts.append(start)
        self._starts_key, self._starts = key, starts
        return starts

    def best_fit(self, counts: np.ndarray, x_starts=(0.5, 2.0)) -> BatchFit:
        """Global best fit with x >= 0 per data set, the lowest -2 log L of: x = 0 fits from each
        of :meth:`nuisance_starts`; free fits from each x in ``x_starts`` (scalars or (n,) arrays)
        at the model's initial point (the scalar path's starts); a free fit from the first x start
        at the best x = 0 nuisances."""
        counts = np.atleast_2d(np.asarray(counts, dtype="float64"))
        best = None
        for start in self.nuisance_starts():
            zero = self.fit(counts, 0.0, start=start)
            best = zero if best is None else _choose(zero.nll2 < best.nll2, zero, best)
        best = BatchFit(np.zeros(len(counts)), best.nll2, best.nuisances, best.converged)
        starts = [(x0, None) for x0 in x_starts] + [(x_starts[0], best.nuisances)]
        for x0, nuis in starts:
            free = self.fit(counts, None, start=nuis, x_start=x0)
            best = _choose(free.nll2 < best.nll2, free, best)
        return best

    def profile_delta(self, counts: np.ndarray, x, best: BatchFit) -> tuple[np.ndarray, BatchFit]:
        """Delta chi2 = -2 ln lambda(x) per data set (>= 0) and the conditional fits at x."""
        cond = self.fit(counts, x, start=best.nuisances)
        return np.maximum(cond.nll2 - np.minimum(best.nll2, cond.nll2), 0.0), cond

    def upper_limits(self, counts: np.ndarray, best: BatchFit, cl: float = 0.9,
                     thresholds=("xmass", "one_sided")) -> dict[str, np.ndarray]:
        """x where the profile Delta chi2 crosses each threshold above the best fit (as
        :meth:`ProfileLikelihood.upper_limit`; inf beyond ``X_MAX_FACTOR``)."""
        counts = np.atleast_2d(np.asarray(counts, dtype="float64"))
        out: dict[str, np.ndarray] = {}
        hi_known = None
        for name in sorted(thresholds, key=lambda t: -delta_chi2_threshold(cl, t)):  # widest first
            out[name] = self._crossing(counts, best, delta_chi2_threshold(cl, name), hi_known)
            hi_known = np.where(np.isfinite(out[name]), out[name], np.nan)
        return {t: out[t] for t in thresholds}

    def _crossing(self, counts, best: BatchFit, target: float, hi_known) -> np.ndarray:
        """Batched safeguarded Newton/bisection for Delta chi2(x) = target, x > best.x."""
        n = len(counts)
        lo = best.x.copy()
        hi = np.maximum(1.5 * lo, 0.5)
        if hi_known is not None:
            hi = np.where(np.isfinite(hi_known) & (hi_known > lo), hi_known * (1 + 1e-9), hi)
        result = np.full(n, np.nan)
        # bracket: double hi until the excess is positive
        h_hi = np.empty(n)
        d_hi = np.empty(n)
        h_lo = np.full(n, -target)  # excess at lo (-target at the best fit)
        todo = np.arange(n)
        while todo.size:
            cond = self.fit(counts[todo], hi[todo], start=best.nuisances[todo])
            h = cond.nll2 - best.nll2[todo] - target
            _, g = self.value_and_grad(np.column_stack([hi[todo], cond.nuisances]), counts[todo])
            pos = h >= 0
            done = todo[pos]
            h_hi[done], d_hi[done] = h[pos], g[pos, 0]
            grow = todo[~pos]
            lo[grow], h_lo[grow] = hi[grow], h[~pos]
            hi[grow] = hi[grow] * 2.0
            over = hi[grow] > X_MAX_FACTOR
            result[grow[over]] = np.inf
            todo = grow[~over]
        active = np.flatnonzero(~np.isinf(result))
        x_cur, h_cur, d_cur = hi.copy(), h_hi.copy(), d_hi.copy()
        for _ in range(100):
            if active.size == 0:
                break
            a = active
            width = hi[a] - lo[a]
            tol = ROOT_XTOL + ROOT_RTOL * np.abs(hi[a])
            fin = (width <= tol) | (np.abs(h_cur[a]) < 1e-10)
            result[a[fin]] = np.where(np.abs(h_cur[a[fin]]) < 1e-10, x_cur[a[fin]],
                                      lo[a[fin]] - h_lo[a[fin]] * (hi[a[fin]] - lo[a[fin]])
                                      / (h_hi[a[fin]] - h_lo[a[fin]]))
            a = a[~fin]
            if a.size == 0:
                break
            newton = x_cur[a] - h_cur[a] / np.where(d_cur[a] > 0, d_cur[a], np.nan)
            secant = lo[a] - h_lo[a] * (hi[a] - lo[a]) / (h_hi[a] - h_lo[a])
            mid = 0.5 * (lo[a] + hi[a])
            inside = lambda z: np.isfinite(z) & (z > lo[a]) & (z < hi[a])  # noqa: E731
            x_new = np.where(inside(newton), newton, np.where(inside(secant), secant, mid))
            # keep progress: if the last step did not shrink the bracket by half, bisect
            x_new = np.where(np.abs(x_new - x_cur[a]) > 0.5 * (hi[a] - lo[a]), mid, x_new)
            cond = self.fit(counts[a], x_new, start=best.nuisances[a])  # the scalar path's start
            h = cond.nll2 - best.nll2[a] - target
            _, g = self.value_and_grad(np.column_stack([x_new, cond.nuisances]), counts[a])
            up = h >= 0
            hi[a[up]], h_hi[a[up]] = x_new[up], h[up]
            lo[a[~up]], h_lo[a[~up]] = x_new[~up], h[~up]
            x_cur[a], h_cur[a], d_cur[a] = x_new, h, g[:, 0]
            active = a
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


def batch_limits(bpl: BatchProfileLikelihood, counts: np.ndarray, cl: float = 0.9,
                 thresholds=("xmass", "one_sided")) -> np.ndarray:
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

