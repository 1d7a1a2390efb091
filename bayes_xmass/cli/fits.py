"""``bayes-xmass sample|limit|compare``: Bayesian fits, frequentist limits, and the two side by side.

The options are checked here (the model-related ones by
:func:`bayes_xmass.workflows.fit_inputs.load_spec_and_dataset`); each command calls one workflow
of :mod:`bayes_xmass.workflows.fits` / :mod:`bayes_xmass.workflows.compare` and prints the result.
Exit 3: diagnostics failed (``sample``, ``compare`` running its fits) unless ``--allow-bad-diagnostics``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from bayes_xmass.cli.common import log
from bayes_xmass.cli.options import add_execution_options, add_fit_options, add_sampler_options, fit_options
from bayes_xmass.errors import InputError

__all__ = ["add_compare_parser", "add_limit_parser", "add_sample_parser", "cmd_compare", "cmd_limit", "cmd_sample"]

# The workflows are imported inside the commands (lazy): --help and argument errors stay fast.


def add_sample_parser(sub) -> None:
    """Register ``sample``."""
    p = sub.add_parser("sample", help="Bayesian fit(s) of one interaction with NUTS -> run directory")
    add_fit_options(p)
    add_sampler_options(
        p, "exit 0 even if R-hat/ESS/divergence/BFMI thresholds fail or the POI prior's bound sets a limit"
    )
    p.set_defaults(func=cmd_sample)


def add_limit_parser(sub) -> None:
    """Register ``limit`` (and its execution options)."""
    p = sub.add_parser("limit", help="frequentist limits (profile likelihood, CLs, toys, Feldman-Cousins)")
    add_fit_options(p, out_required=False)
    p.add_argument("--toys", type=int, default=0, help="background-only toys for expected bands (0 = none)")
    p.add_argument("--fc-toys", type=int, default=0, help="toys per grid point for a Feldman-Cousins interval")
    p.set_defaults(func=cmd_limit, draws=None, tune=None, chains=None, sampler=None)
    add_execution_options(p)


def add_compare_parser(sub) -> None:
    """Register ``compare``."""
    p = sub.add_parser("compare", help="Bayesian vs frequentist: a run directory, or run both for an interaction")
    add_fit_options(p, out_required=False)
    p.add_argument("--toys", type=int, default=0, help="toys for frequentist expected bands")
    p.add_argument("--fc-toys", type=int, default=0, help="toys per grid point for Feldman-Cousins")
    p.add_argument("--sampler", choices=["nutpie", "pymc"], default=None)
    p.add_argument("--draws", type=int, default=None)
    p.add_argument("--tune", type=int, default=None)
    p.add_argument("--chains", type=int, default=None)
    p.add_argument(
        "--allow-bad-diagnostics",
        action="store_true",
        help="exit 0 even if a fit fails its diagnostics (R-hat/ESS/divergences/BFMI, the POI prior's bound)",
    )
    p.set_defaults(func=cmd_compare)


def cmd_sample(args) -> int:
    """Sample the posterior of one interaction's fits and write a run directory."""
    from bayes_xmass.outputs.compare import comparison_row, terminal_table
    from bayes_xmass.workflows.fits import run_sample

    out, results = run_sample(
        fit_options(args),
        out=args.out,
        seed=args.seed,
        progress=not args.no_progress,
        overwrite=args.overwrite,
        log=log,
    )
    print(terminal_table([comparison_row(r.as_dict()) for r in results]))
    print(f"wrote {out}/ ({len(results)} fits): summary.md, limits.json, *.nc, plots/")
    bad = [r.target.label for r in results if not r.diagnostics.ok]
    if bad and not args.allow_bad_diagnostics:
        print(
            f"bayes-xmass: diagnostics failed for {', '.join(bad)} (see summary.md); "
            "pass --allow-bad-diagnostics to accept",
            file=sys.stderr,
        )
        return 3
    return 0


def cmd_limit(args) -> int:
    """Frequentist limits (profile likelihood of the same model) for one interaction."""
    from bayes_xmass.outputs.compare import comparison_row, terminal_table
    from bayes_xmass.workflows.fits import run_limit

    if args.toys < 0 or args.fc_toys < 0:
        raise InputError("command line", "--toys", "must be >= 0")
    out, records = run_limit(
        fit_options(args),
        out=args.out,
        toys=args.toys,
        fc_toys=args.fc_toys,
        seed=args.seed,
        overwrite=args.overwrite,
        log=log,
    )
    print(terminal_table([comparison_row(r) for r in records]))
    if out:
        print(f"wrote {out}/limits.json")
    return 0


def cmd_compare(args) -> int:
    """Bayesian vs frequentist side by side: from a finished run directory, or by running both."""
    from bayes_xmass.outputs.compare import terminal_table
    from bayes_xmass.workflows.compare import comparison_tables, run_compare

    if Path(args.interaction).is_dir():
        print(comparison_tables(Path(args.interaction)))
        return 0
    if args.out is None:
        raise InputError("command line", "--out", "needed when comparing by running an interaction")
    rows = run_compare(
        fit_options(args),
        out=args.out,
        toys=args.toys,
        fc_toys=args.fc_toys,
        seed=args.seed,
        overwrite=args.overwrite,
        log=log,
    )
    print(terminal_table(rows))
    bad = [r["fit"] for r in rows if r.get("diagnostics_ok") is False]
    if bad and not args.allow_bad_diagnostics:
        print(
            f"bayes-xmass: diagnostics failed for {', '.join(bad)} (see limits.json); "
            "pass --allow-bad-diagnostics to accept",
            file=sys.stderr,
        )
        return 3
    return 0
