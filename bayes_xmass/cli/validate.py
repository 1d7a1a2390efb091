"""``bayes-xmass validate sbc|coverage|prior-sensitivity``: the statistical validation commands.

Arguments are checked here (bad input: InputError, exit 2, nothing written); each command then
calls one job of :mod:`bayes_xmass.workflows.validate`. ``validate sbc`` exits 3 when rank
uniformity is rejected.
"""

from __future__ import annotations

import math
from pathlib import Path

from bayes_xmass.cli.common import log
from bayes_xmass.errors import InputError

__all__ = ["add_validate_parser"]


# -- validate: simulation-based calibration, coverage, prior sensitivity (workflows/validate.py) -
def add_validate_parser(sub) -> None:
    """Register ``validate`` and its studies (sbc, coverage, prior-sensitivity)."""
    from bayes_xmass.cli.options import add_execution_options

    v = sub.add_parser("validate", help="statistical validation: SBC, coverage, prior sensitivity")
    vsub = v.add_subparsers(dest="study", metavar="STUDY")

    def common(p, seed):
        p.add_argument("interaction", help="magnetic-moment, millicharge, dark-photon, or a model TOML file")
        p.add_argument("--dataset", type=Path, default=None, help="dataset folder (default: bundled XMASS-I benchmark)")
        p.add_argument("--mass", type=float, default=None, help="dark-photon mediator mass in MeV (default 10)")
        p.add_argument(
            "--flavours",
            choices=["common", "e", "mu", "tau"],
            default=None,
            help="millicharge flavour set (default: the model's first)",
        )
        p.add_argument(
            "--sign", type=int, choices=[1, -1], default=None, help="millicharge sign (default: the model's first)"
        )
        p.add_argument(
            "--reduced",
            action="store_true",
            help="reduced analysis (narrow window, merged bins; all nuisances kept): the CI version",
        )
        p.add_argument("--seed", type=int, default=seed, help=f"master random seed (default {seed}; recorded)")
        p.add_argument(
            "--out", type=Path, required=True, help="output folder (refused if non-empty unless --overwrite)"
        )
        p.add_argument("--overwrite", action="store_true", help="allow writing into a non-empty output folder")

    from bayes_xmass.validation.sbc import SBC_ALPHA, SBC_SEED

    p = vsub.add_parser("sbc", help="simulation-based calibration (rank uniformity of prior draws); exit 3 if it fails")
    common(p, SBC_SEED)
    p.add_argument("--replicas", type=int, default=200, help="simulated data sets (default 200)")
    p.add_argument("--draws", type=int, default=1000, help="posterior draws per chain (default 1000)")
    p.add_argument("--tune", type=int, default=500, help="tuning steps per chain (default 500)")
    p.add_argument("--chains", type=int, default=2, help="chains per replica (default 2)")
    p.add_argument("--target-accept", type=float, default=None, help="NUTS target acceptance (default: the model's)")
    p.add_argument(
        "--rank-draws", type=int, default=99, help="thinned draws L the true value is ranked among (default 99)"
    )
    p.add_argument("--alpha", type=float, default=SBC_ALPHA, help=f"family-wise test level (default {SBC_ALPHA})")
    p.add_argument("--processes", type=int, default=1, help="local worker processes (default 1: this process)")
    p.add_argument(
        "--chain-starts",
        choices=["mode", "prior"],
        default="mode",
        help="NUTS chain starts: around the likelihood's dominant mode (default) or the earlier prior-scaled "
        "points with a small signal (for comparison; README, 'Posteriors that find the dominant mode')",
    )
    p.add_argument(
        "--prior-upper",
        type=float,
        default=None,
        help="POI prior upper bound (units of the coupling scale) for simulation and fit; default: the "
        "model TOML's. A bound near the expected limit probes the region where the prior matters",
    )
    p.add_argument(
        "--fit-prior-upper-factor",
        type=float,
        default=1.0,
        help="DEMONSTRATION: fit with the POI prior's range times this factor (a wrong prior)",
    )
    p.add_argument(
        "--fit-signal-factor",
        type=float,
        default=1.0,
        help="DEMONSTRATION: fit with signal templates times this factor (a wrong likelihood)",
    )
    add_execution_options(p)
    p.set_defaults(func=cmd_validate_sbc)

    p = vsub.add_parser("coverage", help="coverage of the credible and frequentist limits over toys")
    common(p, 11)
    p.add_argument(
        "--true-values",
        type=float,
        nargs="+",
        default=None,
        metavar="C",
        help="true |coupling| values in physical units (mu_B, e, g); default 0, 0.5, 1, 1.5, 2 x the "
        "background-only Asimov Delta chi2 = 2.71 limit",
    )
    p.add_argument("--toys", type=int, default=200, help="frequentist toys per true value (default 200)")
    p.add_argument(
        "--bayes-toys", type=int, default=50, help="Bayesian (NUTS) toys per true value (default 50; 0 = none)"
    )
    p.add_argument(
        "--calibration-toys",
        type=int,
        default=1000,
        help="toys per grid point calibrating the toy-calibrated one-sided limit (default 1000; 0 = skip it)",
    )
    add_execution_options(p)
    p.set_defaults(func=cmd_validate_coverage)

    p = vsub.add_parser(
        "prior-sensitivity", help="credible limit under each POI prior and widened/narrowed nuisance priors"
    )
    common(p, 5)
    p.add_argument(
        "--method",
        choices=["refit", "reweight", "hybrid"],
        default="refit",
        help="refit every variant with NUTS (default), reweight the baseline posterior (PSIS), "
        "or hybrid: reweight and refit where Pareto k-hat > 0.7",
    )
    p.set_defaults(func=cmd_validate_prior_sensitivity)
    v.set_defaults(func=lambda args: (v.print_help(), 2)[1])


def _study_options(args) -> dict:
    """The options every study shares (model, dataset, fit, output folder), as workflow keywords."""
    return {
        "interaction": args.interaction,
        "dataset": args.dataset,
        "reduced": args.reduced,
        "mass_mev": args.mass,
        "sign": args.sign,
        "flavours": args.flavours,
        "out": args.out,
        "overwrite": args.overwrite,
    }


def cmd_validate_sbc(args) -> int:
    """Simulation-based calibration of one fit; exit 3 when rank uniformity is rejected."""
    from bayes_xmass.validation.sbc import SbcSettings
    from bayes_xmass.workflows.validate import validate_sbc

    if args.target_accept is not None and not 0.5 <= args.target_accept < 1:
        raise InputError("command line", "--target-accept", f"must be in [0.5, 1), got {args.target_accept}")
    settings = SbcSettings(
        args.replicas,
        args.chains,
        args.draws,
        args.tune,
        args.target_accept or 0.95,
        args.rank_draws,
        args.alpha,
        args.seed,
        chain_starts=args.chain_starts,
    )
    settings.validate()
    for name in ("fit_prior_upper_factor", "fit_signal_factor"):
        if not (math.isfinite(getattr(args, name)) and getattr(args, name) > 0):
            raise InputError("command line", "--" + name.replace("_", "-"), "must be finite and > 0")
    if args.processes < 1:
        raise InputError("command line", "--processes", "must be >= 1")
    if args.prior_upper is not None and not (math.isfinite(args.prior_upper) and args.prior_upper > 0):
        raise InputError("command line", "--prior-upper", f"must be finite and > 0, got {args.prior_upper}")
    result = validate_sbc(
        **_study_options(args),
        settings=settings,
        prior_upper=args.prior_upper,
        fit_prior_upper_factor=args.fit_prior_upper_factor,
        fit_signal_factor=args.fit_signal_factor,
        scheduler=args.scheduler,
        processes=args.processes,
        log=log,
    )
    out = Path(args.out)
    print(
        f"SBC {result.label}: {'PASSED' if result.passed else 'FAILED'} (min p = {result.tests['min_p']:.3g}); "
        f"wrote {out}/sbc.nc, sbc_ranks.png, sbc.md, sbc.json"
    )
    return 0 if result.passed else 3


def cmd_validate_coverage(args) -> int:
    """Coverage table and plot for one fit."""
    from bayes_xmass.workflows.validate import validate_coverage

    if args.true_values is not None and any(not (math.isfinite(v) and v >= 0) for v in args.true_values):
        raise InputError("command line", "--true-values", "must be finite |coupling| values >= 0")
    validate_coverage(
        **_study_options(args),
        true_values=args.true_values,
        toys=args.toys,
        bayes_toys=args.bayes_toys,
        calibration_toys=args.calibration_toys,
        seed=args.seed,
        log=log,
    )
    print(f"wrote {Path(args.out)}/coverage.csv, coverage.md, coverage.png, coverage.json")
    return 0


def cmd_validate_prior_sensitivity(args) -> int:
    """Prior-sensitivity table for one fit."""
    from bayes_xmass.outputs.validation_report import sensitivity_markdown
    from bayes_xmass.workflows.validate import validate_prior_sensitivity

    sens = validate_prior_sensitivity(**_study_options(args), method=args.method, seed=args.seed)
    print(sensitivity_markdown(sens))
    return 0
