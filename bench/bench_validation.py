"""Validation rules on the dev encounters' expected fields: warning recall, false warnings per case
(on the five codes the dev set enumerates) and milliseconds per validation run.

    python bench/bench_validation.py [DATASET_DIR]
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from clinidoc.encounter import (  # noqa: E402
    Allergy, Diagnosis, EncounterResult, Evidence, ImageArtifact, LabResult, Medication, Note, Patient, Provenance,
    Segment, Transcript, Vitals,
)
from clinidoc.imaging.dicom import read_dicom  # noqa: E402
from clinidoc.validation import validate  # noqa: E402

CODES = {"allergy_conflict", "critical_lab", "dose_out_of_range", "abnormal_lab_unaddressed", "patient_mismatch"}


def result_from_expected(case_dir: Path, case: dict) -> EncounterResult:
    exp = case["expected"]
    text = exp["transcript"]
    images = []
    for f in case["inputs"]["images"]:
        dicom = read_dicom(case_dir / f).as_dict() if f.endswith(".dcm") else None
        images.append(ImageArtifact(file=f, kind="xray" if dicom else "unknown", dicom=dicom))
    return EncounterResult(
        patient=Patient.model_validate(case["patient"]),
        transcript=Transcript(text=text, segments=[Segment(start=0, end=0, text=text)]),
        images=images,
        labs=[LabResult(test=l["test"], value=l["value"], unit=l["unit"], flag=l["flag"], source=Evidence(source="labs"))
              for l in exp.get("labs", [])],
        note=Note(
            sections={"subjective": text, "objective": text, "assessment": text, "plan": text},
            medications=[Medication(**m) for m in exp.get("medications", [])],
            diagnoses=[Diagnosis(**d) for d in exp.get("diagnoses", [])],
            allergies=[Allergy(substance=a) for a in exp.get("allergies", [])],
            vitals=Vitals(**exp.get("vitals", {})),
        ),
        provenance=Provenance(clinidoc_version="bench"),
    )


def main() -> None:
    dataset = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT.parent / "shared/data/encounters-dev"
    found = expected = false = 0
    times_ms: list[float] = []
    print(f"{'case':<9}{'expected':<48}{'missed':<22}false")
    for case_dir in sorted(p for p in dataset.iterdir() if (p / "case.json").is_file()):
        case = json.loads((case_dir / "case.json").read_text())
        result = result_from_expected(case_dir, case)
        validate(result, result.patient)  # warm-up: dictionaries load once
        for _ in range(20):
            t0 = time.perf_counter()
            warnings = validate(result, result.patient)
            times_ms.append((time.perf_counter() - t0) * 1000)
        got = {w.code for w in warnings} & CODES
        want = set(case["expected"].get("warnings", []))
        found += len(got & want)
        expected += len(want)
        false += len(got - want)
        print(f"{case['id']:<9}{', '.join(sorted(want)) or '-':<48}{', '.join(sorted(want - got)) or '-':<22}{', '.join(sorted(got - want)) or '-'}")
    n = len(times_ms) // 20
    print(f"warning recall {found}/{expected} = {found / max(1, expected):.2f}; false warnings {false} over {n} cases "
          f"= {false / max(1, n):.2f} per case")
    print(f"ms per validation run: median {statistics.median(times_ms):.1f}, p95 {sorted(times_ms)[int(0.95 * len(times_ms))]:.1f}")


if __name__ == "__main__":
    main()
