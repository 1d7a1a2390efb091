"""Map a function over tasks: in this process, in local worker processes, or on a dask cluster.

One entry point, :func:`run_tasks`, used by toys, the mass scan and (later) SBC::

    results = run_tasks(fn, tasks, scheduler=None, processes=2, init=setup, init_args=(tpl,))

- ``fn(task)`` and ``init(*init_args)`` must be module-level (picklable) functions; ``init`` runs
  once per worker (process, or thread of a multi-threaded dask worker) before its first task of
  this call (compile models there and keep them with :func:`worker_cache`, so that later calls
  in the same worker reuse them).
- Results come back **in task order** whatever the backend. Randomness must come from seeds carried
  by the tasks (never from the worker), so results do not depend on the backend or worker count.
- ``scheduler``: ``None`` -> ``$BAYES_XMASS_SCHEDULER`` if set, else local processes;
  ``"local"`` -> local processes (``processes`` of them; 1 = in this process, no pickling);
  ``"local-cluster"`` -> a temporary ``distributed.LocalCluster`` (``processes`` workers, one
  thread each); any other string -> address of a running dask scheduler (``tcp://host:8786``);
  a ``distributed.Client`` -> used as is (not closed).
- ``on_result(i, result)`` is called in the calling process as each task finishes (any order), e.g.
  to persist finished work atomically.

Worker processes are set up by :mod:`bayes_xmass.runtime.worker_process` (one BLAS thread, graph cache);
a single task alongside the caller runs through :mod:`bayes_xmass.runtime.background`.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from bayes_xmass.errors import InputError
from bayes_xmass.runtime.graph_cache import enable as enable_graph_cache
from bayes_xmass.runtime.worker_process import BLAS_THREAD_VARS, environment, init_worker_process, single_threaded_blas

__all__ = ["SCHEDULER_ENV", "check_scheduler", "describe_scheduler", "resolve_scheduler", "run_tasks", "worker_cache"]

SCHEDULER_ENV = "BAYES_XMASS_SCHEDULER"

_LOCAL = threading.local()  # per worker thread: compiled models (worker_cache), init tokens run


def _state() -> threading.local:
    if not hasattr(_LOCAL, "cache"):
        _LOCAL.cache, _LOCAL.initialised = {}, set()
    return _LOCAL


def worker_cache(key, factory: Callable[[], Any]):
    """Per-worker memo: the object stored under ``key``, created by ``factory()`` on first use.

    Workers keep compiled models here (keyed by model structure) so that successive tasks and
    successive :func:`run_tasks` calls in the same process do not recompile. The memo is per
    thread, so dask workers with several threads never share a (stateful) compiled model; state
    set up by ``init`` must likewise be thread-local or live here.
    """
    cache = _state().cache
    if key not in cache:
        cache[key] = factory()
    return cache[key]


def _call(fn, task):
    with single_threaded_blas():
        return fn(task)


def resolve_scheduler(scheduler=None) -> object:
    """The scheduler actually used: argument, else ``$BAYES_XMASS_SCHEDULER``, else ``"local"``."""
    if scheduler is None or scheduler == "":
        scheduler = os.environ.get(SCHEDULER_ENV) or "local"
    return scheduler


def describe_scheduler(scheduler=None, processes: int | None = None) -> str:
    """Human-readable backend for provenance records."""
    s = resolve_scheduler(scheduler)
    if isinstance(s, str):
        if s == "local":
            return f"local processes ({processes or os.cpu_count() or 1})"
        return "dask LocalCluster" if s == "local-cluster" else f"dask scheduler {s}"
    return f"dask client {getattr(s, 'scheduler', None) and s.scheduler.address}"


def check_scheduler(scheduler) -> None:
    """Raise InputError (field ``--scheduler``) unless ``scheduler`` is usable: dask importable for
    anything but ``"local"``, and a scheduler address reachable (connects once, 10 s timeout)."""
    s = resolve_scheduler(scheduler)
    if not isinstance(s, str) or s == "local":
        return
    try:
        from distributed import Client
    except ImportError:
        raise InputError(
            "command line", "--scheduler", "dask.distributed is not installed (pip install 'bayes_xmass[dask]')"
        ) from None
    if s == "local-cluster":
        return
    try:
        Client(s, timeout="10s").close()
    except (OSError, TimeoutError, ValueError, TypeError) as exc:
        raise InputError("command line", "--scheduler", f"cannot connect to dask scheduler {s!r}: {exc}") from None


def run_tasks(
    fn: Callable,
    tasks: Sequence,
    *,
    scheduler=None,
    processes: int | None = None,
    init: Callable | None = None,
    init_args: tuple = (),
    on_result: Callable[[int, Any], None] | None = None,
) -> list:
    """``[fn(t) for t in tasks]`` on the chosen backend (see the module docstring); task order kept."""
    tasks = list(tasks)
    if not tasks:
        return []
    s = resolve_scheduler(scheduler)
    if isinstance(s, str) and s == "local":
        n = max(1, min(processes or os.cpu_count() or 1, len(tasks)))
        if n == 1:
            return _run_serial(fn, tasks, init, init_args, on_result)
        return _run_pool(fn, tasks, n, init, init_args, on_result)
    return _run_dask(fn, tasks, s, processes, init, init_args, on_result)


def _run_serial(fn, tasks, init, init_args, on_result):
    if init is not None:
        with single_threaded_blas():
            init(*init_args)
    out = []
    for i, t in enumerate(tasks):
        out.append(_call(fn, t))
        if on_result is not None:
            on_result(i, out[-1])
    return out


def _run_pool(fn, tasks, n, init, init_args, on_result):
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, as_completed

    with environment({k: "1" for k in BLAS_THREAD_VARS}):  # one BLAS thread per worker process
        with ProcessPoolExecutor(
            n, mp_context=mp.get_context("spawn"), initializer=init_worker_process, initargs=(init, init_args)
        ) as pool:
            futures = {pool.submit(_call, fn, t): i for i, t in enumerate(tasks)}
            out: list = [None] * len(tasks)
            try:
                for fut in as_completed(futures):
                    i = futures[fut]
                    out[i] = fut.result()
                    if on_result is not None:
                        on_result(i, out[i])
            except BaseException:
                for fut in futures:  # do not wait for the rest of the work on failure or Ctrl-C
                    fut.cancel()
                raise
            return out


class _Payload:
    """Wrapper so that ``Client.scatter`` ships ``init_args`` as one object."""

    def __init__(self, value):
        self.value = value


def _dask_call(token, init, payload, fn, task):
    """Run on a dask worker: ``init`` once per worker thread and token, then ``fn(task)``."""
    state = _state()
    enable_graph_cache()
    if init is not None and token not in state.initialised:
        init_worker_process(init, payload.value)
        state.initialised.add(token)
    return _call(fn, task)


def _run_dask(fn, tasks, scheduler, processes, init, init_args, on_result):
    try:
        from distributed import Client, LocalCluster, as_completed
    except ImportError:  # pragma: no cover - optional dependency
        raise InputError(
            "command line", "--scheduler", "dask.distributed is not installed (pip install 'bayes_xmass[dask]')"
        ) from None
    cluster = None
    if isinstance(scheduler, str):
        if scheduler == "local-cluster":
            cluster = LocalCluster(
                n_workers=processes or os.cpu_count() or 1, threads_per_worker=1, processes=True, dashboard_address=None
            )
            client = Client(cluster)
        else:
            try:
                client = Client(scheduler, timeout="20s")
            except (OSError, TimeoutError, ValueError) as exc:
                raise InputError(
                    "command line", "--scheduler", f"cannot connect to dask scheduler {scheduler!r}: {exc}"
                ) from None
        owned = True
    else:
        client, owned = scheduler, False
    try:
        token = uuid.uuid4().hex
        payload = client.scatter(_Payload(init_args), broadcast=True, hash=False) if init is not None else None
        futures = [client.submit(_dask_call, token, init, payload, fn, t, pure=False) for t in tasks]
        index = {f.key: i for i, f in enumerate(futures)}
        out: list = [None] * len(tasks)
        for fut in as_completed(futures):
            i = index[fut.key]
            out[i] = fut.result()
            if on_result is not None:
                on_result(i, out[i])
        return out
    finally:
        if owned:
            client.close()
        if cluster is not None:
            cluster.close()
