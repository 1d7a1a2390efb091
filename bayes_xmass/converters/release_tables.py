"""Reading public data releases and writing dataset folders: what every converter shares.

- :func:`read_columns` reads a whitespace/comma-separated numeric table with ``#`` comments and
  checks it (file present, column count, finite numbers, non-negative columns); any problem is one
  :class:`~bayes_xmass.errors.InputError` line naming the file and the line or column.
- :func:`step_curve` writes per-bin values (a released histogram of expected counts per keV) as a
  piecewise-linear curve whose integral over each bin equals the bin's value to < 1e-4 relative.
- :func:`folded_counts` folds a true-energy spectrum with a dataset's resolution and efficiency
  into bins (to normalise a component to a published count).
- :class:`DatasetFolder` collects the CSV tables and ``dataset.toml`` of a dataset folder and writes
  them atomically, ``dataset.toml`` last, refusing to overwrite a non-empty folder unless asked.

>>> e, v = step_curve(np.array([1.0, 2.0, 3.0]), np.array([4.0, 6.0]))
>>> bool(np.all(np.diff(e) > 0)), float(np.trapezoid(v, e))  # integral 4 + 6, up to the ramps
(True, 10.0)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from bayes_xmass.errors import InputError
from bayes_xmass.response.detector import Response, true_energy_grid
from bayes_xmass.runtime.io import write_text

__all__ = ["STEP_RAMP_KEV", "DatasetFolder", "csv_block", "folded_counts", "read_columns", "step_curve"]

STEP_RAMP_KEV = 1e-4
"""Half-width of the linear ramp between two bins of a :func:`step_curve` (keV)."""


def read_columns(
    path: Path,
    n_cols: int | tuple[int, int],
    *,
    use: int | None = None,
    nonnegative: Sequence[int] = (),
    what: str = "table",
) -> NDArray[np.float64]:
    """Numeric rows of ``path`` (comma or whitespace separated, ``#`` comments, an optional text header).

    ``n_cols``: the exact column count, or (min, max). ``use``: keep the first ``use`` columns.
    ``nonnegative``: column indices that must be >= 0. Returns an array (rows, columns kept).
    """
    path = Path(path)
    lo, hi = (n_cols, n_cols) if isinstance(n_cols, int) else n_cols
    if not path.is_file():
        raise InputError(path, "file", f"not found (expected the {what})")
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(path, "file", f"cannot read: {exc}") from None
    rows: list[list[float]] = []
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.replace(",", " ").split()
        try:
            values = [float(p) for p in parts]
        except ValueError:
            if not rows and any(c.isalpha() for c in line):
                continue  # a text header before the first data row
            raise InputError(path, f"line {lineno}", f"non-numeric value in {line!r}") from None
        if not lo <= len(values) <= hi:
            want = f"{lo} column{'s' if lo > 1 else ''}" if lo == hi else f"{lo} to {hi} columns"
            raise InputError(path, f"line {lineno}", f"expected {want}, found {len(values)}")
        bad = [v for v in values if not math.isfinite(v)]
        if bad:
            raise InputError(path, f"line {lineno}", f"non-finite value {bad[0]!r}")
        for c in nonnegative:
            if values[c] < 0:
                raise InputError(path, f"line {lineno}", f"column {c + 1} must be >= 0, got {values[c]:g}")
        rows.append(values[: use or len(values)])
    if not rows:
        raise InputError(path, "rows", "no data rows")
    width = min(len(r) for r in rows)
    return np.array([r[:width] for r in rows], dtype=np.float64)


def step_curve(edges: NDArray[np.float64], per_kev: NDArray[np.float64]) -> tuple[NDArray, NDArray]:
    """A piecewise-linear curve equal to ``per_kev[i]`` inside bin i (edges in keV).

    Consecutive values meet in a linear ramp over +-STEP_RAMP_KEV around each inner edge (the curve
    format needs strictly increasing energies): a bin's integral differs from its value x width by
    STEP_RAMP_KEV (v_neighbour - v) / 4 per inner edge, < 1e-4 relative for 1-keV bins."""
    edges = np.asarray(edges, dtype=np.float64)
    v = np.asarray(per_kev, dtype=np.float64)
    e_out, v_out = [edges[0]], [v[0]]
    for i in range(1, v.size):
        e_out += [edges[i] - STEP_RAMP_KEV, edges[i] + STEP_RAMP_KEV]
        v_out += [v[i - 1], v[i]]
    e_out.append(edges[-1])
    v_out.append(v[-1])
    return np.array(e_out), np.array(v_out)


def folded_counts(
    edges: NDArray[np.float64],
    sigma: Callable[[NDArray[np.float64]], NDArray[np.float64]],
    efficiency: Callable[[NDArray[np.float64]], NDArray[np.float64]],
    true_rate: Callable[[NDArray[np.float64]], NDArray[np.float64]],
    exposure: float,
) -> NDArray[np.float64]:
    """Counts per bin of a true-energy spectrum ``true_rate(T)`` (per keV per unit exposure) after
    resolution ``sigma(E)`` and efficiency ``efficiency(E)`` (reconstructed energy), in keV."""
    response = Response(np.asarray(edges, dtype=np.float64), sigma, efficiency)
    t, dt = response.true_grid(rel_step=0.001)
    t_fine, dt_fine = true_energy_grid(float(t[0] - 0.5 * dt[0]), float(t[-1] + 0.5 * dt[-1]), 0.001)
    return response.fold(t_fine, dt_fine, true_rate(t_fine), exposure)


def csv_block(header: Sequence[str], comments: Sequence[str], columns: Sequence[NDArray], fmt: str = ".7g") -> str:
    """CSV text: ``# comment`` lines, the header row, then the columns' rows."""
    lines = [f"# {c}" for c in comments] + [",".join(header)]
    for row in zip(*columns):
        lines.append(",".join(format(float(x), fmt) for x in row))
    return "\n".join(lines) + "\n"


@dataclass
class DatasetFolder:
    """Files of one dataset folder, written by :meth:`write` (``dataset.toml`` last)."""

    out: Path
    files: dict[str, str] = field(default_factory=dict)

    def add(self, name: str, text: str) -> str:
        """Add a file; returns its name (for ``dataset.toml``)."""
        self.files[name] = text
        return name

    def write(self, toml_text: str, overwrite: bool = False) -> Path:
        """Write every file atomically; refuses a non-empty folder unless ``overwrite``."""
        out = Path(self.out)
        if out.exists() and not out.is_dir():
            raise InputError(out, "", "exists and is not a folder")
        if out.exists() and any(out.iterdir()) and not overwrite:
            raise InputError(out, "", "exists and is not empty; refusing to overwrite (pass --overwrite)")
        out.mkdir(parents=True, exist_ok=True)
        for name, text in self.files.items():
            write_text(out / name, text, overwrite)
        write_text(out / "dataset.toml", toml_text, overwrite)  # last: the folder is complete once it exists
        return out
