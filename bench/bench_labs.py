"""Lab report reading on the dev encounters' reports: rows exactly right (test, value, unit, flag) and
seconds per page. A row is right only when all four match the report.

Seconds are wall time and CPU time (all threads) per page: on a shared machine the wall time
is mostly waiting for a core, while CPU time bounds what the page costs on an idle one.

    python bench/bench_labs.py [DATASET_DIR]
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from clinidoc.imaging.labs import read_lab_report  # noqa: E402


def key(test, value, unit, flag) -> tuple:
    try:
        value = float(value)
    except (TypeError, ValueError):
        value = str(value)
    return (str(test).strip().lower(), value, unit, flag)


def main() -> None:
    dataset = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT.parent / "shared/data/encounters-dev"
    read_lab_report(ROOT / "resources/demo/labs.png")  # load the OCR models once, outside the timings
    total = right = 0
    seconds: list[float] = []
    cpu: list[float] = []
    print(f"{'case':<9}{'file':<10}{'style':<16}{'rows':>10}{'secs':>7}{'cpu s':>7}")
    for case_dir in sorted(p for p in dataset.iterdir() if (p / "case.json").is_file()):
        case = json.loads((case_dir / "case.json").read_text())
        lab_file = next(case_dir / f for f in case["inputs"]["images"] if f.startswith("labs"))
        started, cpu0 = time.perf_counter(), time.process_time()
        report = read_lab_report(lab_file)
        secs = (time.perf_counter() - started) / max(1, report.pages)
        cpu_secs = (time.process_time() - cpu0) / max(1, report.pages)
        seconds.append(secs)
        cpu.append(cpu_secs)
        got = {key(r.test, r.value, r.unit, r.flag) for r in report.rows}
        want = [key(e["test"], e["value"], e["unit"], e["flag"]) for e in case["expected"]["labs"]]
        ok = sum(1 for w in want if w in got)
        total += len(want)
        right += ok
        style = case.get("source", {}).get("lab_layout", "?")
        print(f"{case['id']:<9}{lab_file.name:<10}{style:<16}{ok:>5}/{len(want):<4}{secs:>7.2f}{cpu_secs:>7.2f}")
    print(f"rows exactly right: {right}/{total} = {right / total:.1%}; seconds per page: mean {sum(seconds) / len(seconds):.2f}, max {max(seconds):.2f}; "
          f"CPU seconds per page: mean {sum(cpu) / len(cpu):.2f}, max {max(cpu):.2f} (load {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")


if __name__ == "__main__":
    main()
