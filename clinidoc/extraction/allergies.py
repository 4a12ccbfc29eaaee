"""Allergies: the patient's recorded ones plus those dictated, deduplicated."""

from __future__ import annotations

import re

from rapidfuzz import fuzz

from clinidoc.encounter import Allergy, Patient, Transcript
from clinidoc.extraction.sections import TimedText
from clinidoc.knowledge.drugs import drug_dictionary

# "allergy to penicillin", "allergic to sulfa drugs and codeine", "allergies include latex"
_TO = re.compile(r"\ballerg(?:y|ic|ies)\s+(?:to|include[sd]?|are|is|:)\s+(?P<what>[^.;:]+)", re.I)
# "latex allergy", "a penicillin allergy"
_BEFORE = re.compile(r"\b(?P<what>[A-Za-z][A-Za-z-]+)\s+allerg(?:y|ies)\b", re.I)
_NOT_SUBSTANCE = frozenset(
    "no known drug drugs any medication medications food seasonal environmental other an a the his her "
    "their nkda denies".split()
)
_NONE = re.compile(r"\b(?:no\s+known\s+(?:drug\s+)?allergies|nkda|no\s+(?:drug\s+)?allergies|denies\s+allergies)\b", re.I)
# reaction phrases after the substance
_REACTION = re.compile(
    r"^\s*,?\s*(?:which\s+)?(?:causes?|caused|causing|with|gives?\s+(?:him|her|them)|results?\s+in|leading\s+to|"
    r"reaction\s+(?:is|was|of)?)\s*(?P<r>[a-z][a-z\s-]*?)\s*(?:[,.;]|$)",
    re.I,
)
_BARE_REACTION = re.compile(r"^\s*,\s*(?P<r>[a-z][a-z-]*(?:\s+[a-z-]+){0,2})\s*(?:[.;]|$)", re.I)
_RUN_ON = re.compile(
    r"\s(?:no|denies|blood|heart|pulse|vitals?|temperature|respiratory|oxygen|weight|on\s+exam|exam|he|she|they|"
    r"patient|history|reports?|takes|taking|currently|assessment|plan|who|that)\b|\s\d",
    re.I,
)
_REACTION_WORD = re.compile(
    r"\s(?=(?:rash|hives|urticaria|itching|itch|nausea|vomiting|anaphylaxis|angioedema|swelling|diarrhea|"
    r"wheezing|throat\s+swelling)\b)",
    re.I,
)
_TRAILING = re.compile(r"\s+(?:drugs?|medications?|antibiotics?|class|products?|allergy)$", re.I)


def _norm(substance: str) -> str:
    s = re.sub(r"\s+", " ", substance.strip().lower())
    s = re.sub(r"^(?:the|a|an)\s+", "", s)
    return _TRAILING.sub("", s).strip()


def _key(substance: str) -> str:
    return _norm(substance).rstrip("s")  # "penicillins" and "penicillin" are the same allergy


def _dictated(tt: TimedText) -> list[Allergy]:
    text = tt.text
    out: list[Allergy] = []
    for s, e in tt.sentences():
        sent = text[s:e]
        for m in _TO.finditer(sent):
            what = m.group("what")
            # the substance list ends at a reaction cue or a clause comma
            cut = re.search(r",|\bwhich\b|\bcaus\w*|\bwith\b|\bgiv\w*|\bresult\w*|\bleading\b", what, re.I)
            subs_text, rest = (what[: cut.start()], what[cut.start() :]) if cut else (what, "")
            # unpunctuated ASR runs on into the exam: "allergy to sulfa blood pressure 138/86 ..."
            stop = _RUN_ON.search(subs_text)
            if stop:
                subs_text, rest = subs_text[: stop.start()], ""
            bare = _REACTION_WORD.search(subs_text)
            if bare and not rest:  # "allergy to sulfa drugs rash"
                subs_text, rest = subs_text[: bare.start()], ", " + subs_text[bare.start() :]
            r = _REACTION.match(rest) or _BARE_REACTION.match(rest)
            reaction = r.group("r").strip() if r and not _NONE.search(r.group("r")) and "allerg" not in r.group("r") else None
            if reaction and drug_dictionary().generic_name(reaction):
                # "allergies include latex, codeine": a second substance, not a reaction
                subs_text, reaction = what, None
            for sub in re.split(r",|\band\b|\bor\b", subs_text):
                if _norm(sub) and _norm(sub) not in _NOT_SUBSTANCE:
                    out.append(Allergy(substance=_norm(sub), reaction=reaction))
        for m in _BEFORE.finditer(sent):
            word = m.group("what").lower()
            if word in _NOT_SUBSTANCE or _TO.match(sent, m.start("what") + len(word) + 1):
                continue  # "no chest pain allergy to sulfa": the substance follows
            rest = sent[m.end() :]
            r = _REACTION.match(rest) or _BARE_REACTION.match(rest)
            reaction = r.group("r").strip() if r and not _NONE.search(rest) and "allerg" not in r.group("r") else None
            out.append(Allergy(substance=_norm(word), reaction=reaction))
    return out


def _same_as(key: str, merged: dict[str, Allergy]) -> str:
    """The listed allergy a dictated one is a misspelling of ("codine" for a recorded "codeine",
    as ASR writes it), else ``key`` itself."""
    if key in merged or len(key) < 5 or drug_dictionary().generic_name(key):
        return key  # a real drug name ("ampicillin" next to a listed "amoxicillin") stays its own
    best = max(merged, key=lambda k: fuzz.ratio(key, k), default=None)
    return best if best is not None and len(best) >= 5 and fuzz.ratio(key, best) >= 88 else key


def extract_allergies(transcript: Transcript, patient: Patient | None = None) -> list[Allergy]:
    """Recorded allergies first, then dictated ones not already listed (reaction filled in)."""
    merged: dict[str, Allergy] = {}
    for sub in (patient.allergies if patient else []):
        if _norm(sub):
            merged.setdefault(_key(sub), Allergy(substance=_norm(sub)))
    for a in _dictated(TimedText.of(transcript)):
        k = _same_as(_key(a.substance), merged)
        if k in merged:
            if merged[k].reaction is None and a.reaction:
                merged[k].reaction = a.reaction
        else:
            merged[k] = a
    return list(merged.values())
