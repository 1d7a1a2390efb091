"""Benchmarks against the peers (issue 7 §4): prints figures; asserts nothing about time.

    .venv/bin/python benchmarks/bench_peers.py [--json out.json [--force]] [--sections a,b,c,d,e]
                                               [--full-run] [--budget] [--scan-masses 40] [--toys 1000]

(a) magnetic-moment sampling through bayes_xmass (PosteriorSampler: compile + ``sample``) vs bare
    nutpie on the identical PyMC model (``model.build_model`` -> ``nutpie.compile_pymc_model`` ->
    ``nutpie.sample``, same chains/draws/tune/target_accept/low-rank adaptation/cores); where our
    overhead goes (prior predictive, posterior predictive, DataTree assembly, limit + diagnostics).
(b) frequentist CLs upper limit vs pyhf (``peers_pyhf.py`` builds the HistFactory model and
    documents the mapping) with the energy-scale systematic switched off in BOTH models; variants:
    ``full`` (per-bin template factors = staterror, 107 nuisances in pyhf), ``no_gamma`` (template
    errors off in both), ``exact`` (also the lognormal prior replaced by a truncated normal in
    both, so the two likelihoods are identical up to constants) and, opt-in, ``exact_gamma``
    (truncated normal, template errors on).
(c) B-L scan of ``--scan-masses`` log-spaced masses 1e-3..10 MeV: frequentist only and Bayesian,
    each cold (first call, compiling) and warm (second call in the same process).
(d) ``--toys`` frequentist toys (toys.toy_limits).
(e) peak RSS (process tree, psutil polling) and wall time of ``bayes-xmass run --quick`` twice
    (first/second), and with ``--full-run`` of the full default run once (~15 min).
``--budget``: time split of one full-settings magnetic-moment fit as the pipeline runs it.

Every figure is printed with the 1-minute load average before/after (the machine may be shared).
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

warnings.simplefilter("ignore")

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

FIGURES: list[dict] = []


def load1() -> float:
    return round(os.getloadavg()[0], 2)


class Timer:
    """with Timer() as t: ...; t.s seconds, t.load = (load before, load after)."""

    def __enter__(self):
        self.l0 = load1()
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.s = time.perf_counter() - self.t0
        self.load = (self.l0, load1())
        return False


def record(section: str, name: str, value, unit: str = "s", load=None, note: str = "") -> None:
    row = {
        "section": section,
        "figure": name,
        "value": value,
        "unit": unit,
        "load1": list(load) if load is not None else [load1()],
        "note": note,
    }
    FIGURES.append(row)
    v = f"{value:.4g}" if isinstance(value, float) else str(value)
    ld = "/".join(f"{x:.1f}" for x in row["load1"])
    print(f"  {section:3s} {name:58s} {v:>12s} {unit:6s} load {ld:9s} {note}", flush=True)


def _quiet_log(lines):
    return lambda msg: lines.append((time.perf_counter(), str(msg)))


# -- common inputs -------------------------------------------------------------------------------------


def mm_inputs(dataset=None):
    from bayes_xmass.datasets.loader import DEFAULT_DATASET, load_dataset
    from bayes_xmass.model.spec import model_spec_for
    from bayes_xmass.model.targets import fit_targets, target_templates

    ds = dataset or load_dataset(DEFAULT_DATASET)
    spec = model_spec_for("magnetic-moment")
    target = fit_targets(spec)[0]
    return ds, spec, target, target_templates(spec, ds, target)


# -- (a) bayes_xmass vs bare nutpie ------------------------------------------------------------------------


def section_a(args, out: dict) -> None:
    import numpy as np
    import nutpie

    from bayes_xmass.infer.posterior_sampler import PosteriorSampler
    from bayes_xmass.infer.posterior_summary import credible_limit, diagnostics
    from bayes_xmass.model.build import build_model
    from bayes_xmass.model.data import model_data

    print("(a) magnetic-moment sampling: bayes_xmass vs bare nutpie", flush=True)
    with Timer() as t:
        ds, spec, target, tpl = mm_inputs()
    record("a", "templates (bayes_xmass, both paths use them)", t.s, load=t.load)
    s = spec.sampler
    kw = dict(
        draws=s.draws,
        tune=s.tune,
        chains=s.chains,
        cores=min(s.chains, 2),
        progress_bar=False,
        save_warmup=False,
        adaptation="low_rank",
        target_accept=s.target_accept,
    )
    record("a", f"settings: {s.chains} chains x {s.draws} draws + {s.tune} tune, low-rank", "", unit="")
    # warm the on-disk compile caches (PyTensor C / numba) once, untimed, so neither path pays them;
    # the bare path runs without our rewritten-graph cache (bayes_xmass.runtime.graph_cache), ours with it
    from bayes_xmass.runtime import graph_cache

    graph_cache.disable()
    nutpie.compile_pymc_model(build_model(tpl, spec.poi_prior, likelihood=spec.likelihood))

    with Timer() as t_build:
        model = build_model(tpl, spec.poi_prior, likelihood=spec.likelihood)
    with Timer() as t_comp:
        compiled = nutpie.compile_pymc_model(model)
    with Timer() as t_samp:
        bare = nutpie.sample(compiled, seed=1, **kw)
    bare_total = t_build.s + t_comp.s + t_samp.s
    record("a", "bare: build_model", t_build.s, load=t_build.load)
    record("a", "bare: nutpie.compile_pymc_model", t_comp.s, load=t_comp.load)
    record("a", "bare: nutpie.sample", t_samp.s, load=t_samp.load)

    graph_cache.enable()
    with Timer() as t_ocomp:
        ps = PosteriorSampler(tpl, spec.poi_prior, spec.likelihood, s.name)
    with Timer() as t_osamp:
        dt = ps.sample(tpl, target, sampler=s, seed=1)
    ours_total = t_ocomp.s + t_osamp.s
    nuts_s = float(dt.attrs["sampling_seconds"])
    record("a", "ours: PosteriorSampler (build_model + compile)", t_ocomp.s, load=t_ocomp.load)
    record("a", "ours: PosteriorSampler.sample (total)", t_osamp.s, load=t_osamp.load)
    record("a", "ours:   of which nutpie.sample (draw_posterior)", nuts_s)
    # where the rest goes: repeat the pieces of PosteriorSampler.sample (same calls, same sizes)
    data = model_data(tpl, target.sign, spec.likelihood)
    from bayes_xmass.infer.posterior_sampler import PPC_DRAWS

    with Timer() as t_prior, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ps._set_data(data)
        with ps.model:
            prior = ps.prior_draws(PPC_DRAWS, 3)  # as sample() does (compiled once, batched)
    record("a", f"ours:   of which prior draws ({PPC_DRAWS}, batched)", t_prior.s, load=t_prior.load)
    post = bare["posterior"].to_dataset()
    with Timer() as t_ppc:
        ps._predictive(post, data, 4, thin=True)
        ps._predictive(prior["prior"].to_dataset(), data, 5, thin=False)
    record("a", "ours:   of which posterior+prior predictive counts (numpy)", t_ppc.s, load=t_ppc.load)
    rest = t_osamp.s - nuts_s - t_prior.s - t_ppc.s
    record("a", "ours:   rest (DataTree assembly, set_data, attrs)", rest)
    with Timer() as t_lim:
        lim = credible_limit(dt, spec.cl)
        diag = diagnostics(dt)
    record("a", "ours: credible_limit + diagnostics (not in ratio)", t_lim.s, load=t_lim.load)
    ratio = ours_total / bare_total
    record("a", "end-to-end: bare (build+compile+sample)", bare_total)
    record("a", "end-to-end: ours (compile+sample)", ours_total)
    record("a", "overhead ratio ours/bare (goal <= 3)", ratio, unit="x")
    record("a", "sampling-only ratio ours.nuts / bare.nuts", nuts_s / t_samp.s, unit="x")
    bare_limit = float(np.quantile(bare.posterior["x"].values.ravel(), spec.cl)) * tpl.coupling_scale
    record(
        "a",
        "limit (ours) / limit (bare) same seed",
        lim["limit"] / bare_limit,
        unit="",
        note=f"diagnostics ok={diag.ok}",
    )
    out["a"] = {"ratio": ratio, "bare_total_s": bare_total, "ours_total_s": ours_total}


# -- (b) frequentist vs pyhf ------------------------------------------------------------------------------


def _variant_dataset(ds, variant: str):
    from bayes_xmass.datasets.priors import make_prior

    ds = dataclasses.replace(ds, energy_scale_prior=make_prior("fixed", value=1.0))
    if variant in ("no_gamma", "exact"):
        ds = dataclasses.replace(ds, backgrounds=tuple(dataclasses.replace(b, rate_err=None) for b in ds.backgrounds))
    if variant in ("exact", "exact_gamma"):
        bk = []
        for b in ds.backgrounds:
            if b.prior.kind == "lognormal":
                b = dataclasses.replace(
                    b,
                    prior=make_prior(
                        "truncated_normal", mu=b.prior.params["mu"], sigma=b.prior.params["sigma"], lower=0.0
                    ),
                )
            bk.append(b)
        ds = dataclasses.replace(ds, backgrounds=tuple(bk))
    return ds


def _time_best(fn, n: int):
    times, value = [], None
    l0 = load1()
    for _ in range(n):
        t0 = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - t0)
    return value, min(times), statistics.median(times), (l0, load1())


def section_b(args, out: dict) -> None:
    import peers_pyhf as P
    import pyhf
    from threadpoolctl import threadpool_limits

    from bayes_xmass.infer.frequentist import ProfileLikelihood, cls_upper_limit

    print("(b) frequentist CLs upper limit vs pyhf (energy-scale systematic OFF in both)", flush=True)
    ds0, spec, target, _ = mm_inputs()
    from bayes_xmass.model.targets import target_templates

    out["b"] = {}
    for variant in args.pyhf_variants.split(","):
        tpl = target_templates(spec, _variant_dataset(ds0, variant), target)
        with Timer() as t_c:
            pl = ProfileLikelihood(tpl, sign=target.sign, likelihood=spec.likelihood)
        cls_upper_limit(pl, spec.cl)  # warm (compiles the deterministics used for the Asimov data)
        ours, best_s, med_s, ld = _time_best(lambda: cls_upper_limit(pl, spec.cl), args.repeat)
        with threadpool_limits(1):
            _, best1_s, med1_s, ld1 = _time_best(lambda: cls_upper_limit(pl, spec.cl), args.repeat)
        x_ours = ours["cls"]
        record("b", f"[{variant}] ours: compile ProfileLikelihood", t_c.s, load=t_c.load)
        record(
            "b", f"[{variant}] ours: CLs limit warm (default BLAS threads)", med_s, load=ld, note=f"best {best_s:.3g} s"
        )
        record("b", f"[{variant}] ours: CLs limit warm (1 BLAS thread)", med1_s, load=ld1, note=f"best {best1_s:.3g} s")
        with Timer() as t_m:
            model, data, init, bounds, notes = P.build_pyhf_model(tpl, args.pyhf_optimizer)
        record(
            "b",
            f"[{variant}] pyhf: build model ({model.config.npars} pars, {args.pyhf_optimizer})",
            t_m.s,
            load=t_m.load,
        )
        hyp = lambda mu: float(
            pyhf.infer.hypotest(
                mu,
                data,
                model,
                init_pars=init,
                par_bounds=bounds,  # noqa: E731
                test_stat="qtilde",
                calctype="asymptotics",
            )
        )
        heavy = variant in ("full", "exact_gamma")  # 107 per-bin staterror nuisances in pyhf
        if not heavy:  # numpy backend: nothing to JIT; the 107-nuisance fit costs ~80 s a call
            hyp(x_ours**2)  # warm
        cls_at_ours, h_best, h_med, hld = _time_best(lambda: hyp(x_ours**2), 1 if heavy else args.repeat)
        record("b", f"[{variant}] pyhf: one hypotest (4 fits)", h_med, load=hld)
        record("b", f"[{variant}] pyhf CLs at our limit mu = x_ours^2 (0.1 = agree)", cls_at_ours, unit="")
        q_pyhf = P.pyhf_qtilde(model, data, init, bounds, x_ours**2)
        best = pl.best_fit()
        q_ours = max(pl.fit(x_ours, best.nuisances).nll2 - best.nll2, 0.0)
        record("b", f"[{variant}] q~ at our limit: ours / pyhf", f"{q_ours:.4f}/{q_pyhf:.4f}", unit="")
        row = {
            "x_ours_cls": x_ours,
            "x_ours_clsb": ours["clsb"],
            "ours_s": med_s,
            "ours_1thread_s": med1_s,
            "pyhf_hypotest_s": h_med,
            "pyhf_cls_at_ours": cls_at_ours,
            "q_ours": q_ours,
            "q_pyhf": q_pyhf,
            "pyhf_npars": model.config.npars,
            "notes": notes,
        }
        if not heavy or (args.pyhf_full and variant == "full"):
            # pyhf 0.7.6 upper_limit(scan=None) does not pass `level` on to toms748_scan (it always
            # gives 95% CLs limits), so we call toms748_scan, what upper_limit runs, with level = 0.1
            scan = pyhf.infer.intervals.upper_limits.toms748_scan
            lo, hi = model.config.suggested_bounds()[model.config.poi_index]
            kw = dict(
                level=1.0 - spec.cl, init_pars=init, par_bounds=bounds, test_stat="qtilde", calctype="asymptotics"
            )
            n = args.repeat if not heavy else 1
            (obs, exp), u_best, u_med, uld = _time_best(lambda: scan(data, model, lo, hi, **kw), n)
            record("b", f"[{variant}] pyhf: upper_limit obs+expected band (toms748)", u_med, load=uld)
            x_pyhf = math.sqrt(float(obs))
            o_obs, o_best, o_med, old = _time_best(lambda: P.pyhf_observed_only(model, data, init, bounds, spec.cl), n)
            record("b", f"[{variant}] pyhf: observed-only CLs limit", o_med, load=old)
            record(
                "b",
                f"[{variant}] limit x: ours / pyhf (x = mu_nu / 1e-10)",
                f"{x_ours:.4f}/{x_pyhf:.4f}",
                unit="",
                note=f"ratio {x_ours / x_pyhf:.4f}; pyhf exp median {math.sqrt(float(exp[2])):.4f}",
            )
            record(
                "b",
                f"[{variant}] time ratio pyhf(upper_limit)/ours (goal >= 10)",
                u_med / med_s,
                unit="x",
                note=f"obs-only {o_med / med_s:.1f}x; 1-thread ours: {u_med / med1_s:.1f}x / {o_med / med1_s:.1f}x",
            )
            row.update(
                x_pyhf=x_pyhf,
                x_pyhf_obs_only=math.sqrt(o_obs),
                pyhf_exp=[math.sqrt(float(e)) for e in exp],
                pyhf_upper_limit_s=u_med,
                pyhf_obs_only_s=o_med,
                ratio=u_med / med_s,
                ratio_obs_only=o_med / med_s,
            )
        else:
            record(
                "b",
                f"[{variant}] time ratio pyhf(1 hypotest)/ours, lower bound",
                h_med / med_s,
                unit="x",
                note="a limit needs >= 6 hypotests (obs only); run with --pyhf-full for the full scan",
            )
            row.update(ratio_lower_bound=h_med / med_s)
        out["b"][variant] = row


# -- (c) B-L scan ----------------------------------------------------------------------------------------


def _call_scan(spec, ds, masses, bayesian: bool, cache, seed: int, lines):
    from bayes_xmass.infer import scan as scan_mod

    fn = scan_mod.scan_b_minus_l
    params = inspect.signature(fn).parameters
    from bayes_xmass.workflows.scan_defaults import SCAN_DRAWS, SCAN_TUNE

    # the `scan` command's defaults (draws/tune per chain; failed masses re-sampled)
    kw = {
        "bayesian": bayesian,
        "seed": seed,
        "log": _quiet_log(lines),
        "cache": cache,
        "draws": SCAN_DRAWS,
        "tune": SCAN_TUNE,
    }
    for extra in ("resume", "out", "scheduler", "processes", "executor", "checkpoint"):
        if extra in params and params[extra].default is inspect.Parameter.empty:
            raise RuntimeError(f"scan_b_minus_l now requires {extra!r}; adapt bench_peers.py")
    kw = {k: v for k, v in kw.items() if k in params}
    t0 = time.perf_counter()
    res = fn(spec, ds, masses, **kw)
    return res, time.perf_counter() - t0


def section_c(args, out: dict) -> None:
    import numpy as np

    from bayes_xmass.datasets.loader import DEFAULT_DATASET, load_dataset
    from bayes_xmass.model.spec import model_spec_for

    n = args.scan_masses
    print(f"(c) B-L scan, {n} masses log-spaced 1e-3..10 MeV", flush=True)
    ds = load_dataset(DEFAULT_DATASET)
    spec = model_spec_for("dark-photon")
    masses = np.geomspace(1e-3, 10.0, n)
    from bayes_xmass.workflows.scan_defaults import SCAN_DRAWS, SCAN_TUNE

    record(
        "c",
        f"Bayesian settings: {spec.sampler.chains} chains x {SCAN_DRAWS} draws + {SCAN_TUNE} tune "
        "(failed masses re-sampled)",
        "",
        unit="",
    )
    out["c"] = {}
    for bayesian in [False, True] if not args.scan_freq_only else [False]:
        mode = "bayes+freq" if bayesian else "freq-only"
        cache: dict = {}
        for label in ("cold", "warm"):
            lines: list = []
            l0 = load1()
            res, secs = _call_scan(spec, ds, masses, bayesian, cache, 1, lines)
            tpl_line = next((m for _, m in lines if "templates for" in m), "")
            record(
                "c",
                f"{mode} {label}: total ({n} masses)",
                secs,
                load=(l0, load1()),
                note=tpl_line.split("]")[-1].strip(),
            )
            record("c", f"{mode} {label}: per mass", secs / n)
            key = f"{mode}_{label}"
            out["c"][key] = {"total_s": secs, "per_mass_s": secs / n}
            if bayesian:
                ok = int(np.sum(res["diagnostics_ok"].values.astype(bool)))
                record("c", f"{mode} {label}: masses with diagnostics ok", f"{ok}/{n}", unit="")
                out["c"][key]["diagnostics_ok"] = ok


# -- (d) toys ------------------------------------------------------------------------------------------


def section_d(args, out: dict) -> None:
    from bayes_xmass.infer.toys import default_processes, toy_limits

    print(f"(d) {args.toys} frequentist toys (toy_limits: best fit + 2 limits each)", flush=True)
    _, spec, target, tpl = mm_inputs()
    with Timer() as t:
        tl = toy_limits(tpl, sign=target.sign, likelihood=spec.likelihood, n_toys=args.toys, seed=1, cl=spec.cl)
    procs = default_processes(args.toys)
    record("d", f"{args.toys} toys, {procs} processes (incl. worker start+compile)", t.s, load=t.load)
    record("d", "per toy", t.s / args.toys * 1e3, unit="ms")
    record("d", "rate", args.toys / t.s, unit="toy/s", note=f"median limit {tl.bands('xmass')['median']:.3g}")
    out["d"] = {"seconds": t.s, "ms_per_toy": t.s / args.toys * 1e3, "processes": procs}


# -- (e) memory of `run` ---------------------------------------------------------------------------------


def run_and_watch(cmd, interval: float = 0.2) -> dict:
    """Run cmd; poll the RSS of the process and all its descendants; return peak and wall time."""
    import psutil

    l0 = load1()
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT)
    root = psutil.Process(proc.pid)
    peak_total = peak_single = 0
    tail: list[str] = []
    import threading

    def reader():
        for line in proc.stdout:
            tail.append(line.rstrip())
            del tail[:-40]

    th = threading.Thread(target=reader, daemon=True)
    th.start()
    while proc.poll() is None:
        try:
            procs = [root] + root.children(recursive=True)
            rss = []
            for p in procs:
                try:
                    rss.append(p.memory_info().rss)
                except psutil.Error:
                    pass
            peak_total = max(peak_total, sum(rss))
            peak_single = max(peak_single, max(rss, default=0))
        except psutil.Error:
            pass
        time.sleep(interval)
    th.join(timeout=5)
    return {
        "seconds": time.perf_counter() - t0,
        "rc": proc.returncode,
        "peak_rss_total_mib": peak_total / 2**20,
        "peak_rss_single_mib": peak_single / 2**20,
        "load": (l0, load1()),
        "tail": tail[-15:],
    }


def section_e(args, out: dict) -> None:
    exe = str(Path(sys.executable).with_name("bayes-xmass"))
    out["e"] = {}
    runs = [("run --quick (1st)", ["--quick"]), ("run --quick (2nd, warm)", ["--quick"])][: args.quick_runs]
    if args.full_run:
        runs.append(("run (full default)", []))
    print("(e) peak memory of `bayes-xmass run` (RSS of the process tree, 0.2 s polling)", flush=True)
    for label, extra in runs:
        tmp = Path(tempfile.mkdtemp(prefix="bench_run_"))
        try:
            r = run_and_watch([exe, "run", "--out", str(tmp / "out"), "--allow-bad-diagnostics", *extra])
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        record("e", f"{label}: wall time", r["seconds"], load=r["load"], note=f"exit {r['rc']}")
        record("e", f"{label}: peak RSS, process tree", r["peak_rss_total_mib"], unit="MiB")
        record("e", f"{label}: peak RSS, largest single process", r["peak_rss_single_mib"], unit="MiB")
        if r["rc"] not in (0, 3):
            print("\n".join(r["tail"]))
        out["e"][label] = {k: v for k, v in r.items() if k != "tail"}


# -- time budget of one full-settings fit -----------------------------------------------------------------


def section_budget(args, out: dict) -> None:
    import numpy as np
    import xarray as xr

    from bayes_xmass.infer.frequentist import ProfileLikelihood, frequentist_summary
    from bayes_xmass.infer.posterior_sampler import PosteriorSampler
    from bayes_xmass.infer.posterior_summary import credible_limit, diagnostics
    from bayes_xmass.infer.toy_studies import bayesian_toy_limits
    from bayes_xmass.infer.toys import feldman_cousins, toy_counts, toy_limits
    from bayes_xmass.outputs.report import write_datatree, write_fit_plots
    from bayes_xmass.runtime.io import write_with
    from bayes_xmass.workflows import run as pipeline
    from bayes_xmass.workflows.run_fit import write_spectrum_plot

    print("(budget) one magnetic-moment fit with the full default settings, step by step", flush=True)
    settings = pipeline.RunSettings()
    spec = pipeline._spec("magnetic-moment", settings)
    seed = 20201
    split = {}

    def step(name, fn):
        with Timer() as t:
            v = fn()
        split[name] = t.s
        record("bud", name, t.s, load=t.load)
        return v

    ds, _, target, _ = mm_inputs()
    from bayes_xmass.model.targets import target_templates

    tpl = step("templates", lambda: target_templates(spec, ds, target))
    ps = step(
        "model build + nutpie compile",
        lambda: PosteriorSampler(tpl, spec.poi_prior, spec.likelihood, spec.sampler.name),
    )
    dt = step(
        "sample(): NUTS + predictive + DataTree",
        lambda: ps.sample(tpl, target, sampler=spec.sampler, seed=seed, provenance={"model_config": spec.describe()}),
    )
    split["  of which NUTS (nutpie.sample)"] = float(dt.attrs["sampling_seconds"])
    record("bud", "  of which NUTS (nutpie.sample)", split["  of which NUTS (nutpie.sample)"])
    limit = step("credible limit + diagnostics", lambda: (credible_limit(dt, spec.cl), diagnostics(dt)))[0]
    pl = step("ProfileLikelihood compile", lambda: ProfileLikelihood(tpl, sign=target.sign, likelihood=spec.likelihood))
    freq = step("frequentist fit + limits (summary)", lambda: frequentist_summary(pl, spec.cl))
    tl = step(
        f"{settings.n_freq_toys} frequentist toys",
        lambda: toy_limits(
            tpl,
            sign=target.sign,
            likelihood=spec.likelihood,
            n_toys=settings.n_freq_toys,
            seed=seed + 101,
            cl=spec.cl,
            pl=pl,
        ),
    )
    step(
        f"{settings.n_bayes_toys} Bayesian toys",
        lambda: bayesian_toy_limits(
            tpl,
            toy_counts(pl, 0.0, settings.n_bayes_toys, seed + 202),
            poi_prior=spec.poi_prior,
            sign=target.sign,
            likelihood=spec.likelihood,
            cl=spec.cl,
            seed=seed + 303,
            tune=max(spec.sampler.tune, 700),
            posterior_sampler=ps,
        ),
    )
    top = freq["limit_xmass_scaled"]
    step(
        f"Feldman-Cousins ({settings.fc_grid} x {settings.fc_toys} toys)",
        lambda: feldman_cousins(
            tpl,
            sign=target.sign,
            likelihood=spec.likelihood,
            n_toys=settings.fc_toys,
            x_grid=np.linspace(0.0, 1.6 * top, settings.fc_grid),
            seed=seed + 404,
            cl=spec.cl,
            pl=pl,
        ),
    )
    tmp = Path(tempfile.mkdtemp(prefix="bench_budget_"))
    try:
        dt["frequentist"] = xr.Dataset(
            {"profile_delta_chi2": ("profile_point", np.asarray(freq["profile_delta_chi2"]))}
        )

        def write():
            write_datatree(dt, tmp / "mm.nc")
            write_with(tmp / "toys.nc", lambda p: tl.to_dataset(tpl.coupling_scale).to_netcdf(p))

        step("write NetCDF (fit + toys)", write)
        split["  NetCDF size MiB"] = (tmp / "mm.nc").stat().st_size / 2**20
        record("bud", "  NetCDF size", split["  NetCDF size MiB"], unit="MiB")
        scale = tpl.coupling_scale
        profile = (np.asarray(freq["profile_x_scaled"]) * scale, np.exp(-0.5 * np.asarray(freq["profile_delta_chi2"])))

        def plots():
            write_fit_plots(
                dt, limit, tmp, target.label, profile=profile, freq_limit=freq["limit_xmass_scaled"] * scale
            )
            write_spectrum_plot(dt, tpl, pl, limit, tmp, target.label, False)

        step("plots (trace, rank, POI, PPC, spectrum)", plots)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    total = sum(v for k, v in split.items() if not k.startswith("  "))
    record("bud", "total of the steps", total)
    out["budget"] = split


# -- main ----------------------------------------------------------------------------------------------


def print_table() -> None:
    print("\n| sec | figure | value | unit | load1 (before/after) | note |\n|---|---|---|---|---|---|")
    for r in FIGURES:
        v = f"{r['value']:.4g}" if isinstance(r["value"], float) else str(r["value"])
        ld = "/".join(f"{x:.1f}" for x in r["load1"])
        print(f"| {r['section']} | {r['figure']} | {v} | {r['unit']} | {ld} | {r['note']} |")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sections", default="a,b,c,d,e", help="comma list of a,b,c,d,e (default: all)")
    ap.add_argument("--full-run", action="store_true", help="(e) also the full default `run` (~15 min)")
    ap.add_argument("--quick-runs", type=int, default=2, help="(e) how many `run --quick` to measure (0-2)")
    ap.add_argument("--budget", action="store_true", help="time split of one full-settings magnetic-moment fit")
    ap.add_argument("--scan-masses", type=int, default=40)
    ap.add_argument("--scan-freq-only", action="store_true", help="(c) skip the Bayesian scan")
    ap.add_argument("--toys", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=3, help="(b) repetitions of warm timings (median)")
    ap.add_argument("--pyhf-variants", default="full,no_gamma,exact")
    ap.add_argument(
        "--pyhf-full",
        action="store_true",
        help="(b) also the full pyhf limit on the 107-nuisance model (~80 s per hypotest)",
    )
    ap.add_argument(
        "--pyhf-optimizer",
        choices=["scipy", "minuit"],
        default="scipy",
        help="(b) pyhf optimizer (default: pyhf's default, scipy)",
    )
    ap.add_argument("--json", type=Path, default=None, help="write the figures here as JSON")
    ap.add_argument("--force", action="store_true", help="overwrite an existing --json file")
    args = ap.parse_args()
    if args.json and args.json.exists() and not args.force:
        print(f"{args.json} exists; pass --force to overwrite", file=sys.stderr)
        return 2
    import numpy as np
    import psutil

    from bayes_xmass.runtime import graph_cache

    graph_cache.enable()  # as the CLI does (section a turns it off for the bare-nutpie path)
    sections = [s.strip() for s in args.sections.split(",") if s.strip()]
    print(
        f"bench_peers: {platform.node()}, {os.cpu_count()} cores, load {os.getloadavg()}, "
        f"RAM {psutil.virtual_memory().total / 2**30:.0f} GiB, python {platform.python_version()}",
        flush=True,
    )
    started = time.perf_counter()
    out: dict = {}
    fns = {"a": section_a, "b": section_b, "c": section_c, "d": section_d, "e": section_e}
    order = [s for s in ("a", "b", "c", "d") if s in sections]
    if args.budget:
        order.append("budget")
    if "e" in sections:
        order.append("e")
    for s in order:
        try:
            (section_budget if s == "budget" else fns[s])(args, out)
        except Exception as exc:  # a failing section should not hide the others' figures
            import traceback

            traceback.print_exc()
            record(s, "FAILED", repr(exc)[:200], unit="")
    print_table()
    if args.json:
        from bayes_xmass.runtime.io import package_versions

        doc = {
            "figures": FIGURES,
            "summary": out,
            "args": {k: str(v) for k, v in vars(args).items()},
            "machine": {"cores": os.cpu_count(), "node": platform.node()},
            "package_versions": package_versions(),
            "seconds": time.perf_counter() - started,
            "numpy": np.__version__,
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(doc, indent=1, default=str))
        print(f"figures written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
