"""Run directory of a combined fit: combined posterior + profile likelihood, and each dataset alone.

``run_combination`` writes into ``out``:

- ``combined_<fit>.nc``: DataTree of the combined posterior (groups as for a single fit, per-dataset
  variables prefixed ``<label>__``) with a ``frequentist`` group (profile curve) and provenance attrs
  (every dataset's checksum, shared nuisances, model config, seed, package versions);
- ``alone_<label>_<fit>.nc``: each dataset alone with the same templates, coupling unit and POI prior
  (``alone="all"``; ``alone="frequentist"`` skips their sampling, ``"none"`` skips them);
- ``comparison.csv``, ``comparison.md``, ``summary.md``, ``plots/combined_<fit>_compare.png``;
- ``limits.json`` last (the completion marker; ``bayes-xmass compare <dir>`` reads it).

:func:`combine_datasets` is the ``combine`` command: it loads and checks the datasets and the
target, then calls ``run_combination``.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from bayes_xmass.datasets.loader import load_dataset
from bayes_xmass.errors import InputError
from bayes_xmass.infer.combined import combined_templates, dataset_labels, sample_combined, validate_combination
from bayes_xmass.infer.combined_profile import cached_combined_profile
from bayes_xmass.infer.frequentist import ProfileLikelihood, frequentist_summary
from bayes_xmass.infer.posterior_sampler import sample_posterior
from bayes_xmass.infer.posterior_summary import credible_limit, diagnostics
from bayes_xmass.infer.toys import shared_profile_likelihood
from bayes_xmass.model.analysis_choice import analysis_note
from bayes_xmass.model.spec import ModelSpec
from bayes_xmass.model.targets import FitTarget, spec_in_template_unit
from bayes_xmass.outputs.compare import PRIOR_BOUND_MARK, comparison_row, csv_text, markdown_table, prior_bound_flag
from bayes_xmass.outputs.plot_fits import plot_poi_posterior
from bayes_xmass.outputs.report import write_datatree
from bayes_xmass.outputs.results import frequentist_physical, results_document
from bayes_xmass.physics.interactions import CHARGE_CONVENTION, INTERACTIONS
from bayes_xmass.runtime.io import package_versions, prepare_run_dir, write_json, write_text
from bayes_xmass.runtime.seeds import step_seed
from bayes_xmass.workflows.fit_inputs import FitOptions, load_spec_and_dataset
from bayes_xmass.workflows.fits import select_targets

__all__ = ["ALONE_CHOICES", "combine_datasets", "plan_combination", "run_combination", "summary_markdown"]

ALONE_CHOICES = ("all", "frequentist", "none")


def plan_combination(spec: ModelSpec, datasets, target: FitTarget, shared=()):
    """Labels and common-unit templates, validated (InputError) before anything is written."""
    labels = dataset_labels(datasets)
    tpls = combined_templates(spec, datasets, target)
    validate_combination(tpls, labels, tuple(shared))
    return labels, tpls


def _record(name, target, scale, freq, bayes=None, diag=None, spec=None, netcdf=None) -> dict:
    rec = {
        "fit": name,
        "interaction": target.interaction,
        "sign": target.sign,
        "flavours": target.flavours,
        "mass_MeV": target.mass_mev,
        "coupling_scale": scale,
        "coupling_unit": INTERACTIONS[target.interaction].coupling_unit,
        "frequentist": frequentist_physical(freq, scale),
    }
    if bayes is not None:
        rec.update(bayes=bayes, diagnostics=diag.as_dict(), poi_prior=spec.poi_prior.describe(scale), netcdf=netcdf)
    return rec


def _frequentist_group(freq: Mapping[str, Any], scale: float):
    import xarray as xr

    return xr.Dataset(
        {"profile_delta_chi2": ("profile_point", np.asarray(freq["profile_delta_chi2"]))},
        coords={"profile_x": ("profile_point", np.asarray(freq["profile_x_scaled"]) * scale)},
        attrs={k: v for k, v in freq.items() if isinstance(v, (int, float)) and not isinstance(v, bool)},
    )


def _log_line(log, name, rec) -> None:
    f, s, unit = rec["frequentist"], rec["coupling_scale"], rec["coupling_unit"]
    b = rec.get("bayes")
    bayes = f"credible {b['limit']:.4g} (MCSE {b['mcse']:.2g}); " if b else ""
    log(
        f"[{name}] {bayes}best fit {f['best_fit']:.3g}, Z = {f['discovery_z']:.2f}; Delta chi2 = 2.71 limit "
        f"{f['limit_xmass_scaled'] * s:.4g} {unit}; one-sided {f['limit_one_sided_scaled'] * s:.4g}; "
        f"CLs {f['limit_cls_scaled'] * s:.4g}"
    )


def run_combination(
    spec: ModelSpec,
    datasets,
    target: FitTarget,
    out: Path,
    *,
    labels,
    tpls,
    shared=(),
    seed: int = 1,
    alone: str = "all",
    progress: bool = False,
    overwrite: bool = False,
    log=print,
    cache: dict | None = None,
) -> dict:
    """Combined fit + each dataset alone -> files in ``out`` (see module docstring); returns limits.json.
    ``cache``: compiled models and likelihoods by structure, reused by later calls (``global``)."""
    out = Path(out)
    shared = tuple(shared)
    spec = spec_in_template_unit(spec, tpls, target.sign)  # the POI prior in the common coupling unit
    scale = tpls[0].coupling_scale
    unit = INTERACTIONS[target.interaction].coupling_unit
    started = time.perf_counter()
    name = f"combined_{target.label}"
    log(
        f"[{name}] {len(tpls)} datasets ({', '.join(labels)}), shared nuisances: {', '.join(shared) or 'none'}; "
        f"coupling unit {scale:g} {unit}; {spec.sampler.chains} chains x {spec.sampler.draws} draws"
    )
    dt = sample_combined(
        tpls,
        labels,
        target,
        poi_prior=spec.poi_prior,
        sampler=spec.sampler,
        likelihood=spec.likelihood,
        shared=shared,
        seed=seed,
        progress=progress,
        provenance={"model_config": spec.describe()},
        cache=cache,
    )
    limit, diag = credible_limit(dt, spec.cl), diagnostics(dt, cl=spec.cl)
    pl = cached_combined_profile(cache, tpls, labels, sign=target.sign, likelihood=spec.likelihood, shared=shared)
    freq = frequentist_summary(pl, spec.cl)
    dt["frequentist"] = _frequentist_group(freq, scale)
    nc = write_datatree(dt, out / f"{name}.nc", overwrite)
    combined = _record("combined", target, scale, freq, limit, diag, spec, nc.name)
    _log_line(log, name, combined)
    plot_poi_posterior(
        dt.posterior["x"].values * scale,
        limit["limit"],
        cl=spec.cl,
        unit=unit,
        label=f"{name}: posterior vs profile likelihood",
        out=out / "plots" / f"{name}_compare.png",
        profile=(np.asarray(freq["profile_x_scaled"]) * scale, np.exp(-0.5 * np.asarray(freq["profile_delta_chi2"]))),
        freq_limit=freq["limit_xmass_scaled"] * scale,
        overwrite=overwrite,
    )
    singles = []
    for i, (lab, tpl) in enumerate(zip(labels, tpls)):
        if alone == "none":
            break
        # with a cache: the process's shared likelihood of this structure (the chain starts use it too)
        pl1 = (
            shared_profile_likelihood(tpl, target.sign, spec.likelihood)
            if cache is not None
            else ProfileLikelihood(tpl, sign=target.sign, likelihood=spec.likelihood)
        )
        f1 = frequentist_summary(pl1, spec.cl)
        if alone == "all":
            dt1, _ = sample_posterior(
                tpl,
                target,
                poi_prior=spec.poi_prior,
                sampler=spec.sampler,
                likelihood=spec.likelihood,
                seed=step_seed(seed, "alone", i),
                progress=progress,
                provenance={"model_config": spec.describe(), "combination_label": lab},
                cache=cache,
            )
            dt1["frequentist"] = _frequentist_group(f1, scale)
            nc1 = write_datatree(dt1, out / f"alone_{lab}_{target.label}.nc", overwrite)
            rec = _record(
                lab, target, scale, f1, credible_limit(dt1, spec.cl), diagnostics(dt1, cl=spec.cl), spec, nc1.name
            )
        else:
            rec = _record(lab, target, scale, f1)
        _log_line(log, f"{lab} alone", rec)
        singles.append(rec)
    provenance = {
        "model_config": spec.describe(),
        "seed": seed,
        "shared_nuisances": list(shared),
        "dataset_summaries": {lab: ds.summary() for lab, ds in zip(labels, datasets)},
        "dataset_checksums": {lab: ds.checksum for lab, ds in zip(labels, datasets)},
        "alone_fits": alone,
        "charge_convention": CHARGE_CONVENTION,
        "package_versions": package_versions(),
        "seconds": round(time.perf_counter() - started, 1),
    }
    combined["dataset"] = "combined"
    for lab, rec in zip(labels, singles):
        rec["dataset"] = lab
    result = results_document(
        "combine",
        cl=spec.cl,
        provenance=provenance,
        fits=[combined] + singles,
        datasets=dict(zip(labels, datasets)),
    )
    result["combined"], result["alone"] = result["fits"][0], result["fits"][1:]
    rows = [comparison_row(r) for r in result["fits"]]
    result["comparison"] = rows
    write_text(out / "comparison.csv", csv_text(rows), overwrite)
    write_text(out / "comparison.md", markdown_table(rows) + "\n", overwrite)
    write_text(out / "summary.md", summary_markdown(result, name), overwrite)
    write_json(out / "limits.json", result, overwrite)
    return result


def combine_datasets(
    options: FitOptions,
    dataset_paths,
    *,
    out: Path,
    shared=(),
    alone: str = "all",
    seed: int = 20201,
    progress: bool = False,
    overwrite: bool = False,
    log=print,
) -> tuple[Path, dict]:
    """``combine``: the options' model on the datasets ``dataset_paths`` (``options.dataset`` is not
    used) sharing the coupling, for the one target the options select; checked before anything is
    written (a dataset given twice, several targets). Returns the run directory and the limits.json
    content."""
    paths = list(dataset_paths)
    spec, ds0 = load_spec_and_dataset(dataclasses.replace(options, dataset=paths[0]))
    datasets = [ds0] + [load_dataset(p) for p in paths[1:]]
    seen: dict[str, Path] = {}
    for path, ds in zip(paths, datasets):
        if ds.checksum in seen:
            raise InputError(path, "--dataset", f"same content as {seen[ds.checksum]} (a dataset counted twice)")
        seen[ds.checksum] = path
    targets = select_targets(spec, flavours=options.flavours, signs=options.signs, masses=options.masses)
    if len(targets) != 1:
        raise InputError(
            "command line",
            "--sign/--flavours/--mass",
            f"combine fits one target at a time; the model gives {len(targets)} "
            f"({', '.join(t.label for t in targets)}): choose one",
        )
    labels, tpls = plan_combination(spec, datasets, targets[0], shared)
    out = prepare_run_dir(out, overwrite)
    for ds in datasets:
        log(analysis_note(spec, ds))
    result = run_combination(
        spec,
        datasets,
        targets[0],
        out,
        labels=labels,
        tpls=tpls,
        shared=shared,
        seed=seed,
        alone=alone,
        progress=progress,
        overwrite=overwrite,
        log=log,
    )
    return out, result


def summary_markdown(result: dict, name: str) -> str:
    """A short report: the comparison table, diagnostics of the combined fit, provenance."""
    prov, comb = result["provenance"], result["combined"]
    lines = [
        f"# bayes_xmass: {name}",
        "",
        "Datasets: " + ", ".join(f"`{k}` (checksum `{v[:16]}`)" for k, v in prov["dataset_checksums"].items()),
        f"Shared nuisances: {', '.join(prov['shared_nuisances']) or 'none (each dataset its own)'}. "
        f"Seed {prov['seed']}. Charge convention: {prov['charge_convention']}.",
        "",
        "Rows: the combination, then each dataset alone with the same templates, coupling unit and "
        "POI prior. Limits at CL = {:.0%}.".format(prov["model_config"]["cl"]),
        "",
        markdown_table(result["comparison"]),
        "",
        _best_fit_table(result["fits"]),
        "",
        f"Combined-fit diagnostics: {'ok' if comb['diagnostics']['ok'] else '; '.join(comb['diagnostics']['failures'])}.",
        "",
        "## Provenance",
        "",
        "```json",
        json.dumps(prov, indent=2, default=str),
        "```",
        "",
    ]
    return "\n".join(lines)


def _best_fit_table(fits) -> str:
    """Best fit, discovery significance and limits per row (physical units)."""
    lines = ["| fit | best fit | Z (asympt.) | Δχ²=2.71 | one-sided | Bayes (MCSE) |", "|---|---|---|---|---|---|"]
    for r in fits:
        f, s, b = r["frequentist"], r["coupling_scale"], r.get("bayes")
        lines.append(
            f"| {r['fit']} | {f['best_fit']:.3g} | {f['discovery_z']:.2f} | "
            f"{f['limit_xmass_scaled'] * s:.3g} | {f['limit_one_sided_scaled'] * s:.3g} | "
            + (
                f"{b['limit']:.3g} ({b['mcse']:.1g}){' ' + PRIOR_BOUND_MARK if prior_bound_flag(r) else ''}"
                if b
                else "–"
            )
            + " |"
        )
    return "\n".join(lines)
