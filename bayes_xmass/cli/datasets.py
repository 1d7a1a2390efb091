"""``bayes-xmass make-benchmark`` and the converters of public releases (``convert-xenon1t``,
``convert-xenonnt``, ``convert-lz``, ``convert-pandax4t``, ``convert-public``): write dataset folders
(:mod:`bayes_xmass.workflows.dataset_builders`) and report what they hold. Bad input: one line, exit 2."""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "add_convert_parsers",
    "add_convert_xenon1t_parser",
    "add_make_benchmark_parser",
    "cmd_convert_xenon1t",
    "cmd_make_benchmark",
]


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
    p.add_argument(
        "--no-tritium", action="store_true", help="leave out the free tritium component (XENON1T's B0-only fit)"
    )
    p.add_argument("--overwrite", action="store_true", help="replace an existing folder")
    p.set_defaults(func=cmd_convert_xenon1t)


def add_convert_parsers(sub) -> None:
    """Register ``convert-xenonnt``, ``convert-lz``, ``convert-pandax4t`` and ``convert-public``."""
    for name, help_text, example in (
        ("convert-xenonnt", "build a dataset folder from the XENONnT SR0 release", "../shared/data/xenonnt_sr0_er"),
        ("convert-lz", "build a dataset folder from LZ's digitised WS2022/WS2024 spectra", "../shared/data/lz_er"),
        (
            "convert-pandax4t",
            "build a dataset folder from PandaX-4T's digitised Run1 spectrum",
            "../shared/data/pandax4t_run1_er",
        ),
    ):
        p = sub.add_parser(name, help=help_text)
        p.add_argument("release", type=Path, help=f"folder with the raw files (e.g. {example})")
        p.add_argument("out", type=Path, help="dataset folder to create")
        if name == "convert-lz":
            p.add_argument("--run", choices=("ws2022", "ws2024"), required=True, help="which LZ run")
        p.add_argument("--overwrite", action="store_true", help="replace an existing folder")
        p.set_defaults(func=cmd_convert_release, converter=name)
    p = sub.add_parser("convert-public", help="build every bundled public dataset (data/*) from the raw releases")
    p.add_argument("shared_data", type=Path, help="folder holding the raw releases (e.g. ../shared/data)")
    p.add_argument("out_dir", type=Path, help="folder to write the dataset folders into (e.g. data)")
    p.add_argument("--only", action="append", default=None, help="only this dataset (repeatable), e.g. xenonnt_sr0")
    p.add_argument("--overwrite", action="store_true", help="replace existing folders")
    p.set_defaults(func=cmd_convert_public)


def cmd_convert_release(args) -> int:
    """Convert one public release (XENONnT, LZ, PandaX-4T) into a dataset folder."""
    from bayes_xmass.workflows import dataset_builders as b  # lazy: fast --help

    if args.converter == "convert-xenonnt":
        ds = b.convert_xenonnt_release(args.release, args.out, overwrite=args.overwrite)
    elif args.converter == "convert-lz":
        ds = b.convert_lz_release(args.release, args.out, run=args.run, overwrite=args.overwrite)
    else:
        ds = b.convert_pandax4t_release(args.release, args.out, overwrite=args.overwrite)
    print(f"wrote {Path(args.out)}: {ds.n_bins} bins, {int(ds.counts.sum())} events, checksum {ds.checksum[:16]}")
    return 0


def cmd_convert_public(args) -> int:
    """Rebuild the bundled public datasets."""
    from bayes_xmass.workflows.dataset_builders import convert_public_datasets  # lazy: fast --help

    names = tuple(args.only) if args.only else None
    for ds in convert_public_datasets(args.shared_data, args.out_dir, names=names, overwrite=args.overwrite):
        print(f"wrote {ds.path}: {ds.name}, {ds.n_bins} bins, {int(ds.counts.sum())} events")
    return 0


def cmd_make_benchmark(args) -> int:
    """Regenerate data/xmass_i deterministically."""
    from bayes_xmass.workflows.dataset_builders import make_benchmark_dataset  # lazy: fast --help

    ds = make_benchmark_dataset(args.out, seed=args.seed, overwrite=args.overwrite)
    print(f"wrote {Path(args.out)}: {ds.n_bins} bins, {int(ds.counts.sum())} events, checksum {ds.checksum[:16]}")
    return 0


def cmd_convert_xenon1t(args) -> int:
    """Convert the XENON1T SR1 release into a dataset folder."""
    from bayes_xmass.workflows.dataset_builders import convert_xenon1t_release  # lazy: fast --help

    ds, b0_expected = convert_xenon1t_release(
        args.release, args.out, b0=args.b0, overwrite=args.overwrite, tritium=not args.no_tritium
    )
    print(
        f"wrote {Path(args.out)}: {ds.n_bins} bins, {int(ds.counts.sum())} events, "
        f"B0 expects {b0_expected:.1f} events in 1-7 keV; checksum {ds.checksum[:16]}"
    )
    return 0
