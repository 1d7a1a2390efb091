"""Runtime services: atomic file output, on-disk caches, PyTensor/nutpie compilation, task execution.

:mod:`~bayes_xmass.runtime.io` (atomic writes, provenance), :mod:`~bayes_xmass.runtime.cache`
(template cache), :mod:`~bayes_xmass.runtime.graph_cache` (rewritten PyTensor graphs),
:mod:`~bayes_xmass.runtime.nutpie_compile` (fast nutpie compilation), :mod:`~bayes_xmass.runtime.seeds`
(seed derivation) and :mod:`~bayes_xmass.runtime.executor` (mapping tasks over workers).

Entry points are re-exported here, imported on first use (``import bayes_xmass.runtime`` stays
cheap); library code imports from the defining module.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bayes_xmass.lazy import lazy_exports

if TYPE_CHECKING:
    from bayes_xmass.runtime.cache import cache_dir as cache_dir
    from bayes_xmass.runtime.cache import cached_arrays as cached_arrays
    from bayes_xmass.runtime.executor import run_tasks as run_tasks
    from bayes_xmass.runtime.io import atomic_path as atomic_path
    from bayes_xmass.runtime.io import write_json as write_json
    from bayes_xmass.runtime.io import write_text as write_text
    from bayes_xmass.runtime.nutpie_compile import compile_for_nutpie as compile_for_nutpie
    from bayes_xmass.runtime.seeds import step_seed as step_seed

__all__, __getattr__ = lazy_exports(
    __name__,
    {
        "cache_dir": "bayes_xmass.runtime.cache",
        "cached_arrays": "bayes_xmass.runtime.cache",
        "run_tasks": "bayes_xmass.runtime.executor",
        "atomic_path": "bayes_xmass.runtime.io",
        "write_json": "bayes_xmass.runtime.io",
        "write_text": "bayes_xmass.runtime.io",
        "compile_for_nutpie": "bayes_xmass.runtime.nutpie_compile",
        "step_seed": "bayes_xmass.runtime.seeds",
    },
)
