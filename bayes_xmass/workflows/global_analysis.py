"""``bayes-xmass global``: the global analysis of the public xenon electron-recoil data.

For every fit of the chosen interactions (magnetic moment; millicharge per flavour set and sign;
B-L at XMASS's masses) it runs :func:`~bayes_xmass.workflows.combine.run_combination` on the
datasets (each alone and combined, Bayesian and frequentist, into ``out/<fit>/``), adds the
combination's expected limits from background-only toys, and the B-L exclusion curve (Delta chi2 =
2.71, each dataset and combined) over 1e-3-10 MeV. Writes ``limits.json`` (last), ``summary.md``,
``comparison.csv``, ``report.html`` and ``plots/``. The datasets keep their own windows, binning and
nuisances (their ``[analysis]`` tables); none is shared.
"""

from __future__ import annotations

import dataclasses
import math
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bayes_xmass.bundled import data_dir
from bayes_xmass.converters.public import PUBLIC_DATASETS
from bayes_xmass.datasets.loader import load_dataset
from bayes_xmass.datasets.types import Dataset
from bayes_xmass.errors import InputError
from bayes_xmass.infer.combined import combined_templates
from bayes_xmass.infer.combined_profile import cached_combined_profile, cached_profile
from bayes_xmass.infer.combined_toys import combined_toy_bands
from bayes_xmass.infer.summed_profile import summed_upper_limit
from bayes_xmass.model.analysis_choice import analysis_note
from bayes_xmass.model.spec import ModelSpec, model_spec_for
from bayes_xmass.model.targets import FitTarget, fit_targets
from bayes_xmass.outputs.global_report import (
    global_csv,
    global_html,
    global_markdown,
    plot_b_minus_l_curve,
    plot_target,
)
from bayes_xmass.outputs.results import results_document
from bayes_xmass.physics.atomic import ATOMIC_MODELS, AtomicModel
from bayes_xmass.physics.interactions import CHARGE_CONVENTION, INTERACTIONS, get_interaction
from bayes_xmass.runtime.executor import run_tasks
from bayes_xmass.runtime.io import package_versions, prepare_run_dir, write_json, write_text
from bayes_xmass.runtime.seeds import step_seed
from bayes_xmass.workflows.combine import plan_combination, run_combination

__all__ = ["DEFAULT_INTERACTIONS", "GlobalOptions", "resolve_datasets", "run_global"]

DEFAULT_INTERACTIONS = ("magnetic-moment", "millicharge", "dark-photon")
CURVE_MASSES_MEV = tuple(float(m) for m in np.geomspace(1e-3, 10.0, 9))  # 1e-3 ... 10 MeV, 3 per decade


@dataclass(frozen=True)
class GlobalOptions:
    """What ``global`` fits: datasets (bundled names or folders; None = all bundled public ones),
    interactions, toys per combined fit, the reduced ``quick`` variant (common millicharge only,
    fewer draws and toys, 5 curve masses), the number of worker processes (1: all in this one) and
    an atomic model replacing the model files' (``atomic``)."""

    datasets: tuple[str, ...] | None = None
    interactions: tuple[str, ...] = DEFAULT_INTERACTIONS
    toys: int = 50
    quick: bool = False
    seed: int = 2022
    processes: int = 2
    atomic: str = ""  # atomic model (e.g. "stepping+epa"); "" keeps the model files' choice


def resolve_datasets(names: Sequence[str] | None) -> list[tuple[str, Dataset]]:
    """(label, dataset) for bundled public names (e.g. ``xenonnt_sr0``) or dataset folders."""
    out = []
    for name in names or list(PUBLIC_DATASETS):
        path = data_dir() / name if name in PUBLIC_DATASETS else Path(name)
        if not path.exists():
            raise InputError(
                "command line",
                "--dataset",
                f"{name!r} is neither a bundled dataset ({', '.join(PUBLIC_DATASETS)}) nor a folder",
            )
        out.append((path.name, load_dataset(path)))
    labels = [lab for lab, _ in out]
    if len(set(labels)) != len(labels) or len({d.checksum for _, d in out}) != len(out):
        raise InputError("command line", "--dataset", "a dataset is given twice")
    if len(out) < 2:
        raise InputError("command line", "--dataset", "the global analysis needs at least two datasets")
    return out


def _spec(name: str, quick: bool, atomic: str = "") -> ModelSpec:
    spec = model_spec_for(name)
    if atomic:
        regulator = spec.physics.atomic.m_nu_ev  # the model file's EPA regulator is kept
        spec = spec.with_overrides(
            physics=dataclasses.replace(spec.physics, atomic=AtomicModel(atomic, m_nu_ev=regulator))
        )
    if quick:
        spec = spec.with_overrides(sampler=dataclasses.replace(spec.sampler, draws=min(spec.sampler.draws, 1000)))
    return spec


def _targets(spec: ModelSpec, quick: bool) -> list[FitTarget]:
    return fit_targets(spec, flavours=("common",) if quick else None)


def _summary(rec: dict[str, Any]) -> dict[str, Any]:
    f, s = rec["frequentist"], rec["coupling_scale"]
    out: dict[str, Any] = {
        "best_fit": f["best_fit"],
        "discovery_z": f["discovery_z"],
        "delta_chi2_271": f["limit_xmass_scaled"] * s,
        "one_sided": f["limit_one_sided_scaled"] * s,
        "cls": f["limit_cls_scaled"] * s,
    }
    if "bayes" in rec:
        out.update(
            bayes=rec["bayes"]["limit"],
            bayes_mcse=rec["bayes"]["mcse"],
            diagnostics_ok=rec["diagnostics"]["ok"],
            failures=rec["diagnostics"]["failures"],
            netcdf=rec["netcdf"],
        )
    return out


def _b_minus_l_curve(
    spec: ModelSpec, datasets: list[Dataset], labels: list[str], masses, cache: dict[Any, Any] | None = None
) -> dict[str, Any]:
    """Delta chi2 = 2.71 limits per mass: each dataset (its own profile likelihood, templates swapped
    per mass) and their sum (no shared nuisances: the combined profile likelihood)."""
    combined: list[float] = []
    alone: dict[str, list[float]] = {lab: [] for lab in labels}
    for m in masses:
        tpls = combined_templates(spec, datasets, FitTarget("b_minus_l", 1, None, float(m)))
        pls = [cached_profile(cache, t, label=lab, sign=1, likelihood=spec.likelihood) for lab, t in zip(labels, tpls)]
        scale = tpls[0].coupling_scale
        for lab, pl in zip(labels, pls):
            alone[lab].append(pl.upper_limit(spec.cl, "xmass") * scale)
        combined.append(summed_upper_limit(pls, spec.cl, "xmass")[1] * scale)
    return {"masses_MeV": list(masses), "combined": combined, "alone": alone, "statistic": "Delta chi2 = 2.71"}


@dataclass(frozen=True)
class _InteractionJob:
    """One interaction's fits (and the B-L curve), run in this process or in a worker process."""

    name: str
    options: GlobalOptions
    labels: tuple[str, ...]
    datasets: tuple[Dataset, ...]
    out: Path
    toys: int
    progress: bool
    overwrite: bool
    log: Callable[[str], None]


def _run_interaction(
    job: _InteractionJob,
) -> tuple[list[dict[str, Any]], dict[str, Any] | None, list[dict[str, Any]]]:
    """Every fit of one interaction (each with its own seed: results do not depend on which process
    runs it, or in what order); returns (target summaries, B-L curve or None, fit records of the
    results schema, labelled ``<dataset>:<target>``)."""
    options, datasets, labels, out, log = job.options, list(job.datasets), list(job.labels), job.out, job.log
    cache: dict[Any, Any] = {}  # compiled models and likelihoods by structure, shared by this interaction's fits
    spec = _spec(job.name, options.quick, options.atomic)
    for ds in datasets:
        log(analysis_note(spec, ds))
    targets_out: list[dict[str, Any]] = []
    fits: list[dict[str, Any]] = []
    for target in _targets(spec, options.quick):
        seed = step_seed(options.seed, "global", target.label)
        labs, tpls = plan_combination(spec, datasets, target)
        sub = prepare_run_dir(out / target.label, job.overwrite)
        res = run_combination(
            spec,
            datasets,
            target,
            sub,
            labels=labs,
            tpls=tpls,
            seed=seed,
            progress=job.progress,
            overwrite=job.overwrite,
            log=log,
            cache=cache,
        )
        rec: dict[str, Any] = {
            "fit": target.label,
            "interaction": target.interaction,
            "sign": target.sign,
            "flavours": target.flavours,
            "mass_MeV": target.mass_mev,
            "coupling_unit": INTERACTIONS[target.interaction].coupling_unit,
            "run_dir": target.label,
            "combined": _summary(res["combined"]),
            "alone": {r["fit"]: _summary(r) for r in res["alone"]},
        }
        if job.toys:
            pl = cached_combined_profile(cache, tpls, labs, sign=target.sign, likelihood=spec.likelihood)
            bands = combined_toy_bands(
                tpls,
                labs,
                sign=target.sign,
                likelihood=spec.likelihood,
                n_toys=job.toys,
                seed=step_seed(seed, "toys"),
                pl=pl,
            )
            rec["expected"] = bands.as_dict()
            expected = {"combined": (bands.delta_chi2_271, bands.one_sided)}
            expected.update({lab: (a["delta_chi2_271"], a["one_sided"]) for lab, a in bands.alone.items()})
            for fit in res["fits"]:
                d2, one = expected[fit["dataset"]]
                fit["expected"] = {"delta_chi2": {**d2, "n_toys": job.toys}, "one_sided": {**one, "n_toys": job.toys}}
            b = bands.delta_chi2_271
            log(
                f"[{target.label}] combined expected Delta chi2 = 2.71 limit ({job.toys} toys): median {b['median']:.3g}"
            )
        rec["plot"] = str(
            plot_target(rec, out=out / "plots" / f"global_{target.label}.png", overwrite=job.overwrite).relative_to(out)
        )
        targets_out.append(rec)
        fits += [
            {**fit, "fit": f"{fit['dataset']}:{target.label}", "netcdf": _nested(fit, target.label)}
            for fit in res["fits"]
        ]
    curve = None
    if spec.interaction == "b_minus_l":
        masses = CURVE_MASSES_MEV[::2] if options.quick else CURVE_MASSES_MEV
        curve = _b_minus_l_curve(spec, datasets, labels, masses, cache)
        curve["plot"] = str(
            plot_b_minus_l_curve(
                curve, out=out / "plots" / "global_b_minus_l.png", overwrite=job.overwrite
            ).relative_to(out)
        )
        log(
            f"[b_minus_l curve] combined Delta chi2 = 2.71 limits at {len(masses)} masses: "
            + ", ".join(f"{v:.2g}" for v in curve["combined"])
        )
    return targets_out, curve, fits


def _nested(fit: dict[str, Any], folder: str) -> str | None:
    """A fit's NetCDF file relative to the global run directory (None: no Bayesian fit)."""
    return f"{folder}/{fit['netcdf']}" if fit.get("netcdf") else None


def _curves(curve: dict[str, Any], cl: float) -> list[dict[str, Any]]:
    """The B-L curve (Delta chi2 = 2.71 per dataset and combined) as the schema's exclusion curves."""
    unit = INTERACTIONS["b_minus_l"].coupling_unit
    limits = {"combined": curve["combined"], **curve["alone"]}
    return [
        {
            "name": f"{label}:delta_chi2",
            "interaction": "b_minus_l",
            "dataset": label,
            "statistic": "delta_chi2",
            "cl": cl,
            "coupling_unit": unit,
            "mass_MeV": [float(m) for m in curve["masses_MeV"]],
            "limit": [float(v) if math.isfinite(v) else None for v in values],
        }
        for label, values in limits.items()
    ]


def _print_stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _print_stdout(msg: str) -> None:
    print(msg, flush=True)


def run_global(
    options: GlobalOptions,
    *,
    out: Path,
    progress: bool = False,
    overwrite: bool = False,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """The global analysis into the run directory ``out``; returns the limits.json record.

    The interactions run as separate jobs, up to ``options.processes`` at a time in worker processes
    (largest first; each fit has its own seed, so the numbers do not depend on the process count).
    Worker processes print their progress lines on stderr if ``log.stream == "stderr"`` (the CLI's
    ``log``), else on stdout, instead of calling ``log``."""
    started = time.perf_counter()
    keys = [get_interaction(name).name for name in options.interactions]  # unknown names: an error now
    if len(set(keys)) != len(keys):
        raise InputError(
            "command line", "--interaction", f"an interaction is given twice: {list(options.interactions)}"
        )
    if options.toys < 0:
        raise InputError("command line", "--toys", f"must be >= 0, got {options.toys}")
    if options.atomic and (options.atomic not in ATOMIC_MODELS or options.atomic == "rrpa_table"):
        raise InputError("command line", "--atomic", f"unknown atomic model {options.atomic!r}")
    if options.processes < 1:
        raise InputError("command line", "--processes", f"must be >= 1, got {options.processes}")
    pairs = resolve_datasets(options.datasets)
    labels, datasets = [lab for lab, _ in pairs], [d for _, d in pairs]
    out = prepare_run_dir(out, overwrite)
    toys = min(options.toys, 20) if options.quick else options.toys
    parallel = options.processes > 1 and len(options.interactions) > 1
    if parallel:  # worker processes print their progress lines on the stream ``log.stream`` names
        log = _print_stderr if getattr(log, "stream", "") == "stderr" else _print_stdout
    jobs = [
        _InteractionJob(
            name, options, tuple(labels), tuple(datasets), out, toys, progress and not parallel, overwrite, log
        )
        for name in options.interactions
    ]
    order = sorted(range(len(jobs)), key=lambda i: -len(_targets(_spec(jobs[i].name, options.quick), options.quick)))
    done = run_tasks(
        _run_interaction, [jobs[i] for i in order], scheduler="local", processes=options.processes if parallel else 1
    )
    by_job = dict(zip(order, done))
    targets_out = [rec for i in range(len(jobs)) for rec in by_job[i][0]]
    fits = [fit for i in range(len(jobs)) for fit in by_job[i][2]]
    curve = next((by_job[i][1] for i in range(len(jobs)) if by_job[i][1] is not None), None)
    failed = [
        f"{t['fit']} ({lab})"
        for t in targets_out
        for lab, r in [("combined", t["combined"]), *t["alone"].items()]
        if r.get("diagnostics_ok") is False
    ]
    cl = fits[0]["cl"] if fits else 0.9
    result = results_document(
        "global",
        cl=cl,
        provenance={
            "dataset_labels": labels,
            "dataset_checksums": {lab: d.checksum for lab, d in pairs},
            "models": {name: _spec(name, options.quick, options.atomic).describe() for name in options.interactions},
            "interactions": list(options.interactions),
            "seed": options.seed,
            "toys": toys,
            "quick": options.quick,
            "atomic_model": options.atomic or "model files'",
            "processes": options.processes,
            "charge_convention": CHARGE_CONVENTION,
            "package_versions": package_versions(),
            "seconds": round(time.perf_counter() - started, 1),
        },
        fits=fits,
        datasets=dict(pairs),
        exclusion_curves=_curves(curve, cl) if curve else [],
        targets=targets_out,
        b_minus_l_curve=curve,
        diagnostics_failed=failed,
    )
    write_text(out / "summary.md", global_markdown(result), overwrite)
    write_text(out / "comparison.csv", global_csv(result), overwrite)
    write_text(out / "report.html", global_html(result, out), overwrite)
    write_json(out / "limits.json", result, overwrite)
    return result
