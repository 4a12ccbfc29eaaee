"""Bundled note templates (SOAP, H&P, progress, consult) and user templates in the data folder."""

import json

import jsonschema
import pytest

from clinidoc import config
from clinidoc.drafting.templates import load_template
from clinidoc.errors import InputError
from clinidoc.extraction.sections import SECTION_KEYS
from clinidoc.pipeline import (
    SOAP_KEYS,
    EncounterInputs,
    Engines,
    extract_note,
    process_encounter,
)
from clinidoc.weights import ModelRegistry

BUNDLED = sorted(p.stem for p in config.resource("templates").glob("*.json"))

# Expected section keys per bundled template: a template that loses or renames a section fails here.
EXPECTED_KEYS = {
    "soap": ["subjective", "objective", "assessment", "plan"],
    "hp": ["chief_complaint", "history_of_present_illness", "past_history", "examination", "results", "assessment", "plan"],
    "progress": ["interval_history", "examination", "results", "assessment", "plan"],
    "consult": ["reason_for_referral", "history", "findings", "impression", "recommendations"],
}

TRANSCRIPT = (
    "Patient is a 64 year old man with two weeks of exertional chest tightness. "
    "He takes lisinopril 10 milligrams daily. No known drug allergies.\n"
    "On exam blood pressure 152 over 94, heart rate 88. Lungs clear. EKG shows sinus rhythm.\n"
    "Assessment: stable angina. Hypertension.\n"
    "Plan: start aspirin 81 milligrams by mouth daily. Exercise stress test. Follow up in two weeks.\n"
)


def test_the_bundled_templates_are_the_four_expected():
    assert BUNDLED == sorted(EXPECTED_KEYS)


@pytest.mark.parametrize("name", sorted(EXPECTED_KEYS))
def test_every_bundled_template_loads_with_valid_sections(name):
    raw = json.loads(config.resource("templates", f"{name}.json").read_text())
    assert {"name", "version", "title", "system", "sections"} <= set(raw)
    template = load_template(name)
    assert template.name == name and template.title and template.system and template.version
    keys = [s.key for s in template.sections]
    assert keys == EXPECTED_KEYS[name]
    assert len(set(keys)) == len(keys), f"duplicate section keys in {name}: {keys}"
    for spec in template.sections:
        assert spec.source_key in SECTION_KEYS, f"{name}.{spec.key} draws from {spec.source_key!r}"
        assert spec.title and spec.instruction
        assert 100 <= spec.max_chars <= 2000
        assert template.section_schema(spec)["properties"]["text"]["maxLength"] == spec.max_chars
    # every dictated part feeds at least one section, so nothing dictated is dropped from the note
    assert {s.source_key for s in template.sections} == set(SECTION_KEYS)


def test_an_unknown_template_names_the_ones_available():
    with pytest.raises(InputError) as err:
        load_template("discharge")
    for name in EXPECTED_KEYS:
        assert name in str(err.value)


def _write_template(folder, name, title, sections):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.json").write_text(json.dumps(
        {"name": name, "version": "7", "title": title, "system": "Scribe.", "sections": sections}))


def test_a_user_template_overrides_a_bundled_one_and_adds_new_ones(tmp_path):
    folder = tmp_path / "templates"
    _write_template(folder, "hp", "Clinic H&P", [
        {"key": "history", "title": "History", "instruction": "All history.", "source": "subjective"},
        {"key": "plan", "title": "Plan", "instruction": "The plan.", "max_chars": 300},
    ])
    _write_template(folder, "telephone", "Telephone encounter", [
        {"key": "call_summary", "title": "Call summary", "instruction": "What was said.", "source": "subjective"},
    ])
    hp = load_template("hp", tmp_path)
    assert (hp.title, hp.version, [s.key for s in hp.sections]) == ("Clinic H&P", "7", ["history", "plan"])
    assert hp.sections[1].source_key == "plan" and hp.sections[1].max_chars == 300
    assert load_template("hp").title == "History and physical"  # the bundled one without a data folder
    assert load_template("telephone", tmp_path).sections[0].key == "call_summary"
    assert load_template("consult", tmp_path).title == "Consultation letter"  # bundled ones still reachable
    with pytest.raises(InputError, match="telephone"):
        load_template("nope", tmp_path)


def test_a_user_template_in_the_data_folder_shapes_the_note(tmp_path):
    _write_template(tmp_path / "templates", "telephone", "Telephone encounter", [
        {"key": "call_summary", "title": "Call summary", "instruction": "What was said.", "source": "subjective"},
        {"key": "advice", "title": "Advice", "instruction": "Advice given.", "source": "plan"},
    ])
    transcript = tmp_path / "call.txt"
    transcript.write_text(TRANSCRIPT)
    engines = Engines(ModelRegistry(tmp_path))
    outcome = process_encounter(EncounterInputs(transcript_file=transcript, template="telephone"), engines, draft=False)
    sections = outcome.result.note.sections
    assert outcome.result.note.template == "telephone"
    assert set(sections) == {*SOAP_KEYS, "call_summary", "advice"}
    assert sections["call_summary"] == sections["subjective"] and "lisinopril" in sections["call_summary"]
    assert "aspirin 81 milligrams" in sections["advice"] and sections["advice"] == sections["plan"]


def test_hp_template_drafted_by_the_embedded_model_gives_a_valid_document(tmp_path, engines, output_schema):
    transcript = tmp_path / "visit.txt"
    transcript.write_text(TRANSCRIPT)
    outcome = process_encounter(EncounterInputs(transcript_file=transcript, template="hp", encounter_id="hp-1"),
                                engines, draft=True)
    assert outcome.input_errors == []
    doc = outcome.result.to_contract()
    jsonschema.validate(doc, output_schema)
    sections = doc["note"]["sections"]
    template = load_template("hp")
    assert set(sections) == {*SOAP_KEYS, *(s.key for s in template.sections)}
    assert all(sections[k].strip() for k in SOAP_KEYS)
    assert doc["note"]["template"] == "hp"
    # the SOAP parts hold the dictated text as split, whatever the template adds
    assert "stable angina" in sections["assessment"].lower()
    assert "lisinopril" in sections["subjective"] and "152" in sections["objective"]
    llm = next(m for m in doc["provenance"]["models"] if m["role"] == "llm")
    assert llm["params"]["template"] == "hp@1"
    origins = llm["params"]["section_origin"]
    assert set(origins) == {s.key for s in template.sections} and set(origins.values()) <= {"llm", "source"}
    # a section the model's rewrite failed for is the dictated source text itself, placed once: later
    # sections fed by the same dictated part stay empty instead of repeating it
    _, sources = extract_note(outcome.result.transcript, None, "hp")
    placed = set()
    for spec in template.sections:
        if origins[spec.key] == "source":
            expected = "" if spec.source_key in placed else sources[spec.source_key].strip()
            placed.add(spec.source_key)
            assert sections[spec.key] == expected, spec.key
    # structured fields come from the extractors, not the model
    assert [(m["name"].lower(), m["dose"], m["unit"]) for m in doc["note"]["medications"]] == [("aspirin", 81, "mg")]
    assert "stable angina" in [d["text"].lower() for d in doc["note"]["diagnoses"]]
