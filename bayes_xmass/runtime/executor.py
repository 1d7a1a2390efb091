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
"""

from __future__ import annotations

import os
import threading
import uuid
from contextlib import contextmanager
from collections.abc import Callable, Sequence
from typing import Any

SCHEDULER_ENV = "BAYES_XMASS_SCHEDULER"
_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")

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


@contextmanager
def environment(values: dict[str, str]):
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
def single_threaded_blas():
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


def _call(fn, task):
    with single_threaded_blas():
        return fn(task)


def _call_with(fn, args, kwargs):
    with single_threaded_blas():
        return fn(*args, **kwargs)


def start_background_worker(modules: Sequence[str] = ()):
    """A one-process spawn pool whose worker starts now and imports ``modules``, for a later
    :func:`background_task` (``worker=``): the worker's imports (~2 s) then overlap the caller's own.
    The worker uses one BLAS/OpenMP thread."""
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    pool = ProcessPoolExecutor(1, mp_context=mp.get_context("spawn"), initializer=_pool_init, initargs=(None, ()))
    with environment({k: "1" for k in _THREAD_VARS}):  # inherited by the worker, spawned by this submit
        pool.submit(_import_modules, tuple(modules))
    return pool


def _import_modules(modules: tuple[str, ...]) -> None:
    import importlib

    for name in modules:
        importlib.import_module(name)
    settle_garbage_collector()


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


def stop_background_worker(pool) -> None:
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
def background_task(fn: Callable | None, args: tuple = (), kwargs: dict | None = None, worker=None):
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


class WorkClaims:
    """First come, first served claims on named pieces of work, shared by the processes of one
    machine: a claim is the exclusive creation of a file in a private directory (atomic on local
    file systems), so two processes can never both take the same piece. Picklable (a path).

    >>> claims = WorkClaims.create()
    >>> claims.take("fit_a"), claims.take("fit_a"), claims.taken("fit_a"), claims.taken("fit_b")
    (True, False, True, False)
    >>> claims.remove()
    """

    def __init__(self, directory):
        self.directory = str(directory)

    @classmethod
    def create(cls) -> "WorkClaims":
        import tempfile

        return cls(tempfile.mkdtemp(prefix="bayes_xmass_claims_"))

    def _path(self, name: str) -> str:
        if not name or os.sep in name or name.startswith("."):
            raise ValueError(f"claim name {name!r} must be a plain file name")
        return os.path.join(self.directory, name)

    def take(self, name: str) -> bool:
        """True if this call claimed ``name``; False if it was claimed before (by anyone)."""
        try:
            fd = os.open(self._path(name), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        except FileExistsError:
            return False
        os.close(fd)
        return True

    def taken(self, name: str) -> bool:
        return os.path.exists(self._path(name))

    def remove(self) -> None:
        import shutil

        shutil.rmtree(self.directory, ignore_errors=True)


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
    from bayes_xmass.errors import InputError

    s = resolve_scheduler(scheduler)
    if not isinstance(s, str) or s == "local":
        return
    try:
        from distributed import Client
    except ImportError:
        raise InputError("command line", "--scheduler",
                         "dask.distributed is not installed (pip install 'bayes_xmass[dask]')") from None
    if s == "local-cluster":
        return
    try:
        Client(s, timeout="10s").close()
    except (OSError, TimeoutError, ValueError, TypeError) as exc:
        raise InputError("command line", "--scheduler", f"cannot connect to dask scheduler {s!r}: {exc}") from None


def run_tasks(fn: Callable, tasks: Sequence, *, scheduler=None, processes: int | None = None,
              init: Callable | None = None, init_args: tuple = (),
              on_result: Callable[[int, Any], None] | None = None) -> list:
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

    with environment({k: "1" for k in _THREAD_VARS}):  # one BLAS thread per worker process
        with ProcessPoolExecutor(n, mp_context=mp.get_context("spawn"), initializer=_pool_init,
                                 initargs=(init, init_args)) as pool:
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


def _pool_init(init, init_args):
    import atexit
    import warnings

    from bayes_xmass.runtime.graph_cache import enable

    warnings.simplefilter("ignore")
    enable()  # as in the parent (the CLI): rewritten graphs from the on-disk cache
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


class _Payload:
    """Wrapper so that ``Client.scatter`` ships ``init_args`` as one object."""

    def __init__(self, value):
        self.value = value


def _dask_call(token, init, payload, fn, task):
    """Run on a dask worker: ``init`` once per worker thread and token, then ``fn(task)``."""
    state = _state()
    from bayes_xmass.runtime.graph_cache import enable

    enable()
    if init is not None and token not in state.initialised:
        _pool_init(init, payload.value)
        state.initialised.add(token)
    return _call(fn, task)


def _run_dask(fn, tasks, scheduler, processes, init, init_args, on_result):
    try:
        from distributed import Client, LocalCluster, as_completed
    except ImportError:  # pragma: no cover - optional dependency
        from bayes_xmass.errors import InputError

        raise InputError("command line", "--scheduler",
                         "dask.distributed is not installed (pip install 'bayes_xmass[dask]')") from None
    cluster = None
    if isinstance(scheduler, str):
        if scheduler == "local-cluster":
            cluster = LocalCluster(n_workers=processes or os.cpu_count() or 1, threads_per_worker=1,
                                   processes=True, dashboard_address=None)
            client = Client(cluster)
        else:
            try:
                client = Client(scheduler, timeout="20s")
            except (OSError, TimeoutError, ValueError) as exc:
                from bayes_xmass.errors import InputError

                raise InputError("command line", "--scheduler",
                                 f"cannot connect to dask scheduler {scheduler!r}: {exc}") from None
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
