"""Validating reader of the fields of a dataset TOML and of the files it references.

:class:`TomlReader` holds the state of one load (the TOML file named in errors, its folder, the
bytes of every referenced file read so far) and checks keys, tables, strings, booleans and
numbers; each problem is an :class:`~bayes_xmass.errors.InputError` ``<file>: <field>: <message>``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from bayes_xmass.errors import InputError

__all__ = ["TomlReader", "join_field", "toml_type_name"]


def toml_type_name(value: Any) -> str:
    """TOML name of the type of a parsed value (``"table"``, ``"array"``, ``"integer"``, ...) for messages."""
    names = {bool: "boolean", int: "integer", float: "float", str: "string", dict: "table", list: "array"}
    return names.get(type(value), type(value).__name__)


def join_field(prefix: str, key: str) -> str:
    """Dotted field name ``prefix.key`` (just ``key`` at top level)."""
    return f"{prefix}.{key}" if prefix else key


class TomlReader:
    """State of one load: the TOML file (error source), folder, bytes of referenced files."""

    def __init__(self, toml_path: Path):
        self.toml = toml_path
        self.folder = toml_path.parent
        self.files: dict[str, bytes] = {}

    def error(self, field: str, message: str) -> InputError:
        """An InputError naming the TOML file and ``field``."""
        return InputError(self.toml, field, message)

    # -- structure ---------------------------------------------------------------------------
    def check_keys(
        self,
        table: Mapping[str, Any],
        prefix: str,
        required: Sequence[str],
        optional: Sequence[str] = (),
        what: str = "",
    ) -> None:
        allowed = list(required) + list(optional)
        for key in table:
            if key not in allowed:
                where = f" in {what}" if what else (f" in [{prefix}]" if prefix else " at top level")
                raise self.error(
                    join_field(prefix, key), f"unknown key '{key}'{where}; allowed keys: {', '.join(allowed)}"
                )
        for key in required:
            if key not in table:
                raise self.error(join_field(prefix, key), f"missing required key '{key}'")

    def table(self, parent: Mapping[str, Any], key: str, prefix: str) -> dict[str, Any]:
        value = parent[key]
        if not isinstance(value, dict):
            raise self.error(join_field(prefix, key), f"must be a table, got {toml_type_name(value)}")
        return value

    def string(self, table: Mapping[str, Any], key: str, prefix: str) -> str:
        value = table[key]
        if not isinstance(value, str):
            raise self.error(join_field(prefix, key), f"must be a string, got {toml_type_name(value)} {value!r}")
        return value

    def boolean(self, table: Mapping[str, Any], key: str, prefix: str) -> bool:
        value = table[key]
        if not isinstance(value, bool):
            raise self.error(
                join_field(prefix, key), f"must be a boolean (true or false), got {toml_type_name(value)} {value!r}"
            )
        return value

    def number(
        self,
        table: Mapping[str, Any],
        key: str,
        prefix: str,
        *,
        minimum: float | None = None,
        strict: bool = False,
        maximum: float | None = None,
    ) -> float:
        """Finite number, optionally >= minimum (> if strict) and <= maximum."""
        field = join_field(prefix, key)
        value = table[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.error(field, f"must be a number, got {toml_type_name(value)} {value!r}")
        try:
            value = float(value)
        except OverflowError:  # a TOML integer beyond the float range
            raise self.error(field, f"must be finite, got an integer of {len(str(abs(value)))} digits") from None
        if not math.isfinite(value):
            raise self.error(field, f"must be finite, got {value}")
        if minimum is not None and (value <= minimum if strict else value < minimum):
            raise self.error(field, f"must be {'>' if strict else '>='} {minimum:g}, got {value:g}")
        if maximum is not None and value > maximum:
            raise self.error(field, f"must be <= {maximum:g}, got {value:g}")
        return value

    # -- referenced files ----------------------------------------------------------------------
    def read_ref(self, table: Mapping[str, Any], key: str, prefix: str) -> tuple[Path, str]:
        """Read the file named by ``table[key]`` (relative to the folder); returns (path, text)."""
        field = join_field(prefix, key)
        ref = self.string(table, key, prefix)
        if not ref.strip():
            raise self.error(field, "file name is empty")
        path = self.folder / ref
        if not path.exists():
            raise self.error(field, f"referenced file '{ref}' not found (looked for {path})")
        if path.is_dir():
            raise self.error(field, f"referenced file '{ref}' is a directory, not a file")
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise self.error(field, f"cannot read referenced file '{ref}': {exc.strerror or exc}") from None
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise InputError(path, field, f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
        self.files[ref] = data
        return path, text
