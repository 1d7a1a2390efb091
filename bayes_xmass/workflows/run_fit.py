"""One fit target of the full analysis (``run``): posterior, frequentist limits, toys, files.

:func:`run_fit` does, for one target: NUTS posterior + credible limit + diagnostics, the profile
likelihood (Delta chi2, one-sided, CLs limits), for the headline fits (:func:`is_headline`) toy bands
(frequentist and Bayesian) and PCL, for the magnetic moment a Feldman-Cousins interval; and writes
``<fit>.nc``, ``toys_<fit>.nc`` and the fit's plots. :class:`RunSettings` says how much work a run
does; :class:`StepTimer` records wall times (s).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bayes_xmass.datasets.types import Dataset
from bayes_xmass.infer.frequentist import frequentist_summary
from bayes_xmass.infer.neyman import observed_neyman_limit
from bayes_xmass.infer.posterior_sampler import sample_posterior
from bayes_xmass.infer.posterior_summary import credible_limit, diagnostics
from bayes_xmass.infer.toy_studies import bayesian_toy_limits
from bayes_xmass.infer.toys import (
    FC_WINDOW,
    fc_edges_inside,
    fc_window_grid,
    feldman_cousins,
    shared_profile_likelihood,
    toy_counts,
    toy_limits,
)
from bayes_xmass.model.spec import ModelSpec
from bayes_xmass.model.targets import FitTarget, spec_in_template_unit, target_templates
from bayes_xmass.outputs.plot_fits import plot_spectrum_fit
from bayes_xmass.outputs.report import signal_counts_at_limit, write_datatree, write_fit_plots
from bayes_xmass.outputs.results import frequentist_physical
from bayes_xmass.physics.interactions import INTERACTIONS
from bayes_xmass.runtime.io import write_with
from bayes_xmass.runtime.seeds import step_seed
from bayes_xmass.workflows.records import FitRecord
from bayes_xmass.workflows.scan_defaults import SCAN_DRAWS, SCAN_TUNE

__all__ = [
    "BAYES_TOY_DRAWS",
    "BAYES_TOY_TARGET_ACCEPT",
    "BAYES_TOY_TUNE",
    "FC_FULL_GRID",
    "RunSettings",
    "StepTimer",
    "is_headline",
    "run_fit",
    "write_spectrum_plot",
]

# NUTS of the Bayesian toy fits (2 chains each): the band's width comes from the toy-to-toy spread
# (12 toys), not from the few-% Monte Carlo error of each toy's 90% quantile at this length
BAYES_TOY_TUNE, BAYES_TOY_DRAWS = 400, 600
# ... and their target acceptance, below the fits' 0.95 (B-L, millicharge): B-L toys take half the
# leapfrog steps (15 vs 29 per draw) for the same limits (24 toys per mass: per-toy differences
# +0.4% +- 1.6%, band quantiles within 1%); divergences are counted and reported (`toys`)
BAYES_TOY_TARGET_ACCEPT = 0.85
FC_FULL_GRID = 13  # FC grid points from 0 to 1.6 x the asymptotic limit, where the window grid does not do


class StepTimer:
    """Wall time of successive steps (s): ``lap(name)`` closes the step that ran since the last lap."""

    def __init__(self):
        self._last = time.perf_counter()
        self.seconds: dict[str, float] = {}

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.seconds[name] = self.seconds.get(name, 0.0) + now - self._last
        self._last = now

    def as_dict(self) -> dict[str, float]:
        return {k: round(v, 2) for k, v in self.seconds.items()}


@dataclass(frozen=True)
class RunSettings:
    """How much work the run does (``quick`` = the reduced version used by CI)."""

    quick: bool = False
    draws: int | None = None  # None: the model TOML's
    tune: int | None = None
    chains: int | None = None
    n_freq_toys: int = 300
    n_bayes_toys: int = 12
    fc_grid: int = 7  # x = 0 and 6 points around the asymptotic limit (pipeline: fc_window_grid)
    fc_toys: int = 100
    neyman_toys: int = 400  # toys per grid point calibrating the one-sided limit (infer/neyman.py)
    scan_masses: int = 16
    scan_draws: int = SCAN_DRAWS  # per chain; a mass whose diagnostics fail is re-sampled (scan.py)
    scan_tune: int = SCAN_TUNE
    enforce_diagnostics: bool = True
    parallel: bool = True  # B-L (fits, prior sensitivity, scan) in a second process, beside the others
    rrpa_table: str | None = None  # a user RRPA table (CSV): one more row of the atomic-model tables

    @classmethod
    def for_mode(cls, quick: bool) -> RunSettings:
        if quick:
            return cls(
                True,
                draws=1000,
                tune=700,
                chains=4,
                n_freq_toys=40,
                n_bayes_toys=3,
                fc_grid=5,
                fc_toys=20,
                neyman_toys=50,
                scan_masses=5,
                scan_draws=1000,
                scan_tune=700,
                enforce_diagnostics=False,
            )
        return cls()


def is_headline(target: FitTarget) -> bool:
    """Fits that get toy ensembles: magnetic moment, common millicharge, B-L points."""
    return target.interaction != "millicharge" or target.flavours == "common"


def run_fit(
    spec: ModelSpec,
    dataset: Dataset,
    target: FitTarget,
    out: Path,
    settings: RunSettings,
    *,
    seed: int,
    overwrite: bool,
    log,
    cache: dict | None = None,
) -> FitRecord:
    """Bayesian + frequentist analysis of one fit target; writes its .nc, toys and plots."""
    started = time.perf_counter()
    steps = StepTimer()
    tpl = target_templates(spec, dataset, target)
    spec = spec_in_template_unit(spec, tpl, target.sign)  # the POI prior in the templates' unit
    unit = INTERACTIONS[target.interaction].coupling_unit
    log(f"[{target.label}] NUTS ({spec.sampler.name}): {spec.sampler.chains} chains x {spec.sampler.draws} draws")
    cache = {} if cache is None else cache
    steps.lap("templates")
    dt, ps = sample_posterior(
        tpl,
        target,
        poi_prior=spec.poi_prior,
        sampler=spec.sampler,
        likelihood=spec.likelihood,
        seed=seed,
        provenance={"model_config": spec.describe()},
        cache=cache,
    )
    limit = credible_limit(dt, spec.cl)
    diag = diagnostics(dt, cl=spec.cl)
    steps.lap("posterior")
    pl = shared_profile_likelihood(tpl, target.sign, spec.likelihood)  # the toys' compiled one too
    freq = frequentist_summary(pl, spec.cl)
    steps.lap("frequentist")
    scale = tpl.coupling_scale
    log(
        f"[{target.label}] credible limit {limit['limit']:.4g} {unit}; Delta chi2 = 2.71 limit "
        f"{freq['limit_xmass_scaled'] * scale:.4g} {unit}; chi2/dof {freq['chi2_best']:.1f}/{freq['dof']} "
        f"(zero signal {freq['chi2_zero']:.1f}); diagnostics {'ok' if diag.ok else 'FLAGGED'}"
    )
    record: FitRecord = {
        "fit": target.label,
        "interaction": target.interaction,
        "sign": target.sign,
        "flavours": target.flavours,
        "mass_MeV": target.mass_mev,
        "coupling_scale": scale,
        "coupling_unit": unit,
        "poi_prior": spec.poi_prior.describe(scale),
        "likelihood": spec.likelihood,
        "bayes": limit,
        "diagnostics": diag.as_dict(),
        "frequentist": frequentist_physical(freq, scale),
        "netcdf": f"{target.label}.nc",
    }
    # every fit (not the scan): the one-sided limit with critical values from toys (infer/neyman.py)
    calibrated = observed_neyman_limit(
        pl,
        freq["limit_one_sided_scaled"],
        n_toys=settings.neyman_toys,
        seed=step_seed(seed, "toy_calibrated_limit"),
        cl=spec.cl,
    )
    record["toy_calibrated"] = calibrated.describe(scale)
    steps.lap("toy_calibrated_limit")
    log(
        f"[{target.label}] toy-calibrated one-sided {spec.cl:.0%} limit {calibrated.limit * scale:.4g} {unit} "
        f"(asymptotic {freq['limit_one_sided_scaled'] * scale:.4g}; {settings.neyman_toys} toys per grid point)"
    )
    toys_ds = None
    if is_headline(target):
        tl = toy_limits(
            tpl,
            sign=target.sign,
            likelihood=spec.likelihood,
            n_toys=settings.n_freq_toys,
            seed=step_seed(seed, "toy_limits"),
            cl=spec.cl,
            pl=pl,
        )
        bands = {k: v * scale for k, v in tl.bands("xmass").items()}
        one_sided = {k: v * scale for k, v in tl.bands("one_sided").items()}
        pcl = max(freq["limit_one_sided_scaled"] * scale, one_sided["-1sigma"])
        steps.lap("frequentist_toys")
        bayes_toys, toy_divergences = bayesian_toy_limits(
            tpl,
            toy_counts(pl, 0.0, settings.n_bayes_toys, step_seed(seed, "bayes_toy_counts")),
            poi_prior=spec.poi_prior,
            sign=target.sign,
            likelihood=spec.likelihood,
            cl=spec.cl,
            seed=step_seed(seed, "bayes_toy_fits"),
            tune=BAYES_TOY_TUNE,
            draws=BAYES_TOY_DRAWS,
            target_accept=min(spec.sampler.target_accept, BAYES_TOY_TARGET_ACCEPT),
            posterior_sampler=ps if ps.compiled is not None else None,
            return_divergences=True,
        )
        steps.lap("bayesian_toys")
        bayes_bands = {
            k: float(np.quantile(bayes_toys * scale, q))
            for k, q in (("-1sigma", 0.158655), ("median", 0.5), ("+1sigma", 0.841345))
        }
        record["toys"] = {
            "n_freq_toys": settings.n_freq_toys,
            "freq_bands": bands,
            "one_sided_bands": one_sided,
            "pcl": pcl,
            "pcl_power_threshold": "-1 sigma of the one-sided expected limit (16%)",
            "n_bayes_toys": settings.n_bayes_toys,
            "bayes_bands": bayes_bands,
            "bayes_toy_nuts": {
                "chains": 2,
                "tune": BAYES_TOY_TUNE,
                "draws": BAYES_TOY_DRAWS,
                "target_accept": min(spec.sampler.target_accept, BAYES_TOY_TARGET_ACCEPT),
                "divergences": int(toy_divergences.sum()),
                "toys_with_divergences": int(np.count_nonzero(toy_divergences)),
            },
            "toy_hypothesis": "background only; nuisances drawn from their priors per toy",
        }
        toys_ds = tl.to_dataset(scale)
        toys_ds["bayes_limit"] = ("bayes_toy", bayes_toys)
        toys_ds["bayes_divergences"] = ("bayes_toy", toy_divergences)
        log(
            f"[{target.label}] expected (median) limits: frequentist {bands['median']:.3g}, "
            f"Bayesian {bayes_bands['median']:.3g} {unit} ({settings.n_freq_toys}/{settings.n_bayes_toys} toys)"
        )
    if target.interaction == "magnetic_moment":
        top = freq["limit_xmass_scaled"] if math.isfinite(freq["limit_xmass_scaled"]) else spec.poi_prior.upper
        # toys only where the edges can be (x = 0 and around the asymptotic limit); if they are not
        # there (a signal-like excess, or FC far from Wilks), the full grid from 0 to 1.6 x that limit
        fc_args: dict[str, Any] = dict(
            sign=target.sign,
            likelihood=spec.likelihood,
            n_toys=settings.fc_toys,
            seed=step_seed(seed, "feldman_cousins"),
            cl=spec.cl,
            pl=pl,
        )
        fc = feldman_cousins(tpl, x_grid=fc_window_grid(top, settings.fc_grid), **fc_args)
        grid = "x = 0 and the window " + "-".join(f"{w:g}" for w in FC_WINDOW) + " x the Delta chi2 = 2.71 limit"
        if not fc_edges_inside(fc):
            fc = feldman_cousins(tpl, x_grid=np.linspace(0.0, 1.6 * top, FC_FULL_GRID), **fc_args)
            grid = "0 to 1.6 x the Delta chi2 = 2.71 limit (the window did not bracket the interval)"
        steps.lap("feldman_cousins")
        record["feldman_cousins"] = {
            "lower": fc["lower"] * scale,
            "upper": fc["upper"] * scale,
            "n_toys": fc["n_toys"],
            "grid_points": len(fc["x_grid"]),
            "grid": grid,
        }
        log(
            f"[{target.label}] Feldman-Cousins {spec.cl:.0%} interval [{fc['lower'] * scale:.3g}, "
            f"{fc['upper'] * scale:.3g}] {unit}"
        )
    # frequentist results next to the posterior in the same file
    import xarray as xr

    dt["frequentist"] = xr.Dataset(
        {"profile_delta_chi2": ("profile_point", np.asarray(freq["profile_delta_chi2"]))},
        coords={"profile_x": ("profile_point", np.asarray(freq["profile_x_scaled"]) * scale)},
        attrs={
            k: v for k, v in record["frequentist"].items() if isinstance(v, (int, float)) and not isinstance(v, bool)
        },
    )
    write_datatree(dt, out / f"{target.label}.nc", overwrite)
    if toys_ds is not None:
        write_with(out / f"toys_{target.label}.nc", lambda p: toys_ds.to_netcdf(p), overwrite)
    steps.lap("netcdf")
    profile = (np.asarray(freq["profile_x_scaled"]) * scale, np.exp(-0.5 * np.asarray(freq["profile_delta_chi2"])))
    plots = write_fit_plots(
        dt,
        limit,
        out,
        target.label,
        profile=profile,
        freq_limit=freq["limit_xmass_scaled"] * scale,
        overwrite=overwrite,
    )
    plots["spectrum"] = write_spectrum_plot(dt, tpl, pl, limit, out, target.label, overwrite)
    record["plots"] = {k: Path(v).relative_to(out).as_posix() for k, v in plots.items()}
    steps.lap("plots")
    record["seconds"] = round(time.perf_counter() - started, 1)
    record["step_seconds"] = steps.as_dict()
    return record


def write_spectrum_plot(dt, tpl, pl, limit, out, label, overwrite):
    """Data vs the background-only fit (profile likelihood at zero signal: no POI prior involved),
    stacked by component, with the signal at the credible limit on top."""
    per_bkg = pl.background_components(pl.fit(0.0))
    return plot_spectrum_fit(
        tpl.bin_edges_kev,
        tpl.observed,
        dict(zip(tpl.background_names, per_bkg)),
        signal_counts_at_limit(dt, limit),
        label=f"{label}: background-only fit, {tpl.dataset.name}",
        exposure_kg_day=tpl.dataset.exposure_kg_day,
        out=out / "plots" / f"{label}_spectrum.png",
        overwrite=overwrite,
    )
