"""Per-step random seeds derived from one master seed with :class:`numpy.random.SeedSequence`.

A run, a scan or a validation study takes one master seed (recorded in every output). Each step
that draws random numbers -- a fit's NUTS chains, its toys, its Feldman-Cousins ensemble, one
Bayesian toy -- gets its own seed, the state of ``SeedSequence(master, spawn_key=path)`` for a
path naming the step (a fit's position, a purpose, a toy index). This is what
``SeedSequence.spawn`` does for the children of a sequence, with the child's key spelled out,
so a step's stream does not depend on how many steps came before it, streams of different
steps are independent in NumPy's sense (no overlapping offsets as with ``seed + 101``), and a
run with the same master seed repeats number for number.

>>> step_seed(2020, "fit", 3) == step_seed(2020, "fit", 3)
True
>>> step_seed(2020, "fit", 3) != step_seed(2020, "fit", 4) != step_seed(2021, "fit", 3)
True
>>> child = np.random.SeedSequence(7).spawn(3)[2]          # the same as spawning
>>> int(child.generate_state(1)[0]) == step_seed(7, 2)
True
"""

from __future__ import annotations

import zlib

import numpy as np

__all__ = ["SEED_MAX", "purpose_key", "step_seed"]

SEED_MAX = 2**32 - 1  # seeds handed to NumPy, PyMC and nutpie are 32-bit unsigned integers


def purpose_key(name: str) -> int:
    """A stable integer for a step's name (CRC-32 of its UTF-8 bytes; the same on every machine)."""
    return zlib.crc32(name.encode("utf-8"))


def step_seed(master: int, *path: int | str) -> int:
    """The 32-bit seed of the step at ``path`` (ints are indices, strings name a purpose).

    ``master`` is the user's seed (a non-negative integer).
    """
    if isinstance(master, bool) or not isinstance(master, (int, np.integer)) or master < 0:
        raise ValueError(f"master seed must be a non-negative integer, got {master!r}")
    key = tuple(purpose_key(p) if isinstance(p, str) else int(p) for p in path)
    if any(k < 0 for k in key):
        raise ValueError(f"seed path indices must be >= 0, got {path!r}")
    state = np.random.SeedSequence(int(master), spawn_key=key).generate_state(1, dtype=np.uint32)
    return int(state[0])
