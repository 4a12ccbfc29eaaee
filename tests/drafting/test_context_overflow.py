"""Encounters longer than the context: stretch it with YaRN within a safe factor, else draft in chunks."""

import re

import pytest

from clinidoc.drafting.backend import LlamaCppBackend
from clinidoc.drafting.budget import MAX_ROPE_FACTOR, fit_context
from clinidoc.drafting.draft import draft_sections, split_to_fit
from clinidoc.drafting.gguf import GgufInfo
from clinidoc.drafting.templates import load_template

SMALL = GgufInfo(
    architecture="llama", name="t", layers=30, heads=9, kv_heads=3, head_dim=64, context_length=8192,
    rope_freq_base=100000.0, rope_scaling=None, rope_scaling_factor=None, embedding_length=576,
)


def test_past_the_trained_context_the_budget_uses_yarn_up_to_the_safe_factor():
    within = fit_context(SMALL, 100_000_000, wanted_ctx=4096, ram_bytes=16 << 30)
    assert (within.n_ctx, within.rope_scaling, within.rope_factor) == (4096, "none", 1.0)
    stretched = fit_context(SMALL, 100_000_000, wanted_ctx=16384, ram_bytes=16 << 30)
    assert (stretched.n_ctx, stretched.rope_scaling, stretched.rope_factor) == (16384, "yarn", 2.0)
    kwargs = stretched.llama_kwargs()
    assert kwargs["rope_freq_scale"] == 0.5 and kwargs["yarn_orig_ctx"] == 8192
    capped = fit_context(SMALL, 100_000_000, wanted_ctx=1_000_000, ram_bytes=64 << 30)
    assert capped.n_ctx == int(8192 * MAX_ROPE_FACTOR)


def test_split_to_fit_keeps_every_word_in_order_within_the_limit():
    text = " ".join(f"Sentence {i} says the dose was {i * 5} milligrams." for i in range(200))
    count = lambda s: len(s.split())  # noqa: E731
    pieces = split_to_fit(text, 60, count)
    assert len(pieces) > 1 and all(count(p) <= 60 for p in pieces)
    assert " ".join(pieces).split() == text.split()


def _long_plan(sentences: int) -> str:
    return " ".join(
        f"Visit note {i}: continue lisinopril {10 + i} milligrams by mouth daily and recheck potassium in {i + 2} days."
        for i in range(sentences)
    )


@pytest.fixture(scope="module")
def model(registry):
    return registry.resolve("llm")


def test_a_section_longer_than_a_capped_context_is_drafted_in_chunks(model):
    backend = LlamaCppBackend(model, n_ctx=512, max_ctx=1024)
    source = _long_plan(90)  # ~2,500 tokens: more than twice the ceiling
    outcome = draft_sections(load_template("soap"), {"plan": source}, backend)
    detail = next(d for d in outcome.details if d.key == "plan")
    n_chunks = int(detail.strategy.split(":")[1])
    assert detail.strategy.startswith("chunked:") and n_chunks >= 3
    assert backend.stats.calls >= n_chunks
    # nothing lost: every number dictated is still in the section, in order
    assert re.findall(r"\d+", outcome.sections["plan"])[:6] == re.findall(r"\d+", source)[:6]
    assert set(re.findall(r"\d+", source)) <= set(re.findall(r"\d+", outcome.sections["plan"]))


def test_a_transcript_longer_than_the_trained_context_stretches_it_with_yarn(model):
    backend = LlamaCppBackend(model)
    trained = backend.info.context_length
    source = _long_plan(330)  # ~9,000 tokens: past SmolLM2's 8,192
    assert backend.count_tokens(source) > trained
    outcome = draft_sections(load_template("soap"), {"plan": source}, backend)
    detail = next(d for d in outcome.details if d.key == "plan")
    assert detail.strategy == "context_extended"
    params = backend.params()
    assert params["rope_scaling"] == "yarn" and 1.0 < params["rope_factor"] <= 4.0
    assert params["n_ctx"] > trained
    assert set(re.findall(r"\d+", source)) <= set(re.findall(r"\d+", outcome.sections["plan"]))
