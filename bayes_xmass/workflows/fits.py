"""Run directories of the ``sample`` and ``limit`` commands: fits for a model spec on a dataset.

A run directory holds ``<fit>.nc`` (DataTree), ``limits.json``, ``summary.md`` and ``plots/``.
Files are written atomically; an existing non-empty directory is refused unless ``overwrite``.
:func:`run_sample` and :func:`run_limit` are the commands; the others are their building blocks
(also used by ``compare``).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from bayes_xmass.datasets.types import Dataset
from bayes_xmass.infer.frequentist import ProfileLikelihood, frequentist_summary
from bayes_xmass.infer.posterior_sampler import sample_posterior
from bayes_xmass.infer.posterior_summary import Diagnostics, credible_limit, diagnostics
from bayes_xmass.infer.toys import feldman_cousins, toy_limits
from bayes_xmass.model.analysis_choice import analysis_note
from bayes_xmass.model.spec import ModelSpec
from bayes_xmass.model.targets import FitTarget, fit_targets, spec_in_template_unit, target_templates
from bayes_xmass.outputs.report import markdown_section, write_datatree, write_fit_plots
from bayes_xmass.outputs.results import frequentist_physical, results_document
from bayes_xmass.physics.interactions import CHARGE_CONVENTION, INTERACTIONS
from bayes_xmass.runtime.io import package_versions, prepare_run_dir, write_json, write_text
from bayes_xmass.runtime.seeds import step_seed
from bayes_xmass.workflows.fit_inputs import FitOptions, load_spec_and_dataset

__all__ = [
    "FitResult",
    "run_bayesian_fit",
    "run_frequentist",
    "run_limit",
    "run_metadata",
    "run_sample",
    "select_targets",
    "write_sample_outputs",
]


@dataclass
class FitResult:
    """Outcome of one Bayesian fit."""

    target: FitTarget
    limit: dict
    diagnostics: Diagnostics
    netcdf: Path
    plots: dict
    attrs: dict
    seconds: float
    extra: dict = field(default_factory=dict)

    @property
    def coupling_scale(self) -> float:
        """The sampler's coupling unit (from the DataTree's attributes, else from the limit)."""
        if "coupling_scale" in self.attrs:
            return float(self.attrs["coupling_scale"])
        scaled = self.limit.get("limit_scaled")
        return float(self.limit["limit"]) / float(scaled) if scaled else 1.0

    def as_dict(self) -> dict:
        inter = INTERACTIONS[self.target.interaction]
        return {
            "fit": self.target.label,
            "interaction": self.target.interaction,
            "poi": inter.poi,
            "sign": self.target.sign,
            "flavours": self.target.flavours,
            "mass_MeV": self.target.mass_mev,
            "coupling_unit": inter.coupling_unit,
            "coupling_scale": self.coupling_scale,
            "poi_prior": json.loads(self.attrs["poi_prior"]) if "poi_prior" in self.attrs else None,
            "bayes": self.limit,
            "diagnostics": self.diagnostics.as_dict(),
            "netcdf": self.netcdf.name,
            "seconds": round(self.seconds, 2),
            **self.extra,
        }


def run_bayesian_fit(
    spec: ModelSpec,
    dataset: Dataset,
    target: FitTarget,
    out: Path,
    *,
    seed: int,
    progress: bool = False,
    overwrite: bool = False,
    log=print,
) -> FitResult:
    """Templates -> NUTS -> limit -> diagnostics -> files, for one fit target."""
    started = time.perf_counter()
    tpl = target_templates(spec, dataset, target)
    spec = spec_in_template_unit(spec, tpl, target.sign)  # the POI prior in the templates' unit
    log(
        f"[{target.label}] sampling: {spec.sampler.chains} chains x {spec.sampler.draws} draws "
        f"({spec.sampler.name}), coupling unit {tpl.coupling_scale:g} {INTERACTIONS[target.interaction].coupling_unit}"
    )
    dt, _ = sample_posterior(
        tpl,
        target,
        poi_prior=spec.poi_prior,
        sampler=spec.sampler,
        likelihood=spec.likelihood,
        seed=seed,
        progress=progress,
        provenance={"model_config": spec.describe()},
    )
    limit = credible_limit(dt, spec.cl)
    diag = diagnostics(dt, cl=spec.cl)
    nc = write_datatree(dt, Path(out) / f"{target.label}.nc", overwrite)
    plots = write_fit_plots(dt, limit, out, target.label, overwrite=overwrite)
    seconds = time.perf_counter() - started
    log(
        f"[{target.label}] {spec.cl:.0%} credible limit {limit['limit']:.4g} {limit['coupling_unit']} "
        f"(MCSE {limit['mcse']:.2g}); diagnostics {'ok' if diag.ok else 'FAILED: ' + '; '.join(diag.failures)}; "
        f"{seconds:.1f} s"
    )
    return FitResult(target, limit, diag, nc, plots, dict(dt.attrs), seconds)


def run_metadata(spec: ModelSpec, dataset: Dataset, seed: int) -> dict:
    """Provenance common to a run directory."""
    return {
        "model_config": spec.describe(),
        "dataset": dataset.summary(),
        "seed": seed,
        "charge_convention": CHARGE_CONVENTION,
        "package_versions": package_versions(),
    }


def write_sample_outputs(
    out: Path, spec: ModelSpec, dataset: Dataset, seed: int, results: list[FitResult], overwrite: bool
) -> None:
    """limits.json and summary.md for a ``sample`` run."""
    meta = run_metadata(spec, dataset, seed)
    lines = [
        f"# bayes_xmass: {spec.interaction} on {dataset.name}",
        "",
        f"Dataset checksum `{dataset.checksum[:16]}`, seed {seed}. Charge convention: {CHARGE_CONVENTION}.",
        "",
    ]
    lines += [markdown_section(r.target.label, r.limit, r.diagnostics, r.attrs, r.plots, out) for r in results]
    lines += ["", "## Provenance", "", "```json", json.dumps(meta, indent=2, default=str), "```", ""]
    write_text(out / "summary.md", "\n".join(lines), overwrite)
    doc = results_document(
        "sample", cl=spec.cl, provenance=meta, fits=[r.as_dict() for r in results], datasets={dataset.name: dataset}
    )
    write_json(out / "limits.json", doc, overwrite)


def select_targets(spec: ModelSpec, flavours=None, signs=None, masses=None) -> list[FitTarget]:
    """The model's fit targets, restricted to the given flavour sets, signs and masses (MeV)."""
    return fit_targets(spec, flavours=flavours, signs=signs, masses=masses)


def run_frequentist(
    spec: ModelSpec, dataset: Dataset, target: FitTarget, *, n_toys: int = 0, fc_toys: int = 0, seed: int = 1, log=print
) -> dict:
    """Profile-likelihood results for one fit (optionally toy bands and a Feldman-Cousins interval)."""
    tpl = target_templates(spec, dataset, target)  # no POI prior here: its unit does not matter
    pl = ProfileLikelihood(tpl, sign=target.sign, likelihood=spec.likelihood)
    started = time.perf_counter()
    freq = frequentist_summary(pl, spec.cl)
    scale = tpl.coupling_scale
    record = {
        "fit": target.label,
        "interaction": target.interaction,
        "sign": target.sign,
        "flavours": target.flavours,
        "mass_MeV": target.mass_mev,
        "coupling_scale": scale,
        "coupling_unit": INTERACTIONS[target.interaction].coupling_unit,
        "frequentist": frequentist_physical(freq, scale),
        "seconds_per_limit": round(time.perf_counter() - started, 3),
    }
    if n_toys:
        tl = toy_limits(tpl, sign=target.sign, likelihood=spec.likelihood, n_toys=n_toys, seed=seed, cl=spec.cl, pl=pl)
        bands = {k: v * scale for k, v in tl.bands("xmass").items()}
        one = {k: v * scale for k, v in tl.bands("one_sided").items()}
        record["toys"] = {
            "n_freq_toys": n_toys,
            "freq_bands": bands,
            "one_sided_bands": one,
            "pcl": max(freq["limit_one_sided_scaled"] * scale, one["-1sigma"]),
        }
    if fc_toys:
        fc = feldman_cousins(
            tpl,
            sign=target.sign,
            likelihood=spec.likelihood,
            n_toys=fc_toys,
            seed=step_seed(seed, "feldman_cousins"),
            cl=spec.cl,
            pl=pl,
        )
        record["feldman_cousins"] = {"lower": fc["lower"] * scale, "upper": fc["upper"] * scale, "n_toys": fc_toys}
    log(
        f"[{target.label}] best fit {freq['best_fit']:.3g}, chi2/dof {freq['chi2_best']:.1f}/{freq['dof']} "
        f"(zero signal {freq['chi2_zero']:.1f}); Delta chi2 = 2.71 limit {freq['limit_xmass_scaled'] * scale:.4g} "
        f"{record['coupling_unit']}; one-sided {freq['limit_one_sided_scaled'] * scale:.4g}; CLs "
        f"{freq['limit_cls_scaled'] * scale:.4g}; Z = {freq['discovery_z']:.2f}"
    )
    unit = record["coupling_unit"]
    if "toys" in record:
        b = record["toys"]["freq_bands"]
        log(
            f"[{target.label}] expected Delta chi2 = 2.71 limit ({n_toys} background-only toys): median "
            f"{b['median']:.3g} {unit}, 68% band [{b['-1sigma']:.3g}, {b['+1sigma']:.3g}], 95% band "
            f"[{b['-2sigma']:.3g}, {b['+2sigma']:.3g}]; PCL {record['toys']['pcl']:.3g}"
        )
    if "feldman_cousins" in record:
        fc = record["feldman_cousins"]
        log(
            f"[{target.label}] Feldman-Cousins {spec.cl:.0%} interval [{fc['lower']:.3g}, {fc['upper']:.3g}] {unit} "
            f"({fc_toys} toys per grid point)"
        )
    return record


def run_sample(
    options: FitOptions, *, out: Path, seed: int, progress: bool = False, overwrite: bool = False, log=print
) -> tuple[Path, list[FitResult]]:
    """``sample``: the Bayesian fit of every selected target (seed ``step_seed(seed, "fit", i)`` for the i-th) into the
    run directory ``out``; returns it and the fits' results."""
    spec, dataset = load_spec_and_dataset(options)
    targets = select_targets(spec, flavours=options.flavours, signs=options.signs, masses=options.masses)
    out = prepare_run_dir(out, overwrite)
    log(analysis_note(spec, dataset))
    results = [
        run_bayesian_fit(
            spec, dataset, t, out, seed=step_seed(seed, "fit", i), progress=progress, overwrite=overwrite, log=log
        )
        for i, t in enumerate(targets)
    ]
    write_sample_outputs(out, spec, dataset, seed, results, overwrite)
    return out, results


def run_limit(
    options: FitOptions,
    *,
    out: Path | None = None,
    toys: int = 0,
    fc_toys: int = 0,
    seed: int = 1,
    overwrite: bool = False,
    log=print,
) -> tuple[Path | None, list[dict]]:
    """``limit``: frequentist results of every selected target (same seed for each); with ``out``,
    also ``out/limits.json``. Returns the run directory (or None) and the records."""
    spec, dataset = load_spec_and_dataset(options)
    targets = select_targets(spec, flavours=options.flavours, signs=options.signs, masses=options.masses)
    run_dir = prepare_run_dir(out, overwrite) if out else None
    log(analysis_note(spec, dataset))
    records = [run_frequentist(spec, dataset, t, n_toys=toys, fc_toys=fc_toys, seed=seed, log=log) for t in targets]
    if run_dir:
        doc = results_document(
            "limit",
            cl=spec.cl,
            provenance=run_metadata(spec, dataset, seed),
            fits=records,
            datasets={dataset.name: dataset},
        )
        write_json(run_dir / "limits.json", doc, overwrite)
    return run_dir, records
