"""``bayes-xmass export hepdata|pyhf``: results and likelihoods in the formats of the field.

- ``export hepdata RUN_DIR --out DIR``: a HEPData submission (``submission.yaml`` + tables) of a
  finished run directory's ``limits.json``
  (:func:`bayes_xmass.workflows.export_hepdata.export_hepdata`).
- ``export pyhf --interaction NAME [--mass M] --out workspace.json``: the binned model of one fit as a
  pyhf JSON workspace (:func:`bayes_xmass.workflows.export_pyhf.export_pyhf`).

Both need the ``export`` extra (``pip install 'bayes_xmass[export]'``); without it the command says
so in one line (exit 2).
"""

from __future__ import annotations

from pathlib import Path

from bayes_xmass.cli.common import log

__all__ = ["add_export_parser"]


def add_export_parser(sub) -> None:
    """Register ``export`` with its formats (hepdata, pyhf)."""
    p = sub.add_parser("export", help="export results (HEPData) or the binned likelihood (pyhf workspace)")
    fmt = p.add_subparsers(dest="format", metavar="FORMAT")

    h = fmt.add_parser("hepdata", help="a finished run directory -> HEPData submission folder")
    h.add_argument("run_dir", type=Path, help="run directory holding limits.json (any command's)")
    h.add_argument("--out", type=Path, required=True, help="submission folder to create")
    h.add_argument("--overwrite", action="store_true", help="allow writing into a non-empty folder")
    h.set_defaults(func=cmd_export_hepdata)

    w = fmt.add_parser("pyhf", help="one fit's binned model -> pyhf JSON workspace")
    w.add_argument(
        "--interaction", required=True, help="magnetic-moment, millicharge, dark-photon, or a model TOML file"
    )
    w.add_argument("--dataset", type=Path, default=None, help="dataset folder (default: bundled XMASS-I benchmark)")
    w.add_argument(
        "--mass", type=float, default=None, help="dark-photon mediator mass in MeV (default: the model's first)"
    )
    w.add_argument("--flavours", choices=["common", "e", "mu", "tau"], default=None, help="millicharge flavour set")
    w.add_argument("--sign", type=int, choices=[1, -1], default=None, help="millicharge sign")
    w.add_argument("--window", type=float, nargs=2, metavar=("LO", "HI"), default=None, help="analysis window in keV")
    w.add_argument("--bin-width", type=float, default=None, help="merge dataset bins finer than this (keV)")
    w.add_argument("--out", type=Path, required=True, help="workspace JSON file to create")
    w.add_argument("--overwrite", action="store_true", help="allow replacing an existing file")
    w.set_defaults(func=cmd_export_pyhf)
    p.set_defaults(func=lambda args: p.error("choose a format: hepdata or pyhf"))


def cmd_export_hepdata(args) -> int:
    """``export hepdata``."""
    from bayes_xmass.workflows.export_hepdata import export_hepdata

    out = export_hepdata(args.run_dir, out=args.out, overwrite=args.overwrite, log=log)
    print(f"wrote {out}/ (HEPData submission; validated with hepdata-validator)")
    return 0


def cmd_export_pyhf(args) -> int:
    """``export pyhf``."""
    from bayes_xmass.workflows.export_pyhf import export_pyhf
    from bayes_xmass.workflows.fit_inputs import FitOptions

    options = FitOptions(
        interaction=args.interaction,
        dataset=args.dataset,
        masses=None if args.mass is None else (args.mass,),
        flavours=None if args.flavours is None else (args.flavours,),
        signs=None if args.sign is None else (args.sign,),
        window=None if args.window is None else tuple(args.window),
        bin_width=args.bin_width,
    )
    out = export_pyhf(options, out=args.out, overwrite=args.overwrite, log=log)
    print(f"wrote {out} (pyhf JSON workspace)")
    return 0
