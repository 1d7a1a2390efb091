"""Fast tests of the ``bayes-xmass`` command line: help, spectra, make-benchmark and user errors.

User errors must exit with code 2 and print exactly one line ``bayes-xmass: error: ...`` on stderr,
without writing anything. Everything is written under ``tmp_path``.
"""

from __future__ import annotations

import csv
import io
import math
import subprocess
import sys
from pathlib import Path

import pytest

from bayes_xmass.cli.main import main
from bayes_xmass.datasets.dataset_files import dataset_checksum

REPO_ROOT = Path(__file__).resolve().parents[2]
BUNDLED = REPO_ROOT / "data" / "xmass_i"
EXE = Path(sys.executable).with_name("bayes-xmass")
SUBCOMMANDS = ["spectra", "sample", "limit", "compare", "run", "make-benchmark", "convert-xenon1t"]


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    """Run every test from tmp_path so that a default output path can never land in the repo."""
    monkeypatch.chdir(tmp_path)


def _run(argv, capsys):
    """Call the CLI in-process; return (exit code, stdout, stderr)."""
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exc:  # argparse: --help, bad choices
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def _stderr_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.strip()]


def _assert_user_error(code, out, err, *needles):
    assert code == 2, f"expected exit 2, got {code}; stderr: {err!r}"
    lines = _stderr_lines(err)
    assert len(lines) == 1, f"expected exactly one stderr line, got {lines!r}"
    assert lines[0].startswith("bayes-xmass: error:"), lines[0]
    for needle in needles:
        assert needle in lines[0], f"{needle!r} not in {lines[0]!r}"
    return lines[0]


def _snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {
        p.relative_to(folder).as_posix(): (p.read_bytes(), p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


# --- help ------------------------------------------------------------------------------------------


def test_top_level_help(capsys):
    code, out, _ = _run(["--help"], capsys)
    assert code == 0
    assert "usage: bayes-xmass" in out
    for command in SUBCOMMANDS:
        assert command in out


@pytest.mark.parametrize("command", SUBCOMMANDS)
def test_subcommand_help(command, capsys):
    code, out, _ = _run([command, "--help"], capsys)
    assert code == 0
    assert f"usage: bayes-xmass {command}" in out


def test_help_via_installed_entry_point(tmp_path):
    assert EXE.is_file(), f"console script not found beside the interpreter: {EXE}"
    proc = subprocess.run([str(EXE), "--help"], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "usage: bayes-xmass" in proc.stdout


def test_version(capsys):
    code, out, _ = _run(["--version"], capsys)
    assert code == 0
    assert out.startswith("bayes_xmass ")


def test_no_command_prints_help_and_exits_2(capsys):
    code, out, _ = _run([], capsys)
    assert code == 2
    assert "usage: bayes-xmass" in out


# --- spectra ---------------------------------------------------------------------------------------


def _read_spectra_csv(path: Path):
    lines = path.read_text().splitlines()
    comments = [line for line in lines if line.startswith("#")]
    body = [line for line in lines if not line.startswith("#")]
    rows = list(csv.reader(io.StringIO("\n".join(body))))
    return comments, rows[0], [[float(v) for v in row] for row in rows[1:]]


@pytest.mark.parametrize(
    "argv, basis",
    [
        (["magnetic-moment"], ["basis_mupow2 [1/(keV t yr)]"]),
        (["millicharge", "--flavours", "e"], None),
        (["dark-photon", "--mass", "10"], None),
    ],
)
def test_spectra_writes_png_and_csv(tmp_path, capsys, argv, basis):
    png = tmp_path / "out" / "spec.png"
    code, out, err = _run(["spectra", *argv, "--emin", "1", "--emax", "50", "--step", "0.5", "--out", png], capsys)
    assert code == 0, err
    csv_path = png.with_suffix(".csv")
    assert png.is_file() and csv_path.is_file()
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert png.stat().st_size > 5000
    assert str(png) in out and str(csv_path) in out
    comments, header, rows = _read_spectra_csv(csv_path)
    assert any("events/(keV t yr)" in c for c in comments)
    assert header[:3] == ["energy [keV]", "sm_rate [1/(keV t yr)]", "signal_rate [1/(keV t yr)]"]
    assert all(h.endswith(" [1/(keV t yr)]") for h in header[1:])  # every column names its unit
    assert len(header) > 3 and all(h.startswith("basis_") for h in header[3:])
    if basis is not None:
        assert header[3:] == basis
    assert len(rows) == 99  # 1 .. 50 keV in 0.5 keV steps
    assert all(len(r) == len(header) for r in rows)
    energies = [r[0] for r in rows]
    assert energies[0] == pytest.approx(1.0) and energies[-1] == pytest.approx(50.0)
    assert all(b > a for a, b in zip(energies, energies[1:]))
    for r in rows:
        assert math.isfinite(r[1]) and r[1] > 0, f"SM rate not positive/finite at {r[0]} keV: {r[1]}"
        # the default coupling is the XMASS limit: the total signal rate must be positive
        assert math.isfinite(r[2]) and r[2] > 0, f"signal rate not positive/finite at {r[0]} keV: {r[2]}"
        assert all(math.isfinite(v) for v in r[3:])
    no_temp = [p.name for p in png.parent.iterdir() if p.name.startswith(".") or p.name.endswith(".part")]
    assert no_temp == []


def test_spectra_magnetic_moment_rate_scales_with_coupling(tmp_path, capsys):
    results = {}
    for mu in (1e-10, 2e-10):
        png = tmp_path / f"mm_{mu:g}.png"
        code, _, err = _run(
            [
                "spectra",
                "magnetic-moment",
                "--coupling",
                mu,
                "--emin",
                "1",
                "--emax",
                "20",
                "--step",
                "1",
                "--out",
                png,
            ],
            capsys,
        )
        assert code == 0, err
        results[mu] = _read_spectra_csv(png.with_suffix(".csv"))[2]
    for a, b in zip(results[1e-10], results[2e-10]):
        assert b[1] == pytest.approx(a[1], rel=1e-6)  # SM unchanged
        assert b[2] == pytest.approx(4 * a[2], rel=1e-5)  # rate ~ mu^2


def test_spectra_refuses_to_overwrite(tmp_path, capsys):
    png = tmp_path / "spec.png"
    args = ["spectra", "magnetic-moment", "--emin", "1", "--emax", "20", "--step", "1", "--out", png]
    code, _, err = _run(args, capsys)
    assert code == 0, err
    before = _snapshot(tmp_path)
    code, out, err = _run(args, capsys)
    _assert_user_error(code, out, err, "spec.png", "overwrite")
    assert _snapshot(tmp_path) == before
    # only the CSV left over: still refused, naming the CSV
    png.unlink()
    before = _snapshot(tmp_path)
    code, out, err = _run(args, capsys)
    _assert_user_error(code, out, err, "spec.csv")
    assert _snapshot(tmp_path) == before
    # --overwrite replaces both
    code, _, err = _run(args + ["--overwrite"], capsys)
    assert code == 0, err
    assert png.is_file() and png.with_suffix(".csv").is_file()


def test_spectra_out_with_csv_suffix(tmp_path, capsys):
    """``--out spec.csv``: either refused up front (nothing written) or a real PNG and a real CSV."""
    code, out, err = _run(
        ["spectra", "magnetic-moment", "--emin", "1", "--emax", "20", "--step", "1", "--out", tmp_path / "spec.csv"],
        capsys,
    )
    files = sorted(tmp_path.iterdir())
    if code == 2:
        _assert_user_error(code, out, err)
        assert files == [], f"refused, yet wrote {[p.name for p in files]}"
    else:
        assert code == 0, err
        pngs = [p for p in files if p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"]
        csvs = [p for p in files if p.read_bytes()[:1] == b"#"]
        assert len(pngs) == 1 and len(csvs) == 1 and pngs[0] != csvs[0]


def test_spectra_unknown_interaction(tmp_path, capsys):
    code, out, err = _run(["spectra", "axion", "--out", tmp_path / "x.png"], capsys)
    _assert_user_error(code, out, err, "axion")
    assert list(tmp_path.iterdir()) == []


def test_spectra_dark_photon_needs_mass(tmp_path, capsys):
    code, out, err = _run(["spectra", "dark-photon", "--out", tmp_path / "x.png"], capsys)
    _assert_user_error(code, out, err, "--mass")
    assert list(tmp_path.iterdir()) == []


def test_spectra_bad_energy_grid(tmp_path, capsys):
    code, out, err = _run(
        ["spectra", "magnetic-moment", "--emin", "10", "--emax", "5", "--out", tmp_path / "x.png"], capsys
    )
    _assert_user_error(code, out, err, "--emin")
    assert list(tmp_path.iterdir()) == []


def test_spectra_error_via_entry_point_is_one_line(tmp_path):
    proc = subprocess.run(
        [str(EXE), "spectra", "dark-photon", "--out", str(tmp_path / "x.png")],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    _assert_user_error(proc.returncode, proc.stdout, proc.stderr, "--mass")
    assert list(tmp_path.iterdir()) == []


# --- make-benchmark --------------------------------------------------------------------------------


def test_make_benchmark_reproduces_bundled_dataset(tmp_path, capsys):
    out_dir = tmp_path / "bench"
    code, out, err = _run(["make-benchmark", "--out", out_dir], capsys)
    assert code == 0, err
    assert (out_dir / "dataset.toml").is_file()
    assert dataset_checksum(out_dir) == dataset_checksum(BUNDLED)
    assert dataset_checksum(out_dir)[:16] in out
    assert sorted(p.name for p in out_dir.iterdir()) == sorted(p.name for p in BUNDLED.iterdir())
    leftovers = [p.name for p in tmp_path.iterdir() if p.name != "bench"]
    assert leftovers == [], f"temporary folders left behind: {leftovers}"
    # a second run into the same folder is refused and changes nothing
    before = _snapshot(out_dir)
    code, out, err = _run(["make-benchmark", "--out", out_dir], capsys)
    _assert_user_error(code, out, err, "bench")
    assert _snapshot(out_dir) == before


# --- sample / compare errors -----------------------------------------------------------------------


def test_sample_missing_dataset(tmp_path, capsys):
    run_dir = tmp_path / "run"
    missing = tmp_path / "no_such_dataset"
    code, out, err = _run(["sample", "magnetic-moment", "--dataset", missing, "--out", run_dir], capsys)
    _assert_user_error(code, out, err, "no_such_dataset")
    assert not run_dir.exists()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("option", ["--draws", "--chains"])
def test_sample_zero_draws_or_chains(tmp_path, capsys, option):
    run_dir = tmp_path / "run"
    code, out, err = _run(["sample", "magnetic-moment", option, "0", "--out", run_dir], capsys)
    _assert_user_error(code, out, err, option)
    assert not run_dir.exists()


def test_sample_refuses_non_empty_run_dir(tmp_path, capsys):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "keep.txt").write_text("precious\n")
    code, out, err = _run(["sample", "magnetic-moment", "--out", run_dir], capsys)
    _assert_user_error(code, out, err, "run")
    assert sorted(p.name for p in run_dir.iterdir()) == ["keep.txt"]
    assert (run_dir / "keep.txt").read_text() == "precious\n"


def test_compare_directory_without_limits(tmp_path, capsys):
    run_dir = tmp_path / "not_a_run"
    run_dir.mkdir()
    (run_dir / "other.txt").write_text("x")
    code, out, err = _run(["compare", run_dir], capsys)
    _assert_user_error(code, out, err, "limits.json")
    assert sorted(p.name for p in run_dir.iterdir()) == ["other.txt"]


def test_compare_unreadable_limits(tmp_path, capsys):
    run_dir = tmp_path / "broken_run"
    run_dir.mkdir()
    (run_dir / "limits.json").write_text("{not json")
    code, out, err = _run(["compare", run_dir], capsys)
    _assert_user_error(code, out, err, "limits.json")


def test_run_refuses_non_empty_out(tmp_path, capsys):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "limits.json").write_text("{}\n")
    code, out, err = _run(["run", "--quick", "--out", run_dir], capsys)
    _assert_user_error(code, out, err, "run")
    assert (run_dir / "limits.json").read_text() == "{}\n"
    assert sorted(p.name for p in run_dir.iterdir()) == ["limits.json"]


def test_limit_shows_toy_band_and_fc_interval_without_out(capsys):
    code = main(["limit", "millicharge", "--flavours", "common", "--sign", "-1", "--toys", "30", "--fc-toys", "10"])
    err = capsys.readouterr().err
    assert code == 0
    assert "expected Delta chi2 = 2.71 limit (30 background-only toys): median" in err and "PCL" in err
    assert "Feldman-Cousins 90% interval [" in err
