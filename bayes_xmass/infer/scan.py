"""U(1)_B-L exclusion curve: limits over a grid of mediator masses (MeV) on the coupling g.

Signal templates for all masses come from one vectorised pass
(:func:`bayes_xmass.response.templates.b_minus_l_templates`, cached on disk). Each mass point is one task
(:func:`scan_point`) run through :func:`bayes_xmass.runtime.executor.run_tasks`: every worker process
compiles the frequentist likelihood and the nutpie model once per structure
(:func:`bayes_xmass.runtime.executor.worker_cache`) and only swaps the templates per mass. Seeds are
derived from the master seed and the mass index, so results do not depend on the backend.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from dataclasses import dataclass

import numpy as np

from bayes_xmass.datasets.types import Dataset
from bayes_xmass.errors import InputError
from bayes_xmass.infer.frequentist import ProfileLikelihood
from bayes_xmass.infer.posterior_sampler import PosteriorSampler
from bayes_xmass.infer.posterior_summary import ESS_MIN, POI_ESS_MIN, RHAT_MAX, credible_limit, diagnostics
from bayes_xmass.infer.toys import toy_limits
from bayes_xmass.model.data import model_data, structure_key
from bayes_xmass.model.poi_prior import PoiPrior
from bayes_xmass.model.spec import ModelSpec, SamplerSettings
from bayes_xmass.model.targets import (
    FitTarget,
    analysis_view,
    auto_scale,
    rescale_signal,
    round_scale,
    spec_in_template_unit,
    target_templates,
)
from bayes_xmass.response.detector import MorphingTemplates
from bayes_xmass.response.templates import TemplateSet, b_minus_l_templates_cached
from bayes_xmass.runtime.executor import resolve_scheduler, run_tasks, worker_cache
from bayes_xmass.runtime.seeds import step_seed

__all__ = [
    "BAND_NAMES",
    "MAX_MASSES",
    "PointSettings",
    "mass_templates",
    "parse_masses",
    "row_from_fit",
    "run_scan",
    "scan_b_minus_l",
    "scan_dataset",
    "scan_point",
]

BAND_NAMES = {
    "-2sigma": "expected_m2",
    "-1sigma": "expected_m1",
    "median": "expected_median",
    "+1sigma": "expected_p1",
    "+2sigma": "expected_p2",
}
MAX_MASSES = 10_000


def mass_templates(spec: ModelSpec, dataset: Dataset, masses) -> tuple[TemplateSet, list[TemplateSet]]:
    """Per-mass TemplateSets (coupling scale resolved per mass) sharing one background set."""
    masses = np.asarray(masses, dtype=float)
    base = target_templates(spec, dataset, FitTarget("b_minus_l", 1, None, float(masses[0])))
    view = analysis_view(spec, dataset)
    sig = b_minus_l_templates_cached(view, masses, spec.physics, coupling_scale=1.0, scale_grid=base.scale_grid)
    out = []
    for m, values in zip(masses, sig):
        tpl = dataclasses.replace(
            base,
            options={"mass_mev": float(m)},
            coupling_scale=1.0,
            signal=MorphingTemplates.from_grid(base.scale_grid, values),
        )
        scale = spec.poi_scale or round_scale(auto_scale(tpl))
        out.append(rescale_signal(tpl, scale))
    return base, out


def parse_masses(text: str, log: bool = True) -> np.ndarray:
    """Mass grid in MeV from ``"lo:hi:n"`` (``n`` points, log or linear spacing) or ``"m1,m2,..."``.

    Raises InputError (field ``--masses``) for anything else, non-finite or negative masses,
    log spacing from 0, duplicates, or more than 10000 points.
    """

    def bad(msg):
        return InputError("command line", "--masses", msg)

    text = str(text).strip()
    try:
        if ":" in text:
            parts = text.split(":")
            if len(parts) != 3:
                raise bad(f"expected LO:HI:N, got {text!r}")
            lo, hi = float(parts[0]), float(parts[1])
            n = int(parts[2])
            if (
                not (math.isfinite(lo) and math.isfinite(hi))
                or lo < 0
                or n < 1
                or (n > 1 and not lo < hi)
                or (n == 1 and lo != hi)
            ):
                raise bad(f"need finite 0 <= LO < HI and N >= 1 (N = 1 only with LO = HI), got {text!r}")
            if log and lo <= 0:
                raise bad("log spacing needs LO > 0 (or use --linear)")
            if n > MAX_MASSES:
                raise bad(f"at most {MAX_MASSES} masses, got {n}")
            masses = np.geomspace(lo, hi, n) if log else np.linspace(lo, hi, n)
        else:
            masses = np.array([float(v) for v in text.split(",")], dtype=float)
    except ValueError as exc:
        if isinstance(exc, InputError):
            raise
        raise bad(f"not a number list or LO:HI:N range: {text!r}") from None
    if masses.size == 0 or masses.size > MAX_MASSES:
        raise bad(f"need 1 to {MAX_MASSES} masses")
    if not np.all(np.isfinite(masses)) or np.any(masses < 0):
        raise bad("masses must be finite and >= 0 MeV")
    masses = np.sort(masses)
    if np.any(np.diff(masses) <= 0):
        raise bad("duplicate masses")
    return masses


@dataclass(frozen=True)
class PointSettings:
    """What one mass point computes: limits at ``cl``; NUTS if ``poi_prior``; ``n_toys`` toys."""

    cl: float
    likelihood: str
    poi_prior: object | None  # PoiPrior, or None for frequentist only
    sampler: SamplerSettings
    n_toys: int
    seed: int
    max_resample: int = 2  # extra NUTS runs (twice the draws each) for a point whose diagnostics fail

    def seeds(self, index: int) -> tuple[int, int]:
        """(NUTS seed, toy seed) of mass point ``index``: from the master seed, not the worker."""
        return step_seed(self.seed, "mass", index, "nuts"), step_seed(self.seed, "mass", index, "toys")


def _profile_likelihood(tpl: TemplateSet, likelihood: str):
    key = ("profile_likelihood", structure_key(tpl, PoiPrior("improper"), likelihood))
    pl = worker_cache(key, lambda: ProfileLikelihood(tpl, likelihood=likelihood))
    return pl.load(tpl, 1)


def _posterior_sampler(tpl: TemplateSet, poi_prior, likelihood: str):
    key = ("posterior", structure_key(tpl, poi_prior, likelihood), "nutpie")
    return worker_cache(key, lambda: PosteriorSampler(tpl, poi_prior, likelihood)).for_prior(poi_prior)


def _in_template_unit(spec: ModelSpec, settings: PointSettings, tpl: TemplateSet) -> PointSettings:
    """``settings`` with the POI prior (in ``spec``'s prior unit) in the mass's coupling unit."""
    if settings.poi_prior is None:
        return settings
    prior = spec_in_template_unit(spec.with_overrides(poi_prior=settings.poi_prior), tpl).poi_prior
    return settings if prior == settings.poi_prior else dataclasses.replace(settings, poi_prior=prior)


def _short_of_ess(diag) -> bool:
    """The failure is only too few effective draws (no divergences, R-hat fine)."""
    return (
        diag.divergences == 0
        and diag.rhat_max <= RHAT_MAX
        and (diag.poi_ess_bulk < POI_ESS_MIN or diag.ess_bulk_min < ESS_MIN or diag.ess_tail_min < ESS_MIN)
    )


def scan_point(task) -> dict:
    """Limits at one mass. ``task = (index, mass_MeV, TemplateSet, PointSettings)``; limits in g."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _scan_point(*task)


def _scan_point(index, mass, tpl, ps) -> dict:
    t0 = time.perf_counter()
    scale = tpl.coupling_scale
    pl = _profile_likelihood(tpl, ps.likelihood)
    best = pl.best_fit()
    row = {
        "mass": float(mass),
        "scale": scale,
        "best_fit": best.x * scale,
        "freq_xmass": pl.upper_limit(ps.cl, "xmass", best) * scale,
        "freq_one_sided": pl.upper_limit(ps.cl, "one_sided", best) * scale,
    }
    nuts_seed, toy_seed = ps.seeds(index)
    if ps.n_toys:
        tl = toy_limits(
            tpl,
            likelihood=ps.likelihood,
            n_toys=ps.n_toys,
            seed=toy_seed,
            cl=ps.cl,
            processes=1,
            pl=pl,
            scheduler="local",
        )
        row.update({BAND_NAMES[k]: v * scale for k, v in tl.bands("xmass").items()})
    if ps.poi_prior is not None:
        sampler = _posterior_sampler(tpl, ps.poi_prior, ps.likelihood)
        data = model_data(tpl, 1, ps.likelihood)
        settings, draws_total = ps.sampler, 0
        for attempt in range(1 + ps.max_resample):
            # diagnostics failed: sample again with another seed and twice the draws (and, unless
            # only effective draws were short, twice the tuning) -- a seeded, deterministic rule,
            # so results do not depend on timing or backend
            seed = nuts_seed if attempt == 0 else step_seed(nuts_seed, "resample", attempt)
            trace = sampler.draw_posterior(data, settings, seed)
            draws_total += settings.draws * settings.chains
            trace.attrs["coupling_scale"] = scale
            trace.attrs["poi_prior"] = json.dumps(ps.poi_prior.describe(scale))
            lim = credible_limit(trace, ps.cl)
            diag = diagnostics(trace, cl=ps.cl)
            if not diag.sampling_failures:  # ok, or only the prior's bound set the limit: more draws won't help
                break
            settings = dataclasses.replace(
                settings, draws=2 * settings.draws, tune=settings.tune if _short_of_ess(diag) else 2 * settings.tune
            )
        row.update(
            bayes=lim["limit"],
            bayes_mcse=lim["mcse"],
            rhat_max=diag.rhat_max,
            poi_ess_bulk=diag.poi_ess_bulk,
            divergences=float(diag.divergences),
            diagnostics_ok=bool(diag.ok),
            nuts_draws=float(draws_total),
        )
    row["seconds"] = time.perf_counter() - t0
    return row


def run_scan(
    spec: ModelSpec,
    dataset: Dataset,
    masses,
    settings: PointSettings,
    *,
    done: dict | None = None,
    scheduler=None,
    processes: int | None = 1,
    on_point=None,
    log=print,
    done_reason: str = "resuming",
) -> list[dict]:
    """Rows (one dict per mass, in mass order) for the points not already in ``done`` (index -> row;
    ``done_reason`` says where they came from in the log).

    ``on_point(index, row)`` is called in this process as each point finishes (to persist it).
    """
    masses = np.asarray(masses, dtype=float)
    done = dict(done or {})
    started = time.perf_counter()
    _, tpls = mass_templates(spec, dataset, masses)
    log(f"[b_minus_l scan] templates for {masses.size} masses in {time.perf_counter() - started:.1f} s")
    todo = [i for i in range(masses.size) if i not in done]
    if done:
        log(
            f"[b_minus_l scan] {done_reason}: {len(done)} of {masses.size} points already done "
            f"(M = {', '.join(f'{masses[i]:.3g}' for i in sorted(done))} MeV)"
        )
    tasks = [(i, float(masses[i]), tpls[i], _in_template_unit(spec, settings, tpls[i])) for i in todo]

    def finished(k, row):
        i = todo[k]
        if on_point is not None:
            on_point(i, row)
        bayes = f"{row['bayes']:.3g} (Bayes), " if "bayes" in row else ""
        log(
            f"[b_minus_l scan] M = {masses[i]:.3g} MeV: g < {bayes}{row['freq_xmass']:.3g} (Delta chi2 = 2.71); "
            f"{row['seconds']:.1f} s"
        )

    results = run_tasks(scan_point, tasks, scheduler=scheduler, processes=processes, on_result=finished)
    done.update(zip(todo, results))
    return [done[i] for i in range(masses.size)]


def scan_dataset(masses, rows: list[dict], attrs: dict | None = None):
    """xarray Dataset (dim ``mass``, MeV) of the per-mass rows; couplings g dimensionless."""
    import xarray as xr

    order = [
        "scale",
        "best_fit",
        "freq_xmass",
        "freq_one_sided",
        *BAND_NAMES.values(),
        "bayes",
        "bayes_mcse",
        "rhat_max",
        "poi_ess_bulk",
        "divergences",
        "nuts_draws",
        "seconds",
    ]
    present = {k for r in rows for k in r} - {"mass", "diagnostics_ok"}
    keys = [k for k in order if k in present] + sorted(present - set(order))
    data = {k: ("mass", np.array([float(r.get(k, np.nan)) for r in rows], dtype=float)) for k in keys}
    if any("diagnostics_ok" in r for r in rows):
        data["diagnostics_ok"] = ("mass", np.array([bool(r.get("diagnostics_ok", False)) for r in rows]))
    ds = xr.Dataset(data, coords={"mass": ("mass", np.asarray(masses, dtype=float), {"units": "MeV"})})
    ds.attrs.update(attrs or {})
    return ds


def scan_b_minus_l(
    spec: ModelSpec,
    dataset: Dataset,
    masses,
    *,
    bayesian: bool = True,
    seed: int = 1,
    draws: int | None = None,
    tune: int | None = None,
    chains: int | None = None,
    log=print,
    cache: dict | None = None,
    n_toys: int = 0,
    scheduler=None,
    processes: int | None = 1,
    max_resample: int = 2,
    known: dict | None = None,
):
    """Bayesian and frequentist limits on g at each mass; returns an xarray Dataset (dim ``mass``).

    ``max_resample``: NUTS re-runs (doubled draws, new seed) for a mass whose diagnostics fail.

    ``known``: {mass index: row} of points already computed elsewhere (e.g. :func:`row_from_fit`),
    taken as they are; their masses are listed in the attribute ``masses_taken_from_fits_MeV``.

    ``cache``: compiled models shared with other fits of this process (used when running here).
    """
    masses = np.asarray(masses, dtype=float)
    started = time.perf_counter()
    sampler = dataclasses.replace(
        spec.sampler,
        name="nutpie",
        draws=draws or spec.sampler.draws,
        tune=tune or spec.sampler.tune,
        chains=chains or spec.sampler.chains,
    )
    settings = PointSettings(
        spec.cl, spec.likelihood, spec.poi_prior if bayesian else None, sampler, n_toys, seed, max_resample
    )
    if bayesian and cache is not None and processes == 1 and resolve_scheduler(scheduler) == "local":
        _share_compiled(spec, dataset, masses, cache)  # points run here: reuse the caller's compiled model
    known = dict(known or {})
    rows = run_scan(
        spec,
        dataset,
        masses,
        settings,
        done=known,
        scheduler=scheduler,
        processes=processes,
        log=log,
        done_reason="taken from the fits at these masses",
    )
    attrs = {
        "cl": spec.cl,
        "poi_prior": str(spec.poi_prior.describe(spec.poi_prior_unit)),
        "dataset_checksum": dataset.checksum,
        "seed": seed,
        "seconds": round(time.perf_counter() - started, 2),
    }
    if known:
        attrs["masses_taken_from_fits_MeV"] = [float(masses[i]) for i in sorted(known)]
    return scan_dataset(masses, rows, attrs)


def row_from_fit(record: dict, nuts_draws: int) -> dict:
    """A scan row (as :func:`scan_point` makes) from a pipeline fit record at the same mass: the fit's
    own posterior (its longer chains) and profile-likelihood limits, so curve and table agree."""
    d, f, scale = record["diagnostics"], record["frequentist"], record["coupling_scale"]
    return {
        "mass": float(record["mass_MeV"]),
        "scale": scale,
        "best_fit": f["best_fit"],
        "freq_xmass": f["limit_xmass_scaled"] * scale,
        "freq_one_sided": f["limit_one_sided_scaled"] * scale,
        "bayes": record["bayes"]["limit"],
        "bayes_mcse": record["bayes"]["mcse"],
        "rhat_max": d["rhat_max"],
        "poi_ess_bulk": d["poi_ess_bulk"],
        "divergences": float(d["divergences"]),
        "diagnostics_ok": bool(d["ok"]),
        "nuts_draws": float(nuts_draws),
    }


def _share_compiled(spec, dataset, masses, cache: dict) -> None:
    """Put the caller's compiled nutpie model (if any) in this process's worker cache, and back."""
    tpl = target_templates(spec, dataset, FitTarget("b_minus_l", 1, None, float(masses[0])))
    spec = spec_in_template_unit(spec, tpl)
    skey = structure_key(tpl, spec.poi_prior, spec.likelihood)
    ps = worker_cache(
        ("posterior", skey, "nutpie"),
        lambda: cache.get((skey, "nutpie")) or PosteriorSampler(tpl, spec.poi_prior, spec.likelihood),
    )
    cache[(skey, "nutpie")] = ps
