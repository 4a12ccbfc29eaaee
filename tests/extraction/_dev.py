"""Dev cases and a timed-transcript helper shared by the extraction tests."""

from __future__ import annotations

import json
from pathlib import Path

from clinidoc.encounter import Segment, Transcript, Word

DEV_CASES = Path(__file__).resolve().parents[3] / "shared" / "data" / "encounters-dev"


def dev_cases() -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(DEV_CASES.glob("dev-*/case.json"))]


def timed(text: str, per_word: float = 0.4, words_per_segment: int = 10) -> Transcript:
    """A faster-whisper-like transcript: words with leading spaces, word i at i * per_word s."""
    tokens = text.split()
    segments = []
    for k in range(0, len(tokens), words_per_segment):
        words = [
            Word(start=round(i * per_word, 3), end=round(i * per_word + per_word * 0.8, 3), word=" " + tokens[i])
            for i in range(k, min(k + words_per_segment, len(tokens)))
        ]
        segments.append(
            Segment(start=words[0].start, end=words[-1].end, text="".join(w.word for w in words), words=words)
        )
    return Transcript(text="".join(s.text for s in segments), segments=segments)
