"""Medication orders from a dictation or dialogue: drug, dose, unit, route, frequency, status.

Scope: the Plan when the text has a plan heading, else (dialogue) every dosed or prescribed
mention. Mentions outside the plan (history: "on lisinopril", "adherence to metformin 500 mg
twice daily") and the patient's medication list only decide continue/change/start.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from clinidoc.encounter import Medication, MedStatus, Patient, Transcript
from clinidoc.extraction.numbers import NumberSpan, find_numbers
from clinidoc.extraction.sections import TimedText, find_headings
from clinidoc.knowledge.drugs import DrugMention, drug_dictionary

_UNITS = [
    (r"milligrams?|mgs?", "mg"),
    (r"micrograms?|mcgs?|µg|ug", "mcg"),
    (r"grams?|gm|g", "g"),
    (r"milliequivalents?|meq", "mEq"),
    (r"international\s+units|units?|iu", "units"),
    (r"milliliters?|millilitres?|ml|cc", "mL"),
    (r"puffs?", "puffs"),
    (r"tablets?|tabs?", "tablets"),
    (r"capsules?|caps?", "capsules"),
    (r"drops?", "drops"),
]
_UNIT_RE = re.compile(
    r"\s*(?:" + "|".join(f"(?P<u{i}>{p})" for i, (p, _) in enumerate(_UNITS)) + r")(?![\w-])(?!\s*/)(?!\s+per\s+(?:deciliter|dl|liter|l|kilogram|kg)\b)", re.I
)
_ROUTES = [
    # "by mouth-wise daily": ASR glues the next word on
    (re.compile(r"\b(?:orally|oral|per\s+os|p\.\s?o\.?|po)(?![\w-])|\bby\s+mouth\b", re.I), "PO"),
    (re.compile(r"\b(?:intravenous(?:ly)?|i\.\s?v\.?|iv)(?![\w-])", re.I), "IV"),
    (re.compile(r"(?i:\bintramuscular(?:ly)?\b|\bi\.m\.)|\bIM\b"), "IM"),
    (re.compile(r"\b(?:subcutaneous(?:ly)?|sub-?q|subcut|s\.?c\.?|s\.?q\.?)(?![\w-])", re.I), "SC"),
    (re.compile(r"(?i:\b(?:sublingual(?:ly)?|under\s+the\s+tongue)\b)|\bSL\b"), "SL"),
    (re.compile(r"(?i:\b(?:rectal(?:ly)?|per\s+rectum)\b)|\bPR\b"), "PR"),
    (re.compile(r"\b(?:inhaled|inhalation|inhaler|nebuli[sz]ed|nebuli[sz]er|puffs?)\b", re.I), "INH"),
    (re.compile(r"\b(?:topical(?:ly)?|to\s+the\s+skin|apply|applied)\b", re.I), "TOP"),
    (re.compile(r"\b(?:transdermal(?:ly)?|patch)\b", re.I), "TD"),
]
_N = r"(?P<n>\d+|one|two|three|four|six|eight|twelve|twenty-four)"
_FREQ = re.compile(
    r"\b(?:every|q\.?)\s*" + _N + r"\s*(?:hours?|hrs?|h)\b\.?"
    # ASR: "2 times a day", "3 times daily", "twice a day", and "twice" heard as "wise" ("mouth-wise daily")
    r"|(?P<BID>\b(?:twice|wise)\s+(?:a|per|each)\s+day|\b(?:twice|wise)\s+daily|\b(?:two|2)\s+times\s+(?:a|per)\s+day|\b(?:two|2)\s+times\s+daily|\bb\.?\s?i\.?\s?d\b\.?)"
    r"|(?P<TID>\b(?:three|3)\s+times\s+(?:a|per)\s+day|\b(?:three|3)\s+times\s+daily|\bt\.?\s?i\.?\s?d\b\.?)"
    r"|(?P<QID>\b(?:four|4)\s+times\s+(?:a|per)\s+day|\b(?:four|4)\s+times\s+daily|\bq\.?\s?i\.?\s?d\b\.?)"
    r"|(?P<QHS>\bat\s+bedtime|\bat\s+night\s*time|\bnightly|\bevery\s+night|\bat\s+night|\bbefore\s+bed(?:time)?|\bq\.?\s?h\.?\s?s\b\.?)"
    r"|(?P<weekly>\bonce\s+(?:a|per|every)\s+week|\bweekly|\bevery\s+week)"
    r"|(?P<daily>\bonce\s+(?:a|per)\s+day|\bonce\s+daily|\bdaily|\bevery\s+day|\beach\s+day|\bq\.?\s?d\b\.?"
    r"|\bevery\s+morning|\bin\s+the\s+morning|\bq\.?\s?a\.?\s?m\b\.?|\ba\s+day\b)"
    r"|(?P<once>\bonce\b(?!\s+(?:a\s+|per\s+|every\s+)?(?:day|daily|week|weekly|nightly|at\s+bedtime|in\s+the\s+morning))|\bsingle\s+dose|\bone\s+dose|\bone\s+time\s+only|\bx\s?1\b|\btimes\s+one\b)",
    re.I,
)
_HOURS = {"one": 1, "two": 2, "three": 3, "four": 4, "six": 6, "eight": 8, "twelve": 12, "twenty-four": 24}
_PRN = re.compile(r"\b(?:as\s+needed|p\.?\s?r\.?\s?n\b\.?|as\s+required|when\s+needed|if\s+needed)", re.I)

_VERBS: list[tuple[re.Pattern, str]] = [
    (re.compile(r"\b(?:stop|stopped|stopping|discontinue[ds]?|discontinuing|d/c|hold|holding|held|cease|come\s+off)\b", re.I), "stop"),
    (re.compile(r"\b(?:increase[ds]?|increasing|decrease[ds]?|decreasing|reduce[ds]?|reducing|titrate[ds]?|"
                r"up-?titrate|change[ds]?|changing|switch(?:ed|ing)?|adjust(?:ed|ing)?|"
                r"lower(?:ed)?(?!\s+(?:lobes?|extremit\w*|legs?|back|abdom\w*|quadrant|limbs?|respiratory|gi)\b)|raise[ds]?|"
                r"double[ds]?|bump(?:ed)?\s+up|taper(?:ed)?|wean(?:ed)?)\b", re.I), "change"),
    (re.compile(r"\b(?:continue[ds]?|continuing|resume[ds]?|resuming|restart(?:ed)?|remain\s+on|stay\s+on|keep)\b", re.I), "continue"),
    (re.compile(r"\b(?:start(?:ed|ing)?|begin|began|initiate[ds]?|give|given|giving|prescribe[ds]?|add(?:ed)?|"
                r"load(?:ed)?|place[ds]?\s+on|put\s+(?:him|her|them)\s+on|trial\s+of|recommend(?:ed)?)\b", re.I), "start"),
]
_JOINED = re.compile(r"\b(?:and|plus|also|or|as\s+well\s+as)\s*$", re.I)
_NEXT_ORDER = re.compile(
    r"(?:[,.;]\s*|\s)(?:then\s+)?(?=(?:stop|discontinue|hold|increase|decrease|reduce|continue|resume|restart|"
    r"start|begin|initiate|prescribe|add|recheck|repeat|return|follow\s+up)\b)",
    re.I,
)
# A mention right after these is not an order ("avoid NSAIDs", "allergic to penicillin").
_NEGATED = re.compile(r"\b(?:avoid|no|not|never|allergic\s+to|allergy\s+to|instead\s+of|without)\s+(?:\w+\s+)?$", re.I)
_CLAUSE_END = re.compile(
    r"\s+(?:and|but|while|because)\s+(?!\d)(?!(?:one|two|three|four|five|six|seven|eight|nine|ten)\b)|;"
    r"|,\s*(?:he|she|they|which|who|the|but)\b",
    re.I,
)
_ON = re.compile(r"\b(?:on|taking|takes|take)\s+(?:(?:his|her|the|their|home|long\s+term|current)\s+)*$", re.I)
_FROM_TO = re.compile(r"^\s*(?:dose\s+)?from\s+\S+.{0,30}?\bto\b", re.I)
_TRAIL = re.compile(r"(?:[\s,.;:]+|\s+(?:and|then|to|with|or|plus)\b)+$", re.I)
_CURRENT_STOPPED = re.compile(r"\b(?:stopped|discontinued|finished|completed|previously|used\s+to|in\s+the\s+past)\b", re.I)


@dataclass
class _Item:
    name: str
    start: int
    end: int
    dose: float | None = None
    unit: str | None = None
    route: str | None = None
    frequency: str | None = None
    verb: str | None = None
    on: bool = False  # said as taken already ("on lisinopril", "taking metformin")


def _dose(text: str, numbers: list[NumberSpan], a: int, b: int) -> tuple[float | None, str | None]:
    """Dose and unit in text[a:b]: a number followed by a unit; "from 75 to 100 mcg" gives 100."""
    cands = []
    for n in numbers:
        if n.start < a or n.end > b:
            continue
        m = _UNIT_RE.match(text, n.end)
        if m:
            unit = next(_UNITS[int(k[1:])][1] for k, v in m.groupdict().items() if v)
            after_to = bool(re.search(r"\bto\s*$", text[a : n.start], re.I))
            cands.append((n.value, unit, after_to))
    if not cands:
        # "metoprolol 25 twice daily": a bare number right after the drug name
        first = next((n for n in numbers if a <= n.start < b), None)
        if first and not text[a : first.start].strip(" ,") and not re.match(
            r"\s*(?:days?|weeks?|months?|hours?|times|percent|%)", text[first.end : b], re.I
        ):
            return first.value, None
        return None, None
    preferred = [c for c in cands if c[2]]
    value, unit, _ = (preferred[-1] if preferred else cands[0])
    return value, unit


def _route(clause: str) -> str | None:
    hits = [(m.start(), code) for rx, code in _ROUTES for m in [rx.search(clause)] if m]
    return min(hits)[1] if hits else None


def _frequency(clause: str) -> str | None:
    m = _FREQ.search(clause)
    freq = None
    if m:
        if m.group("n"):
            n = m.group("n").lower()
            hours = int(n) if n.isdigit() else _HOURS[n]
            freq = "daily" if hours == 24 else f"q{hours}h"
        else:
            freq = next(k for k in ("BID", "TID", "QID", "QHS", "weekly", "daily", "once") if m.group(k))
    if _PRN.search(clause):
        freq = f"{freq} PRN" if freq else "PRN"
    return freq


# After the drug only words that say what happened to it count ("lisinopril was held"), not
# "education given" or "recommended".
_POST_IGNORED = re.compile(r"^(?:give|given|giving|add|added|load|loaded|recommend|recommended|keep|trial\s+of)$", re.I)


def _verb(fragment: str, post: bool = False) -> str | None:
    """The verb class of the last verb in ``fragment``."""
    best = None
    for rx, cls in _VERBS:
        for m in rx.finditer(fragment):
            if post and _POST_IGNORED.match(m.group()):
                continue
            if best is None or m.start() > best[0]:
                best = (m.start(), cls)
    return best[1] if best else None


def _parse(text: str, mentions: list[DrugMention], numbers: list[NumberSpan], a: int, b: int) -> list[_Item]:
    """Items for the mentions inside sentence text[a:b]."""
    inside = [m for m in mentions if a <= m.start < b]
    items = []
    sentence_verb = None
    prev_end = a
    for k, m in enumerate(inside):
        clause_end = inside[k + 1].start if k + 1 < len(inside) else b
        # the order's own words end at a joined clause ("... daily and my inhaler", ", he received")
        cut = _CLAUSE_END.search(text, m.end, clause_end)
        clause_end = cut.start() if cut else clause_end
        # ASR joins the orders with commas or nothing: "..., continue lisinopril ...", "..., then
        # resume warfarin ...", "... once daily continue metformin ...": a new order verb ends this
        # order once it has its number ("lisinopril, increase to 20 mg" keeps its verb)
        for v in _NEXT_ORDER.finditer(text, m.end, clause_end):
            if any(m.end <= n.start and n.end <= v.start() for n in numbers):
                clause_end = v.start()
                break
        clause = text[m.end : clause_end]
        before = text[prev_end : m.start]
        if _NEGATED.search(text[a : m.start]):
            prev_end = clause_end
            continue
        dose, unit = _dose(text, numbers, m.end, clause_end)
        # the sentence's verb runs over a list ("stop lisinopril and spironolactone", "start X 25 mg
        # and Y 5 mg"), but not to an order with its own dose that is not joined by "and": ASR
        # writes "..., stop lisinopril, digoxin 0.125 mg daily" or drops the punctuation altogether
        gap = text[inside[k - 1].end if k else a : m.start]
        carried = sentence_verb if (dose is None or _JOINED.search(gap)) else None
        # "stop lisinopril, start losartan 50 mg": the verb right before the drug, past the last comma
        # of the previous order's clause
        own = _verb(before) or (_verb(re.split(r"[,;.]", gap)[-1]) if k else None)
        verb = own or _verb(re.split(r"[,;]", clause)[0], post=True) or carried
        if verb is None and _FROM_TO.search(clause):
            verb = "change"  # "lisinopril from ten to twenty milligrams"
        sentence_verb = own or sentence_verb
        item = _Item(m.generic, m.start, clause_end, dose, unit, _route(clause), _frequency(clause), verb)
        item.on = bool(_ON.search(text[a : m.start]))
        items.append(item)
        prev_end = clause_end
    # "switch lisinopril to losartan fifty milligrams daily": the first is stopped, the second started
    if len(items) == 2 and items[0].verb == "change" and re.search(r"\bswitch|\bchange", text[a : inside[0].start], re.I):
        if re.search(r"\bto\b", text[items[0].start : items[1].start]) and items[0].dose is None:
            items[0].verb, items[1].verb = "stop", "start"
    return items


def _fuzzy_mentions(text: str, numbers: list[NumberSpan], mentions: list[DrugMention], a: int, b: int) -> list[DrugMention]:
    """Misspelt drug names (ASR slips like "apixiban") just before a dose with no known drug."""
    dd = drug_dictionary()
    out: list[DrugMention] = []
    known = [(m.start, m.end) for m in mentions]

    def try_word(w: re.Match, offset: int) -> bool:
        s, e = offset + w.start(), offset + w.end()
        if len(w.group()) < 5 or _verb(w.group()) or any(ms <= s < me for ms, me in known):
            return False
        best = dd.suggest_scored(w.group(), 1)
        if best and best[0][1] >= 90:
            out.append(DrugMention(s, e, w.group(), best[0][0]))
            known.append((s, e))
            return True
        return False

    # the word or two before a dose with no drug named before it in the sentence
    for n in numbers:
        if not (a <= n.start < b) or not _UNIT_RE.match(text, n.end):
            continue
        if any(a <= m.start < n.start for m in mentions):
            continue
        words = list(re.finditer(r"[A-Za-z][A-Za-z-]+", text[a : n.start]))[-2:]
        any(try_word(w, a) for w in reversed(words))
    # the word right after an order verb ("stop lisinoprel")
    for rx, _ in _VERBS:
        for v in rx.finditer(text, a, b):
            w = re.compile(r"\s+(?:the\s+)?([A-Za-z][A-Za-z-]+)").match(text, v.end())
            if w:
                inner = re.search(r"[A-Za-z][A-Za-z-]+$", text[v.end() : w.end()])
                if inner:
                    try_word(inner, v.end())
    return out


def _allergy_spans(text: str) -> list[tuple[int, int]]:
    """Char ranges of allergy statements: "allergy" up to the clause end, at most ten words."""
    out = []
    for m in re.finditer(r"\ballerg\w*", text, re.I):
        end = re.search(r"[.;,]\s|$", text[m.end() :]).start() + m.end()
        words = list(re.finditer(r"\S+", text[m.end() : end]))
        if len(words) > 10:
            end = m.end() + words[9].end()
        out.append((m.start(), end))
    return out


def _current(patient: Patient | None, history: list[_Item]) -> dict[str, _Item]:
    """What the patient is on: the medication list, else drugs named in the history."""
    cur: dict[str, _Item] = {}
    for it in history:
        cur[it.name] = it
    dd = drug_dictionary()
    for line in (patient.medications if patient else []):
        ms = dd.find_mentions(line)
        if ms:
            for it in _parse(line, ms, find_numbers(line), 0, len(line)):
                cur[it.name] = it
    return cur


def _differs(item: _Item, cur: _Item) -> bool:
    pairs = [(item.dose, cur.dose), (item.unit, cur.unit), (item.route, cur.route), (item.frequency, cur.frequency)]
    return any(x is not None and y is not None and x != y for x, y in pairs)


def _status(item: _Item, current: dict[str, _Item]) -> MedStatus:
    cur = current.get(item.name)
    if item.verb in ("stop", "change", "start"):
        return item.verb  # type: ignore[return-value]
    if cur is None:
        return "continue" if item.verb == "continue" or item.on else "start"
    return "change" if _differs(item, cur) else "continue"


def extract_medications(transcript: Transcript, patient: Patient | None = None) -> list[Medication]:
    tt = TimedText.of(transcript)
    text = tt.text
    dd = drug_dictionary()
    numbers = find_numbers(text)
    mentions = dd.find_mentions(text)
    # scope: from the Assessment (drugs are dictated in the assessment/plan) or Plan heading on
    heads = [h for h in find_headings(text) if h[0] in ("assessment", "plan", "assessment and plan")]
    plan = bool(heads)
    lo = min(h[2] for h in heads) if heads else 0

    scoped: list[_Item] = []
    history: list[_Item] = []
    # a heading also ends a sentence: ASR writes "..., right lower lobe, plan, amoxicillin ..."
    cuts = sorted({h[2] for h in find_headings(text)})
    ranges = []
    for s, e in tt.sentences():
        inner = [c for c in cuts if s < c < e]
        ranges += list(zip([s] + inner, inner + [e]))
    # drugs named as allergies are no orders; ASR may put the allergy in one comma chain (or one
    # unpunctuated run) with everything else, so only its own words are left out, not the sentence
    mentions = [m for m in mentions if not any(a <= m.start < b for a, b in _allergy_spans(text))]
    for s, e in ranges:
        if e > lo:  # the sentence reaches into the scope
            extra = _fuzzy_mentions(text, numbers, mentions, max(s, lo), e)
            ms = sorted(mentions + extra, key=lambda m: m.start)
            for it in _parse(text, ms, numbers, max(s, lo), e):
                # only orders: a dose or a verb (or, under a plan heading, a route or frequency);
                # "supratherapeutic INR on long term warfarin" only tells what the patient is on
                if it.dose is not None or it.verb or (plan and (it.route or it.frequency)):
                    scoped.append(it)
                else:
                    history.append(it)
        else:
            for it in _parse(text, mentions, numbers, s, e):
                if not _CURRENT_STOPPED.search(text[s:e]):
                    history.append(it)
    current = _current(patient, history)

    merged: dict[str, list[_Item]] = {}
    for it in scoped:
        merged.setdefault(it.name, []).append(it)
    out = []
    for name, items in merged.items():
        last = items[-1]
        dosed = [i for i in items if i.dose is not None]
        # one item per drug: the last dosing wins, unless the drug is stopped after it
        chosen = last if (last.dose is not None or last.verb == "stop" or not dosed) else dosed[-1]
        if chosen is not last and last.verb:
            chosen = replace(chosen, verb=last.verb)
        status = _status(chosen, current)
        evidence = [tt.evidence(i.start, i.start + len(_TRAIL.sub("", text[i.start : i.end]))) for i in items]
        if status == "stop":
            out.append(Medication(name=name, status="stop", evidence=evidence))
        else:
            out.append(Medication(
                name=name, dose=chosen.dose, unit=chosen.unit, route=chosen.route,
                frequency=chosen.frequency, status=status, evidence=evidence,
            ))
    return out
