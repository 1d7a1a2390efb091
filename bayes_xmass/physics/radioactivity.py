"""Electron-recoil shapes of radioactive backgrounds in liquid xenon (true deposited energy).

Used to build the XMASS-I-like benchmark. Energies in keV; shapes normalised to 1 over their
full range (1/keV). Beta spectra: allowed (or unique first-forbidden) shape with a
non-relativistic Fermi function, which is adequate at the precision of a background template.

>>> shape = beta_spectrum(np.array([10.0, 100.0]), q_kev=687.0, z_daughter=37, forbidden_unique=True)
>>> bool(np.all(shape > 0))
True
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray

from bayes_xmass.physics.constants import ALPHA, M_ELECTRON_MEV

__all__ = ["M_E_KEV", "beta_spectrum", "fermi_function_electron", "line", "two_neutrino_double_beta"]

M_E_KEV = M_ELECTRON_MEV * 1000.0


def fermi_function_electron(z_daughter: int, t_kev: ArrayLike) -> NDArray[np.float64]:
    """F(Z, T) = 2 pi eta / (1 - exp(-2 pi eta)), eta = Z alpha W / p for an electron of kinetic T."""
    t = np.asarray(t_kev, dtype=np.float64)
    w = t + M_E_KEV
    p = np.sqrt(np.clip(w * w - M_E_KEV**2, 0.0, None))
    eta = z_daughter * ALPHA * w / np.maximum(p, 1e-300)
    two_pi_eta = 2.0 * math.pi * eta
    with np.errstate(over="ignore", invalid="ignore"):
        f = two_pi_eta / -np.expm1(-two_pi_eta)
    return np.where(p > 0, f, 0.0)


def beta_spectrum(
    t_kev: ArrayLike, q_kev: float, z_daughter: int, forbidden_unique: bool = False, n_norm: int = 20001
) -> NDArray[np.float64]:
    """Normalised beta- kinetic-energy spectrum dN/dT (1/keV) for endpoint Q (keV).

    dN/dT ∝ p W (Q - T)^2 F(Z, T) [x (p^2 + (Q-T)^2) for unique first-forbidden transitions,
    e.g. 85Kr (Konopinski-Uhlenbeck shape factor)].
    """

    def shape(t_in: ArrayLike) -> NDArray[np.float64]:
        t = np.asarray(t_in, dtype=np.float64)
        w = t + M_E_KEV
        p = np.sqrt(np.clip(w * w - M_E_KEV**2, 0.0, None))
        nu = np.clip(q_kev - t, 0.0, None)
        s = p * w * nu**2 * fermi_function_electron(z_daughter, t)
        if forbidden_unique:
            s = s * (p * p + nu * nu)
        return np.where((t > 0) & (t < q_kev), s, 0.0)

    grid = np.linspace(0.0, q_kev, n_norm)
    norm = np.trapezoid(shape(grid), grid)
    return shape(t_kev) / norm


def two_neutrino_double_beta(t_kev: ArrayLike, q_kev: float = 2457.8) -> NDArray[np.float64]:
    """Summed-electron spectrum of 2nu double-beta decay (Primakoff-Rosen approximation), 1/keV.

    dN/dK ∝ K (K0 - K)^5 (1 + 2K + 4K^2/3 + K^3/3 + K^4/30), K, K0 in units of m_e
    (Primakoff & Rosen, Rep. Prog. Phys. 22 (1959) 121). Q(136Xe) = 2457.8 keV (Redshaw et al.,
    PRL 98 (2007) 053003).
    """

    def shape(t: ArrayLike) -> NDArray[np.float64]:
        k = np.asarray(t, dtype=np.float64) / M_E_KEV
        k0 = q_kev / M_E_KEV
        s = k * np.clip(k0 - k, 0.0, None) ** 5 * (1 + 2 * k + 4 * k**2 / 3 + k**3 / 3 + k**4 / 30)
        return np.where((k > 0) & (k < k0), s, 0.0)

    grid = np.linspace(0.0, q_kev, 40001)
    return shape(t_kev) / np.trapezoid(shape(grid), grid)


def line(t_kev: ArrayLike, energy_kev: float, width_kev: float = 0.05) -> NDArray[np.float64]:
    """A mono-energetic deposit as a narrow normalised Gaussian (width << resolution), 1/keV."""
    t = np.asarray(t_kev, dtype=np.float64)
    return np.exp(-0.5 * ((t - energy_kev) / width_kev) ** 2) / (math.sqrt(2 * math.pi) * width_kev)
