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

from bayes_xmass.model.poi_prior import POI_PRIOR_PARAMETERS, POI_REFERENCE
from bayes_xmass.model.poi_transform import forward_numpy, prior_quantile_numpy, quantile_range_numpy

__all__ = [
    "POI_SOFT_START_VARIABLE",
    "POI_START_FRACTION",
    "POI_START_VARIABLES",
    "PRIOR_SHRINK",
    "centre_point_function",
    "flat_initial_point_function",
    "flatten_starts",
    "initial_point_function",
    "mode_initial_point_function",
    "nutpie_layout",
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


def mode_initial_point_function(
    base: Callable[[int], dict[str, np.ndarray]],
    model: Any,
    plan: Any,
    layout: Sequence[tuple[str, tuple[int, ...], int]],
) -> Callable[[int], dict[str, np.ndarray]]:
    """Starts around the likelihood's dominant mode (``plan``: a :class:`bayes_xmass.infer.mode_starts.StartPlan`): the
    POI and the nuisances of ``layout`` (the profile likelihood's unconstrained coordinates, which are
    the model's) drawn by ``plan.draw(seed)``, the template factors at the mode's profiled values;
    any other variable as ``base`` (:func:`initial_point_function`) gives it. Reads the model's
    current pm.Data (POI prior parameters, template errors)."""
    values = {v.name for v in model.value_vars}
    gamma_z = None
    if plan.mode.gamma is not None and "gamma_z" in values:
        delta = np.asarray(model["template_rel_error"].get_value(), dtype=float)
        safe = np.where(delta > 0, delta, 1.0)
        gamma_z = np.where(delta > 0, (plan.mode.gamma - 1.0) / safe, 0.0)
    poi_key, poi_value = _poi_coordinate(model, values, plan.x_upper)

    def starts(seed: int) -> dict[str, np.ndarray]:
        out = base(seed)
        x, nuisances = plan.draw(seed)
        cursor = 0
        for name, shape, size in layout:
            if name in out:
                out[name] = np.reshape(nuisances[cursor : cursor + size], shape)
            cursor += size
        if gamma_z is not None:
            out["gamma_z"] = gamma_z.copy()
        if poi_key is not None:
            out[poi_key] = np.asarray(poi_value(x))
        return out

    return starts


def _poi_coordinate(model: Any, values: set[str], x_upper: float) -> tuple[str | None, Callable[[float], float]]:
    """(the POI's unconstrained variable, x -> its value) for the quantile-form and Jeffreys priors."""
    if POI_SOFT_START_VARIABLE in values:
        par = np.asarray(model[POI_PRIOR_PARAMETERS].get_value(), dtype=float)
        k = quantile_range_numpy(par, float(model[POI_REFERENCE].get_value()))

        def soft(x: float) -> float:
            u = float(np.clip(prior_quantile_numpy(par, x), 1e-9, 1.0 - 1e-9))
            return forward_numpy(k * u, k)

        return POI_SOFT_START_VARIABLE, soft
    for key in POI_START_VARIABLES:  # x ~ U(0, upper): logit coordinate
        if key in values:
            return key, lambda x: float(np.log(x / (x_upper - x)))
    return None, float


def flatten_starts(
    fn: Callable[[int], dict[str, np.ndarray]], names: Sequence[str], shapes: Sequence[Sequence[int]]
) -> Callable[[int], np.ndarray]:
    """The starts of ``fn`` as one flat float64 vector in the order ``names`` (nutpie's layout)."""
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


def centre_point_function(model: Any) -> Callable[[], dict[str, np.ndarray]]:
    """``f() -> {value-variable name: the prior's support point}`` in the unconstrained space (reads the
    model's current pm.Data)."""
    from pymc.initial_point import make_initial_point_fn

    fn = make_initial_point_fn(model=model, jitter_rvs=set(), default_strategy="support_point", return_transformed=True)
    lock = threading.Lock()

    def centre() -> dict[str, np.ndarray]:
        with lock:
            return {k: np.asarray(v) for k, v in fn(0).items()}

    return centre


def flat_initial_point_function(
    model: Any, names: Sequence[str], shapes: Sequence[Sequence[int]], shrink: float = PRIOR_SHRINK
) -> Callable[[int], np.ndarray]:
    """:func:`initial_point_function`'s starts as one flat float64 vector in the order ``names``."""
    return flatten_starts(initial_point_function(model, shrink), names, shapes)


def with_prior_scaled_starts(compiled: Any, model: Any, shrink: float = PRIOR_SHRINK) -> Any:
    """A nutpie compiled PyMC model whose chains start as :func:`initial_point_function` says."""
    import dataclasses

    names, shapes = nutpie_layout(compiled, model)
    return dataclasses.replace(compiled, initial_point_func=flat_initial_point_function(model, names, shapes, shrink))


def nutpie_layout(compiled: Any, model: Any) -> tuple[list[str], list[Sequence[int]]]:
    """(names, shapes) of the free value variables in a nutpie compiled model's flat vector."""
    all_names, _, all_shapes = compiled.shape_info  # free value variables first (model.free_RVs order)
    names = [model.rvs_to_values[rv].name for rv in model.free_RVs]
    if list(all_names[: len(names)]) != names:
        raise RuntimeError("nutpie's variable layout differs from model.free_RVs; cannot set chain starts")
    return names, list(all_shapes[: len(names)])


def pymc_initvals(
    model: Any,
    chains: int,
    seed: int,
    shrink: float = PRIOR_SHRINK,
    fn: Callable[[int], dict[str, np.ndarray]] | None = None,
) -> list[dict[str, np.ndarray]]:
    """Per-chain starts for ``pm.sample(initvals=..., init="adapt_diag")``, keyed by random-variable
    name in the constrained space (the same points as the nutpie path; ``fn``: the start function,
    default :func:`initial_point_function`)."""
    import pytensor

    fn = fn or initial_point_function(model, shrink)
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
