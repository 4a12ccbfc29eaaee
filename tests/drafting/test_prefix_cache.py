"""The drafting prompt's shared prefix in llama.cpp's KV cache: evaluated ahead of time (warm), reused by
the next call, and the output is token for token what a cold run gives with the same seed. Streaming:
draft_sections reports each section's text as it is generated."""

from itertools import pairwise

import pytest

from clinidoc.drafting.backend import LlamaCppBackend, Sampling
from clinidoc.drafting.draft import (
    DraftEvent,
    _messages,
    draft_sections,
    encounter_context,
    partial_text,
    prefix_prompt,
    section_prompts,
)
from clinidoc.drafting.templates import load_template
from clinidoc.encounter import EcgFinding, Evidence, LabResult, Patient

SOURCES = {
    "subjective": "Seventy-four year old woman with three days of palpitations. No chest pain.",
    "objective": "Blood pressure 138 over 86, heart rate 84 and irregularly irregular. Lungs clear.",
    "assessment": "New onset atrial fibrillation and essential hypertension.",
    "plan": "Start metoprolol tartrate 25 milligrams by mouth twice daily. Return in two weeks.",
}
PATIENT = Patient(name="Jane Roe", sex="F", allergies=["penicillin"], medications=["lisinopril 20 mg daily"])
LABS = [LabResult(test="Glucose", value=112.0, unit="mg/dL", flag="H", source=Evidence(source="labs.png")),
        LabResult(test="Potassium", value=4.3, unit="mmol/L", flag="N", source=Evidence(source="labs.png"))]
ECG = [EcgFinding(rhythm="atrial_fibrillation", heart_rate_bpm=84.2, qtc_ms=393.0, source=Evidence(source="ecg.png"))]


@pytest.fixture(scope="module")
def backend(registry):
    return LlamaCppBackend(registry.resolve("llm"))


@pytest.fixture(scope="module")
def context():
    return encounter_context(PATIENT, LABS, ECG)


def _cold(backend):
    backend.forget_warm_states()
    assert backend._llm is None or backend._llm.n_tokens == 0


def test_context_is_deterministic_and_has_no_identity(context):
    assert context == encounter_context(PATIENT, LABS, ECG)
    assert "Glucose 112 mg/dL (H)" in context and "Potassium" in context and "4.3" not in context
    assert "atrial fibrillation, rate 84 bpm, QTc 393 ms" in context and "penicillin" in context
    assert "Jane" not in context and "Roe" not in context


def test_sections_share_a_byte_identical_prefix_first(context):
    template = load_template("soap")
    prompts = section_prompts(template, SOURCES, context)
    assert len(prompts) == 4
    systems = {p[0]["content"] for p in prompts}
    assert len(systems) == 1 and context in systems.pop()  # system prompt + context: one string for all
    assert len({p[1]["content"] for p in prompts}) == 4  # then the section's own part


def test_prompt_tokens_are_what_llama_cpp_evaluates(backend, context):
    template = load_template("soap")
    msgs = _messages(template, template.sections[3], SOURCES["plan"], context)
    tokens = backend.prompt_tokens(msgs)
    _cold(backend)
    backend.complete_json(msgs, template.section_schema(template.sections[3]), sampling=Sampling(max_tokens=16))
    call = backend.stats.per_call[-1]
    assert call["prompt_tokens"] == len(tokens) and call["prompt_reused_tokens"] == 0
    # the shared prefix is the same tokens in every section's prompt
    others = [backend.prompt_tokens(m) for m in section_prompts(template, SOURCES, context)]
    system_tokens = len(backend._load().tokenize(context.encode(), add_bos=False))
    common = min(next((i for i, (a, b) in enumerate(zip(tokens, o)) if a != b), len(o)) for o in others)
    assert common > system_tokens


@pytest.mark.parametrize("sampling", [Sampling(max_tokens=48), Sampling(seed=7, temperature=0.8, max_tokens=48)])
def test_warmed_prefix_gives_the_cold_runs_tokens(backend, context, sampling):
    template = load_template("soap")
    spec = template.sections[1]
    msgs = _messages(template, spec, SOURCES["objective"], context)
    schema = template.section_schema(spec)
    n = len(backend.prompt_tokens(msgs))

    _cold(backend)
    cold_tokens: list[str] = []
    cold = backend.complete_json(msgs, schema, sampling=sampling, on_token=cold_tokens.append)
    assert backend.stats.per_call[-1]["prompt_tokens"] == n  # really cold: the whole prompt evaluated

    _cold(backend)
    info = backend.warm(msgs)
    assert info["evaluated"] == n - 1 and info["reused"] == 0
    backend._load().reset()  # the context moves on (another prompt); the saved state is restored
    warm_tokens: list[str] = []
    warm = backend.complete_json(msgs, schema, sampling=sampling, on_token=warm_tokens.append)
    call = backend.stats.per_call[-1]
    assert call["prompt_tokens"] <= 2 and call["prompt_reused_tokens"] >= n - 2
    assert warm_tokens == cold_tokens and warm == cold and len(cold_tokens) > 3


def test_warming_every_section_then_drafting_evaluates_little_and_drafts_the_same(backend, context):
    template = load_template("soap")
    _cold(backend)
    cold = draft_sections(template, SOURCES, backend, context=context)
    cold_calls = backend.stats.per_call[-4:]
    cold_prompt = sum(c["prompt_tokens"] for c in cold_calls)

    _cold(backend)
    # while recording: the prefix alone first (nothing dictated), then each section as it is dictated
    backend.warm(prefix_prompt(template, context))
    for msgs in section_prompts(template, SOURCES, context):
        info = backend.warm(msgs)
        assert info["reused"] > 0  # the shared prefix was not evaluated again
    warm = draft_sections(template, SOURCES, backend, context=context)
    warm_calls = backend.stats.per_call[-4:]
    assert warm.sections == cold.sections and warm.origins() == cold.origins()
    assert all(c["prompt_tokens"] <= 2 for c in warm_calls)
    assert sum(c["prompt_tokens"] for c in warm_calls) * 20 < cold_prompt


def test_a_changed_tail_reuses_the_warmed_part(backend, context):
    template = load_template("soap")
    spec = template.sections[3]
    _cold(backend)
    backend.warm(_messages(template, spec, "Start metoprolol tartrate 25 milligrams by mouth twice daily.", context))
    backend._load().reset()
    full = _messages(template, spec, SOURCES["plan"], context)  # the dictation went on after the warm-up
    backend.complete_json(full, template.section_schema(spec), sampling=Sampling(max_tokens=16))
    call = backend.stats.per_call[-1]
    assert call["prompt_reused_tokens"] > 100 and 0 < call["prompt_tokens"] < 40


def test_draft_streams_section_text(backend, context):
    template = load_template("soap")
    events: list[DraftEvent] = []
    sources = {**SOURCES, "objective": ""}
    outcome = draft_sections(template, sources, backend, context=context, on_section=events.append)
    done = [e for e in events if e.done]
    assert [e.section for e in done] == [s.key for s in template.sections]
    assert {e.section: e.text for e in done} == outcome.sections
    assert {e.section: e.origin for e in done} == outcome.origins()
    for key in ("subjective", "assessment", "plan"):
        partial = [e.text for e in events if e.section == key and not e.done]
        assert len(partial) >= 2  # text shown while it was generated, growing
        assert all(b.startswith(a) for a, b in pairwise(partial))
    assert not [e for e in events if e.section == "objective" and not e.done]
    # the events for a section all come before the next section's
    order = [e.section for e in events]
    assert order == sorted(order, key=[s.key for s in template.sections].index)


@pytest.mark.parametrize("raw, text", [
    ('{"text": "Start metop', "Start metop"),
    ('{"text": "said \\"no\\" then\\', 'said "no" then'),
    ('{"text": "done."}', "done."),
    ('{"te', ""),
    ('{"text": "caf\\u00', "caf"),
    ('{"text": "a\\nb', "a\nb"),
])
def test_partial_text_reads_an_unfinished_json_string(raw, text):
    assert partial_text(raw) == text
