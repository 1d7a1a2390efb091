"""End to end: ``bayes-xmass run --quick`` on the bundled XMASS-I benchmark, run once per module.

The run takes a few minutes; every test below inspects its run directory (under pytest's tmp dir).
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

EXE = Path(sys.executable).with_name("bayes-xmass")
RUN_TIMEOUT_S = 900

EXPECTED_FITS = sorted(
    ["magnetic_moment", "b_minus_l_M0.001MeV", "b_minus_l_M10MeV"]
    + [f"millicharge_{fl}_{sign}" for fl in ("common", "e", "mu", "tau") for sign in ("pos", "neg")]
)
PLOT_KINDS = ("poi", "spectrum", "ppc", "trace", "rank")
SUMMARY_PLOTS = ("b_minus_l_exclusion.png", "millicharge_limits.png", "diagnostics.png")
TOP_LEVEL_FILES = (
    "limits.json",
    "summary.md",
    "report.html",
    "comparison.csv",
    "b_minus_l_scan.nc",
    "b_minus_l_scan.csv",
)
NC_GROUPS = (
    "posterior",
    "sample_stats",
    "prior",
    "posterior_predictive",
    "observed_data",
    "constant_data",
    "frequentist",
)
NC_ATTRS = (
    "dataset_checksum",
    "seed",
    "sampler",
    "package_versions",
    "charge_convention",
    "atomic_model",
    "model_config",
)


class QuickRun:
    def __init__(self, out: Path, proc: subprocess.CompletedProcess, seconds: float):
        self.out = out
        self.proc = proc
        self.seconds = seconds

    @property
    def limits(self) -> dict:
        return json.loads((self.out / "limits.json").read_text())


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory) -> QuickRun:
    base = tmp_path_factory.mktemp("e2e")
    out = base / "run"
    assert EXE.is_file(), f"console script not found beside the interpreter: {EXE}"
    started = time.perf_counter()
    proc = subprocess.run(
        [str(EXE), "run", "--quick", "--out", str(out)], capture_output=True, text=True, timeout=RUN_TIMEOUT_S, cwd=base
    )
    return QuickRun(out, proc, time.perf_counter() - started)


@pytest.fixture(scope="module")
def limits(quick_run) -> dict:
    assert quick_run.proc.returncode == 0, quick_run.proc.stderr[-3000:]
    return quick_run.limits


def _fit_names(limits: dict) -> list[str]:
    return [f["fit"] for f in limits["fits"]]


def _finite_positive(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0


def test_exit_code_zero(quick_run):
    assert quick_run.proc.returncode == 0, (
        f"exit {quick_run.proc.returncode}\nstdout:\n{quick_run.proc.stdout[-2000:]}\n"
        f"stderr:\n{quick_run.proc.stderr[-4000:]}"
    )
    assert "wrote" in quick_run.proc.stdout


def test_top_level_files_exist(quick_run, limits):
    for name in TOP_LEVEL_FILES:
        path = quick_run.out / name
        assert path.is_file(), f"missing {name}"
        assert path.stat().st_size > 0, f"empty {name}"


def test_fit_list(limits):
    assert sorted(_fit_names(limits)) == EXPECTED_FITS
    assert len(set(_fit_names(limits))) == len(limits["fits"])


def test_netcdf_per_fit(quick_run, limits):
    for fit in limits["fits"]:
        assert fit["netcdf"] == f"{fit['fit']}.nc"
        assert (quick_run.out / f"{fit['fit']}.nc").is_file(), f"missing {fit['fit']}.nc"


def test_plots_exist(quick_run, limits):
    plots = quick_run.out / "plots"
    expected = [f"{fit}_{kind}.png" for fit in _fit_names(limits) for kind in PLOT_KINDS] + list(SUMMARY_PLOTS)
    missing = [name for name in expected if not (plots / name).is_file()]
    assert missing == [], f"missing plots: {missing}"
    for name in expected:
        data = (plots / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{name} is not a PNG"
        assert len(data) > 5000, f"{name} suspiciously small ({len(data)} bytes)"
    # the plot paths recorded in limits.json point at existing files
    for fit in limits["fits"]:
        for kind in PLOT_KINDS:
            assert (quick_run.out / fit["plots"][kind]).is_file()
    for rel in limits["plots"].values():
        assert (quick_run.out / rel).is_file()


def test_no_temporary_files_left(quick_run, limits):
    leftovers = [
        p.relative_to(quick_run.out).as_posix()
        for p in quick_run.out.rglob("*")
        if p.name.endswith(".part") or p.name.startswith(".")
    ]
    assert leftovers == []


def test_limits_finite_and_positive(limits):
    bad = []
    for fit in limits["fits"]:
        bayes = fit["bayes"]["limit"]
        freq = fit["frequentist"]["limit_xmass_scaled"] * fit["coupling_scale"]
        if not _finite_positive(bayes):
            bad.append((fit["fit"], "bayes", bayes))
        if not _finite_positive(freq):
            bad.append((fit["fit"], "freq_xmass", freq))
    scan = limits["b_minus_l_scan"]
    assert len(scan["mass_MeV"]) >= 2
    for key in ("bayes", "freq_xmass"):
        assert len(scan[key]) == len(scan["mass_MeV"])
        bad += [("b_minus_l_scan", key, m, v) for m, v in zip(scan["mass_MeV"], scan[key]) if not _finite_positive(v)]
    assert bad == []


def test_limits_in_a_sensible_range(limits):
    """Same order of magnitude as the XMASS-I published limits (the benchmark mimics XMASS-I)."""
    published = {
        "magnetic_moment": 1.8e-10,
        "millicharge_common_neg": 5.4e-12,
        "millicharge_common_pos": 5.4e-12,
        "b_minus_l_M0.001MeV": 1.3e-6,
        "b_minus_l_M10MeV": 8.8e-5,
    }
    by_name = {f["fit"]: f for f in limits["fits"]}
    for name, pub in published.items():
        fit = by_name[name]
        for value in (fit["bayes"]["limit"], fit["frequentist"]["limit_xmass_scaled"] * fit["coupling_scale"]):
            assert pub / 30 < value < pub * 30, f"{name}: limit {value:g} far from XMASS-I {pub:g}"


def test_netcdf_groups_and_attrs(quick_run, limits):
    import xarray as xr

    checksum = limits["provenance"]["dataset"]["checksum"]
    assert len(checksum) == 64
    for name in _fit_names(limits):
        dt = xr.open_datatree(quick_run.out / f"{name}.nc", engine="netcdf4")
        try:
            missing = [g for g in NC_GROUPS if g not in dt.children]
            assert missing == [], f"{name}.nc lacks groups {missing}"
            missing = [a for a in NC_ATTRS if a not in dt.attrs]
            assert missing == [], f"{name}.nc lacks attrs {missing}"
            assert dt.attrs["dataset_checksum"] == checksum, name
            assert "x" in dt.posterior.data_vars
            assert dt.posterior["x"].sizes["chain"] >= 2
            assert "counts" in dt.observed_data
            json.loads(dt.attrs["package_versions"])
        finally:
            dt.close()


def test_arviz_summary(quick_run, limits):
    import arviz as az
    import xarray as xr

    for name in _fit_names(limits):
        dt = xr.open_datatree(quick_run.out / f"{name}.nc", engine="netcdf4")
        try:
            summary = az.summary(dt, var_names=["x"])
            assert "r_hat" in summary.columns, f"{name}: no r_hat column in {list(summary.columns)}"
            assert len(summary) == 1
            rhat = float(summary["r_hat"].iloc[0])
            assert math.isfinite(rhat) and 0.9 < rhat < 1.5, f"{name}: R-hat {rhat}"
        finally:
            dt.close()


def test_scan_files_consistent(quick_run, limits):
    import xarray as xr

    scan = limits["b_minus_l_scan"]
    with xr.open_dataset(quick_run.out / "b_minus_l_scan.nc") as ds:
        assert "bayes" in ds and "freq_xmass" in ds
        assert ds["bayes"].size == len(scan["mass_MeV"])
    lines = (quick_run.out / "b_minus_l_scan.csv").read_text().strip().splitlines()
    assert len(lines) == len(scan["mass_MeV"]) + 1
    assert "bayes [dimensionless]" in lines[0] and "freq_xmass [dimensionless]" in lines[0]
    assert lines[0].startswith("mass [MeV],")  # every column names its unit


def test_limits_json_follows_the_results_schema(limits):
    from bayes_xmass.outputs.results import schema_errors

    assert schema_errors(limits) == []
    assert limits["command"] == "run" and {c["statistic"] for c in limits["exclusion_curves"]} >= {
        "bayes",
        "delta_chi2",
    }
    for fit in limits["fits"]:  # the schema's limits are the details' limits in physical units
        scale = fit["coupling_scale"]
        assert fit["limits"]["delta_chi2"] == pytest.approx(fit["frequentist"]["limit_xmass_scaled"] * scale, rel=1e-12)
        assert fit["limits"]["bayes"] == fit["bayes"]["limit"]


def test_the_run_exports_to_valid_hepdata(quick_run, tmp_path):
    """The full run (limits, millicharge per flavour and sign, the B-L curves) as a HEPData submission,
    checked by hepdata-validator."""
    pytest.importorskip("hepdata_lib")
    import yaml
    from hepdata_validator.full_submission_validator import FullSubmissionValidator

    from bayes_xmass.workflows.export_hepdata import ARCHIVE, FOLDER, export_hepdata

    out = export_hepdata(quick_run.out, out=tmp_path / "hepdata", log=lambda msg: None)
    validator = FullSubmissionValidator()
    assert validator.validate(archive=str(out / ARCHIVE)), validator.get_messages()
    names = [d["name"] for d in yaml.safe_load_all((out / FOLDER / "submission.yaml").read_text()) if d and "name" in d]
    assert any(n.startswith("Millicharge") for n in names) and any(n.startswith("B-L exclusion") for n in names)


def test_scan_takes_the_fits_at_their_masses(quick_run, limits):
    """The exclusion curve passes through the B-L fits at XMASS's masses (the grid's ends): the scan
    takes those fits' results instead of re-running shorter chains there."""
    import xarray as xr

    scan = limits["b_minus_l_scan"]
    fits = {r["mass_MeV"]: r for r in limits["fits"] if r["interaction"] == "b_minus_l"}
    assert sorted(fits) == [scan["mass_MeV"][0], scan["mass_MeV"][-1]]
    for i in (0, -1):
        fit = fits[scan["mass_MeV"][i]]
        assert scan["bayes"][i] == fit["bayes"]["limit"]
        assert scan["freq_xmass"][i] == fit["frequentist"]["limit_xmass_scaled"] * fit["coupling_scale"]
    with xr.open_dataset(quick_run.out / "b_minus_l_scan.nc") as ds:
        assert list(ds.attrs["masses_taken_from_fits_MeV"]) == sorted(fits)
        assert np.isnan(ds["seconds"].values[[0, -1]]).all() and np.isfinite(ds["seconds"].values[1:-1]).all()


def test_comparison_csv_has_every_fit(quick_run, limits):
    text = (quick_run.out / "comparison.csv").read_text()
    for name in _fit_names(limits):
        assert name in text


def test_report_html_self_contained(quick_run, limits):
    html = (quick_run.out / "report.html").read_text()
    assert html.count("data:image/png;base64,") >= 5
    assert 'src="plots/' not in html and "src='plots/" not in html
    assert "</html>" in html
    for name in _fit_names(limits):
        assert name in html


def test_summary_md_quotes_xmass(quick_run, limits):
    text = (quick_run.out / "summary.md").read_text()
    assert "1.8e-10" in text
    assert "5.4e-12" in text
    for name in _fit_names(limits):
        assert f"### {name}" in text


def test_rerun_without_overwrite_refused(quick_run, limits):
    limits_path = quick_run.out / "limits.json"
    before = limits_path.read_bytes()
    listing = sorted(p.relative_to(quick_run.out).as_posix() for p in quick_run.out.rglob("*"))
    proc = subprocess.run(
        [str(EXE), "run", "--quick", "--out", str(quick_run.out)],
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        cwd=quick_run.out.parent,
    )
    assert proc.returncode == 2, proc.stderr[-2000:]
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert lines[0].startswith("bayes-xmass: error:")
    assert str(quick_run.out) in lines[0]
    assert limits_path.read_bytes() == before
    assert sorted(p.relative_to(quick_run.out).as_posix() for p in quick_run.out.rglob("*")) == listing


TIMING_KEYS = {
    "seconds",
    "step_seconds",
    "stage_seconds",
    "interaction_seconds",
    "background_interaction",
    "settings",
    "sampling_seconds",
    "seconds_per_limit",
    "fits_taken_by_background",
    "background_shared_fit_seconds",
}  # and which process did what


def _numbers_differ(a, b, path="") -> list[str]:
    """Paths where two limits.json trees differ (timings excluded; floats to 1e-9 relative)."""
    if isinstance(a, dict):
        return [
            d
            for k in a
            if k not in TIMING_KEYS
            for d in (_numbers_differ(a[k], b[k], f"{path}/{k}") if k in b else [f"{path}/{k} missing"])
        ]
    if isinstance(a, list):
        return (
            [f"{path} length"]
            if len(a) != len(b)
            else [d for i, (u, v) in enumerate(zip(a, b)) for d in _numbers_differ(u, v, f"{path}[{i}]")]
        )
    if isinstance(a, float) and isinstance(b, float):
        same = a == b or (math.isnan(a) and math.isnan(b)) or abs(a - b) <= 1e-9 * max(abs(a), abs(b))
        return [] if same else [f"{path}: {a} vs {b}"]
    return [] if a == b else [f"{path}: {a!r} vs {b!r}"]


@pytest.mark.slow  # a second quick run (~1.5 min)
def test_serial_run_equals_the_two_process_run(quick_run, limits, tmp_path):
    """`run --serial` (everything in one process) gives the same numbers as the default run, whose
    B-L part, and the millicharge fits it takes when it is done first (on this machine usually
    some; recorded in the provenance), run in a second process: seeds follow the fit order, not
    the process."""
    assert limits["provenance"]["background_interaction"] == "dark-photon"
    out = tmp_path / "serial"
    proc = subprocess.run(
        [str(EXE), "run", "--quick", "--serial", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    serial = json.loads((out / "limits.json").read_text())
    assert serial["provenance"]["background_interaction"] is None
    assert _numbers_differ(limits, serial) == []


def test_atomic_model_systematic_table(quick_run, limits):
    """Issue 25: every run reports the magnetic-moment and millicharge limits under each atomic model."""
    tables = {t["interaction"]: t for t in limits["atomic_model_systematic"]}
    assert set(tables) == {"magnetic_moment", "millicharge"}
    mm, mc = tables["magnetic_moment"], tables["millicharge"]
    assert [r["variant"] for r in mm["rows"]] == ["free electrons", "stepping", "stepping+EPA"]
    assert [r["variant"] for r in mc["rows"]] == [
        "free electrons",
        "stepping",
        "stepping+EPA (m_nu = 0.05 eV)",
        "stepping+EPA (m_nu = 0.1 eV)",
        "stepping+EPA (m_nu = 0.45 eV)",
    ]
    fits = {f["fit"]: f for f in limits["fits"]}
    for table, baseline in ((mm, "stepping"), (mc, "stepping+EPA (m_nu = 0.1 eV)")):
        (base,) = [r for r in table["rows"] if r.get("baseline")]
        assert base["variant"] == baseline
        assert base["bayes"] == fits[table["fit"]]["limits"]["bayes"]
    rows = {r["variant"]: r for r in mc["rows"]}
    assert rows["stepping+EPA (m_nu = 0.1 eV)"]["delta_chi2"] < rows["stepping"]["delta_chi2"]
    text = (quick_run.out / "summary.md").read_text()
    assert "## Atomic-model systematic" in text and "stepping+EPA (m_nu = 0.45 eV)" in text
    assert "Atomic-model systematic" in (quick_run.out / "report.html").read_text()
