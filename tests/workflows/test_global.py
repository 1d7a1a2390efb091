"""``bayes-xmass global`` on two bundled public datasets (CI-sized), and the summed profile likelihood
of the B-L curve against the combined likelihood's own limit."""

from __future__ import annotations

import json
import pickle

import pytest

from bayes_xmass.cli.main import main
from bayes_xmass.errors import InputError
from bayes_xmass.infer.combined_profile import CombinedProfileLikelihood
from bayes_xmass.infer.frequentist import ProfileLikelihood
from bayes_xmass.infer.summed_profile import summed_upper_limit
from bayes_xmass.model.spec import model_spec_for
from bayes_xmass.model.targets import fit_targets
from bayes_xmass.outputs.results import schema_errors
from bayes_xmass.workflows.combine import plan_combination
from bayes_xmass.workflows.global_analysis import GlobalOptions, _spec, resolve_datasets, run_global

PAIR = ("xenonnt_sr0", "lz_ws2024")


def test_summed_profile_equals_the_combined_likelihood():
    spec = model_spec_for("magnetic-moment")
    (target,) = fit_targets(spec)
    datasets = [d for _, d in resolve_datasets(PAIR)]
    labels, tpls = plan_combination(spec, datasets, target)
    combined = CombinedProfileLikelihood(tpls, labels, sign=1, likelihood=spec.likelihood)
    expected = combined.upper_limit(spec.cl, "xmass", combined.best_fit())
    pls = [ProfileLikelihood(t, sign=1, likelihood=spec.likelihood) for t in tpls]
    _, limit = summed_upper_limit(pls, spec.cl, "xmass")
    assert limit == pytest.approx(expected, rel=2e-3)


def test_global_run_on_two_datasets(tmp_path, capsys):
    """Two interactions in two worker processes; the worker's combined limit is the one the combined
    likelihood gives in this process (the numbers do not depend on where a fit runs)."""
    out = tmp_path / "g"
    code = main(
        [
            "global",
            "--dataset",
            PAIR[0],
            "--dataset",
            PAIR[1],
            "--interaction",
            "magnetic-moment",
            "--interaction",
            "millicharge",
            "--processes",
            "2",
            "--quick",
            "--toys",
            "8",
            "--out",
            str(out),
            "--no-progress",
        ]
    )
    assert code == 0, capsys.readouterr().err
    res = json.loads((out / "limits.json").read_text())
    assert schema_errors(res) == [] and res["command"] == "global"
    labels = {f["fit"] for f in res["fits"]}
    assert {"combined:magnetic_moment", *(f"{lab}:magnetic_moment" for lab in PAIR)} <= labels
    combined = next(f for f in res["fits"] if f["fit"] == "combined:magnetic_moment")
    assert combined["expected"]["delta_chi2"]["n_toys"] == 8 and combined["dataset"] == "combined"
    t, *others = res["targets"]
    assert [o["fit"] for o in others] == ["millicharge_common_pos", "millicharge_common_neg"]
    assert res["provenance"]["processes"] == 2
    assert set(t["alone"]) == set(PAIR) and t["expected"]["n_toys"] == 8
    # the same toys fitted by each dataset alone: the combination is expected to be stronger than either
    expected_alone = [t["expected"]["alone"][lab]["delta_chi2_271"]["median"] for lab in PAIR]
    assert t["expected"]["delta_chi2_271"]["median"] < min(expected_alone)
    spec = model_spec_for("magnetic-moment")
    labels, tpls = plan_combination(spec, [d for _, d in resolve_datasets(PAIR)], fit_targets(spec)[0])
    here = CombinedProfileLikelihood(tpls, labels, sign=1, likelihood=spec.likelihood)
    limit = here.upper_limit(spec.cl, "xmass", here.best_fit()) * here.coupling_scale
    assert t["combined"]["delta_chi2_271"] == pytest.approx(limit, rel=1e-6)
    c = t["combined"]
    # the combination is at least as strong as the weaker dataset and near the stronger one
    singles = [r["delta_chi2_271"] for r in t["alone"].values()]
    assert c["delta_chi2_271"] < max(singles) and c["delta_chi2_271"] < 1.1 * min(singles)
    assert c["diagnostics_ok"] and 0.8 < c["bayes"] / c["delta_chi2_271"] < 1.4
    for name in (
        "summary.md",
        "report.html",
        "comparison.csv",
        "plots/global_magnetic_moment.png",
        "plots/global_millicharge_common_neg.png",
    ):
        assert (out / name).is_file(), name
    assert (out / "magnetic_moment" / "limits.json").is_file()  # each fit is a `combine` run directory
    assert "xenonnt_sr0" in (out / "summary.md").read_text()
    header = (out / "comparison.csv").read_text().splitlines()[0]
    assert header.startswith("fit,unit,dataset,bayes")


def test_bad_dataset_name_is_one_line_and_writes_nothing(tmp_path, capsys):
    code = main(["global", "--dataset", "no_such_experiment", "--dataset", PAIR[0], "--out", str(tmp_path / "g")])
    assert code == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1 and "no_such_experiment" in err[0]
    assert not (tmp_path / "g").exists()


def test_one_dataset_is_refused():
    with pytest.raises(InputError, match="at least two datasets"):
        run_global(GlobalOptions(datasets=(PAIR[0],)), out=None)  # type: ignore[arg-type]


def test_atomic_option_replaces_the_model_files_choice():
    assert _spec("millicharge", False).physics.atomic.name == "stepping+epa"  # the model file's default
    assert _spec("millicharge", False, "stepping").physics.atomic.name == "stepping"
    with pytest.raises(InputError, match="--atomic"):
        run_global(GlobalOptions(datasets=PAIR, atomic="rrpa_table"), out=None)  # type: ignore[arg-type]


def test_an_interaction_given_twice_is_refused():
    with pytest.raises(InputError, match="given twice"):
        run_global(
            GlobalOptions(datasets=PAIR, interactions=("millicharge", "millicharge")),
            out=None,  # type: ignore[arg-type]
        )


def test_input_error_crosses_process_boundaries():
    """Worker processes return errors pickled: an InputError arrives whole (one line, exit 2)."""
    err = pickle.loads(pickle.dumps(InputError("a.toml", "field", "bad value")))
    assert isinstance(err, InputError) and str(err) == "a.toml: field: bad value" and err.field == "field"
