"""Vectorised convergence diagnostics: rank-normalised split R-hat, bulk and tail ESS.

Same numbers as ArviZ 1.x (``arviz_stats``: ``rhat(method="rank")``, ``ess(method="bulk")``,
``ess(method="tail")``), which follow Vehtari, Gelman, Simpson, Carpenter & Bürkner (2021),
"Rank-normalization, folding, and localization: an improved R-hat", Bayesian Analysis 16, 667,
but for many parameters at once: ArviZ loops over parameters in Python, ranks each one with a
stable (merge) sort and computes the same ranks twice (R-hat bulk, ESS bulk). Here every step acts
on an (n_param, chain, draw) array, the ranks come from one SIMD quicksort per transform (average
ranks do not depend on the order within ties) and Geyer's initial positive/monotone sequence is
evaluated with array operations. Two shortcuts change only the rounding (relative differences
~1e-15 measured): the autocovariance is averaged over chains before, not after, the inverse FFT,
and is first computed for short lags only (see :func:`_ess`). ``tests/test_convergence.py`` checks
the agreement with ArviZ to 1e-10.

Per parameter, exactly as ArviZ:

* any NaN, fewer than 4 draws -> NaN everywhere; fewer than 2 chains -> R-hat NaN;
* split chains: first and last ``draw // 2`` draws of each chain (the middle draw of an odd count
  is dropped);
* z-scale: average ranks r over all split draws (size S), z = Phi^-1((r - 3/8) / (S + 1/4));
* R-hat = max(R(z(split)), R(z(|split - median(split)|))), with the classic
  R = sqrt(((n - 1) / n W + B / n) / W);
* bulk ESS = ESS(z(split)); tail ESS = min over q in (p, 1 - p) of ESS(split(draws <= quantile_q)),
  p = 1 - ``arviz_base.rcParams["stats.ci_prob"]`` as in ``az.ess(method="tail")``;
* ESS: FFT autocovariance per split chain, Geyer's initial positive sequence truncated at the
  first non-positive pair of autocorrelations, made monotone, tau >= 1 / log10(S); a (nearly)
  constant input has ESS = S.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import fft, stats
from scipy.fftpack import next_fast_len

__all__ = ["dataset_rhat_ess", "rhat_ess"]

type FloatArray = NDArray[np.float64]

_BLOM_C = 3 / 8  # fractional offset of the rank back-transformation (Blom 1958), as ArviZ


def _split[T: np.generic](x: NDArray[T]) -> NDArray[T]:
    """(P, chain, draw) -> (P, 2 chain, draw // 2): first and last halves of every chain."""
    half = x.shape[2] // 2
    return np.concatenate((x[:, :, :half], x[:, :, x.shape[2] - half :]), axis=1)


def _z_scale(x: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Normal scores of the average ranks over each parameter's draws (last two axes pooled),
    and the (P, size) sorted draws."""
    flat = x.reshape(x.shape[0], -1)
    size = flat.shape[1]
    order = np.argsort(flat, axis=1)  # ties in any order: their average rank is the same
    order += (np.arange(flat.shape[0]) * size)[:, None]  # flat indices (faster than *_along_axis)
    srt = flat.ravel()[order]
    # sorted position j has rank j + 1 unless tied; one table of normal scores serves every row
    rank = np.arange(1.0, size + 1.0)
    z = np.empty(x.shape)
    z.ravel()[order] = stats.norm.ppf((rank - _BLOM_C) / (size - 2 * _BLOM_C + 1))  # row-broadcast
    dup = np.zeros(flat.shape, bool)  # equal to the previous sorted value
    dup[:, 1:] = srt[:, 1:] == srt[:, :-1]
    if dup.any():  # rare (e.g. the two middle values of folded draws): a tie group occupying
        in_group = dup.copy()  # sorted positions first..last gets rank (first + last) / 2 + 1
        in_group[:, :-1] |= dup[:, 1:]
        idx = np.flatnonzero(in_group)  # flat positions, groups contiguous and within one row
        starts = ~dup.ravel()[idx]
        group = np.cumsum(starts) - 1
        bounds = np.flatnonzero(starts)
        first = idx[bounds] % size
        last = idx[np.append(bounds[1:] - 1, idx.size - 1)] % size
        avg = (first + last)[group] / 2 + 1
        z.ravel()[order.ravel()[idx]] = stats.norm.ppf((avg - _BLOM_C) / (size - 2 * _BLOM_C + 1))
    return z, srt


def _rhat(z: FloatArray) -> FloatArray:
    """Classic R-hat of (P, chain, draw) arrays (split chains given as chains)."""
    n = z.shape[2]
    between = n * np.var(z.mean(axis=2), axis=1, ddof=1)
    within = np.var(z, axis=2, ddof=1).mean(axis=1)
    rhat: FloatArray = np.sqrt((between / within + n - 1) / n)
    return rhat


def _mean_autocov(x: FloatArray, chain_mean: FloatArray, n_lags: int) -> FloatArray:
    """Chain-averaged autocovariance of (P, chain, draw) arrays at lags 0..n_lags-1, by FFT.

    Zero-padding to m >= draw + n_lags - 1 keeps those lags free of wrap-around (ArviZ pads to
    2 draw for all lags); averaging the power spectra over chains before the (linear) inverse
    transform needs one inverse FFT per parameter, not per chain."""
    p, n_chain, n = x.shape
    m = next_fast_len(2 * n if n_lags >= n else n + n_lags - 1)
    padded = np.zeros((p, n_chain, m))
    np.subtract(x, chain_mean[:, :, None], out=padded[:, :, :n])
    f = fft.rfft(padded, axis=2, overwrite_x=True)  # same pocketfft as np.fft
    power = np.square(f.real)
    power += np.square(f.imag)
    acov: FloatArray = fft.irfft(power.mean(axis=1), n=m, axis=1)[:, :n_lags] / n
    return acov


def _geyer_tau(
    mean_acov: FloatArray, chain_mean: FloatArray, n: int, k_max: int
) -> tuple[FloatArray, NDArray[np.bool_]]:
    """Integrated autocorrelation time from the chain-averaged autocovariance (P, lag), exactly as
    ArviZ's loop (Geyer's initial positive then monotone sequence, pairs k = 0..k_max), and the
    rows whose sequence did not stop within the lags given (to redo with more lags)."""
    mean_var = mean_acov[:, 0] * n / (n - 1.0)
    var_plus = mean_var * (n - 1.0) / n + np.var(chain_mean, axis=1, ddof=1)
    rho = 1.0 - (mean_var[:, None] - mean_acov) / var_plus[:, None]
    rho[:, 0] = 1.0
    k_avail = min(k_max, (mean_acov.shape[1] - 2) // 2)
    pairs = rho[:, 0 : 2 * k_avail + 1 : 2] + rho[:, 1 : 2 * k_avail + 2 : 2]  # rho_2k + rho_2k+1
    # the sequence stops at the first pair that is not positive (k_last pairs kept), or at k_max
    nonpos = ~(pairs > 0)
    stopped = nonpos.any(axis=1)
    k_last = np.where(stopped, np.argmax(nonpos, axis=1), k_avail)
    kept = np.arange(pairs.shape[1])[None, :] < k_last[:, None]
    monotone = np.minimum.accumulate(np.where(kept, pairs, np.inf), axis=1)
    tau = -1.0 + 2.0 * np.where(kept, monotone, 0.0).sum(axis=1)
    # ArviZ adds the even autocorrelation of the pair that stopped the sequence when it is positive
    # (or when that pair was kept in its array, i.e. its sum is >= 0); rho_0 = 1 with no pair kept.
    rows = np.arange(len(tau))
    even = rho[rows, 2 * k_last]
    last_pair = pairs[rows, k_last]
    tau += np.where(k_last == 0, 1.0, np.where((even > 0) | (last_pair >= 0), even, 0.0))
    tau[np.isnan(rho[:, 1])] = np.nan
    return tau, ~stopped if k_avail < k_max else np.zeros(len(tau), bool)


def _ess(x: FloatArray, short_lags: int = 8) -> FloatArray:
    """ESS of (P, chain, draw) arrays (split chains given as chains). The autocovariance is first
    computed for the lags < draw / short_lags only (a shorter FFT), enough wherever Geyer's sequence
    stops before them; the other parameters are redone with all lags."""
    p, n_chain, n = x.shape
    size = n_chain * n
    k_max = max((n - 3) // 2, 0)  # ArviZ's loop visits pairs k = 1..k_max
    chain_mean = x.mean(axis=2)
    n_lags = n // short_lags if n >= 32 * short_lags else n
    tau, redo = _geyer_tau(_mean_autocov(x, chain_mean, n_lags), chain_mean, n, k_max)
    if redo.any():
        tau[redo] = _geyer_tau(_mean_autocov(x[redo], chain_mean[redo], n), chain_mean[redo], n, k_max)[0]
    floor = 1 / np.log10(size)
    tau = np.where(floor > tau, floor, tau)
    flat = x.reshape(p, -1)
    constant = (flat.max(axis=1) - flat.min(axis=1)) < np.finfo(float).resolution
    return np.where(constant, float(size), size / tau)


def rhat_ess(samples: ArrayLike, tail_prob: float | None = None) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Rank-normalised split R-hat, bulk ESS and tail ESS of every parameter.

    ``samples``: (n_param, chain, draw). ``tail_prob``: central probability of the tail ESS
    quantiles (default ArviZ's ``rcParams["stats.ci_prob"]``). Returns three (n_param,) arrays.
    """
    x = np.asarray(samples, dtype=float)
    if x.ndim != 3:
        raise ValueError(f"samples must be (n_param, chain, draw), got shape {x.shape}")
    n_param, n_chain, n_draw = x.shape
    nan = np.full(n_param, np.nan)
    if n_param == 0 or n_draw < 4 or n_chain < 1:
        return nan, nan.copy(), nan.copy()
    if tail_prob is None:
        from arviz_base import rcParams

        tail_prob = rcParams["stats.ci_prob"]
    bad = np.isnan(x).any(axis=(1, 2))
    if bad.any():
        x = np.where(bad[:, None, None], 0.0, x)  # computed as a constant, reported as NaN
    with np.errstate(divide="ignore", invalid="ignore"):
        split = _split(x)
        z, srt = _z_scale(split)
        ess_bulk = _ess(z)
        if n_chain >= 2:
            half = srt.shape[1] // 2  # even: the median of the split draws is np.median's mean of two
            median = (srt[:, half - 1] + srt[:, half]) / 2
            bulk, tail = _rhat(z), _rhat(_z_scale(np.abs(split - median[:, None, None]))[0])
            rhat = np.where(tail > bulk, tail, bulk)
        else:
            rhat = nan.copy()
        # quantiles of all draws; with an even draw count the split draws are all of them, already
        # sorted (same order statistics, hence the same np.quantile, at a fraction of the cost)
        probs = sorted((tail_prob, 1 - tail_prob))
        quant = np.quantile(srt if n_draw % 2 == 0 else x.reshape(n_param, -1), probs, axis=1)
        below = (x[None] <= quant[:, :, None, None]).reshape(2 * n_param, n_chain, n_draw)
        lo, hi = _ess(_split(below).astype(float)).reshape(2, n_param)  # both quantiles at once
        ess_tail = np.where(hi < lo, hi, lo)
    for arr in (rhat, ess_bulk, ess_tail):
        arr[bad] = np.nan
    return rhat, ess_bulk, ess_tail


def dataset_rhat_ess(
    ds: Any, names: Iterable[str], tail_prob: float | None = None
) -> dict[str, tuple[np.ndarray, ...]]:
    """:func:`rhat_ess` of the variables ``names`` of a posterior Dataset (dims chain, draw, ...),
    all in one call: ``{name: (rhat, ess_bulk, ess_tail)}``, each shaped like one draw of it."""
    blocks, shapes = [], {}
    for name in names:
        values = np.asarray(ds[name].transpose("chain", "draw", ...).values, dtype=float)
        shapes[name] = values.shape[2:]
        blocks.append(np.moveaxis(values.reshape(*values.shape[:2], math.prod(values.shape[2:])), -1, 0))
    if not blocks:
        return {}
    out = rhat_ess(np.concatenate(blocks), tail_prob)
    result, start = {}, 0
    for name, shape in shapes.items():
        size = math.prod(shape)
        result[name] = tuple(a[start : start + size].reshape(shape) for a in out)
        start += size
    return result
