"""The dataset-building commands: ``make-benchmark`` (the simulated XMASS-I benchmark) and
``convert-xenon1t`` (a dataset folder from the XENON1T SR1 release). Each writes a dataset folder
and returns it loaded back, so the caller can report what was written.
"""

from __future__ import annotations

from pathlib import Path

from bayes_xmass.converters.benchmark import BENCHMARK_SEED, make_benchmark
from bayes_xmass.converters.xenon1t import b0_counts, convert_release
from bayes_xmass.datasets.loader import load_dataset
from bayes_xmass.datasets.types import Dataset

__all__ = ["convert_xenon1t_release", "make_benchmark_dataset"]


def make_benchmark_dataset(out: Path, *, seed: int | None = None, overwrite: bool = False) -> Dataset:
    """Regenerate the benchmark into ``out`` (Poisson seed: the recorded BENCHMARK_SEED unless given)."""
    return load_dataset(make_benchmark(out, BENCHMARK_SEED if seed is None else seed, overwrite))


def convert_xenon1t_release(
    release: Path, out: Path, *, b0: Path | None = None, overwrite: bool = False
) -> tuple[Dataset, float]:
    """Convert the release folder into ``out``; returns the dataset and the B0 background's expected
    events in 1-7 keV (a check against the XENON1T paper)."""
    ds = load_dataset(convert_release(release, out, b0, overwrite))
    return ds, b0_counts(ds, 1.0, 7.0)
