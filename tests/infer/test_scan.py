"""The ``scan`` command: mass grids, argument errors, and resuming a killed scan exactly."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import xarray as xr
from scan_fixtures import REPO_ROOT, small_bl_setup

from bayes_xmass.cli.main import main
from bayes_xmass.errors import InputError
from bayes_xmass.infer.scan import parse_masses
from bayes_xmass.runtime.seeds import step_seed


@pytest.fixture()
def env(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BAYES_XMASS_CACHE", str(tmp_path / "cache"))
    ds, model = small_bl_setup(tmp_path)
    return tmp_path, ["--dataset", str(ds), "--model", str(model)]


def test_parse_masses():
    np.testing.assert_allclose(parse_masses("1e-3:10:5"), [1e-3, 1e-2, 1e-1, 1.0, 10.0])
    np.testing.assert_allclose(parse_masses("0:10:3", log=False), [0.0, 5.0, 10.0])
    np.testing.assert_allclose(parse_masses("10, 0.001,1"), [1e-3, 1.0, 10.0])
    for bad in ("1:2", "a,b", "0:10:3", "2:1:4", "1:10:0", "1,1", "-1,2", "nan", "1:10:2.5", ""):
        with pytest.raises(InputError, match="--masses"):
            parse_masses(bad)


@pytest.mark.parametrize(
    "argv",
    [
        ["magnetic-moment", "--masses", "1,2"],
        ["dark-photon", "--masses", "1:2"],
        ["dark-photon", "--masses", "1,2", "--toys", "-1"],
        ["dark-photon", "--masses", "1,2", "--draws", "0"],
        ["dark-photon", "--masses", "1,2", "--model", "nope.toml"],
        ["dark-photon", "--masses", "1,2", "--scheduler", " "],
    ],
)
def test_bad_arguments_exit_2_and_write_nothing(argv, tmp_path, capsys):
    out = tmp_path / "scan_out"
    assert main(["scan", *argv, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("bayes-xmass: error:")
    assert not out.exists()


def _read(path):
    with xr.open_dataset(path) as ds:
        return ds.load()


def test_killed_scan_resumes_to_the_uninterrupted_result(env, capsys):
    tmp, data_args = env
    args = [
        "scan",
        "dark-photon",
        "--masses",
        "1e-3:10:6",
        "--frequentist-only",
        "--toys",
        "3",
        "--processes",
        "1",
        "--seed",
        "7",
        *data_args,
    ]
    out = tmp / "killed"
    proc = subprocess.Popen(
        [sys.executable, "-m", "bayes_xmass.cli.main", *args, "--out", str(out)],
        cwd=tmp,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )
    deadline = time.monotonic() + 240
    while len(list((out / "points").glob("m*.json"))) < 2 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the scan finished before it could be killed"
    assert not (out / "scan.nc").exists() and not (out / "scan.csv").exists()
    points = sorted((out / "points").glob("m*.json"))
    assert 2 <= len(points) < 6
    stamps = {p.name: p.stat().st_mtime_ns for p in points}
    for p in points:  # every file that looks like a point is a complete point
        assert json.loads(p.read_text())["row"]["freq_xmass"] > 0

    assert main([*args, "--out", str(out)]) == 0
    assert f"resuming: {len(points)} of 6 points already done" in capsys.readouterr().err
    assert {p.name: p.stat().st_mtime_ns for p in points} == stamps  # finished points not recomputed
    assert len(list((out / "points").glob("m*.json"))) == 6 and not list((out / "points").glob(".*"))

    assert main([*args, "--out", str(tmp / "whole")]) == 0
    resumed, whole = _read(out / "scan.nc"), _read(tmp / "whole" / "scan.nc")
    xr.testing.assert_identical(resumed.drop_vars("seconds").drop_attrs(), whole.drop_vars("seconds").drop_attrs())
    assert resumed.attrs["config_hash"] == whole.attrs["config_hash"] and resumed.attrs["points_resumed"] == len(points)
    assert (out / "plots" / "exclusion.png").is_file() and (out / "scan.csv").is_file()

    capsys.readouterr()
    assert main([*args, "--out", str(out)]) == 0  # complete: nothing recomputed or rewritten
    assert "already holds this complete scan" in capsys.readouterr().out
    changed = [a if a != "7" else "8" for a in args]
    assert main([*changed, "--out", str(out)]) == 2  # another configuration in the same directory
    assert "different configuration" in capsys.readouterr().err


@pytest.mark.slow  # nutpie compile ~10-25 s
def test_bayesian_scan_point(env):
    tmp, data_args = env
    code = main(
        [
            "scan",
            "dark-photon",
            "--masses",
            "1e-3,10",
            "--toys",
            "0",
            "--draws",
            "100",
            "--tune",
            "100",
            "--chains",
            "2",
            "--allow-bad-diagnostics",
            "--out",
            str(tmp / "bayes"),
            *data_args,
        ]
    )
    assert code == 0
    ds = _read(tmp / "bayes" / "scan.nc")
    assert ds.sizes["mass"] == 2 and np.all(ds["bayes"].values > 0) and "diagnostics_ok" in ds
    assert np.all(ds["freq_xmass"].values > 0)


def test_failed_diagnostics_trigger_seeded_reruns(env, monkeypatch):
    """A mass whose diagnostics fail is sampled again with a new seed and twice the draws; the
    tuning doubles too unless only effective draws were short; at most ``max_resample`` times."""
    import dataclasses
    import types

    from bayes_xmass.datasets.loader import load_dataset
    from bayes_xmass.infer import scan
    from bayes_xmass.infer.posterior_summary import Diagnostics
    from bayes_xmass.model.spec import load_model_spec

    tmp, data_args = env
    spec, dataset = load_model_spec(data_args[3]), load_dataset(data_args[1])
    tpl = scan.mass_templates(spec, dataset, np.array([1e-3]))[1][0]
    good = dict(
        rhat_max=1.001,
        ess_bulk_min=2000.0,
        ess_tail_min=2000.0,
        poi_ess_bulk=2000.0,
        poi_ess_tail=2000.0,
        divergences=0,
        bfmi_min=0.9,
        worst_rhat_var="x",
        worst_ess_var="x",
    )
    verdicts = [dict(good, poi_ess_bulk=500.0), dict(good, divergences=3), dict(good)]
    calls = []

    class FakeSampler:
        def draw_posterior(self, data, settings, seed):
            calls.append((settings.draws, settings.tune, seed))
            return types.SimpleNamespace(attrs={})

    monkeypatch.setattr(scan, "_posterior_sampler", lambda *a: FakeSampler())
    monkeypatch.setattr(scan, "credible_limit", lambda trace, cl: {"limit": 1.0, "mcse": 0.01})
    monkeypatch.setattr(scan, "diagnostics", lambda trace, **kw: Diagnostics(**verdicts[len(calls) - 1]))
    sampler = dataclasses.replace(spec.sampler, draws=200, tune=100, chains=2)
    settings = scan.PointSettings(spec.cl, spec.likelihood, spec.poi_prior, sampler, 0, 5)
    row = scan._scan_point(0, 1e-3, tpl, settings)
    seed = settings.seeds(0)[0]
    assert calls == [
        (200, 100, seed),
        (400, 100, step_seed(seed, "resample", 1)),
        (800, 200, step_seed(seed, "resample", 2)),
    ]
    assert row["diagnostics_ok"] and row["nuts_draws"] == 2 * (200 + 400 + 800)
    calls.clear()
    verdicts[:] = [dict(good, divergences=1)] * 3
    row = scan._scan_point(0, 1e-3, tpl, dataclasses.replace(settings, max_resample=0))
    assert len(calls) == 1 and not row["diagnostics_ok"]
    # a limit set by the prior's upper bound fails, but more draws would not cure it: no rerun
    calls.clear()
    verdicts[:] = [dict(good, prior_bound_fraction=0.95)] * 3
    row = scan._scan_point(0, 1e-3, tpl, settings)
    assert len(calls) == 1 and not row["diagnostics_ok"]
