"""One background worker process: a task that runs in a spawned process (one BLAS thread) while the
caller does its own work, in a worker that can be started early so that its imports overlap the caller's.

    worker = start_background_worker(("bayes_xmass.workflows.run",))
    ...
    with background_task(fn, args, worker=worker) as future:
        ...  # the caller's own work
        result = future.result()
"""

from __future__ import annotations

import multiprocessing as mp
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from typing import Any

from bayes_xmass.runtime.worker_process import (
    BLAS_THREAD_VARS,
    environment,
    init_worker_process,
    settle_garbage_collector,
    single_threaded_blas,
)

__all__ = ["background_task", "start_background_worker", "stop_background_worker"]


def _call_with(fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    with single_threaded_blas():
        return fn(*args, **kwargs)


def start_background_worker(modules: Sequence[str] = ()) -> ProcessPoolExecutor:
    """A one-process spawn pool whose worker starts now and imports ``modules``, for a later
    :func:`background_task` (``worker=``): the worker's imports (~2 s) then overlap the caller's own.
    The worker uses one BLAS/OpenMP thread."""
    pool = ProcessPoolExecutor(
        1, mp_context=mp.get_context("spawn"), initializer=init_worker_process, initargs=(None, ())
    )
    with environment({k: "1" for k in BLAS_THREAD_VARS}):  # inherited by the worker, spawned by this submit
        pool.submit(_import_modules, tuple(modules))
    return pool


def _import_modules(modules: tuple[str, ...]) -> None:
    import importlib

    for name in modules:
        importlib.import_module(name)
    settle_garbage_collector()


def stop_background_worker(pool: ProcessPoolExecutor) -> None:
    """End the worker process of a pool (:func:`start_background_worker`, or one running a task whose
    caller failed) at once: SIGTERM, then SIGKILL if it is still there after a few seconds (a process
    signalled while it is being spawned can miss the first). Its results, if any, are lost."""
    procs = list((getattr(pool, "_processes", None) or {}).values())
    for proc in procs:
        proc.terminate()
    pool.shutdown(wait=False, cancel_futures=True)
    for proc in procs:
        proc.join(timeout=5)
        if proc.is_alive():
            proc.kill()
            proc.join(timeout=5)


@contextmanager
def background_task(
    fn: Callable[..., Any] | None,
    args: tuple[Any, ...] = (),
    kwargs: dict[str, Any] | None = None,
    worker: ProcessPoolExecutor | None = None,
) -> Iterator[Future[Any] | None]:
    """Run ``fn(*args, **kwargs)`` in one spawned worker process while the ``with`` block runs.

    Yields a ``concurrent.futures.Future`` (``None`` if ``fn`` is None: nothing to do). The worker
    uses one BLAS thread. Leaving the block normally does not wait for the worker process to exit
    (take the future's result inside the block): after its task it only tears down its Python
    objects (~2 s with compiled models), which overlaps the caller's remaining work; Python's exit
    joins it. Leaving the block by an exception (or Ctrl-C) terminates the worker, so no orphan
    keeps running. ``worker``: a pool of :func:`start_background_worker` to run ``fn`` in (this
    function then owns it; with ``fn`` None it is stopped); default: a worker started here.
    """
    if fn is None:
        if worker is not None:
            stop_background_worker(worker)
        yield None
        return
    pool = worker if worker is not None else start_background_worker()
    try:
        future = pool.submit(_call_with, fn, tuple(args), dict(kwargs or {}))
        yield future
        pool.shutdown(wait=False)
    except BaseException:  # also a Ctrl-C while waiting for the worker above
        stop_background_worker(pool)
        raise
