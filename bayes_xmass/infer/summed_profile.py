"""Profile-likelihood limits of datasets with independent nuisances from their own profile curves.

When no nuisance is shared, -2 log L of a combination is the sum of the datasets' profiled -2 log L
curves in the common coupling x, so the combined limit needs only each dataset's compiled
:class:`~bayes_xmass.infer.frequentist.ProfileLikelihood` (whose templates can be swapped, e.g. per
B-L mediator mass, without recompiling). Used for exclusion curves; the combined fit of a single
coupling uses :class:`~bayes_xmass.infer.combined_profile.CombinedProfileLikelihood` (same numbers).
"""

from __future__ import annotations

from collections.abc import Sequence

from scipy.optimize import brentq, minimize_scalar

from bayes_xmass.infer.frequentist import ProfileLikelihood, delta_chi2_threshold

__all__ = ["summed_upper_limit"]


def summed_upper_limit(pls: Sequence[ProfileLikelihood], cl: float = 0.9, kind: str = "xmass") -> tuple[float, float]:
    """(best x, upper limit in x) of the sum of the datasets' profile -2 log L (common unit of x).

    ``kind``: "xmass" (Delta chi2 = 2.71) or "one_sided" (1.64), as ``ProfileLikelihood.upper_limit``;
    the best fit is restricted to x >= 0."""
    bests = [pl.best_fit() for pl in pls]
    starts = [b.nuisances for b in bests]

    def nll(x: float) -> float:
        # each dataset's profile at x, started from its best fit and from its last point (the lower
        # wins): -2 log L can have local minima in the nuisances, and a curve must not depend on the path
        total = 0.0
        for i, pl in enumerate(pls):
            fit = min(pl.fit(float(x), bests[i].nuisances), pl.fit(float(x), starts[i]), key=lambda f: f.nll2)
            starts[i] = fit.nuisances
            total += fit.nll2
        return total

    singles = [pl.upper_limit(cl, kind, b) for pl, b in zip(pls, bests)]
    hi = max(s for s in singles if s == s) * 1.5  # NaN-safe; the combination excludes below the weakest
    res = minimize_scalar(nll, bounds=(0.0, hi), method="bounded", options={"xatol": 1e-6 * hi})
    x_best, n_best = float(res.x), float(res.fun)
    n_zero = nll(0.0)
    if n_zero <= n_best:
        x_best, n_best = 0.0, n_zero
    threshold = delta_chi2_threshold(cl, kind)
    while nll(hi) - n_best < threshold:
        hi *= 2.0
    limit = brentq(lambda x: nll(x) - n_best - threshold, x_best, hi, xtol=1e-6 * hi)
    return x_best, float(limit)
