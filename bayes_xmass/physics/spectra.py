"""Recoil spectra dR/dT of solar neutrinos on xenon, in events/(keV kg day), true energy.

Every signal is a polynomial in its coupling, so each interaction is returned as **basis terms**
(rate per unit power of the coupling) that are combined without re-integrating:

- magnetic moment ``mu`` (mu_B):          rate = mu^2 T["mu^2"]
- millicharge ``q`` (e), flavour set F:   rate = q T["q"] + q^2 T["q^2"]
- U(1)_B-L boson, mass M, coupling g:     rate = g^2 T["g^2"] + g^4 T["g^4"]

All of them derive from a few flux-weighted moments of the neutrino spectrum per flavour
(:class:`FluxMoments`), because a vector interaction only shifts g_V by x(T) (PHYSICS.md §4):
per flavour, rate ∝ SM_f + x A1_f + x^2 A2_f with
A1_f = 2(g_V+g_A) m0 + 2(g_V-g_A) m1 - 2 g_V m2 and A2_f = m0 + m1 - m2, where
m0 = <1>, m1 = <(1-T/E)^2>, m2 = <m_e T/E^2> over Σ_s Φ_s λ_s(E) P_f(E) dE for E >= E_min(T).

>>> cfg = PhysicsConfig()
>>> t = np.array([5.0])
>>> f"{per_tonne_year(sm_rate(t, cfg))[0]:.3g}"  # PHYSICS.md §7: 2.95 (0.4% apart)
'2.94'
>>> b = basis_spectra("magnetic_moment", t, cfg)
>>> f"{per_tonne_year(b.rate(1.8e-10))[0]:.3g}"
'717'
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from bayes_xmass.physics import solar
from bayes_xmass.physics.atomic import AtomicModel, epa_prefactor_per_kev
from bayes_xmass.physics.constants import (
    ALPHA,
    G_FERMI_MEV2,
    M_ELECTRON_MEV,
    SECONDS_PER_DAY,
    SIN2_THETA_W,
    XE_ATOMS_PER_KG,
    natural_xsec_to_cm2_per_kev,
    per_kev_kg_day_to_per_kev_tonne_year,
)
from bayes_xmass.physics.xsec import M_E_KEV, MILLICHARGE_SHIFT_KEV, SM_PREFACTOR, couplings, e_min

__all__ = [
    "BasisSpectra",
    "CrossSection",
    "FLAVOUR_SETS",
    "FluxMoments",
    "INTERACTIONS",
    "N_QUAD",
    "PhysicsConfig",
    "b_minus_l_mass_grid",
    "basis_spectra",
    "direct_rate",
    "flux_moments",
    "per_tonne_year",
    "sm_rate",
    "sm_rate_rel_uncertainty",
]

FLAVOUR_SETS = {"common": ("e", "mu", "tau"), "e": ("e",), "mu": ("mu",), "tau": ("tau",)}
INTERACTIONS = ("magnetic_moment", "millicharge", "b_minus_l")

type CrossSection = Callable[[NDArray[np.float64], NDArray[np.float64], str], NDArray[np.float64]]
"""dsigma/dT(E, T, flavour) per electron in cm^2/keV (e.g. :func:`bayes_xmass.physics.xsec.dsigma_dt_sm`)."""
N_QUAD = 96  # Gauss-Legendre nodes per beta spectrum; converged to < 1e-6 (tests)


@dataclass(frozen=True)
class PhysicsConfig:
    """Everything the true-energy spectra depend on; recorded in every output."""

    flux_set: str = solar.DEFAULT_FLUX_SET
    atomic: AtomicModel = field(default_factory=AtomicModel)
    oscillation: solar.OscillationParameters = solar.DEFAULT_OSCILLATION
    sin2w: float = SIN2_THETA_W
    fermi_function: bool = True
    sources: tuple[str, ...] = tuple(solar.SOURCES)

    def describe(self) -> dict[str, Any]:
        """JSON-able description (for provenance and cache keys)."""
        osc = self.oscillation
        return {
            "flux_set": self.flux_set,
            "atomic_model": self.atomic.describe(),
            "oscillation": {
                "sin2_theta12": osc.sin2_theta12,
                "sin2_theta13": osc.sin2_theta13,
                "sin2_theta23": osc.sin2_theta23,
                "dm21_eV2": osc.dm21_ev2,
                "n_e_production_NA_per_cm3": osc.n_e_production,
            },
            "sin2_theta_w": self.sin2w,
            "fermi_function": self.fermi_function,
            "sources": list(self.sources),
            "rrpa_table": list(zip(self.atomic.rrpa_energy_kev, self.atomic.rrpa_ratio)) or None,
        }

    def key(self) -> str:
        """Content hash of the configuration."""
        blob = json.dumps(self.describe(), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


@dataclass(frozen=True)
class FluxMoments:
    """Flux-weighted moments on a recoil grid, per source and flavour (e, mu, tau).

    Arrays have shape (source, flavour, T) in cm^-2 s^-1 (``inv`` in cm^-2 s^-1 keV^-1, summed over
    flavours: shape (source, T)); ``log`` is <ln(E/keV)>.
    """

    t_kev: NDArray[np.float64]
    sources: tuple[str, ...]
    m0: NDArray[np.float64]
    m1: NDArray[np.float64]
    m2: NDArray[np.float64]
    inv: NDArray[np.float64]
    log: NDArray[np.float64]


def _source_moments(
    src: solar.BetaSource | solar.LineSource, flux: float, t: NDArray[np.float64], cfg: PhysicsConfig
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    emin = e_min(t)
    if isinstance(src, solar.BetaSource):
        e, w = solar.endpoint_nodes(emin, src.q_kev, N_QUAD)  # (T, n)
        w = w * flux * solar.beta_spectrum(src, e, cfg.fermi_function)
    else:
        e = np.broadcast_to(np.array(src.energies_kev), (t.size, len(src.energies_kev)))
        w = flux * np.array(src.branching) * (e >= emin[:, None])
    prob = solar.flavour_probabilities(e, cfg.oscillation)  # (3, T, n)
    tt = t[:, None]
    m0 = np.sum(prob * w, axis=-1)
    m1 = np.sum(prob * w * (1.0 - tt / e) ** 2, axis=-1)
    m2 = np.sum(prob * w * M_E_KEV * tt / e**2, axis=-1)
    inv = np.sum(w / e, axis=-1)
    log = np.sum(prob * w * np.log(e), axis=-1)
    return m0, m1, m2, inv, log


def flux_moments(t_kev: ArrayLike, cfg: PhysicsConfig) -> FluxMoments:
    """Compute (cached) the flux-weighted moments on the recoil grid ``t_kev`` (keV)."""
    t = np.ascontiguousarray(np.asarray(t_kev, dtype=np.float64).ravel())
    if np.any(t <= 0) or not np.all(np.isfinite(t)):
        raise ValueError("recoil energies must be positive and finite")
    return _flux_moments_cached(cfg, t.tobytes())


@lru_cache(maxsize=32)
def _flux_moments_cached(cfg: PhysicsConfig, t_bytes: bytes) -> FluxMoments:
    t = np.frombuffer(t_bytes, dtype=np.float64)
    fluxes = solar.flux_set(cfg.flux_set).flux
    parts = [_source_moments(solar.SOURCES[s], fluxes[s], t, cfg) for s in cfg.sources]
    stacked = [np.stack(p) for p in zip(*parts)]
    for arr in stacked:
        arr.setflags(write=False)
    return FluxMoments(t, tuple(cfg.sources), *stacked)


def _per_electron_to_per_kg_day(
    rate_per_electron_s: NDArray[np.float64], electrons: NDArray[np.float64]
) -> NDArray[np.float64]:
    """cm^2/keV x cm^-2 s^-1 per electron -> events/(keV kg day) for the target."""
    return rate_per_electron_s * electrons * XE_ATOMS_PER_KG * SECONDS_PER_DAY


def _flavour_index(flavours: Iterable[str]) -> list[int]:
    return [solar.FLAVOURS.index(f) for f in flavours]


def _coefficients(
    mom: FluxMoments, cfg: PhysicsConfig, flavours: Iterable[str], by_source: bool = False
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """(SM, A1, A2) summed over ``flavours`` (and over sources unless ``by_source``)."""
    sm: NDArray[np.float64] | float = 0.0
    a1: NDArray[np.float64] | float = 0.0
    a2: NDArray[np.float64] | float = 0.0
    for f in flavours:
        i = solar.FLAVOURS.index(f)
        gv, ga = couplings(f, cfg.sin2w)
        m0, m1, m2 = mom.m0[:, i], mom.m1[:, i], mom.m2[:, i]
        sm = sm + (gv + ga) ** 2 * m0 + (gv - ga) ** 2 * m1 - (gv**2 - ga**2) * m2
        a1 = a1 + 2 * (gv + ga) * m0 + 2 * (gv - ga) * m1 - 2 * gv * m2
        a2 = a2 + m0 + m1 - m2
    if not by_source:
        sm, a1, a2 = (np.sum(x, axis=0) for x in (sm, a1, a2))
    return np.asarray(sm), np.asarray(a1), np.asarray(a2)


def sm_rate(t_kev: ArrayLike, cfg: PhysicsConfig = PhysicsConfig(), by_source: bool = False) -> NDArray[np.float64]:
    """Standard-model solar-neutrino rate dR/dT in events/(keV kg day) (per source if asked)."""
    mom = flux_moments(t_kev, cfg)
    sm, _, _ = _coefficients(mom, cfg, solar.FLAVOURS, by_source)
    electrons = cfg.atomic.electrons(mom.t_kev)
    return _per_electron_to_per_kg_day(SM_PREFACTOR * sm, electrons)


def sm_rate_rel_uncertainty(t_kev: ArrayLike, cfg: PhysicsConfig = PhysicsConfig()) -> NDArray[np.float64]:
    """Fractional 1-sigma uncertainty of the SM rate from the flux-set uncertainties (uncorrelated)."""
    by_src = sm_rate(t_kev, cfg, by_source=True)
    unc = solar.flux_set(cfg.flux_set).rel_uncertainty
    sig = np.array([unc[s] for s in cfg.sources])[:, None]
    total = by_src.sum(axis=0)
    return np.sqrt(np.sum((by_src * sig) ** 2, axis=0)) / np.where(total > 0, total, 1.0)


@dataclass(frozen=True)
class BasisSpectra:
    """Basis terms of one interaction: ``rate(c) = sum_k c**powers[k] * terms[k]``.

    ``terms`` are in events/(keV kg day) per unit coupling power; ``coupling`` names the unit.
    """

    interaction: str
    coupling: str
    t_kev: NDArray[np.float64]
    terms: dict[str, NDArray[np.float64]]
    powers: dict[str, int]
    options: dict[str, Any]

    def rate(self, coupling_value: float) -> NDArray[np.float64]:
        """Signal rate (events/(keV kg day)) at a coupling value, excluding the SM rate."""
        c = float(coupling_value)
        total: NDArray[np.float64] = sum(c ** self.powers[k] * v for k, v in self.terms.items())  # type: ignore[assignment]
        return total


def basis_spectra(
    interaction: str,
    t_kev: ArrayLike,
    cfg: PhysicsConfig = PhysicsConfig(),
    *,
    flavours: str = "common",
    mass_mev: float | None = None,
) -> BasisSpectra:
    """Basis terms for ``magnetic_moment``, ``millicharge`` (``flavours``: common/e/mu/tau) or
    ``b_minus_l`` (``mass_mev``: mediator mass in MeV)."""
    mom = flux_moments(t_kev, cfg)
    t = mom.t_kev
    electrons = cfg.atomic.electrons(t)
    if interaction == "magnetic_moment":
        # (pi alpha^2 / m_e^2) mu^2 (1/T - 1/E); flavour-universal moment, sum_f P_f = 1.
        pref = natural_xsec_to_cm2_per_kev(math.pi * ALPHA**2 / M_ELECTRON_MEV**2) * 1000.0
        m0_all = mom.m0.sum(axis=(0, 1))
        per_e = pref * (m0_all / t - mom.inv.sum(axis=0))
        terms = {"mu^2": _per_electron_to_per_kg_day(per_e, electrons)}
        return BasisSpectra(interaction, "mu_B", t, terms, {"mu^2": 2}, {})
    if interaction == "millicharge":
        if flavours not in FLAVOUR_SETS:
            raise ValueError(f"unknown flavour set {flavours!r}; known: {', '.join(FLAVOUR_SETS)}")
        flv = FLAVOUR_SETS[flavours]
        _, a1, a2 = _coefficients(mom, cfg, flv)
        k = MILLICHARGE_SHIFT_KEV / t  # x_q = -k q
        lin = _per_electron_to_per_kg_day(SM_PREFACTOR * (-k) * a1, electrons)
        pure = _per_electron_to_per_kg_day(SM_PREFACTOR * k**2 * a2, electrons)
        if cfg.atomic.uses_epa:
            idx = _flavour_index(flv)
            m0 = mom.m0[:, idx].sum(axis=(0, 1))
            logm = mom.log[:, idx].sum(axis=(0, 1))
            log_mnu_kev = math.log(cfg.atomic.m_nu_ev / 1000.0)
            epa_per_atom = epa_prefactor_per_kev(t) * (logm - log_mnu_kev * m0)
            epa = epa_per_atom * XE_ATOMS_PER_KG * SECONDS_PER_DAY
            pure = np.maximum(pure, epa)
        terms = {"q": lin, "q^2": pure}
        return BasisSpectra(interaction, "e", t, terms, {"q": 1, "q^2": 2}, {"flavours": flavours})
    if interaction == "b_minus_l":
        if mass_mev is None or not (mass_mev >= 0 and math.isfinite(mass_mev)):
            raise ValueError("b_minus_l needs a mediator mass mass_mev >= 0 (MeV)")
        _, a1, a2 = _coefficients(mom, cfg, solar.FLAVOURS)
        h = 1.0 / (math.sqrt(2.0) * G_FERMI_MEV2 * (2.0 * M_ELECTRON_MEV * t / 1000.0 + mass_mev**2))
        terms = {
            "g^2": _per_electron_to_per_kg_day(SM_PREFACTOR * h * a1, electrons),
            "g^4": _per_electron_to_per_kg_day(SM_PREFACTOR * h**2 * a2, electrons),
        }
        return BasisSpectra(interaction, "g", t, terms, {"g^2": 2, "g^4": 4}, {"mass_MeV": mass_mev})
    raise ValueError(f"unknown interaction {interaction!r}; known: {', '.join(INTERACTIONS)}")


def b_minus_l_mass_grid(
    t_kev: ArrayLike, masses_mev: ArrayLike, cfg: PhysicsConfig = PhysicsConfig()
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """B-L basis terms for many masses in one vectorised pass: arrays (mass, T) for g^2 and g^4."""
    mom = flux_moments(t_kev, cfg)
    t = mom.t_kev
    electrons = cfg.atomic.electrons(t)
    _, a1, a2 = _coefficients(mom, cfg, solar.FLAVOURS)
    m = np.asarray(masses_mev, dtype=np.float64)[:, None]
    h = 1.0 / (math.sqrt(2.0) * G_FERMI_MEV2 * (2.0 * M_ELECTRON_MEV * t / 1000.0 + m**2))
    g2 = _per_electron_to_per_kg_day(SM_PREFACTOR * h * a1, electrons)
    g4 = _per_electron_to_per_kg_day(SM_PREFACTOR * h**2 * a2, electrons)
    return g2, g4


def direct_rate(
    t_kev: ArrayLike, dsigma_dt_flavour: CrossSection, cfg: PhysicsConfig = PhysicsConfig(), n_quad: int = N_QUAD
) -> NDArray[np.float64]:
    """Rate by direct integration of a per-flavour cross section ``f(E, T, flavour)`` (cm^2/keV).

    Independent of the moment algebra; used to cross-check the basis terms.
    """
    t = np.asarray(t_kev, dtype=np.float64)
    fluxes = solar.flux_set(cfg.flux_set).flux
    total = np.zeros_like(t)
    emin = e_min(t)
    for name in cfg.sources:
        src = solar.SOURCES[name]
        if isinstance(src, solar.BetaSource):
            e, w = solar.endpoint_nodes(emin, src.q_kev, n_quad)
            w = w * fluxes[name] * solar.beta_spectrum(src, e, cfg.fermi_function)
        else:
            e = np.broadcast_to(np.array(src.energies_kev), (t.size, len(src.energies_kev)))
            w = fluxes[name] * np.array(src.branching) * (e >= emin[:, None])
        prob = solar.flavour_probabilities(e, cfg.oscillation)
        for i, f in enumerate(solar.FLAVOURS):
            total += np.sum(w * prob[i] * dsigma_dt_flavour(e, t[:, None], f), axis=-1)
    return _per_electron_to_per_kg_day(total, cfg.atomic.electrons(t))


def per_tonne_year(rate_per_kev_kg_day: ArrayLike) -> NDArray[np.float64]:
    """events/(keV kg day) -> events/(keV t yr)."""
    return per_kev_kg_day_to_per_kev_tonne_year(np.asarray(rate_per_kev_kg_day))
