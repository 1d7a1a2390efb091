"""Neutrino-electron differential cross sections per free electron, dsigma/dT in cm^2/keV.

Energies in keV (neutrino energy ``E``, electron recoil kinetic energy ``T``). Formulas from
PHYSICS.md §4. Every vector-type new interaction is a T-dependent shift of g_V:

- millicharge ``q`` (units of the proton charge e > 0): x_q = -sqrt(2) pi alpha q / (G_F m_e T)
- U(1)_B-L boson of mass ``M`` and coupling ``g``: x_BL = g^2 / (sqrt(2) G_F (2 m_e T + M^2))

The magnetic moment (units of mu_B) flips helicity and does not interfere.

>>> f"{float(dsigma_dt_sm(300.0, 5.0, 'e')):.4g}"
'1.027e-47'
>>> f"{float(dsigma_dt_magnetic(300.0, 5.0, 1e-10)):.4g}"
'4.906e-46'
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray

from bayes_xmass.physics.constants import (
    ALPHA,
    G_FERMI_MEV2,
    M_ELECTRON_MEV,
    SIN2_THETA_W,
    natural_xsec_to_cm2_per_kev,
)

__all__ = [
    "MILLICHARGE_SHIFT_KEV",
    "M_E_KEV",
    "SM_PREFACTOR",
    "couplings",
    "dsigma_dt_b_minus_l",
    "dsigma_dt_b_minus_l_pure",
    "dsigma_dt_magnetic",
    "dsigma_dt_millicharge",
    "dsigma_dt_millicharge_pure",
    "dsigma_dt_sm",
    "dsigma_dt_vector",
    "e_min",
    "shift_b_minus_l",
    "shift_millicharge",
    "t_max",
]

M_E_KEV = M_ELECTRON_MEV * 1000.0

SM_PREFACTOR = natural_xsec_to_cm2_per_kev(G_FERMI_MEV2**2 * M_ELECTRON_MEV / (2.0 * math.pi))
"""Prefactor G_F^2 m_e / (2 pi) of dsigma/dT, from MeV^-3 converted to cm^2/keV."""

MILLICHARGE_SHIFT_KEV = math.sqrt(2.0) * math.pi * ALPHA / (G_FERMI_MEV2 * M_ELECTRON_MEV) * 1000.0
"""x_q = -MILLICHARGE_SHIFT_KEV * q / (T/keV) = -5.440e12 q / (T/keV) (PHYSICS.md §4)."""


def t_max(e_nu_kev: ArrayLike) -> NDArray[np.float64]:
    """Maximum electron recoil T_max = 2E^2 / (m_e + 2E), keV."""
    e = np.asarray(e_nu_kev, dtype=np.float64)
    return 2.0 * e * e / (M_E_KEV + 2.0 * e)


def e_min(t_kev: ArrayLike) -> NDArray[np.float64]:
    """Minimum neutrino energy for recoil T: [T + sqrt(T^2 + 2 m_e T)] / 2, keV."""
    t = np.asarray(t_kev, dtype=np.float64)
    return 0.5 * (t + np.sqrt(t * t + 2.0 * M_E_KEV * t))


def couplings(flavour: str, sin2w: float = SIN2_THETA_W) -> tuple[float, float]:
    """(g_V, g_A) for nu_f e scattering; nu_e includes the charged current (PHYSICS.md §4)."""
    if flavour == "e":
        return 0.5 + 2.0 * sin2w, 0.5
    if flavour in ("mu", "tau"):
        return -0.5 + 2.0 * sin2w, -0.5
    raise ValueError(f"unknown flavour {flavour!r}; expected 'e', 'mu' or 'tau'")


def shift_millicharge(t_kev: ArrayLike, q: ArrayLike) -> NDArray[np.float64]:
    """g_V shift x_q(T) for a neutrino millicharge q (units of e), dimensionless."""
    return -MILLICHARGE_SHIFT_KEV * np.asarray(q, dtype=np.float64) / np.asarray(t_kev, dtype=np.float64)


def shift_b_minus_l(t_kev: ArrayLike, g: ArrayLike, mass_mev: ArrayLike) -> NDArray[np.float64]:
    """g_V shift x_BL(T) for a B-L boson (coupling g, mass in MeV), dimensionless."""
    t_mev = np.asarray(t_kev, dtype=np.float64) / 1000.0
    denom: NDArray[np.float64] = (
        math.sqrt(2.0) * G_FERMI_MEV2 * (2.0 * M_ELECTRON_MEV * t_mev + np.asarray(mass_mev) ** 2)
    )
    return np.asarray(g, dtype=np.float64) ** 2 / denom


def _kinematic(
    e_nu_kev: ArrayLike, t_kev: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.bool_]]:
    e = np.asarray(e_nu_kev, dtype=np.float64)
    t = np.asarray(t_kev, dtype=np.float64)
    allowed = (t > 0) & (t <= t_max(e))
    return e, t, allowed


def dsigma_dt_vector(
    e_nu_kev: ArrayLike, t_kev: ArrayLike, flavour: str, shift: ArrayLike = 0.0, sin2w: float = SIN2_THETA_W
) -> NDArray[np.float64]:
    """SM-like dsigma/dT (cm^2/keV) with g_V -> g_V + ``shift`` (a number or array in T)."""
    gv0, ga = couplings(flavour, sin2w)
    e, t, allowed = _kinematic(e_nu_kev, t_kev)
    gv = gv0 + np.asarray(shift, dtype=np.float64)
    y = t / e
    bracket = (gv + ga) ** 2 + (gv - ga) ** 2 * (1.0 - y) ** 2 - (gv**2 - ga**2) * M_E_KEV * t / e**2
    return np.where(allowed, SM_PREFACTOR * bracket, 0.0)


def dsigma_dt_sm(
    e_nu_kev: ArrayLike, t_kev: ArrayLike, flavour: str, sin2w: float = SIN2_THETA_W
) -> NDArray[np.float64]:
    """Standard-model dsigma/dT per electron, cm^2/keV."""
    return dsigma_dt_vector(e_nu_kev, t_kev, flavour, 0.0, sin2w)


def dsigma_dt_millicharge(
    e_nu_kev: ArrayLike, t_kev: ArrayLike, flavour: str, q: ArrayLike, sin2w: float = SIN2_THETA_W
) -> NDArray[np.float64]:
    """Full (SM + interference + pure) dsigma/dT for a neutrino of charge q (units of e)."""
    return dsigma_dt_vector(e_nu_kev, t_kev, flavour, shift_millicharge(t_kev, q), sin2w)


def dsigma_dt_b_minus_l(
    e_nu_kev: ArrayLike, t_kev: ArrayLike, flavour: str, g: ArrayLike, mass_mev: ArrayLike, sin2w: float = SIN2_THETA_W
) -> NDArray[np.float64]:
    """Full (SM + interference + pure) dsigma/dT with a U(1)_B-L boson."""
    return dsigma_dt_vector(e_nu_kev, t_kev, flavour, shift_b_minus_l(t_kev, g, mass_mev), sin2w)


def dsigma_dt_magnetic(e_nu_kev: ArrayLike, t_kev: ArrayLike, mu: ArrayLike) -> NDArray[np.float64]:
    """Magnetic-moment dsigma/dT = (pi alpha^2 / m_e^2) mu^2 (1/T - 1/E), mu in units of mu_B."""
    e, t, allowed = _kinematic(e_nu_kev, t_kev)
    pref = natural_xsec_to_cm2_per_kev(math.pi * ALPHA**2 / M_ELECTRON_MEV**2) * 1000.0  # per keV^-1
    value = pref * np.asarray(mu, dtype=np.float64) ** 2 * (1.0 / t - 1.0 / e)
    return np.where(allowed, value, 0.0)


def dsigma_dt_millicharge_pure(e_nu_kev: ArrayLike, t_kev: ArrayLike, q: ArrayLike) -> NDArray[np.float64]:
    """Textbook pure-photon-exchange term 2 pi alpha^2 q^2/(m_e T^2) [1 - T/E + T^2/2E^2 - m_e T/2E^2]."""
    e, t, allowed = _kinematic(e_nu_kev, t_kev)
    t_mev, e_mev = t / 1000.0, e / 1000.0
    bracket = 1.0 - t / e + t * t / (2 * e * e) - M_ELECTRON_MEV * t_mev / (2 * e_mev * e_mev)
    value = 2 * math.pi * ALPHA**2 * np.asarray(q, np.float64) ** 2 / (M_ELECTRON_MEV * t_mev**2) * bracket
    return np.where(allowed, natural_xsec_to_cm2_per_kev(value), 0.0)


def dsigma_dt_b_minus_l_pure(
    e_nu_kev: ArrayLike, t_kev: ArrayLike, g: ArrayLike, mass_mev: ArrayLike
) -> NDArray[np.float64]:
    """Pure B-L term g^4 m_e (2E^2 - 2ET + T^2 - m_e T) / (4 pi E^2 (2 m_e T + M^2)^2)
    (Bilmis et al., PRD 92 (2015) 033009)."""
    e, t, allowed = _kinematic(e_nu_kev, t_kev)
    em, tm, me = e / 1000.0, t / 1000.0, M_ELECTRON_MEV
    num = np.asarray(g, np.float64) ** 4 * me * (2 * em**2 - 2 * em * tm + tm**2 - me * tm)
    value = num / (4 * math.pi * em**2 * (2 * me * tm + np.asarray(mass_mev) ** 2) ** 2)
    return np.where(allowed, natural_xsec_to_cm2_per_kev(value), 0.0)
