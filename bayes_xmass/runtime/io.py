"""Output files: atomic writes, no silent overwrites, JSON provenance.

Every file is written to a temporary name in the destination folder and renamed into place, so
an interrupted run never leaves a half-written file under its final name.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from bayes_xmass.errors import InputError

__all__ = [
    "atomic_path",
    "check_out_dir",
    "file_entry",
    "finite_for_json",
    "package_versions",
    "prepare_run_dir",
    "write_error",
    "write_json",
    "write_text",
    "write_with",
]


@contextmanager
def atomic_path(final: Path | str, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``final``; rename it to ``final`` only if the block succeeds.

    Refuses (InputError) when ``final`` exists and ``overwrite`` is False. An OS error while writing
    (disk full, permission denied) removes the temporary file and is re-raised naming ``final``.
    """
    final = Path(final)
    if final.exists() and not overwrite:
        raise InputError(final, "", "exists; refusing to overwrite (pass --overwrite)")
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".part", dir=final.parent)
        os.close(fd)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the file the usual permissions
    except OSError as exc:
        raise write_error(final, exc) from None
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, final)
    except OSError as exc:  # disk full, permission denied, ... while writing: nothing under the final name
        raise write_error(final, exc) from None
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_error(final: Path | str, exc: OSError) -> OSError:
    """The same OS error (same errno, so the same subclass) naming the output rather than its
    temporary file; the CLI prints it as one line ``<file>: cannot write: <reason>`` (exit 2)."""
    return OSError(exc.errno, f"cannot write: {exc.strerror or exc}", str(final))


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text(final: Path | str, text: str, overwrite: bool = False) -> Path:
    """Write text atomically."""
    with atomic_path(final, overwrite) as tmp:
        tmp.write_text(text)
    return Path(final)


def write_json(final: Path | str, obj: object, overwrite: bool = False) -> Path:
    """Write strict JSON atomically (sorted keys, 2-space indent; inf/nan written as strings)."""
    text = json.dumps(finite_for_json(obj), indent=2, sort_keys=True, default=_json_default, allow_nan=False)
    return write_text(final, text + "\n", overwrite)


def finite_for_json(obj: object) -> object:
    """Replace non-finite floats by the strings 'inf', '-inf', 'nan' (JSON has no such numbers)."""
    import math

    import numpy as np

    if isinstance(obj, (float, np.floating)):
        v = float(obj)
        return v if math.isfinite(v) else ("nan" if v != v else ("inf" if v > 0 else "-inf"))
    if isinstance(obj, dict):
        return {k: finite_for_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite_for_json(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return finite_for_json(obj.tolist())
    return obj


def write_with(final: Path | str, writer: Callable[[Path], None], overwrite: bool = False) -> Path:
    """Call ``writer(tmp_path)`` and move the result into place atomically."""
    with atomic_path(final, overwrite) as tmp:
        writer(tmp)
    return Path(final)


def _json_default(obj: object) -> object:
    import numpy as np

    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def file_entry(path: Path) -> dict[str, str]:
    """A user input file for provenance: its name and SHA-256."""
    return {"file": path.name, "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}


def package_versions() -> dict[str, str]:
    """Versions of the packages that determine the numbers (for provenance)."""
    import platform
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for name in (
        "bayes_xmass",
        "numpy",
        "scipy",
        "pymc",
        "pytensor",
        "arviz",
        "arviz-stats",
        "arviz-base",
        "nutpie",
        "xarray",
        "netCDF4",
        "h5netcdf",
        "matplotlib",
    ):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            pass
    return out


def check_out_dir(out: Path, overwrite: bool) -> Path:
    """``out`` as a Path; InputError (field ``--out``) if it is a file, or a non-empty folder and
    not ``overwrite`` (no silent overwrite)."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError(out, "--out", "exists and is not a directory")
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise InputError(out, "--out", "exists and is not empty; refusing to overwrite (pass --overwrite)")
    return out


def prepare_run_dir(out: Path, overwrite: bool) -> Path:
    """Create the run directory; refuse a non-empty one unless ``overwrite``."""
    out = check_out_dir(out, overwrite)
    try:
        (out / "plots").mkdir(parents=True, exist_ok=True)
        (out / "limits.json").unlink(missing_ok=True)  # the completion marker goes first, is written last
    except OSError as exc:  # a parent is a file, read-only file system, permission denied
        raise InputError(out, "--out", f"cannot create run directory: {exc.strerror or exc}") from None
    return out
