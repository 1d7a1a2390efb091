"""Execution backends give identical results: serial vs a dask LocalCluster of 2 worker processes."""

from __future__ import annotations

import numpy as np
import pytest
from scan_fixtures import small_bl_setup

from bayes_xmass.datasets.loader import load_dataset
from bayes_xmass.infer.scan import PointSettings, mass_templates, run_scan
from bayes_xmass.infer.toys import toy_limits
from bayes_xmass.model.spec import load_model_spec
from bayes_xmass.runtime import background, executor

_STATE: dict = {}


def _init(offset):
    _STATE["offset"] = offset


def _work(task):
    i, seed = task
    return i, float(np.random.default_rng(seed).normal()) + _STATE["offset"]


def test_run_tasks_keeps_task_order_and_reports_each_result():
    seen = []
    tasks = [(i, 100 + i) for i in range(7)]
    out = executor.run_tasks(
        _work, tasks, processes=1, init=_init, init_args=(10.0,), on_result=lambda i, r: seen.append(i)
    )
    assert [r[0] for r in out] == list(range(7)) and sorted(seen) == list(range(7))
    assert out[3][1] == pytest.approx(np.random.default_rng(103).normal() + 10.0)
    assert executor.run_tasks(_work, []) == []
    assert executor.worker_cache("k", lambda: [1]) is executor.worker_cache("k", lambda: [2])


@pytest.fixture(scope="module")
def client():
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    c = distributed.Client(cluster)
    yield c
    c.close()
    cluster.close()


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    ds, model = small_bl_setup(tmp_path_factory.mktemp("bl"))
    spec, dataset = load_model_spec(model), load_dataset(ds)
    masses = np.geomspace(1e-3, 10.0, 4)
    return spec, dataset, masses, mass_templates(spec, dataset, masses)[1]


def test_toys_on_local_cluster_identical_to_serial(client, small):
    tpl = small[3][0]
    serial = toy_limits(tpl, n_toys=6, seed=5, processes=1, scheduler="local")
    dask = toy_limits(tpl, n_toys=6, seed=5, processes=3, scheduler=client)
    for k in serial.limits:
        np.testing.assert_array_equal(serial.limits[k], dask.limits[k])
    np.testing.assert_array_equal(serial.best_x, dask.best_x)


def test_scan_on_local_cluster_identical_to_serial(client, small):
    spec, dataset, masses, _ = small
    settings = PointSettings(spec.cl, spec.likelihood, None, spec.sampler, 2, 11)
    serial = run_scan(spec, dataset, masses, settings, scheduler="local", processes=1, log=lambda m: None)
    got = {}
    dask = run_scan(
        spec,
        dataset,
        masses,
        settings,
        scheduler=client,
        log=lambda m: None,
        on_point=lambda i, row: got.setdefault(i, row),
    )
    assert sorted(got) == list(range(masses.size))
    for a, b in zip(serial, dask):
        assert {k: v for k, v in a.items() if k != "seconds"} == {k: v for k, v in b.items() if k != "seconds"}


def _square_plus(x, offset=0.0):
    import os

    return x * x + offset, os.getpid(), os.environ.get("OPENBLAS_NUM_THREADS")


def _fail(message):
    raise ValueError(message)


def _sleep_forever():
    import time

    time.sleep(600)


def test_background_task_runs_in_another_process_with_one_blas_thread():
    import os

    with background.background_task(_square_plus, (3.0,), {"offset": 1.0}) as future:
        here = _square_plus(2.0)
    value, pid, blas = future.result()
    assert value == 10.0 and here[0] == 4.0
    assert pid != os.getpid() and blas == "1"
    with background.background_task(None) as nothing:
        assert nothing is None


def test_background_task_error_reaches_the_caller():
    with background.background_task(_fail, ("bad mass",)) as future:
        pass
    with pytest.raises(ValueError, match="bad mass"):
        future.result()


def test_background_task_is_terminated_when_the_caller_fails():
    import time

    t0 = time.perf_counter()
    with pytest.raises(KeyboardInterrupt):
        with background.background_task(_sleep_forever):
            time.sleep(0.5)
            raise KeyboardInterrupt
    assert time.perf_counter() - t0 < 30  # did not wait for the 600-s task


def test_background_task_runs_in_a_worker_started_earlier():
    """``run`` starts the B-L worker before its own imports: the task runs in that very process
    (one BLAS thread), and a worker the run turns out not to need is stopped."""
    worker = background.start_background_worker(("json",))
    started = set(worker._processes)  # the worker process exists from the start
    with background.background_task(_square_plus, (3.0,), {"offset": 1.0}, worker=worker) as future:
        pass
    value, pid, blas = future.result()
    assert value == 10.0 and blas == "1" and started == {pid}
    unused = background.start_background_worker()
    proc = next(iter(unused._processes.values()))
    with background.background_task(None, worker=unused) as nothing:
        assert nothing is None
    proc.join(timeout=30)
    assert not proc.is_alive()


def test_settle_garbage_collector_in_a_process_of_its_own():
    """Thresholds raised and the objects alive at the call frozen (run in a child: never in this one)."""
    import subprocess
    import sys

    code = (
        "import gc; from bayes_xmass.runtime.worker_process import settle_garbage_collector, GC_THRESHOLDS; "
        "before = gc.get_freeze_count(); settle_garbage_collector(); "
        "assert gc.get_threshold() == GC_THRESHOLDS, gc.get_threshold(); "
        "assert gc.get_freeze_count() > max(before, 10000), gc.get_freeze_count(); "
        "a = []; a.append(a); del a; assert gc.collect() >= 1; print('ok')"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]
