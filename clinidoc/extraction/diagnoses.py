"""Diagnoses from the assessment: split into problems, drop qualifiers and negated or past
mentions, code each with the ICD-10-CM synonym table or, failing that, a fuzzy search.

A labelled clinician-patient conversation has no assessment section: there the problems are those the
clinician names as the patient's own ("for your first problem, your heart failure", "I think you have
carpal tunnel syndrome", "your depression's stable"), coded with the synonym table only (no fuzzy
search on conversational text); questions, the patient's own words, family history, negated and past
mentions are not coded. An assessment the clinician dictates into the conversation is used as well."""

from __future__ import annotations

import re

from clinidoc.encounter import Diagnosis, Evidence, Transcript
from clinidoc.knowledge import icd10

_HEADER = re.compile(
    r"\b(?:assessment(?:\s+and\s+plan)?|impression|diagnos[ie]s|a\s*/\s*p)\b\s*(?:[:,.\-]|is\b)", re.IGNORECASE
)
# ASR writes "Plan, start ..." as often as "Plan: start ..."
_PLAN = re.compile(r"\bplan\b\s*(?:[:,.\-]|is\b)", re.IGNORECASE)
# sentence ends ("." not inside a number), then clause breaks; list markers "1." / "2)" / "#3"
_SENTENCE = re.compile(r"(?<!\d)\.(?!\d)|\n|\?|!")
_CLAUSE = re.compile(r"[,;:]|\s#?\d+[.)]\s|\bnumber (?:one|two|three|four|five|six)\b", re.IGNORECASE)
# cue words before a mention in its clause that make it not a current diagnosis
_NEG_BEFORE = re.compile(
    r"\b(?:no|not|denies|denied|negative for|without|rule out|ruled out|r/o|history of|hx of|"
    r"free of|resolved|prior|previous|past|family history|possible|rule-out)\b"
)
_NEG_AFTER = re.compile(r"^\s*(?:was |has been |is |now )?(?:ruled out|resolved|excluded|unlikely|negative)\b")
# cues whose scope runs to the end of the sentence ("denies chest pain, dyspnea, or syncope")
_NEG_SENTENCE = re.compile(
    r"\b(?:denies|denied|negative for|no evidence of|ruled out for|differential(?: diagnosis)? (?:includes|of|is)|"
    r"possible (?:causes|etiologies)|potential (?:causes|etiologies)|such as)\b"
)
# words that describe a problem rather than name one: a clause of only these is a qualifier
_QUALIFIERS = frozenset(
    """right left bilateral upper lower middle lobe lobes base bases side sided anterior posterior
    stable improving improved worsening worse better unchanged chronic acute mild moderate severe
    controlled uncontrolled well poorly not adequately replaced treated untreated new onset likely
    probable suspected currently now today again recurrent persistent resolving secondary due to
    and or with the a an of on in at for is was which as also x noted status post likely""".split()
)
_FUZZY_MIN = 88.0
# a problem made more specific by a qualifier said after it: "type 2 diabetes, uncontrolled"
_UPGRADES = {
    "E11.9": (re.compile(r"\b(uncontrolled|poorly controlled|not (?:well )?controlled|hyperglycemia|above goal)\b"),
              "E11.65", "type 2 diabetes mellitus with hyperglycemia"),
}


def _assessment_part(text: str) -> tuple[str, int]:
    """The assessment section inside a longer text (header to "Plan:"), and its offset."""
    m = None
    for m in _HEADER.finditer(text):
        pass  # the last header: dictations say "assessment" once, at the end
    if m is None:
        return text, 0
    start = m.end()
    p = _PLAN.search(text, start)
    return text[start : p.start() if p else len(text)], start


def _split(text: str, pattern: re.Pattern[str]) -> list[tuple[str, int]]:
    out, pos = [], 0
    for m in pattern.finditer(text):
        out.append((text[pos : m.start()], pos))
        pos = m.end()
    out.append((text[pos:], pos))
    return [(s, o) for s, o in out if s.strip()]


class _WordTimes:
    """Transcript words as normalised tokens with times, for evidence spans."""

    def __init__(self, transcript: Transcript | None) -> None:
        self.toks: list[tuple[str, float, float]] = []
        if transcript is None:
            return
        for seg in transcript.segments:
            if seg.words:
                for w in seg.words:
                    for tok, _, _ in icd10.tokens(w.word):
                        self.toks.append((tok, w.start, w.end))
            else:
                # no word timings: spread the segment evenly over its tokens
                segtoks = icd10.tokens(seg.text)
                step = (seg.end - seg.start) / max(len(segtoks), 1)
                for k, (tok, _, _) in enumerate(segtoks):
                    self.toks.append((tok, seg.start + k * step, seg.start + (k + 1) * step))
        # word-level merges ("S", "T" -> "st") happen across words too
        merged: list[tuple[str, float, float]] = []
        for tok, s, e in self.toks:
            if merged and (merged[-1][0], tok) in icd10._MERGES:
                prev = merged.pop()
                merged.append((icd10._MERGES[(prev[0], tok)], prev[1], e))
            else:
                merged.append((tok, s, e))
        self.toks = merged
        words = [t[0] for t in self.toks]
        anchors = [i for i, w in enumerate(words) if w in ("assessment", "impression")]
        self.from_index = anchors[-1] if anchors else 0

    def span(self, phrase: list[str]) -> tuple[float, float] | None:
        n = len(phrase)
        if not n or not self.toks:
            return None
        words = [t[0] for t in self.toks]
        for begin in (self.from_index, 0):  # prefer the assessment, else anywhere
            for i in range(begin, len(words) - n + 1):
                if words[i : i + n] == phrase:
                    return self.toks[i][1], self.toks[i + n - 1][2]
        return None


def _evidence(raw: str, words: list[str], times: _WordTimes) -> Evidence:
    span = times.span(words)
    return Evidence(source="transcript", text=raw.strip(), start=span[0] if span else None,
                    end=span[1] if span else None)


def _more_specific(words: list[str], i: int, j: int, lo: int, hi: int, code: str, label: str) -> tuple[str, str]:
    """A billable code that says more than the synonym when the phrase around it matches a code
    description word for word ("pneumonia due to streptococcus pneumoniae" -> J13, not J18.9)."""
    start, end = i, j
    while start > lo and words[start - 1] != "and":
        start -= 1
    while end < hi and words[end] != "and":
        end += 1
    extra = [w for w in words[start:i] + words[j:end] if w not in _QUALIFIERS]
    if not extra:
        return code, label
    phrase = " ".join(words[start:end])
    needed = {w[:5] for w in icd10.content_words(label)}
    for cand, desc, score in icd10.fuzzy_matches(phrase, limit=3):
        # the description must keep what the synonym said and be in the same chapter
        if score >= 99 and cand[0] == code[0] and needed <= {w[:5] for w in icd10.content_words(desc)}:
            return cand, phrase
    return code, label


def extract_diagnoses(assessment_text: str, transcript: Transcript | None = None) -> list[Diagnosis]:
    """Coded diagnoses from an assessment (or a whole dictation holding "Assessment: ..."); for a
    clinician-patient conversation, the problems the clinician names as the patient's own."""
    times = _WordTimes(transcript)
    found: list[Diagnosis] = []
    codes: set[str] = set()

    def add(code: str, label: str, raw: str, words: list[str]) -> None:
        if code not in codes:
            codes.add(code)
            found.append(Diagnosis(text=label, icd10=code, evidence=[_evidence(raw, words, times)]))

    turns = clinician_turns(transcript)
    if turns is not None:
        # a conversation: the section split of the joined text finds "plan" anywhere, so ignore it;
        # an assessment the clinician dictates into the recording still counts
        said = "\n".join(turns)
        header = None
        for header in _DICTATED_HEADER.finditer(said):
            pass  # the last one
        if header is not None:
            p = _PLAN.search(said, header.end())
            _code_assessment(said[header.end() : p.start() if p else len(said)], add)
        for turn in turns:
            _code_conversation_turn(turn, add)
        return found

    text = assessment_text or ""
    if not text.strip() and transcript is not None and transcript.text:
        # no assessment section was found (ASR punctuation): the transcript's own "assessment, ..."
        # part when it has one; a dictation without any assessment header codes nothing
        part, start = _assessment_part(transcript.text)
        text = part if start else ""
    section, _ = _assessment_part(text)
    _code_assessment(section, add)
    return found


# words a code description may carry beyond what was said without changing its meaning
# (icd10's stop words already drop "unspecified", "other", "type" ...)
_DESCRIPTION_FILLER = frozenset({"site", "sites", "organism", "part", "region", "initial", "encounter"})


def _faithful(phrase: str, description: str) -> bool:
    """A fuzzy hit codes what was said: each word said is in the description (or a spelling slip
    of one: ratio >= 85), and the description adds no concept that was not said ("counseling" is
    not "Sex counseling"; "medical treatment" is not "Personal history of other medical
    treatment"; "ventrial fibrillation" is too far from "ventricular" to be a slip). What follows
    "without" in a description is a qualifier, not a concept ("Chills (without fever)")."""
    from rapidfuzz import fuzz

    said = icd10.content_words(phrase)
    desc = icd10.content_words(re.split(r"\bwithout\b", description, maxsplit=1, flags=re.IGNORECASE)[0])
    desc -= _DESCRIPTION_FILLER

    def near(word: str, words: set[str]) -> bool:
        return any(word == w or fuzz.ratio(word, w) >= 85 for w in words)

    return bool(said) and all(near(w, desc) for w in said) and all(near(w, said) for w in desc)


def _fuzzy_code(phrase: str) -> str | None:
    """The best code description that says what the phrase says and no more; a problem named
    without a type codes to "unspecified" rather than "other" (which means a named other type)."""
    faithful = [h for h in icd10.search(phrase, limit=12) if h[2] >= _FUZZY_MIN and _faithful(phrase, h[1])]
    if not faithful:
        return None
    best = faithful[0]
    if re.search(r"\bother\b", best[1], re.IGNORECASE):
        best = next((h for h in faithful if "unspecified" in h[1].lower() and best[2] - h[2] <= 3), best)
    return best[0]


def _code_assessment(section: str, add) -> None:
    """Every current, non-negated problem of an assessment section, clause by clause."""
    for sentence, _ in _split(section, _SENTENCE):
        negated_rest = False
        clauses = []
        for clause, _ in _split(sentence, _CLAUSE):
            toks = icd10.tokens(clause)
            words = [t[0] for t in toks]
            clauses.append((clause, toks, words, icd10.find_synonyms(words)))
        for k, (clause, toks, words, matches) in enumerate(clauses):
            if _NEG_SENTENCE.search(" ".join(words)):
                negated_rest = True
            covered = [False] * len(words)
            prev_end, prev_negated = 0, False
            for n, (i, j, syn) in enumerate(matches):
                covered[i:j] = [True] * (j - i)
                # negation cues count from the previous problem on ("... without hematuria and X")
                before = " ".join(words[prev_end:i])
                next_start = matches[n + 1][0] if n + 1 < len(matches) else len(words)
                after = " ".join(words[j:next_start])
                negated = (negated_rest or bool(_NEG_BEFORE.search(before)) or bool(_NEG_AFTER.search(after))
                           or (prev_negated and before in ("or", "nor", "and", "")))
                prev_end, prev_negated = j, negated
                if negated:
                    continue
                # the phrase may run over another named problem: "diabetes with diabetic CKD" -> E11.22 (+ N18.9)
                code, label = _more_specific(words, i, j, 0, len(words), syn.code, syn.label)
                if code in _UPGRADES:
                    # a qualifier after the problem, in its clause or the bare clauses that follow
                    tail = [after] + [" ".join(c[2]) for c in clauses[k + 1 :]]
                    tail = tail[: 1 + next((m for m, c in enumerate(clauses[k + 1 :]) if c[3]), len(tail) - 1)]
                    pattern, code2, label2 = _UPGRADES[code]
                    if pattern.search(" ".join(tail)):
                        code, label = code2, label2
                add(code, label, clause[toks[i][1] : toks[j - 1][2]], words[i:j])
            # what the table did not name: pieces between " and " that say more than qualifiers;
            # words right after/before a named problem qualify it ("... secondary to blood loss")
            chunks = " ".join(w if not c else "|" for w, c in zip(words, covered)).split("|")
            for c_i, chunk in enumerate(chunks):
                pieces = re.split(r"\band\b", chunk)
                for p_i, piece in enumerate(pieces):
                    pw = piece.split()
                    touches_named = (p_i == 0 and c_i > 0) or (p_i == len(pieces) - 1 and c_i < len(chunks) - 1)
                    if touches_named or not pw or all(w in _QUALIFIERS or w.isdigit() for w in pw):
                        continue
                    if negated_rest or _NEG_BEFORE.search(piece) or len(" ".join(pw)) < 4:
                        continue
                    if hit := _fuzzy_code(" ".join(pw)):
                        add(hit, " ".join(pw), " ".join(pw), pw)


# ---------------------------------------------------------------- conversations
# In a visit conversation nobody says "Assessment:"; the clinician names the problems as the patient's
# own while discussing them ("for your first problem, your congestive heart failure ...", "I think you
# have carpal tunnel syndrome", "your depression's stable"). Everything else that names a condition
# (questions, review of systems, family history, "any chest pain?") is not a diagnosis.
_CLINICIANS = frozenset({"doctor", "dr", "physician", "clinician", "provider", "np", "pa", "nurse practitioner"})
_FRAME_BEFORE = re.compile(
    r"\b(?:problem|issue|condition|diagnosis|diagnosed|diagnose|for your|for the|for his|for her|regarding|"
    r"regards to|terms of|as far as|as for|you have|you ve got|you do have|you still have|he has|she has|"
    r"consistent with|suggestive of|likely|i think|i believe|looks like|sounds like|it s|this is|that s|"
    r"due to|secondary to|from a|from an|from your|manage|managing|treat|treating|control|controlling|"
    r"monitor|monitoring|have some|exacerbation|recurrence|flare|impression|assessment)\b"
)
# "assessment and plan." dictated into a conversation; "impression is ..." there is usually an imaging report's
_DICTATED_HEADER = re.compile(r"\bassessment(?:\s+and\s+plan)?\b\s*[:,.\-]", re.IGNORECASE)
_FRAME_GAP = 3  # words allowed between the cue and the problem ("problem, um, your ...")
# "your depression's stable", "your blood pressure is out of control": a status said right after
_FRAME_AFTER = re.compile(
    r"^(?:is |has been |seems |looks |appears |was |seem |)(?:to be )?(?:well |very |pretty |really |fairly |"
    r"under |out of |not |)(?:stable|controlled|control|better|worse|improved|improving|worsening|"
    r"elevated|doing)\b"
)
_STANDPOINT = re.compile(r"^(?:standpoint|perspective|wise)\b")
# someone else's problem, a risk or test rather than a condition, a question, or the clinician saying no
_NOT_THEIRS = re.compile(
    r"\b(?:family|mother|mom|father|dad|brother|sister|grandmother|grandfather|grandma|grandpa|wife|husband|"
    r"son|daughter|aunt|uncle|cousin|friend|risk|risks|prevent|preventing|screen|screening|if|any|concern|"
    r"concerned|worried|worry|signs|symptoms|or|\w*n t|not|never|no|nothing|unlikely|doubt|do you|did you|does|"
    r"have you|are you)\b"
)
_NOT_AFTER = re.compile(r"^(?:vaccine|vaccination|shot|screening|test|testing|medication|medicine|doctor|specialist)\b")
_TAG_QUESTION = re.compile(
    r"\b(?:okay|ok|right|alright|all right|yeah|correct|sound good|sounds good|make sense|you know|fair|"
    r"is that okay|is that all right|alright)\s*[,.]?\s*\?\s*$", re.IGNORECASE)
_YOUR_PROBLEM = re.compile(r"\b(?:terms of|regards to|regarding|for|as for|as far as|about|with) your$")
_TURN_SENTENCE = re.compile(r"[^.?!]+[.?!]?")


def clinician_turns(transcript: Transcript | None) -> list[str] | None:
    """What the clinician said, turn by turn, when the transcript is a labelled conversation; else None."""
    if transcript is None:
        return None
    speakers = {(s.speaker or "").lower() for s in transcript.segments if s.speaker}
    if not speakers or not speakers & _CLINICIANS or len(speakers) < 2:
        return None
    return [s.text for s in transcript.segments if (s.speaker or "").lower() in _CLINICIANS]


def _framed(words: list[str], i: int, j: int) -> bool:
    before = " ".join(words[max(0, i - 8) : i])
    last = None
    for last in _FRAME_BEFORE.finditer(before):
        pass
    if last is not None and len(before[last.end() :].split()) <= _FRAME_GAP:
        return True
    after = " ".join(words[j : j + 6])
    prev = words[i - 1] if i else ""
    if prev in ("your", "his", "her") and _FRAME_AFTER.search(after):
        return True
    return prev in ("a", "an") and i >= 2 and words[i - 2] == "from" and bool(_STANDPOINT.search(after))


def _code_conversation_turn(turn: str, add) -> None:
    for m in _TURN_SENTENCE.finditer(turn):
        sentence = m.group(0)
        # a question asks rather than finds ("any chest pain?"), unless it only checks in ("..., okay?")
        # or opens on the patient's own problem ("in terms of your high blood pressure, do you ...?")
        question = sentence.rstrip().endswith("?") and not _TAG_QUESTION.search(sentence)
        toks = icd10.tokens(sentence)
        words = [t[0] for t in toks]
        for i, j, syn in icd10.find_synonyms(words):
            if question and not _YOUR_PROBLEM.search(" ".join(words[max(0, i - 4) : i])):
                continue
            if not _framed(words, i, j):
                continue
            before = " ".join(words[max(0, i - 6) : i])
            after = " ".join(words[j:])
            if _NEG_BEFORE.search(before) or _NOT_THEIRS.search(before) or _NEG_AFTER.search(after) \
                    or _NOT_AFTER.search(after):
                continue
            add(syn.code, syn.label, sentence[toks[i][1] : toks[j - 1][2]], words[i:j])
