"""Sentences, SOAP sections and transcript timing shared by the extractors.

Char offsets -> times: the extractors search one string. When the transcript has segments,
that string is the segment texts (stripped) joined with single spaces, so every segment and
every word gets a known char range in it; an Evidence for a char range [a, b) then takes
start = first overlapping word's start and end = last overlapping word's end (segment times
when a segment has no words). Without segments the string is ``transcript.text`` and evidence
carries only the matched text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from clinidoc.encounter import Evidence, Transcript

SECTION_KEYS = ("subjective", "objective", "assessment", "plan")

# A sentence ends at . ! ? and a space ("36.8" stays whole); after a dotted abbreviation
# ("b.i.d.", "p.o.", "Dr.") only when a capital follows. Lower-case text (typed dialogues) splits too.
_SENT_END = re.compile(r"(?<=[.!?])\s+")
_ABBREV = re.compile(r"(?:\b[A-Za-z]\.){2,}$|\b(?:vs|etc|approx|no)\.$", re.I)
_TITLE = re.compile(r"\b(?:dr|mr|mrs|ms|st)\.$", re.I)
# A heading starts the text, a sentence, a line or (ASR writes mostly commas) a clause:
# "Assessment: ...", "Plan, start ...", "..., assessment, essential hypertension, ..., plan. start ...",
# "The plan is to ...". Mid-text it must be followed by ":", "-", ",", "." or "is".
_HEADING = re.compile(
    r"(?:^|(?<=[.!?:;,])\s*|\n\s*)(?P<lead>(?:the|our|my)\s+)?"
    r"(?P<h>assessment\s+and\s+plan|assessment|impression|plan)"
    r"(?:\s*(?::|-(?!\w)|,|\.(?!\d))|(?P<is>\s+(?:is|will\s+be)\s+(?:to\s+|as\s+follows:?)?))\s*",
    re.I,
)
# Text with (almost) no punctuation, as tiny.en sometimes writes: bare heading words.
_BARE_HEADING = re.compile(
    r"(?<![\w-])(?P<h>assessment\s+and\s+plan|assessment|impression|plan)\s+"
    r"(?!(?:of|for|to|on|was|and|with|is\s+not)\b)",
    re.I,
)
_BARE_NOT_BEFORE = re.compile(r"\b(?:the|a|an|this|that|our|my|his|her|their|treatment|care|further|follow-?up|for|of|no)\s+$", re.I)
_PUNCT = re.compile(r"[;:!?]|[.,](?!\d)")  # not "36.9", "1,000"


def _unpunctuated(text: str) -> bool:
    words = len(text.split())
    return words >= 8 and len(_PUNCT.findall(text)) * 25 < words


_OBJECTIVE = re.compile(
    r"\b(on exam|exam|examination|physical exam|vitals?|vital signs|blood pressure|bp|heart rate|pulse|"
    r"respiratory rate|temperature|temp|oxygen saturation|o2 sat|spo2|saturating|weight|weighs|"
    r"ekg|ecg|electrocardiogram|labs?|laboratory|chest x-ray|x-ray|ct|mri|ultrasound|echo|"
    r"echocardiogram|troponin|inr|white count|hemoglobin|creatinine|potassium|sodium|glucose|tsh|bnp|"
    r"a1c|urinalysis|urine dipstick|lungs?|heart sounds|abdomen|crackles|murmur|edema|wheez\w*|"
    r"tender\w*|alert|oriented|diaphoretic|reflexes|jugular)\b",
    re.I,
)
# cues that only open the objective part with a measurement ("weight 78 kilograms", not
# "some weight gain over three months")
_WEAK_OBJECTIVE = re.compile(r"weight|weighs|alert|tender\w*|echo|labs?", re.I)
_WEAK_OBJECTIVE_VALUE = re.compile(
    r"\b(?:weight|weighs)\s+(?:is\s+|of\s+)?\S+\s+(?:kilograms?|kgs?|pounds?|lbs?)\b|\blabs?\s+(?:reviewed|show|were|are)\b", re.I
)
_SUBJECTIVE = re.compile(
    r"\b(reports?|denies|complains?|history|allerg\w*|presents?|presented|presenting|admits|"
    r"medications?|takes|taking|feels?|states?|year old)\b",
    re.I,
)


def sentences(text: str, offset: int = 0) -> list[tuple[int, int]]:
    """(start, end) char ranges of the sentences in ``text`` (shifted by ``offset``)."""
    out, pos = [], 0
    for m in _SENT_END.finditer(text):
        nxt = text[m.end() : m.end() + 1]
        before = text[max(pos, m.start() - 12) : m.start()]
        if _TITLE.search(before) or (_ABBREV.search(before) and not nxt.isupper()):
            continue
        if text[pos : m.start()].strip():
            out.append((offset + pos, offset + m.start()))
        pos = m.end()
    if text[pos:].strip():
        end = len(text.rstrip())
        out.append((offset + pos, offset + end))
    return out


@dataclass
class TimedText:
    """The searchable text of a transcript plus the char range -> time map described above."""

    text: str
    # (char_start, char_end, time_start, time_end) for each word (or word-less segment)
    pieces: list[tuple[int, int, float, float]] = field(default_factory=list)
    # char ranges of the segments: a speaker turn or segment also ends a sentence
    segments: list[tuple[int, int]] = field(default_factory=list)

    def sentences(self) -> list[tuple[int, int]]:
        if not self.segments:
            return sentences(self.text)
        return [r for a, b in self.segments for r in sentences(self.text[a:b], a)]

    @classmethod
    def of(cls, transcript: Transcript) -> "TimedText":
        if not transcript.segments:
            return cls(transcript.text or "")
        parts: list[str] = []
        pieces: list[tuple[int, int, float, float]] = []
        bounds: list[tuple[int, int]] = []
        pos = 0
        for seg in transcript.segments:
            seg_text = seg.text.strip()
            if not seg_text:
                continue
            if parts:
                pos += 1  # the joining space
            base = pos
            found_any = False
            cursor = 0
            for w in seg.words:
                token = w.word.strip()
                if not token:
                    continue
                k = seg_text.find(token, cursor)
                if k < 0:
                    continue  # word text not in the segment text (rare): skip it
                pieces.append((base + k, base + k + len(token), w.start, w.end))
                cursor = k + len(token)
                found_any = True
            if not found_any and seg.end > seg.start:  # 0/0 times: a typed transcript, untimed
                pieces.append((base, base + len(seg_text), seg.start, seg.end))
            bounds.append((base, base + len(seg_text)))
            parts.append(seg_text)
            pos = base + len(seg_text)
        return cls(" ".join(parts), pieces, bounds)

    def evidence(self, start: int, end: int, text: str | None = None) -> Evidence:
        """Evidence for chars [start, end): times of the overlapping words, and the text."""
        hits = [p for p in self.pieces if p[0] < end and p[1] > start]
        return Evidence(
            source="transcript",
            start=hits[0][2] if hits else None,
            end=hits[-1][3] if hits else None,
            text=text if text is not None else self.text[start:end],
        )


def sentence_spans(transcript: Transcript) -> list[tuple[str, float | None, float | None]]:
    """(sentence text, start seconds, end seconds) for each sentence of the transcript."""
    tt = TimedText.of(transcript)
    out = []
    for s, e in tt.sentences():
        ev = tt.evidence(s, e)
        out.append((tt.text[s:e], ev.start, ev.end))
    return out


def find_headings(text: str) -> list[tuple[str, int, int]]:
    """(heading kind, heading start, body start): "assessment"/"plan"/"assessment and plan"."""
    out = []
    for m in _HEADING.finditer(text):
        h = re.sub(r"\s+", " ", m.group("h").lower())
        kind = "assessment" if h == "impression" else h
        out.append((kind, m.start("lead") if m.group("lead") else m.start("h"), m.end()))
    # a heading word with no punctuation after it: at a sentence start ("LDL 131. Assessment
    # essential hypertension ..."), or anywhere in text with (almost) no punctuation at all
    found = {k for k, _, _ in out}
    anywhere = _unpunctuated(text)
    for m in _BARE_HEADING.finditer(text):
        h = re.sub(r"\s+", " ", m.group("h").lower())
        kind = "assessment" if h == "impression" else h
        before = text[max(0, m.start() - 20) : m.start()]
        if kind in found or any(o[1] <= m.start() < o[2] for o in out):
            continue
        sentence_start = m.start() == 0 or bool(re.search(r"[.!?]\s+$", before))
        if sentence_start or (anywhere and not _BARE_NOT_BEFORE.search(before)):
            out.append((kind, m.start("h"), m.end()))
    out.sort(key=lambda h: h[1])
    # the dictation's headings come in order; keep only the first of each kind, and no
    # assessment after the plan has begun
    seen, kept = set(), []
    for h in out:
        if h[0] in seen or (h[0] == "assessment" and {"plan", "assessment and plan"} & seen):
            continue
        seen.add(h[0])
        kept.append(h)
    return kept


def plan_range(text: str) -> tuple[int, int] | None:
    """Char range of the Plan part of a dictation, or None when there is no plan heading."""
    for kind, _, body in find_headings(text):
        if kind in ("plan", "assessment and plan"):
            nxt = [s for k, s, _ in find_headings(text) if s > body]
            return body, (min(nxt) if nxt else len(text))
    return None


def split_sections(text: str) -> dict[str, str]:
    """SOAP sections by cue words; keys subjective, objective, assessment, plan ('' if none)."""
    out = {k: [] for k in SECTION_KEYS}
    heads = find_headings(text)
    first = heads[0][1] if heads else len(text)
    for i, (kind, _, body) in enumerate(heads):
        end = heads[i + 1][1] if i + 1 < len(heads) else len(text)
        key = "plan" if kind == "assessment and plan" else kind
        out[key].append(text[body:end].strip().rstrip(",;").rstrip())
    # Before the first heading: objective from the first exam/vitals sentence on ("sticky", so
    # "Lungs are clear. No edema." stay there), unless a sentence reads as history. ASR joins whole
    # stretches with commas, so a long comma chain counts clause by clause (pieces between ", ",
    # each kept with its comma so that the parts join back into the text).
    in_objective = False
    for s, e in _clauses(text, sentences(text[:first])):
        sent = text[s:e].strip()
        objective = any(not _WEAK_OBJECTIVE.fullmatch(c.group()) for c in _OBJECTIVE.finditer(sent))
        objective = objective or bool(_WEAK_OBJECTIVE_VALUE.search(sent))
        if objective and not (_SUBJECTIVE.search(sent) and not in_objective):
            in_objective = True
        if in_objective and _SUBJECTIVE.search(sent) and not _OBJECTIVE.search(sent):
            out["subjective"].append(sent)
            continue
        out["objective" if in_objective else "subjective"].append(sent)
    return {k: " ".join(v).strip().rstrip(",;").rstrip() for k, v in out.items()}


def _clauses(text: str, ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Long comma chains (ASR's sentences) cut after each ", " (not "1,000"), the comma staying with
    the left part; a dictated sentence with a comma or two stays whole."""
    out = []
    for a, b in ranges:
        if len(re.findall(r"[,;]\s+", text[a:b])) < 3:
            out.append((a, b))
            continue
        pos = a
        for m in re.finditer(r"[,;]\s+", text[a:b]):
            cut = a + m.start() + 1
            if text[pos:cut].strip(" ,;"):
                out.append((pos, cut))
                pos = a + m.end()
        if text[pos:b].strip():
            out.append((pos, b))
    return out
