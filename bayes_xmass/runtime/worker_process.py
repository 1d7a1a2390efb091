"""Set-up of this package's worker processes: one BLAS/OpenMP thread, environment variables for a block,
the initialiser of a spawned worker (graph cache, quick exit), and garbage-collector settling."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from bayes_xmass.runtime.graph_cache import enable as enable_graph_cache

__all__ = [
    "BLAS_THREAD_VARS",
    "GC_THRESHOLDS",
    "environment",
    "init_worker_process",
    "settle_garbage_collector",
    "single_threaded_blas",
]

# environment variables that set the thread count of BLAS/OpenMP in a process started after they are set
BLAS_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


@contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    """Set environment variables while the block runs; restore the previous values afterwards."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@contextmanager
def single_threaded_blas() -> Iterator[None]:
    """Limit BLAS/OpenMP to one thread while the block runs (no-op without threadpoolctl).

    The small L-BFGS-B fits are ~10x slower with multi-threaded OpenBLAS on a busy machine, and one
    thread everywhere makes floating-point results identical across backends.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover
        yield
        return
    with threadpool_limits(limits=1):
        yield


def init_worker_process(init: Callable[..., Any] | None, init_args: tuple[Any, ...]) -> None:
    """Initialiser of a spawned worker process (or a dask worker thread): warnings off, the graph cache
    on, a quick exit (:func:`_exit_without_teardown`), then ``init(*init_args)`` with one BLAS thread."""
    import atexit
    import warnings

    warnings.simplefilter("ignore")
    enable_graph_cache()  # as in the parent (the CLI): rewritten graphs from the on-disk cache
    # registered first, so it runs after every other exit handler of the worker
    atexit.register(_exit_without_teardown)
    if init is not None:
        with single_threaded_blas():
            init(*init_args)


def _exit_without_teardown() -> None:
    """End a pool worker after its exit handlers, without Python's teardown of its objects.

    A worker leaves only when its pool shuts down, its results delivered and its files closed;
    multiprocessing has already run its own exit function and flushed the streams. What would
    remain is deleting the compiled models' objects (PyTensor graphs, numba dispatchers, LLVM
    modules) one by one, ~2 s after a run's B-L part, for which the parent's exit would wait.
    """
    import sys

    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(0)


# Python's default (700, 10, 10) runs a young collection every 700 net allocations; building and
# compiling PyTensor graphs, xarray objects and figures allocates millions of objects
GC_THRESHOLDS = (20_000, 20, 20)


def settle_garbage_collector() -> None:
    """For a long job in a process of its own, once its modules are imported: the objects alive now
    (modules, classes, functions: ~10^6 after PyMC, PyTensor, numba, matplotlib) go to the collector's
    permanent generation, which its full collections do not scan again, and collections run less
    often (``GC_THRESHOLDS``). Cyclic garbage is still collected. ~10% less CPU time for a run's fits
    (a millicharge fit sequence, measured: 17-18 s instead of 19-21 s). Only where this package owns
    the process (``bayes-xmass run`` and its worker), never on import."""
    import gc

    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
