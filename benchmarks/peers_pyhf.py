"""A HistFactory (pyhf) model equivalent to one bayes_xmass fit, for bench_peers.py section (b).

Mapping of our model (one channel, the bins of the analysis view) to HistFactory:

==============================  =========================================================  ===========
ours                            pyhf                                                       equivalent?
==============================  =========================================================  ===========
POI x, signal = x^p T (p = 2)   signal sample, ``normfactor`` mu = x^p (limit x = mu^1/p)  exact (q~ is
                                                                                           invariant under
                                                                                           x -> x^p)
normal(m, s) normalisation      ``histosys`` with code0 (linear) interpolation:            exact
                                hi = (m+s) B, lo = (m-s) B; alpha ~ N(0, 1)
truncated_normal(m, s, lo=0)    same ``histosys`` + parameter bound alpha >= (lo-m)/s      exact (the
                                                                                           truncation's
                                                                                           normalisation is
                                                                                           a constant)
lognormal(median m, s)          ``normsys`` with code1 (exponential): factor = e^(s alpha)  prior: exact;
                                                                                           profile: NOT (ours
                                                                                           maximises the
                                                                                           density in x, incl.
                                                                                           -log x; HistFactory
                                                                                           the Gaussian in
                                                                                           alpha = log x / s)
fixed                           no modifier                                                exact
per-bin template factor gamma   ``staterror`` on every background sample, data = absolute   exact
~ N(1, delta), delta = sqrt(sum  template errors (pyhf computes the same delta)
err_b^2) / sum B_b
energy-scale factor (spline     none: HistFactory has no horizontal morphing; ``histosys``  NO: switched off
morphing of the templates)      (vertical interpolation between +-1 sigma templates) would  in BOTH models
                                only approximate it                                        (prior fixed at 1)
uniform / halfnormal priors     normfactor with bounds / histosys with bound (not needed   -
                                for the bundled benchmark; refused here)
==============================  =========================================================  ===========
"""

from __future__ import annotations

import math

import numpy as np


def histfactory_spec(tpl, *, lognormal_as: str = "normsys") -> tuple[dict, dict, list[str]]:
    """(workspace-style model spec, {parameter: (low, high)} bounds to override, notes).

    ``tpl`` must have a single energy-scale point (energy-scale systematic switched off).
    """
    if tpl.scale_grid.size != 1:
        raise ValueError("HistFactory cannot morph templates horizontally; fix the energy scale first")
    s = float(tpl.scale_grid[0])
    bkg = tpl.backgrounds(s)  # (background, bin) at normalisation 1
    sig = tpl.signal(s)  # (term, bin)
    if len(tpl.signal_powers) != 1:
        raise ValueError("only single-term signals (magnetic moment, q^2-only) map to one normfactor")
    errs = np.asarray(tpl.background_errors)
    use_staterror = bool(np.any(errs > 0))
    samples = [
        {"name": "signal", "data": sig[0].tolist(), "modifiers": [{"name": "mu", "type": "normfactor", "data": None}]}
    ]
    bounds, notes = {}, []
    for name, prior, b, e in zip(tpl.background_names, tpl.background_priors, bkg, errs):
        kind, p = prior.kind, prior.params
        mods = []
        if kind == "fixed" or prior.is_fixed:
            nominal = b * float(prior.fixed_value())
        elif kind in ("normal", "truncated_normal"):
            m, sd = float(p["mu"]), float(p["sigma"])
            nominal = b * m
            mods.append(
                {
                    "name": f"norm_{name}",
                    "type": "histosys",
                    "data": {"hi_data": (b * (m + sd)).tolist(), "lo_data": (b * (m - sd)).tolist()},
                }
            )
            if kind == "truncated_normal":
                lo = (float(p.get("lower", 0.0)) - m) / sd
                hi = (float(p.get("upper", math.inf)) - m) / sd
                bounds[f"norm_{name}"] = (max(lo, -10.0), min(hi, 10.0))
            else:
                bounds[f"norm_{name}"] = (-10.0, 10.0)
        elif kind == "lognormal":
            m, sd = float(p["mu"]), float(p["sigma"])
            nominal = b * m
            mods.append({"name": f"norm_{name}", "type": "normsys", "data": {"hi": math.exp(sd), "lo": math.exp(-sd)}})
            bounds[f"norm_{name}"] = (-10.0, 10.0)
            notes.append(
                f"{name}: lognormal -> normsys code1 (exact prior; profile differs by the -log x "
                "density term ours keeps)"
            )
        else:
            raise ValueError(f"prior kind {kind!r} of {name} has no HistFactory counterpart here")
        if use_staterror:
            mods.append({"name": "template_stat", "type": "staterror", "data": e.tolist()})
        samples.append({"name": name, "data": nominal.tolist(), "modifiers": mods})
    spec = {"channels": [{"name": "xenon", "samples": samples}]}
    return spec, bounds, notes


def build_pyhf_model(tpl, optimizer: str = "scipy"):
    """(pyhf.Model, data tensor, init, par_bounds, notes) for a template set with a fixed energy scale.

    ``optimizer``: pyhf's default ``scipy`` (SLSQP; with the numpy backend gradients are finite
    differences) or ``minuit`` (iminuit MIGRAD; ~50x faster on the 108-parameter model here).
    """
    import pyhf

    pyhf.set_backend("numpy", pyhf.optimize.minuit_optimizer(tolerance=1e-4) if optimizer == "minuit" else "scipy")
    spec, bounds, notes = histfactory_spec(tpl)
    model = pyhf.Model(
        spec,
        poi_name="mu",
        validate=True,
        modifier_settings={"normsys": {"interpcode": "code1"}, "histosys": {"interpcode": "code0"}},
    )
    par_bounds = model.config.suggested_bounds()
    for name, (lo, hi) in bounds.items():
        sl = model.config.par_slice(name)
        for i in range(sl.start, sl.stop):
            par_bounds[i] = (lo, hi)
    poi = model.config.par_slice("mu").start
    par_bounds[poi] = (0.0, 50.0)
    data = np.asarray(list(np.asarray(tpl.observed, dtype=float)) + model.config.auxdata)
    return model, data, model.config.suggested_init(), par_bounds, notes


def staterror_sigmas(model) -> np.ndarray:
    """pyhf's per-bin relative uncertainties of the staterror gammas (to check against ours)."""
    for name, ps in model.config.par_map.items():
        if name == "template_stat":
            return np.asarray(ps["paramset"].sigmas)
    return np.zeros(0)


def pyhf_upper_limit(model, data, init, par_bounds, cl: float = 0.9):
    """pyhf.infer.intervals.upper_limits.upper_limit (CLs, asymptotics, q~): (obs, expected band)."""
    import pyhf

    obs, exp = pyhf.infer.intervals.upper_limits.upper_limit(
        data,
        model,
        scan=None,
        level=1.0 - cl,
        init_pars=init,
        par_bounds=par_bounds,
        test_stat="qtilde",
        calctype="asymptotics",
    )
    return float(obs), [float(e) for e in exp]


def pyhf_observed_only(model, data, init, par_bounds, cl: float = 0.9, rtol: float = 1e-4, bracket=(1e-3, 50.0)):
    """Observed CLs limit only (toms748 on hypotest's observed CLs; same tolerance as upper_limit)."""
    import pyhf
    from scipy.optimize import toms748

    def f(mu):
        return float(
            pyhf.infer.hypotest(
                mu, data, model, init_pars=init, par_bounds=par_bounds, test_stat="qtilde", calctype="asymptotics"
            )
        ) - (1.0 - cl)

    lo, hi = bracket
    while f(hi) > 0:
        hi *= 2
    return float(toms748(f, lo, hi, k=2, xtol=2e-12, rtol=rtol))


def pyhf_qtilde(model, data, init, par_bounds, mu: float) -> float:
    """pyhf's q~_mu on the observed data (to compare the test statistic itself)."""
    import pyhf

    fixed = model.config.suggested_fixed()
    return float(pyhf.infer.test_statistics.qmu_tilde(mu, data, model, init, par_bounds, fixed))
