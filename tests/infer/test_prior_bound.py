"""A credible limit set by the POI prior's upper bound fails the diagnostics (exit 3 unless
--allow-bad-diagnostics) and is marked in the comparison tables and summary.md."""

from __future__ import annotations

import json

import numpy as np
import pytest
from arviz_base import from_dict

from bayes_xmass.cli.main import main
from bayes_xmass.infer.posterior_summary import PRIOR_BOUND_MAX, credible_limit, diagnostics
from bayes_xmass.model.poi_prior import PoiPrior
from bayes_xmass.model.targets import FitTarget
from bayes_xmass.outputs.compare import (
    PRIOR_BOUND_FOOTNOTE,
    PRIOR_BOUND_MARK,
    comparison_row,
    csv_text,
    markdown_table,
    terminal_table,
)
from bayes_xmass.outputs.report import markdown_section

UPPER = 2.0  # POI prior upper bound, units of the coupling scale
SCALE = 1e-10


def _posterior(reach: float, seed: int = 4):
    """A well-mixed posterior (4 chains x 1000 independent draws) flat in x^2 on [0, reach * UPPER] under a
    flat_power prior on [0, UPPER]: reach 1 = the data do not constrain x below the prior's bound."""
    rng = np.random.default_rng(seed)
    x = reach * UPPER * np.sqrt(rng.uniform(size=(4, 1000)))
    stats = {"diverging": np.zeros((4, 1000), bool), "energy": rng.normal(size=(4, 1000))}
    dt = from_dict({"posterior": {"x": x, "norm_a": rng.normal(size=(4, 1000))}, "sample_stats": stats})
    dt.attrs.update(
        coupling_scale=SCALE,
        coupling_unit="mu_B",
        poi="mu_nu",
        poi_prior=json.dumps(PoiPrior("flat_power", UPPER, 2.0).describe(SCALE)),
        model_config=json.dumps({"cl": 0.9}),
    )
    return dt


def _record(dt) -> dict:
    lim, diag = credible_limit(dt, 0.9), diagnostics(dt)
    return {
        "fit": "magnetic_moment",
        "interaction": "magnetic_moment",
        "sign": 1,
        "coupling_scale": SCALE,
        "bayes": lim,
        "diagnostics": diag.as_dict(),
        "poi_prior": json.loads(dt.attrs["poi_prior"]),
        "frequentist": {"limit_xmass_scaled": 1.0},
    }


def test_limit_at_the_prior_bound_fails_diagnostics():
    dt = _posterior(1.0)
    lim, diag = credible_limit(dt, 0.9), diagnostics(dt)
    assert "warning" in lim
    assert diag.prior_bound_fraction == pytest.approx(np.sqrt(0.9), abs=0.02)  # the 90% quantile of x / upper
    assert not diag.sampling_failures  # the sampling is fine: more draws would not help
    assert not diag.ok
    (failure,) = diag.failures
    assert "credible limit at 95% of the POI prior's upper bound" in failure
    assert "the prior range, not the data, sets it; widen the prior (--prior-upper)" in failure
    assert diag.as_dict()["thresholds"]["prior_bound_fraction"] == PRIOR_BOUND_MAX
    assert diagnostics(dt, cl=0.5).ok  # the median is at 71% of the bound: not set by the prior

    inside = _posterior(0.5)
    assert diagnostics(inside).ok and "warning" not in credible_limit(inside, 0.9)


def test_tables_mark_a_limit_set_by_the_prior(tmp_path):
    bound, inside = comparison_row(_record(_posterior(1.0))), comparison_row(_record(_posterior(0.5)))
    assert bound["bayes_prior_bound"] and not inside["bayes_prior_bound"]
    assert bound["diagnostics_ok"] is False and inside["diagnostics_ok"] is True
    for table in (terminal_table([bound, inside]), markdown_table([bound, inside])):
        assert table.count(PRIOR_BOUND_MARK) == 2  # the marked cell and the footnote
        assert f"{bound['bayes']:.3g} {PRIOR_BOUND_MARK}" in table
        assert table.rstrip().endswith(PRIOR_BOUND_FOOTNOTE)
    for table in (terminal_table([inside]), markdown_table([inside])):
        assert PRIOR_BOUND_MARK not in table
    assert "bayes_prior_bound" in csv_text([bound]).splitlines()[0]

    dt = _posterior(1.0)
    plots = {k: tmp_path / f"{k}.png" for k in ("poi", "ppc", "trace", "rank")}
    text = markdown_section(
        "magnetic_moment", credible_limit(dt, 0.9), diagnostics(dt), dict(dt.attrs), plots, tmp_path
    )
    assert f"mu_B** {PRIOR_BOUND_MARK}" in text and PRIOR_BOUND_FOOTNOTE in text and "FAILED" in text


def test_sample_and_compare_exit_3_on_a_prior_bound_limit(tmp_path, monkeypatch, capsys):
    """The commands gate on Diagnostics.ok: a limit set by the prior exits 3 unless --allow-bad-diagnostics."""
    from bayes_xmass.workflows import compare, fits

    dt = _posterior(1.0)
    result = fits.FitResult(
        FitTarget("magnetic_moment"), credible_limit(dt, 0.9), diagnostics(dt), tmp_path / "x.nc", {}, {}, 0.0
    )
    monkeypatch.setattr(fits, "run_sample", lambda *a, **k: (tmp_path, [result]))
    monkeypatch.setattr(compare, "run_compare", lambda *a, **k: [comparison_row(_record(dt))])
    for command in ("sample", "compare"):
        argv = [command, "magnetic-moment", "--out", str(tmp_path / command)]
        assert main(argv) == 3
        assert "diagnostics failed for magnetic_moment" in capsys.readouterr().err
        assert main(argv + ["--allow-bad-diagnostics"]) == 0
