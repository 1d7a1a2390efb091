"""Reading a finished run directory back: its ``limits.json`` and the fits' DataTrees.

A run directory (``run``, ``sample``, ``limit``, ``compare``, ``combine``) holds ``limits.json``
and one NetCDF DataTree per Bayesian fit (``<fit>.nc``: posterior, sample_stats, predictive
groups, observed data). The trees are plain ArviZ-compatible NetCDF files; this module only
finds and opens them and reads the limits in the coupling's physical unit.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bayes_xmass.errors import InputError
from bayes_xmass.outputs.report import open_datatree

__all__ = ["FinishedRun", "LIMIT_KINDS", "open_run"]

# limit kind -> (section of a fit's record, key); frequentist keys are in units of the coupling scale
LIMIT_KINDS = {
    "bayes": ("bayes", "limit"),
    "delta_chi2_2.71": ("frequentist", "limit_xmass_scaled"),
    "one_sided": ("frequentist", "limit_one_sided_scaled"),
    "cls": ("frequentist", "limit_cls_scaled"),
    "toy_calibrated": ("toy_calibrated", "limit"),
    "feldman_cousins": ("feldman_cousins", "upper"),
}


@dataclass(frozen=True)
class FinishedRun:
    """A run directory's results: ``limits`` is the parsed ``limits.json``."""

    path: Path
    limits: dict[str, Any]
    _trees: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def fits(self) -> list[str]:
        """Labels of the fits in the run, in the order they were run."""
        return [rec["fit"] for rec in self.limits.get("fits", [])]

    def record(self, fit: str) -> dict[str, Any]:
        """The ``limits.json`` record of one fit."""
        for rec in self.limits.get("fits", []):
            if rec["fit"] == fit:
                return dict(rec)
        raise KeyError(f"{self.path}: no fit {fit!r} (fits: {', '.join(self.fits)})")

    def limit(self, fit: str, kind: str = "bayes") -> float | None:
        """A 90%-CL (the run's CL) upper limit of ``fit`` in the coupling's physical unit.

        ``kind``: one of :data:`LIMIT_KINDS` (``bayes`` = the credible limit). None when the run did
        not compute it (e.g. no Feldman-Cousins toys).
        """
        if kind not in LIMIT_KINDS:
            raise ValueError(f"kind must be one of {sorted(LIMIT_KINDS)}, got {kind!r}")
        rec = self.record(fit)
        section, key = LIMIT_KINDS[kind]
        value = (rec.get(section) or {}).get(key)
        if value is None:
            return None
        return float(value) * (float(rec.get("coupling_scale") or 1.0) if key.endswith("_scaled") else 1.0)

    def datatree(self, fit: str) -> Any:
        """The fit's DataTree (``<fit>.nc``; opened once, lazily)."""
        if fit not in self._trees:
            self._trees[fit] = open_datatree(self.path / f"{fit}.nc")
        return self._trees[fit]


def open_run(path: str | Path) -> FinishedRun:
    """Open a finished run directory; a missing or unreadable ``limits.json`` is an InputError.

    >>> import tempfile, json, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "limits.json").write_text(json.dumps({"fits": [{"fit": "magnetic_moment",
    ...     "coupling_scale": 1e-10, "bayes": {"limit": 7.8e-11}, "frequentist": {"limit_xmass_scaled": 0.765},
    ...     "toy_calibrated": {"limit": 7.3e-11}}]}))
    >>> run = open_run(d)
    >>> run.fits, run.limit("magnetic_moment"), round(run.limit("magnetic_moment", "delta_chi2_2.71"), 14)
    (['magnetic_moment'], 7.8e-11, 7.65e-11)
    >>> run.limit("magnetic_moment", "toy_calibrated")
    7.3e-11
    """
    path = Path(path)
    limits_file = path / "limits.json"
    if not limits_file.is_file():
        raise InputError(limits_file, "", "not found: not a finished run directory")
    try:
        limits = json.loads(limits_file.read_text())
    except (OSError, ValueError) as exc:
        raise InputError(limits_file, "", f"cannot read: {exc}") from None
    if not isinstance(limits, dict) or not isinstance(limits.get("fits", []), list):
        raise InputError(limits_file, "fits", "expected a list of fit records")
    return FinishedRun(path, limits)
