"""Hardening (issue 8, section 3): malformed inputs, faults while writing, no pickle/eval.

1. A catalogue of malformed inputs -- dataset files, model TOMLs, command-line arguments and run
   directories -- beyond the loader cases of ``test_datasets.py``. Each must give exactly one line
   ``bayes-xmass: error: <file>: <field>: <message>`` on stderr, exit code 2, no traceback, and
   write nothing (the folder the test works in is byte-for-byte unchanged; no run directory).
2. Fault tests: a run killed mid-way (SIGKILL) keeps its finished files intact and loadable, leaves
   no partial file under an output name and no completion marker; a re-run refuses to overwrite.
   Disk-full and permission errors are one clear line (exit 2) and leave no partial file.
3. No pickle/eval/exec of inputs anywhere in the package; NetCDF is read with the netCDF4 engine.
"""

from __future__ import annotations

import ast
import errno
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO_ROOT, write_toy_dataset

from bayes_xmass.cli import main as cli
from bayes_xmass.errors import InputError

PACKAGE = REPO_ROOT / "bayes_xmass"
EXE = Path(sys.executable).with_name("bayes-xmass")
MODEL_MM = (REPO_ROOT / "models" / "magnetic_moment.toml").read_text()
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    """Work in tmp_path; no template cache writes outside it."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BAYES_XMASS_NO_CACHE", "1")


def toy(folder: Path) -> Path:
    """Smallest useful dataset: 20 half-keV bins 2-12 keV, one flat folded background."""
    edges = np.arange(2.0, 12.25, 0.5)
    return write_toy_dataset(
        folder,
        edges,
        [5] * 20,
        [("flat", [0.0, 20.0], [1e-2, 1e-2], '{ kind = "normal", mu = 1.0, sigma = 0.1 }', None)],
    )


def run_cli(argv, capsys) -> tuple[int, str, str]:
    try:
        code = cli.main([str(a) for a in argv])
    except SystemExit as exc:  # argparse
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def snapshot(folder: Path) -> dict[str, bytes | None]:
    """Every file (bytes) and folder (None) below ``folder``, symlinks not followed."""
    out = {}
    for root, dirs, files in os.walk(folder):
        for d in dirs:
            out[os.path.relpath(os.path.join(root, d), folder)] = None
        for f in files:
            p = Path(root, f)
            try:
                out[os.path.relpath(p, folder)] = p.read_bytes() if not p.is_symlink() else os.readlink(p).encode()
            except OSError:  # symlink loops, chmod 000 as non-root
                out[os.path.relpath(p, folder)] = b"<unreadable>"
    return out


def assert_one_line_error(code, err, *needles) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, f"expected exit 2, got {code}; stderr: {err!r}"
    assert len(lines) == 1, f"expected one stderr line, got {lines!r}"
    assert lines[0].startswith("bayes-xmass: error: "), lines[0]
    assert "Traceback" not in err
    for needle in needles:
        assert needle in lines[0], f"{needle!r} not in {lines[0]!r}"
    return lines[0]


# ------------------------------------------------------------------------------------------------
# 1. Catalogue. A case: (id, setup(tmp) -> argv, needles in the error line). setup writes the
#    inputs below tmp; the test snapshots tmp after setup and requires it unchanged afterwards.
# ------------------------------------------------------------------------------------------------
def _ds_file(name: str, content: bytes | str):
    """Dataset case: replace one file of the toy dataset; run ``sample`` into tmp/run."""

    def setup(tmp):
        ds = toy(tmp / "ds")
        (ds / name).write_bytes(content.encode() if isinstance(content, str) else content)
        return ["sample", "magnetic-moment", "--dataset", ds, "--out", tmp / "run"]

    return setup


def _ds_toml(old: str, new: str):
    def setup(tmp):
        ds = toy(tmp / "ds")
        text = (ds / "dataset.toml").read_text()
        assert old in text
        (ds / "dataset.toml").write_text(text.replace(old, new, 1))
        return ["sample", "magnetic-moment", "--dataset", ds, "--out", tmp / "run"]

    return setup


def _model(text: str | bytes, command: str = "sample"):
    """Model-TOML case: a model file beside the toy dataset."""

    def setup(tmp):
        ds = toy(tmp / "ds")
        model = tmp / "model.toml"
        model.write_bytes(text if isinstance(text, bytes) else text.encode())
        argv = [command, model, "--dataset", ds]
        return argv + (["--out", tmp / "run"] if command == "sample" else [])

    return setup


def _mm(old: str, new: str, command: str = "sample"):
    assert old in MODEL_MM, old
    return _model(MODEL_MM.replace(old, new, 1), command)


def _args(*extra, command=("sample", "magnetic-moment")):
    """CLI-argument case on the toy dataset."""

    def setup(tmp):
        ds = toy(tmp / "ds")
        argv = [*command, "--dataset", ds, *[a(tmp) if callable(a) else a for a in extra]]
        if command[0] == "sample" and "--out" not in argv:
            argv += ["--out", tmp / "run"]
        return argv

    return setup


def _symlink_loop_dataset(tmp):
    toy(tmp / "ds")
    os.symlink(tmp / "loop", tmp / "loop")
    return ["sample", "magnetic-moment", "--dataset", tmp / "loop", "--out", tmp / "run"]


def _symlink_loop_csv(tmp):
    ds = toy(tmp / "ds")
    (ds / "observed.csv").unlink()
    os.symlink(ds / "observed.csv", ds / "observed.csv")
    return ["sample", "magnetic-moment", "--dataset", ds, "--out", tmp / "run"]


def _toml_is_directory(tmp):
    ds = toy(tmp / "ds")
    (ds / "dataset.toml").unlink()
    (ds / "dataset.toml").mkdir()
    return ["sample", "magnetic-moment", "--dataset", ds, "--out", tmp / "run"]


def _csv_as_dataset(tmp):
    ds = toy(tmp / "ds")
    return ["sample", "magnetic-moment", "--dataset", ds / "observed.csv", "--out", tmp / "run"]


def _out_is_file(tmp):
    ds = toy(tmp / "ds")
    (tmp / "results").write_text("not a directory\n")
    return ["sample", "magnetic-moment", "--dataset", ds, "--out", tmp / "results"]


def _out_under_file(tmp):
    ds = toy(tmp / "ds")
    (tmp / "results").write_text("not a directory\n")
    return ["limit", "magnetic-moment", "--dataset", ds, "--out", tmp / "results" / "run"]


def _run_dir(limits: str | bytes | None, extra: dict | None = None):
    """``compare RUN_DIR`` on a run directory whose limits.json is ``limits``."""

    def setup(tmp):
        run = tmp / "run_dir"
        run.mkdir()
        if limits is not None:
            (run / "limits.json").write_bytes(limits if isinstance(limits, bytes) else limits.encode())
        else:
            (run / "limits.json").mkdir()
        for name, data in (extra or {}).items():
            (run / name).write_bytes(data)
        return ["compare", run]

    return setup


OBS = "e_low_keV,e_high_keV,counts\n"
ROWS = "".join(f"{2 + 0.5 * i:g},{2.5 + 0.5 * i:g},5\n" for i in range(20))

CASES = [
    # --- dataset files ---------------------------------------------------------------------------
    ("csv-utf16", _ds_file("observed.csv", (OBS + ROWS).encode("utf-16")), ["observed.csv", "not UTF-8"]),
    (
        "csv-duplicate-column",
        _ds_file("observed.csv", "e_low_keV,e_low_keV,counts\n" + ROWS),
        ["observed.csv", "header", "e_low_keV,e_low_keV,counts"],
    ),
    (
        "csv-semicolon-excel",
        _ds_file("observed.csv", OBS.replace(",", ";") + ROWS.replace(",", ";")),
        ["observed.csv", "header"],
    ),
    (
        "csv-tab-separated",
        _ds_file("observed.csv", OBS.replace(",", "\t") + ROWS.replace(",", "\t")),
        ["observed.csv", "header"],
    ),
    (
        "csv-quoted-fields",
        _ds_file("observed.csv", OBS + '"2","2.5","5"\n'),
        ["observed.csv", "e_low_keV", "not a number"],
    ),
    ("csv-truncated-mid-row", _ds_file("observed.csv", OBS + ROWS[:-4]), ["observed.csv", "counts"]),
    ("csv-truncated-in-header", _ds_file("observed.csv", OBS[:12]), ["observed.csv", "header"]),
    ("csv-empty-file", _ds_file("observed.csv", b""), ["observed.csv", "header", "no header"]),
    ("csv-nul-bytes", _ds_file("observed.csv", OBS + "2,2.5,\x005\n"), ["observed.csv", "counts"]),
    ("csv-count-1e400", _ds_file("observed.csv", OBS + "2,2.5,1e400\n"), ["observed.csv", "counts", "non-finite"]),
    ("csv-edge-1e400", _ds_file("observed.csv", OBS + "2,1e400,5\n"), ["observed.csv", "e_high_keV", "non-finite"]),
    ("csv-rate-1e400", _ds_file("flat.csv", "energy_keV,rate\n0,1e400\n20,1\n"), ["flat.csv", "rate", "non-finite"]),
    ("toml-empty-file", _ds_file("dataset.toml", b""), ["dataset.toml", "dataset", "missing required key"]),
    ("toml-utf16", _ds_file("dataset.toml", "[dataset]\n".encode("utf-16")), ["dataset.toml", "not UTF-8"]),
    ("toml-duplicate-key", _ds_toml('name = "toy"', 'name = "toy"\nname = "toy2"'), ["dataset.toml", "toml syntax"]),
    (
        "toml-exposure-1e400",
        _ds_toml("exposure_kg_day = 1000.0", "exposure_kg_day = 1e400"),
        ["dataset.toml", "dataset.exposure_kg_day", "finite"],
    ),
    (
        "toml-exposure-array",
        _ds_toml("exposure_kg_day = 1000.0", "exposure_kg_day = [1000.0]"),
        ["dataset.toml", "dataset.exposure_kg_day", "must be a number"],
    ),
    (
        "toml-prior-sigma-1e400",
        _ds_toml("sigma = 0.1", "sigma = 1e400"),
        ["dataset.toml", "background[flat].prior.sigma"],
    ),
    ("toml-is-directory", _toml_is_directory, ["dataset.toml"]),
    ("dataset-is-a-csv", _csv_as_dataset, ["observed.csv", "toml syntax"]),
    ("dataset-symlink-loop", _symlink_loop_dataset, ["loop", "not found"]),
    ("csv-symlink-loop", _symlink_loop_csv, ["observed.file", "observed.csv"]),
    ("dataset-no-background", _ds_toml("[[background]]", "[[notbackground]]"), ["dataset.toml", "notbackground"]),
    # --- model TOMLs -----------------------------------------------------------------------------
    (
        "model-unknown-key",
        _mm("cl = 0.9", "cl = 0.9\ncredible_level = 0.9"),
        ["model.toml", "analysis.credible_level", "unknown key"],
    ),
    ("model-cl-string", _mm("cl = 0.9", 'cl = "0.9"'), ["model.toml", "analysis.cl", "must be a number"]),
    ("model-cl-above-1", _mm("cl = 0.9", "cl = 1.5"), ["model.toml", "analysis.cl"]),
    ("model-cl-zero", _mm("cl = 0.9", "cl = 0.0"), ["model.toml", "analysis.cl"]),
    ("model-window-string", _mm("window_keV = [2.0, 200.0]", 'window_keV = "2-200"'), ["analysis.window_keV"]),
    (
        "model-window-outside-data",
        _mm("window_keV = [2.0, 200.0]", "window_keV = [300.0, 400.0]"),
        ["model.toml", "window_keV", "does not overlap"],
    ),
    ("model-negative-bin-width", _mm("bin_width_keV = 2.0", "bin_width_keV = -2.0"), ["analysis.bin_width_keV"]),
    ("model-unknown-prior-kind", _mm('kind = "flat_power"', 'kind = "cauchy"'), ["poi.prior.kind", "cauchy"]),
    ("model-unknown-sampler", _mm('name = "nutpie"', 'name = "emcee"'), ["sampler.name", "emcee"]),
    ("model-draws-zero", _mm("draws = 4000", "draws = 0"), ["sampler.draws"]),
    ("model-draws-negative", _mm("draws = 4000", "draws = -1"), ["sampler.draws"]),
    ("model-chains-float", _mm("chains = 4", "chains = 4.0"), ["sampler.chains", "integer"]),
    ("model-scale-1e400", _mm("scale = 1e-10", "scale = 1e400"), ["poi.scale", "finite"]),
    (
        "model-rrpa-not-string",
        _mm('atomic_model = "stepping"', 'atomic_model = "rrpa_table"\nrrpa_table = 5'),
        ["model.toml", "physics.rrpa_table", "string"],
    ),
    (
        "model-rrpa-missing",
        _mm('atomic_model = "stepping"', 'atomic_model = "rrpa_table"\nrrpa_table = "no.csv"'),
        ["model.toml", "physics.rrpa_table", "not found"],
    ),
    ("model-empty-file", _model(b""), ["model.toml", "model", "missing"]),
    ("model-utf16", _model(MODEL_MM.encode("utf-16")), ["model.toml"]),
    (
        "model-is-directory",
        lambda tmp: (toy(tmp / "ds"), (tmp / "m.toml").mkdir(), ["limit", tmp / "m.toml", "--dataset", tmp / "ds"])[-1],
        ["m.toml", "cannot read"],
    ),
    # --- command-line arguments ----------------------------------------------------------------
    ("cli-seed-negative", _args("--seed", "-1"), ["--seed", "-1"]),
    ("cli-seed-too-large", _args("--seed", str(2**70)), ["--seed"]),
    ("cli-benchmark-seed-negative", lambda tmp: ["make-benchmark", "--out", tmp / "bench", "--seed", "-5"], ["--seed"]),
    ("cli-scale-inf", _args("--scale", "inf"), ["--scale", "finite"]),
    ("cli-bin-width-nan", _args("--bin-width", "nan"), ["--bin-width"]),
    ("cli-prior-upper-zero", _args("--prior-upper", "0"), ["--prior"]),
    ("cli-prior-power-zero", _args("--prior-power", "0"), ["--prior"]),
    ("cli-window-outside-data", _args("--window", "300", "400"), ["window_keV", "does not overlap"]),
    ("cli-window-nan", _args("--window", "nan", "5"), ["--window"]),
    ("cli-mass-nan", _args("--mass", "nan", command=("sample", "dark-photon")), ["--mass"]),
    ("cli-toys-negative", _args("--toys", "-3", command=("limit", "magnetic-moment")), ["--toys"]),
    ("cli-draws-negative", _args("--draws", "-1"), ["--draws"]),
    ("cli-out-is-file", _out_is_file, ["results", "--out", "not a directory"]),
    ("cli-out-parent-is-file", _out_under_file, ["results", "--out", "cannot create"]),
    (
        "cli-spectra-emax-inf",
        lambda tmp: ["spectra", "magnetic-moment", "--emax", "inf", "--out", tmp / "s.png"],
        ["--emin/--emax/--step", "finite"],
    ),
    (
        "cli-spectra-huge-grid",
        lambda tmp: [
            "spectra",
            "magnetic-moment",
            "--emin",
            "1",
            "--emax",
            "3",
            "--step",
            "1e-6",
            "--out",
            tmp / "s.png",
        ],
        ["--step", "too large"],
    ),
    (
        "cli-spectra-coupling-nan",
        lambda tmp: [
            "spectra",
            "magnetic-moment",
            "--coupling",
            "nan",
            "--emin",
            "1",
            "--emax",
            "2",
            "--step",
            "1",
            "--out",
            tmp / "s.png",
        ],
        ["--coupling"],
    ),
    (
        "cli-rrpa-table-missing",
        lambda tmp: ["spectra", "millicharge", "--rrpa-table", tmp / "no.csv", "--out", tmp / "s.png"],
        ["no.csv", "not found"],
    ),
    ("cli-release-missing", lambda tmp: ["convert-xenon1t", tmp / "no_release", tmp / "x1t"], ["no_release"]),
    # --- run directories (compare RUN_DIR) ----------------------------------------------------
    ("run-limits-json-list", _run_dir("[]"), ["limits.json", "unreadable run summary"]),
    ("run-limits-json-null", _run_dir("null"), ["limits.json"]),
    ("run-limits-json-empty-row", _run_dir('{"comparison": [{}]}'), ["limits.json"]),
    ("run-limits-json-string-rows", _run_dir('{"comparison": "abc"}'), ["limits.json"]),
    ("run-limits-json-bad-fits", _run_dir('{"fits": [1, 2]}'), ["limits.json"]),
    ("run-limits-json-truncated", _run_dir('{"fits": [{"fit": "magnetic_moment", "bay'), ["limits.json"]),
    ("run-limits-json-binary", _run_dir(b"\x89HDF\r\n\x1a\n\xff\xfe"), ["limits.json"]),
    ("run-limits-json-is-directory", _run_dir(None), ["limits.json", "not found"]),
    ("run-limits-json-empty", _run_dir(b"", {"magnetic_moment.nc": b"CDF\x01"}), ["limits.json"]),
]


def test_catalogue_size_and_unique_ids():
    ids = [c[0] for c in CASES]
    assert len(ids) == len(set(ids))
    assert len(ids) >= 20


@pytest.mark.parametrize("setup,needles", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_malformed_input(tmp_path, capsys, setup, needles):
    argv = setup(tmp_path)
    before = snapshot(tmp_path)
    code, _, err = run_cli(argv, capsys)
    assert_one_line_error(code, err, *needles)
    assert snapshot(tmp_path) == before, "something was written"
    assert not (tmp_path / "run").exists()


def test_scan_masses_bad_spec(tmp_path, capsys):
    """``scan --masses`` with a malformed list (only when a ``scan`` subcommand exists)."""
    sub = next(a for a in cli.build_parser()._actions if a.__class__.__name__ == "_SubParsersAction")
    if "scan" not in sub.choices:
        pytest.skip("no 'scan' subcommand yet")
    if "--masses" not in sub.choices["scan"]._option_string_actions:
        pytest.skip("'scan' has no --masses option")
    ds = toy(tmp_path / "ds")
    before = snapshot(tmp_path)
    for bad in ("1e-3:abc", "nan", "-1,2", "inf"):
        code, _, err = run_cli(
            ["scan", "dark-photon", "--dataset", ds, f"--masses={bad}", "--out", tmp_path / "run"], capsys
        )
        assert_one_line_error(code, err, "--masses")
        assert snapshot(tmp_path) == before


def test_unreadable_dataset_toml_chmod(tmp_path, capsys):
    ds = toy(tmp_path / "ds")
    (ds / "dataset.toml").chmod(0)
    try:
        if IS_ROOT:
            pytest.skip("running as root: file permissions are not enforced (see the monkeypatched variant)")
        code, _, err = run_cli(["sample", "magnetic-moment", "--dataset", ds, "--out", tmp_path / "run"], capsys)
        assert_one_line_error(code, err, "dataset.toml", "cannot read")
        assert not (tmp_path / "run").exists()
    finally:
        (ds / "dataset.toml").chmod(0o644)


def test_unreadable_dataset_toml_simulated(tmp_path, capsys, monkeypatch):
    ds = toy(tmp_path / "ds")
    real = Path.read_bytes

    def failing(self):
        if self.name == "dataset.toml":
            raise PermissionError(errno.EACCES, "Permission denied", str(self))
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", failing)
    code, _, err = run_cli(["sample", "magnetic-moment", "--dataset", ds, "--out", tmp_path / "run"], capsys)
    assert_one_line_error(code, err, "dataset.toml", "cannot read", "Permission denied")
    assert not (tmp_path / "run").exists()


def test_bom_in_tomls_is_accepted(tmp_path):
    """A UTF-8 byte-order mark (Windows editors) is not an error: same values, checksum of the bytes."""
    from bayes_xmass.datasets.loader import load_dataset
    from bayes_xmass.model.spec import load_model_spec

    ds = toy(tmp_path / "ds")
    plain = load_dataset(ds)
    (ds / "dataset.toml").write_bytes(b"\xef\xbb\xbf" + (ds / "dataset.toml").read_bytes())
    bom = load_dataset(ds)
    assert bom.counts.tolist() == plain.counts.tolist() and bom.exposure_kg_day == plain.exposure_kg_day
    assert bom.checksum != plain.checksum  # the checksum is of the bytes
    model = tmp_path / "m.toml"
    model.write_bytes(b"\xef\xbb\xbf" + MODEL_MM.encode())
    assert load_model_spec(model).interaction == "magnetic_moment"


def test_errors_via_entry_point_have_no_traceback(tmp_path):
    """Two catalogue cases through the installed console script: exit code 2, one line, nothing written."""
    ds = toy(tmp_path / "ds")
    (ds / "observed.csv").write_bytes((OBS + ROWS).encode("utf-16"))
    env = {**os.environ, "BAYES_XMASS_NO_CACHE": "1"}
    for argv in (
        ["sample", "magnetic-moment", "--dataset", ds, "--out", tmp_path / "run"],
        ["sample", "magnetic-moment", "--dataset", tmp_path / "ds2", "--seed", "-1", "--out", tmp_path / "run"],
    ):
        before = snapshot(tmp_path)
        proc = subprocess.run(
            [str(EXE), *map(str, argv)], capture_output=True, text=True, timeout=120, cwd=tmp_path, env=env
        )
        assert_one_line_error(proc.returncode, proc.stderr)
        assert snapshot(tmp_path) == before


# ------------------------------------------------------------------------------------------------
# Corrupted NetCDF: the one reader (report.open_datatree) reports, never raises anything else,
# and never unpickles.
# ------------------------------------------------------------------------------------------------
class _Boom:
    def __reduce__(self):
        return (Path.touch, (Path("UNPICKLED_MARKER"),))


def _nc_files(tmp) -> dict[str, bytes]:
    import pickle  # test-only: builds a hostile payload that must never be executed

    import xarray as xr

    good = tmp / "good.nc"
    xr.DataTree.from_dict({"/posterior": xr.Dataset({"x": ("draw", np.arange(50.0))})}).to_netcdf(
        good, engine="netcdf4"
    )
    data = good.read_bytes()
    return {
        "truncated": data[: len(data) // 2],
        "header-only": data[:8],
        "empty": b"",
        "garbage": bytes(range(256)) * 4,
        "json": b'{"posterior": {}}',
        "pickle": pickle.dumps(_Boom()),
    }


def test_corrupted_netcdf_is_input_error(tmp_path):
    from bayes_xmass.outputs.report import open_datatree

    for name, data in _nc_files(tmp_path).items():
        path = tmp_path / f"{name}.nc"
        path.write_bytes(data)
        with pytest.raises(InputError) as info:
            open_datatree(path)
        msg = str(info.value)
        assert f"{name}.nc" in msg and "netcdf" in msg and "\n" not in msg, msg
    assert not (tmp_path / "UNPICKLED_MARKER").exists()
    with pytest.raises(InputError, match="not found"):
        open_datatree(tmp_path / "missing.nc")
    assert open_datatree(tmp_path / "good.nc")["posterior"]["x"].size == 50


# ------------------------------------------------------------------------------------------------
# 2. Faults while writing
# ------------------------------------------------------------------------------------------------
def assert_error_last_line(code, err, *needles) -> None:
    """For failures after work has started: progress lines may precede it, but exactly one error line,
    the last one, and no traceback."""
    lines = [line for line in err.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("bayes-xmass: error:")]
    assert code == 2 and "Traceback" not in err, err
    assert len(errors) == 1 and lines[-1] == errors[0], lines
    for needle in needles:
        assert needle in errors[0], errors[0]


def _limit_argv(tmp, out):
    return ["limit", "magnetic-moment", "--dataset", toy(tmp / "ds"), "--out", out]


def _output_files(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def test_disk_full_while_writing(tmp_path, capsys, monkeypatch):
    """ENOSPC from the writer: one line naming the file, exit 2, no file under an output name."""
    real = Path.write_text

    def full(self, *a, **k):
        if self.name.endswith(".part"):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(self, *a, **k)

    monkeypatch.setattr(Path, "write_text", full)
    out = tmp_path / "run"
    code, _, err = run_cli(_limit_argv(tmp_path, out), capsys)
    assert_error_last_line(code, err, "limits.json", "No space left on device")
    assert not out.exists() or _output_files(out) == []


def test_disk_full_in_netcdf_writer(tmp_path, monkeypatch):
    """ENOSPC raised by a NetCDF writer inside io.write_with: an OSError naming the output (so callers
    that tolerate unwritable locations, like the template cache, still can), temporary file removed."""
    from bayes_xmass.runtime.io import write_with

    def writer(tmp):
        tmp.write_bytes(b"CDF\x01partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OSError) as info:
        write_with(tmp_path / "fit.nc", writer)
    assert info.value.errno == errno.ENOSPC and info.value.filename == str(tmp_path / "fit.nc")
    assert info.value.strerror == "cannot write: No space left on device"
    assert list(tmp_path.iterdir()) == []


def test_permission_denied_output(tmp_path, capsys, monkeypatch):
    """A read-only output location (simulated so it also runs as root): one line, exit 2, nothing written."""
    import tempfile

    def denied(*a, **k):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", denied)
    out = tmp_path / "run"
    code, _, err = run_cli(_limit_argv(tmp_path, out), capsys)
    assert_error_last_line(code, err, "limits.json", "Permission denied")
    assert not out.exists() or _output_files(out) == []


def test_read_only_output_dir_chmod(tmp_path, capsys):
    if IS_ROOT:
        pytest.skip("running as root: directory permissions are not enforced (see the simulated variant)")
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        code, _, err = run_cli(_limit_argv(tmp_path, ro / "run"), capsys)
        assert_error_last_line(code, err, "run")
        assert list(ro.iterdir()) == []
    finally:
        ro.chmod(0o755)


def _wait_for(predicate, proc, timeout):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        if proc.poll() is not None:
            return predicate()
        time.sleep(0.05)
    return False


def test_sigkill_mid_run_keeps_finished_files(tmp_path, capsys):
    """SIGKILL after the first fit's NetCDF appears: that file is complete and loadable, no file under
    an output name is partial, no completion marker, and a re-run refuses to overwrite."""
    from bayes_xmass.outputs.report import open_datatree

    ds = toy(tmp_path / "ds")
    out = tmp_path / "run"
    argv = [
        str(EXE),
        "sample",
        "millicharge",
        "--dataset",
        str(ds),
        "--flavours",
        "common",
        "--sign",
        "1",
        "--sign",
        "-1",
        "--sampler",
        "pymc",
        "--chains",
        "1",
        "--draws",
        "20",
        "--tune",
        "20",
        "--no-progress",
        "--allow-bad-diagnostics",
        "--out",
        str(out),
    ]
    env = {**os.environ, "BAYES_XMASS_NO_CACHE": "1"}
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=tmp_path, env=env)
    try:
        appeared = _wait_for(lambda: any(out.glob("*.nc")), proc, 120)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        _, stderr = proc.communicate(timeout=30)
    assert appeared, f"no NetCDF appeared; stderr:\n{stderr.decode()[-2000:]}"
    assert proc.returncode == -signal.SIGKILL, f"run was not killed mid-way (exit {proc.returncode})"
    assert not (out / "limits.json").exists(), "completion marker written before the run finished"
    names = _output_files(out)
    finished = [n for n in names if not Path(n).name.startswith(".")]
    partial = [n for n in names if Path(n).name.startswith(".")]
    assert all(Path(n).name.endswith(".part") for n in partial), partial  # temporaries are hidden *.part
    assert all(not n.endswith(".part") for n in finished)
    ncs = [n for n in finished if n.endswith(".nc")]
    assert ncs and ncs[0] in ("millicharge_common_pos.nc", "millicharge_common_neg.nc")
    for n in ncs:  # every file under its final name is complete
        dt = open_datatree(out / n)
        assert dt["posterior"]["x"].size == 20
    for n in finished:
        if n.endswith(".png"):
            assert (out / n).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # a re-run does not overwrite what is there
    before = snapshot(out)
    code, _, err = run_cli(["sample", "millicharge", "--dataset", ds, "--out", out], capsys)
    assert_one_line_error(code, err, "overwrite")
    assert snapshot(out) == before


# ------------------------------------------------------------------------------------------------
# 3. No pickle / eval / exec of inputs
# ------------------------------------------------------------------------------------------------
FORBIDDEN_MODULES = {"pickle", "cPickle", "dill", "cloudpickle", "marshal", "shelve", "joblib", "yaml", "jsonpickle"}
FORBIDDEN_CALLS = {"eval", "exec", "compile", "__import__"}
FORBIDDEN_ATTRS = {"read_pickle", "to_pickle", "unsafe_load", "full_load", "load_pickle"}
NETCDF_OPENERS = {
    "open_datatree",
    "open_dataset",
    "open_mfdataset",
    "load_dataset",
    "open_dataarray",
    "load_dataarray",
    "open_groups",
}
SAFE_ENGINES = {"netcdf4", "h5netcdf"}
# documented exceptions: {"module.py": {"what"}}. nutpie_compile.py compiles the NUTS callbacks from
# source it writes itself (fixed text, integers, 32-digit hex keys -- checked there and in
# tests/runtime/test_nutpie_compile.py); no input reaches it.
# graph_cache.py unpickles rewritten PyTensor graphs it wrote itself into the user's cache
# directory, only from entries owned by the user and writable by nobody else (checked there and in
# tests/runtime/test_graph_cache.py) -- the trust of PyTensor's own compile cache; never an input file.
ALLOWED: dict[str, set[str]] = {"nutpie_compile.py": {"exec", "compile"}, "graph_cache.py": {"pickle"}}


def _package_sources():
    files = sorted(PACKAGE.rglob("*.py"))
    assert len(files) > 20
    return [(f, f.read_text()) for f in files]


def test_no_pickle_or_eval_in_package():
    problems = []
    for path, text in _package_sources():
        allowed = ALLOWED.get(path.name, set())
        tree = ast.parse(text, filename=str(path))
        rel = path.relative_to(REPO_ROOT).as_posix()
        for node in ast.walk(tree):
            if not isinstance(node, (ast.Import, ast.ImportFrom, ast.Call)):
                continue
            where = f"{rel}:{node.lineno}"
            if isinstance(node, ast.Import):
                bad = {a.name.split(".")[0] for a in node.names} & FORBIDDEN_MODULES
                problems += [f"{where}: import {b}" for b in bad - allowed]
            elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in FORBIDDEN_MODULES:
                if node.module.split(".")[0] not in allowed:
                    problems.append(f"{where}: from {node.module} import ...")
            elif isinstance(node, ast.Call):
                f = node.func
                if isinstance(f, ast.Name) and f.id in FORBIDDEN_CALLS - allowed:
                    literal = (
                        f.id == "__import__"
                        and len(node.args) == 1
                        and isinstance(node.args[0], ast.Constant)
                        and node.args[0].value not in FORBIDDEN_MODULES
                    )
                    if not literal:  # __import__("arviz") imports a fixed module: not input evaluation
                        problems.append(f"{where}: call to {f.id}()")
                if isinstance(f, ast.Attribute) and f.attr in FORBIDDEN_ATTRS - allowed:
                    problems.append(f"{where}: .{f.attr}()")
                for kw in node.keywords:
                    if kw.arg == "allow_pickle" and not (
                        isinstance(kw.value, ast.Constant) and kw.value.value is False
                    ):
                        problems.append(f"{where}: allow_pickle not literally False")
                    if kw.arg == "shell" and not (isinstance(kw.value, ast.Constant) and kw.value.value is False):
                        problems.append(f"{where}: subprocess shell=")
                name = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", "")
                if name == "load" and isinstance(f, ast.Attribute) and getattr(f.value, "id", "") in ("np", "numpy"):
                    if not any(kw.arg == "allow_pickle" for kw in node.keywords):
                        problems.append(f"{where}: np.load without allow_pickle=False")
                if (
                    name in NETCDF_OPENERS
                    and isinstance(f, ast.Attribute)
                    and getattr(f.value, "id", "") in ("xr", "xarray")
                ):
                    engine = next((kw.value for kw in node.keywords if kw.arg == "engine"), None)
                    if not (isinstance(engine, ast.Constant) and engine.value in SAFE_ENGINES):
                        problems.append(f"{where}: xarray.{name} without engine in {sorted(SAFE_ENGINES)}")
        # belt and braces: plain-text patterns outside comments and strings are caught above; these
        # catch the rest (e.g. getattr tricks) in code lines
        for i, line in enumerate(text.splitlines(), 1):
            code = line.split("#", 1)[0]
            pattern = r"allow_pickle\s*=\s*True|yaml\.load\(|\bos\.system\(" + (
                "" if "pickle" in allowed else r"|pickle\.loads?\("
            )
            if re.search(pattern, code):
                problems.append(f"{path.relative_to(REPO_ROOT)}:{i}: {line.strip()}")
    assert not problems, "pickle/eval-capable code in the package:\n" + "\n".join(problems)


def test_no_pickle_check_catches_violations(tmp_path, monkeypatch):
    """The checker itself works: a planted violation is found."""
    fake = tmp_path / "bayes_xmass"
    fake.mkdir()
    for i in range(21):
        (fake / f"m{i}.py").write_text("x = 1\n")
    (fake / "bad.py").write_text(
        "import pickle\nimport numpy as np\nnp.load('f.npy')\nv = eval('1')\n"
        "import xarray as xr\nxr.open_dataset('a.nc')\n"
    )
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", fake)
    monkeypatch.setattr(sys.modules[__name__], "REPO_ROOT", tmp_path)
    with pytest.raises(AssertionError) as info:
        test_no_pickle_or_eval_in_package()
    msg = str(info.value)
    assert "import pickle" in msg and "eval()" in msg and "np.load without" in msg and "open_dataset" in msg
