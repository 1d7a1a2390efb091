"""Convert the public XENONnT SR0 low-energy ER release into a bayes_xmass dataset folder.

Input (the collaboration's release with PRL 129 (2022) 161805, arXiv:2207.11330; a copy is in
``../shared/data/xenonnt_sr0_er/``):

- ``data_unbinned_1to30kev.txt``: the 433 reconstructed energies [keV] of the ER events in 1-30 keV;
- ``bkg_model.txt``: best-fit background B0 [events/(t yr keV)] at 0.05-29.95 keV (0.1-keV grid),
  reconstructed energy, efficiency and resolution folded in, SM solar-neutrino ER included;
- ``efficiency.txt``: total efficiency vs reconstructed energy [keV].

The events are binned in ``XENONNT_BIN_WIDTH_KEV`` bins over 1-30 keV (the release's range). B0 is a
folded background tabulated at its grid points; the loader accepts it for the 29.95-30 keV edge
(half a grid step). The release has no resolution; XENON1T's sigma(E) = 0.310 sqrt(E) + 0.0037 E keV
(PRD 102 (2020) 072004, Eq. 1) stands in for it, documented in the dataset.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bayes_xmass.converters.release_tables import DatasetFolder, csv_block, read_columns
from bayes_xmass.errors import InputError

__all__ = [
    "B0_REL_UNCERTAINTY",
    "XENONNT_BIN_WIDTH_KEV",
    "XENONNT_EXPOSURE_T_YR",
    "XENONNT_WINDOW_KEV",
    "convert_xenonnt",
]

XENONNT_EXPOSURE_T_YR = 1.16  # PRL 129 (2022) 161805: 4.18 t fiducial x 97.1 live days
XENONNT_WINDOW_KEV = (1.0, 30.0)  # the release's unbinned data range (readme.txt)
XENONNT_BIN_WIDTH_KEV = 0.5  # our choice: ~1.5 sigma at 1 keV, 3.8 events per bin on average
RESOLUTION_A, RESOLUTION_B = 0.310, 0.0037  # XENON1T, PRD 102 (2020) 072004 Eq. 1 (stand-in)
B0_REL_UNCERTAINTY = 1.3 / 15.8  # ER background (15.8 +- 1.3) events/(t yr keV) in 1-30 keV, PRL 129 161805
N_EVENTS = 433  # readme.txt of the release


def convert_xenonnt(release: Path, out: Path, overwrite: bool = False) -> Path:
    """Write the XENONnT SR0 dataset folder ``out`` from the release folder (refuses a non-empty one)."""
    release = Path(release)
    events = read_columns(release / "data_unbinned_1to30kev.txt", 1, nonnegative=[0], what="XENONnT event list")[:, 0]
    b0 = read_columns(release / "bkg_model.txt", 2, nonnegative=[0, 1], what="XENONnT B0 table")
    eff = read_columns(release / "efficiency.txt", 2, nonnegative=[0, 1], what="XENONnT efficiency table")
    lo, hi = XENONNT_WINDOW_KEV
    outside = events[(events < lo) | (events > hi)]
    if outside.size:
        raise InputError(
            release / "data_unbinned_1to30kev.txt", "energy", f"event at {outside[0]:g} keV outside 1-30 keV"
        )
    if np.any(np.diff(b0[:, 0]) <= 0) or np.any(np.diff(eff[:, 0]) <= 0):
        raise InputError(release, "energy", "bkg_model.txt and efficiency.txt must have increasing energies")
    if np.any(eff[:, 1] > 1):
        raise InputError(release / "efficiency.txt", "efficiency", "values above 1")
    n_bins = int(round((hi - lo) / XENONNT_BIN_WIDTH_KEV))
    edges = np.linspace(lo, hi, n_bins + 1)
    counts, _ = np.histogram(events, bins=edges)
    folder = DatasetFolder(Path(out))
    folder.add(
        "observed.csv",
        csv_block(
            ("e_low_keV", "e_high_keV", "counts"),
            [
                f"XENONnT SR0 (PRL 129 161805): the {events.size} released event energies, binned in "
                f"{XENONNT_BIN_WIDTH_KEV:g}-keV bins"
            ],
            [edges[:-1], edges[1:], counts],
        ),
    )
    folder.add(
        "efficiency.csv",
        csv_block(("energy_keV", "efficiency"), ["XENONnT SR0 total efficiency (release efficiency.txt)"], list(eff.T)),
    )
    folder.add(
        "b0.csv",
        csv_block(
            ("energy_keV", "rate"),
            ["XENONnT SR0 best-fit background B0 (release bkg_model.txt), events/(t yr keV), reconstructed energy"],
            list(b0.T),
        ),
    )
    toml = f'''# Converted by `bayes-xmass convert-xenonnt` from the XENONnT SR0 release; regenerate rather than edit.
[dataset]
name = "xenonnt-sr0"
description = """XENONnT SR0 low-energy electronic recoils (E. Aprile et al., PRL 129 (2022) 161805,
arXiv:2207.11330), from the collaboration's data release: the {events.size} event energies in 1-30 keV
binned in {XENONNT_BIN_WIDTH_KEV:g}-keV bins (our choice; the collaboration's fit was unbinned over 1-140 keV),
exposure 1.16 t yr, the released total efficiency (reconstructed energy). Background: the released
best-fit B0 (all components, SM solar neutrinos included, efficiency and resolution folded in) with
a normal prior of 8.2% = 1.3/15.8, the paper's (15.8 +- 1.3) events/(t yr keV) in 1-30 keV.
The release gives no resolution: XENON1T's sigma = 0.310 sqrt(E) + 0.0037 E keV (PRD 102 072004
Eq. 1) stands in (XENONnT's is similar or better; it only shapes the signal). Energy scale fixed."""
exposure_tonne_year = {XENONNT_EXPOSURE_T_YR}
target = "Xe"

[analysis]
window_keV = [{lo}, {hi}]   # the release's range: keeps XENONnT's 1-keV threshold
bin_width_keV = 0.0         # keep the dataset's bins

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
prior = {{ kind = "normal", mu = 1.0, sigma = {B0_REL_UNCERTAINTY:.4f} }}
'''
    return folder.write(toml, overwrite)
