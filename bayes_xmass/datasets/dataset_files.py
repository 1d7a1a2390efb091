"""A dataset's files on disk: locating and reading ``dataset.toml``, and the dataset checksum.

The checksum (sha256, hex) covers the TOML and every file it references, as (name, bytes), so
it identifies the data independently of where the folder lives.
"""

from __future__ import annotations

import hashlib
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bayes_xmass.datasets.toml_reader import TomlReader
from bayes_xmass.datasets.types import DATASET_TOML
from bayes_xmass.errors import InputError

__all__ = ["checksum_of_bytes", "dataset_checksum", "find_dataset_toml", "read_dataset_toml", "referenced_files"]


def find_dataset_toml(path: str | Path) -> Path:
    """Resolved path of the dataset TOML given a dataset folder or the TOML itself (InputError if absent)."""
    p = Path(path).expanduser()
    if p.is_dir():
        toml_path = p / DATASET_TOML
        if not toml_path.is_file():
            raise InputError(p, DATASET_TOML, f"dataset folder has no {DATASET_TOML}")
        return toml_path.resolve()
    if not p.exists():
        raise InputError(p, "", "dataset not found (give a dataset folder or its dataset.toml)")
    return p.resolve()


def read_dataset_toml(toml_path: Path) -> tuple[bytes, dict[str, Any]]:
    """Raw bytes and parsed content of a dataset TOML (UTF-8, optional BOM); InputError on any problem."""
    try:
        raw = toml_path.read_bytes()
    except OSError as exc:
        raise InputError(toml_path, "", f"cannot read: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8-sig")  # a leading BOM (Windows editors) is accepted, as in the CSVs
    except UnicodeDecodeError as exc:
        raise InputError(toml_path, "", f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(toml_path, "toml syntax", str(exc)) from None
    return raw, doc


def checksum_of_bytes(toml_name: str, toml_bytes: bytes, files: Mapping[str, bytes]) -> str:
    """sha256 over (name, length, bytes) of the TOML, then of each referenced file sorted by name."""
    h = hashlib.sha256()
    for name, data in [(toml_name, toml_bytes)] + sorted(files.items()):
        h.update(name.encode("utf-8") + b"\0")
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)
    return h.hexdigest()


def referenced_files(doc: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """(field, file reference) for every file a parsed dataset TOML names."""
    refs: list[tuple[str, Any]] = []
    obs = doc.get("observed")
    if isinstance(obs, dict) and "file" in obs:
        refs.append(("observed.file", obs["file"]))
    resp = doc.get("response")
    if isinstance(resp, dict):
        for key in ("resolution", "efficiency"):
            sub = resp.get(key)
            if isinstance(sub, dict) and "file" in sub:
                refs.append((f"response.{key}.file", sub["file"]))
    bkgs = doc.get("background")
    if isinstance(bkgs, list):
        for i, b in enumerate(bkgs):
            if isinstance(b, dict) and "file" in b:
                refs.append((f"background[{b.get('name', i)}].file", b["file"]))
    return refs


def dataset_checksum(folder: str | Path) -> str:
    """sha256 (hex) of a dataset: its TOML plus every referenced file, as (name, bytes).

    Files are taken in sorted order of their names as written in the TOML, so the checksum does
    not depend on where the folder lives. Equals ``load_dataset(folder).checksum``. Only the
    file references are checked here (use :func:`bayes_xmass.datasets.loader.load_dataset` to validate).
    """
    toml_path = find_dataset_toml(folder)
    raw, doc = read_dataset_toml(toml_path)
    ld = TomlReader(toml_path)
    for field, ref in referenced_files(doc):
        prefix, key = field.rsplit(".", 1)
        ld.read_ref({key: ref}, key, prefix)
    return checksum_of_bytes(toml_path.name, raw, ld.files)
