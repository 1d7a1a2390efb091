"""Small B-L scan set-up for tests: a 9-bin toy dataset (2-20 keV) and a model TOML."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from conftest import REPO_ROOT, write_toy_dataset

MODEL_TOML = """[model]
interaction = "b_minus_l"
description = "test: small B-L scan"

[analysis]
window_keV = [2.0, 20.0]
bin_width_keV = 0.0
likelihood = "poisson"
cl = 0.9
masses_MeV = [1e-3, 10.0]

[physics]
atomic_model = "stepping"
flux_set = "B16-GS98"

[poi]
scale = "auto"
prior = { kind = "flat_power", power = 4.0, upper = 3.0 }

[sampler]
name = "nutpie"
chains = 2
draws = 150
tune = 150
target_accept = 0.9
"""


def small_bl_setup(folder: Path) -> tuple[Path, Path]:
    """(dataset folder, model TOML) for a fast B-L scan."""
    edges = np.arange(2.0, 20.01, 2.0)
    counts = np.random.default_rng(3).poisson(100.0, edges.size - 1)
    e = np.linspace(0.0, 30.0, 7)
    ds = write_toy_dataset(
        folder / "data",
        edges,
        counts,
        [("flat", e, np.full(e.size, 0.025), '{ kind = "normal", mu = 1.0, sigma = 0.1 }', None)],
        exposure_kg_day=2000.0,
    )
    model = folder / "bl.toml"
    model.write_text(MODEL_TOML)
    return ds, model


__all__ = ["REPO_ROOT", "small_bl_setup"]
