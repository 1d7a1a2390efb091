"""Exceptions raised for bad user input.

Every error a user can cause (a malformed dataset, model file or CLI argument) is raised as
:class:`InputError` with a one-line message that names the file and the field; the CLI turns it
into that line on stderr and exit code 2.
"""

from __future__ import annotations

__all__ = ["InputError"]


class InputError(ValueError):
    """Bad user input. ``str(err)`` is a single line: ``<file>: <field>: <what is wrong>``."""

    def __init__(self, source: object, field: str, message: str):
        self.source = str(source)
        self.field = field
        self.message = message
        text = f"{self.source}: {field}: {message}" if field else f"{self.source}: {message}"
        super().__init__(" ".join(text.split()))

    def __reduce__(self) -> tuple[type[InputError], tuple[str, str, str]]:
        # rebuilt from its three parts, so it crosses process boundaries (worker processes) intact
        return (type(self), (self.source, self.field, self.message))
