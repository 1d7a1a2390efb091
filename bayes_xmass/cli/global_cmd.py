"""``bayes-xmass global``: the global analysis of the public xenon electron-recoil data.

    bayes-xmass global [--dataset xenonnt_sr0 --dataset lz_ws2024 ...] [--interaction magnetic-moment]
                       [--out results_global] [--toys 50] [--quick] [--seed 2022] [--processes 2]

Default: every bundled public dataset, all three interactions. Exit 0, 2 (bad input, nothing
written) or 3 (a posterior failed its diagnostics, e.g. a credible limit set by the prior's bound;
``--allow-bad-diagnostics`` accepts).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bayes_xmass.cli.common import log

__all__ = ["add_global_parser", "cmd_global"]


def add_global_parser(sub) -> None:
    """Register ``global``."""
    p = sub.add_parser(
        "global", help="global analysis of the bundled public xenon ER data (each experiment alone and combined)"
    )
    p.add_argument(
        "--dataset",
        action="append",
        default=None,
        help="bundled dataset name (xenonnt_sr0, lz_ws2022, lz_ws2024, pandax4t_run1, xenon1t_sr1) or a "
        "dataset folder; repeatable (default: all bundled public datasets)",
    )
    p.add_argument(
        "--interaction",
        action="append",
        choices=["magnetic-moment", "millicharge", "dark-photon"],
        default=None,
        help="repeatable (default: all three)",
    )
    p.add_argument("--out", type=Path, default=Path("results_global"), help="run directory (default results_global)")
    p.add_argument("--toys", type=int, default=50, help="background-only toys per combined fit (expected band)")
    p.add_argument("--quick", action="store_true", help="common millicharge only, fewer draws, 20 toys, 5 curve masses")
    p.add_argument("--seed", type=int, default=2022)
    p.add_argument(
        "--atomic",
        default="",
        choices=["stepping", "stepping+epa", "free"],
        help="atomic model for every fit (default: each model file's, stepping)",
    )
    p.add_argument(
        "--processes",
        type=int,
        default=2,
        help="worker processes, one interaction each (default 2; 1 = all in this process); same numbers",
    )
    p.add_argument("--overwrite", action="store_true", help="write into a non-empty run directory")
    p.add_argument("--no-progress", action="store_true", help="hide the sampler progress bars")
    p.add_argument("--allow-bad-diagnostics", action="store_true", help="exit 0 even if a posterior fails its checks")
    p.set_defaults(func=cmd_global)


def cmd_global(args: argparse.Namespace) -> int:
    """Run the global analysis; print the combined limits."""
    from bayes_xmass.workflows.global_analysis import DEFAULT_INTERACTIONS, GlobalOptions, run_global

    options = GlobalOptions(
        datasets=tuple(args.dataset) if args.dataset else None,
        interactions=tuple(args.interaction) if args.interaction else DEFAULT_INTERACTIONS,
        toys=args.toys,
        quick=args.quick,
        seed=args.seed,
        processes=args.processes,
        atomic=args.atomic,
    )
    result = run_global(options, out=args.out, progress=not args.no_progress, overwrite=args.overwrite, log=log)
    print(f"{'fit':34s} {'unit':5s} {'Bayes':>10s} {'Δχ²=2.71':>10s} {'one-sided':>10s}  best single Δχ²=2.71")
    for t in result["targets"]:
        c = t["combined"]
        single = min(t["alone"].items(), key=lambda kv: kv[1]["delta_chi2_271"])
        mark = " (!)" if c.get("diagnostics_ok") is False else ""
        print(
            f"{t['fit']:34s} {t['coupling_unit']:5s} {c.get('bayes', float('nan')):10.3g}{mark} "
            f"{c['delta_chi2_271']:10.3g} {c['one_sided']:10.3g}  {single[1]['delta_chi2_271']:.3g} ({single[0]})"
        )
    print(f"wrote {args.out}/: limits.json, summary.md, report.html, comparison.csv, plots/, one folder per fit")
    if result["diagnostics_failed"] and not args.allow_bad_diagnostics:
        print(
            "bayes-xmass: diagnostics failed for "
            + ", ".join(result["diagnostics_failed"])
            + " (marked (!)); pass --allow-bad-diagnostics to accept",
            file=sys.stderr,
        )
        return 3
    return 0
