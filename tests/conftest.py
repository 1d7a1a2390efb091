"""Shared fixtures: location of the ../shared reference data (skips when absent)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def shared_path() -> Path:
    """The project's shared reference folder: $BAYES_XMASS_SHARED or ../shared beside the clone."""
    env = os.environ.get("BAYES_XMASS_SHARED")
    return Path(env) if env else REPO_ROOT.parent / "shared"


@pytest.fixture(scope="session")
def xenon1t_release() -> Path:
    """The XENON1T SR1 release folder in ../shared; skip with a reason when it is absent."""
    path = shared_path() / "data" / "xenon1t_sr1_er"
    if not (path / "data_below_30kev.txt").is_file():
        pytest.skip(f"XENON1T SR1 release not found at {path} (needs ../shared beside the clone)")
    return path
