"""Compare the limits of two run directories (e.g. before/after a refactor, same seed).

    python benchmarks/compare_runs.py RUN_A RUN_B

Prints one Markdown row per fit and limit kind (physical units) with the ratio B/A, and the
largest relative difference over the B-L scan curve.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def limits(run: Path) -> dict[str, float]:
    """Every limit of a run's limits.json, keyed '<fit> <kind>', in the coupling's physical unit."""
    doc = json.loads((run / "limits.json").read_text())
    out: dict[str, float] = {}
    for fit in doc["fits"]:
        label, scale = fit["fit"], fit.get("coupling_scale") or 1.0
        out[f"{label} bayes"] = fit["bayes"]["limit"]
        freq = fit["frequentist"]
        for key in ("limit_xmass_scaled", "limit_one_sided_scaled", "limit_cls_scaled"):
            if freq.get(key) is not None:
                out[f"{label} {key.removeprefix('limit_').removesuffix('_scaled')}"] = freq[key] * scale
        if (fit.get("toy_calibrated") or {}).get("limit") is not None:
            out[f"{label} toy_calibrated"] = fit["toy_calibrated"]["limit"]
        if (fit.get("feldman_cousins") or {}).get("upper") is not None:
            out[f"{label} feldman_cousins"] = fit["feldman_cousins"]["upper"]
    scan = doc.get("b_minus_l_scan") or {}
    for i, value in enumerate(scan.get("bayes", [])):
        out[f"scan[{i}] bayes"] = value
    for kind in ("freq_xmass", "freq_one_sided"):
        for i, value in enumerate(scan.get(kind, [])):
            out[f"scan[{i}] {kind}"] = value
    return out


def main(a: str, b: str) -> None:
    la, lb = limits(Path(a)), limits(Path(b))
    print("| limit | before | after | after/before |\n|---|---|---|---|")
    worst = 0.0
    for key in la:
        if key in lb and la[key]:
            ratio = lb[key] / la[key]
            worst = max(worst, abs(ratio - 1))
            if not key.startswith("scan["):
                print(f"| {key} | {la[key]:.4g} | {lb[key]:.4g} | {ratio:.4f} |")
    scan_keys = [k for k in la if k.startswith("scan[") and k in lb and la[k]]
    if scan_keys:
        d = max(abs(lb[k] / la[k] - 1) for k in scan_keys)
        print(f"\nB-L scan: {len(scan_keys)} points, largest relative difference {d:.2%}")
    print(f"\nlargest relative difference overall: {worst:.2%}; missing after: {sorted(set(la) - set(lb))}")


if __name__ == "__main__":
    main(*sys.argv[1:3])
