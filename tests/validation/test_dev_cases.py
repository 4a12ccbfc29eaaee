"""validate() on each dev case's expected block gives exactly its expected warnings (five codes)."""

import json
from pathlib import Path

import pytest

from clinidoc.encounter import (
    Allergy, Diagnosis, EcgFinding, EncounterResult, Evidence, ImageArtifact, LabResult, Medication, Note, Patient,
    Provenance, Transcript, Vitals,
)
from clinidoc.validation import validate

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "encounters-dev"
CASES = sorted(DATA.glob("dev-*/case.json"))
SCORED = {"allergy_conflict", "critical_lab", "dose_out_of_range", "abnormal_lab_unaddressed", "patient_mismatch"}
DICOM_KEYS = ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "Modality", "StudyDate")


def build(case_dir: Path, case: dict) -> EncounterResult:
    pydicom = pytest.importorskip("pydicom")
    exp = case["expected"]
    images = []
    for name in case["inputs"]["images"]:
        if name.endswith(".dcm"):
            ds = pydicom.dcmread(case_dir / name, stop_before_pixels=True)
            images.append(ImageArtifact(file=name, kind="xray", dicom={k: str(ds.get(k, "")) for k in DICOM_KEYS}))
        else:
            images.append(ImageArtifact(file=name, kind="ecg" if name.startswith("ecg") else "lab_report"))
    text = exp["transcript"]
    a, p = text.find("Assessment:"), text.find("Plan:")
    sections = {"subjective": text[:a], "objective": text[:a], "assessment": text[a:p], "plan": text[p:]}
    return EncounterResult(
        provenance=Provenance(clinidoc_version="test"), encounter_id=case["id"], patient=Patient(**case["patient"]),
        transcript=Transcript(text=text), images=images,
        labs=[LabResult(**lab, source=Evidence(source="labs.png")) for lab in exp.get("labs", [])],
        ecg=[EcgFinding(**exp["ecg"], source=Evidence(source="ecg.png"))] if exp.get("ecg") else [],
        note=Note(sections=sections, diagnoses=[Diagnosis(**d) for d in exp["diagnoses"]],
                  medications=[Medication(**m) for m in exp["medications"]],
                  allergies=[Allergy(substance=s) for s in exp.get("allergies", [])],
                  vitals=Vitals(**exp.get("vitals", {}))),
    )


@pytest.mark.skipif(not CASES, reason="shared dev data not present")
@pytest.mark.parametrize("case_file", CASES, ids=lambda p: p.parent.name)
def test_dev_case_warnings(case_file):
    case = json.loads(case_file.read_text())
    issues = validate(build(case_file.parent, case))
    assert sorted({i.code for i in issues} & SCORED) == sorted(case["expected"]["warnings"])
    # the reference note is supported by its own dictation and codes
    assert not {i.code for i in issues} & {"unsupported_claim", "invalid_icd10", "non_billable_icd10",
                                           "icd10_text_mismatch", "unknown_drug", "missing_section"}
