"""Atomic models for neutrino scattering on xenon electrons.

Each model turns per-electron (free) cross sections into per-atom ones:

- ``free``: all Z = 54 electrons free and at rest.
- ``stepping``: an electron of shell i contributes only for T > B_i (Z_eff(T) = sum n_i Θ(T - B_i)).
- ``stepping+epa``: stepping, and for the millicharge photon-exchange (q^2) term the larger of the
  stepping rate and the equivalent-photon approximation (EPA) built on the Xe photoabsorption
  cross section (PHYSICS.md §6); ``m_nu_ev`` is the EPA's neutrino-mass regulator.
- ``rrpa_table``: a user table ``energy_keV,ratio_to_free`` multiplying the free-electron rate
  (ratio of an RRPA or other ab-initio calculation to Z = 54 free electrons).

Energies in keV.

>>> [int(z) for z in z_eff_stepping([1.0, 2.0, 5.2, 10.0, 40.0])]
[40, 44, 50, 52, 54]
"""

from __future__ import annotations

import csv
import math
import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike, NDArray

from bayes_xmass.errors import InputError
from bayes_xmass.physics.constants import ALPHA, XE_Z

__all__ = [
    "ATOMIC_MODELS",
    "AtomicModel",
    "DEFAULT_M_NU_EV",
    "XE_SHELLS",
    "epa_prefactor_per_kev",
    "photoabsorption_cross_section",
    "photoabsorption_table",
    "z_eff_stepping",
]

# Xenon shells: (name, binding energy in eV, occupancy); RRPA / Dirac-Fock binding energies
# as in Chen et al., PLB 774 (2017) 656 (PHYSICS.md §6).
XE_SHELLS: tuple[tuple[str, float, int], ...] = (
    ("1s", 34759.0, 2),
    ("2s", 5509.8, 2),
    ("2p1/2", 5161.5, 2),
    ("2p3/2", 4835.6, 4),
    ("3s", 1170.5, 2),
    ("3p1/2", 1024.8, 2),
    ("3p3/2", 961.2, 4),
    ("3d3/2", 708.1, 4),
    ("3d5/2", 649.9, 6),
    ("4s", 229.4, 2),
    ("4p1/2", 175.6, 2),
    ("4p3/2", 162.8, 4),
    ("4d3/2", 73.8, 4),
    ("4d5/2", 71.7, 6),
    ("5s", 27.5, 2),
    ("5p1/2", 13.4, 2),
    ("5p3/2", 12.0, 4),
)
assert sum(n for _, _, n in XE_SHELLS) == XE_Z

ATOMIC_MODELS = ("free", "stepping", "stepping+epa", "rrpa_table")
DEFAULT_M_NU_EV = 0.1
"""Default EPA regulator m_nu = 0.1 eV (of the order allowed by cosmology, sum m_nu < 0.12 eV,
Planck 2018). A choice, not a measurement: the EPA rate changes by ~15% per decade of m_nu at
E ~ 300 keV, so it is exposed as a theory systematic. With 0.1 eV the EPA/stepping ratio matches
the PHYSICS.md §6 estimate (11, 5.6, 3.1, 2.0, 3.9, 1.9 at T = 1.2 ... 10 keV) to ~11%."""


def z_eff_stepping(t_kev: ArrayLike) -> NDArray[np.float64]:
    """Number of electrons with binding energy below T (stepping approximation)."""
    t_ev = np.asarray(t_kev, dtype=np.float64)[..., None] * 1000.0
    binding = np.array([b for _, b, _ in XE_SHELLS])
    occupancy = np.array([n for _, _, n in XE_SHELLS], dtype=np.float64)
    return np.sum(occupancy * (t_ev >= binding), axis=-1)


def _read_two_columns(
    path: str | os.PathLike[str], expected: tuple[str, str], source_name: str
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    rows = []
    with open(path, newline="") as fh:
        reader = csv.reader(line for line in fh if line.strip() and not line.lstrip().startswith("#"))
        header = next(reader, None)
        if header is None or tuple(h.strip() for h in header) != expected:
            raise InputError(source_name, "header", f"expected columns {','.join(expected)}, found {header}")
        for lineno, row in enumerate(reader, start=2):
            if len(row) != 2:
                raise InputError(source_name, f"row {lineno}", f"expected 2 fields, found {len(row)}")
            try:
                rows.append((float(row[0]), float(row[1])))
            except ValueError:
                raise InputError(source_name, f"row {lineno}", f"non-numeric value {row}") from None
    arr = np.array(rows, dtype=np.float64).reshape(-1, 2)
    return arr[:, 0], arr[:, 1]


def photoabsorption_table() -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Xe photon cross section (NIST XCOM, total incl. coherent): (energy keV, sigma barn/atom)."""
    ref = resources.files("bayes_xmass.physics") / "tables" / "xe_photon_xcom.csv"
    with resources.as_file(ref) as path:
        return _read_two_columns(path, ("photon_energy_keV", "cross_section_barn"), "xe_photon_xcom.csv")


def photoabsorption_cross_section(t_kev: ArrayLike) -> NDArray[np.float64]:
    """Xe photoabsorption cross section at photon energy T (keV) in cm^2/atom.

    Log-log interpolation inside each edge-free segment of the XCOM table; at an edge the value
    just above applies (T >= edge). Below the first row (1 keV) the first segment is extrapolated.
    """
    energy, sigma = photoabsorption_table()
    t = np.atleast_1d(np.asarray(t_kev, dtype=np.float64))
    out = np.empty_like(t)
    # segments are split where energies repeat (edges)
    breaks = [0] + [i for i in range(1, len(energy)) if energy[i] == energy[i - 1]] + [len(energy)]
    log_t = np.log(np.clip(t, 1e-12, None))
    assigned = np.zeros(t.shape, dtype=bool)
    for k, (lo, hi) in enumerate(zip(breaks[:-1], breaks[1:])):
        seg_e, seg_s = np.log(energy[lo:hi]), np.log(sigma[lo:hi])
        if k == len(breaks) - 2:
            mask = ~assigned
        else:
            mask = ~assigned & (t < energy[hi])
        idx = np.clip(np.searchsorted(seg_e, log_t[mask]) - 1, 0, len(seg_e) - 2)
        slope = (seg_s[idx + 1] - seg_s[idx]) / (seg_e[idx + 1] - seg_e[idx])
        out[mask] = np.exp(seg_s[idx] + slope * (log_t[mask] - seg_e[idx]))
        assigned |= mask
    return (out * 1e-24).reshape(np.shape(t_kev))


def epa_prefactor_per_kev(t_kev: ArrayLike) -> NDArray[np.float64]:
    """EPA factor (2 alpha / pi) sigma_gamma(T) / T in cm^2/keV; multiply by q^2 ln(E/m_nu)."""
    t = np.asarray(t_kev, dtype=np.float64)
    return 2.0 * ALPHA / math.pi * photoabsorption_cross_section(t) / t


@dataclass(frozen=True)
class AtomicModel:
    """A selected atomic model; ``electrons(T)`` is the number of scattering electrons per atom."""

    name: str = "stepping"
    m_nu_ev: float = DEFAULT_M_NU_EV
    rrpa_energy_kev: tuple[float, ...] = ()
    rrpa_ratio: tuple[float, ...] = ()
    rrpa_source: str = ""

    def __post_init__(self) -> None:
        if self.name not in ATOMIC_MODELS:
            raise ValueError(f"unknown atomic model {self.name!r}; known: {', '.join(ATOMIC_MODELS)}")
        if not (self.m_nu_ev > 0 and math.isfinite(self.m_nu_ev)):
            raise ValueError(f"m_nu_ev must be positive and finite, got {self.m_nu_ev}")
        if self.name == "rrpa_table" and len(self.rrpa_energy_kev) < 2:
            raise ValueError("atomic model 'rrpa_table' needs a table (use AtomicModel.from_rrpa_csv)")

    @classmethod
    def from_rrpa_csv(cls, path: str | os.PathLike[str]) -> AtomicModel:
        """Read a user RRPA table, CSV columns ``energy_keV,ratio_to_free``."""
        path = Path(path)
        if not path.is_file():
            raise InputError(path, "file", "RRPA table not found")
        energy, ratio = _read_two_columns(path, ("energy_keV", "ratio_to_free"), str(path))
        if len(energy) < 2:
            raise InputError(path, "rows", "need at least two rows")
        if not (np.all(np.isfinite(energy)) and np.all(np.isfinite(ratio))):
            raise InputError(path, "values", "NaN or inf in table")
        if np.any(np.diff(energy) <= 0):
            raise InputError(path, "energy_keV", "must be strictly increasing")
        if np.any(ratio < 0):
            raise InputError(path, "ratio_to_free", "must be non-negative")
        return cls("rrpa_table", rrpa_energy_kev=tuple(energy), rrpa_ratio=tuple(ratio), rrpa_source=path.name)

    def electrons(self, t_kev: ArrayLike) -> NDArray[np.float64]:
        """Effective number of electrons per atom at recoil T (keV)."""
        t = np.asarray(t_kev, dtype=np.float64)
        if self.name == "free":
            return np.full(t.shape, float(XE_Z))
        if self.name == "rrpa_table":
            return XE_Z * np.interp(t, self.rrpa_energy_kev, self.rrpa_ratio)
        return z_eff_stepping(t)

    @property
    def uses_epa(self) -> bool:
        return self.name == "stepping+epa"

    def describe(self) -> dict[str, str | float]:
        """JSON-able description for provenance records."""
        out: dict[str, str | float] = {"name": self.name}
        if self.uses_epa:
            out["m_nu_eV"] = self.m_nu_ev
            out["photoabsorption"] = "NIST XCOM Xe (bundled table)"
        if self.name == "rrpa_table":
            out["rrpa_table"] = self.rrpa_source
        return out
