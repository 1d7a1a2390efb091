"""The on-disk cache of rewritten PyTensor graphs: same numbers, stable keys across processes, and a
fall-back to PyTensor's own rewriting for anything it cannot describe or read."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest

from bayes_xmass.runtime import graph_cache


@pytest.fixture()
def fresh_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("BAYES_XMASS_CACHE", str(tmp_path))
    monkeypatch.delenv("BAYES_XMASS_NO_CACHE", raising=False)
    graph_cache.enable()
    return tmp_path / "graphs"


def _graph(c: float = 2.0):
    """A small graph with what the models have: shared data, constants, a reduction, a gradient."""
    x = pt.dvector("x")
    data = pytensor.shared(np.linspace(1.0, 3.0, 5), name="data")
    y = pt.sum(data * pt.exp(-c * x) + pt.log1p(x**2)) + pt.switch(pt.gt(x[0], 0), 1.0, -1.0)
    return x, data, [y, pt.grad(y, x)]


def _compile(c: float = 2.0, mode="NUMBA"):
    x, data, outs = _graph(c)
    return pytensor.function([x], outs, mode=mode), data


def _delta(before: dict) -> dict:
    return {k: graph_cache.stats[k] - before[k] for k in before}


def test_hit_gives_the_same_numbers_bit_for_bit(fresh_cache, monkeypatch):
    point = np.array([0.3, -0.2, 1.1, 0.0, 2.0])
    monkeypatch.setenv("BAYES_XMASS_NO_CACHE", "1")
    f_plain, _ = _compile()
    monkeypatch.delenv("BAYES_XMASS_NO_CACHE")
    before = dict(graph_cache.stats)
    f_miss, _ = _compile()
    assert _delta(before)["misses"] == 1 and len(list(fresh_cache.glob("*.pkl"))) == 1
    before = dict(graph_cache.stats)
    f_hit, data = _compile()
    assert _delta(before)["hits"] == 1
    for f in (f_miss, f_hit):
        for a, b in zip(f(point), f_plain(point)):
            np.testing.assert_array_equal(a, b)
    data.set_value(np.full(5, 0.5))  # the stored graph reads the live shared variable, not a copy
    assert float(f_hit(point)[0]) != float(f_plain(point)[0])
    x, d2, outs = _graph()
    d2.set_value(np.full(5, 0.5))
    np.testing.assert_array_equal(f_hit(point)[0], pytensor.function([x], outs[0], mode="NUMBA")(point))


def test_key_separates_constants_and_modes(fresh_cache):
    before = dict(graph_cache.stats)
    _compile(2.0)
    _compile(2.5)  # another constant: another graph
    _compile(2.0, mode="FAST_COMPILE")  # another rewrite query: another entry
    assert _delta(before)["misses"] == 3 and len(list(fresh_cache.glob("*.pkl"))) == 3


def test_keys_are_stable_across_processes(fresh_cache, tmp_path):
    """A graph with a None constant and a random variable (whose types once printed object
    addresses): the second process finds what the first stored."""
    code = (
        "import numpy as np, pytensor, pytensor.tensor as pt\n"
        "from bayes_xmass.runtime import graph_cache\n"
        "graph_cache.enable()\n"
        "rng = pytensor.shared(np.random.default_rng(1))\n"
        "mu = pt.dscalar('mu')\n"
        "draw = pt.random.normal(mu, 2.0, rng=rng)\n"
        "f = pytensor.function([mu], [draw, pt.exp(mu) * 3.0], mode='NUMBA')\n"
        "f(0.5)\n"
        "print(graph_cache.stats['hits'], graph_cache.stats['misses'], graph_cache.stats['uncachable'])\n"
    )
    env = {**os.environ, "BAYES_XMASS_CACHE": str(tmp_path)}
    runs = [
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
        for _ in range(2)
    ]
    counts = [tuple(int(v) for v in r.stdout.split()) for r in runs]
    assert all(r.returncode == 0 for r in runs), [r.stderr[-2000:] for r in runs]
    assert counts[0] == (0, 1, 0) and counts[1] == (1, 0, 0), counts


def test_unreadable_entry_is_rewritten_and_replaced(fresh_cache):
    point = np.array([0.1, 0.2, 0.3, 0.4, 0.5])
    f_ref, _ = _compile()
    (entry,) = fresh_cache.glob("*.pkl")
    entry.write_bytes(b"not a pickle")
    before = dict(graph_cache.stats)
    f, _ = _compile()
    assert _delta(before) == {"hits": 0, "misses": 1, "uncachable": 0, "rejected": 1}
    np.testing.assert_array_equal(f(point)[1], f_ref(point)[1])
    before = dict(graph_cache.stats)
    _compile()
    assert _delta(before)["hits"] == 1  # the entry was written again


def test_op_without_props_falls_back(fresh_cache):
    from pytensor.graph.basic import Apply
    from pytensor.graph.op import Op

    class Twice(Op):  # no __props__: compared by identity, so the key cannot describe it
        def make_node(self, x):
            x = pt.as_tensor_variable(x)
            return Apply(self, [x], [x.type()])

        def perform(self, node, inputs, outputs):
            outputs[0][0] = 2 * inputs[0]

    x = pt.dvector("x")
    before = dict(graph_cache.stats)
    f = pytensor.function([x], Twice()(x) + 1.0, mode="FAST_COMPILE")
    assert _delta(before)["uncachable"] == 1 and not list(fresh_cache.glob("*.pkl"))
    np.testing.assert_array_equal(f(np.array([1.0, 2.0])), [3.0, 5.0])


def test_disabled_by_the_environment(fresh_cache, monkeypatch):
    monkeypatch.setenv("BAYES_XMASS_NO_CACHE", "1")
    before = dict(graph_cache.stats)
    _compile()
    assert _delta(before) == {"hits": 0, "misses": 0, "uncachable": 0, "rejected": 0}
    assert not fresh_cache.exists()


def test_model_functions_hit_with_the_same_numbers(fresh_cache):
    """The profile likelihood of the magnetic-moment benchmark fit: compiled from the cache, the
    same -2 log L and gradient as compiled without it."""
    from bayes_xmass.datasets.loader import DEFAULT_DATASET, load_dataset
    from bayes_xmass.infer.frequentist import ProfileLikelihood
    from bayes_xmass.model.spec import model_spec_for
    from bayes_xmass.model.targets import fit_targets, target_templates

    spec = model_spec_for("magnetic-moment")
    target = fit_targets(spec)[0]
    tpl = target_templates(spec, load_dataset(DEFAULT_DATASET), target)
    os.environ["BAYES_XMASS_NO_CACHE"] = "1"
    try:
        plain = ProfileLikelihood(tpl, likelihood=spec.likelihood)
    finally:
        del os.environ["BAYES_XMASS_NO_CACHE"]
    ProfileLikelihood(tpl, likelihood=spec.likelihood)  # stores
    before = dict(graph_cache.stats)
    cached = ProfileLikelihood(tpl, likelihood=spec.likelihood)
    assert _delta(before)["hits"] >= 1 and _delta(before)["misses"] == 0
    theta = np.concatenate([[0.4], plain.start])
    for a, b in zip(cached.value_and_grad(theta), plain.value_and_grad(theta)):
        np.testing.assert_array_equal(a, b)


@pytest.mark.skipif(not hasattr(os, "getuid"), reason="POSIX ownership")
def test_entries_others_can_write_are_not_read(fresh_cache):
    """An entry (or the directory) writable by group or others is never unpickled: rewritten again."""
    _compile()
    (entry,) = fresh_cache.glob("*.pkl")
    for target in (entry, fresh_cache):
        mode = target.stat().st_mode
        target.chmod(mode | 0o020)
        try:
            before = dict(graph_cache.stats)
            _compile()
            assert _delta(before)["hits"] == 0 and _delta(before)["misses"] == 1
        finally:
            target.chmod(mode)
    before = dict(graph_cache.stats)
    _compile()
    assert _delta(before)["hits"] == 1
