"""Sharing the millicharge fits between the run's two processes (pipeline._interaction_job and
pipeline._take_shared_fits over work_claims.WorkClaims): every fit is done exactly once, with the seed of
its position, whoever does it."""

from __future__ import annotations

import pytest

from bayes_xmass.model.targets import fit_targets
from bayes_xmass.runtime.seeds import step_seed
from bayes_xmass.runtime.work_claims import WorkClaims
from bayes_xmass.workflows import run as pipeline


@pytest.fixture
def fake_fits(monkeypatch):
    """run_fit / the sensitivity table replaced by recorders (the protocol, not the statistics)."""
    done = []

    def run_fit(spec, dataset, target, out, settings, *, seed, overwrite, log, cache):
        done.append((target.label, seed))
        return {"fit": target.label, "seed": seed}

    monkeypatch.setattr(pipeline, "run_fit", run_fit)
    monkeypatch.setattr(pipeline, "run_prior_sensitivity", lambda *a, **k: [])
    monkeypatch.setattr(pipeline, "run_atomic_systematic", lambda *a, **k: [])
    return done


def _args(tmp_path):
    return ("millicharge", None, tmp_path, pipeline.RunSettings(), 100, 1, False)


def _labels():
    return [t.label for t in fit_targets(pipeline._spec("millicharge", pipeline.RunSettings()))]


def test_background_takes_shareable_fits_from_the_back_and_stops_where_the_main_process_is(fake_fits, tmp_path):
    labels = _labels()
    claims = WorkClaims.create()
    try:
        for label in labels[:4]:  # the main process has reached the 4th fit (2 headline + 2 shareable)
            claims.take(label)
        taken = pipeline._take_shared_fits(*_args(tmp_path), claims=claims)
        assert [r["fit"] for r in taken["records"]] == labels[4:]  # in fit order
        main = pipeline._interaction_job(*_args(tmp_path), log=lambda m: None, claims=claims)
        # claimed fits are skipped (here the 3rd and 4th were claimed by the test itself, standing in
        # for the main process's own claims); the headline fits need no claim and are never shared
        assert [r["fit"] for r in main["records"]] == labels[:2]
    finally:
        claims.remove()
    seeds = {}
    for label, seed in fake_fits:
        assert label not in seeds, f"{label} fitted twice"
        seeds[label] = seed
    # the seed is that of the fit's position (first_index 1 -> fit k has seed step_seed(100, "fit", 1 + k))
    for k, label in enumerate(labels[4:], start=4):
        assert seeds[label] == step_seed(100, "fit", 1 + k)


def test_both_sides_together_do_every_fit_once(fake_fits, tmp_path):
    labels = _labels()
    claims = WorkClaims.create()
    try:
        main = pipeline._interaction_job(*_args(tmp_path), log=lambda m: None, claims=claims)
        late = pipeline._take_shared_fits(*_args(tmp_path), claims=claims)  # nothing left to take
    finally:
        claims.remove()
    assert [r["fit"] for r in main["records"]] == labels and late["records"] == []
    assert sorted(label for label, _ in fake_fits) == sorted(labels)


def test_background_does_not_start_for_fewer_than_the_minimum(fake_fits, tmp_path):
    labels = _labels()
    shareable = [
        t.label for t in fit_targets(pipeline._spec("millicharge", pipeline.RunSettings())) if pipeline._shareable(t)
    ]
    claims = WorkClaims.create()
    try:
        for label in labels[: len(labels) - (pipeline.MIN_SHARED_FITS - 1)]:
            claims.take(label)
        assert pipeline._take_shared_fits(*_args(tmp_path), claims=claims)["records"] == []
    finally:
        claims.remove()
    assert fake_fits == [] and len(shareable) >= pipeline.MIN_SHARED_FITS
