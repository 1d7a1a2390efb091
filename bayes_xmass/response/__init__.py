"""Detector response: folding true-energy rates into expected counts per reconstructed-energy bin.

:mod:`~bayes_xmass.response.detector` holds the response itself (resolution, efficiency,
threshold, energy scale) and the energy-scale morphing of templates;
:mod:`~bayes_xmass.response.templates` builds one analysis's binned templates (expected counts for
the dataset's exposure), optionally through the on-disk cache.

Notebook entry points are re-exported here, imported on first use (``import bayes_xmass.response``
stays cheap); library code imports from the defining module.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bayes_xmass.lazy import lazy_exports

if TYPE_CHECKING:
    from bayes_xmass.response.detector import MorphingTemplates as MorphingTemplates
    from bayes_xmass.response.detector import Response as Response
    from bayes_xmass.response.detector import integrate_folded as integrate_folded
    from bayes_xmass.response.templates import TemplateSet as TemplateSet
    from bayes_xmass.response.templates import b_minus_l_templates as b_minus_l_templates
    from bayes_xmass.response.templates import build_templates as build_templates
    from bayes_xmass.response.templates import build_templates_cached as build_templates_cached
    from bayes_xmass.response.templates import response_for as response_for

__all__, __getattr__ = lazy_exports(
    __name__,
    {
        "MorphingTemplates": "bayes_xmass.response.detector",
        "Response": "bayes_xmass.response.detector",
        "integrate_folded": "bayes_xmass.response.detector",
        "TemplateSet": "bayes_xmass.response.templates",
        "b_minus_l_templates": "bayes_xmass.response.templates",
        "build_templates": "bayes_xmass.response.templates",
        "build_templates_cached": "bayes_xmass.response.templates",
        "response_for": "bayes_xmass.response.templates",
    },
)
