"""Tests for bayes_xmass.datasets (types, loader, checksum): valid loads, units, checksum, views and every invalid input."""

from __future__ import annotations

import json
import math
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from bayes_xmass.datasets.dataset_files import dataset_checksum
from bayes_xmass.datasets.loader import BUILTIN_BACKGROUNDS, load_dataset
from bayes_xmass.datasets.types import Dataset
from bayes_xmass.errors import InputError

# --------------------------------------------------------------------------------------------
# A small valid dataset, written programmatically; tests break one thing at a time.
# --------------------------------------------------------------------------------------------
COUNTS = [5, 7, 3, 0, 4, 6, 2, 8, 1, 9]  # 10 one-keV bins from 1 to 11 keV


def _toml_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(x)}" for k, x in v.items()) + " }"
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    raise TypeError(v)


def to_toml(doc: dict) -> str:
    """Minimal TOML writer: top-level scalars, [tables] of values, [[arrays of tables]]."""
    is_aot = lambda v: isinstance(v, list) and v and all(isinstance(x, dict) for x in v)  # noqa: E731
    lines = [f"{k} = {_toml_value(v)}" for k, v in doc.items() if not isinstance(v, dict) and not is_aot(v)]
    for k, v in doc.items():
        if isinstance(v, dict):
            lines.append(f"\n[{k}]")
            lines += [f"{kk} = {_toml_value(vv)}" for kk, vv in v.items()]
        elif is_aot(v):
            for entry in v:
                lines.append(f"\n[[{k}]]")
                lines += [f"{kk} = {_toml_value(vv)}" for kk, vv in entry.items()]
    return "\n".join(lines) + "\n"


def valid_doc() -> dict:
    return {
        "dataset": {"name": "toy", "description": "synthetic test data", "target": "Xe", "exposure_kg_day": 1000.0},
        "observed": {"file": "observed.csv"},
        "response": {
            "resolution": {"model": "a_sqrtE_plus_bE", "a": 0.31, "b": 0.0037},
            "efficiency": {"file": "efficiency.csv"},
            "threshold_keV": 1.0,
            "energy_scale": {"prior": {"kind": "normal", "mu": 1.0, "sigma": 0.0}},
        },
        "background": [
            {"name": "B0", "file": "b0.csv", "folded": True, "prior": {"kind": "normal", "mu": 1.0, "sigma": 0.05}},
            {
                "name": "kr85",
                "file": "kr85.csv",
                "folded": False,
                "rate_unit": "per_keV_tonne_year",
                "prior": {"kind": "truncated_normal", "mu": 1.0, "sigma": 0.2},
            },
            {"name": "solar_nu_sm", "builtin": "solar_nu_sm", "prior": {"kind": "normal", "mu": 1.0, "sigma": 0.1}},
        ],
    }


def valid_files() -> dict[str, str]:
    obs = "# toy observed spectrum\ne_low_keV, e_high_keV, counts\n"
    obs += "".join(f"{1 + i},{2 + i},{c}\n" for i, c in enumerate(COUNTS))
    eff = "energy_keV,efficiency\n" + "".join(f"{e},{min(1.0, 0.1 * e):.3f}\n" for e in range(0, 21))
    b0 = "# folded ER background\nenergy_keV,rate\n" + "".join(
        f"{0.5 * e},{1e-4 * (1 + 0.01 * e)}\n" for e in range(0, 41)
    )
    kr = "energy_keV,rate,rate_err\n\n" + "".join(f"{e},{365.25 * (2 + e)},{36.525}\n" for e in range(0, 31))
    return {"observed.csv": obs, "efficiency.csv": eff, "b0.csv": b0, "kr85.csv": kr}


def write_dataset(
    folder: Path, doc: dict | None = None, files: dict | None = None, toml_text: str | None = None
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "dataset.toml").write_text(toml_text if toml_text is not None else to_toml(doc or valid_doc()))
    for name, text in (files if files is not None else valid_files()).items():
        (folder / name).write_text(text)
    return folder


@pytest.fixture
def ds_folder(tmp_path) -> Path:
    return write_dataset(tmp_path / "toy")


@pytest.fixture
def ds(ds_folder) -> Dataset:
    return load_dataset(ds_folder)


# --------------------------------------------------------------------------------------------
# Valid loads
# --------------------------------------------------------------------------------------------
def test_valid_load_values(ds, ds_folder):
    assert ds.name == "toy" and ds.target == "Xe" and ds.description == "synthetic test data"
    assert ds.exposure_kg_day == 1000.0
    assert ds.exposure_tonne_year == pytest.approx(1000.0 / 365250.0)
    np.testing.assert_array_equal(ds.bin_edges_keV, np.arange(1.0, 12.0))
    assert ds.counts.dtype == np.int64
    np.testing.assert_array_equal(ds.counts, COUNTS)
    np.testing.assert_allclose(ds.bin_centers_keV, np.arange(1.5, 11.0))
    np.testing.assert_allclose(ds.bin_widths_keV, np.ones(10))
    assert ds.n_bins == 10
    assert ds.threshold_keV == 1.0
    assert ds.path == ds_folder.resolve() and ds.toml_path.name == "dataset.toml"
    assert ds.view_info is None
    assert ds.files == ("b0.csv", "efficiency.csv", "kr85.csv", "observed.csv")
    # response: sigma = a sqrt(E) + b E in keV; efficiency by linear interpolation
    np.testing.assert_allclose(ds.resolution.sigma([4.0, 9.0]), [0.31 * 2 + 0.0037 * 4, 0.31 * 3 + 0.0037 * 9])
    np.testing.assert_allclose(ds.efficiency([2.5, 5.0, 50.0, -1.0]), [0.25, 0.5, 1.0, 0.0])
    assert ds.energy_scale_prior.is_fixed and ds.energy_scale_prior.fixed_value() == 1.0
    # backgrounds
    assert ds.background_names == ("B0", "kr85", "solar_nu_sm")
    b0, kr, sun = ds.backgrounds
    assert (b0.source, kr.source, sun.source) == ("folded", "true", "builtin")
    assert b0.rate_err is None and b0.builtin is None
    np.testing.assert_allclose(b0.rate[:3], [1e-4, 1.01e-4, 1.02e-4])
    assert sun.builtin == "solar_nu_sm" and sun.energy_keV is None and sun.rate is None
    assert sun.builtin in BUILTIN_BACKGROUNDS
    assert b0.prior.params == {"mu": 1.0, "sigma": 0.05}
    assert ds.background("kr85") is kr
    # arrays are read-only (the dataclasses are frozen)
    with pytest.raises(ValueError):
        ds.counts[0] = 1


def test_rate_unit_tonne_year_is_converted(ds):
    kr = ds.background("kr85")
    # file: rate = 365.25 (2 + E) per keV t yr -> (2 + E) / 1000 per keV kg day
    np.testing.assert_allclose(kr.rate, (2.0 + kr.energy_keV) / 1000.0, rtol=1e-12)
    np.testing.assert_allclose(kr.rate_err, np.full(31, 0.1 / 1000.0), rtol=1e-12)


def test_exposure_tonne_year_is_converted(tmp_path):
    doc = valid_doc()
    del doc["dataset"]["exposure_kg_day"]
    doc["dataset"]["exposure_tonne_year"] = 0.6473
    ds = load_dataset(write_dataset(tmp_path, doc))
    assert ds.exposure_kg_day == pytest.approx(0.6473 * 1000.0 * 365.25, rel=1e-14)
    assert ds.exposure_tonne_year == pytest.approx(0.6473, rel=1e-14)


def test_load_from_toml_file_and_alternative_response(tmp_path):
    doc = valid_doc()
    doc["response"]["resolution"] = {"model": "table", "file": "sigma.csv"}
    doc["response"]["efficiency"] = {"constant": 0.9}
    del doc["response"]["threshold_keV"]
    files = valid_files()
    files["sigma.csv"] = "energy_keV,sigma_keV\r\n1.0,0.4\r\n# comment\r\n11.0,1.4\r\n"
    write_dataset(tmp_path, doc, files)
    ds = load_dataset(tmp_path / "dataset.toml")
    assert ds.threshold_keV == 0.0
    np.testing.assert_allclose(ds.resolution.sigma([0.0, 1.0, 6.0, 20.0]), [0.4, 0.4, 0.9, 1.4])
    np.testing.assert_allclose(ds.efficiency([1.0, 30.0]), [0.9, 0.9])
    assert "sigma.csv" in ds.files and "efficiency.csv" not in ds.files


def test_edges_within_tolerance_are_contiguous(tmp_path):
    files = valid_files()
    files["observed.csv"] = "e_low_keV,e_high_keV,counts\n1,2,3\n2.0000000000001,3,4\n"
    ds = load_dataset(write_dataset(tmp_path, files=files))
    np.testing.assert_array_equal(ds.counts, [3, 4])


def test_no_backgrounds_and_integral_float_counts(tmp_path):
    doc = valid_doc()
    del doc["background"]
    files = valid_files()
    files["observed.csv"] = "e_low_keV,e_high_keV,counts\n1,2,3.0\n2,3,1e1\n"
    ds = load_dataset(write_dataset(tmp_path, doc, files))
    assert ds.backgrounds == () and ds.counts.tolist() == [3, 10]


def test_summary_is_json(ds):
    s = ds.summary()
    text = json.dumps(s)
    assert s["checksum"] == ds.checksum and ds.checksum in text
    assert s["total_counts"] == sum(COUNTS) and s["n_bins"] == 10
    assert [b["name"] for b in s["backgrounds"]] == ["B0", "kr85", "solar_nu_sm"]
    assert s["exposure_kg_day"] == 1000.0 and s["view"] is None


# --------------------------------------------------------------------------------------------
# Checksum
# --------------------------------------------------------------------------------------------
def test_checksum_stable_under_copy_and_sensitive_to_bytes(ds, ds_folder, tmp_path):
    assert len(ds.checksum) == 64 and int(ds.checksum, 16) >= 0
    assert dataset_checksum(ds_folder) == ds.checksum
    assert dataset_checksum(ds_folder / "dataset.toml") == ds.checksum
    elsewhere = tmp_path / "somewhere" / "else"
    shutil.copytree(ds_folder, elsewhere)
    assert dataset_checksum(elsewhere) == ds.checksum
    assert load_dataset(elsewhere).checksum == ds.checksum
    # an unreferenced file does not matter
    (elsewhere / "notes.txt").write_text("hello")
    assert dataset_checksum(elsewhere) == ds.checksum
    # one changed byte in a referenced CSV does
    b0 = elsewhere / "b0.csv"
    data = bytearray(b0.read_bytes())
    i = data.rindex(b"1")
    data[i : i + 1] = b"2"
    b0.write_bytes(bytes(data))
    assert dataset_checksum(elsewhere) != ds.checksum
    assert load_dataset(elsewhere).checksum == dataset_checksum(elsewhere)


def test_checksum_missing_file_is_input_error(ds_folder):
    (ds_folder / "kr85.csv").unlink()
    with pytest.raises(InputError, match=r"background\[kr85\]\.file.*kr85\.csv"):
        dataset_checksum(ds_folder)


# --------------------------------------------------------------------------------------------
# Views
# --------------------------------------------------------------------------------------------
def test_view_window_and_merge_sum_counts_exactly(ds):
    v = ds.view(window=(3.0, 9.0), merge=2)
    np.testing.assert_array_equal(v.bin_edges_keV, [3.0, 5.0, 7.0, 9.0])
    assert v.counts.dtype == np.int64
    c = COUNTS
    assert v.counts.tolist() == [c[2] + c[3], c[4] + c[5], c[6] + c[7]]
    assert v.checksum == ds.checksum
    assert v.view_info == {"window_keV": [3.0, 9.0], "merge": 2, "n_bins": 3, "parent_view": None}
    assert v.backgrounds is ds.backgrounds and v.resolution is ds.resolution
    assert ds.n_bins == 10  # parent untouched
    # view of a view records its parent; a full-range view with merge=5
    w = v.view(window=(5.0, 9.0))
    assert w.counts.tolist() == v.counts.tolist()[1:] and w.view_info["parent_view"] == v.view_info
    full = ds.view(merge=5)
    assert full.counts.tolist() == [sum(c[:5]), sum(c[5:])]
    assert json.dumps(w.summary())


@pytest.mark.parametrize(
    "kwargs,field,text",
    [
        ({"window": (3.5, 9.0)}, "window", "3.5 keV is not a bin edge"),
        ({"window": (3.0, 11.5)}, "window", "not a bin edge"),
        ({"window": (9.0, 3.0)}, "window", "lo < hi"),
        ({"window": (3.0,)}, "window", "pair"),
        ({"window": (3.0, 8.0), "merge": 2}, "merge", "not divisible by merge = 2"),
        ({"merge": 0}, "merge", "positive integer"),
        ({"merge": 1.5}, "merge", "positive integer"),
    ],
)
def test_view_errors(ds, kwargs, field, text):
    with pytest.raises(InputError) as info:
        ds.view(**kwargs)
    msg = str(info.value)
    assert "dataset.toml" in msg and f": {field}: " in msg and text in msg and "\n" not in msg


# --------------------------------------------------------------------------------------------
# Invalid inputs: each case breaks one thing of the valid dataset.
# --------------------------------------------------------------------------------------------
def _set(path, value):
    """Mutation: set doc[path...] = value (path through dicts and list indices)."""

    def mutate(doc, files):
        node = doc
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value

    return mutate


def _del(path):
    def mutate(doc, files):
        node = doc
        for key in path[:-1]:
            node = node[key]
        del node[path[-1]]

    return mutate


def _file(name, text):
    def mutate(doc, files):
        files[name] = text

    return mutate


def _both(*mutations):
    def mutate(doc, files):
        for m in mutations:
            m(doc, files)

    return mutate


OBS_HDR = "e_low_keV,e_high_keV,counts\n"
OBS_OK = OBS_HDR + "1,2,5\n2,3,7\n3,4,3\n"
BKG = ("background", 0)
ES_PRIOR = ("response", "energy_scale", "prior")

# (id, mutation, file name expected in the message, field expected in the message, extra text)
BAD_CASES = [
    # (1) unknown keys in every kind of table
    ("unknown-top", _set(("extra",), 1), "dataset.toml", "extra", "unknown key 'extra'"),
    ("unknown-dataset", _set(("dataset", "foo"), 1), "dataset.toml", "dataset.foo", "unknown key"),
    ("unknown-observed", _set(("observed", "columns"), "x"), "dataset.toml", "observed.columns", "unknown key"),
    ("unknown-response", _set(("response", "smearing"), 1.0), "dataset.toml", "response.smearing", "unknown key"),
    (
        "unknown-resolution",
        _set(("response", "resolution", "c"), 1.0),
        "dataset.toml",
        "response.resolution.c",
        "unknown key",
    ),
    (
        "unknown-efficiency",
        _set(("response", "efficiency", "scale"), 1.0),
        "dataset.toml",
        "response.efficiency.scale",
        "unknown key",
    ),
    (
        "unknown-energy-scale",
        _set(("response", "energy_scale", "width"), 1.0),
        "dataset.toml",
        "response.energy_scale.width",
        "unknown key",
    ),
    ("unknown-background", _set(BKG + ("norm",), 1.0), "dataset.toml", "background[B0].norm", "unknown key"),
    (
        "unknown-builtin-key",
        _set(("background", 2, "folded"), True),
        "dataset.toml",
        "background[solar_nu_sm].folded",
        "unknown key",
    ),
    (
        "unknown-prior-param",
        _set(BKG + ("prior", "tau"), 1.0),
        "dataset.toml",
        "background[B0].prior.tau",
        "unknown parameter",
    ),
    # (2) missing required keys
    ("missing-name", _del(("dataset", "name")), "dataset.toml", "dataset.name", "missing required key"),
    ("missing-description", _del(("dataset", "description")), "dataset.toml", "dataset.description", "missing"),
    ("missing-observed", _del(("observed",)), "dataset.toml", "observed", "missing required key"),
    ("missing-observed-file", _del(("observed", "file")), "dataset.toml", "observed.file", "missing"),
    ("missing-energy-scale", _del(("response", "energy_scale")), "dataset.toml", "response.energy_scale", "missing"),
    ("missing-resolution-b", _del(("response", "resolution", "b")), "dataset.toml", "response.resolution.b", "missing"),
    ("missing-bkg-prior", _del(BKG + ("prior",)), "dataset.toml", "background[B0].prior", "missing"),
    ("missing-bkg-folded", _del(BKG + ("folded",)), "dataset.toml", "background[B0].folded", "missing"),
    ("missing-bkg-name", _del(BKG + ("name",)), "dataset.toml", "background[0].name", "missing"),
    ("missing-prior-param", _del(BKG + ("prior", "sigma")), "dataset.toml", "background[B0].prior.sigma", "missing"),
    # (3) missing referenced files
    ("missing-observed-csv", _set(("observed", "file"), "nope.csv"), "nope.csv", "observed.file", "not found"),
    (
        "missing-efficiency-csv",
        _set(("response", "efficiency", "file"), "eff2.csv"),
        "eff2.csv",
        "response.efficiency.file",
        "not found",
    ),
    ("missing-bkg-csv", _set(BKG + ("file",), "b1.csv"), "b1.csv", "background[B0].file", "not found"),
    # (4) non-integer counts, (5) negative counts
    ("non-integer-counts", _file("observed.csv", OBS_OK + "4,5,3.5\n"), "observed.csv", "counts", "line 5"),
    ("huge-counts", _file("observed.csv", OBS_OK + "4,5,1e30\n"), "observed.csv", "counts", "too large"),
    ("negative-counts", _file("observed.csv", OBS_OK + "4,5,-2\n"), "observed.csv", "counts", ">= 0"),
    # (6) NaN / inf in numeric columns (CSV and TOML)
    ("nan-counts", _file("observed.csv", OBS_OK + "4,5,nan\n"), "observed.csv", "counts", "non-finite"),
    ("inf-edge", _file("observed.csv", OBS_OK + "4,inf,1\n"), "observed.csv", "e_high_keV", "non-finite"),
    (
        "nan-efficiency",
        _file("efficiency.csv", "energy_keV,efficiency\n0,0.1\n5,NaN\n20,1\n"),
        "efficiency.csv",
        "efficiency",
        "non-finite",
    ),
    ("inf-rate", _file("b0.csv", "energy_keV,rate\n0,1\n10,-inf\n20,1\n"), "b0.csv", "rate", "non-finite"),
    (
        "nan-rate-err",
        _file("kr85.csv", "energy_keV,rate,rate_err\n0,1,nan\n30,1,1\n"),
        "kr85.csv",
        "rate_err",
        "non-finite",
    ),
    (
        "nan-exposure",
        _set(("dataset", "exposure_kg_day"), math.nan),
        "dataset.toml",
        "dataset.exposure_kg_day",
        "finite",
    ),
    (
        "inf-resolution",
        _set(("response", "resolution", "a"), math.inf),
        "dataset.toml",
        "response.resolution.a",
        "finite",
    ),
    # (7) unsorted, (8) overlapping, (9) gapped bins, (10) e_high <= e_low
    ("unsorted-bins", _file("observed.csv", OBS_HDR + "2,3,1\n1,2,1\n"), "observed.csv", "e_low_keV", "not sorted"),
    ("overlapping-bins", _file("observed.csv", OBS_HDR + "1,2,1\n1.5,3,1\n"), "observed.csv", "e_low_keV", "overlaps"),
    ("gapped-bins", _file("observed.csv", OBS_HDR + "1,2,1\n2.001,3,1\n"), "observed.csv", "e_low_keV", "gap"),
    ("empty-bin", _file("observed.csv", OBS_HDR + "1,2,1\n2,2,1\n"), "observed.csv", "e_high_keV", "must be >"),
    ("reversed-bin", _file("observed.csv", OBS_HDR + "3,2,1\n"), "observed.csv", "e_high_keV", "must be >"),
    # (11) efficiency outside [0, 1]
    (
        "efficiency-above-1",
        _file("efficiency.csv", "energy_keV,efficiency\n0,0.5\n20,1.2\n"),
        "efficiency.csv",
        "efficiency",
        "[0, 1]",
    ),
    (
        "efficiency-negative",
        _file("efficiency.csv", "energy_keV,efficiency\n0,-0.1\n20,1\n"),
        "efficiency.csv",
        "efficiency",
        "[0, 1]",
    ),
    (
        "efficiency-constant",
        _set(("response", "efficiency"), {"constant": 1.5}),
        "dataset.toml",
        "response.efficiency.constant",
        "<= 1",
    ),
    (
        "efficiency-file-and-constant",
        _set(("response", "efficiency", "constant"), 0.5),
        "dataset.toml",
        "response.efficiency",
        "exactly one",
    ),
    # (12) exposure
    ("zero-exposure", _set(("dataset", "exposure_kg_day"), 0.0), "dataset.toml", "dataset.exposure_kg_day", "> 0"),
    ("negative-exposure", _set(("dataset", "exposure_kg_day"), -5), "dataset.toml", "dataset.exposure_kg_day", "> 0"),
    (
        "negative-exposure-ty",
        _both(_del(("dataset", "exposure_kg_day")), _set(("dataset", "exposure_tonne_year"), -1.0)),
        "dataset.toml",
        "dataset.exposure_tonne_year",
        "> 0",
    ),
    ("both-exposures", _set(("dataset", "exposure_tonne_year"), 1.0), "dataset.toml", "exposure", "not both"),
    ("no-exposure", _del(("dataset", "exposure_kg_day")), "dataset.toml", "dataset.exposure", "exactly one"),
    # (13) mismatched CSV columns
    (
        "observed-columns",
        _file("observed.csv", "e_lo,e_high_keV,counts\n1,2,3\n"),
        "observed.csv",
        "header",
        "expected columns e_low_keV,e_high_keV,counts, found e_lo,e_high_keV,counts",
    ),
    ("bkg-column-order", _file("b0.csv", "rate,energy_keV\n1,0\n1,20\n"), "b0.csv", "header", "found rate,energy_keV"),
    (
        "efficiency-extra-column",
        _file("efficiency.csv", "energy_keV,efficiency,x\n0,1,1\n20,1,1\n"),
        "efficiency.csv",
        "header",
        "expected columns energy_keV,efficiency",
    ),
    ("no-header", _file("observed.csv", "# only a comment\n"), "observed.csv", "header", "no header"),
    # (14) unknown prior kind, (15) negative prior width
    (
        "unknown-prior-kind",
        _set(BKG + ("prior", "kind"), "gaussian"),
        "dataset.toml",
        "background[B0].prior.kind",
        "allowed kinds",
    ),
    (
        "unknown-es-prior-kind",
        _set(ES_PRIOR + ("kind",), "flat"),
        "dataset.toml",
        "response.energy_scale.prior.kind",
        "allowed kinds",
    ),
    (
        "negative-prior-width",
        _set(BKG + ("prior", "sigma"), -0.05),
        "dataset.toml",
        "background[B0].prior.sigma",
        "negative width",
    ),
    (
        "negative-es-width",
        _set(ES_PRIOR + ("sigma",), -0.1),
        "dataset.toml",
        "response.energy_scale.prior.sigma",
        "negative width",
    ),
    # (16) duplicate background names
    ("duplicate-names", _set(("background", 1, "name"), "B0"), "dataset.toml", "background[B0].name", "duplicate"),
    # (17) empty observed table
    (
        "empty-observed",
        _file("observed.csv", "# nothing\ne_low_keV,e_high_keV,counts\n\n"),
        "observed.csv",
        "rows",
        "empty",
    ),
    # (18) folded template not covering the observed bins
    (
        "template-range-high",
        _file("b0.csv", "energy_keV,rate\n0,1\n10.4,1\n"),  # 10.5, the last bin's centre, would do
        "dataset.toml",
        "background[B0].file",
        "energy window outside template range",
    ),
    (
        "template-range-low",
        _file("b0.csv", "energy_keV,rate\n1.6,1\n20,1\n"),  # 1.5, the first bin's centre, would do
        "dataset.toml",
        "background[B0].file",
        "energy window outside template range",
    ),
    # (19) non-numeric values, truncated rows
    ("non-numeric", _file("observed.csv", OBS_OK + "4,5,abc\n"), "observed.csv", "counts", "'abc' is not a number"),
    (
        "empty-field",
        _file("efficiency.csv", "energy_keV,efficiency\n0,\n20,1\n"),
        "efficiency.csv",
        "efficiency",
        "not a number",
    ),
    ("truncated-row", _file("observed.csv", OBS_OK + "4,5\n"), "observed.csv", "rows", "expected 3"),
    ("extra-field", _file("b0.csv", "energy_keV,rate\n0,1,2\n20,1\n"), "b0.csv", "rows", "expected 2"),
    # (21) negative background rate and template error
    ("negative-rate", _file("b0.csv", "energy_keV,rate\n0,1\n10,-1e-5\n20,1\n"), "b0.csv", "rate", ">= 0"),
    (
        "negative-rate-err",
        _file("kr85.csv", "energy_keV,rate,rate_err\n0,1,1\n30,1,-1\n"),
        "kr85.csv",
        "rate_err",
        ">= 0",
    ),
    # (22) unknown builtin, (23) file and builtin both / neither
    (
        "unknown-builtin",
        _set(("background", 2, "builtin"), "solar_nu_bsm"),
        "dataset.toml",
        "background[solar_nu_sm].builtin",
        "unknown builtin",
    ),
    ("file-and-builtin", _set(BKG + ("builtin",), "solar_nu_sm"), "dataset.toml", "background[B0]", "not both"),
    ("neither-file-nor-builtin", _del(BKG + ("file",)), "dataset.toml", "background[B0]", "exactly one"),
    # (24) wrong types
    (
        "exposure-string",
        _set(("dataset", "exposure_kg_day"), "abc"),
        "dataset.toml",
        "dataset.exposure_kg_day",
        "must be a number",
    ),
    ("folded-string", _set(BKG + ("folded",), "yes"), "dataset.toml", "background[B0].folded", "boolean"),
    ("name-int", _set(("dataset", "name"), 5), "dataset.toml", "dataset.name", "must be a string"),
    ("file-int", _set(("observed", "file"), 3), "dataset.toml", "observed.file", "must be a string"),
    (
        "threshold-string",
        _set(("response", "threshold_keV"), "1 keV"),
        "dataset.toml",
        "response.threshold_keV",
        "must be a number",
    ),
    ("observed-not-table", _set(("observed",), "observed.csv"), "dataset.toml", "observed", "must be a table"),
    ("prior-not-table", _set(BKG + ("prior",), 1.0), "dataset.toml", "background[B0].prior", "inline table"),
    ("background-not-array", _set(("background",), {"name": "x"}), "dataset.toml", "background", "array of tables"),
    (
        "rate-unit-unknown",
        _set(BKG + ("rate_unit",), "per_kg"),
        "dataset.toml",
        "background[B0].rate_unit",
        "unknown rate unit",
    ),
    ("target-unknown", _set(("dataset", "target"), "Ar"), "dataset.toml", "dataset.target", "unknown target"),
    ("threshold-negative", _set(("response", "threshold_keV"), -1.0), "dataset.toml", "response.threshold_keV", ">= 0"),
    # (25) resolution model / parameters
    (
        "unknown-resolution-model",
        _set(("response", "resolution", "model"), "gauss"),
        "dataset.toml",
        "response.resolution.model",
        "unknown resolution model",
    ),
    (
        "negative-resolution-a",
        _set(("response", "resolution", "a"), -0.31),
        "dataset.toml",
        "response.resolution.a",
        ">= 0",
    ),
    (
        "negative-resolution-b",
        _set(("response", "resolution", "b"), -0.1),
        "dataset.toml",
        "response.resolution.b",
        ">= 0",
    ),
    (
        "zero-resolution",
        _both(_set(("response", "resolution", "a"), 0.0), _set(("response", "resolution", "b"), 0.0)),
        "dataset.toml",
        "response.resolution.a",
        "both be 0",
    ),
    (
        "negative-sigma-table",
        _both(
            _set(("response", "resolution"), {"model": "table", "file": "s.csv"}),
            _file("s.csv", "energy_keV,sigma_keV\n0,0.3\n20,-1\n"),
        ),
        "s.csv",
        "sigma_keV",
        "> 0",
    ),
    (
        "table-model-with-a",
        _set(("response", "resolution"), {"model": "table", "file": "s.csv", "a": 1.0}),
        "dataset.toml",
        "response.resolution.a",
        "unknown key",
    ),
    # (26) energy column not strictly increasing
    (
        "bkg-energy-decreasing",
        _file("b0.csv", "energy_keV,rate\n0,1\n12,1\n11,1\n20,1\n"),
        "b0.csv",
        "energy_keV",
        "strictly increasing",
    ),
    (
        "bkg-energy-repeated",
        _file("kr85.csv", "energy_keV,rate,rate_err\n0,1,0\n5,1,0\n5,1,0\n"),
        "kr85.csv",
        "energy_keV",
        "strictly increasing",
    ),
    (
        "efficiency-energy-decreasing",
        _file("efficiency.csv", "energy_keV,efficiency\n0,0\n20,1\n10,1\n"),
        "efficiency.csv",
        "energy_keV",
        "strictly increasing",
    ),
    (
        "efficiency-one-row",
        _file("efficiency.csv", "energy_keV,efficiency\n0,1\n"),
        "efficiency.csv",
        "rows",
        "at least 2",
    ),
    ("bkg-negative-energy", _file("b0.csv", "energy_keV,rate\n-1,1\n20,1\n"), "b0.csv", "energy_keV", "negative"),
]


@pytest.mark.parametrize("mutate,fname,field,text", [c[1:] for c in BAD_CASES], ids=[c[0] for c in BAD_CASES])
def test_invalid_dataset(tmp_path, mutate, fname, field, text):
    doc, files = valid_doc(), valid_files()
    mutate(doc, files)
    folder = write_dataset(tmp_path / "ds", doc, files)
    with pytest.raises(InputError) as info:
        load_dataset(folder)
    msg = str(info.value)
    assert "\n" not in msg
    assert fname in msg, msg
    assert field in info.value.field, msg
    assert field in msg and text in msg, msg


def test_case_ids_unique():
    ids = [c[0] for c in BAD_CASES]
    assert len(ids) == len(set(ids))


def test_toml_syntax_error(tmp_path):
    write_dataset(tmp_path, toml_text='[dataset]\nname = "x"\nexposure_kg_day = = 3\n')
    with pytest.raises(InputError) as info:
        load_dataset(tmp_path)
    msg = str(info.value)
    assert "\n" not in msg
    assert "dataset.toml" in msg and "toml syntax" in msg and "line 3" in msg


def test_observed_file_is_directory(tmp_path):
    files = valid_files()
    del files["observed.csv"]
    write_dataset(tmp_path, files=files)
    (tmp_path / "observed.csv").mkdir()
    with pytest.raises(InputError) as info:
        load_dataset(tmp_path)
    msg = str(info.value)
    assert "dataset.toml" in msg and "observed.file" in msg and "observed.csv" in msg and "directory" in msg


def test_observed_file_unreadable(tmp_path):
    write_dataset(tmp_path)
    obs = tmp_path / "observed.csv"
    obs.chmod(0)
    try:
        try:
            obs.read_bytes()
        except PermissionError:
            pass
        else:
            pytest.skip("running with privileges that ignore file permissions (e.g. root)")
        with pytest.raises(InputError) as info:
            load_dataset(tmp_path)
        msg = str(info.value)
        assert "observed.file" in msg and "observed.csv" in msg and "cannot read" in msg
    finally:
        obs.chmod(0o644)


def test_not_utf8_csv(tmp_path):
    write_dataset(tmp_path)
    (tmp_path / "observed.csv").write_bytes(b"e_low_keV,e_high_keV,counts\n1,2,\xff\n")
    with pytest.raises(InputError, match=r"observed\.csv: observed\.file: not UTF-8"):
        load_dataset(tmp_path)


def test_missing_dataset_and_toml(tmp_path):
    with pytest.raises(InputError, match="dataset.toml"):
        load_dataset(tmp_path)  # folder without dataset.toml
    with pytest.raises(InputError, match="not found"):
        load_dataset(tmp_path / "nope")


def test_errors_never_traceback_for_random_csv_garbage(tmp_path):
    """Random text in a CSV gives a one-line InputError (or loads), never another exception."""
    rng = np.random.default_rng(7)
    alphabet = list("0123456789,.-e\n#naif ") + ["inf", "nan", "e_low_keV,e_high_keV,counts\n"]
    n_errors = 0
    for k in range(40):
        text = "".join(rng.choice(alphabet, size=int(rng.integers(0, 40))))
        folder = write_dataset(tmp_path / f"g{k}")
        (folder / "observed.csv").write_text(text)
        try:
            load_dataset(folder)
        except InputError as err:
            n_errors += 1
            assert "\n" not in str(err) and "observed.csv" in str(err)
    assert n_errors > 30


def test_errors_name_absolute_dataset_path(tmp_path):
    doc = valid_doc()
    doc["dataset"]["foo"] = 1
    write_dataset(tmp_path / "d", doc)
    with pytest.raises(InputError) as info:
        load_dataset(tmp_path / "d")
    assert str(info.value).startswith(str((tmp_path / "d" / "dataset.toml").resolve()) + ": dataset.foo: ")
    assert os.path.isabs(info.value.source) and info.value.field == "dataset.foo"


def test_observed_file_read_error_is_input_error(tmp_path, monkeypatch):
    """An OS-level read failure (simulated, so it also runs as root) is reported, not raised."""
    write_dataset(tmp_path)
    real = Path.read_bytes

    def failing(self):
        if self.name == "observed.csv":
            raise PermissionError(13, "Permission denied")
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", failing)
    with pytest.raises(InputError) as info:
        load_dataset(tmp_path)
    msg = str(info.value)
    assert "dataset.toml: observed.file: cannot read referenced file 'observed.csv': Permission denied" in msg
