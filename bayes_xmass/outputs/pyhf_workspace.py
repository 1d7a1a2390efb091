"""The binned model of one fit as a HistFactory (pyhf JSON) workspace: the mapping, no file I/O.

Our expected counts per bin (:mod:`bayes_xmass.model.likelihood`) are

    lambda = gamma * sum_b n_b B_b(s) + (sign x)^p T(s)

with normalisations n_b (priors from the dataset), the energy-scale factor s (templates morphed by
a cubic spline in s), per-bin template factors gamma ~ Normal(1, delta) and the POI x = coupling /
scale. :func:`pyhf_workspace` writes each piece as the HistFactory modifier that reproduces it and
records, per component, whether the result is exactly our likelihood with pyhf's *default*
interpolation codes (``pyhf.Model`` 0.7: normsys ``code4``, histosys ``code4p``; a workspace
cannot store codes). The table (docs/export-pyhf.md explains each line):

- signal, one term of power p: sample ``signal`` (template (sign)^p T) with ``normfactor`` mu =
  x^p, bounds [0, mu_max]: exact (q~ is unchanged by the monotone map x -> x^p on x >= 0);
- several terms of different powers (millicharge q and q^2, B-L g^2 and g^4): refused
  (InputError on ``--interaction``): a normfactor scales a sample linearly and HistFactory cannot
  tie one parameter to the square of another;
- normal / truncated normal normalisation: symmetric ``histosys`` (lo, hi = (m -+ sigma) B),
  alpha ~ N(0, 1), truncation as alpha bounds: exact (code4p is linear for symmetric variations);
- log-normal (median m, width sigma): ``normsys`` (hi, lo = e^+-sigma) on the nominal m e^-sigma^2
  B. Our fit maximises the density in n, whose -log n term shifts the centre of the Gaussian in
  log n to the mode: exact with code1; code4 is a polynomial in |alpha| < 1 (relative deviation
  1e-8 at sigma = 0.3);
- uniform: ``normfactor`` with the prior's bounds (exact); half-normal: ``histosys`` around a zero
  nominal with alpha >= 0 (exact); fixed: no modifier (exact);
- per-bin template factors: ``staterror`` on every background sample, errors rescaled so pyhf's
  delta (taken relative to the summed nominal samples) equals ours: exact;
- energy scale: ``histosys`` with the templates at s = centre +- sigma: NOT exact (vertical
  interpolation of a horizontal shift; additive beside the normalisation histosys). Exact only
  when the dataset fixes the energy scale (no modifier).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bayes_xmass.datasets.priors import Prior
from bayes_xmass.errors import InputError
from bayes_xmass.model.data import template_rel_error
from bayes_xmass.physics.interactions import INTERACTIONS
from bayes_xmass.response.templates import TemplateSet

__all__ = [
    "ALPHA_LIMIT",
    "ENERGY_SCALE",
    "POI_NAME",
    "SIGNAL_EXCESS",
    "STATERROR",
    "Component",
    "PyhfExport",
    "pyhf_workspace",
]

POI_NAME = "mu"
ENERGY_SCALE = "energy_scale"
STATERROR = "template_stat"
ALPHA_LIMIT = 10.0  # |alpha| bound of an unbounded Gaussian side: a pull of 10 sigma costs 100 in -2 log L
SIGNAL_EXCESS = 10.0  # mu_max: the signal summed over the bins is this many times the background


@dataclass(frozen=True)
class Component:
    """One line of the mapping: our model's piece, its HistFactory form, and how exact it is.

    ``status``: ``exact`` (the same likelihood with pyhf's default interpolation codes),
    ``near-exact`` (exact with a non-default code; the default differs by a stated tiny amount),
    ``approximate``."""

    ours: str
    pyhf: str
    status: str
    note: str = ""

    def describe(self) -> dict[str, str]:
        return {"ours": self.ours, "pyhf": self.pyhf, "status": self.status, "note": self.note}


@dataclass(frozen=True)
class PyhfExport:
    """The workspace and what is needed to read it: mu = (coupling / coupling_scale)^power up to the
    sign (coupling = sign * coupling_scale * mu^(1/power))."""

    workspace: dict[str, Any]
    interaction: str
    coupling_name: str
    coupling_unit: str
    coupling_scale: float
    power: int
    sign: int
    components: tuple[Component, ...] = field(default=())

    @property
    def exact(self) -> bool:
        """Whether pyhf's default model of the workspace is exactly our likelihood."""
        return self.status == "exact"

    @property
    def status(self) -> str:
        """The least exact component's status: ``exact``, ``near-exact`` or ``approximate``."""
        statuses = {c.status for c in self.components}
        return next((s for s in ("approximate", "near-exact") if s in statuses), "exact")

    @property
    def inexact(self) -> list[Component]:
        return [c for c in self.components if c.status != "exact"]

    def coupling(self, mu: float) -> float:
        """The coupling (physical units) of a value of the POI mu >= 0."""
        return float(self.sign * self.coupling_scale * max(mu, 0.0) ** (1.0 / self.power))

    def describe(self) -> dict[str, Any]:
        """JSON-able summary (POI conversion and mapping table) for the provenance file."""
        return {
            "poi": POI_NAME,
            "interaction": self.interaction,
            "coupling": self.coupling_name,
            "coupling_unit": self.coupling_unit,
            "coupling_scale": self.coupling_scale,
            "power": self.power,
            "sign": self.sign,
            "conversion": f"{self.coupling_name} = {self.sign:+d} * {self.coupling_scale:g} * mu**(1/{self.power}) "
            f"{self.coupling_unit}",
            "exact": self.exact,
            "status": self.status,
            "interpolation_codes": "pyhf.Model defaults (0.7: normsys code4, histosys code4p); not stored in a workspace",
            "mapping": [c.describe() for c in self.components],
        }


def _signal_term(tpl: TemplateSet, s0: float) -> int:
    """Index of the single signal term with a non-zero template; InputError on several."""
    sig = tpl.signal(s0)
    used = [k for k in range(sig.shape[0]) if np.any(sig[k] != 0)]
    if len(used) == 1:
        return used[0]
    if not used:
        raise InputError("command line", "--interaction", f"{tpl.interaction}: the signal is zero in every bin")
    terms = " + ".join(f"{t} T_{i}" for i, t in enumerate(tpl.signal_terms))
    raise InputError(
        "command line",
        "--interaction",
        f"{INTERACTIONS[tpl.interaction].cli_name}: the signal {terms} has terms in different powers of the "
        "coupling; a HistFactory normfactor scales a sample linearly and cannot be tied to the square of "
        "another, so no equivalent pyhf workspace exists (docs/export-pyhf.md; magnetic-moment exports)",
    )


def _energy_scale(tpl: TemplateSet) -> tuple[float, float, tuple[float, float]] | None:
    """(centre, sigma, alpha bounds) of a free energy scale; None when the dataset fixes it."""
    prior = tpl.scale_prior
    if prior.fixed_value() is not None or tpl.scale_grid.size == 1:
        return None
    if prior.kind not in ("normal", "truncated_normal"):
        raise InputError(
            tpl.dataset.toml_path,
            "response.energy_scale.prior",
            f"kind {prior.kind!r} has no HistFactory counterpart here (normal or truncated_normal export)",
        )
    mu, sigma = prior.params["mu"], prior.params["sigma"]
    lo, hi = float(tpl.scale_grid[0]), float(tpl.scale_grid[-1])  # our templates are constant beyond the grid
    if prior.kind == "truncated_normal":
        lo, hi = max(lo, prior.params["lower"]), min(hi, prior.params["upper"])
    if not (lo <= mu - sigma and mu + sigma <= hi):
        raise InputError(tpl.dataset.toml_path, "response.energy_scale.prior", "centre +- sigma outside the grid")
    return mu, sigma, ((lo - mu) / sigma, (hi - mu) / sigma)


def _gaussian_bounds(prior: Prior) -> tuple[float, float]:
    """alpha bounds of a (truncated) normal n = mu + sigma alpha; unbounded sides at +-ALPHA_LIMIT."""
    mu, sigma = prior.params["mu"], prior.params["sigma"]
    lo, hi = -ALPHA_LIMIT, ALPHA_LIMIT
    if prior.kind == "truncated_normal":
        lo = max(lo, (prior.params["lower"] - mu) / sigma)
        hi = min(hi, (prior.params["upper"] - mu) / sigma)
    return lo, hi


def _normalisation(
    name: str, prior: Prior, b: np.ndarray, source: object
) -> tuple[np.ndarray, list[dict[str, Any]], dict[str, Any] | None, Component]:
    """(nominal sample data, modifiers, measurement parameter config, mapping line) of one background."""
    par = f"norm_{name}"
    ours = f"norm_{name} ~ {prior.kind}({', '.join(f'{k}={v:g}' for k, v in prior.params.items())})"
    fixed = prior.fixed_value()
    if fixed is not None:
        return fixed * b, [], None, Component(ours, "no modifier (nominal = value x template)", "exact")
    p = prior.params
    mod: dict[str, Any]
    if prior.kind in ("normal", "truncated_normal"):
        m, sd = p["mu"], p["sigma"]
        mod = {
            "name": par,
            "type": "histosys",
            "data": {"hi_data": ((m + sd) * b).tolist(), "lo_data": ((m - sd) * b).tolist()},
        }
        lo, hi = _gaussian_bounds(prior)
        note = "truncation as alpha bounds" if prior.kind == "truncated_normal" else ""
        if lo == -ALPHA_LIMIT or hi == ALPHA_LIMIT:
            note = (note + "; " if note else "") + f"an unbounded side is bounded at {ALPHA_LIMIT:g} sigma"
        comp = Component(ours, f"histosys {par} (symmetric, linear), alpha ~ N(0, 1)", "exact", note)
        return m * b, [mod], {"name": par, "bounds": [[lo, hi]]}, comp
    if prior.kind == "lognormal":
        m, sd = p["mu"], p["sigma"]
        mod = {"name": par, "type": "normsys", "data": {"hi": math.exp(sd), "lo": math.exp(-sd)}}
        comp = Component(
            ours,
            f"normsys {par} (e^+-{sd:g}) on nominal median x e^-sigma^2 (the mode)",
            "near-exact",
            "our fit maximises the density in n (with its -log n), a Gaussian in log n centred on the mode: "
            "exact with normsys code1; pyhf's default code4 is a polynomial in |alpha| < 1 "
            f"(relative deviation from e^(sigma alpha) ~1e-8 at sigma = 0.3, 7e-5 at 1; here sigma = {sd:g})",
        )
        return m * math.exp(-sd * sd) * b, [mod], {"name": par, "bounds": [[-ALPHA_LIMIT, ALPHA_LIMIT]]}, comp
    if prior.kind == "uniform":
        lo, hi = p["lower"], p["upper"]
        mod = {"name": par, "type": "normfactor", "data": None}
        comp = Component(ours, f"normfactor {par} in [{lo:g}, {hi:g}] (flat: no constraint)", "exact")
        return b, [mod], {"name": par, "bounds": [[lo, hi]], "inits": [0.5 * (lo + hi)]}, comp
    if prior.kind == "halfnormal":
        sd = p["sigma"]
        mod = {"name": par, "type": "histosys", "data": {"hi_data": (sd * b).tolist(), "lo_data": (-sd * b).tolist()}}
        comp = Component(ours, f"histosys {par} on a zero nominal, alpha ~ N(0, 1), alpha >= 0", "exact")
        return 0.0 * b, [mod], {"name": par, "bounds": [[0.0, ALPHA_LIMIT]], "inits": [1.0]}, comp
    raise InputError(source, f"background {name}: prior", f"kind {prior.kind!r} has no HistFactory counterpart here")


def _staterror_data(tpl: TemplateSet, nominals: np.ndarray) -> tuple[np.ndarray, Component]:
    """Per-sample staterror data whose pyhf delta (sqrt(sum err^2) / sum of nominal samples) is ours."""
    delta = template_rel_error(tpl)
    err = np.asarray(tpl.background_errors, dtype=float)
    total = nominals.sum(axis=0)
    quad = np.sqrt(np.sum(err**2, axis=0))
    factor = np.where(quad > 0, delta * total / np.where(quad > 0, quad, 1.0), 0.0)
    lost = int(np.sum((delta > 0) & (total <= 0)))
    comp = Component(
        "per-bin template factor gamma ~ N(1, delta), delta = sqrt(sum err_b^2) / sum_b B_b",
        f"staterror {STATERROR} on every background sample (errors rescaled to pyhf's nominal sum)",
        "exact" if lost == 0 else "approximate",
        "" if lost == 0 else f"{lost} bins with zero nominal background lose their gamma in pyhf",
    )
    return err * factor[None, :], comp


def pyhf_workspace(
    tpl: TemplateSet, *, sign: int = 1, measurement: str = "fit", channel: str = "xenon", mu_max: float | None = None
) -> PyhfExport:
    """The HistFactory workspace (pyhf JSON, schema 1.0.0) of one fit's template set.

    ``sign``: the fit's coupling sign; ``mu_max``: upper bound of the POI mu (default: where the
    signal summed over the bins is :data:`SIGNAL_EXCESS` times the background). Raises InputError
    for what has no HistFactory counterpart (multi-term signals, unsupported prior kinds).
    """
    escale = _energy_scale(tpl)
    s0 = escale[0] if escale else float(tpl.scale_prior.fixed_value() or tpl.scale_grid[0])
    k = _signal_term(tpl, s0)
    power = int(tpl.signal_powers[k])
    factor = float(sign) ** power
    inter = INTERACTIONS[tpl.interaction]
    comps = [
        Component(
            f"signal ({sign:+d} x)^{power} T, x = {inter.poi} / {tpl.coupling_scale:g} >= 0",
            f"sample 'signal' with normfactor {POI_NAME} = x^{power} >= 0",
            "exact",
            "q~ is invariant under the monotone map x -> x^p on x >= 0",
        )
    ]

    def shifted(values: Any, idx: int, scale: float) -> np.ndarray:
        return np.asarray(values(scale)[idx], dtype=float)

    signal = factor * shifted(tpl.signal, k, s0)
    bkg = np.asarray(tpl.backgrounds(s0), dtype=float)
    samples: list[dict[str, Any]] = []
    params: list[dict[str, Any]] = []
    nominals = []
    for name, prior, b in zip(tpl.background_names, tpl.background_priors, bkg):
        nominal, mods, cfg, comp = _normalisation(name, prior, b, tpl.dataset.toml_path)
        samples.append({"name": name, "data": nominal, "modifiers": mods})
        nominals.append(nominal)
        if cfg:
            params.append(cfg)
        comps.append(comp)

    if escale:
        mu_s, sd_s, bounds = escale
        moved = 0
        sig_lo, sig_hi = factor * shifted(tpl.signal, k, mu_s - sd_s), factor * shifted(tpl.signal, k, mu_s + sd_s)
        sig_mods = [_histosys(ENERGY_SCALE, sig_lo, sig_hi)]
        b_lo, b_hi = tpl.backgrounds(mu_s - sd_s), tpl.backgrounds(mu_s + sd_s)
        for i, sample in enumerate(samples):
            c = nominals[i].sum() / max(bkg[i].sum(), 1e-300)  # nominal normalisation of the sample
            if not (
                np.allclose(b_lo[i], bkg[i], rtol=1e-12, atol=0) and np.allclose(b_hi[i], bkg[i], rtol=1e-12, atol=0)
            ):
                sample["modifiers"].append(_histosys(ENERGY_SCALE, c * b_lo[i], c * b_hi[i]))
                moved += 1
        params.append({"name": ENERGY_SCALE, "bounds": [list(bounds)]})
        comps.append(
            Component(
                f"energy scale s ~ {tpl.scale_prior.kind}({mu_s:g}, {sd_s:g}): cubic-spline morphing of the templates",
                f"histosys {ENERGY_SCALE} (templates at s = {mu_s:g} -+ {sd_s:g}) on the signal and {moved} moving "
                f"backgrounds, alpha in [{bounds[0]:g}, {bounds[1]:g}]",
                "approximate",
                "HistFactory interpolates each bin vertically (code4p: a polynomial inside |alpha| < 1, linear "
                "beyond) where ours shifts the spectrum horizontally; and the energy-scale and normalisation "
                "histosys add where ours multiplies (n_b B_b(s))",
            )
        )
    else:
        sig_mods = []
        comps.append(Component(f"energy scale fixed at {s0:g}", "no modifier (templates at that scale)", "exact"))

    if np.any(np.asarray(tpl.background_errors) > 0):
        stat, comp = _staterror_data(tpl, np.asarray(nominals))
        for sample, e in zip(samples, stat):
            sample["modifiers"].append({"name": STATERROR, "type": "staterror", "data": e.tolist()})
        comps.append(comp)

    total_signal = float(np.sum(np.abs(signal)))
    if mu_max is None:
        mu_max = SIGNAL_EXCESS * max(float(bkg.sum()), 1.0) / max(total_signal, 1e-300)
        mu_max = float(f"{mu_max:.2g}")
    params.insert(0, {"name": POI_NAME, "bounds": [[0.0, mu_max]], "inits": [min(1.0, 0.5 * mu_max)]})
    for s in samples:
        s["data"] = np.asarray(s["data"], dtype=float).tolist()
    samples.insert(
        0,
        {
            "name": "signal",
            "data": signal.tolist(),
            "modifiers": [{"name": POI_NAME, "type": "normfactor", "data": None}, *sig_mods],
        },
    )
    workspace = {
        "channels": [{"name": channel, "samples": samples}],
        "observations": [{"name": channel, "data": np.asarray(tpl.observed, dtype=float).tolist()}],
        "measurements": [{"name": measurement, "config": {"poi": POI_NAME, "parameters": params}}],
        "version": "1.0.0",
    }
    return PyhfExport(
        workspace=workspace,
        interaction=tpl.interaction,
        coupling_name=inter.poi,
        coupling_unit=inter.coupling_unit,
        coupling_scale=float(tpl.coupling_scale),
        power=power,
        sign=int(sign),
        components=tuple(comps),
    )


def _histosys(name: str, lo: np.ndarray, hi: np.ndarray) -> dict[str, Any]:
    return {
        "name": name,
        "type": "histosys",
        "data": {"hi_data": np.asarray(hi).tolist(), "lo_data": np.asarray(lo).tolist()},
    }
