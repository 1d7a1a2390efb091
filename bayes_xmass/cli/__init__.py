"""Command-line interface (``bayes-xmass``): argument parsing and checks only; each command calls one
workflow (:mod:`bayes_xmass.workflows`) and prints its result.

Modules: :mod:`~bayes_xmass.cli.main` (parser assembly, ``main``, the console-script ``entry``),
:mod:`~bayes_xmass.cli.options` (option groups shared by several commands),
:mod:`~bayes_xmass.cli.common` (progress messages), and one module per command or command family:
:mod:`~bayes_xmass.cli.spectra`, :mod:`~bayes_xmass.cli.fits` (sample, limit, compare),
:mod:`~bayes_xmass.cli.run`, :mod:`~bayes_xmass.cli.datasets` (make-benchmark, convert-xenon1t),
:mod:`~bayes_xmass.cli.scan`, :mod:`~bayes_xmass.cli.combine`, :mod:`~bayes_xmass.cli.validate`.
Nothing outside this package imports it.
"""

__all__ = ["main"]
