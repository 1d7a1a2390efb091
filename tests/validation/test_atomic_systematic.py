"""The atomic-model systematic table of a run (validation/atomic_systematic.py), on the bundled benchmark.

Physics the table must respect (each a check that fails if a variant is mis-wired):
- magnetic moment: 54 free electrons scatter more than the stepping approximation's Z_eff(T) <= 54,
  so the free-electron limit is the stronger one; the EPA does not touch the magnetic moment;
- millicharge: the EPA adds to the photon-exchange rate at low T, so its limits are stronger than
  stepping's, and more so for a smaller neutrino-mass regulator (ln(E/m_nu) grows);
- an RRPA table of ratio 1 to free electrons is the free-electron model.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from bayes_xmass.datasets.loader import DEFAULT_DATASET, load_dataset
from bayes_xmass.errors import InputError
from bayes_xmass.infer.posterior_sampler import posterior_only
from bayes_xmass.infer.posterior_summary import credible_limit
from bayes_xmass.infer.toys import shared_profile_likelihood
from bayes_xmass.model.spec import SamplerSettings, model_spec_for
from bayes_xmass.model.targets import FitTarget, spec_in_template_unit, target_templates
from bayes_xmass.outputs.atomic_report import atomic_html, atomic_markdown
from bayes_xmass.physics.atomic import AtomicModel
from bayes_xmass.validation.atomic_systematic import EPA_M_NU_EV, atomic_model_systematic

SAMPLER = SamplerSettings("nutpie", 2, 300, 300, 0.95)
SEED = 2505


def _record(spec, dataset, target):
    """A minimal fit record as run_fit writes it (limits of the fit itself)."""
    tpl = target_templates(spec, dataset, target)
    tspec = spec_in_template_unit(spec, tpl, target.sign)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pl = shared_profile_likelihood(tpl, target.sign, spec.likelihood)
        pl.set_observed(tpl.observed)
        best = pl.best_fit()
        freq = {t: pl.upper_limit(spec.cl, t, best) for t in ("xmass", "one_sided")}
    dt = posterior_only(tpl, target, poi_prior=tspec.poi_prior, sampler=SAMPLER, likelihood=spec.likelihood, seed=SEED)
    return {
        "fit": target.label,
        "interaction": target.interaction,
        "sign": target.sign,
        "flavours": target.flavours,
        "mass_MeV": target.mass_mev,
        "coupling_scale": tpl.coupling_scale,
        "coupling_unit": "mu_B" if target.interaction == "magnetic_moment" else "e",
        "bayes": credible_limit(dt, spec.cl),
        "frequentist": {"limit_xmass_scaled": freq["xmass"], "limit_one_sided_scaled": freq["one_sided"]},
    }


@pytest.fixture(scope="module")
def dataset():
    return load_dataset(DEFAULT_DATASET)


def _rows(table):
    return {r["variant"]: r for r in table["rows"]}


def test_magnetic_moment_table(dataset, tmp_path):
    spec = model_spec_for("magnetic-moment")
    rec = _record(spec, dataset, FitTarget("magnetic_moment", 1))
    rrpa = tmp_path / "rrpa.csv"
    rrpa.write_text("energy_keV,ratio_to_free\n0.1,1.0\n500,1.0\n")
    table = atomic_model_systematic(
        spec, dataset, rec, sampler=SAMPLER, seed=SEED, rrpa=AtomicModel.from_rrpa_csv(rrpa)
    )
    rows = _rows(table)
    assert list(rows) == ["free electrons", "stepping", "stepping+EPA", "RRPA table (rrpa.csv)"]
    base = rows["stepping"]
    assert base["baseline"] and spec.physics.atomic.name == "stepping"
    # the baseline row is the fit itself, to the last digit
    assert base["bayes"] == rec["bayes"]["limit"]
    assert base["delta_chi2"] == rec["frequentist"]["limit_xmass_scaled"] * rec["coupling_scale"]
    assert base["ratio_bayes"] == 1.0 and base["ratio_delta_chi2"] == 1.0
    free = rows["free electrons"]
    assert free["delta_chi2"] < base["delta_chi2"] and free["one_sided"] < base["one_sided"]
    # the free/stepping difference of mu_nu is a few % (binding matters below ~35 keV only): the
    # Bayesian limits of 2 x 300 draws (MCSE ~3%) agree to within their noise
    assert free["bayes"] == pytest.approx(base["bayes"], rel=0.15) and free["rhat_poi"] < 1.05
    assert rows["stepping+EPA"]["delta_chi2"] == base["delta_chi2"] and "same" in rows["stepping+EPA"]["method"]
    # a ratio-1 RRPA table is the free-electron model
    assert rows["RRPA table (rrpa.csv)"]["delta_chi2"] == pytest.approx(free["delta_chi2"], rel=1e-6)
    md, page = atomic_markdown(table), atomic_html([table])
    assert "| stepping — baseline |" in md and "free electrons" in page


def test_millicharge_table_epa_regulator(dataset):
    spec = model_spec_for("millicharge")
    rec = _record(spec, dataset, FitTarget("millicharge", -1, "common"))
    table = atomic_model_systematic(spec, dataset, rec, sampler=SAMPLER, seed=SEED)
    rows = _rows(table)
    epa = [rows[f"stepping+EPA (m_nu = {m:g} eV)"] for m in EPA_M_NU_EV]
    assert EPA_M_NU_EV == (0.05, 0.1, 0.45)
    assert sum(r.get("baseline", False) for r in table["rows"]) == 1
    # EPA adds rate: stronger limits than stepping, strongest for the smallest regulator
    assert epa[0]["delta_chi2"] < epa[1]["delta_chi2"] < epa[2]["delta_chi2"] < rows["stepping"]["delta_chi2"]
    assert epa[2]["bayes"] < rows["stepping"]["bayes"]
    assert all(np.isfinite(r["bayes"]) and r["bayes"] > 0 for r in table["rows"])


def test_bad_rrpa_table_is_a_one_line_error(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("energy_keV,ratio_to_free\n1.0,0.5\n0.5,0.7\n")
    with pytest.raises(InputError, match="bad.csv.*energy_keV"):
        AtomicModel.from_rrpa_csv(bad)
