"""Background-only toys of a combination of datasets: the expected limits of a combined fit.

Each dataset's toy spectra are drawn from its own expected counts with its nuisances drawn from their
priors (:func:`~bayes_xmass.infer.toys.toy_counts`; independent nuisances, as the combined fit has
them unless shared), concatenated in label order, and fitted by the combined profile likelihood
(:class:`~bayes_xmass.infer.combined_profile.CombinedProfileLikelihood`) like the observed data, all
toys at once by the batched fits (:class:`~bayes_xmass.infer.batch_limits.BatchProfileLikelihood`:
the same numbers as one scalar fit per toy where both find the same minimum, and a lower minimum
where the scalar fit stops at x = 0; ``tests/infer/test_combined_toys.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from bayes_xmass.infer.batch_limits import batch_limits
from bayes_xmass.infer.combined_profile import CombinedProfileLikelihood
from bayes_xmass.infer.toys import shared_batch_likelihood, shared_profile_likelihood, toy_counts
from bayes_xmass.response.templates import TemplateSet
from bayes_xmass.runtime.seeds import step_seed

__all__ = ["BAND_QUANTILES", "CombinedToyBands", "combined_toy_bands"]

BAND_QUANTILES = {"-2sigma": 0.02275, "-1sigma": 0.15866, "median": 0.5, "+1sigma": 0.84134, "+2sigma": 0.97725}
"""Quantiles of the toy limits reported as the expected band (normal +-1 and +-2 sigma)."""


@dataclass(frozen=True)
class CombinedToyBands:
    """Expected limits of a combined fit from ``n_toys`` background-only toys, physical units:
    ``delta_chi2_271`` and ``one_sided`` map BAND_QUANTILES keys to limits; ``alone`` gives each
    dataset's own expected limits from its part of the same toys (label -> the same two maps)."""

    n_toys: int
    delta_chi2_271: dict[str, float]
    one_sided: dict[str, float]
    alone: dict[str, dict[str, dict[str, float]]]

    def as_dict(self) -> dict[str, object]:
        """JSON-able record."""
        return {
            "n_toys": self.n_toys,
            "delta_chi2_271": self.delta_chi2_271,
            "one_sided": self.one_sided,
            "alone": self.alone,
        }


def combined_toy_bands(
    tpls: Sequence[TemplateSet],
    labels: Sequence[str],
    *,
    sign: int,
    likelihood: str,
    n_toys: int,
    seed: int,
    cl: float = 0.9,
    pl: CombinedProfileLikelihood | None = None,
) -> CombinedToyBands:
    """Expected (background-only) Delta chi2 = 2.71 and one-sided limits of the combination, and of
    each dataset alone on its part of the same toys (physical units); every dataset's toys draw from
    ``step_seed(seed, label)``."""
    if n_toys < 1:
        raise ValueError("n_toys must be >= 1")
    pl = pl or CombinedProfileLikelihood(tpls, labels, sign=sign, likelihood=likelihood)
    blocks = [
        toy_counts(shared_profile_likelihood(tpl, sign, likelihood), 0.0, n_toys, step_seed(seed, lab))
        for tpl, lab in zip(tpls, labels)
    ]
    thresholds = ("xmass", "one_sided")
    rows = batch_limits(shared_batch_likelihood(pl), np.concatenate(blocks, axis=1), cl, thresholds)
    scale = pl.coupling_scale

    def band(column: np.ndarray) -> dict[str, float]:
        return {k: float(np.quantile(column, q)) * scale for k, q in BAND_QUANTILES.items()}

    alone = {}
    for tpl, lab, block in zip(tpls, labels, blocks):
        single = batch_limits(
            shared_batch_likelihood(shared_profile_likelihood(tpl, sign, likelihood)), block, cl, thresholds
        )
        alone[lab] = {"delta_chi2_271": band(single[:, 1]), "one_sided": band(single[:, 2])}
    return CombinedToyBands(n_toys, band(rows[:, 1]), band(rows[:, 2]), alone)
