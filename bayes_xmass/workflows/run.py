"""The main job: the full XMASS-I-style analysis, Bayesian and frequentist, into one run directory.

For every fit (magnetic moment; millicharge per flavour set and sign; B-L at XMASS's two masses):
posterior (NUTS) + credible limit + diagnostics, profile-likelihood fit + limits (Delta chi2, one-sided,
CLs), and for the headline fits toy bands (frequentist and Bayesian), PCL and, for the magnetic
moment, a Feldman-Cousins interval (:mod:`bayes_xmass.workflows.run_fit`). Then the B-L exclusion
curve over a mass grid, the comparison table, plots, ``summary.md``
(:mod:`bayes_xmass.workflows.run_summary`), ``report.html`` and ``limits.json``.

The work is split between this process and a background worker process (the B-L interaction, then
millicharge fits the main process has not reached, claimed through
:class:`bayes_xmass.runtime.work_claims.WorkClaims`); fit i of the run has seed ``step_seed(seed, "fit", i)``
wherever it runs, so the results do not depend on the split.
"""

from __future__ import annotations

import dataclasses
import math
import os
import sys
import time
from pathlib import Path
from typing import cast

import numpy as np

from bayes_xmass.datasets.types import Dataset
from bayes_xmass.infer.scan import row_from_fit, scan_b_minus_l
from bayes_xmass.model.spec import ModelSpec, model_spec_for
from bayes_xmass.model.targets import FitTarget, fit_targets
from bayes_xmass.outputs.compare import comparison_row, csv_text, terminal_table
from bayes_xmass.outputs.csv_tables import scan_csv
from bayes_xmass.outputs.html import report_html
from bayes_xmass.outputs.plot_convergence import plot_diagnostics_overview
from bayes_xmass.outputs.plot_limits import plot_exclusion, plot_millicharge_summary
from bayes_xmass.outputs.results import results_document, scan_curves
from bayes_xmass.physics.atomic import AtomicModel
from bayes_xmass.physics.interactions import CHARGE_CONVENTION, INTERACTIONS, get_interaction
from bayes_xmass.runtime.background import background_task
from bayes_xmass.runtime.io import file_entry, package_versions, write_json, write_text, write_with
from bayes_xmass.runtime.seeds import step_seed
from bayes_xmass.runtime.work_claims import WorkClaims
from bayes_xmass.runtime.worker_process import settle_garbage_collector, single_threaded_blas
from bayes_xmass.workflows.records import RunRecord
from bayes_xmass.workflows.run_fit import RunSettings, StepTimer, is_headline, run_fit
from bayes_xmass.workflows.run_launch import RunLaunch
from bayes_xmass.workflows.run_summary import summary_markdown
from bayes_xmass.workflows.validate import run_atomic_systematic, run_prior_sensitivity

__all__ = [
    "BACKGROUND_INTERACTION",
    "INTERACTION_ORDER",
    "MIN_SHARED_FITS",
    "SHARED_INTERACTION",
    "RunSettings",
    "run_analysis",
    "run_fit",
    "run_full_analysis",
]

INTERACTION_ORDER = ("magnetic-moment", "millicharge", "dark-photon")
BACKGROUND_INTERACTION = "dark-photon"  # the job run in a second process (about half of the work)


def _spec(name: str, settings: RunSettings) -> ModelSpec:
    spec = model_spec_for(name)
    sampler = spec.sampler
    for key in ("draws", "tune", "chains"):
        if getattr(settings, key) is not None:
            sampler = dataclasses.replace(sampler, **{key: getattr(settings, key)})
    return spec.with_overrides(sampler=sampler)


SHARED_INTERACTION = "millicharge"  # its fits without toys may be taken by the background process
MIN_SHARED_FITS = 3  # ... if at least this many are left: compiling its models there costs ~2 fits


def _shareable(target: FitTarget) -> bool:
    """Fits the background process may take: the shared interaction's fits without toys (the
    headline fits and the prior-sensitivity baseline always stay with the main process)."""
    return target.interaction == get_interaction(SHARED_INTERACTION).name and not is_headline(target)


def _job_log(log, stream: str | None, lines: list[str]):
    if log is not None:
        return log
    return (lambda m: print(m, file=getattr(sys, stream), flush=True)) if stream else lines.append


def _interaction_job(
    name: str,
    dataset: Dataset,
    out: Path,
    settings: RunSettings,
    seed: int,
    first_index: int,
    overwrite: bool,
    log=None,
    stream: str | None = None,
    claims=None,
) -> dict:
    """Fits, prior-sensitivity table and (B-L) mass scan of one interaction, written into ``out``.

    Fit i of the run (``first_index`` + position) gets seed ``step_seed(seed, "fit", i)`` wherever it runs.
    Without ``log`` (a worker process) lines are printed as they come to ``stream`` ("stdout" or
    "stderr"), or returned under ``"log"`` if it is None, so that the caller can show them.
    ``claims`` (:class:`bayes_xmass.runtime.work_claims.WorkClaims`): shareable fits are done only if claimed
    here; the others are left to whoever claimed them (:func:`_take_shared_fits`)."""
    started = time.perf_counter()
    lines: list[str] = []
    log = _job_log(log, stream, lines)
    spec = _spec(name, settings)
    cache: dict = {}  # compiled models shared by fits of the same structure
    records = [
        run_fit(
            spec,
            dataset,
            target,
            out,
            settings,
            seed=step_seed(seed, "fit", first_index + k),
            overwrite=overwrite,
            log=log,
            cache=cache,
        )
        for k, target in enumerate(fit_targets(spec))
        if claims is None or not _shareable(target) or claims.take(target.label)
    ]
    # one prior-sensitivity table per interaction (quick: PSIS reweighting)
    sensitivity = run_prior_sensitivity(
        {spec.interaction: spec},
        dataset,
        records,
        out,
        quick=settings.quick,
        seed=step_seed(seed, "prior_sensitivity"),
        cache=cache,
        log=log,
    )
    atomic = run_atomic_systematic(
        spec,
        dataset,
        records,
        seed=step_seed(seed, "atomic_systematic"),
        rrpa=AtomicModel.from_rrpa_csv(settings.rrpa_table) if settings.rrpa_table else None,
        cache=cache,
        log=log,
    )
    scan = None
    if spec.interaction == "b_minus_l":
        masses = np.geomspace(1e-3, 10.0, settings.scan_masses)
        # masses of the fits (XMASS's points, the grid's ends): the fits' results, not a shorter re-run
        n_draws = spec.sampler.chains * spec.sampler.draws
        known = {
            i: row_from_fit(r, n_draws)
            for r in records
            for i, m in enumerate(masses)
            if r.get("mass_MeV") is not None and math.isclose(m, r["mass_MeV"], rel_tol=1e-9)
        }
        scan = scan_b_minus_l(
            spec,
            dataset,
            masses,
            seed=step_seed(seed, "b_minus_l_scan"),
            log=log,
            cache=cache,
            tune=settings.scan_tune,
            draws=settings.scan_draws,
            chains=spec.sampler.chains,
            max_resample=0 if settings.quick else 2,
            known=known,
        )
        write_with(out / "b_minus_l_scan.nc", lambda p: scan.to_netcdf(p), overwrite)
        write_text(out / "b_minus_l_scan.csv", scan_csv(scan), overwrite)
    return {
        "records": records,
        "sensitivity": sensitivity,
        "atomic": atomic,
        "scan": scan,
        "log": lines,
        "seconds": round(time.perf_counter() - started, 1),
    }


def _take_shared_fits(
    name: str,
    dataset: Dataset,
    out: Path,
    settings: RunSettings,
    seed: int,
    first_index: int,
    overwrite: bool,
    claims,
    log=None,
    stream: str | None = None,
) -> dict:
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
            records.append(
                run_fit(
                    spec,
                    dataset,
                    target,
                    out,
                    settings,
                    seed=step_seed(seed, "fit", first_index + k),
                    overwrite=overwrite,
                    log=log,
                    cache=cache,
                )
            )
    return {"records": records[::-1], "log": lines, "seconds": round(time.perf_counter() - started, 1)}


def _background_job(jobs: list[tuple], stream: str | None = None) -> list[dict]:
    """The background process's work: ``(function, args, kwargs)`` in order (the B-L interaction,
    then the main process's shareable fits that are still left)."""
    return [fn(*args, stream=stream, **kwargs) for fn, args, kwargs in jobs]


def _stream_of(log) -> str | None:
    """'stdout' / 'stderr' if ``log`` just prints there (a worker can then print itself), else None."""
    return "stdout" if log is print else getattr(log, "stream", None)


def run_analysis(
    dataset: Dataset,
    out: Path,
    *,
    settings: RunSettings,
    seed: int = 20201,
    overwrite: bool = False,
    log=print,
    worker=None,
) -> RunRecord:
    """Everything, into ``out``. Returns the limits.json content. ``worker``: a background worker
    already started (:func:`bayes_xmass.runtime.background.start_background_worker`) for the B-L part; this
    function owns it from here (it is stopped if the run needs none)."""
    started = time.perf_counter()
    stages = StepTimer()
    specs = {name: _spec(name, settings) for name in INTERACTION_ORDER}
    first = dict(zip(INTERACTION_ORDER, np.cumsum([0] + [len(fit_targets(specs[n])) for n in INTERACTION_ORDER])))
    args = {name: (name, dataset, out, settings, seed, int(first[name]), overwrite) for name in INTERACTION_ORDER}
    jobs: dict[str, dict] = {}
    background = BACKGROUND_INTERACTION if settings.parallel and (os.cpu_count() or 1) >= 2 else None
    # the background process does B-L, then takes shareable fits the main process has not reached
    claims = WorkClaims.create() if background else None
    shared = {}
    bg_jobs = (
        [(_interaction_job, args[background], {}), (_take_shared_fits, args[SHARED_INTERACTION], {"claims": claims})]
        if background
        else []
    )
    try:
        with (
            single_threaded_blas(),
            background_task(
                _background_job if background else None, (bg_jobs,), kwargs={"stream": _stream_of(log)}, worker=worker
            ) as pending,
        ):
            for name in INTERACTION_ORDER:
                if name != background:
                    jobs[name] = _interaction_job(
                        *args[name], log=log, claims=claims if name == SHARED_INTERACTION else None
                    )
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
        jobs[SHARED_INTERACTION]["records"] = sorted(
            jobs[SHARED_INTERACTION]["records"] + shared["records"], key=lambda r: order[r["fit"]]
        )
    records = [r for name in INTERACTION_ORDER for r in jobs[name]["records"]]
    sensitivity = [t for name in INTERACTION_ORDER for t in jobs[name]["sensitivity"]]
    atomic = [t for name in INTERACTION_ORDER for t in jobs[name]["atomic"]]
    specs = {spec.interaction: spec for spec in specs.values()}
    bl = specs["b_minus_l"]
    scan = jobs["dark-photon"]["scan"]
    masses = scan["mass"].values
    plots = {
        "exclusion": plot_exclusion(
            masses,
            scan["bayes"].values,
            scan["freq_xmass"].values,
            published=INTERACTIONS["b_minus_l"].published_limits,
            cl=bl.cl,
            flagged=~scan["diagnostics_ok"].values.astype(bool),
            out=out / "plots" / "b_minus_l_exclusion.png",
            overwrite=overwrite,
        ),
        "millicharge": plot_millicharge_summary(
            [comparison_row(r) for r in records if r["fit"].startswith("millicharge")],
            out=out / "plots" / "millicharge_limits.png",
            overwrite=overwrite,
        ),
        "diagnostics": plot_diagnostics_overview(
            [{"fit": r["fit"], **r["diagnostics"]} for r in records],
            out=out / "plots" / "diagnostics.png",
            overwrite=overwrite,
        ),
    }
    stages.lap("summary_plots")
    seconds = time.perf_counter() - started
    provenance = {
        "dataset": dataset.summary(),
        "seed": seed,
        "settings": dataclasses.asdict(settings),
        "models": {k: v.describe() for k, v in specs.items()},
        "charge_convention": CHARGE_CONVENTION,
        "rrpa_table": file_entry(Path(settings.rrpa_table)) if settings.rrpa_table else None,
        "package_versions": package_versions(),
        "seconds": round(seconds, 1),
        "stage_seconds": stages.as_dict(),
        "interaction_seconds": {k: v["seconds"] for k, v in jobs.items()},
        "background_interaction": background,
        "fits_taken_by_background": [r["fit"] for r in shared.get("records", [])],
        "background_shared_fit_seconds": shared.get("seconds"),
    }
    result = cast(
        RunRecord,
        results_document(
            "run",
            cl=bl.cl,
            provenance=provenance,
            fits=records,
            datasets={dataset.name: dataset},
            exclusion_curves=scan_curves(scan, dataset=dataset.name, cl=bl.cl),
            b_minus_l_scan={
                "mass_MeV": masses.tolist(),
                "bayes": scan["bayes"].values.tolist(),
                "freq_xmass": scan["freq_xmass"].values.tolist(),
                "freq_one_sided": scan["freq_one_sided"].values.tolist(),
                "diagnostics_ok": scan["diagnostics_ok"].values.tolist(),
            },
            plots={k: Path(v).relative_to(out).as_posix() for k, v in plots.items()},
            prior_sensitivity=sensitivity,
            atomic_model_systematic=atomic,
        ),
    )
    rows = [comparison_row(r) for r in result["fits"]]
    result["comparison"] = rows
    write_text(out / "comparison.csv", csv_text(rows), overwrite)
    write_text(out / "summary.md", summary_markdown(result, dataset), overwrite)
    write_text(out / "report.html", report_html(result, out), overwrite)
    write_json(out / "limits.json", result, overwrite)  # last: its presence marks a complete run
    log("\n" + terminal_table(rows))
    return result


def run_full_analysis(
    launch: RunLaunch, *, quick: bool = False, seed: int = 20201, log=print, rrpa_table: Path | None = None
) -> dict:
    """The ``run`` command after :func:`bayes_xmass.workflows.run_launch.start_run`: the analysis of
    ``launch.dataset`` into ``launch.out`` (``quick``: the reduced CI version, diagnostics reported but
    not enforced; ``rrpa_table``: a user RRPA table, one more row of the atomic-model tables). Returns
    the limits.json content."""
    settle_garbage_collector()
    settings = dataclasses.replace(
        RunSettings.for_mode(quick),
        parallel=not launch.serial,
        rrpa_table=str(Path(rrpa_table).resolve()) if rrpa_table else None,
    )
    log(
        f"bayes-xmass run: dataset {launch.dataset.name} ({launch.dataset.checksum[:12]}), out {launch.out}, "
        f"{'quick' if quick else 'full'} mode"
    )
    return run_analysis(
        launch.dataset,
        launch.out,
        settings=settings,
        seed=seed,
        overwrite=launch.overwrite,
        log=log,
        worker=launch.worker,
    )
