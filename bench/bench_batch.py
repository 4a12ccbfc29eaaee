"""Batch `process_encounter` of this tree against another checkout (e.g. the last release), same machine, same run.

    git worktree add /tmp/base <commit>
    python bench/bench_batch.py --baseline-src /tmp/base [--rounds 2] [--cases dev-001,dev-004]

Both trees run in their own worker process (models loaded once, on a warm-up case, as in the app); each
case is timed in both, the order alternating per case and round so both see the same machine load. Prints
per case the median seconds of each and their ratio, then the median ratio: the check that the batch path
(now a session in batch mode) is no slower than before.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_replay import DEFAULT_DATA, ROOT, Baseline  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data", nargs="?", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--baseline-src", type=Path, required=True)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--cases", default="")
    args = ap.parse_args()
    cases = sorted(p for p in args.data.iterdir() if (p / "case.json").is_file())
    if args.cases:
        cases = [c for c in cases if c.name in set(args.cases.split(","))]
    before, now = Baseline(args.baseline_src, cases[0]), Baseline(ROOT, cases[0])
    ratios = []
    print(f"{'case':<9}{'now_s':>8}{'before_s':>10}{'ratio':>7}")
    for i, case in enumerate(cases):
        a, b = [], []
        for r in range(args.rounds):
            if (i + r) % 2:
                b.append(before.time(case)), a.append(now.time(case))
            else:
                a.append(now.time(case)), b.append(before.time(case))
        ratio = statistics.median(a) / statistics.median(b)
        ratios.append(ratio)
        print(f"{case.name:<9}{statistics.median(a):>8.2f}{statistics.median(b):>10.2f}{ratio:>7.3f}", flush=True)
    before.close(), now.close()
    print(f"median ratio now/before: {statistics.median(ratios):.3f} over {len(cases)} case(s), {args.rounds} round(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
