"""Simulation-based calibration (Talts et al., arXiv:1804.06788) of one fit.

Draw (POI, nuisances) from the model's own prior (the POI prior of the model TOML, background
normalisations, energy scale and per-bin template factors), simulate Poisson spectra from the same
expected-counts graph, fit each with NUTS (one compiled model, data swapped per replica), and rank
each true value among thinned posterior draws. If prior, simulator and posterior agree, the ranks
are uniform on 0..L; a chi-square test on binned ranks and a KS test on randomised fractional ranks
give p-values, and the study passes when every p-value is above alpha / (number of tests)
(Bonferroni). The POI is in units of the coupling scale (``TemplateSet.coupling_scale``).
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
import warnings
from dataclasses import dataclass, field

import numpy as np

from bayes_xmass.errors import InputError
from bayes_xmass.infer.forward_sampling import forward_sampling_mode
from bayes_xmass.infer.mode_starts import PROFILE_CHECK_DELTA_CHI2, mode_check_of
from bayes_xmass.infer.posterior_sampler import CHAIN_STARTS
from bayes_xmass.model.build import build_model
from bayes_xmass.model.data import model_data, template_rel_error
from bayes_xmass.model.likelihood import chi2_sigma
from bayes_xmass.model.poi_prior import POI_VALUE, PoiPrior
from bayes_xmass.model.spec import SamplerSettings
from bayes_xmass.model.targets import FitTarget
from bayes_xmass.response.templates import TemplateSet
from bayes_xmass.runtime.executor import describe_scheduler, run_tasks
from bayes_xmass.runtime.io import finite_for_json
from bayes_xmass.validation.setup import posterior_sampler_for

__all__ = [
    "SBC_ALPHA",
    "SBC_SEED",
    "SbcResult",
    "SbcSettings",
    "rank_uniformity",
    "run_sbc",
    "sbc_parameters",
    "simulate_prior",
]

SBC_SEED = 8128
SBC_ALPHA = 0.01


@dataclass(frozen=True)
class SbcSettings:
    """Size of an SBC study. ``rank_draws`` L thinned posterior draws per replica: ranks in 0..L."""

    replicas: int = 200
    chains: int = 2
    draws: int = 1000
    tune: int = 500
    target_accept: float = 0.95
    rank_draws: int = 99
    alpha: float = SBC_ALPHA
    seed: int = SBC_SEED
    adaptation: str = "diag"  # nutpie mass-matrix adaptation (the model TOML's, see model/spec.py)
    chain_starts: str = "mode"  # "mode" (infer/mode_starts.py) or "prior" (the earlier prior-scaled starts)

    def validate(self) -> None:
        for name, lo in (("replicas", 10), ("chains", 1), ("draws", 10), ("tune", 0), ("rank_draws", 9)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < lo:
                raise InputError(
                    "command line", f"--{name.replace('_', '-')}", f"must be an integer >= {lo}, got {v!r}"
                )
        if (self.rank_draws + 1) % 2:
            raise InputError(
                "command line",
                "--rank-draws",
                f"L + 1 must be even (ranks 0..L are binned), got L = {self.rank_draws}; e.g. 49 or 99",
            )
        if self.chains * self.draws < self.rank_draws:
            raise InputError(
                "command line",
                "--draws",
                f"chains x draws ({self.chains * self.draws}) must be >= --rank-draws ({self.rank_draws})",
            )
        if self.chain_starts not in CHAIN_STARTS:
            raise InputError("command line", "--chain-starts", f"must be one of {', '.join(CHAIN_STARTS)}")
        if not 0 < self.alpha < 0.5:
            raise InputError("command line", "--alpha", f"must be in (0, 0.5), got {self.alpha}")


@dataclass
class SbcResult:
    """Ranks (replica, parameter) of the true values among L thinned posterior draws, and the tests."""

    label: str
    parameters: list[str]
    ranks: np.ndarray
    truths: np.ndarray
    poi_ess: np.ndarray
    divergences: np.ndarray
    settings: SbcSettings
    tests: dict
    misspecification: dict
    provenance: dict = field(default_factory=dict)
    seconds: float = 0.0
    # per replica: largest profile Delta chi2 at a chain's median POI (infer/mode_starts.py; NaN: not checked)
    profile_delta_chi2: np.ndarray = field(default_factory=lambda: np.zeros(0))

    @property
    def passed(self) -> bool:
        return bool(self.tests["passed"])

    def summary(self) -> dict:
        return {
            "fit": self.label,
            "passed": self.passed,
            "replicas": int(self.ranks.shape[0]),
            "rank_draws": self.settings.rank_draws,
            "alpha_familywise": self.settings.alpha,
            "tests": self.tests,
            "misspecification": self.misspecification,
            "poi_ess_bulk_min": float(np.nanmin(self.poi_ess)),
            "poi_ess_bulk_median": float(np.nanmedian(self.poi_ess)),
            "replicas_with_divergences": int(np.sum(self.divergences > 0)),
            "replicas_flagged_by_profile_check": int(np.sum(self.profile_delta_chi2 > PROFILE_CHECK_DELTA_CHI2)),
            "profile_delta_chi2_max": float(np.nanmax(self.profile_delta_chi2))
            if np.isfinite(self.profile_delta_chi2).any()
            else None,
            "settings": dataclasses.asdict(self.settings),
            "seconds": round(self.seconds, 1),
        }

    def to_dataset(self):
        """The ranks, truths, POI ESS and divergences per replica as an xarray Dataset (summary and
        provenance as JSON attributes)."""
        import xarray as xr

        attrs = {
            "sbc_summary": json.dumps(finite_for_json(self.summary()), default=str),
            "provenance": json.dumps(self.provenance, default=str),
            "fit": self.label,
            "rank_max": self.settings.rank_draws,
            "seed": self.settings.seed,
        }
        return xr.Dataset(
            {
                "rank": (("replica", "parameter"), self.ranks.astype("int64")),
                "true_value": (("replica", "parameter"), self.truths),
                "poi_ess_bulk": ("replica", self.poi_ess),
                "divergences": ("replica", self.divergences.astype("int64")),
                "profile_delta_chi2": ("replica", self.profile_delta_chi2),
            },
            coords={"replica": np.arange(self.ranks.shape[0]), "parameter": self.parameters},
            attrs=attrs,
        )


def sbc_parameters(tpl: TemplateSet) -> list[str]:
    """POI and a few nuisances: energy scale (if free), the two largest free backgrounds, the
    template factor of the first bin (if the dataset gives template errors)."""
    params = [POI_VALUE]
    if not tpl.scale_prior.is_fixed:
        params.append("energy_scale")
    s0 = float(np.clip(1.0, tpl.scale_grid[0], tpl.scale_grid[-1]))
    totals = tpl.backgrounds(s0).sum(axis=1)
    free = [i for i, p in enumerate(tpl.background_priors) if not p.is_fixed]
    for i in sorted(free, key=lambda j: -totals[j])[:2]:
        params.append(f"norm_{tpl.background_names[i]}")
    if np.any(template_rel_error(tpl) > 0):
        params.append("gamma_z[0]")
    return params


def _values(ds, name: str) -> np.ndarray:
    """Values of parameter ``name`` (``var[i]`` = index i of the variable's last dimension)."""
    if name.endswith("]"):
        var, idx = name[:-1].split("[")
        return np.asarray(ds[var].values)[..., int(idx)]
    return np.asarray(ds[name].values)


def simulate_prior(tpl: TemplateSet, prior: PoiPrior, likelihood: str, n: int, seed: int, sign: int = 1):
    """``n`` draws of (POI, nuisances) from the model's prior and Poisson spectra from its expected
    counts: the PyMC prior of the very model that is fitted (sign-aware), and one Poisson
    generator per replica (seeded from ``seed``, so replicas do not depend on execution order)."""
    import pymc as pm

    if prior.kind in ("jeffreys", "improper"):
        raise InputError("model", "poi.prior.kind", f"SBC needs a generative POI prior, not {prior.kind!r}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = build_model(tpl, prior, sign=sign, likelihood=likelihood)  # PyMC only: no NUTS compile
    with model, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        draws = pm.sample_prior_predictive(
            draws=n, random_seed=np.random.default_rng([seed, 1]), compile_kwargs={"mode": forward_sampling_mode()}
        )["prior"].to_dataset()
    draws = draws.isel(chain=0).rename({"draw": "replica"})
    children = np.random.SeedSequence([seed, 2]).spawn(n)
    counts = np.stack([np.random.default_rng(c).poisson(draws["expected"].values[i]) for i, c in enumerate(children)])
    return draws, counts.astype("float64")


_STATE: dict = {}  # per-process: the template set of the running study (set by _init_replicas)


def _init_replicas(tpl: TemplateSet, prior: PoiPrior, likelihood: str, chain_starts: str = "mode") -> None:
    """Worker set-up (once per process): templates, and the compiled model of the fit."""
    _STATE["tpl"] = tpl
    posterior_sampler_for(tpl, prior, likelihood, chain_starts=chain_starts)


def _sbc_replica(task: dict) -> dict:
    """Fit one simulated spectrum; ranks of the true values among L evenly thinned draws."""
    tpl, prior = _STATE["tpl"], task["prior"]
    ps = posterior_sampler_for(tpl, prior, task["likelihood"], chain_starts=task["sampler_starts"])
    data = model_data(tpl, task["sign"], task["likelihood"])
    data["observed_counts"] = task["counts"]
    c = task["upper_factor"]
    if task["signal_factor"] != 1.0 or c != 1.0:
        # deliberate misspecification (to show the test can fail), without recompiling:
        # - signal templates x signal_factor: a wrong likelihood;
        # - term k x c^p_k and ranks against c * x: exactly the same model with the POI prior's range
        #   (upper, and floor) c times wider, since x' = c x is then the coupling in the old units
        powers = np.asarray(tpl.signal_powers, dtype=float)
        factor = task["signal_factor"] * c**powers
        data["signal_coefficients"] = data["signal_coefficients"] * factor[None, None, :, None]
    if task["likelihood"] == "chi2":
        data["chi2_sigma"] = chi2_sigma(task["counts"], tpl.background_errors)
    dt = ps.draw_posterior(data, task["sampler"], task["seed"])
    post = dt.posterior
    n_total = post.sizes["chain"] * post.sizes["draw"]
    L = task["rank_draws"]
    step = n_total // L
    idx = np.arange(L) * step + (n_total - step * L) // 2
    ranks = []
    for name, truth in zip(task["parameters"], task["truths"]):
        vals = _values(post, name) * (c if name == POI_VALUE else 1.0)
        flat = vals.reshape(n_total)[idx]
        ranks.append(int(np.sum(flat < truth)))
    import arviz as az

    ess = float(az.ess(dt, var_names=[POI_VALUE], method="bulk")[POI_VALUE])
    div = int(dt.sample_stats["diverging"].sum()) if "diverging" in dt.sample_stats else 0
    check = mode_check_of(dt)
    profile = float(check["max_delta_chi2"]) if check else float("nan")
    return {"ranks": ranks, "ess": ess, "divergences": div, "profile_delta_chi2": profile}


def rank_uniformity(
    ranks: np.ndarray, rank_max: int, *, alpha: float = SBC_ALPHA, seed: int = SBC_SEED, n_bins: int | None = None
) -> dict:
    """Uniformity tests of SBC ranks in 0..rank_max, one column per parameter.

    - chi-square on ``n_bins`` equal-width bins of the rank (n_bins divides rank_max + 1; default:
      the largest of 20, 10, 5, 4, 2 with >= 5 expected per bin);
    - Kolmogorov-Smirnov on randomised fractional ranks u = (rank + V) / (rank_max + 1),
      V ~ U(0, 1) from ``seed`` (exactly U(0, 1) under the null).

    ``passed`` when every p-value >= alpha / (2 * n_parameters) (Bonferroni, family-wise alpha).
    """
    from scipy import stats

    ranks = np.asarray(ranks)
    if ranks.ndim == 1:
        ranks = ranks[:, None]
    n, k = ranks.shape
    values = rank_max + 1
    if n_bins is None:
        n_bins = next((b for b in (20, 10, 5, 4, 2) if values % b == 0 and n / b >= 5), 2 if values % 2 == 0 else 1)
    if n_bins < 2 or values % n_bins:
        raise ValueError(f"n_bins = {n_bins} must be >= 2 and divide rank_max + 1 = {values}")
    rng = np.random.default_rng([seed, 3])
    per_test = alpha / (2 * k)
    out = {"n_bins": n_bins, "alpha_familywise": alpha, "alpha_per_test": per_test, "parameters": {}}
    ok = True
    for j in range(k):
        r = ranks[:, j]
        hist = np.bincount(r * n_bins // values, minlength=n_bins)
        chi2, p_chi2 = stats.chisquare(hist)
        u = (r + rng.uniform(size=n)) / values
        ks = stats.kstest(u, "uniform")
        passed = bool(p_chi2 >= per_test and ks.pvalue >= per_test)
        ok &= passed
        out["parameters"][j] = {
            "chi2": float(chi2),
            "chi2_dof": n_bins - 1,
            "chi2_p": float(p_chi2),
            "ks_stat": float(ks.statistic),
            "ks_p": float(ks.pvalue),
            "histogram": hist.tolist(),
            "passed": passed,
        }
    out["passed"] = bool(ok)
    out["min_p"] = float(min(min(v["chi2_p"], v["ks_p"]) for v in out["parameters"].values()))
    return out


def run_sbc(
    tpl: TemplateSet,
    target: FitTarget,
    prior: PoiPrior,
    settings: SbcSettings = SbcSettings(),
    *,
    likelihood: str = "poisson",
    fit_prior: PoiPrior | None = None,
    fit_signal_factor: float = 1.0,
    compiled_prior: PoiPrior | None = None,
    parameters: list[str] | None = None,
    scheduler=None,
    processes: int | None = 1,
    provenance: dict | None = None,
    log=None,
) -> SbcResult:
    """Simulation-based calibration of one fit.

    Truths are drawn from ``prior`` (and the dataset's nuisance priors); the fit uses ``fit_prior``
    (default: the same) and signal templates multiplied by ``fit_signal_factor`` (default 1); the
    last two exist to show that the test fails for a wrong model.

    ``compiled_prior``: the model that is compiled (default ``fit_prior``). It may differ from
    ``fit_prior`` by the range only (same kind and power; log-uniform floor/upper ratio kept): with
    c = fit upper / compiled upper, signal term k is scaled by c^p_k and the POI draws by c, which is
    exactly the model with the range c times wider, so any range is studied with one compilation.
    ``processes``/``scheduler``: :func:`bayes_xmass.runtime.executor.run_tasks`.
    """
    fit_prior = fit_prior or prior
    compiled_prior = compiled_prior or fit_prior
    c = fit_prior.upper / compiled_prior.upper
    same_shape = dataclasses.replace(compiled_prior, upper=fit_prior.upper, floor=compiled_prior.floor * c)
    if not (
        same_shape.kind == fit_prior.kind
        and same_shape.power == fit_prior.power
        and (fit_prior.kind != "log_uniform" or math.isclose(same_shape.floor, fit_prior.floor))
    ):
        raise ValueError("compiled_prior may differ from fit_prior by its range only")
    if c != 1.0 and fit_prior.kind not in ("flat", "flat_power", "log_uniform"):
        raise InputError("command line", "--fit-prior-upper-factor", "needs a flat, flat_power or log_uniform prior")
    settings.validate()
    started = time.perf_counter()
    params = parameters or sbc_parameters(tpl)
    draws, counts = simulate_prior(tpl, prior, likelihood, settings.replicas, settings.seed, target.sign)
    truths = np.column_stack([_values(draws, p) for p in params])
    sampler = SamplerSettings(
        "nutpie", settings.chains, settings.draws, settings.tune, settings.target_accept, adaptation=settings.adaptation
    )
    seeds = np.random.SeedSequence([settings.seed, 4]).generate_state(settings.replicas)
    tasks = [
        {
            "prior": compiled_prior,
            "likelihood": likelihood,
            "sign": target.sign,
            "counts": counts[i],
            "signal_factor": float(fit_signal_factor),
            "upper_factor": float(c),
            "sampler": sampler,
            "sampler_starts": settings.chain_starts,
            "seed": int(seeds[i]),
            "rank_draws": settings.rank_draws,
            "parameters": params,
            "truths": truths[i].tolist(),
        }
        for i in range(settings.replicas)
    ]
    if log:
        log(
            f"[sbc {target.label}] {settings.replicas} replicas x {settings.chains} chains x {settings.draws} draws, "
            f"ranks among {settings.rank_draws} thinned draws; parameters {', '.join(params)}"
        )
    rows = run_tasks(
        _sbc_replica,
        tasks,
        scheduler=scheduler,
        processes=processes,
        init=_init_replicas,
        init_args=(tpl, compiled_prior, likelihood, settings.chain_starts),
    )
    provenance = {
        **(provenance or {}),
        "execution": describe_scheduler(scheduler, processes),
        "replica_seeds": "numpy SeedSequence([seed, 2]) spawn (Poisson) and ([seed, 4]) (NUTS), one per replica",
    }
    ranks = np.array([r["ranks"] for r in rows], dtype="int64")
    tests = rank_uniformity(ranks, settings.rank_draws, alpha=settings.alpha, seed=settings.seed)
    tests["parameters"] = {params[j]: v for j, v in tests["parameters"].items()}
    same = (
        fit_prior.kind == prior.kind
        and math.isclose(fit_prior.upper, prior.upper)
        and fit_prior.power == prior.power
        and math.isclose(fit_prior.floor, prior.floor)
    )
    mis = {
        "fit_prior": fit_prior.describe(),
        "simulation_prior": prior.describe(),
        "compiled_prior": compiled_prior.describe(),
        "fit_signal_factor": float(fit_signal_factor),
        "wrong_model": not same or fit_signal_factor != 1.0,
    }
    result = SbcResult(
        target.label,
        params,
        ranks,
        truths,
        np.array([r["ess"] for r in rows]),
        np.array([r["divergences"] for r in rows]),
        settings,
        tests,
        mis,
        provenance,
        time.perf_counter() - started,
        np.array([r["profile_delta_chi2"] for r in rows], dtype=float),
    )
    if log:
        log(
            f"[sbc {target.label}] {'PASSED' if result.passed else 'FAILED'}: "
            + "; ".join(f"{p} chi2 p={v['chi2_p']:.3g} KS p={v['ks_p']:.3g}" for p, v in tests["parameters"].items())
        )
    return result
