"""``bayes-xmass combine``: one fit over several datasets sharing the coupling.

    bayes-xmass combine magnetic-moment --dataset data/xmass_i --dataset my_xenon1t \
        --out comb [--shared-nuisance energy_scale ...] [--alone all|frequentist|none]

The interaction argument, the model/prior/window/sampler options and the exit codes are those of
``sample`` (the window and bin width apply to every dataset, clipped to its range). Writes a run
directory (:func:`bayes_xmass.workflows.combine.combine_datasets`). Bad input: one line, exit 2,
nothing written.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bayes_xmass.cli.common import log
from bayes_xmass.cli.options import add_fit_options, add_sampler_options, fit_options
from bayes_xmass.errors import InputError

__all__ = ["add_combine_parser", "cmd_combine"]


def add_combine_parser(sub) -> None:
    """Register the ``combine`` subcommand (options of ``sample`` with a repeatable --dataset)."""
    from bayes_xmass.workflows.combine import ALONE_CHOICES  # lazy, as the other workflows

    p = sub.add_parser(
        "combine",
        conflict_handler="resolve",
        help="combined Bayesian + frequentist fit of several datasets sharing the coupling",
    )
    add_fit_options(p)
    p.add_argument(
        "--dataset",
        type=Path,
        action="append",
        default=None,
        required=True,
        help="dataset folder (repeat for each dataset; at least two)",
    )
    p.add_argument(
        "--shared-nuisance",
        action="append",
        default=[],
        metavar="NAME",
        help="nuisance common to the datasets that have it (same prior): energy_scale, "
        "norm_<background> or gamma (per-bin template factors; identical binning). "
        "Repeatable; default: every dataset has its own nuisances",
    )
    p.add_argument(
        "--alone",
        choices=list(ALONE_CHOICES),
        default="all",
        help="also fit each dataset alone for comparison: Bayesian and frequentist (all, "
        "default), frequentist only, or none",
    )
    add_sampler_options(
        p,
        "exit 0 even if the combined fit's R-hat/ESS/divergence/BFMI thresholds fail or the prior's bound sets its limit",
    )
    p.set_defaults(func=cmd_combine)


def cmd_combine(args: argparse.Namespace) -> int:
    """Check the arguments, then fit the combination (and each dataset alone) into a run directory."""
    from bayes_xmass.outputs.compare import terminal_table
    from bayes_xmass.workflows.combine import combine_datasets

    paths = list(args.dataset or [])
    if len(paths) < 2:
        raise InputError("command line", "--dataset", f"combine needs at least two datasets, got {len(paths)}")
    out, result = combine_datasets(
        fit_options(args),
        paths,
        out=args.out,
        shared=args.shared_nuisance,
        alone=args.alone,
        seed=args.seed,
        progress=not args.no_progress,
        overwrite=args.overwrite,
        log=log,
    )
    print(terminal_table(result["comparison"]))
    print(f"wrote {out}/: limits.json, comparison.csv/.md, summary.md, *.nc, plots/")
    diag = result["combined"]["diagnostics"]
    if not diag["ok"] and not args.allow_bad_diagnostics:
        print(
            f"bayes-xmass: diagnostics failed for the combined fit ({'; '.join(diag['failures'])}); "
            "pass --allow-bad-diagnostics to accept",
            file=sys.stderr,
        )
        return 3
    return 0
