"""Lab report reading on the dev encounters' reports: rows exactly right (test, value, unit, flag) and
seconds per page. A row is right only when all four match the report.

    python bench/bench_labs.py [DATASET_DIR]
"""

from __future__ import annotations

import json
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
    print(f"{'case':<9}{'file':<10}{'style':<16}{'rows':>10}{'secs':>7}")
    for case_dir in sorted(p for p in dataset.iterdir() if (p / "case.json").is_file()):
        case = json.loads((case_dir / "case.json").read_text())
        lab_file = next(case_dir / f for f in case["inputs"]["images"] if f.startswith("labs"))
        started = time.perf_counter()
        report = read_lab_report(lab_file)
        secs = (time.perf_counter() - started) / max(1, report.pages)
        seconds.append(secs)
        got = {key(r.test, r.value, r.unit, r.flag) for r in report.rows}
        want = [key(e["test"], e["value"], e["unit"], e["flag"]) for e in case["expected"]["labs"]]
        ok = sum(1 for w in want if w in got)
        total += len(want)
        right += ok
        style = case.get("source", {}).get("lab_layout", "?")
        print(f"{case['id']:<9}{lab_file.name:<10}{style:<16}{ok:>5}/{len(want):<4}{secs:>7.2f}")
    print(f"rows exactly right: {right}/{total} = {right / total:.1%}; seconds per page: mean {sum(seconds) / len(seconds):.2f}, max {max(seconds):.2f}")


if __name__ == "__main__":
    main()
