"""Every dev encounter through the pipeline: a schema-valid document, and the dictated facts found."""

from __future__ import annotations

import json

import jsonschema
import pytest

from clinidoc.encounter import Patient
from clinidoc.pipeline import EncounterInputs, process_encounter
from conftest import dev_case_dirs

CASES = dev_case_dirs()


@pytest.fixture(scope="module")
def outcomes(engines):
    results = {}
    for case_dir in CASES:
        case = json.loads((case_dir / "case.json").read_text())
        inputs = EncounterInputs(
            audio=[case_dir / a for a in case["inputs"]["audio"] or []],
            images=[case_dir / i for i in case["inputs"]["images"] or []],
            patient=Patient.model_validate(case["patient"]), encounter_id=case["id"],
        )
        results[case["id"]] = (case, process_encounter(inputs, engines))
    return results


def test_there_are_dev_cases():
    assert len(CASES) >= 8


@pytest.mark.parametrize("case_dir", CASES, ids=[p.name for p in CASES])
def test_each_dev_case_gives_a_schema_valid_document(outcomes, output_schema, case_dir):
    case, outcome = outcomes[case_dir.name]
    doc = outcome.result.to_contract()
    jsonschema.validate(doc, output_schema)
    assert outcome.input_errors == []
    assert {img["file"] for img in doc["images"]} == set(case["inputs"]["images"])
    assert doc["transcript"]["text"] and doc["labs"], "transcript and lab rows expected for every dev case"
    kinds = {img["file"]: img["kind"] for img in doc["images"]}
    assert all(kind == "ecg" for f, kind in kinds.items() if f.startswith("ecg"))
    assert all(kind == "lab_report" for f, kind in kinds.items() if f.startswith("labs"))


def _found(outcomes):
    meds = meds_total = vitals = vitals_total = 0
    for case, outcome in outcomes.values():
        note = outcome.result.note
        got = {(m.name, m.dose, m.unit, m.frequency) for m in note.medications}
        for m in case["expected"]["medications"]:
            meds_total += 1
            meds += (m["name"], None if m["dose"] is None else float(m["dose"]), m["unit"], m["frequency"]) in got
        for key, value in case["expected"]["vitals"].items():
            vitals_total += 1
            vitals += getattr(note.vitals, key) == value
    return meds, meds_total, vitals, vitals_total


def test_most_dictated_medications_and_vitals_survive_speech_recognition(outcomes):
    meds, meds_total, vitals, vitals_total = _found(outcomes)
    # measured on tiny.en: see the issue note; the floor leaves margin for run-to-run noise only
    assert meds / meds_total >= 0.6, f"medications {meds}/{meds_total}"
    assert vitals / vitals_total >= 0.85, f"vitals {vitals}/{vitals_total}"
