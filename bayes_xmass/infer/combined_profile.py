"""The profile likelihood of several datasets sharing the POI (a combined frequentist fit).

:class:`CombinedProfileLikelihood` is :class:`~bayes_xmass.infer.frequentist.ProfileLikelihood` for the
model of :func:`bayes_xmass.model.build.build_combined_model`: one POI x (dimensionless, in units of
the common coupling scale), per-dataset nuisances and counts (events per bin, the datasets' bins
concatenated in label order).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable

import numpy as np
from numpy.typing import ArrayLike

from bayes_xmass.infer.frequentist import FitPoint, ProfileLikelihood
from bayes_xmass.model.build import build_combined_model
from bayes_xmass.model.combination import combined_model_data, combined_structure_key, dataset_prefix
from bayes_xmass.model.data import data_of_model, structure_key
from bayes_xmass.model.likelihood import chi2_sigma
from bayes_xmass.model.poi_prior import PoiPrior
from bayes_xmass.response.templates import TemplateSet

__all__ = ["CombinedProfileLikelihood", "cached_combined_profile", "cached_profile"]


class CombinedProfileLikelihood(ProfileLikelihood):
    """-2 log L over several datasets sharing the POI: the graph of
    :func:`bayes_xmass.model.build.build_combined_model` with an improper POI prior, compiled and fitted by
    the same code as :class:`ProfileLikelihood`.

    Observed and expected counts are the concatenation of the datasets' bins in ``labels`` order
    (:meth:`split` cuts such a vector back), so CLs, Asimov data and summaries work unchanged.
    Per-bin template factors are profiled in closed form per dataset, or numerically when shared.
    """

    def __init__(
        self,
        tpls: Iterable[TemplateSet],
        labels: Iterable[str],
        *,
        sign: int = 1,
        likelihood: str = "poisson",
        shared: Iterable[str] = (),
    ):
        self.tpls, self.labels, self.shared = tuple(tpls), tuple(labels), tuple(shared)
        self.tpl = None  # no single template set
        self.sign = sign
        self.likelihood = likelihood
        self._prefixes = [dataset_prefix(lab) for lab in self.labels]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.model = build_combined_model(
                self.tpls,
                self.labels,
                PoiPrior("improper"),
                sign=sign,
                likelihood=likelihood,
                gammas="profile",
                shared=self.shared,
            )
        self._combined_key = combined_structure_key(
            self.tpls, self.labels, PoiPrior("improper"), likelihood, self.shared
        )
        self._compile()

    @property
    def n_bins(self) -> int:
        return int(sum(t.n_bins for t in self.tpls))

    @property
    def coupling_scale(self) -> float:
        return float(self.tpls[0].coupling_scale)

    def split(self, values: ArrayLike) -> list[np.ndarray]:
        """Cut a vector over all bins into one array per dataset."""
        values = np.asarray(values, dtype="float64")
        if values.shape != (self.n_bins,):
            raise ValueError(f"expected {self.n_bins} values (all datasets' bins), got shape {values.shape}")
        return np.split(values, np.cumsum([t.n_bins for t in self.tpls])[:-1])

    @property
    def observed(self) -> np.ndarray:
        return np.concatenate([np.asarray(self.model[p + "observed_counts"].get_value()) for p in self._prefixes])

    def set_observed(self, counts: np.ndarray) -> None:
        """Swap the observed counts of all datasets (one concatenated vector) without recompiling."""
        import pymc as pm

        data = {}
        for p, t, k in zip(self._prefixes, self.tpls, self.split(counts)):
            data[p + "observed_counts"] = k
            if self.likelihood == "chi2":
                data[p + "chi2_sigma"] = chi2_sigma(k, t.background_errors)
        pm.set_data(data, model=self.model)

    def load(self, tpl: TemplateSet, sign: int = 1) -> ProfileLikelihood:
        raise NotImplementedError("a combined likelihood cannot swap in a single template set; use load_all")

    def load_all(self, tpls: Iterable[TemplateSet], sign: int = 1) -> CombinedProfileLikelihood:
        """Swap in other template sets of the same structure (one per label, and the sign) without
        recompiling: the same numbers as a likelihood built for them."""
        import pymc as pm

        tpls = tuple(tpls)
        key = combined_structure_key(tpls, self.labels, PoiPrior("improper"), self.likelihood, self.shared)
        if key != self._combined_key:
            raise ValueError("template sets do not match the compiled combined likelihood's structure")
        data = combined_model_data(tpls, self.labels, sign, self.likelihood)
        pm.set_data(data_of_model(self.model, data), model=self.model)
        self.tpls, self.sign = tpls, sign
        ip = self.model.initial_point()  # the fits' start follows the new priors' centres, as in a fresh build
        self.start = np.concatenate([np.ravel(ip[n]) for n in self._names]) if self._names else np.zeros(0)
        return self

    def background_components(self, fit: FitPoint) -> np.ndarray:
        raise NotImplementedError("use the single-dataset ProfileLikelihood for per-dataset components")

    def expected(self, x: float, nuis: np.ndarray) -> np.ndarray:
        """Expected counts of all datasets' bins (concatenated) at a point."""
        return np.concatenate(self.deterministics(x, nuis, tuple(p + "expected" for p in self._prefixes)))

    def chi2(self, fit: FitPoint) -> float:
        """Sum over datasets of the single-dataset goodness-of-fit chi2 (a shared gamma's pulls once).

        Not additive under splitting a dataset (the saturated model changes), unlike -2 log L."""
        names = self.model.named_vars
        gnames = [
            (p + "gamma" if p + "gamma" in names else "gamma")
            if self.likelihood == "poisson" and (p + "gamma" in names or "gamma" in names)
            else None
            for p in self._prefixes
        ]
        wanted = tuple(p + "expected" for p in self._prefixes) + tuple(sorted({g for g in gnames if g}))
        values = dict(zip(wanted, self.deterministics(fit.x, fit.nuisances, wanted)))
        total, pulls_done = 0.0, set()
        for p, k, g in zip(self._prefixes, self.split(self.observed), gnames):
            mu = values[p + "expected"]
            if self.likelihood == "chi2":
                sigma = np.asarray(self.model[p + "chi2_sigma"].get_value())
                total += float(np.sum(((k - mu) / sigma) ** 2))
                continue
            with np.errstate(divide="ignore", invalid="ignore"):
                term = np.where(k > 0, k * np.log(k / mu), 0.0)
            total += float(2.0 * np.sum(mu - k + term))
            delta = np.asarray(self.model[p + "template_rel_error"].get_value())
            if g and g not in pulls_done and np.any(delta > 0):
                pulls_done.add(g)
                pulls = np.where(delta > 0, (values[g] - 1.0) / np.where(delta > 0, delta, 1.0), 0.0)
                total += float(np.sum(pulls**2))
        return total


def cached_combined_profile(
    cache: dict | None,
    tpls: Iterable[TemplateSet],
    labels: Iterable[str],
    *,
    sign: int = 1,
    likelihood: str = "poisson",
    shared: Iterable[str] = (),
) -> CombinedProfileLikelihood:
    """The combined profile likelihood of ``tpls``: from ``cache`` (keyed by structure, templates
    swapped in by :meth:`CombinedProfileLikelihood.load_all`) or compiled and stored there."""
    tpls, labels, shared = tuple(tpls), tuple(labels), tuple(shared)
    key = ("combined_profile", combined_structure_key(tpls, labels, PoiPrior("improper"), likelihood, shared))
    pl = cache.get(key) if cache is not None else None
    if pl is None:
        pl = CombinedProfileLikelihood(tpls, labels, sign=sign, likelihood=likelihood, shared=shared)
        if cache is not None:
            cache[key] = pl
        return pl
    return pl.load_all(tpls, sign)


def cached_profile(
    cache: dict | None, tpl: TemplateSet, *, label: str = "", sign: int = 1, likelihood: str = "poisson"
) -> ProfileLikelihood:
    """A single dataset's profile likelihood: from ``cache`` (keyed by ``label`` and structure,
    templates swapped in by :meth:`ProfileLikelihood.load`) or compiled and stored there. Likelihoods
    in use at the same time need distinct labels (two datasets of one structure share the object)."""
    key = ("profile", label, structure_key(tpl, PoiPrior("improper"), likelihood))
    pl = cache.get(key) if cache is not None else None
    if pl is None:
        pl = ProfileLikelihood(tpl, sign=sign, likelihood=likelihood)
        if cache is not None:
            cache[key] = pl
        return pl
    return pl.load(tpl, sign)
