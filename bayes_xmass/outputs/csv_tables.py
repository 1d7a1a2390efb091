"""CSV files whose header names every column's unit: the B-L scan table.

A column is written ``name [unit]``: ``mass [MeV]``, couplings ``[dimensionless]`` (g), times
``[s]``; counts and flags carry no unit.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["SCAN_UNITS", "scan_csv"]

# scan Dataset variable (infer/scan.py scan_dataset) -> unit
SCAN_UNITS = {
    "mass": "MeV",
    "scale": "dimensionless",
    "best_fit": "dimensionless",
    "freq_xmass": "dimensionless",
    "freq_one_sided": "dimensionless",
    "expected_m2": "dimensionless",
    "expected_m1": "dimensionless",
    "expected_median": "dimensionless",
    "expected_p1": "dimensionless",
    "expected_p2": "dimensionless",
    "bayes": "dimensionless",
    "bayes_mcse": "dimensionless",
    "seconds": "s",
}


def scan_csv(ds: Any, comments: Sequence[str] = ()) -> str:
    """A B-L scan Dataset (dim ``mass``) as CSV: ``# comment`` lines, then one row per mass, the
    header with units (:data:`SCAN_UNITS`)."""
    frame = ds.to_dataframe()
    frame.index.name = "mass"
    frame = frame.reset_index()
    frame.columns = [f"{c} [{SCAN_UNITS[c]}]" if c in SCAN_UNITS else str(c) for c in frame.columns]
    lines = [f"# {c}" for c in comments]
    return "\n".join(lines + [frame.to_csv(index=False).rstrip("\n")]) + "\n"
