"""Files shipped with the package: the model TOMLs and the dataset folders.

In the source tree ``bundled/models`` and ``bundled/data`` are links to the repository's top-level
``models/`` and ``data/``; a wheel carries copies. Both are found through :mod:`importlib.resources`,
so editable and normal installs behave alike.

>>> (models_dir() / "magnetic_moment.toml").is_file()
True
>>> (default_dataset() / "dataset.toml").is_file()
True
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

__all__ = ["DEFAULT_DATASET_NAME", "data_dir", "default_dataset", "models_dir"]

DEFAULT_DATASET_NAME = "xmass_i"  # the simulated XMASS-I benchmark (data/xmass_i/dataset.toml)


def _bundled(name: str) -> Path:
    # files() of a package installed on a file system is a pathlib.Path; dataset and model loaders
    # read folders, so a zip-imported package (not supported) would fail loudly here.
    root = resources.files(__name__) / name
    if not isinstance(root, Path):
        raise RuntimeError(f"bayes_xmass: bundled {name!r} is not on a file system ({root!r})")
    return root


def models_dir() -> Path:
    """Folder of the bundled model files (``<interaction>.toml``)."""
    return _bundled("models")


def data_dir() -> Path:
    """Folder of the bundled dataset folders."""
    return _bundled("data")


def default_dataset() -> Path:
    """The bundled XMASS-I benchmark dataset folder."""
    return data_dir() / DEFAULT_DATASET_NAME
