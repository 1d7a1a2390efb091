"""Converters from public data releases (and the simulated benchmark) to dataset folders.

:mod:`~bayes_xmass.converters.benchmark` writes the simulated XMASS-I benchmark dataset;
:mod:`~bayes_xmass.converters.xenon1t` converts the XENON1T electron-recoil data release.

Entry points are re-exported here, imported on first use (``import bayes_xmass.converters`` stays
cheap); library code imports from the defining module.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bayes_xmass.lazy import lazy_exports

if TYPE_CHECKING:
    from bayes_xmass.converters.benchmark import make_benchmark as make_benchmark
    from bayes_xmass.converters.xenon1t import convert_release as convert_release
    from bayes_xmass.converters.xenon1t import read_release as read_release

__all__, __getattr__ = lazy_exports(
    __name__,
    {
        "make_benchmark": "bayes_xmass.converters.benchmark",
        "convert_release": "bayes_xmass.converters.xenon1t",
        "read_release": "bayes_xmass.converters.xenon1t",
    },
)
