"""Many profile-likelihood fits at once: the frequentist graph vectorised over toy data sets.

Toy ensembles (expected-limit bands, coverage, Feldman-Cousins) need the same fits -- best fit,
conditional fits at fixed x, Delta chi2 limits -- for hundreds of Poisson data sets.
:class:`BatchProfileLikelihood` takes the ``-2 log L(theta)`` graph of a
:class:`~bayes_xmass.infer.frequentist.ProfileLikelihood` (so the same expected-counts function and
constraints), vectorises it over a leading toy axis with ``pytensor.graph.replace.vectorize_graph``
and minimises all toys together with a damped Newton method:

- Hessian by forward differences of the batched analytic gradient, made positive definite by
  taking absolute eigenvalues (saddle-free Newton), Armijo backtracking line search;
- the POI bound x >= 0 by projection (x at 0 with dL/dx > 0 is held fixed for that step);
- convergence when the Newton decrement g.H^-1.g < ``DECREMENT_TOL`` (in units of -2 log L).

Every toy has its own step, line search and convergence flag, and a converged toy is frozen, so a
toy's result does not depend on which other toys share its batch. Toys that fail to converge are
refitted with the scalar L-BFGS-B path of :class:`~bayes_xmass.infer.frequentist.ProfileLikelihood`.

Cost: almost all of it is the batched (value, gradient) function (~10-15 us per toy and call for
the benchmark fits), so the work is organised to call it less and more cheaply: it is called in
blocks of rows whose temporaries stay in cache (``EVAL_CHUNK_BYTES``), with its data-only terms
(log k!) computed once per fit; the independent starts of a best fit are minimised as one batch;
the saddle-free step uses a Cholesky factor where the Hessian is well-conditioned and positive
definite (the same step, a tenth of the eigendecomposition's cost); the limit search
(:meth:`BatchProfileLikelihood.upper_limits`) brackets as the scalar path, then takes Newton steps
in log Delta chi2 vs log(x - best x) with the envelope-theorem slope of each conditional fit, and
shares its fits between the thresholds.

Example (benchmark magnetic-moment fit, background-only toys)::

    >>> from bayes_xmass.infer.toys import toy_counts
    >>> bpl = BatchProfileLikelihood(pl)                         # doctest: +SKIP
    >>> counts = toy_counts(pl, 0.0, 300, seed=1)                # doctest: +SKIP
    >>> best = bpl.best_fit(counts)                              # doctest: +SKIP
    >>> limits = bpl.upper_limits(counts, best, cl=0.9)          # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bayes_xmass.infer.frequentist import X_MAX_FACTOR, FitPoint, ProfileLikelihood, delta_chi2_threshold

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
EVAL_CHUNK_BYTES = 1.5e6  # spline templates gathered per call of the batched function (bytes)


def _data_only_terms(out, theta, data_inputs) -> list:
    """The largest subexpressions of ``out`` that depend on the data inputs but not on ``theta``
    (with the toy axis first), where they enter the theta-dependent part of the graph."""
    from pytensor.graph.traversal import io_toposort

    on_theta, on_data = {theta}, set(data_inputs)
    terms = []
    for node in io_toposort([theta, *data_inputs], [out]):
        if any(i in on_theta for i in node.inputs):
            on_theta.update(node.outputs)
            terms += [i for i in node.inputs if i in on_data and i.owner is not None and i not in terms]
        elif any(i in on_data for i in node.inputs):
            on_data.update(node.outputs)
    return [v for v in terms if v.ndim >= 1]


def _eval_chunk(pl: ProfileLikelihood) -> int:
    """Rows per call of the batched function: the spline templates it gathers for a block of toys
    (4 coefficients x components x bins each) stay in cache, and its temporaries below the
    allocator's trim threshold (larger ones are page-faulted afresh on every call: 3x slower)."""
    try:
        components = sum(int(t.coefficients.shape[2]) for t in (pl.tpl.backgrounds, pl.tpl.signal))
    except (AttributeError, IndexError, TypeError):
        components = 10
    per_row = 8 * 4 * max(components, 1) * max(int(pl.n_bins), 1)
    return int(np.clip(EVAL_CHUNK_BYTES // per_row, 8, 256))


def _aligned(a) -> np.ndarray:
    """C-contiguous, aligned float64 (arrays unpickled by dask may be unaligned views)."""
    a = np.ascontiguousarray(a, dtype="float64")
    return a if a.flags.aligned else a.copy()


@dataclass(frozen=True)
class BatchFit:
    """Fits of many data sets: POI x (n,), -2 log L (n,), nuisances (n, p-1), converged (n,);
    optionally the gradient of -2 log L there (n, p) (dDelta chi2/dx of a conditional fit)."""

    x: np.ndarray
    nll2: np.ndarray
    nuisances: np.ndarray
    converged: np.ndarray
    grad: np.ndarray | None = None

    def take(self, idx) -> "BatchFit":
        return BatchFit(self.x[idx], self.nll2[idx], self.nuisances[idx], self.converged[idx],
                        None if self.grad is None else self.grad[idx])

    def point(self, i: int) -> FitPoint:
        return FitPoint(float(self.x[i]), float(self.nll2[i]), self.nuisances[i], bool(self.converged[i]))


def _choose(better: np.ndarray, a: BatchFit, b: BatchFit) -> BatchFit:
    """Element-wise a where ``better`` else b."""
    grad = None if a.grad is None or b.grad is None else np.where(better[:, None], a.grad, b.grad)
    return BatchFit(np.where(better, a.x, b.x), np.where(better, a.nll2, b.nll2),
                    np.where(better[:, None], a.nuisances, b.nuisances), np.where(better, a.converged, b.converged),
                    grad)


def _cholesky_rows(h: np.ndarray) -> np.ndarray:
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
        return np.concatenate([_cholesky_rows(h[:m]), _cholesky_rows(h[m:])])


try:  # numpy's private linalg gufunc (numpy >= 1.8), with a fallback above
    from numpy.linalg._umath_linalg import cholesky_lo as _CHOLESKY_GUFUNC
except ImportError:  # pragma: no cover
    _CHOLESKY_GUFUNC = None


def _saddle_free_step(h: np.ndarray, g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Saddle-free Newton steps -|H|^-1 g for a stack of symmetric H (n, p, p) and g (n, p), with
    |H| = V |w| V^T, |eigenvalues| floored at ``EIGEN_FLOOR`` of the largest; and whether each H is
    indefinite (smallest eigenvalue <= 0).

    For a well-conditioned positive definite H this is the Newton step -H^-1 g, computed from the
    Cholesky factor (a tenth of the eigendecomposition's cost): when cond(H) <= tr(H) tr(H^-1) is
    below 0.1 / EIGEN_FLOOR no eigenvalue is floored. The others get the eigendecomposition."""
    step = np.empty_like(g)
    slow = np.ones(len(g), dtype=bool)
    with np.errstate(all="ignore"):
        chol = _cholesky_rows(h)
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


class BatchProfileLikelihood:
    """The graph of a single-dataset :class:`ProfileLikelihood`, vectorised over data sets.

    Templates are the ones currently loaded in ``pl`` (shared variables, so ``pl.load`` swaps
    them here too). Counts are passed per call as an (n_toys, n_bins) array.
    """

    def __init__(self, pl: ProfileLikelihood):
        import pytensor
        import pytensor.tensor as pt
        from pytensor.graph.replace import graph_replace, vectorize_graph

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
        # terms that depend on the data only (log k! of the Poisson likelihood) are computed once per
        # fit by a separate function (same ops, same mode: the same numbers) and passed in
        data_terms = _data_only_terms(nll2, theta, inputs[1:])
        self._data_fn = None
        if data_terms:
            data_fn = pytensor.function(inputs[1:], data_terms, on_unused_input="ignore")
            probe = [np.ones((2, pl.n_bins))] * (len(inputs) - 1)
            if all(np.shape(v)[:1] == (2,) for v in data_fn(*probe)):  # one row per toy, as expected
                self._data_fn = data_fn
                hoisted = [v.type() for v in data_terms]
                nll2 = graph_replace(nll2, dict(zip(data_terms, hoisted)), strict=False)
                inputs = inputs + hoisted
        grad = pt.grad(nll2.sum(), theta)  # toys are independent: row i is the gradient of toy i
        self._fn = pytensor.function(inputs, [nll2, grad], on_unused_input="ignore")
        self._fn.trust_input = True  # inputs are C-contiguous float64 arrays (value_and_grad)
        self.eval_chunk = _eval_chunk(pl)
        self.n_evaluations = 0  # toy-evaluations of (value, gradient)
        self.n_fallback = 0  # toys refitted by the scalar path

    # -- evaluation -----------------------------------------------------------------------------
    def _extra(self, counts: np.ndarray) -> list:
        """Per-toy inputs besides theta and counts: the chi-square widths, the data-only terms."""
        extra = []
        if self._chi2:
            from bayes_xmass.model.likelihood import chi2_sigma

            extra.append(_aligned(chi2_sigma(counts, self.pl.tpl.background_errors)))
        if self._data_fn is not None:
            extra += [_aligned(np.array(v, dtype=float)) for v in self._data_fn(_aligned(counts), *extra)]
        return extra

    def value_and_grad(self, theta: np.ndarray, counts: np.ndarray, extra=None) -> tuple[np.ndarray, np.ndarray]:
        """(-2 log L (n,), gradient (n, p)) at theta (n, p) = (x, nuisances) for counts (n, n_bins)."""
        theta, counts = _aligned(theta), _aligned(counts)
        extra = self._extra(counts) if extra is None else [_aligned(e) for e in extra]
        n, k = len(theta), self.eval_chunk
        # in blocks of eval_chunk rows (rows are independent: the numbers do not depend on the blocking)
        if n <= k:
            v, g = self._fn(theta, counts, *extra)
            v, g = np.array(v, dtype=float), np.array(g, dtype=float)
        else:
            v, g = np.empty(n), np.empty(theta.shape)
            for i in range(0, n, k):
                v[i:i + k], g[i:i + k] = self._fn(theta[i:i + k], counts[i:i + k], *[e[i:i + k] for e in extra])
        self.n_evaluations += n
        if not np.isfinite(v).all():
            bad = ~np.isfinite(v)
            v[bad] = BAD_VALUE
            g[bad] = 0.0
        if not np.isfinite(g).all():
            g = np.nan_to_num(g, nan=0.0, posinf=BAD_VALUE, neginf=-BAD_VALUE)
        return v, g

    def _hessian(self, theta, counts, extra, grad, free_cols) -> np.ndarray:
        """Forward-difference Hessian (n, p, p) in each toy's free coordinates (``free_cols``, (n, p)
        or (p,); a toy's Hessian does not depend on the other toys; one call)."""
        n, p = theta.shape
        rows, cols = np.nonzero(np.broadcast_to(free_cols, (n, p)))
        hess = np.zeros((n, p, p))
        if rows.size == 0:
            return hess
        h = FD_STEP * np.maximum(1.0, np.abs(theta[rows, cols]))
        shifted = theta[rows]
        shifted[np.arange(rows.size), cols] += h
        _, g = self.value_and_grad(shifted, counts[rows], [e[rows] for e in extra])
        hess[rows, :, cols] = (g - grad[rows]) / h[:, None]
        return 0.5 * (hess + np.swapaxes(hess, 1, 2))

    # -- minimisation -----------------------------------------------------------------------------
    def _minimise(self, theta0: np.ndarray, counts: np.ndarray, fix_x: bool,
                  hess0: np.ndarray | None = None):
        """Minimise each row of theta0 (x fixed if ``fix_x``, else x >= 0; ``fix_x`` per row or for all).

        Quasi-Newton: the Hessian starts from ``hess0`` (n, p, p) if given, else forward differences,
        and is updated by BFGS; a toy whose line search fails gets a fresh finite-difference Hessian.
        Returns theta, -2 log L, converged, the final Hessians and the gradients at theta."""
        theta = np.array(theta0, dtype=float)
        n, p = theta.shape
        extra = self._extra(counts)
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
                hess[rows] = self._hessian(th[fd], kk[fd], [e[fd] for e in ex], gg[fd], free_base[rows])
                fresh[rows], need_fd[rows] = True, False
            mask = free[:, :, None] & free[:, None, :]
            h_use = np.where(mask, hess[idx], 0.0) + np.eye(p)[None] * (~free)[:, None, :]
            gf = np.where(free, gg, 0.0)
            step, indefinite = _saddle_free_step(h_use, gf)
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
        upd = (y[:, :, None] * y[:, None, :]) / np.where(ok, sy, 1.0)[:, None, None] \
            - (hs[:, :, None] * hs[:, None, :]) / np.where(ok, shs, 1.0)[:, None, None]
        hess[rows] = h + np.where(ok[:, None, None], upd, 0.0)

    def fit(self, counts: np.ndarray, x=None, start: np.ndarray | None = None, x_start=0.5) -> BatchFit:
        """Fit each data set at fixed x (scalar or (n,)), or with x >= 0 free if ``x`` is None
        (starting at ``x_start``). ``start``: nuisances (p-1,) or (n, p-1); default the model's
        initial point. Unconverged toys are refitted with the scalar path."""
        return self._fit_many(counts, [(x, start, x_start)])[0]

    def _fit_many(self, counts: np.ndarray, specs) -> list[BatchFit]:
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
        theta, nll2, conv, _, grad = self._minimise(theta0.reshape(-1, p), np.tile(counts, (len(specs), 1)),
                                                    fix_x=fixed.ravel())
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
                fp = pl.fit(None if x is None else float(theta0[i, 0]), theta0[i, 1:].copy(),
                            x_starts=(0.0, float(theta0[i, 0])))
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
        starts = self.nuisance_starts()
        # the x = 0 fits and the free fits from the initial point do not depend on each other: one batch
        fits = self._fit_many(counts, [(0.0, s, 0.5) for s in starts] + [(None, None, x0) for x0 in x_starts])
        best = None
        for zero in fits[:len(starts)]:
            best = zero if best is None else _choose(zero.nll2 < best.nll2, zero, best)
        best = BatchFit(np.zeros(len(counts)), best.nll2, best.nuisances, best.converged, best.grad)
        fits = fits[len(starts):] + [self.fit(counts, None, start=best.nuisances, x_start=x_starts[0])]
        for free in fits:
            best = _choose(free.nll2 < best.nll2, free, best)
        return best

    def profile_delta(self, counts: np.ndarray, x, best: BatchFit) -> tuple[np.ndarray, BatchFit]:
        """Delta chi2 = -2 ln lambda(x) per data set (>= 0) and the conditional fits at x."""
        cond = self.fit(counts, x, start=best.nuisances)
        return np.maximum(cond.nll2 - np.minimum(best.nll2, cond.nll2), 0.0), cond

    def upper_limits(self, counts: np.ndarray, best: BatchFit, cl: float = 0.9,
                     thresholds=("xmass", "one_sided")) -> dict[str, np.ndarray]:
        """x where the profile Delta chi2 crosses each threshold above the best fit (as
        :meth:`ProfileLikelihood.upper_limit`; inf beyond ``X_MAX_FACTOR``). The thresholds' searches
        share the conditional fits already made (one profile per data set)."""
        counts = np.atleast_2d(np.asarray(counts, dtype="float64"))
        out: dict[str, np.ndarray] = {}
        profile = _Profile(len(counts))
        for name in sorted(thresholds, key=lambda t: -delta_chi2_threshold(cl, t)):  # widest first
            out[name] = self._crossing(counts, best, delta_chi2_threshold(cl, name), profile)
        return {t: out[t] for t in thresholds}

    def _crossing(self, counts, best: BatchFit, target: float, profile: "_Profile") -> np.ndarray:
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
                inside = lambda z: np.isfinite(z) & (z > lo[a]) & (z < hi[a])  # noqa: E731
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

