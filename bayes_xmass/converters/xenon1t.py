"""Convert the public XENON1T SR1 low-energy ER release into a bayes_xmass dataset folder.

Input (as released with arXiv:2006.09721v2 / PRD 102 (2020) 072004; a copy is in
``../shared/data/xenon1t_sr1_er/``):

- ``data_below_30kev.txt``: bin centre [keV], rate and its error [events/(t yr keV)], 29 bins of
  1 keV over 1-30 keV; counts = rate x 0.6473 t yr (integers to < 1e-3);
- ``efficiency.txt``: energy [keV] and detection/selection/total efficiency (column 4 = total),
  applied in reconstructed energy;
- a B0 background curve in reconstructed energy with efficiency and smearing applied
  [events/(t yr keV)]: the collaboration's ``B0_1to30keV.txt`` (Zenodo 4088778) or the pyCEvNS
  digitisation of PRD Fig. 4 (``third_party_digitized/pycevns_xenon1t_bkg_model_fig4.dat``).

B0 already contains the SM solar-neutrino background, so no ``solar_nu_sm`` component is added.
A free tritium component (XENON1T's "B0 + 3H" hypothesis) is added by default: the tritium beta
spectrum folded by the response, normalised to the digitised best-fit 3H of PRD Fig. 4
(``third_party_digitized/pycevns_XENON1T_3H.txt``), prior uniform on 0-5 x that.
Resolution sigma(E) = 0.310 sqrt(E) + 0.0037 E keV (PRD 102 072004, Eq. 1). B0 normalisation
prior: 76 +- 2 events/(t yr keV) in 1-30 keV (PRD 102 072004) -> normal(1, 2/76).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bayes_xmass.converters.release_tables import DatasetFolder, csv_block, folded_counts, read_columns
from bayes_xmass.errors import InputError
from bayes_xmass.physics.radioactivity import beta_spectrum
from bayes_xmass.response.detector import integrate_folded

__all__ = [
    "B0_REL_UNCERTAINTY",
    "DEFAULT_B0_FILES",
    "TRITIUM_Q_KEV",
    "tritium_true_rate",
    "XENON1T_EXPOSURE_T_YR",
    "b0_counts",
    "convert_release",
    "read_release",
]

XENON1T_EXPOSURE_T_YR = 0.6473
"""SR1 exposure implied by the released data points (rate x 0.6473 t yr = integer counts)."""
RESOLUTION_A, RESOLUTION_B = 0.310, 0.0037  # PRD 102 072004, Eq. 1
B0_REL_UNCERTAINTY = 2.0 / 76.0  # B0 = 76 +- 2 events/(t yr keV), PRD 102 072004
TRITIUM_FILE = "third_party_digitized/pycevns_XENON1T_3H.txt"  # best-fit 3H of PRD 102 072004 Fig. 4
TRITIUM_Q_KEV = 18.591  # tritium beta endpoint (ENSDF)
TRITIUM_UPPER = 5.0  # free tritium: uniform prior on 0-5 x the best fit (far above what 1-30 keV allows)
DEFAULT_B0_FILES = ("B0_1to30keV.txt", "third_party_digitized/pycevns_xenon1t_bkg_model_fig4.dat")


def read_release(release: Path, b0_file: Path | None = None) -> dict:
    """Read the release files; returns bins, counts, efficiency, B0 and tritium curves (keV, t yr units)."""
    release = Path(release)
    data_path = release / "data_below_30kev.txt"
    data = read_columns(data_path, 3, nonnegative=[0, 1, 2], what="XENON1T SR1 data release")
    centres, rate = data[:, 0], data[:, 1]
    counts_float = rate * XENON1T_EXPOSURE_T_YR
    counts = np.rint(counts_float)
    if np.max(np.abs(counts - counts_float)) > 1e-3:
        raise InputError(data_path, "rate", "rate x 0.6473 t yr is not integer: unexpected release format")
    widths = np.diff(centres)
    if not np.allclose(widths, 1.0):
        raise InputError(data_path, "energy", "expected contiguous 1-keV bins")
    eff_path = release / "efficiency.txt"
    eff = read_columns(eff_path, 6, nonnegative=[0], what="XENON1T efficiency table")
    if b0_file is None:
        candidates = [release / f for f in DEFAULT_B0_FILES]
        b0_file = next((c for c in candidates if c.is_file()), None)
        if b0_file is None:
            raise InputError(release, "B0", f"no B0 curve found; looked for {', '.join(DEFAULT_B0_FILES)} (use --b0)")
    b0 = read_columns(Path(b0_file), 2, nonnegative=[0, 1], what="B0 background curve")
    h3 = read_columns(release / TRITIUM_FILE, 2, nonnegative=[0, 1], what="digitised tritium best fit")
    b0 = b0[np.argsort(b0[:, 0], kind="stable")]
    h3 = h3[np.argsort(h3[:, 0], kind="stable")]
    return {
        "edges": np.append(centres - 0.5, centres[-1] + 0.5),
        "counts": counts.astype(np.int64),
        "eff_energy": eff[:, 0],
        "eff_total": np.clip(eff[:, 3], 0.0, 1.0),
        "b0_energy": b0[:, 0],
        "b0_rate": b0[:, 1],
        "b0_source": Path(b0_file).name,
        "h3_energy": h3[:, 0],
        "h3_rate": h3[:, 1],
    }


def tritium_true_rate(t_kev: np.ndarray) -> np.ndarray:
    """Tritium beta spectrum (Q = 18.591 keV, ENSDF), 1/keV, normalised to 1."""
    return beta_spectrum(t_kev, TRITIUM_Q_KEV, 2)


def convert_release(
    release: Path, out: Path, b0_file: Path | None = None, overwrite: bool = False, tritium: bool = True
) -> Path:
    """Write a dataset folder for XENON1T SR1 at ``out`` (refuses an existing folder).

    ``tritium``: add the free tritium component of XENON1T's "B0 + 3H" fit (default)."""
    rel = read_release(release, b0_file)
    _, keep = np.unique(rel["b0_energy"], return_index=True)  # drop duplicated digitised points
    e_b0, r_b0 = rel["b0_energy"][keep], rel["b0_rate"][keep]
    edges = rel["edges"]
    _, keep_e = np.unique(rel["eff_energy"], return_index=True)
    e_eff, v_eff = rel["eff_energy"][keep_e], rel["eff_total"][keep_e]
    folder = DatasetFolder(Path(out))
    folder.add(
        "observed.csv",
        csv_block(
            ("e_low_keV", "e_high_keV", "counts"),
            ["XENON1T SR1 (PRD 102 072004 Fig. 4), counts per 1-keV bin"],
            [edges[:-1], edges[1:], rel["counts"]],
            fmt=".6g",
        ),
    )
    folder.add(
        "efficiency.csv",
        csv_block(
            ("energy_keV", "efficiency"),
            ["XENON1T SR1 total efficiency (PRD 102 072004 Fig. 2)"],
            [e_eff, v_eff],
            ".6g",
        ),
    )
    folder.add(
        "b0.csv",
        csv_block(
            ("energy_keV", "rate"),
            [f"XENON1T B0, events/(t yr keV), reconstructed energy ({rel['b0_source']})"],
            [e_b0, r_b0],
            ".6g",
        ),
    )
    tritium_toml = tritium_text = ""
    if tritium:

        def sigma(e: np.ndarray) -> np.ndarray:
            return RESOLUTION_A * np.sqrt(np.maximum(e, 0.0)) + RESOLUTION_B * e

        def efficiency(e: np.ndarray) -> np.ndarray:
            return np.interp(e, e_eff, v_eff)

        h3_best = float(integrate_folded(rel["h3_energy"], rel["h3_rate"], edges[[0, -1]], XENON1T_EXPOSURE_T_YR)[0])
        shape = folded_counts(edges, sigma, efficiency, tritium_true_rate, XENON1T_EXPOSURE_T_YR)
        norm = h3_best / float(shape.sum())  # events/(t yr) in true energy for norm = 1
        t_grid = np.round(np.linspace(0.0, TRITIUM_Q_KEV, 744), 6)
        folder.add(
            "tritium.csv",
            csv_block(
                ("energy_keV", "rate"),
                [
                    f"tritium beta spectrum (Q = {TRITIUM_Q_KEV} keV), true energy, events/(t yr keV); normalised to "
                    f"{h3_best:.1f} detected events in 1-30 keV, the digitised best-fit 3H of PRD 102 072004 Fig. 4"
                ],
                [t_grid, norm * tritium_true_rate(t_grid)],
                ".6g",
            ),
        )
        tritium_text = (
            f" Tritium: free (prior uniform on 0-{TRITIUM_UPPER:g} x the best fit), as XENON1T's B0 + 3H "
            f"hypothesis; its shape is the beta spectrum (Q = {TRITIUM_Q_KEV} keV) folded by the response, norm 1 = "
            f"{h3_best:.1f} events in 1-30 keV (the digitised best-fit 3H of Fig. 4, third-party)."
        )
        tritium_toml = f"""
[[background]]
name = "tritium"
file = "tritium.csv"
folded = false
rate_unit = "per_keV_tonne_year"
prior = {{ kind = "uniform", lower = 0.0, upper = {TRITIUM_UPPER:g} }}
"""
    toml = f'''# Converted by `bayes-xmass convert-xenon1t` from the public XENON1T SR1 release; regenerate rather than edit.
[dataset]
name = "xenon1t-sr1"
description = """XENON1T SR1 low-energy electronic recoils (E. Aprile et al., PRD 102 (2020) 072004,
arXiv:2006.09721): 29 one-keV bins 1-30 keV, counts = released rate x 0.6473 t yr; total efficiency
of the release (applied in reconstructed energy); resolution PRD Eq. 1. Background B0 from {rel["b0_source"]}
(the collaboration's best fit incl. solar neutrinos, efficiency and smearing; if this is the
pyCEvNS digitisation of Fig. 4 it is third-party, not collaboration data), prior normal(1, 2/76) from
B0 = 76 +- 2 events/(t yr keV) in 1-30 keV.{tritium_text} The released points are the arXiv-v2
'preliminary' ones. Energy scale fixed (no systematic given in the release)."""
exposure_tonne_year = {XENON1T_EXPOSURE_T_YR}
target = "Xe"

[analysis]
window_keV = [1.0, 30.0]   # the release's range: keeps the 1-keV threshold
bin_width_keV = 0.0

[observed]
file = "observed.csv"

[response]
resolution = {{ model = "a_sqrtE_plus_bE", a = {RESOLUTION_A}, b = {RESOLUTION_B} }}
efficiency = {{ file = "efficiency.csv" }}
energy_scale = {{ prior = {{ kind = "normal", mu = 1.0, sigma = 0.0 }} }}

[[background]]
name = "B0"
file = "b0.csv"
folded = true
rate_unit = "per_keV_tonne_year"
prior = {{ kind = "normal", mu = 1.0, sigma = {B0_REL_UNCERTAINTY:.6f} }}
{tritium_toml}'''
    return folder.write(toml, overwrite)


def b0_counts(dataset, lo_kev: float, hi_kev: float) -> float:
    """Expected B0 counts in [lo, hi] keV for a converted dataset (for checks)."""
    b = dataset.background("B0")
    return float(integrate_folded(b.energy_keV, b.rate, np.array([lo_kev, hi_kev]), dataset.exposure_kg_day)[0])
