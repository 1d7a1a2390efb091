"""The main job: the full XMASS-I-style analysis, Bayesian and frequentist, into one run directory.

For every fit (magnetic moment; millicharge per flavour set and sign; B-L at XMASS's two masses):
posterior (NUTS) + credible limit + diagnostics, profile-likelihood fit + limits (Delta chi2, one-sided,
CLs), and for the headline fits toy bands (frequentist and Bayesian), PCL and, for the magnetic
moment, a Feldman-Cousins interval. Then the B-L exclusion curve over a mass grid, the comparison
table, plots, ``summary.md``, ``report.html`` and ``limits.json``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bayes_xmass.model.targets import FitTarget, fit_targets, target_templates
from bayes_xmass.infer.bayes import credible_limit, diagnostics, sample_posterior
from bayes_xmass.outputs.compare import comparison_row, csv_text, markdown_table, terminal_table
from bayes_xmass.datasets.dataset import Dataset
from bayes_xmass.infer.frequentist import ProfileLikelihood, frequentist_summary
from bayes_xmass.physics.interactions import CHARGE_CONVENTION, INTERACTIONS, get_interaction
from bayes_xmass.runtime.io import package_versions, write_json, write_text, write_with
from bayes_xmass.model.spec import ModelSpec, model_spec_for
from bayes_xmass.outputs.plots import plot_diagnostics_overview, plot_exclusion, plot_millicharge_summary, plot_spectrum_fit
from bayes_xmass.outputs.report import write_datatree, write_fit_plots
from bayes_xmass.infer.scan import row_from_fit, scan_b_minus_l
from bayes_xmass.cli.scan import SCAN_DRAWS, SCAN_TUNE
from bayes_xmass.infer.toys import (FC_WINDOW, bayesian_toy_limits, fc_edges_inside, fc_window_grid, feldman_cousins,
                   shared_profile_likelihood, toy_counts, toy_limits)

INTERACTION_ORDER = ("magnetic-moment", "millicharge", "dark-photon")
BACKGROUND_INTERACTION = "dark-photon"  # the job run in a second process (about half of the work)
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
    scan_masses: int = 16
    scan_draws: int = SCAN_DRAWS  # per chain; a mass whose diagnostics fail is re-sampled (scan.py)
    scan_tune: int = SCAN_TUNE
    enforce_diagnostics: bool = True
    parallel: bool = True  # B-L (fits, prior sensitivity, scan) in a second process, beside the others

    @classmethod
    def for_mode(cls, quick: bool) -> "RunSettings":
        if quick:
            return cls(True, draws=1000, tune=700, chains=4, n_freq_toys=40, n_bayes_toys=3, fc_grid=5,
                       fc_toys=20, scan_masses=5, scan_draws=1000, scan_tune=700, enforce_diagnostics=False)
        return cls()


def _spec(name: str, settings: RunSettings) -> ModelSpec:
    spec = model_spec_for(name)
    sampler = spec.sampler
    for key in ("draws", "tune", "chains"):
        if getattr(settings, key) is not None:
            sampler = dataclasses.replace(sampler, **{key: getattr(settings, key)})
    return spec.with_overrides(sampler=sampler)


def _headline(target: FitTarget) -> bool:
    """Fits that get toy ensembles: magnetic moment, common millicharge, B-L points."""
    return target.interaction != "millicharge" or target.flavours == "common"


def run_fit(spec: ModelSpec, dataset: Dataset, target: FitTarget, out: Path, settings: RunSettings, *,
            seed: int, overwrite: bool, log, cache: dict | None = None) -> dict:
    """Bayesian + frequentist analysis of one fit target; writes its .nc, toys and plots."""
    started = time.perf_counter()
    steps = StepTimer()
    tpl = target_templates(spec, dataset, target)
    unit = INTERACTIONS[target.interaction].coupling_unit
    log(f"[{target.label}] NUTS ({spec.sampler.name}): {spec.sampler.chains} chains x {spec.sampler.draws} draws")
    cache = {} if cache is None else cache
    steps.lap("templates")
    dt, ps = sample_posterior(tpl, target, poi_prior=spec.poi_prior, sampler=spec.sampler, likelihood=spec.likelihood,
                              seed=seed, provenance={"model_config": spec.describe()}, cache=cache)
    limit = credible_limit(dt, spec.cl)
    diag = diagnostics(dt)
    steps.lap("posterior")
    pl = shared_profile_likelihood(tpl, target.sign, spec.likelihood)  # the toys' compiled one too
    freq = frequentist_summary(pl, spec.cl)
    steps.lap("frequentist")
    scale = tpl.coupling_scale
    log(f"[{target.label}] credible limit {limit['limit']:.4g} {unit}; Delta chi2 = 2.71 limit "
        f"{freq['limit_xmass_scaled'] * scale:.4g} {unit}; chi2/dof {freq['chi2_best']:.1f}/{freq['dof']} "
        f"(zero signal {freq['chi2_zero']:.1f}); diagnostics {'ok' if diag.ok else 'FLAGGED'}")
    record = {
        "fit": target.label, "interaction": target.interaction, "sign": target.sign,
        "flavours": target.flavours, "mass_MeV": target.mass_mev, "coupling_scale": scale,
        "coupling_unit": unit, "poi_prior": spec.poi_prior.describe(), "likelihood": spec.likelihood,
        "bayes": limit, "diagnostics": diag.as_dict(),
        "frequentist": {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in freq.items()},
        "netcdf": f"{target.label}.nc",
    }
    toys_ds = None
    if _headline(target):
        tl = toy_limits(tpl, sign=target.sign, likelihood=spec.likelihood, n_toys=settings.n_freq_toys,
                        seed=seed + 101, cl=spec.cl, pl=pl)
        bands = {k: v * scale for k, v in tl.bands("xmass").items()}
        one_sided = {k: v * scale for k, v in tl.bands("one_sided").items()}
        pcl = max(freq["limit_one_sided_scaled"] * scale, one_sided["-1sigma"])
        steps.lap("frequentist_toys")
        bayes_toys, toy_divergences = bayesian_toy_limits(
            tpl, toy_counts(pl, 0.0, settings.n_bayes_toys, seed + 202), poi_prior=spec.poi_prior, sign=target.sign,
            likelihood=spec.likelihood, cl=spec.cl, seed=seed + 303, tune=BAYES_TOY_TUNE, draws=BAYES_TOY_DRAWS,
            target_accept=min(spec.sampler.target_accept, BAYES_TOY_TARGET_ACCEPT),
            posterior_sampler=ps if ps.compiled is not None else None, return_divergences=True)
        steps.lap("bayesian_toys")
        bayes_bands = {k: float(np.quantile(bayes_toys * scale, q))
                       for k, q in (("-1sigma", 0.158655), ("median", 0.5), ("+1sigma", 0.841345))}
        record["toys"] = {"n_freq_toys": settings.n_freq_toys, "freq_bands": bands, "one_sided_bands": one_sided,
                          "pcl": pcl, "pcl_power_threshold": "-1 sigma of the one-sided expected limit (16%)",
                          "n_bayes_toys": settings.n_bayes_toys, "bayes_bands": bayes_bands,
                          "bayes_toy_nuts": {"chains": 2, "tune": BAYES_TOY_TUNE, "draws": BAYES_TOY_DRAWS,
                                             "target_accept": min(spec.sampler.target_accept, BAYES_TOY_TARGET_ACCEPT),
                                             "divergences": int(toy_divergences.sum()),
                                             "toys_with_divergences": int(np.count_nonzero(toy_divergences))},
                          "toy_hypothesis": "background only; nuisances drawn from their priors per toy"}
        toys_ds = tl.to_dataset(scale)
        toys_ds["bayes_limit"] = ("bayes_toy", bayes_toys)
        toys_ds["bayes_divergences"] = ("bayes_toy", toy_divergences)
        log(f"[{target.label}] expected (median) limits: frequentist {bands['median']:.3g}, "
            f"Bayesian {bayes_bands['median']:.3g} {unit} ({settings.n_freq_toys}/{settings.n_bayes_toys} toys)")
    if target.interaction == "magnetic_moment":
        top = freq["limit_xmass_scaled"] if math.isfinite(freq["limit_xmass_scaled"]) else spec.poi_prior.upper
        # toys only where the edges can be (x = 0 and around the asymptotic limit); if they are not
        # there (a signal-like excess, or FC far from Wilks), the full grid from 0 to 1.6 x that limit
        fc_args = dict(sign=target.sign, likelihood=spec.likelihood, n_toys=settings.fc_toys, seed=seed + 404,
                       cl=spec.cl, pl=pl)
        fc = feldman_cousins(tpl, x_grid=fc_window_grid(top, settings.fc_grid), **fc_args)
        grid = "x = 0 and the window " + "-".join(f"{w:g}" for w in FC_WINDOW) + " x the Delta chi2 = 2.71 limit"
        if not fc_edges_inside(fc):
            fc = feldman_cousins(tpl, x_grid=np.linspace(0.0, 1.6 * top, FC_FULL_GRID), **fc_args)
            grid = "0 to 1.6 x the Delta chi2 = 2.71 limit (the window did not bracket the interval)"
        steps.lap("feldman_cousins")
        record["feldman_cousins"] = {"lower": fc["lower"] * scale, "upper": fc["upper"] * scale,
                                     "n_toys": fc["n_toys"], "grid_points": len(fc["x_grid"]), "grid": grid}
        log(f"[{target.label}] Feldman-Cousins {spec.cl:.0%} interval [{fc['lower'] * scale:.3g}, "
            f"{fc['upper'] * scale:.3g}] {unit}")
    # frequentist results next to the posterior in the same file
    import xarray as xr

    dt["frequentist"] = xr.Dataset(
        {"profile_delta_chi2": ("profile_point", np.asarray(freq["profile_delta_chi2"]))},
        coords={"profile_x": ("profile_point", np.asarray(freq["profile_x_scaled"]) * scale)},
        attrs={k: v for k, v in record["frequentist"].items() if isinstance(v, (int, float)) and not isinstance(v, bool)})
    write_datatree(dt, out / f"{target.label}.nc", overwrite)
    if toys_ds is not None:
        write_with(out / f"toys_{target.label}.nc", lambda p: toys_ds.to_netcdf(p), overwrite)
    steps.lap("netcdf")
    profile = (np.asarray(freq["profile_x_scaled"]) * scale, np.exp(-0.5 * np.asarray(freq["profile_delta_chi2"])))
    plots = write_fit_plots(dt, limit, out, target.label, profile=profile,
                            freq_limit=freq["limit_xmass_scaled"] * scale, overwrite=overwrite)
    plots["spectrum"] = _spectrum_plot(dt, tpl, pl, limit, out, target.label, overwrite)
    record["plots"] = {k: Path(v).relative_to(out).as_posix() for k, v in plots.items()}
    steps.lap("plots")
    record["seconds"] = round(time.perf_counter() - started, 1)
    record["step_seconds"] = steps.as_dict()
    return record


def _spectrum_plot(dt, tpl, pl, limit, out, label, overwrite):
    """Data vs the background-only fit (profile likelihood at zero signal: no POI prior involved),
    stacked by component, with the signal at the credible limit on top."""
    from bayes_xmass.outputs.report import _signal_at_limit

    per_bkg = pl.background_components(pl.fit(0.0))
    return plot_spectrum_fit(tpl.bin_edges_kev, tpl.observed, dict(zip(tpl.background_names, per_bkg)),
                             _signal_at_limit(dt, limit), label=f"{label}: background-only fit, {tpl.dataset.name}",
                             exposure_kg_day=tpl.dataset.exposure_kg_day, out=out / "plots" / f"{label}_spectrum.png",
                             overwrite=overwrite)


SHARED_INTERACTION = "millicharge"  # its fits without toys may be taken by the background process
MIN_SHARED_FITS = 3  # ... if at least this many are left: compiling its models there costs ~2 fits


def _shareable(target: FitTarget) -> bool:
    """Fits the background process may take: the shared interaction's fits without toys (the
    headline fits and the prior-sensitivity baseline always stay with the main process)."""
    return target.interaction == get_interaction(SHARED_INTERACTION).name and not _headline(target)


def _job_log(log, stream: str | None, lines: list[str]):
    import sys

    if log is not None:
        return log
    return (lambda m: print(m, file=getattr(sys, stream), flush=True)) if stream else lines.append


def _interaction_job(name: str, dataset: Dataset, out: Path, settings: RunSettings, seed: int, first_index: int,
                     overwrite: bool, log=None, stream: str | None = None, claims=None) -> dict:
    """Fits, prior-sensitivity table and (B-L) mass scan of one interaction, written into ``out``.

    Fit i of the run (``first_index`` + position) gets seed ``seed + 1000 i`` wherever it runs.
    Without ``log`` (a worker process) lines are printed as they come to ``stream`` ("stdout" or
    "stderr"), or returned under ``"log"`` if it is None, so that the caller can show them.
    ``claims`` (:class:`bayes_xmass.runtime.executor.WorkClaims`): shareable fits are done only if claimed
    here; the others are left to whoever claimed them (:func:`_take_shared_fits`)."""
    started = time.perf_counter()
    lines: list[str] = []
    log = _job_log(log, stream, lines)
    spec = _spec(name, settings)
    cache: dict = {}  # compiled models shared by fits of the same structure
    records = [run_fit(spec, dataset, target, out, settings, seed=seed + 1000 * (first_index + k),
                       overwrite=overwrite, log=log, cache=cache)
               for k, target in enumerate(fit_targets(spec))
               if claims is None or not _shareable(target) or claims.take(target.label)]
    from bayes_xmass.validation.validate import run_prior_sensitivity  # one table per interaction (quick: PSIS reweighting)

    sensitivity = run_prior_sensitivity({spec.interaction: spec}, dataset, records, out, quick=settings.quick,
                                        seed=seed + 55, cache=cache, log=log)
    scan = None
    if spec.interaction == "b_minus_l":
        masses = np.geomspace(1e-3, 10.0, settings.scan_masses)
        # masses of the fits (XMASS's points, the grid's ends): the fits' results, not a shorter re-run
        n_draws = spec.sampler.chains * spec.sampler.draws
        known = {i: row_from_fit(r, n_draws) for r in records for i, m in enumerate(masses)
                 if r.get("mass_MeV") is not None and math.isclose(m, r["mass_MeV"], rel_tol=1e-9)}
        scan = scan_b_minus_l(spec, dataset, masses, seed=seed + 77, log=log, cache=cache, tune=settings.scan_tune,
                              draws=settings.scan_draws, chains=spec.sampler.chains,
                              max_resample=0 if settings.quick else 2, known=known)
        write_with(out / "b_minus_l_scan.nc", lambda p: scan.to_netcdf(p), overwrite)
        write_text(out / "b_minus_l_scan.csv", scan.to_dataframe().to_csv(), overwrite)
    return {"records": records, "sensitivity": sensitivity, "scan": scan, "log": lines,
            "seconds": round(time.perf_counter() - started, 1)}


def _take_shared_fits(name: str, dataset: Dataset, out: Path, settings: RunSettings, seed: int, first_index: int,
                      overwrite: bool, claims, log=None, stream: str | None = None) -> dict:
    """Shareable fits of interaction ``name`` not yet claimed by the main process, taken from the
    last one backwards while the claims succeed (the main process claims from the first one
    forwards), if at least MIN_SHARED_FITS are left. Same seeds as in the main process, so the
    results do not depend on who fits."""
    started = time.perf_counter()
    lines: list[str] = []
    log = _job_log(log, stream, lines)
    spec = _spec(name, settings)
    todo = [(k, t) for k, t in enumerate(fit_targets(spec)) if _shareable(t)][::-1]
    records: list[dict] = []
    if sum(not claims.taken(t.label) for _, t in todo) >= MIN_SHARED_FITS:
        cache: dict = {}
        for k, target in todo:
            if not claims.take(target.label):
                break  # the main process has got here: the ones before are its own
            records.append(run_fit(spec, dataset, target, out, settings, seed=seed + 1000 * (first_index + k),
                                   overwrite=overwrite, log=log, cache=cache))
    return {"records": records[::-1], "log": lines, "seconds": round(time.perf_counter() - started, 1)}


def _background_job(jobs: list[tuple], stream: str | None = None) -> list[dict]:
    """The background process's work: ``(function, args, kwargs)`` in order (the B-L interaction,
    then the main process's shareable fits that are still left)."""
    return [fn(*args, stream=stream, **kwargs) for fn, args, kwargs in jobs]


def _stream_of(log) -> str | None:
    """'stdout' / 'stderr' if ``log`` just prints there (a worker can then print itself), else None."""
    return "stdout" if log is print else getattr(log, "stream", None)


def run_analysis(dataset: Dataset, out: Path, *, settings: RunSettings, seed: int = 20201,
                 overwrite: bool = False, log=print, worker=None) -> dict:
    """Everything, into ``out``. Returns the limits.json content. ``worker``: a background worker
    already started (:func:`bayes_xmass.runtime.executor.start_background_worker`) for the B-L part; this
    function owns it from here (it is stopped if the run needs none)."""
    started = time.perf_counter()
    stages = StepTimer()
    specs = {name: _spec(name, settings) for name in INTERACTION_ORDER}
    first = dict(zip(INTERACTION_ORDER, np.cumsum([0] + [len(fit_targets(specs[n])) for n in INTERACTION_ORDER])))
    args = {name: (name, dataset, out, settings, seed, int(first[name]), overwrite) for name in INTERACTION_ORDER}
    jobs: dict[str, dict] = {}
    background = BACKGROUND_INTERACTION if settings.parallel and (os.cpu_count() or 1) >= 2 else None
    from bayes_xmass.runtime.executor import WorkClaims, background_task, single_threaded_blas

    # the background process does B-L, then takes shareable fits the main process has not reached
    claims = WorkClaims.create() if background else None
    shared = {}
    bg_jobs = [(_interaction_job, args[background], {}),
               (_take_shared_fits, args[SHARED_INTERACTION], {"claims": claims})] if background else []
    try:
        with single_threaded_blas(), background_task(_background_job if background else None, (bg_jobs,),
                                                     kwargs={"stream": _stream_of(log)}, worker=worker) as pending:
            for name in INTERACTION_ORDER:
                if name != background:
                    jobs[name] = _interaction_job(*args[name], log=log,
                                                  claims=claims if name == SHARED_INTERACTION else None)
            stages.lap("interactions")
            if background:
                jobs[background], shared = pending.result()
                for line in jobs[background]["log"] + shared["log"]:  # lines not yet shown (custom log callables)
                    log(line)
    finally:
        if claims is not None:
            claims.remove()
    stages.lap("waiting_for_background")
    if shared.get("records"):  # in the order of the fits
        order = {t.label: i for i, t in enumerate(fit_targets(specs[SHARED_INTERACTION]))}
        jobs[SHARED_INTERACTION]["records"] = sorted(jobs[SHARED_INTERACTION]["records"] + shared["records"],
                                                     key=lambda r: order[r["fit"]])
    records = [r for name in INTERACTION_ORDER for r in jobs[name]["records"]]
    sensitivity = [t for name in INTERACTION_ORDER for t in jobs[name]["sensitivity"]]
    specs = {spec.interaction: spec for spec in specs.values()}
    bl = specs["b_minus_l"]
    scan = jobs["dark-photon"]["scan"]
    masses = scan["mass"].values
    rows = [comparison_row(r) for r in records]
    plots = {
        "exclusion": plot_exclusion(masses, scan["bayes"].values, scan["freq_xmass"].values,
                                    published=INTERACTIONS["b_minus_l"].published_limits, cl=bl.cl,
                                    flagged=~scan["diagnostics_ok"].values.astype(bool),
                                    out=out / "plots" / "b_minus_l_exclusion.png", overwrite=overwrite),
        "millicharge": plot_millicharge_summary([r for r in rows if r["fit"].startswith("millicharge")],
                                                out=out / "plots" / "millicharge_limits.png", overwrite=overwrite),
        "diagnostics": plot_diagnostics_overview(
            [{"fit": r["fit"], **r["diagnostics"]} for r in records], out=out / "plots" / "diagnostics.png",
            overwrite=overwrite),
    }
    stages.lap("summary_plots")
    seconds = time.perf_counter() - started
    result = {
        "provenance": {"dataset": dataset.summary(), "seed": seed, "settings": dataclasses.asdict(settings),
                       "models": {k: v.describe() for k, v in specs.items()}, "charge_convention": CHARGE_CONVENTION,
                       "package_versions": package_versions(), "seconds": round(seconds, 1),
                       "stage_seconds": stages.as_dict(),
                       "interaction_seconds": {k: v["seconds"] for k, v in jobs.items()},
                       "background_interaction": background,
                       "fits_taken_by_background": [r["fit"] for r in shared.get("records", [])],
                       "background_shared_fit_seconds": shared.get("seconds")},
        "fits": records,
        "comparison": rows,
        "b_minus_l_scan": {"mass_MeV": masses.tolist(), "bayes": scan["bayes"].values.tolist(),
                           "freq_xmass": scan["freq_xmass"].values.tolist(),
                           "freq_one_sided": scan["freq_one_sided"].values.tolist(),
                           "diagnostics_ok": scan["diagnostics_ok"].values.tolist()},
        "plots": {k: Path(v).relative_to(out).as_posix() for k, v in plots.items()},
        "prior_sensitivity": sensitivity,
    }
    write_text(out / "comparison.csv", csv_text(rows), overwrite)
    write_text(out / "summary.md", summary_markdown(result, dataset), overwrite)
    from bayes_xmass.outputs.html import report_html

    write_text(out / "report.html", report_html(result, out), overwrite)
    write_json(out / "limits.json", result, overwrite)  # last: its presence marks a complete run
    log("\n" + terminal_table(rows))
    return result


def summary_markdown(result: dict, dataset: Dataset) -> str:
    """summary.md: headline table, conventions, per-fit details, diagnostics, provenance."""
    rows = result["comparison"]
    prov = result["provenance"]
    lines = [f"# bayes_xmass analysis of {dataset.name}", "",
             f"Dataset checksum `{dataset.checksum[:16]}`; exposure {dataset.exposure_kg_day:.6g} kg day; "
             f"seed {prov['seed']}; quick = {prov['settings']['quick']}; wall time {prov['seconds']} s.", "",
             "## Limits (90% CL) next to XMASS-I (PLB 809 (2020) 135741)", "", markdown_table(rows), "",
             "Conventions: Bayesian = one-sided 90% quantile of the marginal posterior of |coupling| (POI prior "
             "named); Δχ² = 2.71 = the XMASS-style chi-square convention (≈95% one-sided coverage); one-sided = "
             "Δχ² = 1.64 (nominal 90% one-sided); CLs asymptotic. " + CHARGE_CONVENTION + ".", "",
             "## Fits", ""]
    for r in result["fits"]:
        d = r["diagnostics"]
        status = "ok" if d["ok"] else "FLAGGED: " + "; ".join(d["failures"])
        lines += [f"### {r['fit']}", "",
                  f"- credible limit {r['bayes']['limit']:.4g} ± {r['bayes']['mcse']:.2g} (MCSE) {r['coupling_unit']}; "
                  f"prior {r['poi_prior']}; likelihood {r['likelihood']}",
                  f"- best fit {r['frequentist']['best_fit']:.3g} {r['coupling_unit']}, χ²/dof "
                  f"{r['frequentist']['chi2_best']:.1f}/{r['frequentist']['dof']} (zero signal "
                  f"{r['frequentist']['chi2_zero']:.1f}), discovery Z = {r['frequentist']['discovery_z']:.2f}",
                  f"- diagnostics {status} (max R-hat {d['rhat_max']:.4f}, POI bulk ESS {d['poi_ess_bulk']:.0f}, "
                  f"divergences {d['divergences']})"]
        if "toys" in r:
            t = r["toys"]
            lines.append(f"- expected (background-only toys): frequentist median {t['freq_bands']['median']:.3g} "
                         f"[±1σ {t['freq_bands']['-1sigma']:.3g}, {t['freq_bands']['+1sigma']:.3g}], Bayesian median "
                         f"{t['bayes_bands']['median']:.3g} ({t['n_freq_toys']}/{t['n_bayes_toys']} toys); "
                         f"PCL {t['pcl']:.3g}" + _toy_divergence_note(t))
        if "feldman_cousins" in r:
            fc = r["feldman_cousins"]
            lines.append(f"- Feldman-Cousins interval [{fc['lower']:.3g}, {fc['upper']:.3g}] ({fc['n_toys']} toys "
                         f"per grid point)")
        lines += ["", f"![posterior vs profile]({r['plots']['poi']}) ![spectrum]({r['plots']['spectrum']})", ""]
    scan = result["b_minus_l_scan"]
    lines += ["## B-L exclusion curve", "", f"![exclusion]({result['plots']['exclusion']})", "",
              "| M [MeV] | Bayes | Δχ²=2.71 | diagnostics |", "|---|---|---|---|"]
    lines += [f"| {m:.3g} | {b:.3g} | {f:.3g} | {'ok' if ok else 'flagged'} |"
              for m, b, f, ok in zip(scan["mass_MeV"], scan["bayes"], scan["freq_xmass"], scan["diagnostics_ok"])]
    if result.get("prior_sensitivity"):
        from bayes_xmass.validation.validate import SENSITIVITY_NOTE, sensitivity_markdown

        lines += ["", "## Prior sensitivity", "", SENSITIVITY_NOTE, ""]
        lines += [sensitivity_markdown(s) for s in result["prior_sensitivity"]]
    lines += ["", "## Provenance", "", "```json", json.dumps(prov, indent=2, default=str), "```", ""]
    return "\n".join(lines)


def _toy_divergence_note(toys: dict) -> str:
    nuts = toys.get("bayes_toy_nuts") or {}
    if not nuts.get("divergences"):
        return ""
    return (f"; Bayesian toys: {nuts['divergences']} divergent transitions in {nuts['toys_with_divergences']} of "
            f"{toys['n_bayes_toys']} toys (2x{nuts['draws']} draws each)")


def diagnostics_failures(result: dict) -> list[str]:
    return [r["fit"] for r in result["fits"] if not r["diagnostics"]["ok"]]


def finite_positive(values) -> bool:
    return all(v is not None and math.isfinite(v) and v > 0 for v in values)
