"""``bayes-xmass spectra <interaction>``: true-energy recoil spectra (PNG + CSV).

The grid and coupling options are checked here; the work is
:func:`bayes_xmass.workflows.spectra.write_recoil_spectra`.
"""

from __future__ import annotations

import math
from pathlib import Path

from bayes_xmass.cli.options import add_physics_options, physics_config
from bayes_xmass.errors import InputError

__all__ = ["MAX_SPECTRA_POINTS", "add_spectra_parser", "cmd_spectra"]

MAX_SPECTRA_POINTS = 1_000_000


def add_spectra_parser(sub) -> None:
    """Register ``spectra``."""
    p = sub.add_parser("spectra", help="plot and tabulate true-energy recoil spectra (PNG + CSV)")
    p.add_argument("interaction", help="magnetic-moment, millicharge or dark-photon")
    p.add_argument(
        "--coupling", type=float, default=None, help="coupling (mu_B, e or g); default: the XMASS-I published limit"
    )
    p.add_argument("--mass", type=float, default=None, help="dark-photon mediator mass in MeV")
    p.add_argument(
        "--flavours",
        default="common",
        choices=["common", "e", "mu", "tau"],
        help="neutrino flavours carrying the millicharge",
    )
    p.add_argument("--emin", type=float, default=0.5, help="lowest recoil energy, keV")
    p.add_argument("--emax", type=float, default=250.0, help="highest recoil energy, keV")
    p.add_argument("--step", type=float, default=0.05, help="grid step, keV")
    p.add_argument("--out", type=Path, default=Path("spectra.png"), help="PNG path; CSV written beside it")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    add_physics_options(p)
    p.set_defaults(func=cmd_spectra)


def cmd_spectra(args) -> int:
    """Compute, plot and tabulate the true-energy recoil spectra of one interaction."""
    from bayes_xmass.physics.interactions import get_interaction
    from bayes_xmass.workflows.spectra import write_recoil_spectra  # lazy: fast --help and error paths

    try:
        inter = get_interaction(args.interaction)
    except KeyError as exc:
        raise InputError("command line", "interaction", exc.args[0]) from None
    if not (0 < args.emin < args.emax < math.inf) or not (0 < args.step < math.inf):
        raise InputError("command line", "--emin/--emax/--step", "need finite 0 < emin < emax and step > 0")
    if (args.emax - args.emin) / args.step > MAX_SPECTRA_POINTS:
        raise InputError(
            "command line",
            "--step",
            f"grid of {(args.emax - args.emin) / args.step:.3g} points is too "
            f"large (at most {MAX_SPECTRA_POINTS}); use a larger --step",
        )
    if args.coupling is not None and not math.isfinite(args.coupling):
        raise InputError("command line", "--coupling", f"must be finite, got {args.coupling}")
    cfg = physics_config(args)
    if inter.name == "b_minus_l" and (args.mass is None or not (args.mass >= 0 and math.isfinite(args.mass))):
        raise InputError("command line", "--mass", "dark-photon spectra need --mass >= 0 (MeV)")
    if Path(args.out).suffix.lower() != ".png":
        raise InputError("command line", "--out", f"must be a .png path (the CSV goes beside it), got {Path(args.out)}")
    png, csv = write_recoil_spectra(
        inter.name,
        out=args.out,
        emin=args.emin,
        emax=args.emax,
        step=args.step,
        coupling=args.coupling,
        mass_mev=args.mass,
        flavours=args.flavours,
        physics=cfg,
        overwrite=args.overwrite,
    )
    print(f"wrote {png} and {csv}")
    return 0
