"""What every command shares: progress messages on stderr."""

from __future__ import annotations

import sys

__all__ = ["log"]


def log(msg: str) -> None:
    """Print a progress line on stderr (stdout keeps the results)."""
    print(msg, file=sys.stderr, flush=True)


log.stream = "stderr"  # type: ignore[attr-defined]  # worker processes of `run` print their progress there too
