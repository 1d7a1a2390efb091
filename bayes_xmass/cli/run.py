"""``bayes-xmass run``: the full analysis (Bayesian + frequentist, all interactions) into a run directory.

Exit 3: diagnostics flagged (full mode) unless ``--allow-bad-diagnostics``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from bayes_xmass.cli.common import log
from bayes_xmass.cli.options import add_execution_options

__all__ = ["add_run_parser", "cmd_run"]


def add_run_parser(sub) -> None:
    """Register ``run`` (and its execution options)."""
    p = sub.add_parser("run", help="the full analysis (Bayesian + frequentist, all interactions) -> run directory")
    p.add_argument("--dataset", type=Path, default=None, help="dataset folder (default: bundled XMASS-I benchmark)")
    p.add_argument("--out", type=Path, default=Path("results"), help="run directory (default: results)")
    p.add_argument(
        "--quick",
        action="store_true",
        help="fewer draws, toys and scan points (CI); diagnostics thresholds reported but not enforced",
    )
    p.add_argument("--seed", type=int, default=20201, help="master random seed (recorded)")
    p.add_argument("--overwrite", action="store_true", help="allow writing into a non-empty run directory")
    p.add_argument("--allow-bad-diagnostics", action="store_true", help="exit 0 even if diagnostics are flagged")
    p.add_argument(
        "--serial",
        action="store_true",
        help="everything in this process (by default the B-L part "
        "runs in a second process beside the others; same results)",
    )
    p.add_argument(
        "--rrpa-table",
        type=Path,
        default=None,
        help="CSV energy_keV,ratio_to_free: adds an RRPA row to the atomic-model tables (the fits keep their model files' atomic model)",
    )
    p.set_defaults(func=cmd_run)
    add_execution_options(p)


def cmd_run(args) -> int:
    """The full analysis on a dataset (default: the bundled XMASS-I benchmark)."""
    from bayes_xmass.workflows.run_launch import start_run  # light: loads the dataset, starts the worker

    if args.rrpa_table is not None:  # checked before anything starts: a bad table is a one-line error
        from bayes_xmass.physics.atomic import AtomicModel

        AtomicModel.from_rrpa_csv(args.rrpa_table)
    with start_run(args.dataset, args.out, overwrite=args.overwrite, serial=args.serial) as launch:
        # lazy, and only now: this import overlaps the background worker's own import of the same module
        from bayes_xmass.workflows.run import run_full_analysis
        from bayes_xmass.workflows.run_summary import diagnostics_failures

        result = run_full_analysis(launch, quick=args.quick, seed=args.seed, log=log, rrpa_table=args.rrpa_table)
    print(
        f"wrote {launch.out}/: summary.md, report.html, limits.json, comparison.csv, *.nc, plots/ "
        f"({result['provenance']['seconds']:.0f} s)"
    )
    bad = diagnostics_failures(result)
    if bad and result["provenance"]["settings"]["enforce_diagnostics"] and not args.allow_bad_diagnostics:
        print(
            f"bayes-xmass: diagnostics flagged for {', '.join(bad)} (see report); "
            "pass --allow-bad-diagnostics to accept",
            file=sys.stderr,
        )
        return 3
    return 0
