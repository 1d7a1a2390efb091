"""``bayes-xmass scan dark-photon --masses 1e-3:10:40 --log``: the resumable B-L exclusion scan.

Arguments are checked here; the work is :func:`bayes_xmass.workflows.scan.run_scan_dir`. Bad
arguments raise InputError before anything is written (exit 2 via :func:`bayes_xmass.cli.main.main`).
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

from bayes_xmass.cli.common import log
from bayes_xmass.cli.options import add_execution_options
from bayes_xmass.errors import InputError
from bayes_xmass.workflows.scan_defaults import DEFAULT_SCAN_TOYS, SCAN_DRAWS, SCAN_TUNE

__all__ = ["add_scan_parser", "cmd_scan"]


def add_scan_parser(sub) -> None:
    """Register ``scan`` (and its execution options)."""
    p = sub.add_parser("scan", help="B-L exclusion scan over mediator masses (resumable) -> output directory")
    p.add_argument("interaction", help="dark-photon (the only mass-dependent interaction)")
    p.add_argument(
        "--masses", required=True, help="mediator masses in MeV: LO:HI:N (N points) or a comma list, e.g. 1e-3:10:40"
    )
    sp = p.add_mutually_exclusive_group()
    sp.add_argument("--log", dest="linear", action="store_false", help="log spacing for LO:HI:N (default)")
    sp.add_argument("--linear", dest="linear", action="store_true", help="linear spacing for LO:HI:N")
    p.add_argument("--dataset", type=Path, default=None, help="dataset folder (default: bundled XMASS-I benchmark)")
    p.add_argument("--model", type=Path, default=None, help="model TOML (default: models/dark_photon.toml)")
    p.add_argument("--out", type=Path, required=True, help="output directory (resumed if it holds the same scan)")
    p.add_argument("--seed", type=int, default=20201, help="master random seed (recorded)")
    p.add_argument(
        "--toys",
        type=int,
        default=DEFAULT_SCAN_TOYS,
        help=f"background-only toys per mass for the expected bands (default {DEFAULT_SCAN_TOYS}; 0 = none)",
    )
    p.add_argument("--frequentist-only", action="store_true", help="skip the NUTS fits")
    p.add_argument(
        "--draws",
        type=int,
        default=None,
        help=f"NUTS draws per chain (default {SCAN_DRAWS}; a mass whose diagnostics fail is "
        "re-sampled with 2x, then 4x the draws)",
    )
    p.add_argument("--tune", type=int, default=None, help=f"NUTS tuning steps per chain (default {SCAN_TUNE})")
    p.add_argument("--chains", type=int, default=None)
    p.add_argument(
        "--processes",
        type=int,
        default=None,
        help="local worker processes (default: 1 for Bayesian scans, else the core count for large toy scans)",
    )
    p.add_argument("--overwrite", action="store_true", help="discard a different scan in --out and start afresh")
    p.add_argument("--allow-bad-diagnostics", action="store_true", help="exit 0 even if diagnostics are flagged")
    add_execution_options(p)
    p.set_defaults(func=cmd_scan, linear=False)


def cmd_scan(args) -> int:
    """Per-mass Bayesian and frequentist limits on g, expected bands, exclusion plot; resumable."""
    # lazy: the workflow imports the numerical stack (fast --help and argument errors)
    from bayes_xmass.infer.scan import parse_masses
    from bayes_xmass.physics.interactions import get_interaction
    from bayes_xmass.workflows.scan import run_scan_dir

    try:
        inter = get_interaction(args.interaction)
    except KeyError as exc:
        raise InputError("command line", "interaction", exc.args[0]) from None
    if inter.name != "b_minus_l":
        raise InputError(
            "command line", "interaction", f"scan needs dark-photon (mass-dependent), got {args.interaction}"
        )
    masses = parse_masses(args.masses, log=not args.linear)
    for key in ("draws", "chains", "processes"):
        if getattr(args, key) is not None and getattr(args, key) < 1:
            raise InputError("command line", f"--{key}", f"must be >= 1, got {getattr(args, key)}")
    if args.tune is not None and args.tune < 0:
        raise InputError("command line", "--tune", f"must be >= 0, got {args.tune}")
    if args.toys < 0:
        raise InputError("command line", "--toys", f"must be >= 0, got {args.toys}")
    result = run_scan_dir(
        masses,
        out=args.out,
        dataset=args.dataset,
        model=args.model,
        seed=args.seed,
        toys=args.toys,
        bayesian=not args.frequentist_only,
        draws=args.draws,
        tune=args.tune,
        chains=args.chains,
        processes=args.processes,
        overwrite=args.overwrite,
        log=log,
    )
    if result.state == "complete":
        print(f"{result.out}/ already holds this complete scan (config {result.config_hash}); nothing to do")
        return 0
    files, new = result.files, result.new_seconds
    timing = f", median {statistics.median(new):.2f} s per point" if new else ""
    print(
        f"wrote {files['netcdf']}, {files['csv']}, {files['plot']} ({result.n_masses} masses, {len(new)} computed "
        f"now{timing}; {result.seconds:.1f} s)"
    )
    if result.flagged_masses and not args.allow_bad_diagnostics:
        print(
            f"bayes-xmass: diagnostics flagged at M = {', '.join(f'{m:g}' for m in result.flagged_masses)} MeV "
            "(ringed in the plot); pass --allow-bad-diagnostics to accept",
            file=sys.stderr,
        )
        return 3
    return 0
