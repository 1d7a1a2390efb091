"""The ``compare`` command: Bayesian vs frequentist limits side by side.

Either read from a finished run directory (its ``limits.json``), or computed by running both for
one interaction into a new run directory: ``<fit>.nc``, ``plots/<fit>_compare.png`` (posterior of
the coupling vs the profile likelihood), ``comparison.csv``, ``comparison.md`` and ``limits.json`` (last; the results schema).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from bayes_xmass.errors import InputError
from bayes_xmass.model.analysis_choice import analysis_note
from bayes_xmass.outputs.compare import comparison_row, csv_text, markdown_table, terminal_table
from bayes_xmass.outputs.plot_fits import plot_poi_posterior
from bayes_xmass.outputs.report import open_datatree
from bayes_xmass.outputs.results import results_document
from bayes_xmass.runtime.io import prepare_run_dir, write_json, write_text
from bayes_xmass.runtime.seeds import step_seed
from bayes_xmass.workflows.fit_inputs import FitOptions, load_spec_and_dataset
from bayes_xmass.workflows.fits import run_bayesian_fit, run_frequentist, run_metadata, select_targets

__all__ = ["comparison_tables", "run_compare"]


def comparison_tables(run_dir: Path) -> str:
    """The comparison of a finished run directory as a terminal table and a Markdown table.

    Raises InputError (one line, never a traceback) if ``limits.json`` is missing or malformed."""
    limits = Path(run_dir) / "limits.json"
    if not limits.is_file():
        raise InputError(limits, "file", "not found: not a finished bayes-xmass run directory")
    try:  # any structure problem of the file is reported as one line, never a traceback
        result = json.loads(limits.read_text())
        rows = result.get("comparison") or [comparison_row(r) for r in result["fits"]]
        return terminal_table(rows) + "\n" + markdown_table(rows)
    except (ValueError, KeyError, TypeError, AttributeError, IndexError) as exc:
        raise InputError(limits, "fits", f"unreadable run summary ({type(exc).__name__}: {exc})") from None
    except OSError as exc:
        raise InputError(limits, "file", f"cannot read: {exc.strerror or exc}") from None


def run_compare(
    options: FitOptions,
    *,
    out: Path,
    toys: int = 0,
    fc_toys: int = 0,
    seed: int = 20201,
    overwrite: bool = False,
    log=print,
) -> list[dict]:
    """Bayesian fit and frequentist results of every selected target (seed ``step_seed(seed, "fit", i)`` for the
    i-th) into the run directory ``out``; returns the comparison rows."""
    spec, dataset = load_spec_and_dataset(options)
    out = prepare_run_dir(out, overwrite)
    log(analysis_note(spec, dataset))
    records = []
    for i, t in enumerate(select_targets(spec, flavours=options.flavours, signs=options.signs, masses=options.masses)):
        bayes = run_bayesian_fit(spec, dataset, t, out, seed=step_seed(seed, "fit", i), overwrite=overwrite, log=log)
        rec = run_frequentist(spec, dataset, t, n_toys=toys, fc_toys=fc_toys, seed=step_seed(seed, "fit", i), log=log)
        # the fit's POI prior as sampled: in its coupling unit, with the bounds in physical units
        prior = json.loads(bayes.attrs["poi_prior"])
        rec.update(bayes=bayes.limit, diagnostics=bayes.diagnostics.as_dict(), poi_prior=prior)
        f = rec["frequentist"]
        scale = rec["coupling_scale"]
        dt = open_datatree(bayes.netcdf)
        plot_poi_posterior(
            dt.posterior["x"].values * scale,
            bayes.limit["limit"],
            cl=spec.cl,
            unit=rec["coupling_unit"],
            label=f"{t.label}: posterior vs profile likelihood",
            out=out / "plots" / f"{t.label}_compare.png",
            profile=(np.asarray(f["profile_x_scaled"]) * scale, np.exp(-0.5 * np.asarray(f["profile_delta_chi2"]))),
            freq_limit=f["limit_xmass_scaled"] * scale,
            overwrite=overwrite,
        )
        records.append(rec)
    doc = results_document(
        "compare",
        cl=spec.cl,
        provenance=run_metadata(spec, dataset, seed),
        fits=records,
        datasets={dataset.name: dataset},
    )
    rows = [comparison_row(r) for r in doc["fits"]]
    doc["comparison"] = rows
    write_text(out / "comparison.csv", csv_text(rows), overwrite)
    write_text(out / "comparison.md", markdown_table(rows) + "\n", overwrite)
    write_json(out / "limits.json", doc, overwrite)  # last: its presence marks a complete run
    return rows
