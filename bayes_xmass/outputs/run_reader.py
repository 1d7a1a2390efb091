"""Reading a finished run directory back: its ``limits.json`` and the fits' DataTrees.

A run directory (``sample``, ``limit``, ``compare``, ``run``, ``scan``, ``combine``, ``global``)
holds ``limits.json`` (the results schema, docs/results-schema.md) and one NetCDF DataTree per
Bayesian fit (``<fit>.nc``: posterior, sample_stats, predictive groups, observed data). The trees
are plain ArviZ NetCDF files; this module only finds and opens them and reads the limits in the
coupling's physical unit.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bayes_xmass.errors import InputError
from bayes_xmass.outputs.report import open_datatree
from bayes_xmass.outputs.results import LIMIT_KINDS, SCHEMA_NAME, fit_limits, validate_results

__all__ = ["FinishedRun", "LIMIT_KINDS", "open_run"]

_ALIASES = {"delta_chi2_2.71": "delta_chi2"}  # the kind's name before the results schema


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

    @property
    def exclusion_curves(self) -> list[dict[str, Any]]:
        """The run's limit-vs-mass curves (physical units; empty if none)."""
        return list(self.limits.get("exclusion_curves") or [])

    def limit(self, fit: str, kind: str = "bayes") -> float | None:
        """The upper limit of ``fit`` at the run's CL, in the coupling's physical unit.

        ``kind``: one of :data:`LIMIT_KINDS` (``bayes`` = the credible limit, ``delta_chi2`` = Δχ² = 2.71).
        None when the run did not compute it (e.g. no Feldman-Cousins toys) or it is not finite (then
        :meth:`warnings` says why).
        """
        kind = _ALIASES.get(kind, kind)
        if kind not in LIMIT_KINDS:
            raise ValueError(f"kind must be one of {sorted(LIMIT_KINDS)}, got {kind!r}")
        rec = self.record(fit)
        limits = rec.get("limits") if "limits" in rec else fit_limits(rec)  # files from before the schema
        value = (limits or {}).get(kind)
        return None if value is None else float(value)

    def warnings(self, fit: str) -> list[dict[str, str]]:
        """What must be known before quoting ``fit``'s limits: ``[{"limit": kind or "fit", "reason"}]``."""
        return list(self.record(fit).get("warnings") or [])

    def datatree(self, fit: str) -> Any:
        """The fit's DataTree (``<fit>.nc``; opened once, lazily)."""
        if fit not in self._trees:
            self._trees[fit] = open_datatree(self.path / f"{fit}.nc")
        return self._trees[fit]


def open_run(path: str | Path, *, validate: bool = True) -> FinishedRun:
    """Open a finished run directory; a missing or unreadable ``limits.json`` is an InputError, and so
    (with ``validate``) is a file that says it follows the results schema but breaks it.

    >>> import tempfile, json, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "limits.json").write_text(json.dumps({"fits": [{"fit": "magnetic_moment",
    ...     "limits": {"bayes": 7.8e-11, "delta_chi2": 7.65e-11, "toy_calibrated": 7.3e-11}, "warnings": []}]}))
    >>> run = open_run(d)
    >>> run.fits, run.limit("magnetic_moment"), run.limit("magnetic_moment", "delta_chi2")
    (['magnetic_moment'], 7.8e-11, 7.65e-11)
    >>> run.limit("magnetic_moment", "toy_calibrated"), run.warnings("magnetic_moment")
    (7.3e-11, [])
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
    if validate and limits.get("schema") == SCHEMA_NAME:
        validate_results(limits, str(limits_file))
    return FinishedRun(path, limits)
