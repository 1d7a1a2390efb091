"""The validation studies as jobs: set-up from a model and dataset, provenance, output folder and
files (the ``bayes-xmass validate sbc|coverage|prior-sensitivity`` commands), and the
prior-sensitivity tables of a pipeline run (read from its stored posteriors).

The statistics are in :mod:`bayes_xmass.validation`; the files are written by
:mod:`bayes_xmass.outputs.validation_report`. True couplings are in physical units (mu_B, e, g).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

from bayes_xmass.datasets.loader import DEFAULT_DATASET, load_dataset
from bayes_xmass.datasets.types import Dataset
from bayes_xmass.errors import InputError
from bayes_xmass.model.spec import ModelSpec, model_spec_for
from bayes_xmass.model.targets import FitTarget, spec_in_template_unit, target_templates
from bayes_xmass.outputs.report import open_datatree
from bayes_xmass.outputs.validation_report import (
    coverage_markdown,
    write_coverage_outputs,
    write_sbc_outputs,
    write_sensitivity_outputs,
)
from bayes_xmass.physics.atomic import AtomicModel
from bayes_xmass.physics.interactions import CHARGE_CONVENTION, INTERACTIONS
from bayes_xmass.response.templates import TemplateSet
from bayes_xmass.runtime.io import check_out_dir, package_versions
from bayes_xmass.validation.atomic_systematic import ATOMIC_SYSTEMATIC_INTERACTIONS, atomic_model_systematic
from bayes_xmass.validation.coverage import run_coverage
from bayes_xmass.validation.sbc import SbcResult, SbcSettings, run_sbc
from bayes_xmass.validation.sensitivity import prior_sensitivity
from bayes_xmass.validation.setup import DEFAULT_SBC_MASS_MEV, check_signal_size, validation_setup

__all__ = [
    "SENSITIVITY_REFIT_DRAWS",
    "headline_record",
    "prepare_out_dir",
    "run_atomic_systematic",
    "run_prior_sensitivity",
    "validate_coverage",
    "validate_prior_sensitivity",
    "validate_sbc",
    "validation_provenance",
]

SENSITIVITY_REFIT_DRAWS = 1000  # NUTS draws per chain of a prior-sensitivity refit in a run


def validation_provenance(spec: ModelSpec, tpl: TemplateSet, target: FitTarget, seed: int, extra: dict) -> dict:
    """Provenance of a validation study: model, fit, dataset (and checksum), templates, seed,
    charge convention and package versions, plus ``extra`` (the study and its options)."""
    return {
        "model_config": spec.describe(),
        "fit": target.label,
        "dataset": tpl.dataset.summary(),
        "dataset_checksum": tpl.dataset.checksum,
        "templates": tpl.describe(),
        "seed": seed,
        "charge_convention": CHARGE_CONVENTION,
        "package_versions": package_versions(),
        **extra,
    }


def prepare_out_dir(out: Path, overwrite: bool) -> Path:
    """Create the output folder; refuse a non-empty one unless ``overwrite`` (no silent overwrite)."""
    out = check_out_dir(out, overwrite)
    out.mkdir(parents=True, exist_ok=True)
    return out


def _study_setup(
    interaction: str,
    dataset: Path | None,
    *,
    reduced: bool,
    mass_mev: float | None,
    sign: int | None,
    flavours: str | None,
) -> tuple[ModelSpec, FitTarget, TemplateSet]:
    """Model (bundled name or TOML file), dataset folder (default: the bundled benchmark), fit and templates."""
    spec = model_spec_for(interaction)
    data = load_dataset(dataset or DEFAULT_DATASET)
    return validation_setup(
        spec.interaction, data, reduced=reduced, mass_mev=mass_mev, sign=sign, flavours=flavours, spec=spec
    )


def validate_sbc(
    *,
    interaction: str,
    out: Path,
    settings: SbcSettings,
    dataset: Path | None = None,
    reduced: bool = False,
    mass_mev: float | None = None,
    sign: int | None = None,
    flavours: str | None = None,
    prior_upper: float | None = None,
    fit_prior_upper_factor: float = 1.0,
    fit_signal_factor: float = 1.0,
    scheduler=None,
    processes: int = 1,
    overwrite: bool = False,
    log: Callable[[str], None] = print,
) -> SbcResult:
    """Simulation-based calibration of one fit into ``out`` (sbc.nc, sbc_ranks.png, sbc.md, sbc.json).

    ``settings`` (validated by the caller) gives the study's size and seed; the nutpie mass-matrix
    adaptation is the model's. ``prior_upper`` (units of the coupling scale) replaces the POI prior's
    upper bound for simulation and fit; ``fit_prior_upper_factor`` / ``fit_signal_factor`` fit a
    deliberately wrong model (:func:`bayes_xmass.validation.sbc.run_sbc`).
    """
    spec, target, tpl = _study_setup(
        interaction, dataset, reduced=reduced, mass_mev=mass_mev, sign=sign, flavours=flavours
    )
    settings = dataclasses.replace(settings, adaptation=getattr(spec.sampler, "adaptation", "diag"))
    prior = spec.poi_prior
    if prior.kind in ("jeffreys",):
        raise InputError(spec.source or "model", "poi.prior.kind", "SBC needs a generative POI prior (not jeffreys)")
    if prior_upper is not None:
        check_signal_size(tpl, prior_upper, "--prior-upper", INTERACTIONS[target.interaction].coupling_unit)
        prior = dataclasses.replace(prior, upper=prior_upper)
        spec = spec.with_overrides(poi_prior=prior)
    out = prepare_out_dir(out, overwrite)
    prov = validation_provenance(
        spec,
        tpl,
        target,
        settings.seed,
        {"study": "sbc", "reduced": reduced, "sampler": f"nutpie ({settings.adaptation} mass matrix)"},
    )
    f = fit_prior_upper_factor
    fit_prior = dataclasses.replace(prior, upper=prior.upper * f, floor=prior.floor * f)
    result = run_sbc(
        tpl,
        target,
        prior,
        settings,
        likelihood=spec.likelihood,
        fit_prior=fit_prior,
        compiled_prior=prior,
        fit_signal_factor=fit_signal_factor,
        scheduler=scheduler,
        processes=processes,
        provenance=prov,
        log=log,
    )
    write_sbc_outputs(result, out, overwrite)
    return result


def validate_coverage(
    *,
    interaction: str,
    out: Path,
    dataset: Path | None = None,
    reduced: bool = False,
    mass_mev: float | None = None,
    sign: int | None = None,
    flavours: str | None = None,
    true_values: list[float] | None = None,
    toys: int = 200,
    bayes_toys: int = 50,
    calibration_toys: int = 1000,
    seed: int = 11,
    overwrite: bool = False,
    log: Callable[[str], None] = print,
) -> dict:
    """Coverage table and plot of one fit into ``out`` (coverage.csv, coverage.md, coverage.png,
    coverage.json). ``true_values``: |coupling| in physical units (default: multiples of the
    background-only Asimov limit, :func:`bayes_xmass.validation.coverage.run_coverage`)."""
    spec, target, tpl = _study_setup(
        interaction, dataset, reduced=reduced, mass_mev=mass_mev, sign=sign, flavours=flavours
    )
    x_values = None if true_values is None else [v / tpl.coupling_scale for v in true_values]
    out = prepare_out_dir(out, overwrite)
    prov = validation_provenance(spec, tpl, target, seed, {"study": "coverage", "reduced": reduced})
    result = run_coverage(
        tpl,
        target,
        spec,
        x_values=x_values,
        n_toys=toys,
        n_bayes_toys=bayes_toys,
        n_calibration_toys=calibration_toys,
        seed=seed,
        provenance=prov,
        log=log,
    )
    log(coverage_markdown(result, table_only=True))
    write_coverage_outputs(result, out, overwrite)
    return result


def validate_prior_sensitivity(
    *,
    interaction: str,
    out: Path,
    dataset: Path | None = None,
    reduced: bool = False,
    mass_mev: float | None = None,
    sign: int | None = None,
    flavours: str | None = None,
    method: str = "refit",
    seed: int = 5,
    overwrite: bool = False,
) -> dict:
    """Prior-sensitivity table of one fit into ``out`` (prior_sensitivity.md, prior_sensitivity.json);
    ``method``: refit, reweight or hybrid (:func:`bayes_xmass.validation.sensitivity.prior_sensitivity`)."""
    spec, target, tpl = _study_setup(
        interaction, dataset, reduced=reduced, mass_mev=mass_mev, sign=sign, flavours=flavours
    )
    out = prepare_out_dir(out, overwrite)
    sens = prior_sensitivity(
        tpl,
        target,
        spec.poi_prior,
        cl=spec.cl,
        likelihood=spec.likelihood,
        method=method,
        sampler=spec.sampler,
        seed=seed,
        cache={},
    )
    sens["provenance"] = validation_provenance(
        spec, tpl, target, seed, {"study": "prior_sensitivity", "reduced": reduced}
    )
    write_sensitivity_outputs(sens, out, overwrite)
    return sens


def run_prior_sensitivity(
    specs: dict,
    dataset: Dataset,
    records: list[dict],
    out: Path,
    *,
    quick: bool,
    seed: int,
    cache: dict | None = None,
    log=print,
) -> list[dict]:
    """Prior-sensitivity tables for one headline fit per interaction of a pipeline run
    (magnetic moment; common millicharge, q < 0 if fitted; B-L at 10 MeV if fitted). Quick mode
    reweights the stored posterior; the full run reweights and refits with NUTS where k-hat > 0.7."""
    tables = []
    for interaction, spec in specs.items():
        recs = [r for r in records if r["interaction"] == interaction]
        if not recs:
            continue
        rec = headline_record(interaction, recs)
        target = FitTarget(interaction, rec["sign"], rec.get("flavours"), rec.get("mass_MeV"))
        tpl = target_templates(spec, dataset, target)
        spec = spec_in_template_unit(spec, tpl, target.sign)  # the POI prior in the templates' unit
        base_dt = open_datatree(Path(out) / rec["netcdf"])
        # refits only: the ratio to the baseline is quoted to 2 decimals; 4 x 1000 draws give its 90%
        # quantile to ~1% (MCSE; 0.5-0.8% for the baseline priors), and R-hat and divergences are checked
        sampler = dataclasses.replace(spec.sampler, draws=min(spec.sampler.draws, SENSITIVITY_REFIT_DRAWS))
        sens = prior_sensitivity(
            tpl,
            target,
            spec.poi_prior,
            cl=spec.cl,
            likelihood=spec.likelihood,
            method="reweight" if quick else "hybrid",
            base_dt=base_dt,
            sampler=sampler,
            seed=seed,
            cache=cache,
        )
        log(
            f"[{target.label}] prior sensitivity ({sens['method']}): "
            + ", ".join(
                f"{r['variant'].split(' (')[0]} " + (f"{r['ratio_to_baseline']:.2f}" if r["reliable"] else "n/a")
                for r in sens["rows"]
            )
        )
        tables.append(sens)
    return tables


def headline_record(interaction: str, records: list[dict]) -> dict:
    """The fit a run's per-interaction tables are about: the magnetic moment; the common millicharge,
    q < 0 if fitted; B-L at 10 MeV if fitted."""
    pick = {
        "millicharge": lambda r: (r.get("flavours") == "common", r["sign"] < 0),
        "b_minus_l": lambda r: (r.get("mass_MeV") == DEFAULT_SBC_MASS_MEV,),
    }.get(interaction, lambda r: (True,))
    return max(records, key=pick)


def run_atomic_systematic(
    spec: ModelSpec,
    dataset: Dataset,
    records: list[dict],
    *,
    seed: int,
    rrpa: AtomicModel | None = None,
    cache: dict | None = None,
    log=print,
) -> list[dict]:
    """The atomic-model table of a pipeline run's headline fit of ``spec``'s interaction (magnetic
    moment and millicharge only; empty otherwise): NUTS refits with SENSITIVITY_REFIT_DRAWS draws."""
    recs = [r for r in records if r["interaction"] == spec.interaction]
    if spec.interaction not in ATOMIC_SYSTEMATIC_INTERACTIONS or not recs:
        return []
    rec = headline_record(spec.interaction, recs)
    sampler = dataclasses.replace(spec.sampler, draws=min(spec.sampler.draws, SENSITIVITY_REFIT_DRAWS))
    table = atomic_model_systematic(spec, dataset, rec, sampler=sampler, seed=seed, rrpa=rrpa, cache=cache)
    log(
        f"[{table['fit']}] atomic-model systematic (Bayesian limit / baseline): "
        + ", ".join(f"{r['variant']} {r['ratio_bayes']:.2f}" for r in table["rows"])
        + f" ({table['seconds']:.0f} s)"
    )
    return [table]
