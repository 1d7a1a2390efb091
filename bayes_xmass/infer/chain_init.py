"""Starting points of the NUTS chains, on the scale of the priors.

PyMC's and nutpie's default start is the model's support point plus a U(-1, 1) jitter of every free
variable in the sampler's unconstrained space. For a nuisance with a narrow prior that is far outside
the prior: the energy scale (prior Normal(1, 0.15)) starts anywhere in [0, 2], up to 6.7 sigma away;
a normalisation with a log transform anywhere in [0.37, 2.7] times its centre. A chain started there
can settle in a far secondary mode of the likelihood and never leave it (seen: B-L at 1 keV, one of
four chains at energy scale 0.64 with log p 24 below the main mode, 2909 divergences, R-hat 1.5).

Here chain ``c`` starts at ``centre + PRIOR_SHRINK * (prior draw - centre)`` in the unconstrained
space, where ``centre`` is the support point (the prior's mean or median) and the prior draw is a
forward draw of the model's priors (seeded per chain): overdispersed relative to the posterior, as
R-hat needs, but on the priors' own scale. Every prior parameter is read from the model's current
pm.Data, so a compiled model gets the starts of whatever priors it was last given.

The POI is the exception: it starts in the lowest percent of its prior, at a uniform fraction in
POI_START_FRACTION of its range (``poi_quantile_scaled``, or x for a Jeffreys prior). The priors are wide by
design, so their middle is a huge signal (x = 14 for the magnetic moment, 9 times its limit); chains
started there moved the energy scale to 0.3 and the normalisations to extremes during the first
warm-up steps to get rid of that signal, and some stayed in a far mode (log p 25-33 below the main
one, R-hat up to 2.2), on Asimov data with a signal as well as on the benchmark.

>>> import numpy as np, pymc as pm
>>> with pm.Model() as m:
...     s = pm.Normal("energy_scale", 1.0, 0.15)
>>> start = initial_point_function(m)
>>> starts = np.array([start(seed)["energy_scale"] for seed in range(2000)])
>>> bool(abs(starts.std() - PRIOR_SHRINK * 0.15) < 0.01), bool(abs(starts.mean() - 1.0) < 0.01)
(True, True)
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from bayes_xmass.model.poi_transform import forward_numpy

__all__ = [
    "POI_SOFT_START_VARIABLE",
    "POI_START_FRACTION",
    "POI_START_VARIABLES",
    "PRIOR_SHRINK",
    "flat_initial_point_function",
    "initial_point_function",
    "pymc_initvals",
    "with_prior_scaled_starts",
]

PRIOR_SHRINK = 0.5  # starts spread over half the prior's width (in the unconstrained space)
POI_START_FRACTION = (0.001, 0.01)  # POI starts: this fraction of its prior range (uniform within)
POI_START_VARIABLES = ("x_interval__",)  # x ~ U(0, upper) (Jeffreys prior): logit coordinate
POI_SOFT_START_VARIABLE = "poi_quantile_scaled_softinterval__"  # v ~ U(0, K): poi_transform.SoftInterval


def initial_point_function(model: Any, shrink: float = PRIOR_SHRINK) -> Callable[[int], dict[str, np.ndarray]]:
    """``f(seed) -> {value-variable name: start}`` in the unconstrained (transformed) space."""
    from pymc.initial_point import make_initial_point_fn

    if not 0.0 <= shrink <= 1.0:
        raise ValueError(f"shrink must be in [0, 1], got {shrink}")
    centre = make_initial_point_fn(
        model=model, jitter_rvs=set(), default_strategy="support_point", return_transformed=True
    )
    prior = make_initial_point_fn(model=model, jitter_rvs=set(), default_strategy="prior", return_transformed=True)
    explicit = {model.rvs_to_values[rv].name for rv, v in model.rvs_to_initial_values.items() if v is not None}
    lock = threading.Lock()  # nutpie asks for the chains' starts from several threads

    def starts(seed: int) -> dict[str, np.ndarray]:
        with lock:
            c, d = centre(seed), prior(seed)
        # a start fixed in the model (initval) is kept as given
        out = {k: (np.asarray(c[k]) if k in explicit else np.asarray(c[k] + shrink * (d[k] - c[k]))) for k in c}
        for k in POI_START_VARIABLES:
            if k in out and k not in explicit:  # an interval transform: log(f / (1 - f)) for fraction f
                f = np.random.default_rng(seed).uniform(*POI_START_FRACTION)
                out[k] = np.asarray(np.log(f / (1.0 - f)))
        k = POI_SOFT_START_VARIABLE
        if k in out and k not in explicit:  # its centre K / 2 is w = K / 2: start at v = f K
            f = np.random.default_rng(seed).uniform(*POI_START_FRACTION)
            size = 2.0 * float(c[k])
            out[k] = np.asarray(forward_numpy(f * size, size))
        return out

    return starts


def flat_initial_point_function(
    model: Any, names: Sequence[str], shapes: Sequence[Sequence[int]], shrink: float = PRIOR_SHRINK
) -> Callable[[int], np.ndarray]:
    """The same starts as one flat float64 vector in the order ``names`` (nutpie's layout)."""
    fn = initial_point_function(model, shrink)
    sizes = [int(np.prod(s)) for s in shapes]

    def flat(seed: int) -> np.ndarray:
        point = fn(seed)
        out = np.empty(sum(sizes), dtype="float64")
        cursor = 0
        for name, shape, n in zip(names, shapes, sizes, strict=True):
            value = np.asarray(point[name], dtype="float64")
            if value.shape != tuple(shape):
                raise ValueError(f"start of {name} has shape {value.shape}, expected {tuple(shape)}")
            out[cursor : cursor + n] = value.ravel()
            cursor += n
        return out

    return flat


def with_prior_scaled_starts(compiled: Any, model: Any, shrink: float = PRIOR_SHRINK) -> Any:
    """A nutpie compiled PyMC model whose chains start as :func:`initial_point_function` says."""
    import dataclasses

    all_names, _, all_shapes = compiled.shape_info  # free value variables first (model.free_RVs order)
    names = [model.rvs_to_values[rv].name for rv in model.free_RVs]
    if list(all_names[: len(names)]) != names:
        raise RuntimeError("nutpie's variable layout differs from model.free_RVs; cannot set chain starts")
    shapes = all_shapes[: len(names)]
    return dataclasses.replace(compiled, initial_point_func=flat_initial_point_function(model, names, shapes, shrink))


def pymc_initvals(model: Any, chains: int, seed: int, shrink: float = PRIOR_SHRINK) -> list[dict[str, np.ndarray]]:
    """Per-chain starts for ``pm.sample(initvals=..., init="adapt_diag")``, keyed by random-variable
    name in the constrained space (the same points as the nutpie path)."""
    import pytensor

    fn = initial_point_function(model, shrink)
    rvs = list(model.free_RVs)
    values = [model.rvs_to_values[rv] for rv in rvs]
    backward = []
    for rv, value in zip(rvs, values, strict=True):
        tr = model.rvs_to_transforms.get(rv)
        backward.append(value if tr is None else tr.backward(value, *rv.owner.inputs))
    to_constrained = pytensor.function(values, backward, on_unused_input="ignore")
    rng = np.random.default_rng(seed)
    out = []
    for s in rng.integers(0, 2**31, size=chains):
        point = fn(int(s))
        constrained = to_constrained(*[point[v.name] for v in values])
        out.append({rv.name: np.asarray(c) for rv, c in zip(rvs, constrained, strict=True)})
    return out
