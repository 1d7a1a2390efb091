"""Convert the PandaX-4T Run1 low-energy ER spectrum into a bayes_xmass dataset folder.

Input (third-party digitisations of PandaX-4T's figures, via SNuDD; a copy is in
``../shared/data/pandax4t_run1_er/``):

- ``run1_evts.csv``: observed spectrum (keVee bin centre 0.5-29.5, counts per keV), digitised, so
  not integers: rounded to the nearest integer for the Poisson likelihood;
- ``run1_bkg.csv``: best-fit total background, same bins (counts per keV, whole Run1 exposure);
- ``efficiency_ER_run1.csv``: efficiency vs keVee.

Backgrounds: tritium, whose shape is known (a beta spectrum, Q = 18.59 keV), is its own component,
normalised to PandaX-4T's fitted Run1 count with its uncertainty as prior; the rest of the best-fit
total (its other components, all smooth below 30 keV) is a second component whose prior width is
the quadrature sum of their fitted uncertainties relative to their sum.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from bayes_xmass.converters.release_tables import DatasetFolder, csv_block, folded_counts, read_columns, step_curve
from bayes_xmass.errors import InputError
from bayes_xmass.physics.constants import DAYS_PER_YEAR
from bayes_xmass.physics.radioactivity import beta_spectrum

__all__ = [
    "PANDAX_EXPOSURE_T_YR",
    "PANDAX_FITTED_COUNTS",
    "PANDAX_WINDOW_KEV",
    "TRITIUM_Q_KEV",
    "convert_pandax4t",
    "pandax_sigma_kev",
]

PANDAX_EXPOSURE_T_YR = 363.3 / DAYS_PER_YEAR  # Run1, 363.3 t day (arXiv:2408.07641)
PANDAX_WINDOW_KEV = (1.0, 30.0)  # the 0-1 keV bin is empty
TRITIUM_Q_KEV = 18.591  # tritium beta endpoint (ENSDF)
# fitted Run1 background counts (mean, sigma), arXiv:2408.07641
PANDAX_FITTED_COUNTS: dict[str, tuple[float, float]] = {
    "tritium": (118.4, 31.1),
    "pb214": (700.3, 45.3),
    "pb212": (96.5, 23.8),
    "kr85": (272.2, 58.9),
    "material": (105.9, 7.8),
    "xe136": (62.3, 4.6),
    "xe124": (3.9, 1.1),
    "accidental": (7.0, 1.9),
}


def pandax_sigma_kev(e_kev: np.ndarray) -> np.ndarray:
    """PandaX-4T ER energy resolution sigma(E) in keV: the cubic 0.073 + 0.173 E - 6.5e-3 E^2 + 1.1e-4 E^3
    (E in keV) that SNuDD takes from PandaX-4T's Run0 ER paper (arXiv:2206.02339), read as sigma in
    keV: sigma(1) = 0.24, sigma(10) = 1.26, sigma(30) = 2.4 keV. (SNuDD applies it as sigma/E, which
    would mean 126% at 10 keV, unphysical.) Above 40 keV the cubic turns over: not used there."""
    e = np.clip(np.asarray(e_kev, dtype=np.float64), 0.0, 40.0)
    return 0.073 + 0.173 * e - 6.5e-3 * e**2 + 1.1e-4 * e**3


def convert_pandax4t(release: Path, out: Path, overwrite: bool = False) -> Path:
    """Write the PandaX-4T Run1 dataset folder ``out`` from the digitised files (refuses a non-empty one)."""
    release = Path(release)
    evts_path, bkg_path = release / "run1_evts.csv", release / "run1_bkg.csv"
    evts = read_columns(evts_path, 2, nonnegative=[0, 1], what="PandaX-4T Run1 spectrum")
    bkg = read_columns(bkg_path, 2, nonnegative=[0, 1], what="PandaX-4T Run1 best-fit background")
    eff_path = release / "efficiency_ER_run1.csv"
    eff = read_columns(eff_path, 2, nonnegative=[0, 1], what="PandaX-4T Run1 efficiency")
    if not np.allclose(np.diff(evts[:, 0]), 1.0, atol=1e-3):
        raise InputError(evts_path, "energy", "expected contiguous 1-keV bins (bin centres 1 keV apart)")
    if bkg.shape != evts.shape or np.max(np.abs(bkg[:, 0] - evts[:, 0])) > 1e-3:
        raise InputError(bkg_path, "energy", "background bins differ from the spectrum's")
    if np.any(eff[:, 1] > 1) or np.any(np.diff(eff[:, 0]) <= 0):
        raise InputError(eff_path, "efficiency", "must increase in energy and be <= 1")
    edges_all = np.append(evts[:, 0] - 0.5, evts[-1, 0] + 0.5)
    keep = edges_all[:-1] >= PANDAX_WINDOW_KEV[0] - 1e-9
    edges = np.append(edges_all[:-1][keep], edges_all[-1])
    counts = np.rint(evts[keep, 1]).astype(np.int64)
    total = bkg[keep, 1]
    per_t_yr = 1.0 / PANDAX_EXPOSURE_T_YR

    def efficiency(e: np.ndarray) -> np.ndarray:
        return np.interp(e, eff[:, 0], eff[:, 1], left=0.0)

    def tritium(t: np.ndarray) -> np.ndarray:
        return beta_spectrum(t, TRITIUM_Q_KEV, 2)

    n_h3, s_h3 = PANDAX_FITTED_COUNTS["tritium"]
    shape = folded_counts(edges, pandax_sigma_kev, efficiency, tritium, 1.0)
    norm = n_h3 / float(shape.sum())
    rest = np.clip(total - norm * shape, 0.0, None)
    others = [v for k, v in PANDAX_FITTED_COUNTS.items() if k != "tritium"]
    rest_rel = math.sqrt(sum(s * s for _, s in others)) / sum(m for m, _ in others)
    t_grid = np.round(np.linspace(0.0, TRITIUM_Q_KEV, 744), 6)
    res_e = np.linspace(0.0, 40.0, 81)
    folder = DatasetFolder(Path(out))
    folder.add(
        "observed.csv",
        csv_block(
            ("e_low_keV", "e_high_keV", "counts"),
            ["PandaX-4T Run1 events per 1-keV bin (arXiv:2408.07641; digitised via SNuDD, rounded to integers)"],
            [edges[:-1], edges[1:], counts],
        ),
    )
    folder.add("efficiency.csv", csv_block(("energy_keV", "efficiency"), ["PandaX-4T Run1 ER efficiency"], list(eff.T)))
    folder.add(
        "resolution.csv",
        csv_block(
            ("energy_keV", "sigma_keV"),
            ["PandaX-4T ER resolution, keV"],
            [res_e, pandax_sigma_kev(res_e)],
        ),
    )
    folder.add(
        "tritium.csv",
        csv_block(
            ("energy_keV", "rate"),
            [
                f"tritium beta spectrum (Q = {TRITIUM_Q_KEV} keV), true energy, events/(t yr keV), normalised to "
                f"{n_h3:g} detected events in {edges[0]:g}-{edges[-1]:g} keV (arXiv:2408.07641)"
            ],
            [t_grid, norm * tritium(t_grid) * per_t_yr],
        ),
    )
    e_rest, v_rest = step_curve(edges, rest * per_t_yr)
    folder.add(
        "bkg_rest.csv",
        csv_block(
            ("energy_keV", "rate"),
            [
                "PandaX-4T Run1 best-fit background minus tritium, events/(t yr keV), reconstructed energy, "
                "one value per 1-keV bin (step curve)"
            ],
            [e_rest, v_rest],
        ),
    )
    fitted = ", ".join(f"{k} {m:g} +- {s:g}" for k, (m, s) in PANDAX_FITTED_COUNTS.items())
    toml = f'''# Converted by `bayes-xmass convert-pandax4t`; regenerate rather than edit.
[dataset]
name = "pandax4t-run1"
description = """PandaX-4T Run1 low-energy electronic recoils (PandaX-4T Collaboration, arXiv:2408.07641).
Spectrum, best-fit background and efficiency are third-party digitisations of the paper's figures
(SNuDD), not collaboration data files; the digitised counts are not integers and are ROUNDED to the
nearest integer (total {int(counts.sum())}). 1-keV bins, {edges[0]:g}-{edges[-1]:g} keV (the empty 0-1 keV bin is
dropped). Exposure 363.3 t day. Fitted Run1 counts (arXiv:2408.07641): {fitted}.
Backgrounds: tritium (beta spectrum, Q = {TRITIUM_Q_KEV} keV, folded by the response) normalised to
its fitted count, prior truncated normal with its fitted uncertainty ({s_h3 / n_h3:.1%}); the rest of the
best-fit total (the other components) with a normal prior of {rest_rel:.1%}, their fitted uncertainties
added in quadrature relative to their sum. Resolution (resolution.csv): sigma = 0.073 + 0.173 E -
6.5e-3 E^2 + 1.1e-4 E^3 keV, the PandaX-4T Run0 form (arXiv:2206.02339) as transcribed by SNuDD.
Energy scale fixed."""
exposure_tonne_year = {PANDAX_EXPOSURE_T_YR:.6g}
target = "Xe"

[analysis]
window_keV = [{edges[0]:g}, {edges[-1]:g}]
bin_width_keV = 0.0

[observed]
file = "observed.csv"

[response]
resolution = {{ model = "table", file = "resolution.csv" }}
efficiency = {{ file = "efficiency.csv" }}
energy_scale = {{ prior = {{ kind = "normal", mu = 1.0, sigma = 0.0 }} }}

[[background]]
name = "tritium"
file = "tritium.csv"
folded = false
rate_unit = "per_keV_tonne_year"
prior = {{ kind = "truncated_normal", mu = 1.0, sigma = {s_h3 / n_h3:.4f}, lower = 0.0 }}

[[background]]
name = "rest"
file = "bkg_rest.csv"
folded = true
rate_unit = "per_keV_tonne_year"
prior = {{ kind = "normal", mu = 1.0, sigma = {rest_rel:.4f} }}
'''
    return folder.write(toml, overwrite)
