"""``bayes-xmass export hepdata``: a run directory's ``limits.json`` as a valid HEPData submission.

The documents are hand-made in the results schema (docs/results-schema.md), as ``run``, ``sample``
and ``global`` write them: :func:`results_doc` builds them, and a test checks that they follow the
shipped JSON Schema. Each export must pass hepdata-validator (folder and archive), and the YAML read
back must hold the document's numbers (rel 1e-6), units, qualifiers, warnings and provenance.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import yaml

from bayes_xmass.cli.main import main
from bayes_xmass.errors import InputError
from bayes_xmass.outputs.results import validate_results
from bayes_xmass.workflows import export_hepdata as export_module
from bayes_xmass.workflows.export_hepdata import ARCHIVE, FOLDER, export_hepdata

pytest.importorskip("hepdata_lib")
validator_module = pytest.importorskip("hepdata_validator.full_submission_validator")

CHECKSUMS = {"xmass1": "0123456789abcdef" * 4, "xenonnt": "fedcba9876543210" * 4}
UNITS = {
    "magnetic_moment": ("mu_nu", "mu_B", 1e-10),
    "millicharge": ("q_nu", "e", 1e-12),
    "b_minus_l": ("g_BL", "dimensionless", 1e-6),
}
PRIOR_BOUND = "credible limit at 85% of the POI prior's upper bound (threshold 80%): widen the prior"


def _bands(median):
    return {
        "n_toys": 200,
        "median": median,
        "-1sigma": 0.7 * median,
        "+1sigma": 1.4 * median,
        "-2sigma": 0.5 * median,
        "+2sigma": 1.9 * median,
    }


def fit_record(
    label,
    interaction,
    limits,
    *,
    dataset="xmass1",
    sign=1,
    flavours=None,
    mass=None,
    expected=None,
    warnings=(),
    best_fit=None,
):
    """One fit record of the results schema (limits in the physical unit; a ``_scaled`` decoy in ``bayes``)."""
    poi, unit, scale = UNITS[interaction]
    rec = {
        "fit": label,
        "interaction": interaction,
        "poi": poi,
        "dataset": dataset,
        "sign": sign,
        "flavours": flavours,
        "mass_MeV": mass,
        "coupling_unit": unit,
        "coupling_scale": scale,
        "cl": 0.9,
        "limits": dict(limits),
        "best_fit": best_fit,
        "warnings": [{"limit": k, "reason": r} for k, r in warnings],
        "poi_prior": {
            "kind": "flat_power",
            "upper_scaled": 20.0,
            "power": 2.0,
            "coupling_scale": scale,
            "upper": 20.0 * scale,
        },
    }
    if limits.get("bayes") is not None:
        rec["bayes"] = {"limit": limits["bayes"], "mcse": 1e-3 * limits["bayes"], "limit_scaled": 1234.5}
    if expected:
        rec["expected"] = expected
    return rec


def results_doc(kind="run"):
    """A ``limits.json`` document like the one ``run`` / ``sample`` / ``global`` writes."""
    datasets = ["xmass1", "xenonnt"] if kind == "global" else ["xmass1"]
    doc = {
        "schema": "bayes_xmass.results",
        "schema_version": "1.0",
        "command": kind,
        "cl": 0.9,
        "provenance": {
            "seed": 20240607,
            "created": "2025-01-02T03:04:05+0000",
            "datasets": {d: {"name": f"{d.upper()} benchmark", "checksum": CHECKSUMS[d]} for d in datasets},
            "package_versions": {"bayes_xmass": "0.1.0", "numpy": "2.1.0", "pymc": "5.20.0"},
            "model_config": {"interaction": "magnetic_moment", "sampler": {"draws": 1000}},
        },
        "fits": [],
        "exclusion_curves": [],
    }
    if kind == "sample":
        doc["fits"] = [fit_record("magnetic_moment", "magnetic_moment", {"bayes": 7.8e-11})]
        return doc
    if kind == "global":
        for i, ds in enumerate(["xmass1", "xenonnt", "combined"]):
            doc["fits"].append(
                fit_record(
                    f"{ds}:magnetic_moment",
                    "magnetic_moment",
                    {"bayes": 8.1e-11 / (i + 1), "delta_chi2": 7.7e-11 / (i + 1)},
                    dataset=ds,
                )
            )
            doc["fits"].append(
                fit_record(
                    f"{ds}:millicharge_common_neg",
                    "millicharge",
                    {"bayes": 3.3e-12 / (i + 1)},
                    dataset=ds,
                    sign=-1,
                    flavours="common",
                )
            )
        doc["exclusion_curves"] = [
            {
                "name": "combined_bayes",
                "interaction": "b_minus_l",
                "dataset": "combined",
                "statistic": "bayes",
                "cl": 0.9,
                "coupling_unit": "dimensionless",
                "mass_MeV": [0.1, 10.0],
                "limit": [2.2e-6, 3.4e-6],
            }
        ]
        doc["targets"] = []
        return doc
    doc["fits"].append(
        fit_record(
            "magnetic_moment",
            "magnetic_moment",
            {"bayes": 7.8e-11, "delta_chi2": 7.65e-11, "one_sided": 6.9e-11, "cls": 7.1e-11, "toy_calibrated": 7.3e-11},
            expected={"delta_chi2": _bands(6.2e-11), "bayes": _bands(6.6e-11)},
            best_fit=-1.2e-11,
            warnings=[("bayes", PRIOR_BOUND)],
        )
    )
    for j, flav in enumerate(["common", "e", "mu", "tau"]):
        for sign, tag in ((-1, "neg"), (1, "pos")):
            limits = {"bayes": (2.1 + j) * 1e-12 * (1.1 if sign > 0 else 1.0), "delta_chi2": (2.0 + j) * 1e-12}
            warns = []
            if (flav, sign) == ("tau", 1):
                limits["delta_chi2"] = None
                warns = [("delta_chi2", "not finite: the limit is above the search range")]
            doc["fits"].append(
                fit_record(
                    f"millicharge_{flav}_{tag}",
                    "millicharge",
                    limits,
                    sign=sign,
                    flavours=flav,
                    warnings=warns,
                    best_fit=0.3e-12 * sign,
                )
            )
    masses = [0.01, 1.0, 100.0]
    for m, g in zip(masses, [1.1e-6, 2.5e-6, 4.0e-5]):
        warns = [("fit", "the best fit (profile likelihood) did not converge")] if m == 100.0 else []
        doc["fits"].append(
            fit_record(
                f"b_minus_l_M{m:g}MeV",
                "b_minus_l",
                {"bayes": 1.05 * g, "delta_chi2": g},
                mass=m,
                expected={"delta_chi2": _bands(0.9 * g)},
                warnings=warns,
            )
        )
    doc["exclusion_curves"] = [
        {
            "name": "delta_chi2",
            "interaction": "b_minus_l",
            "dataset": "xmass1",
            "statistic": "delta_chi2",
            "cl": 0.9,
            "coupling_unit": "dimensionless",
            "mass_MeV": masses,
            "limit": [1.1e-6, 2.5e-6, None],
            "expected": {
                k: [v * 0.9 * g for g in (1.1e-6, 2.5e-6, 4.0e-5)]
                for k, v in (("median", 1.0), ("-1sigma", 0.7), ("+1sigma", 1.4), ("-2sigma", 0.5), ("+2sigma", 1.9))
            },
        },
        {
            "name": "bayes",
            "interaction": "b_minus_l",
            "dataset": "xmass1",
            "statistic": "bayes",
            "cl": 0.9,
            "coupling_unit": "dimensionless",
            "mass_MeV": masses,
            "limit": [1.15e-6, 2.6e-6, 4.2e-5],
            "diagnostics_ok": [True, False, True],
        },
    ]
    doc["prior_sensitivity"] = []
    return doc


def write_run(tmp_path, doc, name="run"):
    run_dir = tmp_path / name
    run_dir.mkdir()
    (run_dir / "limits.json").write_text(json.dumps(doc, indent=1))
    return run_dir


def read_submission(out):
    """(submission-level document, {table name: (submission entry, data)})."""
    docs = [d for d in yaml.safe_load_all((out / FOLDER / "submission.yaml").read_text()) if d]
    tables = {}
    for d in docs[1:]:
        tables[d["name"]] = (d, yaml.safe_load((out / FOLDER / d["data_file"]).read_text()))
    return docs[0], tables


def quals(var):
    return {q["name"]: q["value"] for q in var.get("qualifiers", [])}


def columns(data):
    """{(header name, curve or '', sign or ''): dependent variable}"""
    return {
        (v["header"]["name"], quals(v).get("curve", ""), quals(v).get("sign", "")): v
        for v in data["dependent_variables"]
    }


def approx(a, b):
    return a == pytest.approx(b, rel=1e-6, abs=0)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """Every hand-made document exported once: {kind: (doc, run_dir, out)}."""
    base = tmp_path_factory.mktemp("hepdata")
    result = {}
    for kind in ("run", "sample", "global"):
        doc = results_doc(kind)
        run_dir = write_run(base, doc, f"run_{kind}")
        out = export_hepdata(run_dir, out=base / f"out_{kind}", log=lambda msg: None)
        result[kind] = (doc, run_dir, out)
    return result


@pytest.mark.parametrize("kind", ["run", "sample", "global"])
def test_documents_follow_the_results_schema(kind):
    validate_results(results_doc(kind))


@pytest.mark.parametrize("kind", ["run", "sample", "global"])
def test_submission_passes_hepdata_validator(exported, kind):
    _, run_dir, out = exported[kind]
    assert {p.name for p in out.iterdir()} == {FOLDER, ARCHIVE}
    assert {"submission.yaml", "limits.json"} <= {p.name for p in (out / FOLDER).iterdir()}
    assert (out / FOLDER / "limits.json").read_bytes() == (run_dir / "limits.json").read_bytes()
    validator = validator_module.FullSubmissionValidator()
    assert validator.validate(archive=str(out / ARCHIVE)), validator.get_messages()
    validator = validator_module.FullSubmissionValidator()  # the folder validates on its own, too
    assert validator.validate(directory=str(out / FOLDER)), validator.get_messages()
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]  # no temporary folder left


@pytest.mark.parametrize("kind", ["run", "sample", "global"])
def test_limits_tables_hold_the_numbers_with_units_and_qualifiers(exported, kind):
    doc, _, out = exported[kind]
    _, tables = read_submission(out)
    seen = 0
    for rec in doc["fits"]:
        matches = [
            (entry, data)
            for entry, data in tables.values()
            if entry["name"].startswith("Limits ")
            and rec["fit"] in [v["value"] for v in data["independent_variables"][0]["values"]]
        ]
        assert len(matches) == 1, rec["fit"]
        entry, data = matches[0]
        row = [v["value"] for v in data["independent_variables"][0]["values"]].index(rec["fit"])
        for var in data["dependent_variables"]:
            name, q = var["header"]["name"], quals(var)
            assert var["header"]["units"] == rec["coupling_unit"]
            if name.startswith("Best-fit"):
                value, expected = var["values"][row]["value"], rec["best_fit"]
                assert value == "-" if expected is None else approx(value, expected)
                continue
            kind_ = name.rsplit("(", 1)[1].split(",")[0].rstrip(")")
            if name.startswith("Upper limit"):
                value = var["values"][row]["value"]
                expected = rec["limits"][kind_]
                assert value == "-" if expected is None else approx(value, expected), (rec["fit"], name)
                assert {"CL", "test statistic", "prior", "dataset"} <= set(q)
                assert q["CL"] == "90%" and q["test statistic"].startswith(kind_)
                assert q["dataset"].startswith(rec["dataset"])
                assert ("flat_power" in q["prior"]) == (kind_ == "bayes")
                seen += 1
            elif name.startswith("Expected"):
                bands = (rec.get("expected") or {}).get(kind_)
                cell = var["values"][row]
                if bands is None:
                    assert cell["value"] == "-"
                    continue
                assert approx(cell["value"], bands["median"])
                errs = {e["label"]: e["asymerror"] for e in cell["errors"]}
                for label, lo, hi in (("1 sigma", "-1sigma", "+1sigma"), ("2 sigma", "-2sigma", "+2sigma")):
                    assert approx(cell["value"] + errs[label]["minus"], bands[lo])
                    assert approx(cell["value"] + errs[label]["plus"], bands[hi])
        if rec["interaction"] == "b_minus_l":
            mass = next(v for v in data["independent_variables"] if v["header"]["name"] == "Mediator mass")
            assert mass["header"]["units"] == "MeV" and approx(mass["values"][row]["value"], rec["mass_MeV"])
        assert "1234.5" not in json.dumps(data)  # the _scaled keys are never read
    assert seen == sum(len(r["limits"]) for r in doc["fits"])


def test_warnings_are_visible(exported):
    doc, _, out = exported["run"]
    _, tables = read_submission(out)
    mm_entry, mm = tables["Limits magnetic moment - xmass1"]
    assert "WARNINGS" in mm_entry["description"] and PRIOR_BOUND in mm_entry["description"]
    cols = {v["header"]["name"]: quals(v) for v in mm["dependent_variables"]}
    assert PRIOR_BOUND in cols["Upper limit on $|\\mu_{\\nu}|$ (bayes)"]["warnings"]
    assert "warnings" not in cols["Upper limit on $|\\mu_{\\nu}|$ (delta_chi2)"]
    mc_entry, mc = tables["Limits millicharge - xmass1"]
    assert "millicharge_tau_pos (delta_chi2): not finite" in mc_entry["description"]
    bl_entry, _ = tables["Limits B-L - xmass1"]
    assert "b_minus_l_M100MeV (fit): the best fit (profile likelihood) did not converge" in bl_entry["description"]
    curve_entry, curves = tables["B-L exclusion - xmass1"]
    assert "no finite limit at M = 100 MeV" in curve_entry["description"]
    assert "sampling diagnostics failed at M = 1 MeV" in curve_entry["description"]
    bayes = next(v for v in curves["dependent_variables"] if quals(v)["curve"] == "bayes")
    assert "diagnostics failed" in quals(bayes)["warnings"]


def test_millicharge_table_per_flavour_and_sign(exported):
    doc, _, out = exported["run"]
    _, tables = read_submission(out)
    entry, data = tables["Millicharge limits by flavour and sign - xmass1"]
    flavours = [v["value"] for v in data["independent_variables"][0]["values"]]
    assert flavours == ["common", "e", "mu", "tau"]
    cols = data["dependent_variables"]
    assert len(cols) == 4  # (bayes, delta_chi2) x (negative, positive)
    for rec in (r for r in doc["fits"] if r["interaction"] == "millicharge"):
        row = flavours.index(rec["flavours"])
        for kind, value in rec["limits"].items():
            var = next(
                v
                for v in cols
                if quals(v)["test statistic"].startswith(kind + ":")
                and quals(v)["sign"].startswith("negative" if rec["sign"] < 0 else "positive")
            )
            assert var["header"]["units"] == "e"
            cell = var["values"][row]["value"]
            assert cell == "-" if value is None else approx(cell, value)
    assert "tau" in entry["description"] and "millicharge_tau_pos" in entry["description"]


def test_exclusion_curves_with_expected_bands(exported):
    doc, _, out = exported["run"]
    _, tables = read_submission(out)
    _, data = tables["B-L exclusion - xmass1"]
    mass = data["independent_variables"][0]
    assert mass["header"] == {"name": "Mediator mass", "units": "MeV"}
    assert [v["value"] for v in mass["values"]] == [0.01, 1.0, 100.0]
    for curve in doc["exclusion_curves"]:
        vars_ = [v for v in data["dependent_variables"] if quals(v)["curve"] == curve["name"]]
        observed = next(v for v in vars_ if v["header"]["name"].startswith("Upper limit"))
        assert observed["header"]["units"] == "dimensionless"
        assert quals(observed)["test statistic"].startswith(curve["statistic"])
        for cell, value in zip(observed["values"], curve["limit"]):
            assert cell["value"] == "-" if value is None else approx(cell["value"], value)
        expected = [v for v in vars_ if v["header"]["name"].startswith("Expected")]
        assert len(expected) == (1 if "expected" in curve else 0)
        for var in expected:
            bands = curve["expected"]
            for i, cell in enumerate(var["values"]):
                assert approx(cell["value"], bands["median"][i])
                errs = {e["label"]: e["asymerror"] for e in cell["errors"]}
                assert approx(cell["value"] + errs["1 sigma"]["minus"], bands["-1sigma"][i])
                assert approx(cell["value"] + errs["1 sigma"]["plus"], bands["+1sigma"][i])
                assert approx(cell["value"] + errs["2 sigma"]["minus"], bands["-2sigma"][i])
                assert approx(cell["value"] + errs["2 sigma"]["plus"], bands["+2sigma"][i])


def test_provenance_and_resources(exported):
    for kind, (doc, _, out) in exported.items():
        head, tables = read_submission(out)
        assert any(r["location"] == "limits.json" for r in head["additional_resources"])
        assert "bayes_xmass 0.1.0" in head["comment"]
        for entry, _ in tables.values():
            text = entry["description"]
            for label, checksum in CHECKSUMS.items():
                assert (checksum in text) == (label in doc["provenance"]["datasets"])
            assert "seed 20240607" in text and f"command '{kind}'" in text and "numpy 2.1.0" in text
            assert {"name": "phrases", "values": entry["keywords"][0]["values"]} in entry["keywords"]


def test_global_tables_per_dataset(exported):
    _, _, out = exported["global"]
    _, tables = read_submission(out)
    for ds in ("xmass1", "xenonnt", "combined"):
        assert f"Limits magnetic moment - {ds}" in tables
        assert f"Millicharge limits by flavour and sign - {ds}" in tables
    _, combined = tables["Limits magnetic moment - combined"]
    assert all(quals(v)["dataset"] == "combined (xmass1, xenonnt)" for v in combined["dependent_variables"])
    assert "B-L exclusion - combined" in tables


def test_cli_overwrite_and_errors(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # relative paths: hepdata_lib works in another folder meanwhile
    write_run(tmp_path, results_doc("sample"))
    run_dir, out = Path("run"), Path("sub")
    argv = ["export", "hepdata", str(run_dir), "--out", str(out)]
    assert main(argv) == 0
    assert main(argv) == 2
    assert "refusing to overwrite" in capsys.readouterr().err
    assert main([*argv, "--overwrite"]) == 0
    capsys.readouterr()
    assert main(["export", "hepdata", str(tmp_path / "missing"), "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "limits.json" in err[0] and not (tmp_path / "x").exists()
    other = tmp_path / "other"
    other.mkdir()
    (other / "keep.txt").write_text("mine")
    assert main(["export", "hepdata", str(run_dir), "--out", str(other), "--overwrite"]) == 2
    assert [p.name for p in other.iterdir()] == ["keep.txt"]


def test_bad_inputs_are_one_line_errors(tmp_path):
    old = write_run(tmp_path, {"fits": [{"fit": "magnetic_moment", "limits": {"bayes": 7.8e-11}}]}, "old")
    with pytest.raises(InputError, match="schema"):
        export_hepdata(old, out=tmp_path / "a", log=lambda m: None)
    broken = results_doc("run")
    broken["fits"][0]["limits"]["bayes"] = "big"
    with pytest.raises(InputError, match="results schema"):
        export_hepdata(write_run(tmp_path, broken, "broken"), out=tmp_path / "b", log=lambda m: None)
    short = results_doc("run")
    short["exclusion_curves"][0]["expected"]["+2sigma"].pop()
    with pytest.raises(InputError, match=r"exclusion_curves/0/expected/\+2sigma"):
        export_hepdata(write_run(tmp_path, short, "short"), out=tmp_path / "c", log=lambda m: None)
    assert not any((tmp_path / n).exists() for n in "abc")
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_validation_failure_writes_nothing(tmp_path, monkeypatch):
    real = export_module.hepdata_tables

    def bad_tables(doc):
        tables = real(doc)
        tables[0].keywords["not_a_keyword"] = ["x"]
        return tables

    monkeypatch.setattr(export_module, "hepdata_tables", bad_tables)
    run_dir = write_run(tmp_path, results_doc("sample"))
    with pytest.raises(InputError, match="hepdata-validator") as err:
        export_hepdata(run_dir, out=tmp_path / "sub", log=lambda m: None)
    assert "\n" not in str(err.value) and "not_a_keyword" in str(err.value)
    assert not (tmp_path / "sub").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_missing_extra_names_the_install_command(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "hepdata_lib", None)
    with pytest.raises(InputError, match=r"pip install 'bayes_xmass\[export\]'"):
        export_hepdata(write_run(tmp_path, results_doc("sample")), out=tmp_path / "sub", log=lambda m: None)
