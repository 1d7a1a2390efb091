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


@pytest.fixture(scope="session", autouse=True)
def _template_cache_in_tmp(tmp_path_factory):
    """Keep the on-disk template (and rewritten-graph) cache of the test session out of the user's
    ~/.cache; the graph cache is on, as in the CLI."""
    from bayes_xmass.runtime import graph_cache

    saved = os.environ.get("BAYES_XMASS_CACHE")
    os.environ["BAYES_XMASS_CACHE"] = str(tmp_path_factory.mktemp("template_cache"))
    graph_cache.enable()
    yield
    if saved is None:
        os.environ.pop("BAYES_XMASS_CACHE", None)
    else:
        os.environ["BAYES_XMASS_CACHE"] = saved


@pytest.fixture(scope="session")
def xenon1t_release() -> Path:
    """The XENON1T SR1 release folder in ../shared; skip with a reason when it is absent."""
    path = shared_path() / "data" / "xenon1t_sr1_er"
    if not (path / "data_below_30kev.txt").is_file():
        pytest.skip(f"XENON1T SR1 release not found at {path} (needs ../shared beside the clone)")
    return path


def write_toy_dataset(
    folder: Path,
    edges,
    counts,
    backgrounds,
    *,
    exposure_kg_day=1000.0,
    energy_scale_sigma=0.0,
    sigma_a=0.05,
    efficiency=1.0,
) -> Path:
    """Write a small valid dataset folder for tests.

    ``backgrounds``: list of (name, energies_keV, rates_per_keV_kg_day, prior_toml, rate_err or None);
    all are folded (reconstructed-energy) curves.
    """
    folder.mkdir(parents=True, exist_ok=True)
    rows = "\n".join(f"{lo:g},{hi:g},{int(c)}" for lo, hi, c in zip(edges[:-1], edges[1:], counts))
    (folder / "observed.csv").write_text("e_low_keV,e_high_keV,counts\n" + rows + "\n")
    parts = [
        f"""[dataset]
name = "toy"
description = "test toy"
exposure_kg_day = {exposure_kg_day}
target = "Xe"

[observed]
file = "observed.csv"

[response]
resolution = {{ model = "a_sqrtE_plus_bE", a = {sigma_a}, b = 0.0 }}
efficiency = {{ constant = {efficiency} }}
energy_scale = {{ prior = {{ kind = "normal", mu = 1.0, sigma = {energy_scale_sigma} }} }}
"""
    ]
    for name, energies, rates, prior, err in backgrounds:
        if err is None:
            text = "energy_keV,rate\n" + "\n".join(f"{e:.10g},{r:.10g}" for e, r in zip(energies, rates))
        else:
            text = "energy_keV,rate,rate_err\n" + "\n".join(
                f"{e:.10g},{r:.10g},{d:.10g}" for e, r, d in zip(energies, rates, err)
            )
        (folder / f"{name}.csv").write_text(text + "\n")
        parts.append(f"""[[background]]
name = "{name}"
file = "{name}.csv"
folded = true
prior = {prior}
""")
    (folder / "dataset.toml").write_text("\n".join(parts))
    return folder
