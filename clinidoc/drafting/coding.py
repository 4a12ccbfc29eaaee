"""The LLM chooses among retrieved ICD-10-CM candidates for each diagnosis the extractor found.

For each diagnosis: the top-k billable candidate codes (the deterministic code first, then the matcher's
search over code descriptions); the model answers under a JSON schema whose enum is exactly those codes
plus "none", so it cannot write any other code. Its choice replaces the deterministic one only when it
passes a sanity rule (billable, shares a content word with what was said, adds no laterality that was
not said, no more unsaid description words and no fewer said words than the deterministic code); otherwise, when the model is unavailable or fails, or answers "none", the deterministic code
stays; a code from the curated synonym table, or whose description the diagnosis matches word for word,
is not put to the model at all. Each decision is recorded (`code_selection` in the LLM's provenance params).

Default: on only for models of at least LLM_CODING_MIN_BYTES of weights. Measured on the development
encounters, the embedded SmolLM2-135M picks worse codes than the deterministic matcher (see
bench/bench_drafting.py --code-selection), so for it the deterministic code is the default.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from clinidoc.drafting.backend import LlmBackend, Sampling
from clinidoc.encounter import Diagnosis
from clinidoc.knowledge import icd10

# ~1.5B parameters at 4-5 bits: below it, instruction-tuned models pick codes no better than chance.
LLM_CODING_MIN_BYTES = 1_000_000_000
TOP_K = 5
NONE = "none"
CODE_SAMPLING = Sampling(max_tokens=24)  # a code and its JSON braces


def llm_coding_default(weights_bytes: int | None) -> bool:
    """Whether a model this size chooses codes by default (the embedded 94 MB SmolLM2 does not)."""
    return bool(weights_bytes) and weights_bytes >= LLM_CODING_MIN_BYTES


@dataclass
class CodeChoice:
    text: str
    deterministic: str | None
    chosen: str | None
    path: str  # "llm" (the model's choice kept), "deterministic" (fallback), "single" (one candidate only)
    candidates: list[str]
    reason: str | None = None  # why the model's answer was not used

    def to_dict(self) -> dict:
        return asdict(self)


def code_schema(codes: list[str]) -> dict:
    """The answer's schema: one of exactly these codes, or "none"."""
    return {
        "type": "object",
        "properties": {"code": {"type": "string", "enum": [*codes, NONE]}},
        "required": ["code"],
    }


def _messages(said: str, label: str, options: list[tuple[str, str]]) -> list[dict]:
    listing = "\n".join(f"{code}: {desc}" for code, desc in options)
    return [
        {"role": "system", "content": "You are a medical coder. Choose the ICD-10-CM code that matches what the "
                                      "clinician said, no more specific than what was said."},
        {"role": "user", "content": (
            f"The clinician said: \"{said}\" ({label}).\n\nCandidate codes:\n{listing}\n\n"
            'Answer as JSON: {"code": "<one candidate code, or none if no candidate fits>"}'
        )},
    ]


def curated(code: str, said: str, label: str) -> bool:
    """The deterministic code comes from the curated synonym table, or from a code description the
    diagnosis matches word for word: the model cannot do better than that, only worse."""
    for text in (said, label):
        if any(syn.code == code for _, _, syn in icd10.find_synonyms(icd10.normalise_phrase(text).split())):
            return True
    top = icd10.search(label, limit=1)
    return bool(top) and top[0][0] == code and top[0][2] >= 99


def sanity_problem(code: str, said: str, deterministic: str | None) -> str | None:
    """Why the model's code is worse than the deterministic one, or None when it may replace it."""
    if code == deterministic:
        return None
    if not icd10.is_billable(code):
        return "not billable"
    desc_words = _stems(icd10.description(code) or "")
    said_words = _stems(said)
    if said_words and not desc_words & said_words:
        return "shares no word with what was said"
    if icd10.adds_laterality(code, said):
        return "adds a side that was not said"
    if deterministic and len(_unsaid(code, said_words)) > len(_unsaid(deterministic, said_words)):
        return "says more than was said"
    if deterministic and len(said_words - desc_words) > len(said_words - _stems(icd10.description(deterministic) or "")):
        return "drops something that was said"
    return None


def _unsaid(code: str, said_words: set[str]) -> set[str]:
    return _stems(icd10.description(code) or "") - said_words


def _stems(text: str) -> set[str]:
    # content words, and numbers too ("type 1" is not "type 2", "stage 3" not "stage 4")
    words = icd10.normalise_phrase(text).split()
    return {w[:5] for w in icd10.content_words(text)} | {w for w in words if w.isdigit()}


def choose_codes(diagnoses: list[Diagnosis], backend: LlmBackend | None, *, k: int = TOP_K,
                 sampling: Sampling = CODE_SAMPLING, cancel=None,
                 ask_curated: bool = False) -> list[CodeChoice]:
    """Let the model choose each diagnosis's code among its candidates; updates `diagnoses` in place.
    `ask_curated` puts curated codes to the model too (to measure it; the sanity rule still applies)."""
    choices: list[CodeChoice] = []
    for dx in diagnoses:
        # the diagnosis as said: a fuzzy or description match keeps the phrase itself as its text
        said = dx.text or (dx.evidence[0].text if dx.evidence else "")
        options = icd10.candidates(said, first=dx.icd10, k=k)
        codes = [c for c, _ in options]
        choice = CodeChoice(text=dx.text, deterministic=dx.icd10, chosen=dx.icd10, path="deterministic",
                            candidates=codes)
        if len(codes) < 2:
            choice.path, choice.reason = "single", "one candidate"
        elif not ask_curated and dx.icd10 and curated(dx.icd10, said, dx.text):
            choice.reason = "curated synonym or exact description: kept without asking the model"
        elif backend is None:
            choice.reason = "no model"
        else:
            try:
                raw = backend.complete_json(_messages(said, dx.text, options),
                                            code_schema(codes), sampling=sampling, cancel=cancel)
                picked = str(json.loads(raw)["code"])
            except (ValueError, KeyError, TypeError) as exc:
                picked, choice.reason = None, f"unusable answer ({type(exc).__name__})"
            except Exception as exc:  # noqa: BLE001 - a backend failure must not lose the deterministic code
                picked, choice.reason = None, f"model failed ({type(exc).__name__})"
            if picked is not None:
                if picked == NONE:
                    choice.reason = "model answered none"
                elif picked not in codes:
                    choice.reason = "not a candidate"  # the grammar forbids it; a server might not
                else:
                    problem = sanity_problem(picked, said, dx.icd10)
                    if problem:
                        choice.reason = f"{picked}: {problem}"
                    else:
                        choice.chosen, choice.path = picked, "llm"
        if choice.chosen != dx.icd10:
            dx.icd10 = choice.chosen
        choices.append(choice)
    return choices


def select_codes(diagnoses: list[Diagnosis], backend: LlmBackend | None, *, enabled: bool | None = None,
                 cancel=None) -> dict:
    """The pipeline's entry: LLM code selection when `enabled` (None: by the model's size, see
    llm_coding_default; a server's model size is unknown, so it is off unless asked for). Returns the
    record for the LLM's provenance params: {"code_selection": {"enabled", "why", "choices": [...]}}."""
    size = getattr(getattr(backend, "model_file", None), "size_bytes", None)
    if enabled is None:
        enabled = backend is not None and llm_coding_default(size)
        why = (f"model weights {size} bytes {'>=' if enabled else '<'} {LLM_CODING_MIN_BYTES}" if size
               else "model size unknown (server): off unless enabled")
    else:
        why = "set by the caller"
    if backend is None:
        enabled, why = False, "no model"
    choices = choose_codes(diagnoses, backend, cancel=cancel) if enabled else []
    return {"code_selection": {"enabled": enabled, "why": why, "choices": [c.to_dict() for c in choices]}}
