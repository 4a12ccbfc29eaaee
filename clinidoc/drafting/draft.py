"""Draft a note's prose section by section with a schema-constrained LLM, and keep only what is grounded.

Each section's source is the dictated text that belongs to it (deterministic split). The model
rewrites it under a JSON schema; the rewrite is accepted only when it adds nothing: every number
and content word must come from the source, and it must not loop. Otherwise the section keeps the
source text itself. Small models mostly fail this gate and large ones mostly pass it, which is the
point: the note never says something no source said.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from clinidoc.drafting.backend import LlmBackend, Sampling
from clinidoc.drafting.templates import SectionSpec, Template
from clinidoc.progress import CancelToken, Progress, ProgressCallback, ignore_progress

_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_WORD = re.compile(r"[a-z][a-z'-]+")
_STOP = frozenset(
    "the and with for was were has have had this that are his her she him they them from into about which "
    "there their then than been also some over under after before while today patient reports denies noted "
    "shows showed seen given will would should could being does done very well".split()
)


@dataclass
class SectionDraft:
    key: str
    text: str
    origin: str  # "llm", "source", or "mixed" when some chunks were kept and others not
    rejected_because: str | None = None
    strategy: str = "single"  # "single", "context_extended", or "chunked:N" when the input outgrew the context


@dataclass
class DraftOutcome:
    sections: dict[str, str]
    details: list[SectionDraft] = field(default_factory=list)

    def origins(self) -> dict[str, str]:
        return {d.key: d.origin for d in self.details}

    def strategies(self) -> dict[str, str]:
        return {d.key: d.strategy for d in self.details}


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")


def split_to_fit(text: str, max_tokens: int, count_tokens) -> list[str]:
    """Consecutive pieces of `text`, cut at sentence ends (or words, for a run-on), each within max_tokens."""
    units: list[str] = []
    for sentence in (s for s in _SENTENCE_END.split(text) if s.strip()):
        if count_tokens(sentence) <= max_tokens:
            units.append(sentence)
            continue
        words = sentence.split()
        step = max(1, len(words) * max_tokens // (2 * count_tokens(sentence)))
        units += [" ".join(words[i : i + step]) for i in range(0, len(words), step)]
    pieces: list[str] = []
    current: list[str] = []
    used = 0
    for unit in units:
        n = count_tokens(unit) + 1
        if current and used + n > max_tokens:
            pieces.append(" ".join(current))
            current, used = [], 0
        current.append(unit)
        used += n
    if current:
        pieces.append(" ".join(current))
    return pieces


def _stem(word: str) -> str:
    return word[:-1] if word.endswith("s") and len(word) > 4 else word


def grounding_problem(candidate: str, source: str) -> str | None:
    """Why `candidate` is not a faithful rewrite of `source`, or None when it is."""
    if len(candidate.strip()) < min(40, len(source) // 3):
        return "too short"
    src_numbers = set(_NUMBER.findall(source))
    new_numbers = [n for n in _NUMBER.findall(candidate) if n not in src_numbers]
    if new_numbers:
        return f"numbers not in the source: {', '.join(new_numbers[:3])}"
    src_words = {_stem(w) for w in _WORD.findall(source.lower())}
    content = [w for w in _WORD.findall(candidate.lower()) if len(w) > 3 and w not in _STOP]
    if content:
        unseen = [w for w in content if _stem(w) not in src_words]
        if len(unseen) / len(content) > 0.1:
            return f"words not in the source: {', '.join(unseen[:3])}"
    words = candidate.lower().split()
    trigrams = [tuple(words[i : i + 3]) for i in range(len(words) - 2)]
    if trigrams and max(trigrams.count(t) for t in set(trigrams)) > 2:
        return "repeats itself"
    return None


def _messages(template: Template, spec: SectionSpec, source: str) -> list[dict]:
    return [
        {"role": "system", "content": template.system},
        {
            "role": "user",
            "content": (
                f"Section: {spec.title}. {spec.instruction}\n\nDictated text:\n{source}\n\n"
                'Answer as JSON: {"text": "<the section>"}'
            ),
        },
    ]


def _draft_piece(template, spec, source, backend, sampling, cancel) -> tuple[str, str | None]:
    """One schema-constrained rewrite of `source`: the rewrite if grounded, else the source and why."""
    raw = backend.complete_json(_messages(template, spec, source), template.section_schema(spec), sampling=sampling, cancel=cancel)
    try:
        candidate = str(json.loads(raw)["text"]).strip()
    except (ValueError, KeyError, TypeError):
        candidate = ""  # cut off at max_tokens: the grammar guarantees the shape only of complete output
    problem = grounding_problem(candidate, source) if candidate else "no usable output"
    return (candidate, None) if problem is None else (source, problem)


def draft_sections(
    template: Template,
    sources: dict[str, str],
    backend: LlmBackend,
    *,
    sampling: Sampling = Sampling(),
    progress: ProgressCallback = ignore_progress,
    cancel: CancelToken | None = None,
) -> DraftOutcome:
    outcome = DraftOutcome(sections={})
    placed_sources: set[str] = set()
    for i, spec in enumerate(template.sections):
        source = (sources.get(spec.source_key) or "").strip()
        progress(Progress("draft", i / len(template.sections), spec.title))
        if not source:
            outcome.sections[spec.key] = ""
            outcome.details.append(SectionDraft(spec.key, "", "source", "nothing was dictated for it"))
            continue
        budget = Sampling(**{**sampling.__dict__, "max_tokens": min(sampling.max_tokens * 4, spec.max_chars // 2)})
        overhead = backend.count_tokens(json.dumps(_messages(template, spec, ""))) + 16
        needed = overhead + backend.count_tokens(source) + budget.max_tokens
        before = getattr(backend, "context_tokens", None)
        if backend.ensure_context(needed):
            pieces = [source]
            strategy = "context_extended" if before and needed > before else "single"
        else:
            room = max(64, (getattr(backend, "context_tokens", None) or 2048) - overhead - budget.max_tokens)
            pieces = split_to_fit(source, room, backend.count_tokens)
            strategy = f"chunked:{len(pieces)}"
        texts, kept, problems = [], 0, []
        for piece in pieces:
            text, problem = _draft_piece(template, spec, piece, backend, budget, cancel)
            texts.append(text)
            kept += problem is None
            if problem:
                problems.append(problem)
        origin = "llm" if kept == len(pieces) else "source" if kept == 0 else "mixed"
        if origin == "source" and spec.source_key in placed_sources:
            # several sections share this dictated part (H&P: complaint, history ...): the verbatim
            # fallback goes in the first of them only, rather than repeating it in each
            texts = []
        if origin == "source":
            placed_sources.add(spec.source_key)
        outcome.sections[spec.key] = " ".join(texts)
        outcome.details.append(SectionDraft(spec.key, outcome.sections[spec.key], origin, "; ".join(problems[:2]) or None, strategy))
    progress(Progress("draft", 1.0, "done"))
    return outcome
