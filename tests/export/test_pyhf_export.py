"""``bayes-xmass export pyhf``: the workspace reproduces our likelihood and our asymptotic CLs limit.

"Same likelihood" is the configuration in which the mapping is exact (docs/export-pyhf.md): the
energy scale fixed by the dataset (HistFactory has no horizontal morphing). There pyhf's q~ at our
limit must equal ours and pyhf's CLs limit (``upper_limit``, q~, level 0.1) must be within 1% of
ours. The two asymptotic CLs computations differ in one convention, not in the likelihood: pyhf's
Asimov data set also moves the auxiliary data (constraint centres) to the nuisances fitted at
mu = 0, ours keeps them at the priors' centres. That matters when the observed data pull the
nuisances (measured: 0.6-0.8% on the bundled benchmark, 0.4-8% on Poisson draws of a toy like
this one; docs/export-pyhf.md), so the toy's counts are its rounded background expectation at the
constraints' peaks, where both conventions give the same Asimov data. With the energy scale free
(histosys) the difference is measured and only bounded loosely. Fits run on a 12-bin toy so that
the file stays under a minute; the bundled benchmark goes through the CLI without fits.
"""

from __future__ import annotations

import dataclasses
import json
import math
import sys

import numpy as np
import pytest
from conftest import REPO_ROOT, write_toy_dataset

from bayes_xmass.cli.main import main
from bayes_xmass.datasets.loader import load_dataset
from bayes_xmass.infer.frequentist import ProfileLikelihood, cls_upper_limit
from bayes_xmass.model.targets import fit_targets, target_templates
from bayes_xmass.outputs.pyhf_workspace import pyhf_workspace
from bayes_xmass.response.detector import MorphingTemplates
from bayes_xmass.workflows.export_pyhf import export_pyhf, provenance_path
from bayes_xmass.workflows.fit_inputs import FitOptions, load_spec_and_dataset

pyhf = pytest.importorskip("pyhf")

CL = 0.9
EDGES = np.arange(2.0, 26.01, 2.0)  # 12 bins of 2 keV inside the magnetic-moment window


def _toy(folder, energy_scale_sigma=0.0):
    """Three folded backgrounds (normal with 10% template errors, truncated normal, log-normal);
    counts: the background-only expectation where the constraints peak, rounded (nuisances
    unpulled: see the module docstring)."""
    e = np.linspace(0.0, 30.0, 61)
    bkgs = [
        ("flat", e, np.full(e.size, 2e-3), '{ kind = "normal", mu = 1.0, sigma = 0.1 }', np.full(e.size, 2e-4)),
        ("falling", e, 6e-3 * np.exp(-e / 8.0), '{ kind = "truncated_normal", mu = 1.0, sigma = 0.3 }', None),
        ("surface", e, 4e-3 * np.exp(-e / 4.0), '{ kind = "lognormal", mu = 1.0, sigma = 0.3 }', None),
    ]
    kw = dict(exposure_kg_day=50000.0, energy_scale_sigma=energy_scale_sigma, sigma_a=0.3)
    write_toy_dataset(folder, EDGES, [0] * (EDGES.size - 1), bkgs, **kw)
    if energy_scale_sigma:  # 'falling' in true energy: folded by the response, so it moves with the scale
        toml = folder / "dataset.toml"
        toml.write_text(
            toml.read_text().replace('file = "falling.csv"\nfolded = true', 'file = "falling.csv"\nfolded = false')
        )
    modes = np.array([1.0, 1.0, math.exp(-(0.3**2))])  # where each constraint peaks (log-normal: its mode)
    counts = np.round(modes @ target_templates(*_spec_tpl_inputs(folder)).backgrounds(1.0)).astype(int)
    write_toy_dataset(folder, EDGES, counts, bkgs, **kw)
    if energy_scale_sigma:
        toml.write_text(
            toml.read_text().replace('file = "falling.csv"\nfolded = true', 'file = "falling.csv"\nfolded = false')
        )
    return folder


def _spec_tpl_inputs(folder):
    spec, dataset = load_spec_and_dataset(FitOptions("magnetic-moment", dataset=folder))
    return spec, dataset, fit_targets(spec)[0]


def _ours(folder):
    """Our template set, asymptotic CLs limit x (units of the coupling scale) and q~ there."""
    spec, dataset, target = _spec_tpl_inputs(folder)
    tpl = target_templates(spec, dataset, target)
    pl = ProfileLikelihood(tpl, sign=target.sign, likelihood="poisson")
    x = cls_upper_limit(pl, CL)["cls"]
    best = pl.best_fit()
    return tpl, x, max(pl.fit(x, best.nuisances).nll2 - best.nll2, 0.0)


def _pyhf_limit(path, mu_guess, lo=0.85, hi=1.2, n=8):
    """pyhf's observed asymptotic CLs upper limit on mu (q~, level 0.1) from the written workspace,
    and pyhf's q~ at ``mu_guess``. pyhf 0.7.6's ``upper_limit(scan=None)`` ignores ``level`` (always
    0.05), so the limit is interpolated on a 5%-spaced grid [lo, hi] x ``mu_guess`` (interpolation
    error < 0.1% in mu) and must fall inside it."""
    ws = pyhf.Workspace(json.loads(path.read_text()))
    model = ws.model()
    data = ws.data(model)
    scan = np.linspace(lo, hi, n) * mu_guess
    obs, _ = pyhf.infer.intervals.upper_limits.upper_limit(data, model, scan, level=1.0 - CL, test_stat="qtilde")
    assert scan[0] < obs < scan[-1], f"pyhf's limit {obs} outside the scan {scan[0]}-{scan[-1]}"
    cfg = model.config
    q = pyhf.infer.test_statistics.qmu_tilde(
        mu_guess, data, model, cfg.suggested_init(), cfg.suggested_bounds(), cfg.suggested_fixed()
    )
    return float(obs), float(q), model


@pytest.fixture(scope="module")
def exact_case(tmp_path_factory):
    folder = _toy(tmp_path_factory.mktemp("toy_fixed_scale"))
    out = tmp_path_factory.mktemp("ws") / "toy.json"
    export_pyhf(FitOptions("magnetic-moment", dataset=folder), out=out, log=lambda _: None)
    return folder, out, _ours(folder)


def test_exact_configuration_reproduces_likelihood_and_cls_limit(exact_case):
    folder, out, (tpl, x_ours, q_ours) = exact_case
    prov = json.loads(provenance_path(out).read_text())
    power, scale = prov["poi"]["power"], prov["poi"]["coupling_scale"]
    assert (power, scale) == (2, tpl.coupling_scale)
    statuses = {row["ours"].split(" ")[0]: row["status"] for row in prov["poi"]["mapping"]}
    assert statuses["norm_flat"] == statuses["norm_falling"] == statuses["per-bin"] == "exact"
    assert statuses["norm_surface"] == "near-exact"  # log-normal: exact with code1, 1e-8 with pyhf's code4
    assert prov["poi"]["status"] == "near-exact" and prov["dataset"]["checksum"] == load_dataset(folder).checksum

    mu_pyhf, q_pyhf, model = _pyhf_limit(out, x_ours**power)
    assert model.config.poi_name == "mu" and model.config.npars == 1 + 3 + 12  # mu, 3 norms, 12 gammas
    assert q_pyhf == pytest.approx(q_ours, rel=1e-3)  # the same likelihood
    x_pyhf = mu_pyhf ** (1.0 / power)
    print(f"exact configuration: x ours {x_ours:.5f}, pyhf {x_pyhf:.5f}, rel {x_pyhf / x_ours - 1:+.4%}")
    assert x_pyhf == pytest.approx(x_ours, rel=0.01)


def test_expected_counts_match_ours(exact_case):
    """pyhf's expected counts at the nominal point plus a signal are ours (lognormal: at its mode)."""
    folder, out, (tpl, _, _) = exact_case
    model = pyhf.Workspace(json.loads(out.read_text())).model()
    pars = model.config.suggested_init()
    pars[model.config.poi_index] = 2.0
    norms = np.array([1.0, 1.0, math.exp(-(0.3**2))])  # flat, falling, surface at alpha = 0
    ours = norms @ tpl.backgrounds(1.0) + 2.0 * tpl.signal(1.0)[0]
    np.testing.assert_allclose(model.expected_actualdata(pars), ours, rtol=1e-10)


def test_other_prior_kinds_give_the_same_profile_likelihood(tmp_path):
    """uniform (normfactor with bounds), half-normal (histosys, alpha >= 0) and fixed (no modifier)
    beside a normal with template errors: pyhf's q~ equals ours along the profile (data: a Poisson
    draw with the normalisations away from their centres, so the fits pull)."""
    e = np.linspace(0.0, 30.0, 61)
    bkgs = [
        ("u", e, np.full(e.size, 1e-3), '{ kind = "uniform", lower = 0.0, upper = 5.0 }', None),
        ("h", e, 3e-3 * np.exp(-e / 6.0), '{ kind = "halfnormal", sigma = 1.5 }', None),
        ("f", e, np.full(e.size, 5e-4), '{ kind = "fixed", value = 1.0 }', None),
        ("n", e, 2e-3 * np.exp(-e / 10.0), '{ kind = "normal", mu = 1.0, sigma = 0.2 }', np.full(e.size, 1e-4)),
    ]
    folder = write_toy_dataset(tmp_path / "kinds", EDGES, [0] * (EDGES.size - 1), bkgs, exposure_kg_day=20000.0)
    tpl = target_templates(*_spec_tpl_inputs(folder))
    counts = np.random.default_rng(3).poisson(np.array([1.3, 0.8, 1.0, 1.1]) @ tpl.backgrounds(1.0))
    write_toy_dataset(folder, EDGES, counts, bkgs, exposure_kg_day=20000.0)
    out = tmp_path / "ws.json"
    lines = []
    export_pyhf(FitOptions("magnetic-moment", dataset=folder), out=out, log=lines.append)
    assert lines[-1] == "the workspace is exactly our likelihood"
    tpl = target_templates(*_spec_tpl_inputs(folder))
    pl = ProfileLikelihood(tpl)
    best = pl.best_fit()
    ws = pyhf.Workspace(json.loads(out.read_text()))
    model = ws.model()
    data = ws.data(model)
    cfg = model.config
    for x in (0.5, 1.0, 2.0):
        q_ours = max(pl.fit(x, best.nuisances).nll2 - best.nll2, 0.0)
        q_pyhf = pyhf.infer.test_statistics.qmu_tilde(
            x**2, data, model, cfg.suggested_init(), cfg.suggested_bounds(), cfg.suggested_fixed()
        )
        assert float(q_pyhf) == pytest.approx(q_ours, rel=1e-4, abs=1e-6)


def test_energy_scale_histosys_is_approximate(tmp_path):
    """Energy scale free (10%): exported as histosys, marked approximate; difference measured."""
    folder = _toy(tmp_path / "toy", energy_scale_sigma=0.1)
    out = tmp_path / "ws.json"
    lines = []
    export_pyhf(FitOptions("magnetic-moment", dataset=folder), out=out, log=lines.append)
    assert any("approximate: energy scale" in line for line in lines)
    assert any("NOT exactly our likelihood" in line for line in lines)
    _, x_ours, _ = _ours(folder)
    mu_pyhf, _, model = _pyhf_limit(out, x_ours**2, 0.8, 1.3, 6)
    assert "energy_scale" in model.config.parameters
    rel = math.sqrt(mu_pyhf) / x_ours - 1.0
    print(f"energy-scale histosys: x ours {x_ours:.5f}, pyhf {math.sqrt(mu_pyhf):.5f}, rel {rel:+.4%}")
    assert abs(rel) < 0.1


def test_zero_terms_are_dropped_but_multi_term_signals_refused(exact_case):
    """A second signal term that is zero in every bin maps exactly; a live one is refused."""
    folder, _, (tpl, _, _) = exact_case
    values = np.concatenate([tpl.signal.values, np.zeros_like(tpl.signal.values)], axis=1)
    two = MorphingTemplates.from_grid(tpl.scale_grid, values)
    padded = dataclasses.replace(tpl, signal=two, signal_terms=("a", "b"), signal_powers=(2, 4))
    assert pyhf_workspace(padded).power == 2
    values[:, 1] = values[:, 0]
    live = dataclasses.replace(padded, signal=MorphingTemplates.from_grid(tpl.scale_grid, values))
    with pytest.raises(ValueError, match="--interaction"):
        pyhf_workspace(live)


# -- the command line --------------------------------------------------------------------------------------


def _run(argv, capsys):
    code = main([str(a) for a in argv])
    _, err = capsys.readouterr()
    return code, [line for line in err.splitlines() if line.strip()]


def test_cli_bundled_benchmark_end_to_end(tmp_path, capsys):
    out = tmp_path / "workspace.json"
    code, lines = _run(["export", "pyhf", "--interaction", "magnetic-moment", "--out", out], capsys)
    assert code == 0, lines
    spec = json.loads(out.read_text())
    ws = pyhf.Workspace(spec)
    model = ws.model()
    data = ws.data(model)
    assert model.config.poi_name == "mu"
    assert len(data) == model.config.nmaindata + len(model.config.auxdata) and model.config.nmaindata == 99
    assert {"energy_scale", "template_stat", "norm_pb210_surface"} <= set(model.config.parameters)
    prov = json.loads(provenance_path(out).read_text())
    assert prov["dataset"]["checksum"] == load_dataset(REPO_ROOT / "data" / "xmass_i").checksum
    assert prov["poi"]["coupling_scale"] == 1e-10 and prov["poi"]["power"] == 2
    assert prov["poi"]["exact"] is False  # the energy-scale histosys
    assert prov["model"]["interaction"] == "magnetic_moment" and "pyhf" in prov["versions"]
    assert any("NOT exactly" in line for line in lines)


def test_cli_refuses_overwrite_and_bad_options(tmp_path, capsys):
    out = tmp_path / "ws.json"
    out.write_text("{}")
    code, lines = _run(["export", "pyhf", "--interaction", "magnetic-moment", "--out", out], capsys)
    assert code == 2 and len(lines) == 1 and "refusing to overwrite" in lines[0], lines
    assert out.read_text() == "{}" and not provenance_path(out).exists()
    code, lines = _run(
        ["export", "pyhf", "--interaction", "magnetic-moment", "--mass", 1, "--out", tmp_path / "b.json"], capsys
    )
    assert code == 2 and len(lines) == 1 and "--mass" in lines[0], lines
    assert not (tmp_path / "b.json").exists()


def test_cli_refuses_multi_term_signals(tmp_path, capsys):
    """millicharge (q and q^2 terms) is refused in one line; dark-photon (g^2, g^4) the same way
    (not run here: its templates take ~5 s; the mechanism is tested on a toy above)."""
    out = tmp_path / "ws.json"
    code, lines = _run(["export", "pyhf", "--interaction", "millicharge", "--out", out], capsys)
    assert code == 2 and len(lines) == 1, lines
    assert "--interaction" in lines[0] and "no equivalent pyhf workspace" in lines[0]
    assert not out.exists() and not provenance_path(out).exists()


def test_cli_without_pyhf(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "pyhf", None)  # import pyhf raises ImportError
    code, lines = _run(["export", "pyhf", "--interaction", "magnetic-moment", "--out", tmp_path / "ws.json"], capsys)
    assert code == 2 and len(lines) == 1 and "pip install 'bayes_xmass[export]'" in lines[0], lines
