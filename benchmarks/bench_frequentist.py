"""Benchmark: frequentist limit time and 1000 background-only toys on the XMASS-I benchmark.

.venv/bin/python benchmarks/bench_frequentist.py [--toys 1000]
"""

from __future__ import annotations

import argparse
import time
import warnings

warnings.simplefilter("ignore")

from bayes_xmass.datasets.loader import (
    DEFAULT_DATASET,  # noqa: E402
    load_dataset,  # noqa: E402
)
from bayes_xmass.infer.frequentist import ProfileLikelihood  # noqa: E402
from bayes_xmass.infer.toys import toy_limits  # noqa: E402
from bayes_xmass.model.spec import model_spec_for  # noqa: E402
from bayes_xmass.model.targets import fit_targets, target_templates  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--toys", type=int, default=1000)
    args = ap.parse_args()
    ds = load_dataset(DEFAULT_DATASET)
    for name in ("magnetic-moment", "millicharge", "dark-photon"):
        spec = model_spec_for(name)
        target = fit_targets(spec)[0]
        t0 = time.perf_counter()
        tpl = target_templates(spec, ds, target)
        t1 = time.perf_counter()
        pl = ProfileLikelihood(tpl, sign=target.sign)
        t2 = time.perf_counter()
        pl.upper_limit(0.9, "xmass")  # warm-up
        n = 10
        t3 = time.perf_counter()
        for _ in range(n):
            pl.upper_limit(0.9, "xmass")
        t4 = time.perf_counter()
        print(
            f"{target.label:24s} templates {t1 - t0:5.2f} s, compile {t2 - t1:5.2f} s, "
            f"best fit + Delta chi2 limit {(t4 - t3) / n * 1e3:7.1f} ms ({pl.n_calls} logp+grad calls so far)"
        )
    spec = model_spec_for("magnetic-moment")
    tpl = target_templates(spec, ds, fit_targets(spec)[0])
    t0 = time.perf_counter()
    tl = toy_limits(tpl, n_toys=args.toys, seed=1)
    dt = time.perf_counter() - t0
    print(
        f"{args.toys} toys (best fit + 2 limits each, 2 processes): {dt:.1f} s "
        f"({dt / args.toys * 1e3:.0f} ms/toy); median limit {tl.bands('xmass')['median'] * 1e-10:.3g} mu_B"
    )


if __name__ == "__main__":
    main()
