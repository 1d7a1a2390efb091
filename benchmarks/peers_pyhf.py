"""A HistFactory (pyhf) model equivalent to one bayes_xmass fit, for bench_peers.py section (b).

The mapping of our model to HistFactory is the package's own
(:func:`bayes_xmass.outputs.pyhf_workspace.pyhf_workspace`, the one ``bayes-xmass export pyhf``
writes; the table of what is exact and why is in its docstring and in docs/export-pyhf.md). Here
the model is built from that workspace with the interpolation codes under which every mapped
piece is exact (normsys code1: the log-normal normalisation exactly; histosys code0), and the
energy-scale systematic must be switched off (its histosys is only an approximation of our
horizontal morphing), as bench_peers.py does in both models.
"""

from __future__ import annotations

import numpy as np

from bayes_xmass.outputs.pyhf_workspace import STATERROR, pyhf_workspace

EXACT_CODES = {"normsys": {"interpcode": "code1"}, "histosys": {"interpcode": "code0"}}


def build_pyhf_model(tpl, optimizer: str = "scipy", sign: int = 1):
    """(pyhf.Model, data tensor, init, par_bounds, notes) for a template set with a fixed energy scale.

    ``optimizer``: pyhf's default ``scipy`` (SLSQP; with the numpy backend gradients are finite
    differences) or ``minuit`` (iminuit MIGRAD; ~50x faster on the 108-parameter model here).
    Bounds and inits are the workspace measurement's (truncations, POI range).
    """
    import pyhf

    if tpl.scale_grid.size != 1:
        raise ValueError("HistFactory cannot morph templates horizontally; fix the energy scale first")
    pyhf.set_backend("numpy", pyhf.optimize.minuit_optimizer(tolerance=1e-4) if optimizer == "minuit" else "scipy")
    export = pyhf_workspace(tpl, sign=sign)
    workspace = pyhf.Workspace(export.workspace)
    model = workspace.model(modifier_settings=EXACT_CODES)
    data = np.asarray(workspace.data(model))
    notes = [f"{c.status}: {c.ours} -> {c.pyhf} ({c.note})" for c in export.components if c.note]
    return model, data, model.config.suggested_init(), model.config.suggested_bounds(), notes


def staterror_sigmas(model) -> np.ndarray:
    """pyhf's per-bin relative uncertainties of the staterror gammas (to check against ours)."""
    for name, ps in model.config.par_map.items():
        if name == STATERROR:
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
