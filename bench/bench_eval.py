"""The cost of scoring itself (no models): `clinidoc eval` should spend its time in the pipeline, not in
the metrics. Also a sanity check: every dev case scored against its own expected block gives F1 1.

    python bench/bench_eval.py [SHARED_DATA_DIR]     (default ../shared/data)

Prints, per dataset, milliseconds of scoring per case (ROUGE-L, drug/problem recall, WER/CER, field
matching) and the figures of the self-score.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from clinidoc.evaluation.dataset import load_dataset
from clinidoc.evaluation.metrics import aggregate, headline, score_case


def _as_output(expected: dict) -> dict:
    """A perfect output document built from an expected block."""
    return {
        "transcript": {"text": expected.get("transcript", "")},
        "labs": expected.get("labs", []),
        "ecg": [expected["ecg"]] if expected.get("ecg") else [],
        "note": {"sections": {"subjective": "s", "objective": "o", "assessment": "a", "plan": "p"},
                 "medications": expected.get("medications", []), "diagnoses": expected.get("diagnoses", []),
                 "allergies": [{"substance": a} for a in expected.get("allergies", [])],
                 "vitals": expected.get("vitals", {})},
        "warnings": [{"code": c} for c in expected.get("warnings", [])],
        "provenance": {"timings_s": {}},
    }


def main() -> None:
    data = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT.parent / "shared" / "data"
    dev = load_dataset(data / "encounters-dev")
    score_case(dev[0].expected, _as_output(dev[0].expected))  # warm the dictionaries
    t = time.perf_counter()
    scores = [score_case(c.expected, _as_output(c.expected), required_sections=["subjective", "objective", "assessment", "plan"]) for c in dev]
    dt = time.perf_counter() - t
    flat = headline(aggregate(scores))
    print(f"dev self-score: {len(dev)} cases, {1000 * dt / len(dev):.1f} ms/case")
    for k, v in flat.items():
        if not k.startswith("seconds."):
            print(f"  {k:<32} {v}")

    aci = load_dataset(data / "aci-bench")
    t = time.perf_counter()
    for c in aci:  # the dialogue standing in for a note: the worst case for ROUGE-L's LCS
        doc = {"note": {"sections": {"subjective": c.transcript_text, "objective": "", "assessment": "", "plan": ""}}}
        score_case({}, doc, reference_note=c.reference_note)
    dt = time.perf_counter() - t
    print(f"aci-bench reference scoring: {len(aci)} cases, {1000 * dt / len(aci):.1f} ms/case")


if __name__ == "__main__":
    main()
