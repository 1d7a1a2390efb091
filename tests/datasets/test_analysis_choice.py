"""A dataset's own [analysis] choices, the window extended to the data, and folded tables at bin centres."""

from __future__ import annotations

import numpy as np
import pytest

from bayes_xmass.datasets.loader import load_dataset
from bayes_xmass.errors import InputError
from bayes_xmass.model.analysis_choice import analysis_note, effective_analysis
from bayes_xmass.model.spec import model_spec_for
from bayes_xmass.model.targets import analysis_view
from bayes_xmass.physics.spectra import PhysicsConfig
from bayes_xmass.response.templates import build_templates
from tests.datasets.test_datasets import to_toml, valid_doc, valid_files, write_dataset


def _dataset(tmp_path, analysis=None, b0=None):
    doc, files = valid_doc(), valid_files()  # 10 one-keV bins, 1-11 keV
    if analysis is not None:
        doc["analysis"] = analysis
    if b0 is not None:
        files["b0.csv"] = b0
    return load_dataset(write_dataset(tmp_path / "ds", doc, files))


def test_table_at_bin_centres_covers_the_outer_half_bins(tmp_path):
    # a constant folded rate tabulated at the centres 1.5 ... 10.5 keV of 1-keV bins from 1 to 11 keV
    b0 = "energy_keV,rate\n" + "".join(f"{1.5 + i},2e-4\n" for i in range(10))
    ds = _dataset(tmp_path, b0=b0)
    tpl = build_templates(ds, "magnetic_moment", PhysicsConfig())
    i = ds.background_names.index("B0")
    expected = 2e-4 * ds.exposure_kg_day * np.diff(ds.bin_edges_keV)  # flat: the outer bins are whole
    np.testing.assert_allclose(tpl.backgrounds(1.0)[i], expected, rtol=1e-12)


def test_table_short_by_more_than_half_a_bin_is_refused(tmp_path):
    b0 = "energy_keV,rate\n" + "".join(f"{1.5 + i},2e-4\n" for i in range(9)) + "10.4,2e-4\n"
    with pytest.raises(InputError, match=r"background\[B0\]\.file: energy window outside template range"):
        _dataset(tmp_path, b0=b0)


def test_dataset_analysis_wins_over_the_model_and_loses_to_the_command_line(tmp_path):
    ds = _dataset(tmp_path, analysis={"window_keV": [2.0, 9.0], "bin_width_keV": 0.0})
    spec = model_spec_for("magnetic-moment")  # model: 2-200 keV, 2-keV bins
    choice = effective_analysis(spec, ds)
    assert choice.window_kev == (2.0, 9.0) and choice.bin_width_kev == 0.0
    assert (choice.window_source, choice.bin_width_source) == ("dataset", "dataset")
    assert analysis_view(spec, ds).n_bins == 7
    user = spec.with_overrides(window_kev=(3.0, 11.0), bin_width_kev=2.0)
    assert analysis_view(user, ds).bin_edges_keV.tolist() == [3.0, 5.0, 7.0, 9.0, 11.0]
    assert "command line" in analysis_note(user, ds)


def test_model_window_extends_down_to_the_data_threshold(tmp_path):
    ds = _dataset(tmp_path)  # data from 1 keV, no [analysis]; the model's window starts at 2 keV
    spec = model_spec_for("magnetic-moment")
    choice = effective_analysis(spec, ds)
    assert choice.window_kev == (1.0, 200.0) and "extended" in choice.window_source
    view = analysis_view(spec, ds)
    assert view.bin_edges_keV[0] == 1.0 and view.n_bins == 5  # 1-keV bins merged to 2 keV
    assert "1-200 keV" in analysis_note(spec, ds)


def test_benchmark_keeps_the_model_window():
    from bayes_xmass.datasets.loader import DEFAULT_DATASET

    ds = load_dataset(DEFAULT_DATASET)
    for name, window, merged in (("magnetic-moment", (2.0, 200.0), 99), ("millicharge", (2.0, 15.0), 26)):
        spec = model_spec_for(name)
        assert effective_analysis(spec, ds).window_kev == window
        assert analysis_view(spec, ds).n_bins == merged


@pytest.mark.parametrize(
    "analysis,text",
    [
        ({"window_keV": [5.0, 2.0]}, "need finite 0 <= lo < hi"),
        ({"window_keV": [30.0, 40.0]}, "does not overlap the data"),
        ({"window_keV": "1-30"}, "must be a pair"),
        ({"bin_width_keV": -1.0}, "bin_width_keV"),
        ({"binning": 1.0}, "unknown key"),
    ],
)
def test_bad_analysis_table_is_one_line(tmp_path, analysis, text):
    with pytest.raises(InputError, match="dataset.toml: analysis") as info:
        _dataset(tmp_path, analysis=analysis)
    assert text in str(info.value) and "\n" not in str(info.value)


def test_to_toml_writes_the_analysis_table():
    doc = valid_doc()
    doc["analysis"] = {"window_keV": [1.0, 30.0]}
    assert "[analysis]" in to_toml(doc)
