"""Per-fit outputs: NetCDF DataTree, diagnostics plots, and a Markdown section.

Files for a fit labelled L in run directory D:
``D/L.nc``, ``D/plots/L_trace.png``, ``D/plots/L_rank.png``, ``D/plots/L_poi.png``,
``D/plots/L_ppc.png``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from bayes_xmass.errors import InputError
from bayes_xmass.infer.posterior_summary import PRIOR_BOUND_MAX, Diagnostics
from bayes_xmass.outputs.compare import PRIOR_BOUND_FOOTNOTE, PRIOR_BOUND_MARK, WARNING_MARK
from bayes_xmass.outputs.plot_convergence import plot_rank, plot_trace
from bayes_xmass.outputs.plot_fits import plot_poi_posterior, plot_ppc_spectrum
from bayes_xmass.response.detector import MorphingTemplates
from bayes_xmass.runtime.io import write_with

__all__ = [
    "COMPRESSED_GROUPS",
    "DIAGNOSTIC_VARS_EXCLUDE",
    "FLOAT32_VARS",
    "NETCDF_COMPLEVEL",
    "PLOT_VARS_EXCLUDE",
    "RANK_PLOT_DRAWS",
    "markdown_section",
    "open_datatree",
    "plotted_scalar_vars",
    "signal_counts_at_limit",
    "write_datatree",
    "write_fit_plots",
]

DIAGNOSTIC_VARS_EXCLUDE = ("gamma_z", "gamma", "expected", "signal_expected", "norm", "coupling")
# the POI's sampler coordinates: monotone functions of x, so their rank plots are x's and their traces
# x's on another axis (their R-hat and ESS are still checked: bayes.diagnostics)
PLOT_VARS_EXCLUDE = ("poi_quantile", "poi_quantile_scaled")


COMPRESSED_GROUPS = ("posterior", "prior", "sample_stats", "posterior_predictive", "prior_predictive")
# zlib level 1: magnetic-moment run file 8.93 MB in 0.24 s, level 4 8.87 MB in 0.36 s, none 11.8 MB (measured)
NETCDF_COMPLEVEL = 1
FLOAT32_VARS = ("gamma_z",)  # many per-bin nuisances; single precision is ample for them


def _encoding(dt) -> dict:
    enc = {}
    for group in COMPRESSED_GROUPS:
        if group not in dt.children:
            continue
        per_var = {}
        for name, var in dt[group].to_dataset().data_vars.items():
            if var.dtype.kind in "fiub":
                per_var[name] = {"zlib": True, "complevel": NETCDF_COMPLEVEL}
                if name in FLOAT32_VARS:
                    per_var[name]["dtype"] = "float32"
        enc[f"/{group}"] = per_var
    return enc


def write_datatree(dt, path: Path, overwrite: bool = False) -> Path:
    """Write a DataTree to NetCDF atomically (netCDF4 engine, zlib-compressed sample groups)."""
    return write_with(path, lambda tmp: dt.to_netcdf(tmp, engine="netcdf4", encoding=_encoding(dt)), overwrite)


def open_datatree(path: Path):
    """Re-open a saved run (xarray DataTree, netCDF4 engine: no pickle). A missing, truncated or
    non-NetCDF file raises :class:`~bayes_xmass.errors.InputError` naming it."""
    import xarray as xr

    path = Path(path)
    if not path.is_file():
        raise InputError(path, "netcdf", "not found (or not a file)")
    try:
        return xr.open_datatree(path, engine="netcdf4")
    except (OSError, ValueError, KeyError, RuntimeError, TypeError) as exc:
        reason = " ".join(str(exc).split())[:200] or type(exc).__name__
        raise InputError(path, "netcdf", f"cannot read (truncated or not a NetCDF file?): {reason}") from None


def plotted_scalar_vars(dt) -> list[str]:
    """Scalar sampled parameters shown in the trace and rank plots (x, not its sampler coordinates)."""
    post = dt.posterior
    return [
        v
        for v in post.data_vars
        if v not in DIAGNOSTIC_VARS_EXCLUDE
        and post[v].ndim == 2
        and not (v in PLOT_VARS_EXCLUDE and "x" in post.data_vars)
    ]


RANK_PLOT_DRAWS = 1000


def write_fit_plots(
    dt, limit: Mapping[str, Any], out_dir: Path, label: str, *, profile=None, freq_limit=None, overwrite: bool = False
) -> dict[str, Path]:
    """Trace, rank, POI-posterior and posterior-predictive plots for one fit."""
    plots = Path(out_dir) / "plots"
    names = plotted_scalar_vars(dt)
    paths = {}
    # x is the POI in units of the coupling scale (attrs: coupling_scale); norms and the energy
    # scale are dimensionless multipliers
    post = {v: np.asarray(dt.posterior[v].transpose("chain", "draw").values) for v in names}
    stats = dt.children.get("sample_stats")
    diverging = None
    if stats is not None and "diverging" in stats.data_vars:
        diverging = np.asarray(stats["diverging"].transpose("chain", "draw").values, dtype=bool)
    paths["trace"] = plot_trace(
        post, title=f"{label}: trace", diverging=diverging, out=plots / f"{label}_trace.png", overwrite=overwrite
    )
    # the rank test costs ~O(draws^2): thin to <= RANK_PLOT_DRAWS per chain (ranks of evenly thinned
    # draws are as uniform as the full ones for a converged run)
    step = max(1, -(-dt.posterior.sizes["draw"] // RANK_PLOT_DRAWS))
    thinned = {v: a[:, ::step] for v, a in post.items()}
    kept = next(iter(thinned.values())).shape[1] if thinned else 0
    paths["rank"] = plot_rank(
        thinned,
        title=f"{label}: rank Δ-ECDF" + (f" (draws thinned by {step}: {kept} per chain)" if step > 1 else ""),
        out=plots / f"{label}_rank.png",
        overwrite=overwrite,
    )
    scale = float(dt.attrs["coupling_scale"])
    unit = dt.attrs.get("coupling_unit", "")
    paths["poi"] = plot_poi_posterior(
        dt.posterior["x"].values * scale,
        limit["limit"],
        cl=limit["cl"],
        unit=unit,
        label=f"{label}: {dt.attrs.get('poi', 'POI')}",
        out=plots / f"{label}_poi.png",
        profile=profile,
        freq_limit=freq_limit,
        overwrite=overwrite,
    )
    ppc = dt.posterior_predictive
    counts = ppc["counts"].stack(sample=("chain", "draw")).transpose("sample", ...).values
    expected = ppc["expected"].stack(sample=("chain", "draw")).transpose("sample", ...).values
    signal = ppc["signal_expected"].stack(sample=("chain", "draw")).transpose("sample", ...).values
    background = np.median(expected - signal, axis=0)
    sig_at_limit = signal_counts_at_limit(dt, limit)
    edges = _bin_edges(dt)
    exposure = float(dt.attrs.get("exposure_kg_day", 1.0))
    paths["ppc"] = plot_ppc_spectrum(
        edges,
        dt.observed_data["counts"].values,
        counts,
        background,
        sig_at_limit,
        label=f"{label}: data vs posterior predictive",
        out=plots / f"{label}_ppc.png",
        exposure_kg_day=exposure,
        overwrite=overwrite,
    )
    return paths


def _bin_edges(dt) -> np.ndarray:
    return np.asarray(dt.constant_data["bin_edges_keV"].values)


def signal_counts_at_limit(dt, limit: dict) -> np.ndarray:
    """Signal counts per bin at the credible limit, nominal energy scale (from the stored templates)."""
    cd = dt.constant_data
    coeffs = cd["signal_coefficients"].values
    grid = cd["scale_grid"].values
    tpl = MorphingTemplates(grid, np.zeros((grid.size,) + coeffs.shape[2:]), coeffs)
    s = float(np.clip(1.0, grid[0], grid[-1]))
    x = limit["limit_scaled"]
    c = cd["signal_sign_factors"].values * x ** cd["signal_powers"].values
    return c @ tpl(s)


def markdown_section(
    label: str, limit: dict, diag: Diagnostics, attrs: dict, plots: dict[str, Path], run_dir: Path
) -> str:
    """A Markdown section for summary.md."""
    status = "PASSED" if diag.ok else "FAILED: " + "; ".join(diag.failures)
    rel = {k: Path(v).relative_to(run_dir).as_posix() for k, v in plots.items()}
    bound = bool(limit.get("warning")) or diag.prior_bound_fraction > PRIOR_BOUND_MAX
    mark = PRIOR_BOUND_MARK if bound else (WARNING_MARK if not diag.ok else "")
    return "\n".join(
        [
            f"### {label}",
            "",
            f"- {limit['cl']:.0%} credible upper limit on |{attrs.get('poi')}|: **{limit['limit']:.4g} "
            f"{limit['coupling_unit']}**{' ' + mark if mark else ''} (MCSE {limit['mcse']:.2g}); "
            f"POI prior {attrs.get('poi_prior')}",
            *([f"- {PRIOR_BOUND_FOOTNOTE}"] if bound else []),
            *(
                [f"- {WARNING_MARK} the sampling diagnostics failed (below): do not quote this limit as it is"]
                if diag.sampling_failures
                else []
            ),
            f"- sampler {attrs.get('sampler')} {attrs.get('sampler_settings')}, seed {attrs.get('seed')}, "
            f"{attrs.get('sampling_seconds')} s; likelihood {attrs.get('likelihood')}; atomic model "
            f"{attrs.get('atomic_model')}",
            f"- diagnostics {status}: max R-hat {diag.rhat_max:.4f}, min bulk ESS {diag.ess_bulk_min:.0f}, "
            f"min tail ESS {diag.ess_tail_min:.0f}, POI bulk ESS {diag.poi_ess_bulk:.0f}, divergences "
            f"{diag.divergences}, min BFMI {diag.bfmi_min:.2f}",
            "",
            f"![POI posterior]({rel['poi']}) ![spectrum]({rel['ppc']})",
            "",
            f"Trace: [{rel['trace']}]({rel['trace']}); rank: [{rel['rank']}]({rel['rank']})",
            "",
        ]
    )
