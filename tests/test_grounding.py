"""The note never says what no source said: no drug from a transcript that names none, and a claim
with no source is flagged."""

from clinidoc.encounter import Evidence, Medication
from clinidoc.pipeline import EncounterInputs, process_encounter
from clinidoc.validation import validate

NO_DRUGS = (
    "Forty year old man with two days of tension-type headache after poor sleep. No fever, no neck stiffness, "
    "no vision change. Blood pressure 124 over 78, heart rate 70. Neurological exam normal. "
    "Assessment: tension-type headache. Plan: sleep hygiene, fluids, return if worse."
)


def test_a_transcript_that_names_no_drug_gives_no_medication(tmp_path, engines):
    transcript = tmp_path / "visit.txt"
    transcript.write_text(NO_DRUGS)
    result = process_encounter(EncounterInputs(transcript_file=transcript), engines).result
    assert result.note.medications == []
    assert not [w for w in result.warnings if w.code == "unsupported_claim"]
    assert result.note.vitals.systolic_bp == 124
    # a medication added afterwards (by a model or by hand) with no source is flagged, with its field
    result.note.medications.append(Medication(name="sumatriptan", dose=50, unit="mg", route="PO", frequency="once",
                                              evidence=[Evidence(source="llm")]))
    flagged = [w for w in validate(result, result.patient, result.transcript.text) if w.code == "unsupported_claim"]
    assert flagged and flagged[0].field.startswith("note.medications[0]")
    assert "sumatriptan" in flagged[0].message


def test_same_inputs_redraft_the_same_note_and_provenance_says_how(tmp_path, engines):
    transcript = tmp_path / "visit.txt"
    transcript.write_text(NO_DRUGS)
    first = process_encounter(EncounterInputs(transcript_file=transcript), engines).result
    second = process_encounter(EncounterInputs(transcript_file=transcript), engines).result
    assert first.note.model_dump() == second.note.model_dump()
    llm = next(m for m in first.provenance.models if m.role == "llm")
    assert len(llm.sha256) == 64
    assert llm.params["sampling"]["seed"] == 1234 and "repeat_penalty" in llm.params["sampling"]
    assert llm.params["template"] == "soap@1" and set(llm.params["context_strategy"]) >= {"plan"}
