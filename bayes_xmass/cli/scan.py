"""``bayes-xmass scan dark-photon --masses 1e-3:10:40 --log``: the resumable B-L exclusion scan,
and the execution options (``--scheduler``, ``--no-cache``) shared with ``limit`` and ``run``.

Bad arguments raise InputError before anything is written (exit 2 via :func:`bayes_xmass.cli.main`).
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from bayes_xmass.errors import InputError

SCAN_DRAWS, SCAN_TUNE = 2000, 500  # default NUTS draws / tuning steps per chain and mass (a mass
# whose diagnostics fail is re-sampled, scan.py), also used by `run`'s B-L scan. 500 tuning steps:
# all 16 masses of `run`'s grid pass for 2 seed sets (smallest bulk ESS 902, POI ESS >= 1361)
DEFAULT_SCAN_TOYS = 50  # background-only toys per mass for the expected bands (batched fits, ~10 ms each)


def add_execution_options(p) -> None:
    """``--scheduler`` and ``--no-cache`` for a subcommand."""
    g = p.add_argument_group("execution")
    g.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="run toys/scan points on a dask.distributed scheduler (tcp://host:8786, or "
                        "'local-cluster'); default: $BAYES_XMASS_SCHEDULER, else local processes")
    g.add_argument("--no-cache", action="store_true",
                   help="do not read or write the on-disk template cache ($BAYES_XMASS_CACHE, "
                        "default ~/.cache/bayes_xmass)")


@contextmanager
def execution_env(args):
    """Export the execution options to the environment (read by executor/cache, inherited by worker
    processes) for the duration of a command; restored afterwards."""
    from bayes_xmass.runtime.cache import NO_CACHE_ENV
    from bayes_xmass.runtime.executor import SCHEDULER_ENV

    scheduler = getattr(args, "scheduler", None)
    if scheduler is not None and not scheduler.strip():
        raise InputError("command line", "--scheduler", "empty address")
    values = {NO_CACHE_ENV: "1"} if getattr(args, "no_cache", False) else {}
    if scheduler is not None:
        from bayes_xmass.runtime.executor import check_scheduler

        check_scheduler(scheduler)  # before the command writes anything
        values[SCHEDULER_ENV] = scheduler
    from bayes_xmass.runtime.executor import environment, single_threaded_blas

    # small fits: one BLAS thread is ~10x faster and reproducible
    with environment(values), single_threaded_blas():
        from bayes_xmass.runtime.graph_cache import enable

        enable()  # rewritten PyTensor graphs from the on-disk cache (unless --no-cache)
        yield


def add_scan_parser(sub) -> None:
    p = sub.add_parser("scan", help="B-L exclusion scan over mediator masses (resumable) -> output directory")
    p.add_argument("interaction", help="dark-photon (the only mass-dependent interaction)")
    p.add_argument("--masses", required=True,
                   help="mediator masses in MeV: LO:HI:N (N points) or a comma list, e.g. 1e-3:10:40")
    sp = p.add_mutually_exclusive_group()
    sp.add_argument("--log", dest="linear", action="store_false", help="log spacing for LO:HI:N (default)")
    sp.add_argument("--linear", dest="linear", action="store_true", help="linear spacing for LO:HI:N")
    p.add_argument("--dataset", type=Path, default=None, help="dataset folder (default: bundled XMASS-I benchmark)")
    p.add_argument("--model", type=Path, default=None, help="model TOML (default: models/dark_photon.toml)")
    p.add_argument("--out", type=Path, required=True, help="output directory (resumed if it holds the same scan)")
    p.add_argument("--seed", type=int, default=20201, help="master random seed (recorded)")
    p.add_argument("--toys", type=int, default=DEFAULT_SCAN_TOYS,
                   help=f"background-only toys per mass for the expected bands (default {DEFAULT_SCAN_TOYS}; 0 = none)")
    p.add_argument("--frequentist-only", action="store_true", help="skip the NUTS fits")
    p.add_argument("--draws", type=int, default=None,
                   help=f"NUTS draws per chain (default {SCAN_DRAWS}; a mass whose diagnostics fail is "
                        "re-sampled with 2x, then 4x the draws)")
    p.add_argument("--tune", type=int, default=None, help=f"NUTS tuning steps per chain (default {SCAN_TUNE})")
    p.add_argument("--chains", type=int, default=None)
    p.add_argument("--processes", type=int, default=None,
                   help="local worker processes (default: 1 for Bayesian scans, else the core count for "
                        "large toy scans)")
    p.add_argument("--overwrite", action="store_true", help="discard a different scan in --out and start afresh")
    p.add_argument("--allow-bad-diagnostics", action="store_true", help="exit 0 even if diagnostics are flagged")
    add_execution_options(p)
    p.set_defaults(func=cmd_scan, linear=False)


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def cmd_scan(args) -> int:
    """Per-mass Bayesian and frequentist limits on g, expected bands, exclusion plot; resumable."""
    import numpy as np

    from bayes_xmass.datasets.dataset import load_dataset
    from bayes_xmass.runtime.executor import describe_scheduler
    from bayes_xmass.physics.interactions import INTERACTIONS, get_interaction
    from bayes_xmass.model.spec import load_model_spec, model_spec_for
    from bayes_xmass.workflows.fits import DEFAULT_DATASET
    from bayes_xmass.infer.scan import PointSettings, parse_masses, run_scan, scan_dataset
    from bayes_xmass.workflows import scan as scanrun

    try:
        inter = get_interaction(args.interaction)
    except KeyError as exc:
        raise InputError("command line", "interaction", exc.args[0]) from None
    if inter.name != "b_minus_l":
        raise InputError("command line", "interaction", f"scan needs dark-photon (mass-dependent), got {args.interaction}")
    masses = parse_masses(args.masses, log=not args.linear)
    for key in ("draws", "chains", "processes"):
        if getattr(args, key) is not None and getattr(args, key) < 1:
            raise InputError("command line", f"--{key}", f"must be >= 1, got {getattr(args, key)}")
    if args.tune is not None and args.tune < 0:
        raise InputError("command line", "--tune", f"must be >= 0, got {args.tune}")
    if args.toys < 0:
        raise InputError("command line", "--toys", f"must be >= 0, got {args.toys}")
    spec = load_model_spec(args.model) if args.model else model_spec_for("dark-photon")
    if spec.interaction != "b_minus_l":
        raise InputError(args.model, "model.interaction", f"scan needs b_minus_l, got {spec.interaction}")
    sampler = dataclasses.replace(spec.sampler, name="nutpie", draws=args.draws or SCAN_DRAWS,
                                  tune=SCAN_TUNE if args.tune is None else args.tune,
                                  chains=args.chains or spec.sampler.chains)
    dataset = load_dataset(args.dataset or DEFAULT_DATASET)
    bayesian = not args.frequentist_only
    settings = PointSettings(spec.cl, spec.likelihood, spec.poi_prior if bayesian else None, sampler, args.toys,
                             args.seed)
    config = scanrun.scan_config(spec, dataset, masses, settings)
    h = scanrun.config_hash(config)
    state = scanrun.prepare_scan_dir(args.out, config, args.overwrite)  # raises before writing anything
    out = Path(args.out)
    if state == "complete":
        print(f"{out}/ already holds this complete scan (config {h}); nothing to do")
        return 0
    if state == "fresh":
        scanrun.start_fresh(out, config)
    done = scanrun.read_points(out, h, masses)
    processes = args.processes or (1 if bayesian or args.toys * (masses.size - len(done)) < 200
                                   else os.cpu_count() or 1)
    backend = describe_scheduler(None, processes)
    _log(f"bayes-xmass scan: {masses.size} masses {masses[0]:.3g}-{masses[-1]:.3g} MeV, "
         f"{'frequentist only' if not bayesian else 'Bayesian + frequentist'}, {args.toys} toys/mass, "
         f"{backend}, config {h}, out {out}")
    started = time.perf_counter()
    run_scan(spec, dataset, masses, settings, done=done, processes=processes,
             on_point=lambda i, row: scanrun.write_point(out, h, i, row), log=_log)
    points = scanrun.read_points(out, h, masses)  # the final result is built from the persisted points
    if len(points) != masses.size:
        raise RuntimeError(f"{masses.size - len(points)} scan points missing after the scan")
    rows = [points[i] for i in range(masses.size)]
    attrs = scanrun.provenance_attrs(config, dataset, backend, len(done), time.perf_counter() - started)
    ds = scan_dataset(masses, rows, attrs)
    files = scanrun.write_final(out, ds, config, published=INTERACTIONS["b_minus_l"].published_limits, cl=spec.cl)
    n = masses.size
    new = [points[i]["seconds"] for i in range(n) if i not in done]
    timing = f", median {np.median(new):.2f} s per point" if new else ""
    print(f"wrote {files['netcdf']}, {files['csv']}, {files['plot']} ({n} masses, {len(new)} computed now{timing}; "
          f"{time.perf_counter() - started:.1f} s)")
    flags = ds["diagnostics_ok"].values if "diagnostics_ok" in ds else np.ones(n, dtype=bool)
    bad = [f"{m:g}" for m, ok in zip(masses, flags) if not ok]
    if bad and not args.allow_bad_diagnostics:
        print(f"bayes-xmass: diagnostics flagged at M = {', '.join(bad)} MeV (ringed in the plot); "
              "pass --allow-bad-diagnostics to accept", file=sys.stderr)
        return 3
    return 0
