"""Outputs: what a run writes besides its numbers (every file written atomically, PNG/NetCDF/Markdown/HTML).

- :mod:`~bayes_xmass.outputs.compare`: Bayesian vs frequentist vs XMASS-I comparison rows and tables;
- :mod:`~bayes_xmass.outputs.report`: per-fit NetCDF DataTree, diagnostics plots, Markdown section;
- :mod:`~bayes_xmass.outputs.html`: the self-contained ``report.html``;
- :mod:`~bayes_xmass.outputs.run_reader`: reading a finished run directory back;
- :mod:`~bayes_xmass.outputs.validation_report`: files of the validation studies;
- plots (Agg backend, PNG): :mod:`~bayes_xmass.outputs.plot_fits` (POI posterior, spectra),
  :mod:`~bayes_xmass.outputs.plot_convergence` (trace, rank, R-hat/ESS overview),
  :mod:`~bayes_xmass.outputs.plot_limits` (B-L exclusion, millicharge limits),
  :mod:`~bayes_xmass.outputs.plot_validation` (SBC ranks, coverage), on the shared figure plumbing of
  :mod:`~bayes_xmass.outputs.figures`.

The submodules are not imported here: ``bayes_xmass.outputs.compare`` stays light (no matplotlib, no PyMC).
"""

__all__ = [
    "compare",
    "figures",
    "html",
    "plot_convergence",
    "plot_fits",
    "plot_limits",
    "plot_validation",
    "report",
    "run_reader",
    "validation_report",
]
