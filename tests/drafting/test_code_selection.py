"""The LLM chooses among retrieved ICD-10-CM candidates: it can only answer a candidate (or "none"), a
worse choice falls back to the deterministic code, and every decision is recorded."""

import json

import pytest

from clinidoc.drafting.backend import LlamaCppBackend
from clinidoc.drafting.coding import (
    LLM_CODING_MIN_BYTES,
    NONE,
    choose_codes,
    code_schema,
    llm_coding_default,
    sanity_problem,
    select_codes,
)
from clinidoc.encounter import Diagnosis, Evidence
from clinidoc.extraction.diagnoses import extract_diagnoses
from clinidoc.knowledge import icd10


class Scripted:
    """A backend that answers what it is told to, and remembers the schemas it was given."""

    def __init__(self, answer):
        self.answer = answer
        self.schemas = []

    def complete_json(self, messages, schema, *, sampling=None, on_token=None, cancel=None):
        self.schemas.append(schema)
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer(schema) if callable(self.answer) else json.dumps({"code": self.answer})


def dx(said: str, code: str) -> Diagnosis:
    return Diagnosis(text=said, icd10=code, evidence=[Evidence(source="transcript", text=said)])


def test_candidates_are_billable_with_the_deterministic_code_first():
    cands = icd10.candidates("atrial fibrillation", first="I48.91")
    assert cands[0][0] == "I48.91" and 2 <= len(cands) <= 5
    assert all(icd10.is_billable(c) for c, _ in cands)
    # a header code is never offered: its billable children are
    header = icd10.candidates("type 2 diabetes", first="E11")
    assert "E11" not in [c for c, _ in header] and all(icd10.is_billable(c) for c, _ in header)


def test_schema_enum_is_exactly_the_candidates_and_none():
    got = Scripted(lambda schema: json.dumps({"code": schema["properties"]["code"]["enum"][1]}))
    d = [dx("arthritis", "M00.049")]
    choice = choose_codes(d, got)[0]
    enum = got.schemas[0]["properties"]["code"]["enum"]
    assert enum == [*choice.candidates, NONE] and enum == code_schema(choice.candidates)["properties"]["code"]["enum"]


def test_embedded_model_can_only_answer_a_candidate_code(registry):
    backend = LlamaCppBackend(registry.resolve("llm"))
    # fuzzy and description matches (the curated synonyms are not put to the model)
    found = extract_diagnoses("Assessment: otitis externa of left ear, lateral epicondylitis of the right elbow, "
                              "and pneumonia due to streptococcus pneumoniae.")
    codes = [d.icd10 for d in found]
    seen = []
    real = backend.complete_json

    def spy(messages, schema, **kw):
        text = real(messages, schema, **kw)
        seen.append((json.loads(text)["code"], schema["properties"]["code"]["enum"]))
        return text

    backend.complete_json = spy
    choices = choose_codes(found, backend)
    assert len(seen) == len(found) == 3 and all(c.reason is None or "curated" not in c.reason for c in choices)
    for answer, enum in seen:
        assert answer in enum  # the grammar admits nothing else
    for d, c, det in zip(found, choices, codes):
        assert c.deterministic == det and d.icd10 == c.chosen and icd10.is_billable(d.icd10)


def test_a_worse_choice_falls_back_to_the_deterministic_code():
    # the model picks the left elbow for a right-elbow epicondylitis: the deterministic M77.11 stays
    d = [dx("lateral epicondylitis of the right elbow", "M77.11")]
    choice = choose_codes(d, Scripted("M77.12"))[0]
    assert "M77.12" in choice.candidates
    assert d[0].icd10 == "M77.11" and choice.path == "deterministic" and choice.reason == "M77.12: adds a side that was not said"
    # "type 1" was never said
    assert sanity_problem("E10.65", "type 2 diabetes mellitus with hyperglycemia", "E11.65") == "says more than was said"
    assert sanity_problem("M77.12", "lateral epicondylitis", "M77.10") == "adds a side that was not said"
    assert sanity_problem("M77.12", "left lateral epicondylitis", "M77.10") is None
    assert sanity_problem("I48", "atrial fibrillation", "I48.91") == "not billable"
    assert sanity_problem("K21.9", "arthritis", "M00.049") == "shares no word with what was said"


def test_a_choice_that_says_less_than_the_fuzzy_top_is_kept_and_recorded():
    d = [dx("arthritis", "M00.049")]  # the fuzzy matcher's top: staphylococcal arthritis of the hand
    backend = Scripted("M00.9")  # pyogenic arthritis, unspecified: one unsaid word instead of two
    choice = choose_codes(d, backend)[0]
    assert "M00.9" in choice.candidates
    assert (d[0].icd10, choice.path, choice.reason) == ("M00.9", "llm", None)
    assert choice.to_dict()["deterministic"] == "M00.049"


def test_curated_synonym_codes_are_not_put_to_the_model():
    backend = Scripted("E13.9")  # "other specified diabetes": would say less, but the table knows better
    d = [dx("diabetes", "E11.9")]
    choice = choose_codes(d, backend)[0]
    assert d[0].icd10 == "E11.9" and choice.path == "deterministic" and "curated" in choice.reason
    assert backend.schemas == []


@pytest.mark.parametrize("backend, reason", [
    (None, "no model"),
    (Scripted(NONE), "model answered none"),
    (Scripted(RuntimeError("server down")), "model failed"),
    (Scripted(lambda s: '{"code": '), "unusable answer"),
    (Scripted("Z99.89"), "not a candidate"),  # a server that ignores the grammar
])
def test_no_model_or_no_usable_answer_keeps_the_deterministic_code(backend, reason):
    d = [dx("arthritis", "M00.049")]
    choice = choose_codes(d, backend)[0]
    assert d[0].icd10 == "M00.049" and choice.path == "deterministic" and choice.reason.startswith(reason)


def test_llm_selection_is_on_by_default_only_for_larger_models(registry):
    assert not llm_coding_default(registry.resolve("llm").size_bytes)  # SmolLM2-135M, 94 MB
    assert llm_coding_default(4_920_000_000)  # Llama-3.1-8B Q4_K_M
    assert not llm_coding_default(LLM_CODING_MIN_BYTES - 1) and not llm_coding_default(None)


def test_pipeline_entry_records_the_path_and_stays_off_for_the_embedded_model(registry):
    backend = LlamaCppBackend(registry.resolve("llm"))  # not loaded: selection is off for it, so never called
    d = [dx("arthritis", "M00.049")]
    rec = select_codes(d, backend)["code_selection"]
    assert rec["enabled"] is False and rec["choices"] == [] and "<" in rec["why"] and backend._llm is None
    rec = select_codes(d, Scripted("M00.9"), enabled=True)["code_selection"]
    assert rec["enabled"] and rec["choices"][0]["path"] == "llm" and rec["choices"][0]["chosen"] == "M00.9"
    assert select_codes(d, None, enabled=True)["code_selection"]["enabled"] is False


def test_a_choice_that_drops_what_was_said_is_refused():
    said = "iron deficiency anemia secondary to chronic blood loss"
    assert sanity_problem("D50.9", said, "D50.0") == "drops something that was said"
    d = [dx(said, "D50.0")]
    choice = choose_codes(d, Scripted("D50.9"))[0]
    assert d[0].icd10 == "D50.0" and choice.reason == "D50.9: drops something that was said"
