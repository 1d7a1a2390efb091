"""``bayes-xmass validate sbc|coverage|prior-sensitivity``: the statistical validation commands."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

from bayes_xmass.cli.common import log
from bayes_xmass.errors import InputError

__all__ = ["add_validate_parser"]


# -- validate: simulation-based calibration, coverage, prior sensitivity (validate.py) ----------
def add_validate_parser(sub) -> None:
    from bayes_xmass.cli.scan import add_execution_options

    v = sub.add_parser("validate", help="statistical validation: SBC, coverage, prior sensitivity")
    vsub = v.add_subparsers(dest="study", metavar="STUDY")

    def common(p, seed):
        p.add_argument("interaction", help="magnetic-moment, millicharge, dark-photon, or a model TOML file")
        p.add_argument("--dataset", type=Path, default=None, help="dataset folder (default: bundled XMASS-I benchmark)")
        p.add_argument("--mass", type=float, default=None, help="dark-photon mediator mass in MeV (default 10)")
        p.add_argument("--flavours", choices=["common", "e", "mu", "tau"], default=None,
                       help="millicharge flavour set (default: the model's first)")
        p.add_argument("--sign", type=int, choices=[1, -1], default=None, help="millicharge sign (default: the model's first)")
        p.add_argument("--reduced", action="store_true",
                       help="reduced analysis (narrow window, merged bins; all nuisances kept): the CI version")
        p.add_argument("--seed", type=int, default=seed, help=f"master random seed (default {seed}; recorded)")
        p.add_argument("--out", type=Path, required=True, help="output folder (refused if non-empty unless --overwrite)")
        p.add_argument("--overwrite", action="store_true", help="allow writing into a non-empty output folder")

    from bayes_xmass.validation.validate import SBC_ALPHA, SBC_SEED

    p = vsub.add_parser("sbc", help="simulation-based calibration (rank uniformity of prior draws); exit 3 if it fails")
    common(p, SBC_SEED)
    p.add_argument("--replicas", type=int, default=200, help="simulated data sets (default 200)")
    p.add_argument("--draws", type=int, default=1000, help="posterior draws per chain (default 1000)")
    p.add_argument("--tune", type=int, default=500, help="tuning steps per chain (default 500)")
    p.add_argument("--chains", type=int, default=2, help="chains per replica (default 2)")
    p.add_argument("--target-accept", type=float, default=None, help="NUTS target acceptance (default: the model's)")
    p.add_argument("--rank-draws", type=int, default=99, help="thinned draws L the true value is ranked among (default 99)")
    p.add_argument("--alpha", type=float, default=SBC_ALPHA, help=f"family-wise test level (default {SBC_ALPHA})")
    p.add_argument("--processes", type=int, default=1, help="local worker processes (default 1: this process)")
    p.add_argument("--prior-upper", type=float, default=None,
                   help="POI prior upper bound (units of the coupling scale) for simulation and fit; default: the "
                        "model TOML's. A bound near the expected limit probes the region where the prior matters")
    p.add_argument("--fit-prior-upper-factor", type=float, default=1.0,
                   help="DEMONSTRATION: fit with the POI prior's range times this factor (a wrong prior)")
    p.add_argument("--fit-signal-factor", type=float, default=1.0,
                   help="DEMONSTRATION: fit with signal templates times this factor (a wrong likelihood)")
    add_execution_options(p)
    p.set_defaults(func=cmd_validate_sbc)

    p = vsub.add_parser("coverage", help="coverage of the credible and frequentist limits over toys")
    common(p, 11)
    p.add_argument("--true-values", type=float, nargs="+", default=None, metavar="C",
                   help="true |coupling| values in physical units (mu_B, e, g); default 0, 0.5, 1, 1.5, 2 x the "
                        "background-only Asimov Delta chi2 = 2.71 limit")
    p.add_argument("--toys", type=int, default=200, help="frequentist toys per true value (default 200)")
    p.add_argument("--bayes-toys", type=int, default=50, help="Bayesian (NUTS) toys per true value (default 50; 0 = none)")
    add_execution_options(p)
    p.set_defaults(func=cmd_validate_coverage)

    p = vsub.add_parser("prior-sensitivity", help="credible limit under each POI prior and widened/narrowed nuisance priors")
    common(p, 5)
    p.add_argument("--method", choices=["refit", "reweight", "hybrid"], default="refit",
                   help="refit every variant with NUTS (default), reweight the baseline posterior (PSIS), "
                        "or hybrid: reweight and refit where Pareto k-hat > 0.7")
    p.set_defaults(func=cmd_validate_prior_sensitivity)
    v.set_defaults(func=lambda args: (v.print_help(), 2)[1])


def _validate_setup(args):
    from bayes_xmass.datasets.dataset import load_dataset
    from bayes_xmass.model.spec import model_spec_for
    from bayes_xmass.workflows.fits import DEFAULT_DATASET
    from bayes_xmass.validation.validate import prepare_out_dir, validation_setup

    spec = model_spec_for(args.interaction)
    dataset = load_dataset(args.dataset or DEFAULT_DATASET)
    spec, target, tpl = validation_setup(spec.interaction, dataset, reduced=args.reduced, mass_mev=args.mass,
                                         sign=args.sign, flavours=args.flavours, spec=spec)
    return spec, target, tpl


def cmd_validate_sbc(args) -> int:
    """Simulation-based calibration of one fit; exit 3 when rank uniformity is rejected."""
    from bayes_xmass.model.build import PoiPrior
    from bayes_xmass.validation.validate import SbcSettings, _provenance, prepare_out_dir, run_sbc, write_sbc_outputs

    if args.target_accept is not None and not 0.5 <= args.target_accept < 1:
        raise InputError("command line", "--target-accept", f"must be in [0.5, 1), got {args.target_accept}")
    settings = SbcSettings(args.replicas, args.chains, args.draws, args.tune, args.target_accept or 0.95,
                           args.rank_draws, args.alpha, args.seed)
    settings.validate()
    for name in ("fit_prior_upper_factor", "fit_signal_factor"):
        if not (math.isfinite(getattr(args, name)) and getattr(args, name) > 0):
            raise InputError("command line", "--" + name.replace("_", "-"), "must be finite and > 0")
    if args.processes < 1:
        raise InputError("command line", "--processes", "must be >= 1")
    spec, target, tpl = _validate_setup(args)
    settings = dataclasses.replace(settings, adaptation=getattr(spec.sampler, "adaptation", "diag"))
    prior = spec.poi_prior
    if prior.kind in ("jeffreys",):
        raise InputError(spec.source or "model", "poi.prior.kind", "SBC needs a generative POI prior (not jeffreys)")
    if args.prior_upper is not None:
        if not (math.isfinite(args.prior_upper) and args.prior_upper > 0):
            raise InputError("command line", "--prior-upper", f"must be finite and > 0, got {args.prior_upper}")
        prior = dataclasses.replace(prior, upper=args.prior_upper)
        spec = spec.with_overrides(poi_prior=prior)
    out = prepare_out_dir(args.out, args.overwrite)
    prov = _provenance(spec, tpl, target, args.seed, {"study": "sbc", "reduced": args.reduced,
                                                      "sampler": f"nutpie ({settings.adaptation} mass matrix)"})
    f = args.fit_prior_upper_factor
    fit_prior = dataclasses.replace(prior, upper=prior.upper * f, floor=prior.floor * f)
    result = run_sbc(tpl, target, prior, settings, likelihood=spec.likelihood, fit_prior=fit_prior,
                     compiled_prior=prior, fit_signal_factor=args.fit_signal_factor, scheduler=args.scheduler, processes=args.processes,
                     provenance=prov, log=log)
    write_sbc_outputs(result, out, args.overwrite)
    print(f"SBC {target.label}: {'PASSED' if result.passed else 'FAILED'} (min p = {result.tests['min_p']:.3g}); "
          f"wrote {out}/sbc.nc, sbc_ranks.png, sbc.md, sbc.json")
    return 0 if result.passed else 3


def cmd_validate_coverage(args) -> int:
    """Coverage table and plot for one fit."""
    from bayes_xmass.validation.validate import _provenance, prepare_out_dir, run_coverage, write_coverage_outputs

    spec, target, tpl = _validate_setup(args)
    x_values = None
    if args.true_values is not None:
        if any(not (math.isfinite(v) and v >= 0) for v in args.true_values):
            raise InputError("command line", "--true-values", "must be finite |coupling| values >= 0")
        x_values = [v / tpl.coupling_scale for v in args.true_values]
    out = prepare_out_dir(args.out, args.overwrite)
    prov = _provenance(spec, tpl, target, args.seed, {"study": "coverage", "reduced": args.reduced})
    result = run_coverage(tpl, target, spec, x_values=x_values, n_toys=args.toys, n_bayes_toys=args.bayes_toys,
                          seed=args.seed, provenance=prov, log=log)
    write_coverage_outputs(result, out, args.overwrite)
    print(f"wrote {out}/coverage.csv, coverage.md, coverage.png, coverage.json")
    return 0


def cmd_validate_prior_sensitivity(args) -> int:
    """Prior-sensitivity table for one fit."""
    from bayes_xmass.runtime.io import write_json, write_text
    from bayes_xmass.validation.validate import _provenance, prepare_out_dir, prior_sensitivity, sensitivity_markdown

    spec, target, tpl = _validate_setup(args)
    out = prepare_out_dir(args.out, args.overwrite)
    sens = prior_sensitivity(tpl, target, spec.poi_prior, cl=spec.cl, likelihood=spec.likelihood, method=args.method,
                             sampler=spec.sampler, seed=args.seed, cache={})
    sens["provenance"] = _provenance(spec, tpl, target, args.seed, {"study": "prior_sensitivity",
                                                                     "reduced": args.reduced})
    write_text(out / "prior_sensitivity.md", sensitivity_markdown(sens), args.overwrite)
    write_json(out / "prior_sensitivity.json", sens, args.overwrite)
    print(sensitivity_markdown(sens))
    return 0
