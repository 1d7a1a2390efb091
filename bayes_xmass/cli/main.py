"""Command-line interface: ``bayes-xmass <command> ...`` (parser assembly, :func:`main`, :func:`entry`).

Each command lives in its own module (:mod:`~bayes_xmass.cli.spectra`, :mod:`~bayes_xmass.cli.fits`,
:mod:`~bayes_xmass.cli.run`, :mod:`~bayes_xmass.cli.datasets`, :mod:`~bayes_xmass.cli.scan`,
:mod:`~bayes_xmass.cli.combine`, :mod:`~bayes_xmass.cli.global_cmd`, :mod:`~bayes_xmass.cli.validate`) and calls its workflow.
User errors (bad files, bad arguments) print one line ``bayes-xmass: error: ...`` on stderr and
exit with code 2; nothing is written.
"""

from __future__ import annotations

import argparse
import atexit
import logging
import os
import shutil
import sys
import time
from pathlib import Path

from bayes_xmass.cli.combine import add_combine_parser
from bayes_xmass.cli.datasets import add_convert_parsers, add_convert_xenon1t_parser, add_make_benchmark_parser
from bayes_xmass.cli.export import add_export_parser
from bayes_xmass.cli.fits import add_compare_parser, add_limit_parser, add_sample_parser
from bayes_xmass.cli.global_cmd import add_global_parser
from bayes_xmass.cli.options import execution_env
from bayes_xmass.cli.run import add_run_parser
from bayes_xmass.cli.scan import add_scan_parser
from bayes_xmass.cli.spectra import add_spectra_parser
from bayes_xmass.cli.validate import add_validate_parser
from bayes_xmass.errors import InputError
from bayes_xmass.version import __version__

__all__ = ["MAX_SEED", "build_parser", "entry", "main"]

MAX_SEED = 2**32 - 1  # seeds are offset per fit/toy and passed to numpy, PyMC and nutpie (u64)


def build_parser() -> argparse.ArgumentParser:
    """The ``bayes-xmass`` parser with every subcommand (in the order of ``--help``)."""
    parser = argparse.ArgumentParser(
        prog="bayes-xmass",
        description="Search for exotic neutrino-electron interactions (millicharge, magnetic moment, "
        "U(1)_B-L dark photon) with solar neutrinos in xenon detectors: Bayesian (PyMC/NUTS) "
        "and frequentist limits side by side. Default dataset: the bundled XMASS-I benchmark.",
    )
    parser.add_argument("--version", action="version", version=f"bayes_xmass {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    add_spectra_parser(sub)
    add_sample_parser(sub)
    add_limit_parser(sub)
    add_compare_parser(sub)
    add_run_parser(sub)
    add_make_benchmark_parser(sub)
    add_convert_xenon1t_parser(sub)
    add_convert_parsers(sub)
    add_scan_parser(sub)
    add_combine_parser(sub)
    add_global_parser(sub)
    add_export_parser(sub)
    add_validate_parser(sub)  # `validate sbc|coverage|prior-sensitivity`
    return parser


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
    if root is None or not root.is_dir() or root.is_symlink():
        return
    if not any(files for _, _, files in os.walk(root)):
        shutil.rmtree(root, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` and run the command; returns the exit code (0 ok, 2 user error, 3 diagnostics, 130 Ctrl-C)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    # no "Sampling: [...]" lines per fit; the child logger, because importing pymc resets "pymc" to INFO
    logging.getLogger("pymc.sampling.forward").setLevel(logging.WARNING)
    started = time.perf_counter()
    new_root = _first_missing(getattr(args, "out", None))
    try:
        seed = getattr(args, "seed", None)
        if seed is not None and not 0 <= seed <= MAX_SEED:
            raise InputError("command line", "--seed", f"must be an integer in [0, {MAX_SEED}], got {seed}")
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
