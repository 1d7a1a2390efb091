"""On-disk cache of PyTensor's rewritten graphs: a second run links a stored graph instead of rewriting.

Compiling a PyTensor function is (1) rewriting the graph (canonicalisation, stabilisation, fusion,
inplace: pure Python, 1-3 s per function of the models here) and (2) linking it with numba (whose
code PyTensor already caches on disk). This module caches (1): while :func:`enable` is in effect,
PyTensor's ``FunctionMaker.prepare_fgraph`` first looks for the rewritten graph of the same
function, keyed by a sha256 of the graph before rewriting -- every node's Op (its class and
``__props__``, recursively), every constant's dtype, shape and bytes, the input and output types,
the inputs' mutable/borrow flags -- the compile mode's linker and rewrite query, PyTensor's
rewrite-related options (:data:`REWRITE_CONFIG`) and the versions of pytensor, pymc, numba and numpy. On a hit the stored graph replaces the
function's graph (its inputs mapped one to one) and is validated as PyTensor validates its own
rewrites; anything unusual -- an Op without ``__props__``, an unreadable entry, a validation
failure, updates, profiling -- falls back to PyTensor's own rewriting, so a miss is only slower.

Measured (magnetic-moment model, 2 cores, warm): the nutpie model compiles in 2.4 s instead of
5.0 s, the profile likelihood in 0.7 s instead of 2.3 s; a full ``run`` gives the same numbers, bit
for bit, with and without the cache (and ``tests/test_graph_cache.py`` checks functions).

Entries live in ``<cache dir>/graphs/`` (:func:`bayes_xmass.runtime.cache.cache_dir`), written atomically
(mode 0600), as pickles of PyTensor graphs without data (shared variables become placeholders).
Only this user's entries that nobody else can write are read (:func:`_trusted`): the same trust as
PyTensor's own compile and numba caches in the user's home, which also unpickle and run native
code. Nothing the user passes (datasets, TOML, NetCDF) is ever unpickled. Disabled with the
template cache (``BAYES_XMASS_NO_CACHE=1``, ``--no-cache``).
"""

from __future__ import annotations

import hashlib
import os
import pickle
import tempfile
import threading
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from bayes_xmass.runtime.cache import cache_dir, enabled

if TYPE_CHECKING:
    from pytensor.graph.basic import Variable
    from pytensor.graph.fg import FunctionGraph

__all__ = [
    "FORMAT_VERSION",
    "REWRITE_CONFIG",
    "Uncachable",
    "disable",
    "enable",
    "graph_dir",
    "graph_key",
    "reasons",
    "stats",
]

FORMAT_VERSION = 1
stats = {"hits": 0, "misses": 0, "uncachable": 0, "rejected": 0}  # per process, for tests and benchmarks
reasons: dict[str, int] = {}  # why graphs were uncachable / rejected (per process)
_LOCK = threading.Lock()
# PyTensor config options that change what the rewrites do (the rest is about linking and running)
REWRITE_CONFIG = (
    "floatX",
    "cast_policy",
    "optimizer",
    "optimizer_excluding",
    "optimizer_including",
    "optimizer_requiring",
    "optdb__position_cutoff",
    "optdb__max_use_ratio",
    "check_stack_trace",
    "on_opt_error",
    "tensor__insert_inplace_optimizer_validate_nb",
    "numba__fastmath",
)
_STATE: dict[str, Any] = {"original": None}  # PyTensor's own prepare_fgraph while enabled


class Uncachable(Exception):
    """The graph has something the key cannot describe exactly (then PyTensor rewrites as usual)."""


def graph_dir() -> Path:
    return cache_dir() / "graphs"


@lru_cache(maxsize=1)
def _environment_key() -> bytes:
    import numba
    import pymc
    import pytensor

    versions = (
        f"{FORMAT_VERSION}|pytensor {pytensor.__version__}|pymc {pymc.__version__}|numba "
        f"{numba.__version__}|numpy {np.__version__}"
    )
    return hashlib.sha256(versions.encode()).digest()


def _value_sig(value: object, depth: int = 0) -> str:
    """Exact text of an Op property / constant payload, or Uncachable."""
    from pytensor.graph.basic import Variable
    from pytensor.graph.op import Op
    from pytensor.graph.type import Type

    if depth > 20:
        raise Uncachable("nesting")
    if value is None or isinstance(value, (bool, int, float, complex, str, bytes, np.dtype)):
        return f"{type(value).__name__}:{value!r}"
    if isinstance(value, np.generic):
        return f"{value.dtype}:{value!r}"
    if isinstance(value, np.ndarray):
        return (
            f"array:{value.dtype.str}:{value.shape}:{hashlib.sha256(np.ascontiguousarray(value).tobytes()).hexdigest()}"
        )
    if isinstance(value, (tuple, list, frozenset, set)):
        items = [_value_sig(v, depth + 1) for v in value]
        if isinstance(value, (set, frozenset)):
            items.sort()
        return f"{type(value).__name__}({','.join(items)})"
    if isinstance(value, dict):
        return (
            "dict("
            + ",".join(sorted(f"{_value_sig(k, depth + 1)}={_value_sig(v, depth + 1)}" for k, v in value.items()))
            + ")"
        )
    if isinstance(value, slice):
        return f"slice({_value_sig((value.start, value.stop, value.step), depth + 1)})"
    if isinstance(value, Type):
        return f"type:{_type_sig(value, depth + 1)}"
    if isinstance(value, Op):
        return _op_sig(value, depth + 1)
    if isinstance(value, Variable):
        raise Uncachable("a Variable inside an Op")
    if isinstance(value, type) or (
        callable(value)
        and hasattr(value, "__qualname__")
        and type(value).__name__ in ("function", "builtin_function_or_method")
    ):
        if "<" in value.__qualname__:  # a lambda or a local function: no stable name
            raise Uncachable(f"local function {value.__qualname__}")
        return f"named:{value.__module__}.{value.__qualname__}"
    state = getattr(value, "__dict__", None)
    if state is not None and type(value).__module__.startswith(("pytensor.", "pymc.")):
        # small helper objects of PyTensor's scalar ops (output type rules): class + state
        cls = type(value)
        return f"obj:{cls.__module__}.{cls.__qualname__}({_value_sig(state, depth + 1)})"
    raise Uncachable(f"property of type {type(value).__name__}")


def _type_sig(t: object, depth: int = 0) -> str:
    """A Type's exact text: its repr, or (a repr with an object address) its class and state."""
    text = repr(t)
    if " at 0x" not in text:
        return text
    cls = type(t)
    return f"{cls.__module__}.{cls.__qualname__}({_value_sig(vars(t), depth + 1)})"


def _op_sig(op: object, depth: int = 0) -> str:
    from pytensor.scalar.basic import ScalarOp

    props = getattr(op, "__props__", None)
    if props is None and isinstance(op, ScalarOp):
        # scalar ops compare by class and state (output-type rule, name, flags): all of it, exactly
        cls: type = type(op)
        return f"scalar({cls.__module__}.{cls.__qualname__};{_value_sig(vars(op), depth + 1)})"
    if props is None:
        raise Uncachable(f"Op {type(op).__name__} without __props__")
    cls = type(op)
    parts = [f"{cls.__module__}.{cls.__qualname__}"]
    parts += [f"{name}={_value_sig(getattr(op, name), depth + 1)}" for name in props]
    return "op(" + ";".join(parts) + ")"


class _Hasher:
    """sha256, and with ``$BAYES_XMASS_GRAPH_KEY_DEBUG`` (a directory) the hashed text of each key
    written there as ``<key>.txt`` (to see why two runs' keys differ)."""

    def __init__(self, data: bytes) -> None:
        self.h = hashlib.sha256(data)
        self.log: list[bytes] | None = [] if os.environ.get("BAYES_XMASS_GRAPH_KEY_DEBUG") else None

    def update(self, data: bytes) -> None:
        self.h.update(data)
        if self.log is not None:
            self.log.append(data)

    def hexdigest(self) -> str:
        d = self.h.hexdigest()
        if self.log is not None:
            Path(os.environ["BAYES_XMASS_GRAPH_KEY_DEBUG"]).mkdir(exist_ok=True)
            (Path(os.environ["BAYES_XMASS_GRAPH_KEY_DEBUG"]) / f"{d}.txt").write_bytes(b"\n".join(self.log))
        return d


def graph_key(fgraph: FunctionGraph, inputs: Sequence[Any], outputs: Sequence[Any], mode: object) -> str:
    """sha256 of everything the rewritten graph depends on (see the module docstring), or Uncachable."""
    import pytensor
    from pytensor.compile.mode import Mode
    from pytensor.graph.basic import Constant
    from pytensor.graph.rewriting.db import RewriteDatabaseQuery

    if not isinstance(mode, Mode) or not isinstance(getattr(mode, "_optimizer", None), RewriteDatabaseQuery):
        raise Uncachable("mode")
    query = mode._optimizer
    if query.extra_rewrites or query.subquery:
        raise Uncachable("rewrite query with extra rewrites")
    h = _Hasher(_environment_key())
    h.update(
        f"linker={type(mode.linker).__module__}.{type(mode.linker).__qualname__}|inc={sorted(query.include)}"
        f"|ex={sorted(query.exclude)}|req={sorted(query.require)}|cut={query.position_cutoff}".encode()
    )
    h.update(repr([(name, getattr(pytensor.config, name, None)) for name in REWRITE_CONFIG]).encode())
    names: dict[Variable[Any, Any], str] = {}
    for i, (wrapped, var) in enumerate(zip(inputs, fgraph.inputs, strict=True)):
        if getattr(wrapped, "update", None) is not None:
            raise Uncachable("updates")
        names[var] = f"i{i}"
        h.update(f"in{i}:{_type_sig(var.type)}:{type(var).__name__}:{wrapped.mutable}:{wrapped.borrow}\n".encode())

    def ref(v: Variable[Any, Any]) -> str:  # an input, an earlier node's output, or a constant (by value)
        if v in names:
            return names[v]
        if isinstance(v, Constant):
            return f"const:{_type_sig(v.type)}:{_value_sig(v.data)}"
        raise Uncachable("an orphan variable")

    for k, node in enumerate(fgraph.toposort()):
        args = ",".join(ref(v) for v in node.inputs)
        h.update(f"n{k}:{_op_sig(node.op)}({args})->{[_type_sig(o.type) for o in node.outputs]}\n".encode())
        for j, out in enumerate(node.outputs):
            names[out] = f"n{k}.{j}"
    outs = [ref(o) for o in fgraph.outputs]
    h.update(f"out:{outs}:{[getattr(w, 'borrow', None) for w in outputs]}".encode())
    return h.hexdigest()


def _entry(key: str) -> Path:
    return graph_dir() / f"{key}.pkl"


def _store(key: str, fgraph: FunctionGraph) -> None:
    """The rewritten graph, inputs replaced by fresh placeholders (no data), written atomically."""
    from pytensor.graph.basic import clone_get_equiv

    placeholders = [v.type() for v in fgraph.inputs]
    equiv = clone_get_equiv(
        fgraph.inputs,
        fgraph.outputs,
        copy_inputs=False,
        copy_orphans=False,
        memo=dict(zip(fgraph.inputs, placeholders)),
    )
    outs = [equiv[o] for o in fgraph.outputs]
    for var in equiv.values():  # stack traces: large and not needed to link
        tag = getattr(var, "tag", None)
        if tag is not None and hasattr(tag, "trace"):
            try:
                del tag.trace
            except AttributeError:
                pass
    try:
        blob = pickle.dumps((placeholders, outs), protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:  # noqa: BLE001 - an Op that does not pickle: nothing stored
        return
    path = _entry(key)
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".pkl")
        with os.fdopen(fd, "wb") as f:
            f.write(blob)
        os.replace(tmp, path)
    except OSError:
        pass


def _trusted(path: Path) -> bool:
    """Only a regular file of this user's, not writable by others, in a directory that is neither
    (an entry is unpickled: nobody else may have written it)."""
    try:
        uid = os.getuid()
        for item in (path.parent, path):
            st = item.lstat()
            if st.st_uid != uid or st.st_mode & 0o022:
                return False
        return path.is_file() and not path.is_symlink()
    except (OSError, AttributeError):  # missing, or no POSIX ownership (then: not trusted)
        return False


def _load_into(key: str, fgraph: FunctionGraph, rewriter: Any) -> bool:
    """Replace ``fgraph``'s outputs by the stored rewritten graph; False (graph untouched) if unusable."""
    from pytensor.graph.basic import clone_get_equiv

    path = _entry(key)
    if not _trusted(path):
        return False
    try:
        placeholders, outs = pickle.loads(path.read_bytes())
        if (
            len(placeholders) != len(fgraph.inputs)
            or len(outs) != len(fgraph.outputs)
            or any(p.type != v.type for p, v in zip(placeholders, fgraph.inputs))
            or any(o.type != v.type for o, v in zip(outs, fgraph.outputs))
        ):
            raise ValueError("entry does not match the graph")
        equiv = clone_get_equiv(
            placeholders, outs, copy_inputs=False, copy_orphans=False, memo=dict(zip(placeholders, fgraph.inputs))
        )
        new_outs = [equiv[o] for o in outs]
    except Exception:  # noqa: BLE001 - unreadable or stale entry: rewrite as usual (and overwrite it)
        stats["rejected"] += 1
        return False
    if any(o in fgraph.inputs for o in fgraph.outputs):
        return False
    rewriter.add_requirements(fgraph)  # the features a rewrite would have attached (destroy handler, ...)
    pairs = [(old, new) for old, new in zip(list(fgraph.outputs), new_outs) if old is not new]
    try:
        fgraph.replace_all_validate(pairs, reason="bayes_xmass graph cache")
    except Exception:  # noqa: BLE001 - validation failed (reverted): rewrite as usual
        stats["rejected"] += 1
        return False
    return True


def _prepare_fgraph(
    inputs: Sequence[Any],
    outputs: Sequence[Any],
    additional_outputs: Any,
    fgraph: FunctionGraph,
    mode: Any,
    profile: Any,
) -> None:
    """``FunctionMaker.prepare_fgraph`` with the rewritten graph taken from / put in the cache."""
    from pytensor.compile.aliasing import insert_deepcopy
    from pytensor.configdefaults import config

    original = _STATE["original"]
    if profile or additional_outputs or not enabled():
        original(inputs, outputs, additional_outputs, fgraph, mode, profile)
        return
    try:
        key = graph_key(fgraph, inputs, outputs, mode)
    except Uncachable as exc:
        stats["uncachable"] += 1
        reasons[str(exc)] = reasons.get(str(exc), 0) + 1
        original(inputs, outputs, additional_outputs, fgraph, mode, profile)
        return
    rewriter = mode.optimizer
    with config.change_flags(mode=mode, traceback__limit=config.traceback__compile_limit):
        if _load_into(key, fgraph, rewriter):
            stats["hits"] += 1
        else:
            stats["misses"] += 1
            rewriter(fgraph)
            _store(key, fgraph)
        insert_deepcopy(fgraph, inputs, outputs)  # type: ignore[no-untyped-call]


def enable() -> None:
    """Use the cache in this process from now on (idempotent; each compilation still checks
    ``BAYES_XMASS_NO_CACHE``). The CLI and the worker processes call this; library users may."""
    from pytensor.compile.maker import FunctionMaker

    with _LOCK:
        if _STATE["original"] is None:
            _STATE["original"] = FunctionMaker.prepare_fgraph
            FunctionMaker.prepare_fgraph = staticmethod(_prepare_fgraph)  # type: ignore[method-assign]


def disable() -> None:
    """Back to PyTensor's own ``prepare_fgraph``."""
    from pytensor.compile.maker import FunctionMaker

    with _LOCK:
        if _STATE["original"] is not None:
            FunctionMaker.prepare_fgraph = staticmethod(_STATE["original"])  # type: ignore[method-assign]
            _STATE["original"] = None
