"""Solar neutrinos: SSM flux sets, spectral shapes, and the MSW-LMA survival probability.

Energies in keV, fluxes in cm^-2 s^-1 at Earth. Spectral shapes are normalised to 1 per keV.

>>> flux_set("B16-GS98").flux["pp"]
59800000000.0
>>> round(float(survival_probability(300.0)), 3)
0.54
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from bayes_xmass.physics.constants import ALPHA, M_ELECTRON_MEV, sqrt2_gf_ne_ev

__all__ = [
    "BetaSource",
    "DEFAULT_FLUX_SET",
    "DEFAULT_OSCILLATION",
    "FLAVOURS",
    "FLUX_SETS",
    "FluxSet",
    "LineSource",
    "OscillationParameters",
    "SOURCES",
    "beta_shape_unnormalised",
    "beta_spectrum",
    "endpoint_nodes",
    "fermi_function_positron",
    "flavour_probabilities",
    "flux_set",
    "mean_survival_probability",
    "survival_probability",
]

# --- Flux sets --------------------------------------------------------------------------------


@dataclass(frozen=True)
class FluxSet:
    """A standard-solar-model flux prediction: flux per source (cm^-2 s^-1) and 1-sigma fraction."""

    name: str
    reference: str
    flux: dict[str, float]
    rel_uncertainty: dict[str, float]


_B16_GS98_UNC = {
    "pp": 0.006,
    "pep": 0.01,
    "7Be": 0.06,
    "13N": 0.15,
    "15O": 0.17,
    "17F": 0.20,
    "8B": 0.12,
    "hep": 0.30,
}  # Vinyoles et al., ApJ 835 (2017) 202, Table 6 (PHYSICS.md §5)

FLUX_SETS: dict[str, FluxSet] = {
    "B16-GS98": FluxSet(
        "B16-GS98",
        "Vinyoles et al., ApJ 835 (2017) 202, Table 6 (B16-GS98); PHYSICS.md §5",
        {
            "pp": 5.98e10,
            "pep": 1.44e8,
            "7Be": 4.93e9,
            "13N": 2.78e8,
            "15O": 2.05e8,
            "17F": 5.29e6,
            "8B": 5.46e6,
            "hep": 7.98e3,
        },
        _B16_GS98_UNC,
    ),
    "B16-AGSS09met": FluxSet(
        "B16-AGSS09met",
        "Vinyoles et al., ApJ 835 (2017) 202, Table 6 (B16-AGSS09met; hep not quoted in "
        "PHYSICS.md, GS98 value kept); fractional uncertainties taken from B16-GS98",
        {
            "pp": 6.03e10,
            "pep": 1.46e8,
            "7Be": 4.50e9,
            "13N": 2.04e8,
            "15O": 1.44e8,
            "17F": 3.26e6,
            "8B": 4.50e6,
            "hep": 7.98e3,
        },
        _B16_GS98_UNC,
    ),
    "SHP11-GS98": FluxSet(
        "SHP11-GS98",
        "Serenelli, Haxton, Pena-Garay, ApJ 743 (2011) 24, Table 6 (GS98), as used by XMASS "
        "(pp 5.98e10 and 7Be 5.00e9 quoted in PLB 809 (2020) 135741); CNO/8B/hep values "
        "[unverified: recalled from the table]",
        {
            "pp": 5.98e10,
            "pep": 1.44e8,
            "7Be": 5.00e9,
            "13N": 2.96e8,
            "15O": 2.23e8,
            "17F": 5.52e6,
            "8B": 5.58e6,
            "hep": 8.04e3,
        },
        {"pp": 0.006, "pep": 0.012, "7Be": 0.07, "13N": 0.14, "15O": 0.15, "17F": 0.17, "8B": 0.14, "hep": 0.30},
    ),
}
DEFAULT_FLUX_SET = "B16-GS98"


def flux_set(name: str = DEFAULT_FLUX_SET) -> FluxSet:
    """Return a flux set by name (``B16-GS98``, ``B16-AGSS09met``, ``SHP11-GS98``)."""
    try:
        return FLUX_SETS[name]
    except KeyError:
        raise KeyError(f"unknown flux set {name!r}; known: {', '.join(FLUX_SETS)}") from None


# --- Spectral shapes ---------------------------------------------------------------------------


@dataclass(frozen=True)
class BetaSource:
    """Allowed beta+ neutrino spectrum with endpoint ``q_kev`` and daughter charge ``z_daughter``.

    dN/dE ∝ E^2 W sqrt(W^2 - m_e^2) F(Z, W), W = Q - E + m_e the positron total energy
    (PHYSICS.md §5; Bahcall, Neutrino Astrophysics (1989) ch. 6).
    """

    name: str
    q_kev: float
    z_daughter: int


@dataclass(frozen=True)
class LineSource:
    """Mono-energetic neutrino lines: energies (keV) and branching fractions."""

    name: str
    energies_kev: tuple[float, ...]
    branching: tuple[float, ...]


# Endpoints: pp 420, 13N 1199, 15O 1732, 17F 1740 keV (PHYSICS.md §5; Bahcall 1989 Table 6.3).
# 7Be lines 861.8 keV (89.7%) and 384.3 keV (10.3%); pep 1442 keV (PHYSICS.md §5).
# 8B and hep are not modelled: their electron recoils below 200 keV are < 1e-3 of pp+7Be.
SOURCES: dict[str, BetaSource | LineSource] = {
    "pp": BetaSource("pp", 420.0, 1),
    "7Be": LineSource("7Be", (861.8, 384.3), (0.897, 0.103)),
    "pep": LineSource("pep", (1442.0,), (1.0,)),
    "13N": BetaSource("13N", 1199.0, 6),
    "15O": BetaSource("15O", 1732.0, 7),
    "17F": BetaSource("17F", 1740.0, 8),
}


def fermi_function_positron(z_daughter: int, w_total_kev: ArrayLike) -> NDArray[np.float64]:
    """Non-relativistic Fermi function for positron emission, F(Z, W) = 2 pi eta / (1 - e^{-2 pi eta}),
    eta = -Z alpha W / p (W, p in the same units). Tends to 0 at the positron endpoint p -> 0."""
    m = M_ELECTRON_MEV * 1000.0
    w = np.asarray(w_total_kev, dtype=np.float64)
    p = np.sqrt(np.clip(w * w - m * m, 0.0, None))
    eta = -z_daughter * ALPHA * w / np.maximum(p, 1e-300)
    two_pi_eta = 2.0 * math.pi * eta
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        f = two_pi_eta / -np.expm1(-two_pi_eta)
    f = np.where(np.abs(two_pi_eta) < 1e-12, 1.0, f)  # Z = 0 limit
    return np.where(p > 0, np.nan_to_num(f, nan=0.0, posinf=0.0), 0.0)


def beta_shape_unnormalised(source: BetaSource, e_nu_kev: ArrayLike, fermi: bool = True) -> NDArray[np.float64]:
    """Un-normalised allowed beta+ spectrum dN/dE at neutrino energy ``e_nu_kev`` (keV)."""
    m = M_ELECTRON_MEV * 1000.0
    e = np.asarray(e_nu_kev, dtype=np.float64)
    w = source.q_kev - e + m
    shape = e**2 * w * np.sqrt(np.clip(w * w - m * m, 0.0, None))
    if fermi:
        shape = shape * fermi_function_positron(source.z_daughter, w)
    return np.where((e >= 0) & (e <= source.q_kev), shape, 0.0)


def endpoint_nodes(e_low_kev: ArrayLike, q_kev: float, n: int = 96) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Gauss-Legendre nodes/weights for integrals over E in [e_low, Q] with a sqrt(Q - E) endpoint.

    Substitutes E = Q - (Q - e_low) t^2, t in [0, 1], so sqrt(Q - E) is linear in t.
    Returns (E, w) with shape ``e_low.shape + (n,)``; sum(w * f(E)) approximates the integral.
    """
    t, wt = np.polynomial.legendre.leggauss(n)
    t = 0.5 * (t + 1.0)
    wt = 0.5 * wt
    span = np.clip(q_kev - np.asarray(e_low_kev, dtype=np.float64), 0.0, None)[..., None]
    energy = q_kev - span * t**2
    weight = wt * 2.0 * span * t
    return energy, weight


_BETA_NORMS: dict[tuple[str, bool], float] = {}


def beta_spectrum(source: BetaSource, e_nu_kev: ArrayLike, fermi: bool = True) -> NDArray[np.float64]:
    """Normalised neutrino spectrum dN/dE in 1/keV (integral over [0, Q] equals 1)."""
    key = (source.name, fermi)
    if key not in _BETA_NORMS:
        e, w = endpoint_nodes(np.array(0.0), source.q_kev, n=400)
        _BETA_NORMS[key] = float(np.sum(w * beta_shape_unnormalised(source, e, fermi)))
    return beta_shape_unnormalised(source, e_nu_kev, fermi) / _BETA_NORMS[key]


# --- Oscillations ------------------------------------------------------------------------------


@dataclass(frozen=True)
class OscillationParameters:
    """Mixing parameters for adiabatic MSW-LMA (PHYSICS.md §5; NuFIT 5.x-like values).

    ``n_e_production`` is the electron density at the production point in N_A/cm^3.
    """

    sin2_theta12: float = 0.307
    sin2_theta13: float = 0.022
    sin2_theta23: float = 0.5
    dm21_ev2: float = 7.53e-5
    n_e_production: float = 100.0
    extra: dict[str, Any] = field(default_factory=dict, compare=False)


DEFAULT_OSCILLATION = OscillationParameters()


def survival_probability(e_nu_kev: ArrayLike, osc: OscillationParameters = DEFAULT_OSCILLATION) -> NDArray[np.float64]:
    """Adiabatic MSW-LMA nu_e survival probability P_ee(E), E in keV (PHYSICS.md §5)."""
    e_ev = np.asarray(e_nu_kev, dtype=np.float64) * 1e3
    c13_2 = 1.0 - osc.sin2_theta13
    cos2t12 = 1.0 - 2.0 * osc.sin2_theta12
    sin2_2t12 = 1.0 - cos2t12**2
    b = 2.0 * sqrt2_gf_ne_ev(osc.n_e_production) * c13_2 * e_ev / osc.dm21_ev2
    cos2t12_m = (cos2t12 - b) / np.sqrt((cos2t12 - b) ** 2 + sin2_2t12)
    return c13_2**2 * (0.5 + 0.5 * cos2t12_m * cos2t12) + osc.sin2_theta13**2


FLAVOURS = ("e", "mu", "tau")


def flavour_probabilities(e_nu_kev: ArrayLike, osc: OscillationParameters = DEFAULT_OSCILLATION) -> NDArray[np.float64]:
    """P(nu_e -> nu_f) for f = e, mu, tau, stacked on a leading axis of length 3.

    The non-electron part 1 - P_ee is split cos^2(theta23) : sin^2(theta23) between mu and tau.
    """
    pee = survival_probability(e_nu_kev, osc)
    rest = 1.0 - pee
    return np.stack([pee, rest * (1.0 - osc.sin2_theta23), rest * osc.sin2_theta23])


def mean_survival_probability(
    source: str, osc: OscillationParameters = DEFAULT_OSCILLATION, fermi: bool = True
) -> float:
    """Spectrum-averaged P_ee for one source (e.g. ~0.54 for pp)."""
    src = SOURCES[source]
    if isinstance(src, LineSource):
        return float(np.dot(src.branching, survival_probability(np.array(src.energies_kev), osc)))
    e, w = endpoint_nodes(np.array(0.0), src.q_kev, n=400)
    return float(np.sum(w * beta_spectrum(src, e, fermi) * survival_probability(e, osc)))
