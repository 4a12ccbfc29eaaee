"""Every dev encounter through `process_encounter` (the same code as `clinidoc process`): how many of the
expected medications (name + dose + unit + frequency) and vitals came out, and seconds per case.

    python bench/dev_cases.py [DATASET_DIR]     (default ../shared/data/encounters-dev)
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from clinidoc.encounter import Patient  # noqa: E402
from clinidoc.pipeline import EncounterInputs, Engines, process_encounter  # noqa: E402
from clinidoc.weights import ModelRegistry  # noqa: E402

WARNING_CODES = {"allergy_conflict", "critical_lab", "dose_out_of_range", "abnormal_lab_unaddressed", "patient_mismatch"}


def med_key(m: dict) -> tuple:
    dose = m.get("dose")
    return (m["name"], float(dose) if dose is not None else None, m.get("unit"), m.get("frequency"))


def main() -> None:
    dataset = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT.parent / "shared/data/encounters-dev"
    engines = Engines(ModelRegistry(Path(tempfile.mkdtemp(prefix="clinidoc-dev-"))))
    totals = dict(meds=0, meds_found=0, vitals=0, vitals_found=0, dx=0, dx_found=0, warn=0, warn_found=0, warn_extra=0)
    print(f"{'case':<9}{'meds':>8}{'vitals':>9}{'dx':>7}{'warn':>7}{'extra':>7}{'ecg':>22}{'secs':>7}  missed")
    for case_dir in sorted(p for p in dataset.iterdir() if (p / "case.json").is_file()):
        case = json.loads((case_dir / "case.json").read_text())
        exp = case["expected"]
        inputs = EncounterInputs(
            audio=[case_dir / a for a in case["inputs"].get("audio") or []],
            transcript_file=case_dir / case["inputs"]["transcript"] if case["inputs"].get("transcript") else None,
            images=[case_dir / i for i in case["inputs"].get("images") or []],
            patient=Patient.model_validate(case["patient"]), encounter_id=case["id"],
        )
        started = time.perf_counter()
        doc = process_encounter(inputs, engines).result.to_contract()
        secs = time.perf_counter() - started
        got_meds = {med_key(m) for m in doc["note"]["medications"]}
        want_meds = [med_key(m) for m in exp.get("medications", [])]
        meds_found = sum(1 for m in want_meds if m in got_meds)
        want_vitals = exp.get("vitals", {})
        vitals_found = sum(1 for k, v in want_vitals.items() if doc["note"]["vitals"].get(k) == v)
        got_dx = {d["icd10"] for d in doc["note"]["diagnoses"]}
        want_dx = [d["icd10"] for d in exp.get("diagnoses", [])]
        dx_found = sum(1 for c in want_dx if c in got_dx)
        got_w = {w["code"] for w in doc["warnings"]} & WARNING_CODES
        want_w = set(exp.get("warnings", []))
        ecg = doc["ecg"][0] if doc["ecg"] else {}
        ecg_txt = f"{ecg.get('rhythm', '-')[:14]}/{ecg.get('heart_rate_bpm') or 0:.0f}" if ecg else "-"
        missed = [m[0] for m in want_meds if m not in got_meds] + [k for k, v in want_vitals.items() if doc["note"]["vitals"].get(k) != v]
        print(
            f"{case['id']:<9}{meds_found:>4}/{len(want_meds):<3}{vitals_found:>5}/{len(want_vitals):<3}"
            f"{dx_found:>3}/{len(want_dx):<3}{len(got_w & want_w):>3}/{len(want_w):<3}{len(got_w - want_w):>5}"
            f"{ecg_txt:>22}{secs:>7.1f}  {', '.join(missed)}"
        )
        for key, a, b in (("meds", meds_found, len(want_meds)), ("vitals", vitals_found, len(want_vitals)),
                          ("dx", dx_found, len(want_dx)), ("warn", len(got_w & want_w), len(want_w))):
            totals[key] += b
            totals[f"{key}_found"] += a
        totals["warn_extra"] += len(got_w - want_w)
    print(
        f"TOTAL    meds {totals['meds_found']}/{totals['meds']}, vitals {totals['vitals_found']}/{totals['vitals']}, "
        f"diagnoses {totals['dx_found']}/{totals['dx']}, expected warnings {totals['warn_found']}/{totals['warn']}, "
        f"extra warnings {totals['warn_extra']}"
    )


if __name__ == "__main__":
    main()
