"""``bayes-xmass make-benchmark`` and ``bayes-xmass convert-xenon1t``: write a dataset folder
(:mod:`bayes_xmass.workflows.dataset_builders`) and report what it holds."""

from __future__ import annotations

from pathlib import Path

__all__ = ["add_convert_xenon1t_parser", "add_make_benchmark_parser", "cmd_convert_xenon1t", "cmd_make_benchmark"]


def add_make_benchmark_parser(sub) -> None:
    """Register ``make-benchmark``."""
    p = sub.add_parser("make-benchmark", help="regenerate the simulated XMASS-I benchmark dataset")
    p.add_argument("--out", type=Path, default=Path("data/xmass_i"), help="dataset folder to write")
    p.add_argument("--seed", type=int, default=None, help="Poisson seed (default: the recorded one)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing folder")
    p.set_defaults(func=cmd_make_benchmark)


def add_convert_xenon1t_parser(sub) -> None:
    """Register ``convert-xenon1t``."""
    p = sub.add_parser("convert-xenon1t", help="build a dataset folder from the XENON1T SR1 release")
    p.add_argument(
        "release",
        type=Path,
        help="folder with data_below_30kev.txt and efficiency.txt (e.g. ../shared/data/xenon1t_sr1_er)",
    )
    p.add_argument("out", type=Path, help="dataset folder to create")
    p.add_argument(
        "--b0",
        type=Path,
        default=None,
        help="B0 curve (energy keV, events/(t yr keV)); default: B0_1to30keV.txt or the "
        "digitised Fig. 4 curve in the release folder",
    )
    p.add_argument("--overwrite", action="store_true", help="replace an existing folder")
    p.set_defaults(func=cmd_convert_xenon1t)


def cmd_make_benchmark(args) -> int:
    """Regenerate data/xmass_i deterministically."""
    from bayes_xmass.workflows.dataset_builders import make_benchmark_dataset  # lazy: fast --help

    ds = make_benchmark_dataset(args.out, seed=args.seed, overwrite=args.overwrite)
    print(f"wrote {Path(args.out)}: {ds.n_bins} bins, {int(ds.counts.sum())} events, checksum {ds.checksum[:16]}")
    return 0


def cmd_convert_xenon1t(args) -> int:
    """Convert the XENON1T SR1 release into a dataset folder."""
    from bayes_xmass.workflows.dataset_builders import convert_xenon1t_release  # lazy: fast --help

    ds, b0_expected = convert_xenon1t_release(args.release, args.out, b0=args.b0, overwrite=args.overwrite)
    print(
        f"wrote {Path(args.out)}: {ds.n_bins} bins, {int(ds.counts.sum())} events, "
        f"B0 expects {b0_expected:.1f} events in 1-7 keV; checksum {ds.checksum[:16]}"
    )
    return 0
