"""The ``spectra`` command: true-energy recoil spectra of one interaction (no detector response).

Writes a PNG plot and, beside it, a CSV table: energy (keV), the Standard-Model rate, the signal
rate at the chosen coupling and the basis spectra, all in events/(keV t yr).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from bayes_xmass.errors import InputError
from bayes_xmass.outputs.plot_fits import plot_recoil_spectra
from bayes_xmass.physics.interactions import get_interaction
from bayes_xmass.physics.spectra import PhysicsConfig, basis_spectra, per_tonne_year, sm_rate
from bayes_xmass.runtime.io import atomic_path
from bayes_xmass.version import __version__

__all__ = ["default_coupling", "write_recoil_spectra"]


def default_coupling(inter, mass_mev: float | None = None, flavours: str = "common") -> float:
    """The coupling to draw when none is given: the XMASS-I published limit (B-L: at ``mass_mev``,
    else 1e-5; millicharge: the negative limit of ``flavours``)."""
    if inter.name == "b_minus_l":
        return inter.published_limits.get(mass_mev, 1e-5)
    if inter.name == "millicharge":
        return -inter.published_limits[flavours]
    return inter.published_limits["common"]


def write_recoil_spectra(
    interaction: str,
    *,
    out: Path,
    emin: float = 0.5,
    emax: float = 250.0,
    step: float = 0.05,
    coupling: float | None = None,
    mass_mev: float | None = None,
    flavours: str = "common",
    physics: PhysicsConfig = PhysicsConfig(),
    overwrite: bool = False,
) -> tuple[Path, Path]:
    """Spectra on the grid ``emin..emax`` (keV, ``step``) -> ``out`` (PNG) and ``out`` with suffix
    .csv; returns both paths. ``mass_mev``: the B-L mediator mass; ``flavours``: the millicharge's.
    Existing files are refused (InputError) unless ``overwrite``."""
    inter = get_interaction(interaction)
    t = np.arange(emin, emax + 0.5 * step, step)
    kwargs: dict[str, Any] = {}
    if inter.name == "millicharge":
        kwargs["flavours"] = flavours
    if inter.name == "b_minus_l":
        kwargs["mass_mev"] = mass_mev
    coupling = coupling if coupling is not None else default_coupling(inter, mass_mev, flavours)
    basis = basis_spectra(inter.name, t, physics, **kwargs)
    sm = per_tonne_year(sm_rate(t, physics))
    signal = per_tonne_year(basis.rate(coupling))
    out = Path(out)
    csv_out = out.with_suffix(".csv")
    for path in (out, csv_out):
        if path.exists() and not overwrite:
            raise InputError(path, "", "exists; refusing to overwrite (pass --overwrite)")
    header = [
        f"# bayes_xmass {__version__}: {inter.name} at {inter.poi} = {coupling:g} {inter.coupling_unit}",
        f"# physics: {physics.describe()}",
        f"# options: {basis.options}",
        "# rates in events/(keV t yr), true recoil energy (no detector response)",
        "energy [keV],sm_rate [1/(keV t yr)],signal_rate [1/(keV t yr)],"
        + ",".join(f"basis_{k.replace('^', 'pow')} [1/(keV t yr)]" for k in basis.terms),
    ]
    rows = np.column_stack([t, sm, signal] + [per_tonne_year(v) for v in basis.terms.values()])
    with atomic_path(csv_out, overwrite) as tmp:
        with open(tmp, "w") as fh:
            fh.write("\n".join(header) + "\n")
            np.savetxt(fh, rows, delimiter=",", fmt="%.8g")
    label = (
        f"{inter.poi} = {coupling:g} {inter.coupling_unit}"
        + (f", M = {mass_mev:g} MeV" if inter.name == "b_minus_l" else "")
        + (f", flavours = {flavours}" if inter.name == "millicharge" else "")
    )
    plot_recoil_spectra(t, {label: signal}, sm, f"{inter.cli_name} in Xe ({physics.atomic.name})", out, overwrite)
    return out, csv_out
