"""Default sizes of a B-L mass scan (``bayes-xmass scan`` and ``run``'s exclusion curve).

No imports: the command line shows these in its help without loading the numerical stack.
"""

from __future__ import annotations

__all__ = ["DEFAULT_SCAN_TOYS", "SCAN_DRAWS", "SCAN_TUNE"]

SCAN_DRAWS, SCAN_TUNE = 2000, 500  # default NUTS draws / tuning steps per chain and mass (a mass
# whose diagnostics fail is re-sampled, infer/scan.py), also used by `run`'s B-L scan. 500 tuning steps:
# all 16 masses of `run`'s grid pass for 2 seed sets (smallest bulk ESS 902, POI ESS >= 1361)
DEFAULT_SCAN_TOYS = 50  # background-only toys per mass for the expected bands (batched fits, ~10 ms each)
