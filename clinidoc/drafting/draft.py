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
from collections.abc import Callable
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


@dataclass(frozen=True)
class DraftEvent:
    """A section's text as it is generated, for a display to show (``done``: the section's final text,
    after the grounding check; ``origin`` then says whether the model's rewrite or the source was kept)."""

    section: str
    text: str
    done: bool = False
    origin: str | None = None


DraftCallback = Callable[[DraftEvent], None]


def _fmt(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def encounter_context(patient=None, labs=(), ecg=()) -> str:
    """What the note's sections share besides the dictation: the patient's recorded allergies and
    medications, the lab rows and ECG findings read from the images. Deterministic (no dates, no names),
    in a fixed order, so the same inputs give byte-identical prompts and the prefix can be reused."""
    lines: list[str] = []
    if patient is not None:
        if patient.sex:
            lines.append(f"Patient sex: {patient.sex}.")
        if patient.allergies:
            lines.append(f"Recorded allergies: {'; '.join(patient.allergies)}.")
        if patient.medications:
            lines.append(f"Recorded medications: {'; '.join(patient.medications)}.")
    # out-of-range rows in full, the others by name: what a note mentions, in few tokens
    flagged = [" ".join(x for x in (lab.test, _fmt(lab.value), lab.unit or "", f"({lab.flag})") if x)
               for lab in labs if lab.flag and lab.flag != "N"]
    normal = [lab.test for lab in labs if not lab.flag or lab.flag == "N"]
    if flagged:
        lines.append(f"Abnormal labs: {'; '.join(flagged)}.")
    if normal:
        lines.append(f"Labs in range: {', '.join(normal)}.")
    for e in ecg:
        facts = [e.rhythm.replace("_", " ")]
        facts += [f"{name} {_fmt(round(v))} {unit}" for name, v, unit in
                  (("rate", e.heart_rate_bpm, "bpm"), ("PR", e.pr_ms, "ms"), ("QRS", e.qrs_ms, "ms"), ("QTc", e.qtc_ms, "ms"))
                  if v is not None]
        lines.append(f"ECG: {', '.join(facts)}.")
    return "\n".join(lines)


def _messages(template: Template, spec: SectionSpec, source: str, context: str = "") -> list[dict]:
    # What every section shares comes first and is byte-identical across sections (system prompt, then
    # the encounter context), so its KV cache is evaluated once and reused; the section's own part follows.
    system = template.system
    if context:
        system += ("\n\nEncounter background (for understanding only; the section uses only the dictated text):\n"
                   + context)
    return [
        {"role": "system", "content": system},
        {
            "role": "user",
            "content": (
                f"Section: {spec.title}. {spec.instruction}\n\nDictated text:\n{source}\n\n"
                'Answer as JSON: {"text": "<the section>"}'
            ),
        },
    ]


def section_prompts(template: Template, sources: dict[str, str], context: str = "") -> list[list[dict]]:
    """The messages draft_sections() will send for these sources (single-piece sections), in order: what a
    backend can evaluate ahead of time (LlamaCppBackend.warm)."""
    return [_messages(template, spec, (sources.get(spec.source_key) or "").strip(), context)
            for spec in template.sections if (sources.get(spec.source_key) or "").strip()]


def prefix_prompt(template: Template, context: str = "") -> list[dict]:
    """Before anything is dictated: the first section's prompt with no text, whose start (system prompt,
    context, the user turn's opening) every section's prompt shares."""
    return _messages(template, template.sections[0], "", context)


_JSON_TEXT_START = re.compile(r'^\s*\{\s*"text"\s*:\s*"')


def partial_text(raw: str) -> str:
    """The "text" value of a JSON object still being generated (``{"text": "Start metop``), unescaped."""
    m = _JSON_TEXT_START.match(raw)
    if not m:
        return ""
    body = raw[m.end():]
    end = re.search(r'(?<!\\)(?:\\\\)*"', body)  # the closing quote, if generated yet
    if end:
        body = body[: end.end() - 1]
    body = re.sub(r"\\u[0-9a-fA-F]{0,3}$|\\$", "", body)  # a cut escape sequence
    try:
        return json.loads(f'"{body}"')
    except ValueError:
        return body


def _draft_piece(template, spec, source, backend, sampling, cancel, context="", on_text=None) -> tuple[str, str | None]:
    """One schema-constrained rewrite of `source`: the rewrite if grounded, else the source and why."""
    kwargs = {}
    if on_text is not None:
        pieces: list[str] = []
        shown = [""]

        def on_token(piece: str) -> None:
            pieces.append(piece)
            text = partial_text("".join(pieces))
            if text != shown[0]:
                shown[0] = text
                on_text(text)

        kwargs["on_token"] = on_token
    raw = backend.complete_json(_messages(template, spec, source, context), template.section_schema(spec),
                                sampling=sampling, cancel=cancel, **kwargs)
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
    context: str = "",
    on_section: DraftCallback | None = None,
) -> DraftOutcome:
    """Each section of `template` drafted from its dictated source. `context` (encounter_context()) goes
    into the shared prompt prefix; `on_section` receives DraftEvents: the text so far while a section
    generates, then its final text (done=True) once it is checked."""
    outcome = DraftOutcome(sections={})

    def emit(event: DraftEvent) -> None:
        if on_section is not None:
            on_section(event)

    placed_sources: set[str] = set()
    for i, spec in enumerate(template.sections):
        source = (sources.get(spec.source_key) or "").strip()
        progress(Progress("draft", i / len(template.sections), spec.title))
        if not source:
            outcome.sections[spec.key] = ""
            outcome.details.append(SectionDraft(spec.key, "", "source", "nothing was dictated for it"))
            emit(DraftEvent(spec.key, "", True, "source"))
            continue
        budget = Sampling(**{**sampling.__dict__, "max_tokens": min(sampling.max_tokens * 4, spec.max_chars // 2)})
        overhead = backend.count_tokens(json.dumps(_messages(template, spec, "", context))) + 16
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
            on_text = None
            if on_section is not None:
                def on_text(so_far: str, _done=tuple(texts), _key=spec.key) -> None:
                    emit(DraftEvent(_key, " ".join((*_done, so_far)).strip()))
            text, problem = _draft_piece(template, spec, piece, backend, budget, cancel, context, on_text)
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
        emit(DraftEvent(spec.key, outcome.sections[spec.key], True, origin))
    progress(Progress("draft", 1.0, "done"))
    return outcome
