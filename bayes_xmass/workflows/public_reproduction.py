"""Each bundled public dataset's magnetic-moment limits next to the experiment's published result.

:data:`PUBLISHED_MU_NU` holds the published results we could check (value, convention, source);
:func:`reproduce_mu_nu` fits every bundled public dataset alone (frequentist always, Bayesian on
request) and returns one :class:`ReproductionRow` per dataset, with the ratio of our limit in the
experiment's own convention to the published one. ``tests/workflows/test_public_reproduction.py``
freezes the numbers; the README's reproduction table is this function's output.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass

from scipy.optimize import brentq

from bayes_xmass.bundled import data_dir
from bayes_xmass.converters.public import PUBLIC_DATASETS
from bayes_xmass.datasets.loader import load_dataset
from bayes_xmass.datasets.types import Dataset
from bayes_xmass.infer.frequentist import ProfileLikelihood, delta_chi2_threshold, frequentist_summary
from bayes_xmass.infer.posterior_sampler import sample_posterior
from bayes_xmass.infer.posterior_summary import credible_limit, diagnostics
from bayes_xmass.model.spec import model_spec_for
from bayes_xmass.model.targets import fit_targets, spec_in_template_unit, target_templates
from bayes_xmass.runtime.seeds import step_seed

__all__ = ["PUBLISHED_MU_NU", "PublishedResult", "ReproductionRow", "reproduce_mu_nu", "without_background"]


@dataclass(frozen=True)
class PublishedResult:
    """A published 90% CL result on mu_nu [mu_B]: an upper limit, or an interval (lo, hi) with the
    excess's significance; ``convention`` says how it was obtained, ``ours`` which of our limits
    matches it ("one_sided": profile likelihood, Delta chi2 = 1.64 on the one-sided statistic)."""

    dataset: str
    value: float | tuple[float, float]
    convention: str
    source: str
    ours: str = "one_sided"
    significance: float | None = None


PUBLISHED_MU_NU: dict[str, PublishedResult] = {
    "xenonnt_sr0": PublishedResult(
        "xenonnt_sr0",
        6.3e-12,  # PRL 129 (2022) 161805 (as quoted in ../shared/data/xenonnt_sr0_er/SOURCE.md)
        "profile likelihood, unbinned 1-140 keV, component-wise background",
        "PRL 129 (2022) 161805",
    ),
    "xenon1t_sr1": PublishedResult(
        "xenon1t_sr1",
        (1.4e-11, 2.9e-11),  # PRD 102 (2020) 072004 abstract: 90% CL interval, 3.2 sigma over B0
        "90% CL interval over B0 (no tritium); the excess falls to 0.9 sigma with free tritium",
        "PRD 102 (2020) 072004",
        ours="interval",
        significance=3.2,
    ),
}


@dataclass(frozen=True)
class ReproductionRow:
    """Our mu_nu results on one public dataset alone [mu_B]; ``bayes`` is NaN when not sampled."""

    dataset: str
    label: str
    variant: str  # "as bundled" or e.g. "without tritium"
    best_fit: float
    discovery_z: float
    delta_chi2_271: float
    one_sided: float
    cls: float
    lower_271: float  # lower edge of the Delta chi2 = 2.71 interval (0 when it starts at 0)
    bayes: float = math.nan
    bayes_mcse: float = math.nan
    bayes_ok: bool | None = None
    published: PublishedResult | None = None

    @property
    def ratio(self) -> float:
        """Our limit in the experiment's convention / the published limit (upper edge for intervals)."""
        if self.published is None:
            return math.nan
        if isinstance(self.published.value, tuple):
            return self.delta_chi2_271 / self.published.value[1]
        return self.one_sided / self.published.value


def without_background(dataset: Dataset, name: str) -> Dataset:
    """The dataset with background ``name`` removed (e.g. XENON1T's B0-only hypothesis)."""
    kept = tuple(b for b in dataset.backgrounds if b.name != name)
    if len(kept) == len(dataset.backgrounds):
        raise KeyError(f"no background {name!r} in {dataset.name}")
    return dataclasses.replace(dataset, backgrounds=kept)


def _lower_edge(pl: ProfileLikelihood, best, threshold: float) -> float:
    if best.x <= 0 or float(pl.delta_chi2([0.0], best)[0]) <= threshold:
        return 0.0
    return float(brentq(lambda x: float(pl.delta_chi2([x], best)[0]) - threshold, 0.0, best.x, xtol=1e-6))


def _row(name: str, variant: str, ds: Dataset, bayes: bool, seed: int) -> ReproductionRow:
    spec = model_spec_for("magnetic-moment")
    (target,) = fit_targets(spec)
    tpl = target_templates(spec, ds, target)
    spec = spec_in_template_unit(spec, tpl, target.sign)  # the POI prior in the templates' unit
    pl = ProfileLikelihood(tpl, sign=target.sign, likelihood=spec.likelihood)
    f = frequentist_summary(pl, spec.cl)
    scale = tpl.coupling_scale
    best = pl.best_fit()
    row = ReproductionRow(
        name,
        PUBLIC_DATASETS[name].label,
        variant,
        f["best_fit"],
        f["discovery_z"],
        f["limit_xmass_scaled"] * scale,
        f["limit_one_sided_scaled"] * scale,
        f["limit_cls_scaled"] * scale,
        _lower_edge(pl, best, delta_chi2_threshold(spec.cl, "xmass")) * scale,
        # XENON1T's published interval is its B0-only result: compared with our fit without tritium
        published=None if (name, variant) == ("xenon1t_sr1", "as bundled") else PUBLISHED_MU_NU.get(name),
    )
    if not bayes:
        return row
    dt, _ = sample_posterior(
        tpl, target, poi_prior=spec.poi_prior, sampler=spec.sampler, likelihood=spec.likelihood, seed=seed
    )
    lim = credible_limit(dt, spec.cl)
    return dataclasses.replace(row, bayes=lim["limit"], bayes_mcse=lim["mcse"], bayes_ok=diagnostics(dt, cl=spec.cl).ok)


def reproduce_mu_nu(
    names: Sequence[str] | None = None, *, bayes: bool = False, seed: int = 2022
) -> list[ReproductionRow]:
    """One row per bundled public dataset (``names``, default all); XENON1T twice: as bundled (free
    tritium) and without tritium (the B0-only hypothesis of its published interval)."""
    rows = []
    for i, name in enumerate(names or PUBLIC_DATASETS):
        ds = load_dataset(data_dir() / PUBLIC_DATASETS[name].folder)
        rows.append(_row(name, "as bundled", ds, bayes, step_seed(seed, "reproduce", i)))
        if name == "xenon1t_sr1":
            b0_only = without_background(ds, "tritium")
            rows.append(_row(name, "without tritium", b0_only, bayes, step_seed(seed, "reproduce", i, 1)))
    return rows
