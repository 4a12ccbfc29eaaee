"""A transcript given as text (a typed dictation or a `[doctor] ... [patient] ...` dialogue)."""

from __future__ import annotations

import re
from pathlib import Path

from clinidoc.encounter import Segment, Transcript
from clinidoc.errors import InputError

_SPEAKER = re.compile(r"^\s*\[(?P<who>[A-Za-z_ ]{1,30})\]\s*(?P<text>.*)$")


def parse_transcript_text(text: str) -> Transcript:
    """One segment per speaker turn (speaker labels kept) or per paragraph; no audio, so no times."""
    segments: list[Segment] = []
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        m = _SPEAKER.match(line)
        speaker, body = (m.group("who").strip().lower(), m.group("text").strip()) if m else (None, line)
        if not body:
            continue
        if speaker is None and segments and segments[-1].speaker is not None:
            speaker = segments[-1].speaker  # a wrapped line continues the last turn
        segments.append(Segment(start=0.0, end=0.0, text=body, speaker=speaker))
    return Transcript(text=" ".join(s.text for s in segments), language="en", segments=segments)


def read_transcript_file(path: Path) -> Transcript:
    if not path.is_file():
        raise InputError("transcript file not found", file=str(path))
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InputError("transcript is not UTF-8 text", file=str(path)) from exc
    transcript = parse_transcript_text(text)
    if not transcript.text.strip():
        raise InputError("transcript file is empty", file=str(path))
    return transcript
