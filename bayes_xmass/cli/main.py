"""Command-line interface: ``bayes-xmass <command> ...``.

User errors (bad files, bad arguments) print one line ``bayes-xmass: error: ...`` on stderr and
exit with code 2; nothing is written.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
import time
from pathlib import Path

from bayes_xmass.version import __version__
from bayes_xmass.cli.common import log as _log
from bayes_xmass.cli.validate import add_validate_parser
from bayes_xmass.errors import InputError


def _physics_config(args):
    from bayes_xmass.physics.atomic import AtomicModel
    from bayes_xmass.physics.spectra import PhysicsConfig

    if getattr(args, "rrpa_table", None):
        atomic = AtomicModel.from_rrpa_csv(args.rrpa_table)
    else:
        try:
            atomic = AtomicModel(args.atomic, m_nu_ev=args.m_nu)
        except ValueError as exc:
            raise InputError("command line", "--m-nu", str(exc)) from None
    return PhysicsConfig(flux_set=args.flux_set, atomic=atomic)


def _add_physics_options(p):
    from bayes_xmass.physics.atomic import ATOMIC_MODELS, DEFAULT_M_NU_EV
    from bayes_xmass.physics.solar import DEFAULT_FLUX_SET, FLUX_SETS

    g = p.add_argument_group("physics")
    g.add_argument("--flux-set", default=DEFAULT_FLUX_SET, choices=list(FLUX_SETS))
    g.add_argument("--atomic", default="stepping", choices=[m for m in ATOMIC_MODELS if m != "rrpa_table"],
                   help="atomic model (default: stepping)")
    g.add_argument("--m-nu", type=float, default=DEFAULT_M_NU_EV,
                   help="EPA neutrino-mass regulator in eV (stepping+epa only)")
    g.add_argument("--rrpa-table", type=Path, default=None,
                   help="CSV energy_keV,ratio_to_free; overrides --atomic")


def add_sampler_options(p, diagnostics_help: str) -> None:
    """NUTS implementation, draws/tune/chains, progress bar and the diagnostics override."""
    p.add_argument("--sampler", choices=["nutpie", "pymc"], default=None, help="NUTS implementation")
    p.add_argument("--draws", type=int, default=None)
    p.add_argument("--tune", type=int, default=None)
    p.add_argument("--chains", type=int, default=None)
    p.add_argument("--no-progress", action="store_true", help="hide the sampler progress bar")
    p.add_argument("--allow-bad-diagnostics", action="store_true", help=diagnostics_help)


def cmd_spectra(args) -> int:
    """Compute, plot and tabulate the true-energy recoil spectra of one interaction."""
    import numpy as np

    from bayes_xmass.physics.interactions import get_interaction
    from bayes_xmass.runtime.io import atomic_path
    from bayes_xmass.outputs.plots import plot_recoil_spectra
    from bayes_xmass.physics.spectra import basis_spectra, per_tonne_year, sm_rate

    inter = _get_interaction(args.interaction)
    if not (0 < args.emin < args.emax < math.inf) or not (0 < args.step < math.inf):
        raise InputError("command line", "--emin/--emax/--step", "need finite 0 < emin < emax and step > 0")
    if (args.emax - args.emin) / args.step > MAX_SPECTRA_POINTS:
        raise InputError("command line", "--step", f"grid of {(args.emax - args.emin) / args.step:.3g} points is too "
                         f"large (at most {MAX_SPECTRA_POINTS}); use a larger --step")
    if args.coupling is not None and not math.isfinite(args.coupling):
        raise InputError("command line", "--coupling", f"must be finite, got {args.coupling}")
    cfg = _physics_config(args)
    t = np.arange(args.emin, args.emax + 0.5 * args.step, args.step)
    kwargs = {}
    if inter.name == "millicharge":
        kwargs["flavours"] = args.flavours
    if inter.name == "b_minus_l":
        if args.mass is None or not (args.mass >= 0 and math.isfinite(args.mass)):
            raise InputError("command line", "--mass", "dark-photon spectra need --mass >= 0 (MeV)")
        kwargs["mass_mev"] = args.mass
    coupling = args.coupling if args.coupling is not None else _default_coupling(inter, args)
    basis = basis_spectra(inter.name, t, cfg, **kwargs)
    sm = per_tonne_year(sm_rate(t, cfg))
    signal = per_tonne_year(basis.rate(coupling))
    out = Path(args.out)
    if out.suffix.lower() != ".png":
        raise InputError("command line", "--out", f"must be a .png path (the CSV goes beside it), got {out}")
    csv_out = out.with_suffix(".csv")
    for path in (out, csv_out):
        if path.exists() and not args.overwrite:
            raise InputError(path, "", "exists; refusing to overwrite (pass --overwrite)")
    header = [f"# bayes_xmass {__version__}: {inter.name} at {inter.poi} = {coupling:g} {inter.coupling_unit}",
              f"# physics: {cfg.describe()}", f"# options: {basis.options}",
              "# rates in events/(keV t yr), true recoil energy (no detector response)",
              "energy_keV,sm_rate,signal_rate," + ",".join(f"basis_{k.replace('^', 'pow')}" for k in basis.terms)]
    rows = np.column_stack([t, sm, signal] + [per_tonne_year(v) for v in basis.terms.values()])
    with atomic_path(csv_out, args.overwrite) as tmp:
        with open(tmp, "w") as fh:
            fh.write("\n".join(header) + "\n")
            np.savetxt(fh, rows, delimiter=",", fmt="%.8g")
    label = f"{inter.poi} = {coupling:g} {inter.coupling_unit}" + (
        f", M = {args.mass:g} MeV" if inter.name == "b_minus_l" else "") + (
        f", flavours = {args.flavours}" if inter.name == "millicharge" else "")
    plot_recoil_spectra(t, {label: signal}, sm, f"{inter.cli_name} in Xe ({cfg.atomic.name})", out,
                        args.overwrite)
    print(f"wrote {out} and {csv_out}")
    return 0


MAX_SPECTRA_POINTS = 1_000_000
MAX_SEED = 2**32 - 1  # seeds are offset per fit/toy and passed to numpy, PyMC and nutpie (u64)


def _default_coupling(inter, args):
    if inter.name == "b_minus_l":
        return inter.published_limits.get(args.mass, 1e-5)
    if inter.name == "millicharge":
        return -inter.published_limits[args.flavours]
    return inter.published_limits["common"]


def _get_interaction(name):
    from bayes_xmass.physics.interactions import get_interaction

    try:
        return get_interaction(name)
    except KeyError as exc:
        raise InputError("command line", "interaction", exc.args[0]) from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bayes-xmass",
        description="Search for exotic neutrino-electron interactions (millicharge, magnetic moment, "
                    "U(1)_B-L dark photon) with solar neutrinos in xenon detectors: Bayesian (PyMC/NUTS) "
                    "and frequentist limits side by side. Default dataset: the bundled XMASS-I benchmark.",
    )
    parser.add_argument("--version", action="version", version=f"bayes_xmass {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("spectra", help="plot and tabulate true-energy recoil spectra (PNG + CSV)")
    p.add_argument("interaction", help="magnetic-moment, millicharge or dark-photon")
    p.add_argument("--coupling", type=float, default=None,
                   help="coupling (mu_B, e or g); default: the XMASS-I published limit")
    p.add_argument("--mass", type=float, default=None, help="dark-photon mediator mass in MeV")
    p.add_argument("--flavours", default="common", choices=["common", "e", "mu", "tau"],
                   help="neutrino flavours carrying the millicharge")
    p.add_argument("--emin", type=float, default=0.5, help="lowest recoil energy, keV")
    p.add_argument("--emax", type=float, default=250.0, help="highest recoil energy, keV")
    p.add_argument("--step", type=float, default=0.05, help="grid step, keV")
    p.add_argument("--out", type=Path, default=Path("spectra.png"), help="PNG path; CSV written beside it")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    _add_physics_options(p)
    p.set_defaults(func=cmd_spectra)

    p = sub.add_parser("sample", help="Bayesian fit(s) of one interaction with NUTS -> run directory")
    _add_fit_options(p)
    add_sampler_options(p, "exit 0 even if R-hat/ESS/divergence/BFMI thresholds fail")
    p.set_defaults(func=cmd_sample)

    p = sub.add_parser("limit", help="frequentist limits (profile likelihood, CLs, toys, Feldman-Cousins)")
    _add_fit_options(p, out_required=False)
    p.add_argument("--toys", type=int, default=0, help="background-only toys for expected bands (0 = none)")
    p.add_argument("--fc-toys", type=int, default=0, help="toys per grid point for a Feldman-Cousins interval")
    p.set_defaults(func=cmd_limit, draws=None, tune=None, chains=None, sampler=None)

    p = sub.add_parser("compare", help="Bayesian vs frequentist: a run directory, or run both for an interaction")
    _add_fit_options(p, out_required=False)
    p.add_argument("--toys", type=int, default=0, help="toys for frequentist expected bands")
    p.add_argument("--fc-toys", type=int, default=0, help="toys per grid point for Feldman-Cousins")
    p.add_argument("--sampler", choices=["nutpie", "pymc"], default=None)
    p.add_argument("--draws", type=int, default=None)
    p.add_argument("--tune", type=int, default=None)
    p.add_argument("--chains", type=int, default=None)
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("run", help="the full analysis (Bayesian + frequentist, all interactions) -> run directory")
    p.add_argument("--dataset", type=Path, default=None, help="dataset folder (default: bundled XMASS-I benchmark)")
    p.add_argument("--out", type=Path, default=Path("results"), help="run directory (default: results)")
    p.add_argument("--quick", action="store_true", help="fewer draws, toys and scan points (CI); diagnostics "
                   "thresholds reported but not enforced")
    p.add_argument("--seed", type=int, default=20201, help="master random seed (recorded)")
    p.add_argument("--overwrite", action="store_true", help="allow writing into a non-empty run directory")
    p.add_argument("--allow-bad-diagnostics", action="store_true", help="exit 0 even if diagnostics are flagged")
    p.add_argument("--serial", action="store_true", help="everything in this process (by default the B-L part "
                   "runs in a second process beside the others; same results)")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("make-benchmark", help="regenerate the simulated XMASS-I benchmark dataset")
    p.add_argument("--out", type=Path, default=Path("data/xmass_i"), help="dataset folder to write")
    p.add_argument("--seed", type=int, default=None, help="Poisson seed (default: the recorded one)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing folder")
    p.set_defaults(func=cmd_make_benchmark)

    p = sub.add_parser("convert-xenon1t", help="build a dataset folder from the XENON1T SR1 release")
    p.add_argument("release", type=Path, help="folder with data_below_30kev.txt and efficiency.txt "
                   "(e.g. ../shared/data/xenon1t_sr1_er)")
    p.add_argument("out", type=Path, help="dataset folder to create")
    p.add_argument("--b0", type=Path, default=None,
                   help="B0 curve (energy keV, events/(t yr keV)); default: B0_1to30keV.txt or the "
                        "digitised Fig. 4 curve in the release folder")
    p.add_argument("--overwrite", action="store_true", help="replace an existing folder")
    p.set_defaults(func=cmd_convert_xenon1t)

    from bayes_xmass.cli.scan import add_execution_options, add_scan_parser  # `scan`; --scheduler/--no-cache

    add_scan_parser(sub)
    from bayes_xmass.cli.combine import add_combine_parser  # `combine` (combined fits over several datasets)

    add_combine_parser(sub)
    add_validate_parser(sub)  # `validate sbc|coverage|prior-sensitivity` (cli/validate.py)
    for name in ("limit", "run"):
        add_execution_options(sub.choices[name])
    return parser


def _load_spec_and_dataset(args):
    from bayes_xmass.datasets.dataset import load_dataset
    from bayes_xmass.model.spec import model_spec_for
    from bayes_xmass.workflows.fits import DEFAULT_DATASET

    spec = model_spec_for(args.interaction)
    for m in args.mass or []:
        if not (math.isfinite(m) and m >= 0):
            raise InputError("command line", "--mass", f"mediator mass must be finite and >= 0 MeV, got {m}")
    overrides = {}
    if args.prior or args.prior_upper is not None or args.prior_power is not None:
        from bayes_xmass.model.build import PoiPrior

        p = spec.poi_prior
        try:  # 'is not None': an explicit 0 is an error, not the model's default
            overrides["poi_prior"] = PoiPrior(args.prior or p.kind,
                                              p.upper if args.prior_upper is None else args.prior_upper,
                                              p.power if args.prior_power is None else args.prior_power, p.floor)
        except ValueError as exc:
            raise InputError("command line", "--prior", str(exc)) from None
    sampler = spec.sampler
    for key in ("draws", "tune", "chains"):
        value = getattr(args, key)
        if value is not None:
            if value < (1 if key != "tune" else 0):
                raise InputError("command line", f"--{key}", f"must be positive, got {value}")
            sampler = dataclasses.replace(sampler, **{key: value})
    if args.sampler:
        sampler = dataclasses.replace(sampler, name=args.sampler)
    overrides["sampler"] = sampler
    if args.likelihood:
        overrides["likelihood"] = args.likelihood
    if args.window:
        lo, hi = args.window
        if not 0 <= lo < hi:
            raise InputError("command line", "--window", f"need 0 <= lo < hi, got {lo} {hi}")
        overrides["window_kev"] = (lo, hi)
    if args.bin_width is not None:
        if not 0 <= args.bin_width < math.inf:
            raise InputError("command line", "--bin-width", f"must be finite and >= 0, got {args.bin_width}")
        overrides["bin_width_kev"] = args.bin_width
    if args.scale is not None:
        if not 0 < args.scale < math.inf:
            raise InputError("command line", "--scale", f"must be positive and finite, got {args.scale}")
        overrides["poi_scale"] = args.scale
    spec = spec.with_overrides(**overrides)
    dataset = load_dataset(args.dataset or DEFAULT_DATASET)
    from bayes_xmass.model.targets import analysis_view

    analysis_view(spec, dataset)  # window vs data: checked before any output is created
    return spec, dataset


def cmd_sample(args) -> int:
    """Sample the posterior of one interaction's fits and write a run directory."""
    from bayes_xmass.workflows.fits import prepare_run_dir, run_bayesian_fit, select_targets, write_sample_outputs

    spec, dataset = _load_spec_and_dataset(args)
    targets = select_targets(spec, flavours=args.flavours, signs=args.sign, masses=args.mass)
    out = prepare_run_dir(args.out, args.overwrite)
    results = [run_bayesian_fit(spec, dataset, t, out, seed=args.seed + i, progress=not args.no_progress,
                                overwrite=args.overwrite, log=_log)
               for i, t in enumerate(targets)]
    write_sample_outputs(out, spec, dataset, args.seed, results, args.overwrite)
    print(f"wrote {out}/ ({len(results)} fits): summary.md, limits.json, *.nc, plots/")
    bad = [r.target.label for r in results if not r.diagnostics.ok]
    if bad and not args.allow_bad_diagnostics:
        print(f"bayes-xmass: diagnostics failed for {', '.join(bad)} (see summary.md); "
              "pass --allow-bad-diagnostics to accept", file=sys.stderr)
        return 3
    return 0


def _add_fit_options(p, out_required: bool = True) -> None:
    from bayes_xmass.model.likelihood import LIKELIHOODS
    from bayes_xmass.model.build import POI_PRIOR_KINDS

    p.add_argument("interaction", help="magnetic-moment, millicharge, dark-photon, or a model TOML file")
    p.add_argument("--dataset", type=Path, default=None, help="dataset folder (default: bundled XMASS-I benchmark)")
    p.add_argument("--mass", type=float, action="append", default=None,
                   help="dark-photon mediator mass in MeV (repeatable; default: the model's list)")
    p.add_argument("--flavours", action="append", choices=["common", "e", "mu", "tau"], default=None,
                   help="millicharge flavour set (repeatable; default: the model's list)")
    p.add_argument("--sign", type=int, action="append", choices=[1, -1], default=None,
                   help="millicharge sign (repeatable; default: both)")
    p.add_argument("--prior", choices=[k for k in POI_PRIOR_KINDS if k != "improper"], default=None,
                   help="POI prior kind (default: the model TOML's)")
    p.add_argument("--prior-upper", type=float, default=None, help="POI prior upper bound in units of the scale")
    p.add_argument("--prior-power", type=float, default=None, help="power for the flat_power prior")
    p.add_argument("--likelihood", choices=list(LIKELIHOODS), default=None)
    p.add_argument("--window", type=float, nargs=2, metavar=("LO", "HI"), default=None,
                   help="analysis window in keV (default: the model's, clipped to the data)")
    p.add_argument("--bin-width", type=float, default=None,
                   help="merge dataset bins finer than this (keV); 0 keeps the dataset's bins")
    p.add_argument("--scale", type=float, default=None,
                   help="coupling unit for the sampler (e.g. 1e-11 for mu_nu at XENON1T); default: the model's")
    p.add_argument("--seed", type=int, default=20201, help="random seed (recorded)")
    p.add_argument("--out", type=Path, required=out_required, default=None, help="run directory to create")
    p.add_argument("--overwrite", action="store_true", help="allow writing into a non-empty run directory")


def cmd_limit(args) -> int:
    """Frequentist limits (profile likelihood of the same model) for one interaction."""
    from bayes_xmass.outputs.compare import comparison_row, terminal_table
    from bayes_xmass.runtime.io import write_json
    from bayes_xmass.workflows.fits import prepare_run_dir, run_frequentist, run_metadata, select_targets

    spec, dataset = _load_spec_and_dataset(args)
    if args.toys < 0 or args.fc_toys < 0:
        raise InputError("command line", "--toys", "must be >= 0")
    targets = select_targets(spec, flavours=args.flavours, signs=args.sign, masses=args.mass)
    out = prepare_run_dir(args.out, args.overwrite) if args.out else None
    records = [run_frequentist(spec, dataset, t, n_toys=args.toys, fc_toys=args.fc_toys, seed=args.seed, log=_log)
               for t in targets]
    print(terminal_table([comparison_row(r) for r in records]))
    if out:
        write_json(out / "limits.json", {"provenance": run_metadata(spec, dataset, args.seed), "fits": records},
                   args.overwrite)
        print(f"wrote {out}/limits.json")
    return 0


def cmd_compare(args) -> int:
    """Bayesian vs frequentist side by side: from a finished run directory, or by running both."""
    import json

    from bayes_xmass.outputs.compare import comparison_row, csv_text, markdown_table, terminal_table
    from bayes_xmass.runtime.io import write_json, write_text
    from bayes_xmass.outputs.plots import plot_poi_posterior
    from bayes_xmass.outputs.report import open_datatree
    from bayes_xmass.workflows.fits import prepare_run_dir, run_bayesian_fit, run_frequentist, select_targets

    target = Path(args.interaction)
    if target.is_dir():
        limits = target / "limits.json"
        if not limits.is_file():
            raise InputError(limits, "file", "not found: not a finished bayes-xmass run directory")
        try:  # any structure problem of the file is reported as one line, never a traceback
            result = json.loads(limits.read_text())
            rows = result.get("comparison") or [comparison_row(r) for r in result["fits"]]
            tables = terminal_table(rows) + "\n" + markdown_table(rows)
        except (ValueError, KeyError, TypeError, AttributeError, IndexError) as exc:
            raise InputError(limits, "fits", f"unreadable run summary ({type(exc).__name__}: {exc})") from None
        except OSError as exc:
            raise InputError(limits, "file", f"cannot read: {exc.strerror or exc}") from None
        print(tables)
        return 0
    if args.out is None:
        raise InputError("command line", "--out", "needed when comparing by running an interaction")
    spec, dataset = _load_spec_and_dataset(args)
    out = prepare_run_dir(args.out, args.overwrite)
    records = []
    for i, t in enumerate(select_targets(spec, flavours=args.flavours, signs=args.sign, masses=args.mass)):
        bayes = run_bayesian_fit(spec, dataset, t, out, seed=args.seed + i, overwrite=args.overwrite, log=_log)
        rec = run_frequentist(spec, dataset, t, n_toys=args.toys, fc_toys=args.fc_toys, seed=args.seed + i, log=_log)
        rec.update(bayes=bayes.limit, diagnostics=bayes.diagnostics.as_dict(), poi_prior=spec.poi_prior.describe())
        f = rec["frequentist"]
        scale = rec["coupling_scale"]
        dt = open_datatree(bayes.netcdf)
        import numpy as np

        plot_poi_posterior(dt.posterior["x"].values * scale, bayes.limit["limit"], cl=spec.cl,
                           unit=rec["coupling_unit"], label=f"{t.label}: posterior vs profile likelihood",
                           out=out / "plots" / f"{t.label}_compare.png",
                           profile=(np.asarray(f["profile_x_scaled"]) * scale,
                                    np.exp(-0.5 * np.asarray(f["profile_delta_chi2"]))),
                           freq_limit=f["limit_xmass_scaled"] * scale, overwrite=args.overwrite)
        records.append(rec)
    rows = [comparison_row(r) for r in records]
    write_json(out / "comparison.json", {"rows": rows, "fits": records}, args.overwrite)
    write_text(out / "comparison.csv", csv_text(rows), args.overwrite)
    write_text(out / "comparison.md", markdown_table(rows) + "\n", args.overwrite)
    print(terminal_table(rows))
    return 0


def cmd_run(args) -> int:
    """The full analysis on a dataset (default: the bundled XMASS-I benchmark)."""
    import os

    from bayes_xmass.datasets.dataset import DEFAULT_DATASET, load_dataset
    from bayes_xmass.runtime.executor import settle_garbage_collector, start_background_worker, stop_background_worker
    from bayes_xmass.runtime.io import prepare_run_dir

    dataset = load_dataset(args.dataset or DEFAULT_DATASET)  # bad input fails here, before any process starts
    out = prepare_run_dir(args.out, args.overwrite)
    # the B-L part's worker process starts now, so that its imports overlap this process's own
    worker = (start_background_worker(("bayes_xmass.workflows.run",))
              if not args.serial and (os.cpu_count() or 1) >= 2 else None)
    try:
        from bayes_xmass.workflows.run import RunSettings, run_analysis

        settle_garbage_collector()
        settings = dataclasses.replace(RunSettings.for_mode(args.quick), parallel=not args.serial)
        _log(f"bayes-xmass run: dataset {dataset.name} ({dataset.checksum[:12]}), out {out}, "
             f"{'quick' if args.quick else 'full'} mode")
        result = run_analysis(dataset, out, settings=settings, seed=args.seed, overwrite=args.overwrite, log=_log,
                              worker=worker)
    except BaseException:  # bad input, a failed fit, Ctrl-C: no worker outlives the command
        if worker is not None:
            stop_background_worker(worker)
        raise
    from bayes_xmass.workflows.run import diagnostics_failures

    print(f"wrote {out}/: summary.md, report.html, limits.json, comparison.csv, *.nc, plots/ "
          f"({result['provenance']['seconds']:.0f} s)")
    bad = diagnostics_failures(result)
    if bad and settings.enforce_diagnostics and not args.allow_bad_diagnostics:
        print(f"bayes-xmass: diagnostics flagged for {', '.join(bad)} (see report); "
              "pass --allow-bad-diagnostics to accept", file=sys.stderr)
        return 3
    return 0


def cmd_make_benchmark(args) -> int:
    """Regenerate data/xmass_i deterministically."""
    from bayes_xmass.converters.benchmark import BENCHMARK_SEED, make_benchmark
    from bayes_xmass.datasets.dataset import load_dataset

    out = make_benchmark(args.out, BENCHMARK_SEED if args.seed is None else args.seed, args.overwrite)
    ds = load_dataset(out)
    print(f"wrote {out}: {ds.n_bins} bins, {int(ds.counts.sum())} events, checksum {ds.checksum[:16]}")
    return 0


def cmd_convert_xenon1t(args) -> int:
    """Convert the XENON1T SR1 release into a dataset folder."""
    from bayes_xmass.datasets.dataset import load_dataset
    from bayes_xmass.converters.xenon1t import b0_counts, convert_release

    out = convert_release(args.release, args.out, args.b0, args.overwrite)
    ds = load_dataset(out)
    print(f"wrote {out}: {ds.n_bins} bins, {int(ds.counts.sum())} events, "
          f"B0 expects {b0_counts(ds, 1.0, 7.0):.1f} events in 1-7 keV; checksum {ds.checksum[:16]}")
    return 0


def _first_missing(out) -> Path | None:
    """The outermost not-yet-existing folder on the way to ``--out`` (None if it exists)."""
    if out is None:
        return None
    p, root = Path(out).absolute(), None
    while not p.exists() and p != p.parent:
        root, p = p, p.parent
    return root


def _remove_if_empty(root: Path | None) -> None:
    """After a failed command: remove folders it created if they hold no file (nothing written)."""
    import os
    import shutil

    if root is None or not root.is_dir() or root.is_symlink():
        return
    if not any(files for _, _, files in os.walk(root)):
        shutil.rmtree(root, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    import logging

    # no "Sampling: [...]" lines per fit; the child logger, because importing pymc resets "pymc" to INFO
    logging.getLogger("pymc.sampling.forward").setLevel(logging.WARNING)
    started = time.perf_counter()
    new_root = _first_missing(getattr(args, "out", None))
    try:
        seed = getattr(args, "seed", None)
        if seed is not None and not 0 <= seed <= MAX_SEED:
            raise InputError("command line", "--seed", f"must be an integer in [0, {MAX_SEED}], got {seed}")
        from bayes_xmass.cli.scan import execution_env

        with execution_env(args):  # --scheduler / --no-cache -> environment, restored afterwards
            code = args.func(args)
    except (InputError, OSError) as err:
        if isinstance(err, OSError):  # environment: disk full, permissions, read-only file system
            err = InputError(err.filename or "output", "", err.strerror or str(err))
        _remove_if_empty(new_root)
        print(f"bayes-xmass: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("bayes-xmass: interrupted; finished outputs are kept, partial ones removed", file=sys.stderr)
        return 130
    if getattr(args, "timing", True):
        print(f"done in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return code


def entry() -> None:
    """Console-script entry point: :func:`main`, then a fast exit.

    Once the command has returned, every output is written and closed. Python's own shutdown
    would then spend ~2.5 s (2-core machine, after ``run``) tearing down the compiled models'
    objects (PyTensor graphs, numba dispatchers, LLVM modules) one by one, which a physicist waits
    for at the prompt. So the atexit handlers run as usual (logging, temporary files, pools,
    finalizers), the standard streams are flushed, and the process ends with ``os._exit``,
    skipping only that teardown. Calling :func:`main` from Python (tests, notebooks) is unaffected.
    """
    import atexit
    import os

    try:
        code = main()
    except SystemExit as exc:  # argparse errors and --help
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if exc.code is not None and not isinstance(exc.code, int):
            print(exc.code, file=sys.stderr)
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: nothing left to flush
            pass
    os._exit(code)


if __name__ == "__main__":
    entry()
