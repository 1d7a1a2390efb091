"""Convert LZ's low-energy ER spectra (WS2022, WS2024) into bayes_xmass dataset folders.

Input (third-party digitisations of LZ's figures, via SNuDD; a copy is in ``../shared/data/lz_er/``):

- ``WS20xx_data_hist_data.txt``: observed events per 1-keV bin (bin centre keV, counts), 0-20 keV;
- ``BKG_FIT_WS20xx.csv``: LZ's best-fit total background (keVee, counts per keV for the run's whole
  exposure) at the bin centres, efficiency folded in;
- ``WS20xx_1DROI_eff_data.txt``: efficiency vs energy [keV], 0-20 keV.

The best-fit total is a per-bin expectation, so it is written as a step curve (one value per bin).
For WS2022 the 37Ar K-shell line (2.82 keV) is its own component: a true-energy line folded by the
response, normalised to LZ's fitted count with its uncertainty as prior; the rest of the best fit
(total minus that line) is a second component. WS2024 has no 37Ar (it decayed, T1/2 = 35 d).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bayes_xmass.converters.release_tables import DatasetFolder, csv_block, folded_counts, read_columns, step_curve
from bayes_xmass.errors import InputError
from bayes_xmass.physics.constants import DAYS_PER_YEAR
from bayes_xmass.physics.radioactivity import line

__all__ = ["AR37_K_LINE_KEV", "LZ_RUNS", "LzRun", "convert_lz"]

AR37_K_LINE_KEV = 2.8224  # 37Ar K-shell electron-capture energy (ENSDF; LZ PRD 108 072006)
# The 37Ar count and its uncertainty (LzRun.ar37) are the WS2022 fit results listed by SNuDD as
# "WS2022 1D fit results" for arXiv:2511.17350; not checked against the paper's table here.
AR37_LINE_WIDTH_KEV = 0.01  # a line in true energy; the detector resolution sets the folded width


@dataclass(frozen=True)
class LzRun:
    """One LZ run: file stem, exposure (t yr), resolution sigma = a sqrt(E) + b E, 37Ar (count, sigma)
    or None, the relative prior width of the rest of the background, and citations."""

    name: str
    stem: str
    exposure_t_yr: float
    resolution_ab: tuple[float, float]
    ar37: tuple[float, float] | None
    rest_rel_sigma: float
    citation: str
    exposure_note: str


LZ_RUNS: dict[str, LzRun] = {
    # WS2022: 60 live days x 5.5 t fiducial (PRD 108 (2023) 072006)
    "ws2022": LzRun(
        "lz-ws2022",
        "WS2022",
        60.0 * 5.5 / DAYS_PER_YEAR,
        (0.33, 0.0),
        (47.6, 9.4),  # fitted 37Ar of LZ's WS2022 1D fit, as transcribed by SNuDD (arXiv:2511.17350)
        0.05,
        "LZ Collaboration, PRD 108 (2023) 072006, arXiv:2307.15753",
        "60 live days x 5.5 t fiducial (PRD 108 072006)",
    ),
    # WS2024: 3.3 t yr of the 4.2 t yr total (arXiv:2511.17350)
    "ws2024": LzRun(
        "lz-ws2024",
        "WS2024",
        3.3,
        (0.33, 0.0),
        None,
        0.05,
        "LZ Collaboration, arXiv:2511.17350",
        "WS2024 share of the 4.2 t yr exposure (arXiv:2511.17350)",
    ),
}


def _bins_from_centres(path: Path, centres: np.ndarray) -> np.ndarray:
    widths = np.diff(centres)
    if not np.allclose(widths, 1.0, atol=1e-6):
        raise InputError(path, "energy", "expected contiguous 1-keV bins (bin centres 1 keV apart)")
    return np.append(centres - 0.5, centres[-1] + 0.5)


def convert_lz(release: Path, out: Path, run: str = "ws2022", overwrite: bool = False) -> Path:
    """Write the dataset folder of LZ run ``run`` ("ws2022" or "ws2024") from the digitised files."""
    if run not in LZ_RUNS:
        raise InputError("command line", "--run", f"unknown LZ run {run!r}; known: {', '.join(LZ_RUNS)}")
    spec = LZ_RUNS[run]
    release = Path(release)
    data_path = release / f"{spec.stem}_data_hist_data.txt"
    data = read_columns(data_path, 2, nonnegative=[0, 1], what=f"LZ {spec.stem} spectrum")
    bkg_path = release / f"BKG_FIT_{spec.stem}.csv"
    bkg = read_columns(bkg_path, 2, nonnegative=[0, 1], what=f"LZ {spec.stem} best-fit background")
    eff = read_columns(release / f"{spec.stem}_1DROI_eff_data.txt", 2, nonnegative=[0, 1], what="LZ efficiency")
    counts_float = data[:, 1]
    if np.any(np.abs(counts_float - np.rint(counts_float)) > 1e-6):
        raise InputError(data_path, "counts", "expected integer counts")
    edges_all = _bins_from_centres(data_path, data[:, 0])
    if bkg.shape[0] != data.shape[0]:
        raise InputError(bkg_path, "rows", f"{bkg.shape[0]} rows for {data.shape[0]} data bins")
    if np.max(np.abs(bkg[:, 0] - data[:, 0])) > 0.1:
        raise InputError(bkg_path, "energy", "background points are not at the data's bin centres (to 0.1 keV)")
    if np.any(eff[:, 1] > 1) or np.any(np.diff(eff[:, 0]) <= 0):
        raise InputError(release / f"{spec.stem}_1DROI_eff_data.txt", "efficiency", "must increase in energy, <= 1")
    keep = edges_all[:-1] >= 1.0  # the 0-1 keV bin: no events, efficiency < 2%
    edges = np.append(edges_all[:-1][keep], edges_all[-1])
    counts = np.rint(counts_float[keep]).astype(np.int64)
    total = bkg[keep, 1]  # counts per keV = counts per 1-keV bin, whole exposure
    per_t_yr = 1.0 / spec.exposure_t_yr
    a, b = spec.resolution_ab
    folder = DatasetFolder(Path(out))
    folder.add(
        "observed.csv",
        csv_block(
            ("e_low_keV", "e_high_keV", "counts"),
            [f"LZ {spec.stem} events per 1-keV bin (third-party digitisation via SNuDD; {spec.citation})"],
            [edges[:-1], edges[1:], counts],
        ),
    )
    folder.add(
        "efficiency.csv",
        csv_block(
            ("energy_keV", "efficiency"), [f"LZ {spec.stem} 1D-ROI efficiency (digitised, via SNuDD)"], list(eff.T)
        ),
    )
    backgrounds = []
    rest = total
    if spec.ar37 is not None:
        n_ar, s_ar = spec.ar37

        def sigma(e: np.ndarray) -> np.ndarray:
            return a * np.sqrt(np.maximum(e, 0.0)) + b * e

        def efficiency(e: np.ndarray) -> np.ndarray:
            return np.interp(e, eff[:, 0], eff[:, 1])

        shape = folded_counts(edges, sigma, efficiency, lambda t: line(t, AR37_K_LINE_KEV, AR37_LINE_WIDTH_KEV), 1.0)
        norm = n_ar / float(shape.sum())  # true-energy events per unit exposure that give n_ar detected
        t_grid = np.round(np.arange(AR37_K_LINE_KEV - 0.06, AR37_K_LINE_KEV + 0.0601, 0.002), 6)
        ar_rate = norm * line(t_grid, AR37_K_LINE_KEV, AR37_LINE_WIDTH_KEV) * per_t_yr
        folder.add(
            "ar37.csv",
            csv_block(
                ("energy_keV", "rate"),
                [
                    f"37Ar K-shell line at {AR37_K_LINE_KEV} keV, true energy, events/(t yr keV); normalised to "
                    f"{n_ar:g} detected events in {edges[0]:g}-{edges[-1]:g} keV ({spec.citation})"
                ],
                [t_grid, ar_rate],
            ),
        )
        backgrounds.append(
            (
                "ar37",
                "ar37.csv",
                "false",
                f'{{ kind = "truncated_normal", mu = 1.0, sigma = {s_ar / n_ar:.4f}, lower = 0.0 }}',
            )
        )
        rest = np.clip(total - shape * norm, 0.0, None)
    e_rest, v_rest = step_curve(edges, rest * per_t_yr)
    folder.add(
        "bkg_rest.csv",
        csv_block(
            ("energy_keV", "rate"),
            [
                f"LZ {spec.stem} best-fit background{' minus 37Ar' if spec.ar37 else ''}, events/(t yr keV), "
                "reconstructed energy, one value per 1-keV bin (step curve)"
            ],
            [e_rest, v_rest],
        ),
    )
    backgrounds.append(
        ("rest", "bkg_rest.csv", "true", f'{{ kind = "normal", mu = 1.0, sigma = {spec.rest_rel_sigma} }}')
    )
    bkg_toml = "".join(
        f'''
[[background]]
name = "{name}"
file = "{file}"
folded = {folded}
rate_unit = "per_keV_tonne_year"
prior = {prior}
'''
        for name, file, folded, prior in backgrounds
    )
    ar_text = (
        f"The 37Ar K line ({AR37_K_LINE_KEV} keV) is its own component, normalised to LZ's fitted "
        f"{spec.ar37[0]:g} +- {spec.ar37[1]:g} events (prior truncated normal); the rest of the best fit is the "
        "other component."
        if spec.ar37
        else "One component: the best-fit total."
    )
    toml = f'''# Converted by `bayes-xmass convert-lz --run {run}`; regenerate rather than edit.
[dataset]
name = "{spec.name}"
description = """LZ {spec.stem} low-energy electronic recoils ({spec.citation}). Spectrum, best-fit
background and efficiency are third-party digitisations of LZ's figures (SNuDD), not collaboration
data files: 1-keV bins, {edges[0]:g}-{edges[-1]:g} keV (the 0-1 keV bin, empty, is dropped). Exposure
{spec.exposure_t_yr:.4g} t yr: {spec.exposure_note}. Resolution sigma = {a} sqrt(E) keV (as SNuDD, from
arXiv:1610.02076; not in the files). {ar_text} Background prior on the rest: normal, {spec.rest_rel_sigma:.0%}
(our assumption: LZ's fit constrains the flat components from the data above 20 keV; a 5% width
lets the 1-20 keV data move them). Energy scale fixed."""
exposure_tonne_year = {spec.exposure_t_yr:.6g}
target = "Xe"

[analysis]
window_keV = [{edges[0]:g}, {edges[-1]:g}]
bin_width_keV = 0.0

[observed]
file = "observed.csv"

[response]
resolution = {{ model = "a_sqrtE_plus_bE", a = {a}, b = {b} }}
efficiency = {{ file = "efficiency.csv" }}
energy_scale = {{ prior = {{ kind = "normal", mu = 1.0, sigma = 0.0 }} }}
{bkg_toml}'''
    return folder.write(toml, overwrite)
