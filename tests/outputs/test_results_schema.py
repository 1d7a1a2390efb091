"""The results schema: every command's limits.json validates, limits are physical, warnings show.

The outputs of ``run``, ``combine`` and ``global`` are validated where those runs are made
(tests/workflows/test_pipeline_e2e.py, tests/infer/test_combined.py, tests/workflows/test_global.py);
``sample``, ``limit``, ``compare`` and ``scan`` run here on small settings.
"""

from __future__ import annotations

import csv
import json
import math

import pytest

from bayes_xmass.cli.main import main
from bayes_xmass.errors import InputError
from bayes_xmass.infer.scan import BAND_NAMES
from bayes_xmass.outputs import results as results_module
from bayes_xmass.outputs.compare import COLUMNS, comparison_row, csv_text, markdown_table, terminal_table
from bayes_xmass.outputs.results import (
    LIMIT_KINDS,
    finalise_fit,
    results_schema,
    schema_errors,
    validate_results,
)
from bayes_xmass.outputs.run_reader import open_run


def assert_valid(doc: dict) -> None:
    errors = schema_errors(doc)
    assert not errors, "\n".join(errors)


def _mm_fit(**extra) -> dict:
    return {
        "fit": "magnetic_moment",
        "interaction": "magnetic_moment",
        "sign": 1,
        "coupling_scale": 1e-10,
        "coupling_unit": "mu_B",
        "bayes": {"limit": 7.8e-11, "mcse": 1e-12, "limit_scaled": 0.78},
        "diagnostics": {"ok": True, "failures": [], "prior_bound_fraction": 0.3},
        "frequentist": {
            "limit_xmass_scaled": 0.765,
            "limit_one_sided_scaled": 0.6955,
            "limit_cls_scaled": 0.745,
            "best_fit": 3.4e-11,
            "converged": True,
        },
        **extra,
    }


def _doc(fits) -> dict:
    return {
        "schema": "bayes_xmass.results",
        "schema_version": "1.0",
        "command": "limit",
        "cl": 0.9,
        "provenance": {
            "seed": 1,
            "created": "2026-12-04T00:00:00+0000",
            "datasets": {"xmass1_benchmark": {"name": "xmass1_benchmark", "checksum": "0123456789abcdef"}},
            "package_versions": {"bayes_xmass": "0.1.0"},
            "model_config": {},
        },
        "fits": [finalise_fit(f, dataset="xmass1_benchmark", cl=0.9) for f in fits],
        "exclusion_curves": [],
    }


def test_schema_is_a_valid_json_schema_and_bands_match_the_scan():
    import jsonschema

    jsonschema.Draft202012Validator.check_schema(results_schema())
    assert results_module._SCAN_BANDS == BAND_NAMES  # the copy kept to avoid importing PyTensor


def test_limits_are_physical_and_warnings_flag_what_is_wrong():
    ok = finalise_fit(_mm_fit(), dataset="d", cl=0.9)
    assert ok["limits"] == pytest.approx(
        {"bayes": 7.8e-11, "delta_chi2": 7.65e-11, "one_sided": 6.955e-11, "cls": 7.45e-11}, rel=1e-12
    )
    assert ok["warnings"] == [] and ok["best_fit"] == 3.4e-11 and set(ok["limits"]) <= set(LIMIT_KINDS)
    bound = finalise_fit(
        _mm_fit(
            diagnostics={
                "ok": False,
                "failures": ["credible limit at 95% of the POI prior's upper bound"],
                "prior_bound_fraction": 0.95,
            }
        ),
        dataset="d",
        cl=0.9,
    )
    assert [w["limit"] for w in bound["warnings"]] == ["bayes"] and "prior" in bound["warnings"][0]["reason"]
    bad = _mm_fit(diagnostics={"ok": False, "failures": ["R-hat 1.05 > 1.01 (x)"]})
    bad["frequentist"].update(limit_cls_scaled=float("inf"), converged=False)
    rec = finalise_fit(bad, dataset="d", cl=0.9)
    reasons = {w["limit"]: w["reason"] for w in rec["warnings"]}
    assert "R-hat 1.05" in reasons["bayes"] and "not finite" in reasons["cls"] and "converge" in reasons["fit"]
    assert rec["limits"]["cls"] is None
    assert_valid(_doc([_mm_fit(), bad]))


def test_a_broken_document_is_one_error_naming_the_field():
    doc = _doc([_mm_fit()])
    doc["fits"][0]["limits"]["bayes"] = -1.0
    with pytest.raises(InputError, match=r"fits/0/limits/bayes.*results schema 1.0"):
        validate_results(doc, "run/limits.json")
    del doc["provenance"]["seed"]
    assert any("seed" in e for e in schema_errors(doc))
    doc = _doc([_mm_fit(coupling_unit="GeV")])
    assert any("coupling_unit" in e for e in schema_errors(doc))


def test_warnings_are_marked_in_the_terminal_markdown_and_csv():
    bad = _mm_fit(diagnostics={"ok": False, "failures": ["3 divergent transitions"]})
    rows = [comparison_row(finalise_fit(f, dataset="d", cl=0.9)) for f in (_mm_fit(), bad)]
    term, md = terminal_table(rows), markdown_table(rows)
    for text in (term, md):
        assert "(!)" in text and "3 divergent transitions" in text
    table = list(csv.reader(csv_text(rows).splitlines()))
    assert table[0][COLUMNS.index("warning")] == "warning" and "bayes [unit]" in table[0]
    assert table[1][COLUMNS.index("warning")] == "" and "divergent" in table[2][COLUMNS.index("warning")]


def _run_cli(argv):
    code = main(argv)
    assert code in (0, 3), code  # 3: diagnostics failed on the short chains (the limit is then flagged)
    return code


@pytest.fixture(scope="module")
def command_outputs(tmp_path_factory):
    root = tmp_path_factory.mktemp("commands")
    fast = ["--draws", "200", "--tune", "200", "--chains", "2"]
    _run_cli(["sample", "magnetic-moment", "--out", str(root / "sample"), *fast, "--no-progress", "--seed", "3"])
    _run_cli(["limit", "millicharge", "--flavours", "e", "--sign", "-1", "--toys", "8", "--out", str(root / "limit")])
    _run_cli(["compare", "magnetic-moment", "--out", str(root / "compare"), *fast, "--seed", "3"])
    _run_cli(
        ["scan", "dark-photon", "--masses", "0.01,10", "--frequentist-only", "--toys", "6", "--out", str(root / "scan")]
    )
    return root


@pytest.mark.parametrize("command", ["sample", "limit", "compare", "scan"])
def test_every_command_writes_the_schema(command_outputs, command):
    doc = json.loads((command_outputs / command / "limits.json").read_text())
    assert_valid(doc)
    assert doc["command"] == command and doc["fits"]
    run = open_run(command_outputs / command)
    for fit in doc["fits"]:
        assert fit["coupling_unit"] in ("mu_B", "e", "dimensionless")
        for kind, value in fit["limits"].items():
            assert run.limit(fit["fit"], kind) == value
            assert value is None or (math.isfinite(value) and value > 0)
            # physical, not in units of the coupling scale: within 1e-3..1e3 of the scale
            assert value is None or 1e-3 < value / fit["coupling_scale"] < 1e3


def test_scan_curves_carry_expected_bands(command_outputs):
    doc = json.loads((command_outputs / "scan" / "limits.json").read_text())
    curve = next(c for c in doc["exclusion_curves"] if c["statistic"] == "delta_chi2")
    assert curve["mass_MeV"] == [0.01, 10.0] and len(curve["expected"]["median"]) == 2
    fits = {f["mass_MeV"]: f for f in doc["fits"]}
    assert fits[10.0]["limits"]["delta_chi2"] == curve["limit"][1]
    header = (command_outputs / "scan" / "scan.csv").read_text().splitlines()
    columns = next(line for line in header if not line.startswith("#")).split(",")
    assert columns[0] == "mass [MeV]" and "freq_xmass [dimensionless]" in columns


def test_sample_run_reads_back_with_arviz(command_outputs):
    import arviz as az
    import matplotlib

    matplotlib.use("Agg")
    run = open_run(command_outputs / "sample")
    dt = run.datatree("magnetic_moment")
    summary = az.summary(dt, var_names=["x"])
    assert "x" in str(summary.index[0]) and math.isfinite(float(summary.iloc[0]["mean"]))
    assert az.plot_rank(dt, var_names=["x"]) is not None
    assert az.plot_trace(dt, var_names=["x"]) is not None


def test_open_run_refuses_a_file_that_breaks_the_schema(command_outputs, tmp_path):
    doc = json.loads((command_outputs / "limit" / "limits.json").read_text())
    doc["fits"][0]["limits"]["delta_chi2"] = "7e-12"
    (tmp_path / "limits.json").write_text(json.dumps(doc))
    with pytest.raises(InputError, match="limits.json.*fits/0/limits/delta_chi2"):
        open_run(tmp_path)
    assert open_run(tmp_path, validate=False).fits


@pytest.mark.parametrize("command", ["sample", "limit", "scan"])
def test_real_runs_export_to_valid_hepdata(command_outputs, tmp_path, command):
    pytest.importorskip("hepdata_lib")
    from hepdata_validator.full_submission_validator import FullSubmissionValidator

    from bayes_xmass.workflows.export_hepdata import ARCHIVE, FOLDER, export_hepdata

    out = export_hepdata(command_outputs / command, out=tmp_path / "hepdata", log=lambda msg: None)
    for where in ({"directory": str(out / FOLDER)}, {"archive": str(out / ARCHIVE)}):
        validator = FullSubmissionValidator()
        assert validator.validate(**where), validator.get_messages()
