"""``bayes-xmass combine``: one fit over several datasets sharing the coupling.

    bayes-xmass combine magnetic-moment --dataset data/xmass_i --dataset my_xenon1t \
        --out comb [--shared-nuisance energy_scale ...] [--alone all|frequentist|none]

The interaction argument, the model/prior/window/sampler options and the exit codes are those of
``sample`` (the window and bin width apply to every dataset, clipped to its range). Writes a run
directory (:mod:`bayes_xmass.workflows.combine`). Bad input: one line, exit 2, nothing written.
"""

from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path

from bayes_xmass.errors import InputError


def add_combine_parser(sub) -> None:
    """Register the ``combine`` subcommand (options of ``sample`` with a repeatable --dataset)."""
    from bayes_xmass.cli.main import _add_fit_options
    from bayes_xmass.workflows.combine import ALONE_CHOICES

    p = sub.add_parser("combine", conflict_handler="resolve",
                       help="combined Bayesian + frequentist fit of several datasets sharing the coupling")
    _add_fit_options(p)
    p.add_argument("--dataset", type=Path, action="append", default=None, required=True,
                   help="dataset folder (repeat for each dataset; at least two)")
    p.add_argument("--shared-nuisance", action="append", default=[], metavar="NAME",
                   help="nuisance common to the datasets that have it (same prior): energy_scale, "
                        "norm_<background> or gamma (per-bin template factors; identical binning). "
                        "Repeatable; default: every dataset has its own nuisances")
    p.add_argument("--alone", choices=list(ALONE_CHOICES), default="all",
                   help="also fit each dataset alone for comparison: Bayesian and frequentist (all, "
                        "default), frequentist only, or none")
    from bayes_xmass.cli.main import add_sampler_options

    add_sampler_options(p, "exit 0 even if the combined fit's R-hat/ESS/divergence/BFMI thresholds fail")
    p.set_defaults(func=cmd_combine)


def cmd_combine(args: argparse.Namespace) -> int:
    """Validate everything, then fit the combination (and each dataset alone) into a run directory."""
    from bayes_xmass.cli.common import log as _log
    from bayes_xmass.cli.main import _load_spec_and_dataset
    from bayes_xmass.workflows.combine import plan_combination, run_combination
    from bayes_xmass.datasets.dataset import load_dataset
    from bayes_xmass.workflows.fits import prepare_run_dir, select_targets

    paths = list(args.dataset or [])
    if len(paths) < 2:
        raise InputError("command line", "--dataset", f"combine needs at least two datasets, got {len(paths)}")
    first = copy.copy(args)
    first.dataset = paths[0]
    spec, ds0 = _load_spec_and_dataset(first)
    datasets = [ds0] + [load_dataset(p) for p in paths[1:]]
    seen = {}
    for path, ds in zip(paths, datasets):
        if ds.checksum in seen:
            raise InputError(path, "--dataset", f"same content as {seen[ds.checksum]} (a dataset counted twice)")
        seen[ds.checksum] = path
    targets = select_targets(spec, flavours=args.flavours, signs=args.sign, masses=args.mass)
    if len(targets) != 1:
        raise InputError("command line", "--sign/--flavours/--mass",
                         f"combine fits one target at a time; the model gives {len(targets)} "
                         f"({', '.join(t.label for t in targets)}): choose one")
    labels, tpls = plan_combination(spec, datasets, targets[0], args.shared_nuisance)
    out = prepare_run_dir(args.out, args.overwrite)
    result = run_combination(spec, datasets, targets[0], out, labels=labels, tpls=tpls,
                             shared=args.shared_nuisance, seed=args.seed, alone=args.alone,
                             progress=not args.no_progress, overwrite=args.overwrite, log=_log)
    from bayes_xmass.outputs.compare import terminal_table

    print(terminal_table(result["comparison"]))
    print(f"wrote {out}/: limits.json, comparison.csv/.md, summary.md, *.nc, plots/")
    diag = result["combined"]["diagnostics"]
    if not diag["ok"] and not args.allow_bad_diagnostics:
        print(f"bayes-xmass: diagnostics failed for the combined fit ({'; '.join(diag['failures'])}); "
              "pass --allow-bad-diagnostics to accept", file=sys.stderr)
        return 3
    return 0
