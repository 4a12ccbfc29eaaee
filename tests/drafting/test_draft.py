import json

import jsonschema
import pytest

from clinidoc.drafting.backend import LlamaCppBackend, Sampling
from clinidoc.drafting.draft import draft_sections, grounding_problem
from clinidoc.drafting.templates import load_template
from clinidoc.errors import Cancelled, InputError
from clinidoc.progress import CancelToken

SOURCE = "start metoprolol tartrate 25 milligrams by mouth twice daily. Start apixaban 5 milligrams by mouth twice daily."


def test_grounding_accepts_a_faithful_rewrite():
    assert grounding_problem("Start metoprolol tartrate 25 milligrams by mouth twice daily and apixaban 5 milligrams twice daily.", SOURCE) is None


@pytest.mark.parametrize(
    "candidate, reason",
    [
        ("Start metoprolol tartrate 50 milligrams by mouth twice daily and apixaban 5 milligrams twice daily.", "numbers"),
        ("Start metoprolol 25 milligrams twice daily and warfarin 5 milligrams by mouth daily for anticoagulation.", "words"),
        ("start apixaban start apixaban start apixaban start apixaban twice daily 25 milligrams by mouth 5", "repeats"),
        ("Metoprolol.", "short"),
    ],
)
def test_grounding_rejects_invented_numbers_words_loops_and_stubs(candidate, reason):
    problem = grounding_problem(candidate, SOURCE)
    assert problem is not None and reason in problem


@pytest.fixture(scope="module")
def backend(registry):
    return LlamaCppBackend(registry.resolve("llm"))


def test_embedded_model_output_always_parses_under_the_section_schema(backend):
    template = load_template("soap")
    spec = template.sections[3]
    schema = template.section_schema(spec)
    msgs = [{"role": "user", "content": f"Rewrite as a plan section: {SOURCE}"}]
    for seed in (1, 2, 3):
        raw = backend.complete_json(msgs, schema, sampling=Sampling(seed=seed, temperature=0.8, max_tokens=400))
        doc = json.loads(raw)
        jsonschema.validate(doc, schema)
    assert backend.stats.calls == 3 and backend.stats.completion_tokens > 0


def test_same_inputs_redraft_the_same_text(backend):
    template = load_template("soap")
    schema = template.section_schema(template.sections[3])
    msgs = [{"role": "user", "content": f"Rewrite as a plan section: {SOURCE}"}]
    first = backend.complete_json(msgs, schema, sampling=Sampling(seed=7, temperature=0.7, max_tokens=60))
    second = backend.complete_json(msgs, schema, sampling=Sampling(seed=7, temperature=0.7, max_tokens=60))
    assert first == second


def test_draft_keeps_source_text_when_the_model_adds_anything(backend):
    sources = {"subjective": "Three days of palpitations.", "objective": "", "assessment": "Atrial fibrillation.", "plan": SOURCE}
    outcome = draft_sections(load_template("soap"), sources, backend)
    assert set(outcome.sections) == {"subjective", "objective", "assessment", "plan"}
    assert outcome.sections["objective"] == ""
    for detail in outcome.details:
        if detail.origin == "llm":
            assert grounding_problem(detail.text, sources[detail.key]) is None
        else:
            assert detail.text == sources[detail.key].strip()


def test_cancel_stops_generation_between_tokens(backend):
    token = CancelToken()
    seen = []

    def on_token(piece):
        seen.append(piece)
        token.cancel()

    schema = load_template("soap").section_schema(load_template("soap").sections[0])
    with pytest.raises(Cancelled):
        backend.complete_json([{"role": "user", "content": "Write a long history."}], schema, on_token=on_token, cancel=token)
    assert len(seen) == 1


def test_unknown_template_names_the_available_ones():
    with pytest.raises(InputError, match="soap"):
        load_template("no-such-template")
