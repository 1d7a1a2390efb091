"""The statistical model of one analysis as a PyMC model, shared by both inference paths.

:func:`build_model` turns a :class:`~bayes_xmass.templates.TemplateSet` into a PyMC model:

- parameter of interest ``x = |coupling| / coupling_scale >= 0`` with a declared prior (for the
  millicharge the sign is fixed per fit: ``coupling = sign * x * scale``),
- background normalisations and the energy scale from the dataset's prior registry,
- per-bin template factors gamma when the dataset gives template uncertainties
  (``gammas="marginalise"``: non-centred Normal(1, delta) variables for NUTS;
  ``gammas="profile"``: the closed-form conditional maximum, for the frequentist fit),
- the expected counts of :mod:`bayes_xmass.likelihood` and a Poisson (or Gaussian chi-square)
  likelihood of the observed counts.

The frequentist code compiles ``model.compile_logp(jacobian=False)`` of the model built with
``poi_prior=PoiPrior("improper")``: the same graph, with the POI free of any prior.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .likelihood import (
    LIKELIHOODS,
    background_counts,
    chi2_sigma,
    expected_counts,
    gaussian_log_likelihood,
    poisson_log_likelihood,
    gamma_log_penalty,
    profiled_gamma,
    signal_counts,
    spline_templates,
)
from .templates import TemplateSet

POI_PRIOR_KINDS = ("flat", "flat_power", "log_uniform", "jeffreys", "improper")
POI_VALUE = "x"  # name of the scaled POI variable in every model


@dataclass(frozen=True)
class PoiPrior:
    """Prior of the scaled coupling x = |coupling| / scale on [0, upper] (upper in units of scale).

    - ``flat``: uniform in x;
    - ``flat_power``: uniform in x**power (power 2 = flat in mu^2 or q^2, i.e. in the signal rate
      of a quadratic signal); sampled as u = (x/upper)**power ~ U(0, 1);
    - ``log_uniform``: uniform in log x on [floor, upper];
    - ``jeffreys``: pi(x) ∝ sqrt(I(x)), I the Fisher information of the binned Poisson likelihood in
      x at the current nuisance values (a conditional Jeffreys/reference prior; added as a Potential,
      which prior-predictive sampling ignores: the stored prior group is then the uniform base);
    - ``improper``: no prior (flat, unbounded) -- for the frequentist profile likelihood.
    """

    kind: str = "flat_power"
    upper: float = 10.0
    power: float = 2.0
    floor: float = 1e-3

    def __post_init__(self):
        if self.kind not in POI_PRIOR_KINDS:
            raise ValueError(f"unknown POI prior {self.kind!r}; known: {', '.join(POI_PRIOR_KINDS)}")
        if not (self.upper > 0 and math.isfinite(self.upper)):
            raise ValueError("POI prior upper bound must be positive and finite")
        if self.kind == "flat_power" and not self.power > 0:
            raise ValueError("flat_power prior needs power > 0")
        if self.kind == "log_uniform" and not (0 < self.floor < self.upper):
            raise ValueError("log_uniform prior needs 0 < floor < upper")

    def describe(self) -> dict:
        out = {"kind": self.kind, "upper_scaled": self.upper}
        if self.kind == "flat_power":
            out["power"] = self.power
        if self.kind == "log_uniform":
            out["floor_scaled"] = self.floor
        return out


def _coords(tpl: TemplateSet) -> dict:
    edges = tpl.bin_edges_kev
    return {
        "energy_bin": 0.5 * (edges[1:] + edges[:-1]),
        "energy_edge": np.asarray(edges),
        "background": list(tpl.background_names),
        "term": list(tpl.signal_terms),
        "spline_coefficient": [3, 2, 1, 0],
        "scale_interval": np.arange(tpl.signal.coefficients.shape[1]),
        "scale_point": np.arange(tpl.scale_grid.size),
    }


def template_rel_error(tpl: TemplateSet) -> np.ndarray:
    """Relative 1-sigma uncertainty of the summed background template per bin (nominal)."""
    nominal = tpl.backgrounds(float(np.clip(1.0, tpl.scale_grid[0], tpl.scale_grid[-1]))).sum(axis=0)
    err = np.sqrt(np.sum(tpl.background_errors**2, axis=0))
    return np.where(nominal > 0, err / np.maximum(nominal, 1e-300), 0.0)


def _poi(pm, pt, prior: PoiPrior):
    if prior.kind == "improper":
        return pm.Flat(POI_VALUE)
    if prior.kind == "flat":
        return pm.Uniform(POI_VALUE, 0.0, prior.upper)
    if prior.kind == "flat_power":
        # uniform in x^power: u = (x / upper)^power ~ U(0, 1), a generative form (so prior
        # predictive sampling, SBC and Potentials-free PPC are exact)
        u = pm.Uniform("signal_fraction", 0.0, 1.0)
        return pm.Deterministic(POI_VALUE, prior.upper * u ** (1.0 / prior.power))
    if prior.kind == "log_uniform":
        log_x = pm.Uniform("log_x", math.log(prior.floor), math.log(prior.upper))
        return pm.Deterministic(POI_VALUE, pt.exp(log_x))
    return pm.Uniform(POI_VALUE, 0.0, prior.upper)  # jeffreys: a Potential is added later


def build_model(tpl: TemplateSet, poi_prior: PoiPrior = PoiPrior(), *, sign: int = 1,
                likelihood: str = "poisson", gammas: str = "marginalise"):
    """Build the PyMC model (see module docstring). ``sign`` is +1 or -1 (millicharge only)."""
    import pymc as pm
    import pytensor.tensor as pt

    if likelihood not in LIKELIHOODS:
        raise ValueError(f"unknown likelihood {likelihood!r}; known: {', '.join(LIKELIHOODS)}")
    if sign not in (1, -1):
        raise ValueError("sign must be +1 or -1")
    if gammas not in ("marginalise", "profile"):
        raise ValueError("gammas must be 'marginalise' or 'profile'")
    powers = np.array(tpl.signal_powers, dtype=float)
    sign_factors = np.array([float(sign) ** int(p) for p in tpl.signal_powers])
    rel_err = template_rel_error(tpl)
    use_gammas = likelihood == "poisson" and np.any(rel_err > 0)

    with pm.Model(coords=_coords(tpl)) as model:
        pm.Data("bin_edges_keV", np.asarray(tpl.bin_edges_kev, dtype="float64"), dims="energy_edge")
        observed = pm.Data("observed_counts", tpl.observed.astype("float64"), dims="energy_bin")
        bkg_coef = pm.Data("background_coefficients", tpl.backgrounds.coefficients,
                           dims=("spline_coefficient", "scale_interval", "background", "energy_bin"))
        sig_coef = pm.Data("signal_coefficients", tpl.signal.coefficients,
                           dims=("spline_coefficient", "scale_interval", "term", "energy_bin"))
        grid = pm.Data("scale_grid", tpl.scale_grid, dims="scale_point")
        pw = pm.Data("signal_powers", powers, dims="term")
        sf = pm.Data("signal_sign_factors", sign_factors, dims="term")
        delta = pm.Data("template_rel_error", rel_err, dims="energy_bin")

        x = _poi(pm, pt, poi_prior)
        unit = pm.Data("coupling_unit_scale", np.asarray(float(sign) * tpl.coupling_scale))
        pm.Deterministic("coupling", unit * x)
        norms = [prior.to_pymc(f"norm_{name}") for name, prior in zip(tpl.background_names, tpl.background_priors)]
        norm = pm.Deterministic("norm", pt.stack([pt.as_tensor_variable(n, dtype="float64") for n in norms]),
                                dims="background")
        scale = pt.as_tensor_variable(tpl.scale_prior.to_pymc("energy_scale"), dtype="float64")

        bkg = background_counts(norm, bkg_coef, grid, scale)
        sig = signal_counts(x, pw, sf, sig_coef, grid, scale)
        gamma = None
        if use_gammas and gammas == "marginalise":
            z = pm.Normal("gamma_z", 0.0, 1.0, dims="energy_bin")
            gamma = pm.Deterministic("gamma", pt.maximum(1.0 + delta * z, 1e-6), dims="energy_bin")
        elif use_gammas:
            gamma = pm.Deterministic("gamma", profiled_gamma(observed, bkg, sig, delta), dims="energy_bin")
            pm.Potential("gamma_penalty", gamma_log_penalty(gamma, delta))
        mu = expected_counts(bkg, sig, gamma)
        pm.Deterministic("expected", mu, dims="energy_bin")
        pm.Deterministic("signal_expected", sig, dims="energy_bin")
        if poi_prior.kind == "jeffreys":
            dmu_dx = pt.dot(
                pw * sf * pt.pow(pt.maximum(x, 1e-12), pw - 1.0),
                spline_templates(sig_coef, grid, scale))
            pm.Potential("jeffreys", 0.5 * pt.log(pt.sum(dmu_dx**2 / mu) + 1e-300))
        # The likelihood is a Potential of our own log-density (not an observed RV) so that
        # non-integer Asimov data are used as they are (PyMC would round observed Poisson data);
        # predictive counts are drawn from 'expected' (bayes.py).
        if likelihood == "poisson":
            pm.Potential("log_likelihood", poisson_log_likelihood(observed, mu))
        else:
            sigma = pm.Data("chi2_sigma", chi2_sigma(tpl.observed, tpl.background_errors), dims="energy_bin")
            pm.Potential("log_likelihood", gaussian_log_likelihood(observed, mu, sigma))
    return model
