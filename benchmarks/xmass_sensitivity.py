"""How sensitive a dataset is compared with XMASS-I: expected limits next to the ones XMASS's
published fits imply (bayes_xmass/physics/xmass_published.py).

    python benchmarks/xmass_sensitivity.py [DATASET_DIR]

Prints, per fit (magnetic moment; B-L at 1 keV and 10 MeV), the Delta chi2 = 2.71 limit on the
nominal Asimov data, XMASS's implied expected limit and their ratio, then the observed Delta chi2
limit and the zero-signal chi2/dof next to XMASS's published numbers. Default: the bundled benchmark.
"""

from __future__ import annotations

import sys
import time
import warnings
from pathlib import Path

import bayes_xmass as bx
from bayes_xmass.infer.asimov_sensitivity import asimov_expected_limit
from bayes_xmass.infer.frequentist import ProfileLikelihood
from bayes_xmass.model.spec import model_spec_for
from bayes_xmass.model.targets import fit_targets, target_templates
from bayes_xmass.physics.xmass_published import XMASS_FITS, implied_expected_limit


def main(folder: Path) -> None:
    dataset = bx.load_dataset(folder)
    print(f"dataset {dataset.name} ({dataset.checksum[:12]})\n")
    print(
        "| fit | expected (Asimov) | XMASS implied expected | ratio | observed | XMASS published | chi2(0)/dof | XMASS chi2(0)/dof |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for name in ("magnetic-moment", "dark-photon"):
        spec = model_spec_for(name)
        for target in fit_targets(spec):
            ref = XMASS_FITS[target.label]
            started = time.perf_counter()
            expected = asimov_expected_limit(spec, dataset, target).limit
            tpl = target_templates(spec, dataset, target)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                pl = ProfileLikelihood(tpl, sign=target.sign, likelihood=spec.likelihood)
                best = pl.best_fit()
                observed = pl.upper_limit(spec.cl, "xmass", best) * tpl.coupling_scale
                chi2_zero = pl.chi2(pl.fit(0.0, best.nuisances))
            implied = implied_expected_limit(ref)
            print(
                f"| {target.label} | {expected:.3g} | {implied:.3g} | {expected / implied:.2f} | {observed:.3g} "
                f"| {ref.limit:.2g} | {chi2_zero:.1f}/{pl.n_bins - 1} | {ref.chi2_null}/{ref.dof} |"
                f"  ({time.perf_counter() - started:.0f} s)"
            )


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(bx.DEFAULT_DATASET))
