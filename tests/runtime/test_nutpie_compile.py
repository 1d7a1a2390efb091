"""bayes_xmass.runtime.nutpie_compile: the same compiled model as nutpie.compile_pymc_model, built faster."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

nutpie = pytest.importorskip("nutpie")

from bayes_xmass.runtime.nutpie_compile import _callback_source, compile_for_nutpie  # noqa: E402


def _small_model():
    """Poisson counts from two templates (2-d pm.Data) with a log-normal and a bounded parameter:
    shared arrays of several ranks, transformed variables, a deterministic."""
    import pymc as pm
    import pytensor.tensor as pt

    rng = np.random.default_rng(3)
    templates = rng.uniform(1.0, 5.0, size=(2, 12))
    with pm.Model(coords={"bin": range(12), "component": ["a", "b"]}) as model:
        tpl = pm.Data("templates", templates, dims=("component", "bin"))
        counts = pm.Data("counts", rng.poisson(templates.sum(0)).astype("float64"), dims="bin")
        prior_mu = pm.Data("prior_mu", np.array(0.0))
        norm = pm.LogNormal("norm", prior_mu, 0.3)
        frac = pm.Uniform("frac", 0.0, 2.0)
        mu = pm.Deterministic("mu", norm * tpl[0] + frac * tpl[1], dims="bin")
        pm.Potential("loglike", pt.sum(counts * pt.log(mu) - mu))
    return model


def _draws(compiled, seed=11):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trace = nutpie.sample(compiled, draws=200, tune=200, chains=2, cores=1, seed=seed, progress_bar=False)
    return {name: trace.posterior[name].values for name in ("norm", "frac", "mu")}


def test_same_draws_as_nutpie_compile_and_after_a_data_swap():
    model = _small_model()
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # the fast path, not the fallback to nutpie's compile
        ours = compile_for_nutpie(model)
    theirs = nutpie.compile_pymc_model(model)
    assert ours.compiled_logp_func is not theirs.compiled_logp_func
    assert "bayes_xmass" in ours.compiled_logp_func._pyfunc.__code__.co_filename
    assert ours.n_dim == theirs.n_dim and ours.shapes == theirs.shapes
    a, b = _draws(ours), _draws(theirs)
    for name in a:
        np.testing.assert_array_equal(a[name], b[name])
    new = {"counts": np.arange(12, dtype="float64") + 3.0, "prior_mu": np.array(0.5)}
    a2, b2 = _draws(ours.with_data(**new)), _draws(theirs.with_data(**new))
    for name in a2:
        np.testing.assert_array_equal(a2[name], b2[name])
    assert not np.allclose(a2["norm"], a["norm"])  # the swap changed the posterior


def test_callback_source_copies_element_by_element():
    """The generated callback has no whole-array assignment (the slow part of nutpie's own compile)."""
    k1, k2 = "0" * 32, "ab" * 16
    src = _callback_source("logp", 3, 5, [(k1, 1), (k2, 4)])
    assert "[...]" not in src and "[()] =" not in src
    assert f"shared['shape']['{k2}'][3]" in src and "return 3" in src and "return 4" in src
    compile(src, "<test>", "exec")
    compile(_callback_source("expand", 3, 5, []), "<test>", "exec")


def test_many_shared_arrays_take_the_fast_path():
    """A model with 40 pm.Data arrays (a combination of several datasets has that many): CPython
    builds calls with > 30 arguments through list_to_tuple, which numba cannot type, so the callback
    passes them as a tuple built in chunks. Its posterior equals the one computed by quadrature."""
    import pymc as pm
    import pytensor.tensor as pt

    rng = np.random.default_rng(5)
    arrays = [rng.uniform(1.0, 2.0, size=4) for _ in range(40)]
    with pm.Model() as model:
        parts = [pm.Data(f"t{i}", a) for i, a in enumerate(arrays)]
        norm = pm.LogNormal("norm", 0.0, 0.3)
        mu = norm * sum(parts)
        pm.Potential("loglike", pt.sum(60.0 * pt.log(mu) - mu))
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # no fallback to nutpie's compile
        ours = compile_for_nutpie(model)
    assert "args = args + (" in _callback_source("logp", 1, 1, [(f"{i:032x}", 1) for i in range(40)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trace = nutpie.sample(ours, draws=1000, tune=300, chains=2, cores=1, seed=2, progress_bar=False)
    total = float(np.sum(arrays))  # sum over the 4 bins of mu / norm
    n = np.linspace(0.5, 1.6, 20001)
    logpost = 240.0 * np.log(n) - n * total - np.log(n) - np.log(n) ** 2 / (2 * 0.3**2)  # + lognormal prior
    w = np.exp(logpost - logpost.max())
    mean, sd = np.sum(n * w) / np.sum(w), np.sqrt(np.sum(n**2 * w) / np.sum(w) - (np.sum(n * w) / np.sum(w)) ** 2)
    draws = trace.posterior["norm"].values.ravel()
    assert abs(draws.mean() - mean) < 5 * sd / np.sqrt(400)  # ESS >= 400 of 2000 draws
    assert draws.std() == pytest.approx(sd, rel=0.1)


@pytest.mark.parametrize(
    "arrays", [[("x'] + __import__('os').system('true') + ['", 1)], [("0" * 31, 1)], [("0" * 32, "1")]]
)
def test_callback_source_accepts_only_hex_keys(arrays):
    """Only fixed text, integers and hex keys reach the exec-ed source."""
    with pytest.raises(ValueError, match="32 hex digits"):
        _callback_source("logp", 3, 5, arrays)


def test_callbacks_are_loaded_from_the_disk_cache_with_the_same_draws(monkeypatch):
    """A second compilation of the same model loads both callbacks from numba's cache (PyTensor's
    cache directory) instead of compiling them; the sampler's draws are identical."""
    monkeypatch.delenv("BAYES_XMASS_NO_CACHE", raising=False)
    first = compile_for_nutpie(_small_model())
    second = compile_for_nutpie(_small_model())
    assert second.compiled_logp_func.cache_hits == 1 and second.compiled_expand_func.cache_hits == 1
    a, b = _draws(first), _draws(second)
    for name in a:
        np.testing.assert_array_equal(a[name], b[name])


def test_callback_cache_follows_the_no_cache_switch(monkeypatch):
    monkeypatch.setenv("BAYES_XMASS_NO_CACHE", "1")
    compiled = compile_for_nutpie(_small_model())
    assert compiled.compiled_logp_func.cache_hits == 0


def test_callback_cache_key_separates_layouts():
    """Different shared-array dtypes or record layouts never share a cache entry."""
    from bayes_xmass.runtime.nutpie_compile import _callback_cache_key

    compiled = compile_for_nutpie(_small_model())
    inner = compiled.logp_func.vm.jit_fn
    src = _callback_source("logp", 3, 5, [])
    rec = compiled.user_data.dtype
    k = _callback_cache_key(src, inner, rec, [np.dtype("float64")])
    assert k is not None and len(k) == 64
    assert k != _callback_cache_key(src, inner, rec, [np.dtype("float32")])
    assert k != _callback_cache_key(src + "\n", inner, rec, [np.dtype("float64")])
    assert _callback_cache_key(src, lambda: None, rec, [np.dtype("float64")]) is None  # not a cached inner fn


def test_callback_cache_key_names_the_module(monkeypatch):
    """numba pickles the callback's module name into a cache entry: an entry written by the module
    under another name (an older layout) must not be found, or every load fails and nothing is cached."""
    from bayes_xmass.runtime import nutpie_compile

    compiled = compile_for_nutpie(_small_model())
    inner = compiled.logp_func.vm.jit_fn
    src = _callback_source("logp", 3, 5, [])
    args = (src, inner, compiled.user_data.dtype, [np.dtype("float64")])
    key = nutpie_compile._callback_cache_key(*args)
    monkeypatch.setattr(nutpie_compile, "__name__", "bayes_xmass.nutpie_compile")
    assert key is not None and nutpie_compile._callback_cache_key(*args) != key
