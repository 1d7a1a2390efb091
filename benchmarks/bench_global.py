"""Wall time and peak memory of ``bayes-xmass global`` (all bundled public datasets).

Runs the command twice in a fresh process each (the first fills the template and compile caches,
the second is the "warm" figure) and prints wall time, CPU time and peak RSS of the process tree.

    python benchmarks/bench_global.py [--quick] [--toys 50]
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _run(args: list[str]) -> tuple[float, float, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "bayes_xmass", "global", "--out", str(Path(tmp) / "g"), "--no-progress", *args]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, after.ru_maxrss / 1024.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--toys", type=int, default=50)
    a = ap.parse_args()
    args = ["--toys", str(a.toys)] + (["--quick"] if a.quick else [])
    for label in ("first (caches filled as needed)", "warm"):
        wall, cpu, rss = _run(args)
        print(f"global {' '.join(args)} [{label}]: wall {wall:.1f} s, CPU {cpu:.1f} s, peak RSS {rss:.0f} MB")


if __name__ == "__main__":
    main()
