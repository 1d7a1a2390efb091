"""Many profile-likelihood fits at once: a damped quasi-Newton minimiser over the batched -2 log L.

Toy ensembles (expected-limit bands, coverage, Feldman-Cousins) need the same fits -- best fit,
conditional fits at fixed x -- for hundreds of Poisson data sets. :class:`BatchMinimiser` minimises
the batched ``-2 log L`` of :class:`~bayes_xmass.infer.batch_objective.BatchObjective` for all toys
together with a damped Newton method:

- Hessian by forward differences of the batched analytic gradient, made positive definite by
  taking absolute eigenvalues (saddle-free Newton), updated by BFGS, Armijo backtracking line search;
- the POI bound x >= 0 by projection (x at 0 with dL/dx > 0 is held fixed for that step);
- convergence when the Newton decrement g.H^-1.g < ``DECREMENT_TOL`` (in units of -2 log L).

Every toy has its own step, line search and convergence flag, and a converged toy is frozen, so a
toy's result does not depend on which other toys share its batch. Toys that fail to converge are
refitted with the scalar L-BFGS-B path of :class:`~bayes_xmass.infer.frequentist.ProfileLikelihood`.
The independent starts of a best fit are minimised as one batch; the saddle-free step uses a
Cholesky factor where the Hessian is well-conditioned and positive definite (the same step, a
tenth of the eigendecomposition's cost).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bayes_xmass.infer.batch_objective import BatchObjective
from bayes_xmass.infer.frequentist import FitPoint

__all__ = ["BatchFit", "BatchMinimiser", "choose", "cholesky_rows", "saddle_free_step"]

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


@dataclass(frozen=True)
class BatchFit:
    """Fits of many data sets: POI x (n,), -2 log L (n,), nuisances (n, p-1), converged (n,);
    optionally the gradient of -2 log L there (n, p) (dDelta chi2/dx of a conditional fit)."""

    x: np.ndarray
    nll2: np.ndarray
    nuisances: np.ndarray
    converged: np.ndarray
    grad: np.ndarray | None = None

    def take(self, idx) -> BatchFit:
        return BatchFit(
            self.x[idx],
            self.nll2[idx],
            self.nuisances[idx],
            self.converged[idx],
            None if self.grad is None else self.grad[idx],
        )

    def point(self, i: int) -> FitPoint:
        return FitPoint(float(self.x[i]), float(self.nll2[i]), self.nuisances[i], bool(self.converged[i]))


def choose(better: np.ndarray, a: BatchFit, b: BatchFit) -> BatchFit:
    """Element-wise a where ``better`` else b."""
    grad = None if a.grad is None or b.grad is None else np.where(better[:, None], a.grad, b.grad)
    return BatchFit(
        np.where(better, a.x, b.x),
        np.where(better, a.nll2, b.nll2),
        np.where(better[:, None], a.nuisances, b.nuisances),
        np.where(better, a.converged, b.converged),
        grad,
    )


def cholesky_rows(h: np.ndarray) -> np.ndarray:
    """Cholesky factors of a stack of symmetric matrices, NaN for the ones that are not positive
    definite (``np.linalg.cholesky`` raises for the whole stack: its gufunc gives NaN for those;
    without it, bisect)."""
    if _CHOLESKY_GUFUNC is not None:
        with np.errstate(invalid="ignore"):
            return _CHOLESKY_GUFUNC(h, signature="d->d")
    try:
        return np.linalg.cholesky(h)
    except np.linalg.LinAlgError:
        if len(h) == 1:
            return np.full_like(h, np.nan)
        m = len(h) // 2
        return np.concatenate([cholesky_rows(h[:m]), cholesky_rows(h[m:])])


try:  # numpy's private linalg gufunc (numpy >= 1.8), with a fallback above
    from numpy.linalg._umath_linalg import cholesky_lo as _CHOLESKY_GUFUNC
except ImportError:  # pragma: no cover
    _CHOLESKY_GUFUNC = None


def saddle_free_step(h: np.ndarray, g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Saddle-free Newton steps -|H|^-1 g for a stack of symmetric H (n, p, p) and g (n, p), with
    |H| = V |w| V^T, |eigenvalues| floored at ``EIGEN_FLOOR`` of the largest; and whether each H is
    indefinite (smallest eigenvalue <= 0).

    For a well-conditioned positive definite H this is the Newton step -H^-1 g, computed from the
    Cholesky factor (a tenth of the eigendecomposition's cost): when cond(H) <= tr(H) tr(H^-1) is
    below 0.1 / EIGEN_FLOOR no eigenvalue is floored. The others get the eigendecomposition."""
    step = np.empty_like(g)
    slow = np.ones(len(g), dtype=bool)
    with np.errstate(all="ignore"):
        chol = cholesky_rows(h)
        pd = np.isfinite(chol).all(axis=(1, 2))
        if pd.any():
            linv = np.linalg.inv(np.where(pd[:, None, None], chol, np.eye(h.shape[1])))
            bound = np.trace(h, axis1=1, axis2=2) * np.sum(linv * linv, axis=(1, 2))
            fast = pd & (bound < 0.1 / EIGEN_FLOOR) & np.isfinite(bound)
            step[fast] = -np.einsum("nji,nj->ni", linv[fast], np.einsum("nij,nj->ni", linv[fast], g[fast]))
            slow = ~fast
    indefinite = np.zeros(len(g), dtype=bool)
    if slow.any():
        w, vecs = np.linalg.eigh(h[slow])
        indefinite[slow] = w[:, 0] <= 0.0
        wmax = np.max(np.abs(w), axis=1, keepdims=True)
        w = np.maximum(np.abs(w), EIGEN_FLOOR * np.maximum(wmax, 1e-300))
        step[slow] = -np.einsum("nij,nj->ni", vecs, np.einsum("nji,nj->ni", vecs, g[slow]) / w)
    return step, indefinite


class BatchMinimiser(BatchObjective):
    """Best fits and conditional fits of many data sets with the batched -2 log L of a
    single-dataset :class:`ProfileLikelihood` (see the module docstring)."""

    # -- minimisation -----------------------------------------------------------------------------
    def _minimise(self, theta0: np.ndarray, counts: np.ndarray, fix_x: bool, hess0: np.ndarray | None = None):
        """Minimise each row of theta0 (x fixed if ``fix_x``, else x >= 0; ``fix_x`` per row or for all).

        Quasi-Newton: the Hessian starts from ``hess0`` (n, p, p) if given, else forward differences,
        and is updated by BFGS; a toy whose line search fails gets a fresh finite-difference Hessian.
        Returns theta, -2 log L, converged, the final Hessians and the gradients at theta."""
        theta = np.array(theta0, dtype=float)
        n, p = theta.shape
        extra = self.extra_inputs(counts)
        f, g = self.value_and_grad(theta, counts, extra)
        converged = np.zeros(n, dtype=bool)
        failed = np.zeros(n, dtype=bool)
        fixed = np.broadcast_to(np.asarray(fix_x, dtype=bool), (n,)).copy()
        free_base = np.ones((n, p), dtype=bool)
        free_base[:, 0] = ~fixed
        hess = np.zeros((n, p, p)) if hess0 is None else np.array(hess0, dtype=float)
        fresh = np.zeros(n, dtype=bool)  # Hessian from finite differences at the current point
        need_fd = np.ones(n, dtype=bool) if hess0 is None else np.zeros(n, dtype=bool)
        pinned = np.zeros(n, dtype=bool)  # x held at its bound in the last iteration
        if p == 1 and fixed.all():
            return theta, f, np.ones(n, dtype=bool), hess, g
        for it in range(MAX_NEWTON):
            idx = np.flatnonzero(~converged & ~failed)
            if idx.size == 0:
                break
            th, gg, ff, kk = theta[idx], g[idx], f[idx], counts[idx]
            ex = [e[idx] for e in extra]
            free = free_base[idx]
            now_pinned = ~fixed[idx] & (th[:, 0] <= 0.0) & (gg[:, 0] > 0.0)  # projected: held at the bound
            need_fd[idx[pinned[idx] & ~now_pinned]] = True  # released: its x row is stale
            pinned[idx] = now_pinned
            free[:, 0] &= ~now_pinned
            fd = need_fd[idx]
            if fd.any():
                rows = idx[fd]
                hess[rows] = self.hessian(th[fd], kk[fd], [e[fd] for e in ex], gg[fd], free_base[rows])
                fresh[rows], need_fd[rows] = True, False
            mask = free[:, :, None] & free[:, None, :]
            h_use = np.where(mask, hess[idx], 0.0) + np.eye(p)[None] * (~free)[:, None, :]
            gf = np.where(free, gg, 0.0)
            step, indefinite = saddle_free_step(h_use, gf)
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
                trial[:, 0] = np.where(fixed[idx[rows]], trial[:, 0], np.maximum(trial[:, 0], 0.0))
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
            gf[:, 0] *= ~fixed[last]
            converged[np.flatnonzero(last)[np.max(np.abs(gf), axis=1) < FLAT_GRAD_TOL]] = True
        return theta, f, converged, hess, g

    @staticmethod
    def _bfgs_update(hess: np.ndarray, rows: np.ndarray, s: np.ndarray, y: np.ndarray) -> None:
        """In-place BFGS update of hess[rows] with steps s and gradient changes y (curvature > 0 only)."""
        h = hess[rows]
        hs = np.einsum("nij,nj->ni", h, s)
        sy = np.sum(s * y, axis=1)
        shs = np.sum(s * hs, axis=1)
        ok = (sy > 1e-12 * np.sqrt(np.sum(s * s, axis=1) * np.sum(y * y, axis=1))) & (shs > 0)
        upd = (y[:, :, None] * y[:, None, :]) / np.where(ok, sy, 1.0)[:, None, None] - (
            hs[:, :, None] * hs[:, None, :]
        ) / np.where(ok, shs, 1.0)[:, None, None]
        hess[rows] = h + np.where(ok[:, None, None], upd, 0.0)

    def fit(self, counts: np.ndarray, x=None, start: np.ndarray | None = None, x_start=0.5) -> BatchFit:
        """Fit each data set at fixed x (scalar or (n,)), or with x >= 0 free if ``x`` is None
        (starting at ``x_start``). ``start``: nuisances (p-1,) or (n, p-1); default the model's
        initial point. Unconverged toys are refitted with the scalar path."""
        return self.fit_many(counts, [(x, start, x_start)])[0]

    def fit_many(self, counts: np.ndarray, specs) -> list[BatchFit]:
        """Several fits of the same data sets, (x, start, x_start) each as in :meth:`fit`, minimised
        together (one batch: fewer, larger calls; each toy's result is the same as alone)."""
        counts = np.atleast_2d(np.asarray(counts, dtype="float64"))
        n, p = counts.shape[0], self.n_params
        theta0 = np.empty((len(specs), n, p))
        fixed = np.empty((len(specs), n), dtype=bool)
        for k, (x, start, x_start) in enumerate(specs):
            s0 = self.pl.start if start is None else np.asarray(start, dtype=float)
            theta0[k, :, 1:] = np.broadcast_to(s0, (n, p - 1))
            theta0[k, :, 0] = np.broadcast_to(np.asarray(x_start if x is None else x, dtype=float), (n,))
            fixed[k] = x is not None
        theta, nll2, conv, _, grad = self._minimise(
            theta0.reshape(-1, p), np.tile(counts, (len(specs), 1)), fix_x=fixed.ravel()
        )
        out = []
        for k, (x, *_) in enumerate(specs):
            b = slice(k * n, (k + 1) * n)
            fit = BatchFit(theta[b, 0].copy(), nll2[b], theta[b, 1:].copy(), conv[b], grad[b])
            if not fit.converged.all():
                fit = self._fallback(fit, counts, x, theta0[k])
            out.append(fit)
        return out

    def _fallback(self, fits: BatchFit, counts, x, theta0) -> BatchFit:
        """Refit unconverged toys with the scalar L-BFGS-B path (kept if better; their gradient is
        re-evaluated)."""
        pl = self.pl
        saved = pl.observed.copy()
        xs, nll2, nuis, conv = fits.x.copy(), fits.nll2.copy(), fits.nuisances.copy(), fits.converged.copy()
        replaced = []
        try:
            for i in np.flatnonzero(~conv):
                self.n_fallback += 1
                pl.set_observed(counts[i])
                fp = pl.fit(
                    None if x is None else float(theta0[i, 0]),
                    theta0[i, 1:].copy(),
                    x_starts=(0.0, float(theta0[i, 0])),
                )
                if fp.nll2 <= nll2[i]:
                    xs[i], nll2[i], nuis[i], conv[i] = fp.x, fp.nll2, fp.nuisances, fp.converged
                    replaced.append(i)
        finally:
            pl.set_observed(saved)
        grad = None if fits.grad is None else fits.grad.copy()
        if replaced and grad is not None:
            r = np.array(replaced)
            grad[r] = self.value_and_grad(np.column_stack([xs[r], nuis[r]]), counts[r])[1]
        return BatchFit(xs, nll2, nuis, conv, grad)

    def nuisance_starts(self) -> list[np.ndarray]:
        """Starting nuisances: the model's initial point, and the same with the energy scale at its
        prior mean -/+ ``SCALE_START_SIGMAS`` sigma (inside the template grid). The energy scale
        shifts spectral features, so -2 log L can have local minima in it."""
        pl = self.pl
        if getattr(pl, "tpl", None) is None:  # a combination: its energy scales are per dataset (prefixed)
            return [pl.start.copy()]
        prior, grid = pl.tpl.scale_prior, pl.tpl.scale_grid
        key = (prior.structure(), prior.mean(), prior.std(), float(grid[0]), float(grid[-1]), tuple(pl.start))
        if getattr(self, "_starts_key", None) == key:
            return self._starts
        starts = [pl.start.copy()]
        if "energy_scale" in pl._names:
            j = int(np.sum(pl._sizes[: pl._names.index("energy_scale")]))
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
        starts = self.nuisance_starts()
        # the x = 0 fits and the free fits from the initial point do not depend on each other: one batch
        fits = self.fit_many(counts, [(0.0, s, 0.5) for s in starts] + [(None, None, x0) for x0 in x_starts])
        best = None
        for zero in fits[: len(starts)]:
            best = zero if best is None else choose(zero.nll2 < best.nll2, zero, best)
        best = BatchFit(np.zeros(len(counts)), best.nll2, best.nuisances, best.converged, best.grad)
        fits = fits[len(starts) :] + [self.fit(counts, None, start=best.nuisances, x_start=x_starts[0])]
        for free in fits:
            best = choose(free.nll2 < best.nll2, free, best)
        return best

    def profile_delta(self, counts: np.ndarray, x, best: BatchFit) -> tuple[np.ndarray, BatchFit]:
        """Delta chi2 = -2 ln lambda(x) per data set (>= 0) and the conditional fits at x."""
        cond = self.fit(counts, x, start=best.nuisances)
        return np.maximum(cond.nll2 - np.minimum(best.nll2, cond.nll2), 0.0), cond
