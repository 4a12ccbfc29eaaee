"""LLM-as-judge: a fixed PDQI-9 rubric over a sample of cases, reported beside the rule-based scores.

The judge is whatever LLM backend the run is configured with, called through the same
schema-constrained `complete_json` as drafting; every field is bounded (1-5 integer enums, a yes/no
enum, a short comment), so even a tiny model returns parseable JSON. Its scores mean little unless
the model is large enough to read a note critically: `judge_caveat` says so for small models, and
the report prints that caveat in its header instead of hiding it.
"""

from __future__ import annotations

import json
import random
import re

PDQI9 = (
    ("up_to_date", "Up-to-date: contains the most recent information from the encounter."),
    ("accurate", "Accurate: true; no incorrect information compared with the source."),
    ("thorough", "Thorough: complete; documents all the issues of importance."),
    ("useful", "Useful: relevant; helps the next clinician."),
    ("organized", "Organized: well formed, structured so the reader follows it."),
    ("comprehensible", "Comprehensible: clear, without ambiguity or unexplained jargon."),
    ("succinct", "Succinct: brief, no redundancy."),
    ("synthesized", "Synthesized: reflects the author's understanding, not a copy of the transcript."),
    ("internally_consistent", "Internally consistent: no part contradicts another."),
)
ITEMS = tuple(k for k, _ in PDQI9)
MAX_SOURCE_CHARS = 4000
MAX_NOTE_CHARS = 3000


def judge_schema() -> dict:
    props: dict = {k: {"type": "integer", "enum": [1, 2, 3, 4, 5]} for k in ITEMS}
    props["hallucination"] = {"type": "string", "enum": ["yes", "no"]}
    props["comment"] = {"type": "string", "maxLength": 200}
    return {"type": "object", "properties": props, "required": [*ITEMS, "hallucination", "comment"]}


def sample_size(n_cases: int, fraction: float) -> int:
    """Cases to judge: `fraction` of the dataset, at least one when the fraction is above zero."""
    if fraction <= 0 or n_cases <= 0:
        return 0
    return min(n_cases, max(1, round(fraction * n_cases)))


def choose_sample(case_ids: list[str], fraction: float, seed: int = 0) -> list[str]:
    """A seeded, reproducible sample (the same dataset and fraction judge the same cases)."""
    k = sample_size(len(case_ids), fraction)
    chosen = set(random.Random(seed).sample(sorted(case_ids), k)) if k else set()
    return [c for c in case_ids if c in chosen]


def _params_billion(name: str) -> float | None:
    m = re.search(r"(?<![\d.])(\d+(?:\.\d+)?)\s*([MB])(?![a-z])", name or "", re.IGNORECASE)
    if not m:
        return None
    value = float(m.group(1))
    return value / 1000 if m.group(2).upper() == "M" else value


def judge_caveat(model_name: str | None) -> str:
    size = _params_billion(model_name or "")
    if size is not None and size < 7:
        return (f"LLM-judge scores come from {model_name} (~{size:g}B parameters): a model this small cannot "
                "assess a clinical note, so its PDQI-9 scores are meaningless here (a smoke test of the judge path, "
                "not a quality measure). Use a 7B+ model via --llm for judge scores worth reading.")
    return (f"LLM-judge scores come from {model_name or 'an unnamed model'}; they are not validated against "
            "clinician ratings. Read them beside the rule-based scores, not instead of them.")


def _messages(source: str, note_sections: dict[str, str]) -> list[dict]:
    rubric = "\n".join(f"- {k}: {desc}" for k, desc in PDQI9)
    note = "\n\n".join(f"{k.upper()}\n{v}" for k, v in note_sections.items())[:MAX_NOTE_CHARS]
    return [
        {"role": "system", "content": (
            "You are a physician reviewing a clinical note against the encounter it documents. Rate the note on "
            "each PDQI-9 item from 1 (not at all) to 5 (extremely). Set hallucination to yes if the note states "
            "any medication, dose, diagnosis or value the source does not contain. Answer in JSON.\n" + rubric)},
        {"role": "user", "content": f"SOURCE (transcript):\n{source[:MAX_SOURCE_CHARS]}\n\nNOTE:\n{note}"},
    ]


def judge_note(backend, source: str, note_sections: dict[str, str]) -> dict:
    """One judgement: the nine item scores, the hallucination flag and a short comment (or an error)."""
    from clinidoc.drafting.backend import Sampling

    try:
        raw = backend.complete_json(_messages(source, note_sections), judge_schema(),
                                    sampling=Sampling(temperature=0.0, max_tokens=220))
        doc = json.loads(raw)
    except Exception as exc:  # noqa: BLE001 - a judge failure is reported, never fatal to the run
        return {"error": f"{exc.__class__.__name__}: {exc}"[:300]}
    out: dict = {}
    for k in ITEMS:
        v = doc.get(k)
        out[k] = v if isinstance(v, int) and 1 <= v <= 5 else None
    out["hallucination"] = doc.get("hallucination") if doc.get("hallucination") in ("yes", "no") else None
    out["comment"] = str(doc.get("comment") or "")[:200]
    scores = [out[k] for k in ITEMS if out[k] is not None]
    out["mean"] = round(sum(scores) / len(scores), 3) if scores else None
    return out


def summarize(judgements: dict[str, dict]) -> dict:
    ok = [j for j in judgements.values() if "error" not in j]
    items = {k: (round(sum(j[k] for j in ok if j.get(k)) / max(1, sum(1 for j in ok if j.get(k))), 3)
                 if any(j.get(k) for j in ok) else None) for k in ITEMS}
    means = [j["mean"] for j in ok if j.get("mean") is not None]
    return {"judged": len(judgements), "failed": len(judgements) - len(ok), "items": items,
            "mean": round(sum(means) / len(means), 3) if means else None,
            "hallucination_yes": sum(1 for j in ok if j.get("hallucination") == "yes")}
