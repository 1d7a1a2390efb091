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
Resolution sigma(E) = 0.310 sqrt(E) + 0.0037 E keV (PRD 102 072004, Eq. 1). B0 normalisation
prior: 76 +- 2 events/(t yr keV) in 1-30 keV (PRD 102 072004) -> normal(1, 2/76).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bayes_xmass.errors import InputError
from bayes_xmass.response.detector import integrate_folded
from bayes_xmass.runtime.io import write_text

__all__ = [
    "B0_REL_UNCERTAINTY",
    "DEFAULT_B0_FILES",
    "XENON1T_EXPOSURE_T_YR",
    "b0_counts",
    "convert_release",
    "read_release",
]

XENON1T_EXPOSURE_T_YR = 0.6473
"""SR1 exposure implied by the released data points (rate x 0.6473 t yr = integer counts)."""
RESOLUTION_A, RESOLUTION_B = 0.310, 0.0037  # PRD 102 072004, Eq. 1
B0_REL_UNCERTAINTY = 2.0 / 76.0  # B0 = 76 +- 2 events/(t yr keV), PRD 102 072004
DEFAULT_B0_FILES = ("B0_1to30keV.txt", "third_party_digitized/pycevns_xenon1t_bkg_model_fig4.dat")


def _read_numeric(path: Path, min_cols: int) -> np.ndarray:
    rows = []
    try:
        text = path.read_text()
    except OSError as exc:
        raise InputError(path, "file", f"cannot read: {exc.strerror}") from None
    for lineno, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.replace(",", " ").split()
        try:
            values = [float(p) for p in parts]
        except ValueError:
            raise InputError(path, f"line {lineno}", f"non-numeric value in {line!r}") from None
        if len(values) < min_cols:
            raise InputError(path, f"line {lineno}", f"expected at least {min_cols} columns, found {len(values)}")
        rows.append(values[:min_cols])
    if not rows:
        raise InputError(path, "rows", "no data rows")
    return np.array(rows, dtype=float)


def read_release(release: Path, b0_file: Path | None = None) -> dict:
    """Read the release files; returns bins, counts, efficiency and B0 curves (keV, t yr units)."""
    release = Path(release)
    data_path = release / "data_below_30kev.txt"
    if not data_path.is_file():
        raise InputError(data_path, "file", "not found (expected the XENON1T SR1 data release)")
    data = _read_numeric(data_path, 3)
    centres, rate = data[:, 0], data[:, 1]
    counts_float = rate * XENON1T_EXPOSURE_T_YR
    counts = np.rint(counts_float)
    if np.max(np.abs(counts - counts_float)) > 1e-3:
        raise InputError(data_path, "rate", "rate x 0.6473 t yr is not integer: unexpected release format")
    widths = np.diff(centres)
    if not np.allclose(widths, 1.0):
        raise InputError(data_path, "energy", "expected contiguous 1-keV bins")
    eff = _read_numeric(release / "efficiency.txt", 4)
    if b0_file is None:
        candidates = [release / f for f in DEFAULT_B0_FILES]
        b0_file = next((c for c in candidates if c.is_file()), None)
        if b0_file is None:
            raise InputError(release, "B0", f"no B0 curve found; looked for {', '.join(DEFAULT_B0_FILES)} (use --b0)")
    b0 = _read_numeric(Path(b0_file), 2)
    order = np.argsort(b0[:, 0], kind="stable")
    b0 = b0[order]
    return {
        "edges": np.append(centres - 0.5, centres[-1] + 0.5),
        "counts": counts.astype(np.int64),
        "eff_energy": eff[:, 0],
        "eff_total": np.clip(eff[:, 3], 0.0, 1.0),
        "b0_energy": b0[:, 0],
        "b0_rate": np.clip(b0[:, 1], 0.0, None),  # digitisation noise < 0 -> 0
        "b0_source": Path(b0_file).name,
    }


def convert_release(release: Path, out: Path, b0_file: Path | None = None, overwrite: bool = False) -> Path:
    """Write a dataset folder for XENON1T SR1 at ``out`` (refuses an existing folder)."""
    out = Path(out)
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise InputError(out, "", "exists and is not empty; refusing to overwrite (pass --overwrite)")
    rel = read_release(release, b0_file)
    _, keep = np.unique(rel["b0_energy"], return_index=True)  # drop duplicated digitised points
    e_b0, r_b0 = rel["b0_energy"][keep], rel["b0_rate"][keep]
    obs = "\n".join(f"{lo:.1f},{hi:.1f},{c:d}" for lo, hi, c in zip(rel["edges"][:-1], rel["edges"][1:], rel["counts"]))
    e_eff, v_eff = rel["eff_energy"], rel["eff_total"]
    _, keep_e = np.unique(e_eff, return_index=True)
    eff = "\n".join(f"{e:.6g},{v:.6g}" for e, v in zip(e_eff[keep_e], v_eff[keep_e]))
    b0 = "\n".join(f"{e:.6g},{r:.6g}" for e, r in zip(e_b0, r_b0))
    toml = f'''# Converted by `bayes-xmass convert-xenon1t` from the public XENON1T SR1 release.
[dataset]
name = "xenon1t-sr1"
description = """XENON1T SR1 low-energy electronic recoils (E. Aprile et al., PRD 102 (2020) 072004,
arXiv:2006.09721): 29 one-keV bins 1-30 keV, counts = released rate x 0.6473 t yr; total efficiency
of the release (applied in reconstructed energy); resolution PRD Eq. 1. Background B0 from {rel["b0_source"]}
(the collaboration's best fit incl. solar neutrinos, efficiency and smearing; if this is the
pyCEvNS digitisation of Fig. 4 it is third-party, not collaboration data). The released points
are the arXiv-v2 'preliminary' ones. Energy scale fixed (no systematic given in the release)."""
exposure_tonne_year = {XENON1T_EXPOSURE_T_YR}
target = "Xe"

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
'''
    out.mkdir(parents=True, exist_ok=True)
    write_text(
        out / "observed.csv",
        "# XENON1T SR1 (PRD 102 072004 Fig. 4), counts per 1-keV bin\ne_low_keV,e_high_keV,counts\n" + obs + "\n",
        overwrite,
    )
    write_text(
        out / "efficiency.csv",
        "# XENON1T SR1 total efficiency (PRD 102 072004 Fig. 2)\nenergy_keV,efficiency\n" + eff + "\n",
        overwrite,
    )
    write_text(
        out / "b0.csv",
        f"# XENON1T B0, events/(t yr keV), reconstructed energy ({rel['b0_source']})\nenergy_keV,rate\n" + b0 + "\n",
        overwrite,
    )
    write_text(out / "dataset.toml", toml, overwrite)  # last: the folder is complete once it exists
    return out


def b0_counts(dataset, lo_kev: float, hi_kev: float) -> float:
    """Expected B0 counts in [lo, hi] keV for a converted dataset (for checks)."""
    b = dataset.background("B0")
    return float(integrate_folded(b.energy_keV, b.rate, np.array([lo_kev, hi_kev]), dataset.exposure_kg_day)[0])
