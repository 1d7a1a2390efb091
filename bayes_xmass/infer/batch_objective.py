"""The -2 log L graph of a profile likelihood (one dataset, or a combination), vectorised over toy data sets.

:class:`BatchObjective` takes the ``-2 log L(theta)`` graph of a
:class:`~bayes_xmass.infer.frequentist.ProfileLikelihood` (so the same expected-counts function and
constraints) and vectorises it over a leading toy axis with ``pytensor.graph.replace.vectorize_graph``:
value and analytic gradient per toy (:meth:`BatchObjective.value_and_grad`, -2 log L in units of
-2 log L, theta = (x, nuisances) in the model's transformed coordinates) and a forward-difference
Hessian of that gradient (:meth:`BatchObjective.hessian`).

Cost: almost all of a batched fit is this (value, gradient) function (~10-15 us per toy and call for
the benchmark fits), so it is called in blocks of rows whose temporaries stay in cache
(``EVAL_CHUNK_BYTES``), with its data-only terms (log k!) computed once per fit.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from bayes_xmass.infer.frequentist import ProfileLikelihood
from bayes_xmass.model.combination import dataset_prefix
from bayes_xmass.model.likelihood import chi2_sigma
from bayes_xmass.response.templates import TemplateSet

__all__ = ["BAD_VALUE", "EVAL_CHUNK_BYTES", "FD_STEP", "BatchObjective", "aligned", "count_blocks"]

FD_STEP = 1e-6  # relative forward-difference step of the Hessian
BAD_VALUE = 1e300
EVAL_CHUNK_BYTES = 1.5e6  # spline templates gathered per call of the batched function (bytes)


def _data_only_terms(out: Any, theta: Any, data_inputs: Sequence[Any]) -> list[Any]:
    """The largest subexpressions of ``out`` that depend on the data inputs but not on ``theta``
    (with the toy axis first), where they enter the theta-dependent part of the graph."""
    from pytensor.graph.traversal import io_toposort

    on_theta, on_data = {theta}, set(data_inputs)
    terms: list[Any] = []
    for node in io_toposort([theta, *data_inputs], [out]):
        if any(i in on_theta for i in node.inputs):
            on_theta.update(node.outputs)
            terms += [i for i in node.inputs if i in on_data and i.owner is not None and i not in terms]
        elif any(i in on_data for i in node.inputs):
            on_data.update(node.outputs)
    return [v for v in terms if v.ndim >= 1]


def count_blocks(pl: ProfileLikelihood) -> list[tuple[str, TemplateSet, int, int]]:
    """(variable prefix, template set, first bin, end bin) of each dataset in ``pl``'s counts vector:
    one block for a single dataset, one per label (in label order) for a combined likelihood."""
    tpls = getattr(pl, "tpls", None)
    if tpls is None:
        return [("", pl.tpl, 0, int(pl.n_bins))]
    edges = np.cumsum([0] + [int(t.n_bins) for t in tpls])
    labels = getattr(pl, "labels")  # noqa: B009 - a CombinedProfileLikelihood's (this module may not import it)
    return [(dataset_prefix(lab), t, int(a), int(b)) for lab, t, a, b in zip(labels, tpls, edges[:-1], edges[1:])]


def _eval_chunk(pl: ProfileLikelihood) -> int:
    """Rows per call of the batched function: the spline templates it gathers for a block of toys
    (4 coefficients x components x bins each) stay in cache, and its temporaries below the
    allocator's trim threshold (larger ones are page-faulted afresh on every call: 3x slower)."""
    try:
        components = sum(
            int(t.coefficients.shape[2]) for _, tpl, _, _ in count_blocks(pl) for t in (tpl.backgrounds, tpl.signal)
        )
    except (AttributeError, IndexError, TypeError):
        components = 10
    per_row = 8 * 4 * max(components, 1) * max(int(pl.n_bins), 1)
    return int(np.clip(EVAL_CHUNK_BYTES // per_row, 8, 256))


def aligned(a: ArrayLike) -> np.ndarray:
    """C-contiguous, aligned float64 (arrays unpickled by dask may be unaligned views)."""
    arr: np.ndarray = np.ascontiguousarray(a, dtype="float64")
    return arr if arr.flags.aligned else arr.copy()


class BatchObjective:
    """The graph of a :class:`ProfileLikelihood` (single or combined), vectorised over data sets.

    Templates are the ones currently loaded in ``pl`` (shared variables, so ``pl.load`` swaps
    them here too). Counts are passed per call as an (n_toys, n_bins) array (a combination: its
    datasets' bins concatenated in label order, as its ``observed``).
    """

    def __init__(self, pl: ProfileLikelihood):
        import pytensor
        import pytensor.tensor as pt
        from pytensor.graph.replace import graph_replace, vectorize_graph

        self.pl = pl
        self.n_params = 1 + int(sum(pl._sizes))
        theta = pt.matrix("theta_batch", dtype="float64")
        counts = pt.matrix("counts_batch", dtype="float64")
        blocks = count_blocks(pl)
        whole = len(blocks) == 1  # a single dataset takes the counts matrix as it is

        def rows(matrix: Any, a: int, b: int) -> Any:
            return matrix if whole else matrix[:, a:b]

        replace: dict[Any, Any] = {pl.theta_graph: theta}
        replace.update({pl.model[p + "observed_counts"]: rows(counts, a, b) for p, _, a, b in blocks})
        inputs = [theta, counts]
        self._chi2 = pl.likelihood == "chi2"
        if self._chi2:  # the Gaussian widths follow each toy's counts
            sigma = pt.matrix("chi2_sigma_batch", dtype="float64")
            replace.update({pl.model[p + "chi2_sigma"]: rows(sigma, a, b) for p, _, a, b in blocks})
            inputs.append(sigma)
        nll2: Any = vectorize_graph(pl.nll2_graph, replace=replace)
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
        grad: Any = pt.grad(nll2.sum(), theta)  # toys are independent: row i is the gradient of toy i
        self._fn = pytensor.function(inputs, [nll2, grad], on_unused_input="ignore")
        self._fn.trust_input = True  # inputs are C-contiguous float64 arrays (value_and_grad)
        self.eval_chunk = _eval_chunk(pl)
        self.n_evaluations = 0  # toy-evaluations of (value, gradient)
        self.n_fallback = 0  # toys refitted by the scalar path

    # -- evaluation -----------------------------------------------------------------------------
    def extra_inputs(self, counts: np.ndarray) -> list[np.ndarray]:
        """Per-toy inputs besides theta and counts: the chi-square widths, the data-only terms."""
        extra: list[np.ndarray] = []
        if self._chi2:
            extra.append(
                aligned(
                    np.concatenate(
                        [chi2_sigma(counts[:, a:b], t.background_errors) for _, t, a, b in count_blocks(self.pl)],
                        axis=1,
                    )
                )
            )
        if self._data_fn is not None:
            extra += [aligned(np.array(v, dtype=float)) for v in self._data_fn(aligned(counts), *extra)]
        return extra

    def value_and_grad(
        self, theta: np.ndarray, counts: np.ndarray, extra: Sequence[np.ndarray] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(-2 log L (n,), gradient (n, p)) at theta (n, p) = (x, nuisances) for counts (n, n_bins)."""
        theta, counts = aligned(theta), aligned(counts)
        extra = self.extra_inputs(counts) if extra is None else [aligned(e) for e in extra]
        n, k = len(theta), self.eval_chunk
        # in blocks of eval_chunk rows (rows are independent: the numbers do not depend on the blocking)
        if n <= k:
            v, g = self._fn(theta, counts, *extra)
            v, g = np.array(v, dtype=float), np.array(g, dtype=float)
        else:
            v, g = np.empty(n), np.empty(theta.shape)
            for i in range(0, n, k):
                v[i : i + k], g[i : i + k] = self._fn(
                    theta[i : i + k], counts[i : i + k], *[e[i : i + k] for e in extra]
                )
        self.n_evaluations += n
        if not np.isfinite(v).all():
            bad = ~np.isfinite(v)
            v[bad] = BAD_VALUE
            g[bad] = 0.0
        if not np.isfinite(g).all():
            g = np.nan_to_num(g, nan=0.0, posinf=BAD_VALUE, neginf=-BAD_VALUE)
        return v, g

    def hessian(
        self,
        theta: np.ndarray,
        counts: np.ndarray,
        extra: Sequence[np.ndarray],
        grad: np.ndarray,
        free_cols: ArrayLike,
    ) -> np.ndarray:
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
