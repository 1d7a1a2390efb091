"""On-disk cache of binned templates (``.npz``, no pickle), so a second run skips computing them.

An entry is keyed by a sha256 of everything the arrays depend on: the physics config, the
dataset's content (checksum, bins of the analysis view, exposure, resolution and efficiency
sampled on a fixed grid, background curves), the energy-scale grid, the interaction and its
options, the coupling unit, and the code version (source of the template-relevant modules and
tables, numpy/scipy versions). Change any of them and the key changes.

Location: ``$BAYES_XMASS_CACHE`` (a directory), else ``~/.cache/bayes_xmass``. Disabled by
``BAYES_XMASS_NO_CACHE=1`` (the CLI's ``--no-cache`` sets it). Entries are written atomically;
an unreadable or inconsistent entry is recomputed and overwritten, never an error. Counts are
expected counts per bin for the dataset's exposure (as in :mod:`bayes_xmass.response.templates`).
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from bayes_xmass.runtime.io import atomic_path

__all__ = [
    "ArrayCheck",
    "Arrays",
    "CACHE_ENV",
    "FORMAT_VERSION",
    "NO_CACHE_ENV",
    "TEMPLATE_MODULES",
    "cache_dir",
    "cache_key",
    "cached_arrays",
    "code_version",
    "dataset_fingerprint",
    "enabled",
    "entry_path",
    "load_entry",
    "stats",
    "store_entry",
]

CACHE_ENV = "BAYES_XMASS_CACHE"
NO_CACHE_ENV = "BAYES_XMASS_NO_CACHE"
FORMAT_VERSION = 1
# modules whose source determines template values (physics -> response -> templates)
TEMPLATE_MODULES = (
    "physics/constants",
    "physics/solar",
    "physics/xsec",
    "physics/atomic",
    "physics/spectra",
    "response/detector",
    "response/templates",
    "datasets/types",
    "datasets/loader",
    "datasets/csv_tables",
    "datasets/priors",
    "datasets/prior_kind_base",
    "datasets/prior_kinds",
    "model/targets",
    "physics/radioactivity",
    "runtime/cache",
)
_PROBE_KEV = np.geomspace(0.01, 5000.0, 400)  # where resolution/efficiency are sampled for the key

# A cache entry: named numpy arrays (what np.savez stores), and a validity check on one.
type Arrays = dict[str, NDArray[Any]]
type ArrayCheck = Callable[[Arrays], bool]

stats = {"hits": 0, "misses": 0, "recovered": 0}  # per process, for logs and tests


def enabled() -> bool:
    """False when ``$BAYES_XMASS_NO_CACHE`` is set to a true value."""
    return os.environ.get(NO_CACHE_ENV, "").strip().lower() not in ("1", "true", "yes", "on")


def cache_dir() -> Path:
    """``$BAYES_XMASS_CACHE``, else ``~/.cache/bayes_xmass`` (templates go in ``templates/``)."""
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "bayes_xmass"


@lru_cache(maxsize=1)
def code_version() -> str:
    """Hash of the template-relevant source files, bundled tables and numerical library versions."""
    import scipy

    pkg = Path(__file__).resolve().parent.parent  # the bayes_xmass package
    h = hashlib.sha256(f"{FORMAT_VERSION}|numpy {np.__version__}|scipy {scipy.__version__}".encode())
    files = [pkg / f"{m}.py" for m in TEMPLATE_MODULES] + sorted((pkg / "physics" / "tables").glob("*"))
    for f in files:
        if f.is_file():
            h.update(f.name.encode())
            h.update(f.read_bytes())
    return h.hexdigest()[:16]


def _digest(*arrays: ArrayLike | None) -> str:
    h = hashlib.sha256()
    for a in arrays:
        if a is None:
            h.update(b"none")
        else:
            a = np.ascontiguousarray(np.asarray(a, dtype=np.float64))
            h.update(str(a.shape).encode())
            h.update(a.tobytes())
    return h.hexdigest()[:16]


def dataset_fingerprint(dataset: Any) -> dict[str, Any]:
    """What of a dataset (view) the templates depend on, as a JSON-able dict of hashes."""
    return {
        "checksum": dataset.checksum,
        "bins": _digest(dataset.bin_edges_keV),
        "exposure_kg_day": float(dataset.exposure_kg_day),
        "threshold_keV": float(dataset.threshold_keV),
        "response": _digest(dataset.resolution.sigma(_PROBE_KEV), dataset.efficiency(_PROBE_KEV)),
        "backgrounds": [
            [b.name, b.source, b.builtin, _digest(b.energy_keV, b.rate, b.rate_err)] for b in dataset.backgrounds
        ],
    }


def cache_key(kind: str, parts: dict[str, Any]) -> str:
    """sha256 (hex, 32 chars) of ``kind``, ``parts`` and :func:`code_version`."""
    blob = json.dumps({"kind": kind, "parts": parts, "code": code_version()}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


def entry_path(key: str) -> Path:
    return cache_dir() / "templates" / f"{key}.npz"


def load_entry(key: str, check: ArrayCheck | None = None) -> Arrays | None:
    """Arrays stored under ``key``, or None if absent, unreadable or failing ``check``."""
    path = entry_path(key)
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        if str(arrays.pop("__key__")) != key or (check is not None and not check(arrays)):
            raise ValueError("inconsistent content")
        return arrays
    except Exception as exc:  # noqa: BLE001 - any damage means: recompute
        stats["recovered"] += 1
        warnings.warn(f"template cache entry {path.name} unreadable ({type(exc).__name__}); recomputing", stacklevel=2)
        return None


def store_entry(key: str, arrays: Arrays) -> Path | None:
    """Write ``arrays`` atomically under ``key`` (replacing a damaged entry); None if not writable."""
    path = entry_path(key)
    try:
        with atomic_path(path, overwrite=True) as tmp:
            with open(tmp, "wb") as fh:
                np.savez(fh, __key__=np.array(key), **arrays)  # type: ignore[arg-type]  # stubs: **kw could hit allow_pickle
        return path
    except OSError as exc:
        warnings.warn(f"template cache not writable ({exc}); continuing without it", stacklevel=2)
        return None


def cached_arrays(
    kind: str, parts: dict[str, Any], compute: Callable[[], Arrays], check: ArrayCheck | None = None
) -> Arrays:
    """``compute()`` (a dict of numpy arrays), through the cache when :func:`enabled`."""
    if not enabled():
        return compute()
    key = cache_key(kind, parts)
    arrays = load_entry(key, check)
    if arrays is not None:
        stats["hits"] += 1
        return arrays
    stats["misses"] += 1
    arrays = compute()
    store_entry(key, arrays)
    return arrays
