"""Compile a PyMC model for nutpie's NUTS sampler, in half the time of ``nutpie.compile_pymc_model``.

nutpie turns the model's PyTensor log-density-and-gradient function (numba mode) into a C callback
that its Rust sampler calls. Compiling that callback is most of the cost of a fit here: for the
magnetic-moment model, 16-20 s of the 25-30 s ``compile_pymc_model`` takes on a 2-core machine,
every time (a C callback is never cached on disk). Of that, about 8 s is numba typing and
lowering the callback's own ``out[...] = grad`` and ``logp[()] = value``: array assignments whose
shape checks pull numba's error-message formatting (string and integer printing) into the compile.

This module builds the very same ``nutpie.compile_pymc.CompiledPyMCModel`` -- the same PyTensor
functions (``_make_functions``, whose numba code PyTensor caches on disk), the same shared-data
layout, so ``with_data`` and sampling work unchanged -- with callbacks generated as straight-line
source that copy element by element. Same numbers, draw for draw (tests/test_nutpie_compile.py);
the callback compiles in ~8 s instead of 16-20 s (``benchmarks/bench_compile.py``).

The callbacks are also cached on disk, beside PyTensor's own numba cache (PyTensor's cache
locator, keyed by a hash of the callback source, PyTensor's key of the inner function it calls,
the user-data layout and the numba/nutpie versions): a second run loads them in ~0.2 s instead of
compiling for ~3 s each. Disabled with the template cache (``BAYES_XMASS_NO_CACHE=1``,
``--no-cache``) or PyTensor's ``numba__cache = False``; a model whose inner function PyTensor does
not cache is compiled every time. The cache files are numba's own (the same trust as PyTensor's).

It uses nutpie internals of the version pinned in pyproject.toml (0.16); where they are missing,
:func:`compile_for_nutpie` falls back to ``nutpie.compile_pymc_model`` (and says so once).
"""

from __future__ import annotations

import math
import re
import threading
import warnings
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from bayes_xmass.runtime.cache import enabled

if TYPE_CHECKING:
    from pymc import Model

__all__ = ["CALLBACK_CACHE_VERSION", "compile_for_nutpie"]

_FALLBACK_WARNED = False


CALL_ARGS_MAX = 24  # arguments per call or tuple display that CPython compiles without list_to_tuple


def _callback_source(kind: str, n_dim: int, n_expanded: int, arrays: list[tuple[str, int]]) -> str:
    """Python source of the C callback ``kind`` ('logp' or 'expand') of nutpie's ABI.

    ``arrays``: (user-data key, ndim) of the shared arrays the inner function takes after x, in order.
    Return codes as nutpie's: 0 ok, -1 wrong size, 1/-2 exception, 3 non-finite gradient, 4 non-finite
    log density. The source is fixed text, integers and the keys, which must be 32-digit hex (the
    index keys of :func:`_compile_fast`): nothing else can reach the ``exec`` of :func:`_callback`.
    """
    if kind not in ("logp", "expand") or not all(isinstance(v, int) and v >= 0 for v in (n_dim, n_expanded)):
        raise ValueError("kind must be 'logp' or 'expand', sizes non-negative integers")
    for key, ndim in arrays:
        if not (isinstance(key, str) and re.fullmatch("[0-9a-f]{32}", key) and isinstance(ndim, int) and ndim >= 0):
            raise ValueError(f"shared-array key {key!r} / ndim {ndim!r}: expected 32 hex digits and an integer")
    if kind == "logp":
        head = ["def logp_callback(dim, x_, out_, logp_, user_data_):", f"    if dim != {n_dim}:", "        return -1"]
    else:
        head = [
            "def expand_callback(dim, expanded, x_, out_, user_data_):",
            f"    if dim != {n_dim} or expanded != {n_expanded}:",
            "        return -1",
        ]
    body = [f"x = numba.carray(x_, ({n_dim},))", "shared = numba.carray(user_data_, (), RECORD)[()]['shared']"]
    args = ["x"]
    for i, (key, ndim) in enumerate(arrays):
        dims = ", ".join(f"shared['shape']['{key}'][{j}]" for j in range(ndim))
        shape = f"({dims},)" if ndim == 1 else f"({dims})"
        body.append(f"a{i} = numba.carray(as_pointer(shared['data']['{key}']), {shape}, DTYPE{i})")
        args.append(f"a{i}")
    if len(args) <= CALL_ARGS_MAX:
        call = ", ".join(args)
    else:  # CPython >= 3.12 builds calls with > 30 arguments through list_to_tuple, which numba
        # cannot type: build the argument tuple in chunks (tuple concatenation types) and unpack it
        chunks = [args[i : i + CALL_ARGS_MAX] for i in range(0, len(args), CALL_ARGS_MAX)]
        body.append("args = (" + ", ".join(chunks[0]) + ",)")
        body += ["args = args + (" + ", ".join(c) + ",)" for c in chunks[1:]]
        call = "*args"
    if kind == "logp":
        body += [
            f"value, grad = INNER({call})",
            f"out = numba.carray(out_, ({n_dim},))",
            "logp = numba.carray(logp_, (1,))",
            "v = value.item()",
            "logp[0] = v",
            f"for i in range({n_dim}):",
            "    g = grad[i]",
            "    out[i] = g",
            "    if not math.isfinite(g):",
            "        return 3",
            "if not math.isfinite(v):",
            "    return 4",
        ]
        error = 1
    else:
        body += [
            f"(values,) = INNER({call})",
            f"out = numba.carray(out_, ({n_expanded},))",
            f"for i in range({n_expanded}):",
            "    out[i] = values[i]",
        ]
        error = -2
    lines = head + ["    try:"] + ["        " + line for line in body]
    lines += [
        "    except Exception:  # noqa: BLE001 - nutpie's convention: an error code",
        f"        return {error}",
        "    return 0",
    ]
    return "\n".join(lines) + "\n"


CALLBACK_CACHE_VERSION = "2"  # bump when the callback source or namespace changes meaning (2: module name in key)


def _callback_cache_key(
    source: str, inner: object, record_dtype: np.dtype[Any], dtypes: list[np.dtype[Any]]
) -> str | None:
    """Disk-cache key of a callback, or None when it must not be cached (caching disabled, or the
    inner PyTensor function is not in PyTensor's numba cache, so nothing identifies its code)."""
    import hashlib

    import numba
    import nutpie
    from pytensor.configdefaults import config
    from pytensor.link.numba.cache import CACHED_SRC_FUNCTIONS

    py_func = getattr(inner, "py_func", None)
    inner_key = CACHED_SRC_FUNCTIONS.get(py_func) if py_func is not None else None
    if inner_key is None or not enabled() or not config.numba__cache:
        return None
    parts = (
        CALLBACK_CACHE_VERSION,
        __name__,  # numba pickles the callback's module name into the entry; a moved module must not load it
        source,
        inner_key,
        repr(record_dtype),
        [repr(d) for d in dtypes],
        numba.__version__,
        nutpie.__version__,
    )
    return hashlib.sha256(repr(parts).encode()).hexdigest()


def _callback(
    kind: str,
    fn_pt: Any,
    keys: dict[Any, str],
    shared_data: dict[str, NDArray[Any]],
    record_dtype: np.dtype[Any],
    n_dim: int,
    n_expanded: int,
) -> Any:
    """The numba C callback ``kind`` for the PyTensor function ``fn_pt`` (from the disk cache when possible)."""
    import numba
    from nutpie.compile_pymc import address_as_void_pointer

    order = [keys[var] for var in fn_pt.get_shared()]
    source = _callback_source(kind, int(n_dim), int(n_expanded), [(k, int(shared_data[k].ndim)) for k in order])
    dtypes = [shared_data[k].dtype for k in order]
    # __name__: numba's cache rebuilds the function's environment from this module on loading
    namespace = {
        "__name__": __name__,
        "numba": numba,
        "math": math,
        "RECORD": record_dtype,
        "as_pointer": address_as_void_pointer,
        "INNER": fn_pt.vm.jit_fn,
        **{f"DTYPE{i}": dtype for i, dtype in enumerate(dtypes)},
    }
    exec(compile(source, f"bayes_xmass_nutpie_{kind}_callback", "exec"), namespace)  # noqa: S102 - our source
    pyfunc = namespace[f"{kind}_callback"]
    double_ptr = numba.types.CPointer(numba.types.double)  # type: ignore[no-untyped-call]
    if kind == "logp":
        signature = numba.types.int64(numba.types.uint64, double_ptr, double_ptr, double_ptr, numba.types.voidptr)
    else:
        signature = numba.types.int64(
            numba.types.uint64, numba.types.uint64, double_ptr, double_ptr, numba.types.voidptr
        )
    key = _callback_cache_key(source, fn_pt.vm.jit_fn, record_dtype, dtypes)
    if key is not None:
        from pytensor.link.numba.cache import CACHED_SRC_FUNCTIONS

        CACHED_SRC_FUNCTIONS[pyfunc] = key  # PyTensor's locator: the entry lives in its numba cache dir
        try:
            return numba.cfunc(signature, cache=True)(pyfunc)
        except Exception:  # noqa: BLE001 - an unusable cache entry or directory: compile without it
            CACHED_SRC_FUNCTIONS.pop(pyfunc, None)
    return numba.cfunc(signature)(pyfunc)


def _compile_fast(
    model: Model, var_names: Sequence[str] | None, initial_point_fn: Callable[[int], dict[str, NDArray[Any]]]
) -> Any:
    from nutpie import compile_pymc as ncp

    n_dim, n_expanded, logp_pt, expand_pt, initial_point, shape_info, reparameterized = ncp._make_functions(
        model,
        mode="NUMBA",
        compute_grad=True,
        join_expanded=True,
        pymc_initial_point_fn=initial_point_fn,
        var_names=var_names,
    )
    shared_data: dict[str, np.ndarray] = {}
    keys: dict[Any, str] = {}  # shared variable -> key
    for var in [*logp_pt.get_shared(), *expand_pt.get_shared()]:
        if var not in keys:  # keys of nutpie's user-data record: 32 hex digits, one per shared array
            keys[var] = f"{len(keys):032x}"
            shared_data[keys[var]] = np.array(var.get_value(), order="C", copy=True)
    for value in shared_data.values():
        value.flags.writeable = False
    user_data = ncp.make_user_data(keys, shared_data)
    logp_cb = _callback("logp", logp_pt, keys, shared_data, user_data.dtype, n_dim, n_expanded)
    expand_cb = _callback("expand", expand_pt, keys, shared_data, user_data.dtype, n_dim, n_expanded)
    dims, coords = ncp._prepare_dims_and_coords(model, shape_info, reparameterized)
    return ncp.CompiledPyMCModel(
        _n_dim=n_dim,
        dims=dims,
        _coords=coords,
        _shapes={name: tuple(shape) for name, _, shape in zip(*shape_info)},
        compiled_logp_func=logp_cb,
        compiled_expand_func=expand_cb,
        initial_point_func=initial_point,
        shared_data=shared_data,
        shared_var_keys=keys,
        user_data=user_data,
        n_expanded=n_expanded,
        shape_info=shape_info,
        logp_func=logp_pt,
        expand_func=expand_pt,
        reparameterized_names=reparameterized,
    )


def compile_for_nutpie(model: Model, var_names: Sequence[str] | None = None) -> Any:
    """The model compiled for ``nutpie.sample`` (a ``CompiledPyMCModel``; chains start at nutpie's
    default point -- replace ``initial_point_func``, e.g. with :mod:`bayes_xmass.infer.chain_init`)."""
    import nutpie
    from pymc.initial_point import make_initial_point_fn

    global _FALLBACK_WARNED
    start = make_initial_point_fn(model=model, jitter_rvs=set(model.free_RVs), return_transformed=True)
    lock = threading.Lock()  # nutpie asks for the chains' starts from several threads

    def initial_point_fn(seed: int) -> dict[str, NDArray[Any]]:
        with lock:
            point: dict[str, NDArray[Any]] = start(seed)
            return point

    try:
        from nutpie import compile_pymc as ncp

        needed = (
            "_make_functions",
            "make_user_data",
            "_prepare_dims_and_coords",
            "CompiledPyMCModel",
            "address_as_void_pointer",
        )
        missing = [name for name in needed if not hasattr(ncp, name)]
        if not missing:
            return _compile_fast(model, var_names, initial_point_fn)
        reason = "no " + ", ".join(missing)
    except Exception as exc:  # noqa: BLE001 - changed internals; a bad model fails again in nutpie's own compile
        reason = f"{type(exc).__name__}: {str(exc)[:200]}"
    if not _FALLBACK_WARNED:
        warnings.warn(
            f"nutpie {nutpie.__version__}: fast compilation unavailable ({reason}); using "
            "nutpie.compile_pymc_model (slower compilation, same sampler)",
            RuntimeWarning,
            stacklevel=2,
        )
        _FALLBACK_WARNED = True
    return nutpie.compile_pymc_model(model, var_names=var_names)
