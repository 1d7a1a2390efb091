"""The dataset-building commands: ``make-benchmark`` (the simulated XMASS-I benchmark), the
converters of public releases (``convert-xenon1t``, ``convert-xenonnt``, ``convert-lz``,
``convert-pandax4t``) and ``convert-public`` (all bundled public datasets at once). Each writes
dataset folders and returns them loaded back, so the caller can report what was written.
"""

from __future__ import annotations

from pathlib import Path

from bayes_xmass.converters.benchmark import BENCHMARK_SEED, make_benchmark
from bayes_xmass.converters.lz import convert_lz
from bayes_xmass.converters.pandax4t import convert_pandax4t
from bayes_xmass.converters.public import convert_public
from bayes_xmass.converters.xenon1t import b0_counts, convert_release
from bayes_xmass.converters.xenonnt import convert_xenonnt
from bayes_xmass.datasets.loader import load_dataset
from bayes_xmass.datasets.types import Dataset

__all__ = [
    "convert_lz_release",
    "convert_pandax4t_release",
    "convert_public_datasets",
    "convert_xenon1t_release",
    "convert_xenonnt_release",
    "make_benchmark_dataset",
]


def make_benchmark_dataset(out: Path, *, seed: int | None = None, overwrite: bool = False) -> Dataset:
    """Regenerate the benchmark into ``out`` (Poisson seed: the recorded BENCHMARK_SEED unless given)."""
    return load_dataset(make_benchmark(out, BENCHMARK_SEED if seed is None else seed, overwrite))


def convert_xenon1t_release(
    release: Path, out: Path, *, b0: Path | None = None, overwrite: bool = False, tritium: bool = True
) -> tuple[Dataset, float]:
    """Convert the release folder into ``out``; returns the dataset and the B0 background's expected
    events in 1-7 keV (a check against the XENON1T paper)."""
    ds = load_dataset(convert_release(release, out, b0, overwrite, tritium=tritium))
    return ds, b0_counts(ds, 1.0, 7.0)


def convert_xenonnt_release(release: Path, out: Path, *, overwrite: bool = False) -> Dataset:
    """The XENONnT SR0 release folder -> dataset folder ``out``, loaded back."""
    return load_dataset(convert_xenonnt(release, out, overwrite))


def convert_lz_release(release: Path, out: Path, *, run: str, overwrite: bool = False) -> Dataset:
    """LZ's digitised spectra of ``run`` (ws2022, ws2024) -> dataset folder ``out``, loaded back."""
    return load_dataset(convert_lz(release, out, run, overwrite))


def convert_pandax4t_release(release: Path, out: Path, *, overwrite: bool = False) -> Dataset:
    """PandaX-4T's digitised Run1 spectrum -> dataset folder ``out``, loaded back."""
    return load_dataset(convert_pandax4t(release, out, overwrite))


def convert_public_datasets(
    shared_data: Path, out_dir: Path, *, names: tuple[str, ...] | None = None, overwrite: bool = False
) -> list[Dataset]:
    """All (or ``names``) bundled public datasets from the raw releases in ``shared_data``."""
    return [load_dataset(p) for p in convert_public(shared_data, out_dir, names, overwrite)]
