"""Binned templates for one analysis: dataset view x physics config x interaction.

Backgrounds: folded ones are integrated over the bins as given (their shape does not move with
the energy scale); true-energy ones and builtin ``solar_nu_sm`` are folded by the response on the
energy-scale grid. Signal basis terms (rate per unit coupling power) are folded the same way.
All templates are expected counts for the dataset's exposure.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from bayes_xmass.datasets.priors import Prior
from bayes_xmass.datasets.types import Dataset
from bayes_xmass.errors import InputError
from bayes_xmass.physics.spectra import PhysicsConfig, b_minus_l_mass_grid, basis_spectra, sm_rate
from bayes_xmass.response.detector import MorphingTemplates, Response, integrate_folded, scale_grid_for_prior
from bayes_xmass.runtime.cache import Arrays, cached_arrays, dataset_fingerprint

__all__ = [
    "TemplateSet",
    "b_minus_l_templates",
    "b_minus_l_templates_cached",
    "build_templates",
    "build_templates_cached",
    "energy_scale_grid",
    "response_for",
]


@dataclass(frozen=True)
class TemplateSet:
    """Everything the expected-counts function needs, as arrays with named axes.

    - ``backgrounds``: MorphingTemplates (scale, background, energy_bin), expected counts at
      normalisation 1;
    - ``background_errors``: (background, energy_bin) absolute 1-sigma template uncertainty at the
      nominal scale (zeros where the dataset gives none);
    - ``signal``: MorphingTemplates (scale, term, energy_bin) with ``signal_powers[k]`` the power of
      the coupling multiplying term k (coupling in units of the interaction's ``scale``).
    """

    dataset: Dataset
    physics: PhysicsConfig
    interaction: str
    options: dict[str, Any]
    coupling_scale: float
    bin_edges_kev: np.ndarray
    observed: np.ndarray
    background_names: tuple[str, ...]
    background_priors: tuple[Prior, ...]
    backgrounds: MorphingTemplates
    background_errors: np.ndarray
    signal_terms: tuple[str, ...]
    signal_powers: tuple[int, ...]
    signal: MorphingTemplates
    scale_prior: Prior

    @property
    def n_bins(self) -> int:
        return int(self.observed.size)

    @property
    def scale_grid(self) -> np.ndarray:
        return self.signal.scale_grid

    def describe(self) -> dict[str, Any]:
        """JSON-able provenance of the templates."""
        return {
            "interaction": self.interaction,
            "options": self.options,
            "coupling_scale": self.coupling_scale,
            "physics": self.physics.describe(),
            "dataset": self.dataset.summary(),
            "scale_grid": [float(self.scale_grid[0]), float(self.scale_grid[-1]), int(self.scale_grid.size)],
        }


def response_for(dataset: Dataset) -> Response:
    """The detector response of a dataset (its bins, resolution, efficiency, threshold)."""
    return Response(dataset.bin_edges_keV, dataset.resolution.sigma, dataset.efficiency, dataset.threshold_keV)


def energy_scale_grid(dataset: Dataset, scale_grid: ArrayLike | None = None) -> NDArray[np.float64]:
    """The energy-scale grid for a dataset: given, one point if the prior is fixed, else +-5 sigma."""
    if scale_grid is not None:
        grid = np.asarray(scale_grid, dtype=np.float64).ravel()
        if grid.size == 0 or np.any(grid <= 0) or np.any(np.diff(grid) <= 0):
            raise ValueError("energy-scale grid must be positive and strictly increasing")
        return grid
    prior = dataset.energy_scale_prior
    fixed = prior.fixed_value()
    return np.array([fixed]) if fixed is not None else scale_grid_for_prior(prior.mean(), prior.std())


def _true_rates_on_grid(dataset: Dataset, t: NDArray[np.float64], cfg: PhysicsConfig) -> dict[str, NDArray[np.float64]]:
    """True-energy rates (n_true_backgrounds, T) for non-folded backgrounds, in file order."""
    rows: dict[str, NDArray[np.float64]] = {}
    for b in dataset.backgrounds:
        if b.source == "builtin":
            rows[b.name] = sm_rate(t, cfg)  # the only builtin: solar_nu_sm
        elif b.source == "true":
            assert b.energy_keV is not None and b.rate is not None  # tabulated sources carry arrays
            rows[b.name] = np.interp(t, b.energy_keV, b.rate, left=0.0, right=0.0)
    return rows


def _fold_on_grid(
    response: Response,
    grid: NDArray[np.float64],
    t: NDArray[np.float64],
    dt: NDArray[np.float64],
    rates: NDArray[np.float64],
    exposure: float,
) -> NDArray[np.float64]:
    return np.stack([response.fold(t, dt, rates, exposure, scale=s) for s in grid])


def _signal_rates(
    interaction: str, t: NDArray[np.float64], cfg: PhysicsConfig, options: dict[str, Any], coupling_scale: float
) -> tuple[tuple[str, ...], tuple[int, ...], NDArray[np.float64]]:
    basis = basis_spectra(interaction, t, cfg, **options)
    terms = tuple(basis.terms)
    powers = tuple(basis.powers[k] for k in terms)
    # rates per unit of (coupling / coupling_scale)^power
    rates = np.stack([basis.terms[k] * coupling_scale ** basis.powers[k] for k in terms])
    return terms, powers, rates


def build_templates(
    dataset: Dataset,
    interaction: str,
    cfg: PhysicsConfig = PhysicsConfig(),
    *,
    options: dict[str, Any] | None = None,
    coupling_scale: float = 1.0,
    scale_grid: ArrayLike | None = None,
) -> TemplateSet:
    """Fold backgrounds and the interaction's basis terms through the dataset's response."""
    options = dict(options or {})
    if not dataset.backgrounds:
        raise InputError(dataset.toml_path, "background", "a dataset needs at least one [[background]] to fit")
    response = response_for(dataset)
    prior = dataset.energy_scale_prior
    grid = energy_scale_grid(dataset, scale_grid)
    t, dt = response.true_grid(s_max=float(grid.max()), s_min=float(grid.min()))
    exposure = dataset.exposure_kg_day

    true_rates = _true_rates_on_grid(dataset, t, cfg)
    folded_true: dict[str, NDArray[np.float64]] = {}
    if true_rates:
        names = list(true_rates)
        stacked = _fold_on_grid(response, grid, t, dt, np.stack([true_rates[n] for n in names]), exposure)
        folded_true = {n: stacked[:, i] for i, n in enumerate(names)}
    bkg = []
    err = []
    for b in dataset.backgrounds:
        if b.source == "folded":
            assert b.energy_keV is not None and b.rate is not None  # tabulated sources carry arrays
            counts = integrate_folded(b.energy_keV, b.rate, dataset.bin_edges_keV, exposure)
            bkg.append(np.broadcast_to(counts, (grid.size, counts.size)))
            err.append(
                integrate_folded(b.energy_keV, b.rate_err, dataset.bin_edges_keV, exposure)
                if b.rate_err is not None
                else np.zeros_like(counts)
            )
        else:
            bkg.append(folded_true[b.name])
            if b.source == "true" and b.energy_keV is not None and b.rate_err is not None:
                e_true = np.interp(t, b.energy_keV, b.rate_err, left=0.0, right=0.0)
                err.append(response.fold(t, dt, e_true, exposure, scale=1.0))
            else:
                err.append(np.zeros(dataset.n_bins))
    backgrounds = MorphingTemplates.from_grid(grid, np.stack(bkg, axis=1))  # bkg is not empty (checked above)

    terms, powers, sig_rates = _signal_rates(interaction, t, cfg, options, coupling_scale)
    signal = MorphingTemplates.from_grid(grid, _fold_on_grid(response, grid, t, dt, sig_rates, exposure))
    return TemplateSet(
        dataset=dataset,
        physics=cfg,
        interaction=interaction,
        options=options,
        coupling_scale=coupling_scale,
        bin_edges_kev=np.asarray(dataset.bin_edges_keV),
        observed=np.asarray(dataset.counts),
        background_names=dataset.background_names,
        background_priors=tuple(b.prior for b in dataset.backgrounds),
        backgrounds=backgrounds,
        background_errors=np.stack(err) if err else np.zeros((0, dataset.n_bins)),
        signal_terms=terms,
        signal_powers=powers,
        signal=signal,
        scale_prior=prior,
    )


def b_minus_l_templates(
    dataset: Dataset,
    masses_mev: ArrayLike,
    cfg: PhysicsConfig = PhysicsConfig(),
    *,
    coupling_scale: float = 1.0,
    scale_grid: ArrayLike | None = None,
) -> NDArray[np.float64]:
    """Signal templates for many B-L masses in one pass: array (mass, scale, term, energy_bin)."""
    response = response_for(dataset)
    grid = energy_scale_grid(dataset, scale_grid)
    t, dt = response.true_grid(s_max=float(grid.max()), s_min=float(grid.min()))
    g2, g4 = b_minus_l_mass_grid(t, masses_mev, cfg)
    rates = np.stack([g2 * coupling_scale**2, g4 * coupling_scale**4], axis=1)  # (mass, term, T)
    folded = np.stack([response.fold(t, dt, rates, dataset.exposure_kg_day, scale=s) for s in grid])
    return np.moveaxis(folded, 0, 1)  # (mass, scale, term, bin)


# -- on-disk cache (bayes_xmass.runtime.cache) ---------------------------------------------------------
def _cache_parts(dataset: Dataset, cfg: PhysicsConfig, grid: NDArray[np.float64], **extra: Any) -> dict[str, Any]:
    return {
        "physics": cfg.describe(),
        "dataset": dataset_fingerprint(dataset),
        "scale_grid": [float(v) for v in grid],
        **extra,
    }


def build_templates_cached(
    dataset: Dataset,
    interaction: str,
    cfg: PhysicsConfig = PhysicsConfig(),
    *,
    options: dict[str, Any] | None = None,
    coupling_scale: float = 1.0,
    scale_grid: ArrayLike | None = None,
) -> TemplateSet:
    """:func:`build_templates` through the on-disk template cache (identical arrays on a hit)."""
    options = dict(options or {})
    grid = energy_scale_grid(dataset, scale_grid)
    built: list[TemplateSet] = []

    def compute() -> Arrays:
        tpl = build_templates(
            dataset, interaction, cfg, options=options, coupling_scale=coupling_scale, scale_grid=grid
        )
        built.append(tpl)
        return {
            "backgrounds": tpl.backgrounds.values,
            "background_errors": tpl.background_errors,
            "signal": tpl.signal.values,
            "signal_terms": np.array(tpl.signal_terms),
            "signal_powers": np.array(tpl.signal_powers, dtype=np.int64),
        }

    def check(a: Arrays) -> bool:
        nb, n = len(dataset.backgrounds), dataset.n_bins
        return (
            a["backgrounds"].shape == (grid.size, nb, n)
            and a["background_errors"].shape == (nb, n)
            and a["signal"].shape == (grid.size, a["signal_terms"].size, n)
            and a["signal_powers"].shape == a["signal_terms"].shape
        )

    parts = _cache_parts(
        dataset, cfg, grid, interaction=interaction, options=options, coupling_scale=float(coupling_scale)
    )
    arrays = cached_arrays("templates", parts, compute, check)
    if built:
        return built[0]
    return TemplateSet(
        dataset=dataset,
        physics=cfg,
        interaction=interaction,
        options=options,
        coupling_scale=coupling_scale,
        bin_edges_kev=np.asarray(dataset.bin_edges_keV),
        observed=np.asarray(dataset.counts),
        background_names=dataset.background_names,
        background_priors=tuple(b.prior for b in dataset.backgrounds),
        backgrounds=MorphingTemplates.from_grid(grid, arrays["backgrounds"]),
        background_errors=arrays["background_errors"],
        signal_terms=tuple(str(t) for t in arrays["signal_terms"]),
        signal_powers=tuple(int(p) for p in arrays["signal_powers"]),
        signal=MorphingTemplates.from_grid(grid, arrays["signal"]),
        scale_prior=dataset.energy_scale_prior,
    )


def b_minus_l_templates_cached(
    dataset: Dataset,
    masses_mev: ArrayLike,
    cfg: PhysicsConfig = PhysicsConfig(),
    *,
    coupling_scale: float = 1.0,
    scale_grid: ArrayLike | None = None,
) -> NDArray[np.float64]:
    """:func:`b_minus_l_templates` through the on-disk template cache: (mass, scale, term, bin)."""
    masses = np.asarray(masses_mev, dtype=np.float64).ravel()
    grid = energy_scale_grid(dataset, scale_grid)
    parts = _cache_parts(
        dataset,
        cfg,
        grid,
        interaction="b_minus_l_grid",
        masses_MeV=[repr(float(m)) for m in masses],
        coupling_scale=float(coupling_scale),
    )

    def compute() -> Arrays:
        return {"signal": b_minus_l_templates(dataset, masses, cfg, coupling_scale=coupling_scale, scale_grid=grid)}

    def check(a: Arrays) -> bool:
        return bool(a["signal"].shape == (masses.size, grid.size, 2, dataset.n_bins))

    signal: NDArray[np.float64] = cached_arrays("b_minus_l_grid", parts, compute, check)["signal"]
    return signal
