"""Property-based tests (hypothesis) of the dataset/model loaders and the expected-counts function.

Loaders: random valid datasets round-trip exactly; irrelevant CSV formatting (whitespace, blank and
comment lines, CRLF) changes no value while the checksum follows the bytes; random corruptions of any
file and random values of any TOML field give an InputError (one line) or a valid load -- never
another exception.

Expected counts (likelihood.py, the one function both inference paths and the toys use):
finite and >= MIN_EXPECTED; background part linear in the normalisations; signal zero at zero
coupling, non-decreasing in |coupling| for the pure (even-power) terms, interference odd in the
sign; the total equals gamma * background + signal; PyTensor equals the numpy twin
(MorphingTemplates).

Deterministic: ``derandomize=True``; example counts keep the file under ~15 s.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
import tomllib
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO_ROOT
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from bayes_xmass.datasets.dataset_files import dataset_checksum
from bayes_xmass.datasets.loader import load_dataset
from bayes_xmass.errors import InputError
from bayes_xmass.model.likelihood import MIN_EXPECTED
from bayes_xmass.response.detector import MorphingTemplates

SETTINGS = dict(deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])

# ------------------------------------------------------------------------------------------------
# Loader
# ------------------------------------------------------------------------------------------------
TOML = """[dataset]
name = "prop"
description = "property test"
exposure_kg_day = {exposure!r}
target = "Xe"

[observed]
file = "observed.csv"

[response]
resolution = {{ model = "a_sqrtE_plus_bE", a = 0.3, b = 0.0 }}
efficiency = {{ constant = 1.0 }}
energy_scale = {{ prior = {{ kind = "normal", mu = 1.0, sigma = 0.0 }} }}

[[background]]
name = "flat"
file = "flat.csv"
folded = true
prior = {{ kind = "normal", mu = 1.0, sigma = 0.1 }}
"""


def write_ds(folder: Path, edges, counts, exposure, *, pad=("", ""), comment=False, crlf=False) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    left, right = pad
    lines = ["# generated" if comment else "", f"{left}e_low_keV{right},{left}e_high_keV{right},{left}counts{right}"]
    for lo, hi, c in zip(edges[:-1], edges[1:], counts):
        lines.append(f"{left}{lo!r}{right},{left}{hi!r}{right},{left}{c}{right}")
        if comment:
            lines += ["", "  # a comment"]
    nl = "\r\n" if crlf else "\n"
    (folder / "observed.csv").write_text(nl.join(lines) + nl, newline="")
    (folder / "flat.csv").write_text(f"energy_keV,rate\n0,1e-3\n{edges[-1] * 2 + 1!r},1e-3\n")
    (folder / "dataset.toml").write_text(TOML.format(exposure=float(exposure)))
    return folder


@st.composite
def binned(draw):
    n = draw(st.integers(1, 25))
    start = draw(st.floats(0.0, 100.0, allow_nan=False))
    widths = draw(st.lists(st.floats(0.01, 50.0, allow_nan=False), min_size=n, max_size=n))
    edges = [start]
    for w in widths:
        edges.append(edges[-1] + w)
    assume(all(b > a for a, b in zip(edges, edges[1:])))
    counts = draw(st.lists(st.integers(0, 10**9), min_size=n, max_size=n))
    exposure = draw(st.floats(1e-3, 1e9, allow_nan=False))
    return edges, counts, exposure


@settings(max_examples=40, **SETTINGS)
@given(binned(), st.sampled_from([("", ""), (" ", ""), ("\t", "  ")]), st.booleans(), st.booleans())
def test_valid_dataset_round_trips(data, pad, comment, crlf):
    edges, counts, exposure = data
    with tempfile.TemporaryDirectory() as tmp:
        plain = load_dataset(write_ds(Path(tmp) / "a", edges, counts, exposure))
        assert plain.bin_edges_keV.tolist() == edges
        assert plain.counts.tolist() == counts and plain.counts.dtype == np.int64
        assert plain.exposure_kg_day == float(exposure)
        assert plain.n_bins == len(counts)
        # the same numbers, formatted differently: same values; checksum follows the bytes
        other = load_dataset(write_ds(Path(tmp) / "b", edges, counts, exposure, pad=pad, comment=comment, crlf=crlf))
        assert other.bin_edges_keV.tolist() == edges and other.counts.tolist() == counts
        same_bytes = (Path(tmp) / "a" / "observed.csv").read_bytes() == (Path(tmp) / "b" / "observed.csv").read_bytes()
        assert (other.checksum == plain.checksum) == same_bytes
        # checksum: stable under re-load and a move, equal to dataset_checksum
        shutil.copytree(Path(tmp) / "a", Path(tmp) / "moved" / "elsewhere")
        assert dataset_checksum(Path(tmp) / "moved" / "elsewhere") == plain.checksum
        assert load_dataset(Path(tmp) / "a").checksum == plain.checksum


def _valid_folder(tmp: Path) -> Path:
    return write_ds(tmp / "ds", [1.0, 2.0, 3.5, 5.0], [3, 0, 7], 1234.5)


MUTATIONS = ("truncate", "insert", "replace", "delete", "duplicate_line", "swap_lines")


@settings(max_examples=120, **SETTINGS)
@given(
    st.sampled_from(["dataset.toml", "observed.csv", "flat.csv"]),
    st.sampled_from(MUTATIONS),
    st.integers(0, 10**6),
    st.integers(1, 20),
    st.binary(min_size=1, max_size=8),
)
def test_random_corruption_is_input_error_or_valid(name, how, pos, length, junk):
    with tempfile.TemporaryDirectory() as tmp:
        folder = _valid_folder(Path(tmp))
        path = folder / name
        data = path.read_bytes()
        i = pos % (len(data) + 1)
        lines = data.split(b"\n")
        k = pos % len(lines)
        if how == "truncate":
            data = data[:i]
        elif how == "insert":
            data = data[:i] + junk + data[i:]
        elif how == "replace":
            data = data[:i] + junk + data[i + len(junk) :]
        elif how == "delete":
            data = data[:i] + data[i + length :]
        elif how == "duplicate_line":
            data = b"\n".join(lines[: k + 1] + lines[k:])
        else:
            j = (k + length) % len(lines)
            lines[k], lines[j] = lines[j], lines[k]
            data = b"\n".join(lines)
        path.write_bytes(data)
        try:
            ds = load_dataset(folder)
        except InputError as err:
            assert "\n" not in str(err) and str(err).strip()
        else:  # a corruption that keeps the file valid: still a consistent dataset
            assert ds.n_bins == ds.counts.size == ds.bin_edges_keV.size - 1
            assert np.all(np.diff(ds.bin_edges_keV) > 0) and np.all(ds.counts >= 0)


TOML_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**30), 10**30),
    st.sampled_from([10**400, -(10**400), 2**63]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.lists(st.integers(-5, 5), max_size=3),
    st.dictionaries(st.sampled_from(["a", "kind", "mu"]), st.integers(), max_size=2),
)


def _leaves(doc, prefix=()):
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield prefix + (k,)
            yield from _leaves(v, prefix + (k,))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            yield prefix + (i,)
            yield from _leaves(v, prefix + (i,))


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return "nan" if math.isnan(v) else ("inf" if v == math.inf else "-inf" if v == -math.inf else repr(v))
    if isinstance(v, (int, str)):
        return json.dumps(v) if isinstance(v, str) else str(v)
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    return "{ " + ", ".join(f"{k} = {_toml_value(x)}" for k, x in v.items()) + " }"


def _dump(doc, prefix="") -> str:
    """TOML writer for these documents: scalars and inline tables in [tables], [[arrays of tables]]."""
    out, tables = [], []
    for k, v in doc.items():
        if isinstance(v, dict) and not prefix:
            tables.append((k, v))
        elif isinstance(v, list) and v and all(isinstance(x, dict) for x in v) and not prefix:
            tables += [((k,), x) for x in v]
        else:
            out.append(f"{k} = {_toml_value(v)}")
    for k, v in tables:
        head = f"[[{k[0]}]]" if isinstance(k, tuple) else f"[{k}]"
        out.append(head)
        out += [f"{kk} = {_toml_value(vv)}" for kk, vv in v.items()]
    return "\n".join(out) + "\n"


def _set_leaf(doc, path, value):
    node = doc
    for key in path[:-1]:
        node = node[key]
    if value is None:
        del node[path[-1]]  # "None" = remove the key
    else:
        node[path[-1]] = value


@settings(max_examples=150, **SETTINGS)
@given(st.data())
def test_random_field_values_in_dataset_toml(data):
    with tempfile.TemporaryDirectory() as tmp:
        folder = _valid_folder(Path(tmp))
        doc = tomllib.loads((folder / "dataset.toml").read_text())
        path = data.draw(st.sampled_from(sorted(_leaves(doc), key=str)))
        _set_leaf(doc, path, data.draw(TOML_VALUES))
        (folder / "dataset.toml").write_text(_dump(doc))
        try:
            load_dataset(folder)
        except InputError as err:
            assert "\n" not in str(err)


MODEL_TOMLS = sorted((REPO_ROOT / "models").glob("*.toml"))


@settings(max_examples=150, **SETTINGS)
@given(st.data())
def test_random_field_values_in_model_toml(data):
    from bayes_xmass.model.spec import parse_model_spec

    src = data.draw(st.sampled_from(MODEL_TOMLS))
    doc = tomllib.loads(src.read_text())
    path = data.draw(st.sampled_from(sorted(_leaves(doc), key=str)))
    _set_leaf(doc, path, data.draw(TOML_VALUES))
    try:
        parse_model_spec(doc, str(src))
    except InputError as err:
        assert "\n" not in str(err)


# ------------------------------------------------------------------------------------------------
# Expected counts
# ------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def counts_fn():
    """Compiled (bkg, sig, lambda with gamma, lambda without) from the likelihood.py functions, with
    every array an input so one compilation serves all examples."""
    import pytensor
    import pytensor.tensor as pt

    from bayes_xmass.model.likelihood import background_counts, expected_counts, signal_counts

    norms, gamma, grid, powers, signs = (pt.dvector(n) for n in ("norms", "gamma", "grid", "powers", "signs"))
    x, s = pt.dscalar("x"), pt.dscalar("s")
    bcoef, scoef = pt.dtensor4("bcoef"), pt.dtensor4("scoef")
    bkg = background_counts(norms, bcoef, grid, s)
    sig = signal_counts(x, powers, signs, scoef, grid, s)
    fn = pytensor.function(
        [norms, x, s, gamma, bcoef, scoef, grid, powers, signs],
        [bkg, sig, expected_counts(bkg, sig, gamma), expected_counts(bkg, sig)],
    )

    def call(case, norms, x, s, gamma=None, sign=1):
        g = np.ones(case["n_bins"]) if gamma is None else np.asarray(gamma, float)
        sf = np.array([float(sign) ** p for p in case["powers"]])
        return fn(
            np.asarray(norms, float),
            float(x),
            float(s),
            g,
            case["bkg"].coefficients,
            case["sig"].coefficients,
            case["grid"],
            np.asarray(case["powers"], float),
            sf,
        )

    return call


POWER_SETS = [(2,), (1, 2), (2, 4), (4,)]  # magnetic moment; millicharge; B-L; a pure quartic


@st.composite
def template_case(draw):
    """Random templates on an energy-scale grid, linear in the scale (so the cubic spline is exact and
    stays positive between grid points): T(s) = T0 * (1 + a (s - 1))."""
    n_bins = draw(st.integers(1, 8))
    n_bkg = draw(st.integers(1, 3))
    n_grid = draw(st.sampled_from([1, 2, 5]))
    grid = np.linspace(0.9, 1.1, n_grid) if n_grid > 1 else np.array([1.0])
    powers = draw(st.sampled_from(POWER_SETS))
    pos = st.floats(1e-3, 1e4, allow_nan=False)
    b0 = np.array(draw(st.lists(pos, min_size=n_bkg * n_bins, max_size=n_bkg * n_bins))).reshape(n_bkg, n_bins)
    s0 = np.array(draw(st.lists(pos, min_size=len(powers) * n_bins, max_size=len(powers) * n_bins)))
    s0 = s0.reshape(len(powers), n_bins)
    a = draw(st.floats(-2.0, 2.0))
    factor = 1.0 + a * (grid - 1.0)
    return {
        "n_bins": n_bins,
        "grid": grid,
        "powers": powers,
        "bkg": MorphingTemplates.from_grid(grid, b0[None] * factor[:, None, None]),
        "sig": MorphingTemplates.from_grid(grid, s0[None] * factor[:, None, None]),
    }


def _scale(draw_float, case):
    g = case["grid"]
    return float(g[0] + draw_float * (g[-1] - g[0]))


NORMS = st.lists(st.floats(0.0, 10.0, allow_nan=False), min_size=3, max_size=3)
UNIT = st.floats(0.0, 1.0, allow_nan=False)
X = st.floats(0.0, 50.0, allow_nan=False)


@settings(max_examples=60, **SETTINGS)
@given(template_case(), NORMS, X, UNIT, st.sampled_from([1, -1]))
def test_expected_counts_finite_positive_and_sum_of_components(counts_fn, case, norms, x, u, sign):
    n = np.array(norms[: case["bkg"].values.shape[1]])
    s = _scale(u, case)
    gamma = np.linspace(0.5, 1.5, case["n_bins"])
    bkg, sig, lam_g, lam = counts_fn(case, n, x, s, gamma, sign)
    assert np.all(np.isfinite(lam)) and np.all(lam >= MIN_EXPECTED)
    assert np.all(np.isfinite(lam_g)) and np.all(lam_g >= MIN_EXPECTED)
    assert np.all(bkg >= 0)
    # sum of components, and the numpy twin (MorphingTemplates) of the PyTensor spline
    np.testing.assert_allclose(bkg, n @ case["bkg"](s), rtol=1e-9, atol=1e-12)
    coeffs = np.array([(sign * x) ** p for p in case["powers"]])
    np.testing.assert_allclose(sig, coeffs @ case["sig"](s), rtol=1e-9, atol=1e-9 * np.abs(sig).max(initial=1.0))
    np.testing.assert_allclose(lam, np.maximum(bkg + sig, MIN_EXPECTED), rtol=1e-12)
    np.testing.assert_allclose(lam_g, np.maximum(gamma * bkg + sig, MIN_EXPECTED), rtol=1e-12)


@settings(max_examples=50, **SETTINGS)
@given(template_case(), NORMS, NORMS, st.floats(0.0, 5.0), st.floats(0.0, 5.0), UNIT)
def test_background_linear_in_normalisations(counts_fn, case, n1, n2, a, b, u):
    k = case["bkg"].values.shape[1]
    n1, n2 = np.array(n1[:k]), np.array(n2[:k])
    s = _scale(u, case)
    one = counts_fn(case, n1, 0.0, s)[0]
    two = counts_fn(case, n2, 0.0, s)[0]
    mixed, _, _, lam = counts_fn(case, a * n1 + b * n2, 0.0, s)
    np.testing.assert_allclose(mixed, a * one + b * two, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(lam, np.maximum(mixed, MIN_EXPECTED), rtol=1e-12)
    zero = counts_fn(case, np.zeros(k), 0.0, s)[0]
    assert np.all(zero == 0.0)


@settings(max_examples=60, **SETTINGS)
@given(template_case(), NORMS, X, X, UNIT, st.sampled_from([1, -1]))
def test_signal_zero_at_zero_coupling_and_monotone_for_pure_terms(counts_fn, case, norms, x1, x2, u, sign):
    n = np.array(norms[: case["bkg"].values.shape[1]])
    s = _scale(u, case)
    bkg, sig0, _, lam0 = counts_fn(case, n, 0.0, s, sign=sign)
    assert np.all(sig0 == 0.0)
    np.testing.assert_allclose(lam0, np.maximum(bkg, MIN_EXPECTED))
    lo, hi = sorted((x1, x2))
    powers = case["powers"]
    if all(p % 2 == 0 for p in powers):  # pure terms (mu^2; g^2, g^4 with non-negative templates)
        sig_lo, lam_lo = (counts_fn(case, n, lo, s, sign=sign)[i] for i in (1, 3))
        sig_hi, lam_hi = (counts_fn(case, n, hi, s, sign=sign)[i] for i in (1, 3))
        assert np.all(sig_lo >= 0)
        assert np.all(sig_hi >= sig_lo * (1 - 1e-12)) and np.all(lam_hi >= lam_lo * (1 - 1e-12))
    else:  # millicharge: q T_int + q^2 T_pure -- the pure part even, the interference odd in the sign
        plus = counts_fn(case, n, hi, s, sign=1)[1]
        minus = counts_fn(case, n, hi, s, sign=-1)[1]
        pure = hi**2 * case["sig"](s)[powers.index(2)]
        scale = max(np.abs(plus).max(), np.abs(minus).max(), 1e-300)
        np.testing.assert_allclose(plus + minus, 2 * pure, rtol=1e-9, atol=1e-9 * scale)
        # and the pure q^2 term alone is monotone in |q|
        lo_pure, hi_pure = lo**2 * case["sig"](s)[powers.index(2)], pure
        assert np.all(hi_pure >= lo_pure)


@pytest.fixture(scope="module")
def toy_templates(tmp_path_factory):
    """Real magnetic-moment templates of a small toy dataset (physics + response)."""
    from conftest import write_toy_dataset

    from bayes_xmass.model.spec import model_spec_for
    from bayes_xmass.model.targets import FitTarget, target_templates

    saved = os.environ.get("BAYES_XMASS_NO_CACHE")
    os.environ["BAYES_XMASS_NO_CACHE"] = "1"  # this module only: restored below
    try:
        folder = write_toy_dataset(
            tmp_path_factory.mktemp("prop") / "toy",
            np.arange(2.0, 12.25, 0.5),
            [5] * 20,
            [("flat", [0.0, 20.0], [1e-2, 1e-2], '{ kind = "normal", mu = 1.0, sigma = 0.1 }', None)],
            energy_scale_sigma=0.05,
        )
        spec = model_spec_for("magnetic-moment")
        tpl = target_templates(spec, load_dataset(folder), FitTarget("magnetic_moment"))
        from bayes_xmass.infer import toys

        make = getattr(toys, "_expected_counts_function", None)
        if make is None:
            pytest.skip("toys._expected_counts_function not available")
        yield tpl, make(tpl, 1)
    finally:
        if saved is None:
            os.environ.pop("BAYES_XMASS_NO_CACHE", None)
        else:
            os.environ["BAYES_XMASS_NO_CACHE"] = saved


@settings(max_examples=30, **SETTINGS)
@given(X, X, st.floats(0.0, 3.0), UNIT)
def test_real_magnetic_moment_counts_monotone_in_mu(toy_templates, x1, x2, norm, u):
    """The toys' compiled expected-counts function on real templates: >= 0, monotone in |mu_nu|."""
    tpl, fn = toy_templates
    g = tpl.scale_grid
    s = float(g[0] + u * (g[-1] - g[0]))
    ones = np.ones(tpl.n_bins)
    norms = np.full(len(tpl.background_names), norm)
    lo, hi = sorted((x1, x2))
    lam_lo, lam_hi = fn(norms, lo, s, ones), fn(norms, hi, s, ones)
    assert np.all(np.isfinite(lam_hi)) and np.all(lam_lo >= MIN_EXPECTED)
    assert np.all(lam_hi >= lam_lo * (1 - 1e-12))
    expected = np.maximum(norms @ tpl.backgrounds(s) + hi**2 * tpl.signal(s)[0], MIN_EXPECTED)
    np.testing.assert_allclose(lam_hi, expected, rtol=1e-9)
