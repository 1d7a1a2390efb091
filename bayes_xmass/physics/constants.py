"""Physical constants and unit conversions, each defined once with its source.

Internal units: energies in keV, rates in events/(keV kg day), cross sections in cm^2.
Formulas are evaluated in natural units with energies in MeV; convert only through the helpers
below.

>>> round(tonne_year_to_kg_day(0.6473))
236426
>>> round(XE_ATOMS_PER_KG / 1e24, 4)
4.5868
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "ALPHA",
    "AVOGADRO",
    "DAYS_PER_YEAR",
    "G_FERMI_MEV2",
    "HBARC2_MEV2_CM2",
    "KEV_PER_MEV",
    "KG_PER_TONNE",
    "M_ELECTRON_MEV",
    "SECONDS_PER_DAY",
    "SIN2_THETA_W",
    "SIN2_THETA_W_ZPOLE",
    "XE_ATOMS_PER_KG",
    "XE_MOLAR_MASS_G",
    "XE_Z",
    "kev_to_mev",
    "kg_day_to_tonne_year",
    "mev_to_kev",
    "natural_xsec_to_cm2_per_kev",
    "per_kev_kg_day_to_per_kev_tonne_year",
    "per_kev_tonne_year_to_per_kev_kg_day",
    "sqrt2_gf_ne_ev",
    "tonne_year_to_kg_day",
]

# --- Fundamental constants (CODATA 2018 / PDG 2022 reviews; values as in PHYSICS.md §2) -------
G_FERMI_MEV2 = 1.1663787e-11
"""Fermi constant G_F / (hbar c)^3 in MeV^-2 (PDG 2022, Physical Constants table)."""

M_ELECTRON_MEV = 0.51099895
"""Electron mass m_e c^2 in MeV (CODATA 2018)."""

ALPHA = 1.0 / 137.035999
"""Fine-structure constant at Q^2 = 0 (CODATA 2018: 1/137.035999084)."""

HBARC2_MEV2_CM2 = 3.8937938e-22
"""(hbar c)^2 in MeV^2 cm^2 (PDG 2022: 0.38937938 GeV^2 mbarn)."""

SIN2_THETA_W = 0.2387
"""Weak mixing angle sin^2(theta_W) at low energy, MS-bar (PDG 2022 electroweak review; Erler &
Ferro-Hernandez, JHEP 03 (2018) 196). The Z-pole value 0.23122 changes the SM rate by ~2%."""

SIN2_THETA_W_ZPOLE = 0.23122
"""sin^2(theta_W) at the Z pole, MS-bar (PDG 2022)."""

AVOGADRO = 6.02214076e23
"""Avogadro constant in mol^-1 (SI 2019, exact)."""

# --- Xenon target (PDG atomic and nuclear properties; IUPAC 2013 standard atomic weight) ------
XE_Z = 54
"""Atomic number of xenon."""

XE_MOLAR_MASS_G = 131.293
"""Molar mass of natural xenon in g/mol (IUPAC 2013)."""

XE_ATOMS_PER_KG = AVOGADRO * 1000.0 / XE_MOLAR_MASS_G
"""Xenon atoms per kg of target (= 4.5868e24, PHYSICS.md §2)."""

# --- Unit conversions ---------------------------------------------------------------------
KEV_PER_MEV = 1000.0
SECONDS_PER_DAY = 86400.0
DAYS_PER_YEAR = 365.25
"""Julian year, the convention XENON1T uses for t*yr exposures (PRD 102 072004)."""
KG_PER_TONNE = 1000.0

# Magnetic moment unit: mu_B = e / (2 m_e); in the cross section only alpha and m_e appear.

# The conversion helpers take a float or a float array and return the same type.


def kev_to_mev[T: (float, NDArray[np.float64])](energy_kev: T) -> T:
    """keV -> MeV."""
    return energy_kev / KEV_PER_MEV


def mev_to_kev[T: (float, NDArray[np.float64])](energy_mev: T) -> T:
    """MeV -> keV."""
    return energy_mev * KEV_PER_MEV


def tonne_year_to_kg_day[T: (float, NDArray[np.float64])](exposure_t_yr: T) -> T:
    """Exposure in tonne*year -> kg*day (Julian year)."""
    return exposure_t_yr * KG_PER_TONNE * DAYS_PER_YEAR


def kg_day_to_tonne_year[T: (float, NDArray[np.float64])](exposure_kg_day: T) -> T:
    """Exposure in kg*day -> tonne*year (Julian year)."""
    return exposure_kg_day / (KG_PER_TONNE * DAYS_PER_YEAR)


def per_kev_kg_day_to_per_kev_tonne_year[T: (float, NDArray[np.float64])](rate: T) -> T:
    """Rate events/(keV kg day) -> events/(keV t yr)."""
    return rate * KG_PER_TONNE * DAYS_PER_YEAR


def per_kev_tonne_year_to_per_kev_kg_day[T: (float, NDArray[np.float64])](rate: T) -> T:
    """Rate events/(keV t yr) -> events/(keV kg day)."""
    return rate / (KG_PER_TONNE * DAYS_PER_YEAR)


def natural_xsec_to_cm2_per_kev[T: (float, NDArray[np.float64])](dsigma_dt_mev3: T) -> T:
    """Differential cross section MeV^-3 (natural units, per MeV of recoil) -> cm^2/keV."""
    return dsigma_dt_mev3 * HBARC2_MEV2_CM2 / KEV_PER_MEV


def sqrt2_gf_ne_ev(n_e_avogadro_per_cm3: float) -> float:
    """Matter potential sqrt(2) G_F n_e in eV for an electron density in N_A/cm^3.

    sqrt(2) G_F n_e = 7.63e-14 eV x (n_e / (N_A cm^-3)) (PHYSICS.md §5; e.g. PDG neutrino-mixing
    review). Computed here from G_F, (hbar c) and N_A so the number is derived, not typed twice.
    """
    hbarc_mev_cm = math.sqrt(HBARC2_MEV2_CM2)
    n_e_mev3 = n_e_avogadro_per_cm3 * AVOGADRO * hbarc_mev_cm**3  # cm^-3 -> MeV^3
    return math.sqrt(2.0) * G_FERMI_MEV2 * n_e_mev3 * 1e6  # MeV -> eV
