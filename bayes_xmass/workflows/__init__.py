"""Workflows: the commands' work into run directories, one function per command.

``run`` (:func:`~bayes_xmass.workflows.run_launch.start_run`, then
:func:`~bayes_xmass.workflows.run.run_full_analysis` / :func:`~bayes_xmass.workflows.run.run_analysis`),
``sample`` / ``limit`` (:mod:`~bayes_xmass.workflows.fits`), ``compare``
(:mod:`~bayes_xmass.workflows.compare`), ``scan`` (:func:`~bayes_xmass.workflows.scan.run_scan_dir`),
``combine`` (:mod:`~bayes_xmass.workflows.combine`), ``spectra`` (:mod:`~bayes_xmass.workflows.spectra`),
``make-benchmark`` / ``convert-xenon1t`` (:mod:`~bayes_xmass.workflows.dataset_builders`) and
``validate`` (:mod:`~bayes_xmass.workflows.validate`). The inputs of the fit commands:
:mod:`~bayes_xmass.workflows.fit_inputs`.

The entry points are re-exported here, imported on first use (``import bayes_xmass.workflows``
stays cheap); library code imports from the defining module.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bayes_xmass.lazy import lazy_exports

if TYPE_CHECKING:
    from bayes_xmass.workflows.combine import combine_datasets as combine_datasets
    from bayes_xmass.workflows.combine import run_combination as run_combination
    from bayes_xmass.workflows.compare import comparison_tables as comparison_tables
    from bayes_xmass.workflows.compare import run_compare as run_compare
    from bayes_xmass.workflows.dataset_builders import convert_xenon1t_release as convert_xenon1t_release
    from bayes_xmass.workflows.dataset_builders import make_benchmark_dataset as make_benchmark_dataset
    from bayes_xmass.workflows.fit_inputs import FitOptions as FitOptions
    from bayes_xmass.workflows.fits import run_bayesian_fit as run_bayesian_fit
    from bayes_xmass.workflows.fits import run_frequentist as run_frequentist
    from bayes_xmass.workflows.fits import run_limit as run_limit
    from bayes_xmass.workflows.fits import run_sample as run_sample
    from bayes_xmass.workflows.run import run_analysis as run_analysis
    from bayes_xmass.workflows.run import run_full_analysis as run_full_analysis
    from bayes_xmass.workflows.run_fit import RunSettings as RunSettings
    from bayes_xmass.workflows.run_launch import start_run as start_run
    from bayes_xmass.workflows.scan import run_scan_dir as run_scan_dir
    from bayes_xmass.workflows.spectra import write_recoil_spectra as write_recoil_spectra

__all__, __getattr__ = lazy_exports(
    __name__,
    {
        "combine_datasets": "bayes_xmass.workflows.combine",
        "run_combination": "bayes_xmass.workflows.combine",
        "comparison_tables": "bayes_xmass.workflows.compare",
        "run_compare": "bayes_xmass.workflows.compare",
        "convert_xenon1t_release": "bayes_xmass.workflows.dataset_builders",
        "make_benchmark_dataset": "bayes_xmass.workflows.dataset_builders",
        "FitOptions": "bayes_xmass.workflows.fit_inputs",
        "run_bayesian_fit": "bayes_xmass.workflows.fits",
        "run_frequentist": "bayes_xmass.workflows.fits",
        "run_limit": "bayes_xmass.workflows.fits",
        "run_sample": "bayes_xmass.workflows.fits",
        "run_analysis": "bayes_xmass.workflows.run",
        "run_full_analysis": "bayes_xmass.workflows.run",
        "RunSettings": "bayes_xmass.workflows.run_fit",
        "start_run": "bayes_xmass.workflows.run_launch",
        "run_scan_dir": "bayes_xmass.workflows.scan",
        "write_recoil_spectra": "bayes_xmass.workflows.spectra",
    },
)
