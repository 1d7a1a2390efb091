"""Per-step seeds: derived with SeedSequence from one master seed, and a run repeats with it."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bayes_xmass.cli.main import main
from bayes_xmass.outputs.report import open_datatree
from bayes_xmass.runtime.seeds import SEED_MAX, step_seed


def test_step_seed_is_spawning_spelled_out():
    children = np.random.SeedSequence(2020).spawn(4)
    assert [int(c.generate_state(1)[0]) for c in children] == [step_seed(2020, i) for i in range(4)]


def test_step_seeds_are_distinct_and_in_range():
    seeds = {
        step_seed(m, purpose, i) for m in (0, 1, 20201) for purpose in ("fit", "toy_limits", "x") for i in range(50)
    }
    assert len(seeds) == 3 * 3 * 50
    assert all(0 <= s <= SEED_MAX for s in seeds)
    # neighbouring master seeds do not share streams (unlike offsets: seed + 1 of one is seed of the next)
    assert step_seed(5, "fit", 1) != step_seed(6, "fit", 0)


@pytest.mark.parametrize("bad", [-1, 1.5, True, "3"])
def test_step_seed_refuses_non_seeds(bad):
    with pytest.raises(ValueError):
        step_seed(bad, "fit")


def test_same_seed_same_numbers(tmp_path):
    """Two `sample` + `limit` runs with the same seed agree number for number; another seed differs."""
    results, post = {}, {}
    for name, seed in (("a", 7), ("b", 7), ("c", 8)):
        out = tmp_path / name
        assert (
            main(
                ["compare", "magnetic-moment", "--out", str(out), "--seed", str(seed), "--toys", "50", "--fc-toys", "0"]
            )
            == 0
        )
        (fit,) = json.loads((out / "limits.json").read_text())["fits"]
        results[name] = (fit["bayes"]["limit"], fit["toys"]["freq_bands"]["median"])
        post[name] = open_datatree(out / "magnetic_moment.nc").posterior["x"].values
    assert results["a"] == results["b"]
    assert results["a"][0] != results["c"][0] and results["a"][1] != results["c"][1]
    np.testing.assert_array_equal(post["a"], post["b"])
