"""Lazy re-exports for subpackage ``__init__`` modules (PEP 562 module ``__getattr__``).

A subpackage lists its notebook-facing names once, as ``name -> defining module``; a name's module
is imported on first access only, so ``import bayes_xmass.physics`` stays cheap. Type checkers see
the same names through ``if TYPE_CHECKING:`` imports written ``from module import X as X``.

Usage in ``bayes_xmass/<pkg>/__init__.py``::

    from typing import TYPE_CHECKING

    from bayes_xmass.lazy import lazy_exports

    if TYPE_CHECKING:
        from bayes_xmass.physics.solar import FLUX_SETS as FLUX_SETS

    __all__, __getattr__ = lazy_exports(__name__, {"FLUX_SETS": "bayes_xmass.physics.solar"})

>>> import sys, types
>>> pkg = types.ModuleType("demo_pkg")
>>> sys.modules["demo_pkg"] = pkg
>>> pkg.__all__, pkg.__getattr__ = lazy_exports("demo_pkg", {"sqrt": "math", "dumps": "json"})
>>> pkg.__all__
['dumps', 'sqrt']
>>> pkg.sqrt(9.0)
3.0
>>> "sqrt" in vars(pkg)  # cached on the package after the first access
True
>>> pkg.nope
Traceback (most recent call last):
...
AttributeError: module 'demo_pkg' has no attribute 'nope'
>>> del sys.modules["demo_pkg"]
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(package: str, names: dict[str, str]) -> tuple[list[str], Callable[[str], Any]]:
    """``(__all__, __getattr__)`` for ``package`` re-exporting ``names`` (exported name -> absolute module).

    ``__all__`` is the sorted list of names. ``__getattr__(name)`` imports the defining module,
    caches the value on the package (later accesses skip ``__getattr__``) and returns it; any
    other name raises AttributeError, as for a normal module.
    """
    table = dict(names)

    def __getattr__(name: str) -> Any:
        module = table.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        setattr(sys.modules[package], name, value)
        return value

    return sorted(table), __getattr__
