"""CSV tables of a dataset: parsing and row checks.

Comma separated, UTF-8; lines whose first non-blank character is ``#`` and blank lines are
skipped; the first other line is the header and must list exactly the expected column names, in
order; every other line is one row of finite numbers. Whitespace around names and values is
ignored; quoting is not supported. Errors are :class:`~bayes_xmass.errors.InputError` naming the
CSV file, the column and the line.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bayes_xmass.errors import InputError

__all__ = ["CsvTable", "check_curve", "parse_csv"]


@dataclass
class CsvTable:
    """Columns of a parsed CSV file (name -> float array) and the file line of each row."""

    path: Path
    columns: tuple[str, ...]
    data: dict[str, np.ndarray]
    lines: np.ndarray  # 1-based file line number of each row

    @property
    def n_rows(self) -> int:
        """Number of data rows."""
        return int(self.lines.size)

    def error(self, field: str, message: str, row: int | None = None) -> InputError:
        """An InputError naming the file, ``field`` and (if ``row`` is given) its line."""
        if row is not None:
            message = f"line {int(self.lines[row])}: {message}"
        return InputError(self.path, field, message)


def parse_csv(path: Path, text: str, headers: Sequence[tuple[str, ...]]) -> CsvTable:
    """Parse CSV ``text``; the header must equal one of ``headers``. Never raises anything but InputError."""
    header: tuple[str, ...] | None = None
    rows: list[list[float]] = []
    lines: list[int] = []
    expected = " or ".join(",".join(h) for h in headers)
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        fields = [f.strip() for f in line.split(",")]
        if header is None:
            found = tuple(fields)
            if found not in headers:
                raise InputError(path, "header", f"line {lineno}: expected columns {expected}, found {','.join(found)}")
            header = found
            continue
        if len(fields) != len(header):
            raise InputError(
                path,
                "rows",
                f"line {lineno}: expected {len(header)} comma-separated fields "
                f"({','.join(header)}), found {len(fields)} (truncated or malformed row?)",
            )
        values = []
        for name, f in zip(header, fields):
            try:
                v = float(f)
            except ValueError:
                raise InputError(path, name, f"line {lineno}: {f!r} is not a number") from None
            if not math.isfinite(v):
                raise InputError(path, name, f"line {lineno}: non-finite value {f!r} (NaN/inf not allowed)")
            values.append(v)
        rows.append(values)
        lines.append(lineno)
    if header is None:
        raise InputError(path, "header", f"file has no header line; expected columns {expected}")
    arr = np.array(rows, dtype=float).reshape(len(rows), len(header))
    data = {name: arr[:, i].copy() for i, name in enumerate(header)}
    return CsvTable(path, header, data, np.array(lines, dtype=int))


def check_curve(table: CsvTable, *, min_rows: int = 2) -> None:
    """Energy column >= 0 and strictly increasing, at least ``min_rows`` rows."""
    if table.n_rows < min_rows:
        raise InputError(table.path, "rows", f"table needs at least {min_rows} data rows, found {table.n_rows}")
    e = table.data["energy_keV"]
    neg = np.flatnonzero(e < 0)
    if neg.size:
        raise table.error("energy_keV", f"negative energy {e[neg[0]]:g} keV", neg[0])
    bad = np.flatnonzero(np.diff(e) <= 0)
    if bad.size:
        i = bad[0] + 1
        raise table.error(
            "energy_keV", f"energy column must be strictly increasing: {e[i]:g} keV after {e[i - 1]:g} keV", i
        )
