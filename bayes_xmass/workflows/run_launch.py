"""Start of the ``run`` command: the dataset loaded, the run directory prepared and the background
worker process started, before the analysis modules are imported.

Light on purpose (no numerical imports): the worker's imports (~2 s) then overlap those of the
calling process (:func:`bayes_xmass.runtime.background.start_background_worker`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bayes_xmass.datasets.loader import DEFAULT_DATASET, load_dataset
from bayes_xmass.datasets.types import Dataset
from bayes_xmass.runtime.background import start_background_worker, stop_background_worker
from bayes_xmass.runtime.io import prepare_run_dir

__all__ = ["RunLaunch", "start_run"]

RUN_MODULE = "bayes_xmass.workflows.run"  # what the background worker imports (the jobs it will run)


@dataclass(frozen=True)
class RunLaunch:
    """A started ``run``: its dataset, run directory and background worker (None: all in this process)."""

    dataset: Dataset
    out: Path
    worker: ProcessPoolExecutor | None
    serial: bool
    overwrite: bool


@contextmanager
def start_run(dataset: Path | None, out: Path, *, overwrite: bool = False, serial: bool = False) -> Iterator[RunLaunch]:
    """Load ``dataset`` (default: the bundled benchmark; bad input fails here, before any process
    starts), prepare ``out`` and, unless ``serial`` or on one core, start the background worker.
    Leaving the block by an exception (bad input, a failed fit, Ctrl-C) stops the worker: none
    outlives the command."""
    data = load_dataset(dataset or DEFAULT_DATASET)
    run_dir = prepare_run_dir(out, overwrite)
    # the B-L part's worker process starts now, so that its imports overlap this process's own
    worker = start_background_worker((RUN_MODULE,)) if not serial and (os.cpu_count() or 1) >= 2 else None
    try:
        yield RunLaunch(data, run_dir, worker, serial, overwrite)
    except BaseException:
        if worker is not None:
            stop_background_worker(worker)
        raise
