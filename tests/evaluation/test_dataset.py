"""Dataset readers on the real shared data: the dev case folders, ACI-Bench and MTS-Dialog CSVs."""

from __future__ import annotations

import json

import pytest
from conftest import DEV_CASES, SHARED

from clinidoc.errors import InputError
from clinidoc.evaluation.dataset import detect_format, load_dataset, read_case
from clinidoc.evaluation.metrics import reference_problems, split_reference_note

ACI = SHARED / "data" / "aci-bench"
MTS = SHARED / "data" / "mts-dialog"

pytestmark = pytest.mark.skipif(not DEV_CASES.is_dir(), reason="shared dev data not present")


def test_dev_folder_reads_every_case_with_inputs_and_expected():
    assert detect_format(DEV_CASES) == "cases"
    cases = load_dataset(DEV_CASES)
    assert [c.id for c in cases] == [f"dev-{i:03d}" for i in range(1, 9)]
    for c in cases:
        assert c.format == "cases" and c.patient is not None and c.patient.mrn
        assert len(c.audio) == 1 and c.audio[0].is_file() and c.transcript_file is None
        assert c.images and all(p.is_file() for p in c.images)
        assert {"transcript", "medications", "diagnoses", "allergies", "vitals", "labs", "ecg", "warnings"} <= set(c.expected)
    first = cases[0]
    assert first.patient.allergies == ["penicillin"]
    assert {m["name"] for m in first.expected["medications"]} == {"metoprolol", "apixaban", "lisinopril"}
    assert [p.name for p in first.images] == ["labs.png", "ecg.png"]
    assert load_dataset(DEV_CASES, limit=2)[1].id == "dev-002"
    # one case folder on its own is a dataset of one
    assert [c.id for c in load_dataset(DEV_CASES / "dev-003")] == ["dev-003"]


def test_aci_bench_valid_csv():
    cases = load_dataset(ACI)  # a folder: its valid split
    assert len(cases) == 20 and detect_format(ACI / "valid.csv") == "aci-bench"
    c = cases[0]
    assert c.id == "virtassist-D2N068" and c.format == "aci-bench" and not c.audio and not c.images
    assert c.transcript_text.startswith("[doctor]") and "[patient]" in c.transcript_text
    assert "ASSESSMENT AND PLAN" in c.reference_note
    groups = split_reference_note(c.reference_note)
    assert "Lasix" in groups["subjective"] and "JVD" in groups["objective"]
    assert {p["icd10"] for p in reference_problems(groups["assessment_plan"])} == {"I50.9", "I10"}
    assert len(load_dataset(ACI / "train.csv", "aci-bench")) == 67
    assert len({c.id for c in cases}) == 20


def test_mts_dialog_validation_csv():
    cases = load_dataset(MTS, "mts-dialog", limit=5)
    assert len(cases) == 5 and cases[0].id == "mts-0"
    assert cases[0].reference_note.startswith("HISTORY OF PRESENT ILLNESS\n")
    assert cases[0].transcript_text.startswith("[doctor] ")


def test_bad_datasets_are_input_errors(tmp_path):
    with pytest.raises(InputError):
        load_dataset(tmp_path / "missing")
    with pytest.raises(InputError):
        load_dataset(tmp_path)  # empty folder
    with pytest.raises(InputError):
        load_dataset(DEV_CASES, "nope")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "case.json").write_text("{not json")
    with pytest.raises(InputError):
        read_case(tmp_path / "bad")


def test_minimal_case_with_transcript_file(tmp_path):
    case = tmp_path / "c1"
    case.mkdir()
    (case / "t.txt").write_text("[doctor] start metformin 500 mg twice daily")
    (case / "case.json").write_text(json.dumps({"id": "c1", "inputs": {"transcript": "t.txt"},
                                                "expected": {"medications": [{"name": "metformin"}]}}))
    (c,) = load_dataset(tmp_path)
    assert c.transcript_file == case / "t.txt" and c.patient is None and c.audio == [] and c.images == []
