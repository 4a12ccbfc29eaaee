"""Vital signs dictated in a transcript: only what was said, first valid mention wins."""

from __future__ import annotations

import re

from clinidoc.encounter import Transcript, Vitals
from clinidoc.extraction.numbers import NumberSpan, find_numbers
from clinidoc.extraction.sections import TimedText

# field -> cue; a cue is followed (within a few words) by its number
_CUES: dict[str, re.Pattern] = {
    "bp": re.compile(r"\b(?:blood\s+pressures?|(?-i:BP))\b", re.I),
    "heart_rate": re.compile(r"\b(?:heart\s+rate|pulse(?!\s+ox)|(?-i:HR))\b", re.I),
    "respiratory_rate": re.compile(r"\b(?:respiratory\s+rate|respirations?(?:\s+rate)?|resp\s+rate|(?-i:RR))\b", re.I),
    "temperature_c": re.compile(r"\b(?:temperature|temp|T\s*max|febrile\s+to)\b", re.I),
    "spo2": re.compile(
        r"\b(?:oxygen\s+saturation|O2\s+sat(?:uration)?s?|sat(?:uration)?s?|SpO2|SpO\s*2|pulse\s+ox(?:imetry)?|saturating)\b",
        re.I,
    ),
    "weight_kg": re.compile(r"\b(?:weight|weighs|weighing)\b", re.I),
}
# The heart's rate as read off an EKG/telemetry is an ECG finding, not a vital sign.
_ECG_SENTENCE = re.compile(r"\b(?:EKG|ECG|electrocardiogram|telemetry|rhythm strip|ventricular)\b", re.I)
# Words that may sit between a cue and its value ("blood pressure is elevated at ...")
_BLOCK = re.compile(r"\b(?:gain|gained|loss|lost|goal|target|change|history|increase|decrease)\b", re.I)
_RANGES = {
    "systolic_bp": (50, 300), "diastolic_bp": (20, 200), "heart_rate": (20, 250),
    "respiratory_rate": (4, 80), "temperature_c": (25, 45), "spo2": (50, 100), "weight_kg": (0.5, 400),
}
_MAX_GAP_WORDS = 3


def _value_after(text: str, pos: int, limit: int, numbers: list[NumberSpan]) -> NumberSpan | None:
    """The first number after ``pos`` (before ``limit``) with at most a few words in between."""
    for n in numbers:
        if n.start < pos:
            continue
        if n.start >= limit:
            return None
        gap = text[pos : n.start]
        if len(re.findall(r"[A-Za-z]+", gap)) > _MAX_GAP_WORDS or _BLOCK.search(gap):
            return None
        return n
    return None


def _ecg_context(text: str, sent_start: int, cue_start: int) -> bool:
    """An EKG/telemetry word in the cue's clause or the clause before it: "EKG shows atrial
    fibrillation, ventricular rate 84", "telemetry heart rate 110". ASR joins the whole exam with
    commas, so "heart rate 84, ..., EKG today shows ..." (EKG after the cue) is still a vital."""
    before = text[sent_start:cue_start]
    clauses = re.split(r"[,;]", before)
    return bool(_ECG_SENTENCE.search(" ".join(clauses[-2:])))


# spoken blood pressures as ASR writes them: "138 over 86", "138/86", "1-18 over 72" (= 118),
# "one 24 over 76" (= 124), "142 over 7-4" (= 74), "150 to over 90" (= 152)
_SPLIT_DIGITS = re.compile(r"(\d)-(\d{1,2})(?!\d|\.\d|-)")


def _joined_digits(text: str, n: NumberSpan) -> tuple[float, int]:
    """``n`` with a hyphen-split spoken number read whole: "1-18" -> 118, "7-4" -> 74."""
    m = _SPLIT_DIGITS.match(text, n.start)
    if m and m.start() == n.start and len(n.text) == 1:
        return float(m.group(1) + m.group(2)), m.end()
    return n.value, n.end


def _blood_pressure(text: str, n: NumberSpan, limit: int, numbers: list[NumberSpan]) -> tuple[float, float, int] | None:
    """(systolic, diastolic, end) for a pressure whose first number is ``n``; None if not one."""
    sys_value, sys_end = _joined_digits(text, n)
    if n.text.lower() in ("one", "two"):  # "one 24 over 76" = 124
        nxt = next((x for x in numbers if x.start > n.end), None)
        if nxt and re.fullmatch(r"\d\d", nxt.text) and re.fullmatch(r" +", text[n.end : nxt.start]):
            sys_value, sys_end = 100 * n.value + nxt.value, nxt.end
    tens = re.compile(r"\s+(?:to|too)\b(?=\s*(?:over|/))", re.I).match(text, sys_end)
    if tens and n.text.isdigit() and sys_value % 10 == 0:  # "150 to over 90": "one fifty-two"
        sys_value, sys_end = sys_value + 2, tens.end()
    m2 = re.compile(r"\s*(?:over|/)\s*", re.I).match(text, sys_end)
    if not m2:
        return None
    dia = next((x for x in numbers if x.start == m2.end() and x.start < limit), None)
    if dia is None:
        return None
    dia_value, dia_end = _joined_digits(text, dia)
    return sys_value, dia_value, dia_end


def extract_vitals(transcript: Transcript) -> Vitals:
    tt = TimedText.of(transcript)
    text = tt.text
    numbers = find_numbers(text)
    found: dict[str, float] = {}
    spans: dict[str, tuple[int, int]] = {}

    def keep(name: str, value: float, start: int, end: int) -> bool:
        lo, hi = _RANGES[name]
        if name in found or not lo <= value <= hi:
            return False
        found[name], spans[name] = value, (start, end)
        return True

    for s, e in tt.sentences():
        for kind, cue in _CUES.items():
            for m in cue.finditer(text, s, e):
                n = _value_after(text, m.end(), e, numbers)
                if n is None:
                    continue
                after = text[n.end : e]
                if kind == "bp":
                    bp = _blood_pressure(text, n, e, numbers)
                    if bp and keep("systolic_bp", bp[0], m.start(), bp[2]):
                        keep("diastolic_bp", bp[1], m.start(), bp[2])
                elif kind == "heart_rate":
                    if not _ecg_context(text, s, m.start()):
                        keep("heart_rate", n.value, m.start(), n.end)
                elif kind == "temperature_c":
                    fahrenheit = n.value > 50 or re.match(r"\s*(?:degrees\s+)?(?:fahrenheit|F)\b", after, re.I)
                    value = (n.value - 32) * 5 / 9 if fahrenheit else n.value
                    keep("temperature_c", round(value, 1), m.start(), n.end)
                elif kind == "spo2":
                    pct = re.match(r"\s*(?:percent|%)", after, re.I)
                    keep("spo2", n.value, m.start(), n.end + (pct.end() if pct else 0))
                elif kind == "weight_kg":
                    unit = re.match(r"\s*(kilograms?|kilos?|kgs?|pounds?|lbs?)\b", after, re.I)
                    if unit is None:
                        continue  # "weight ninety-four" with no unit is ambiguous
                    pounds = unit.group(1).lower().startswith(("p", "l"))
                    value = round(n.value * 0.45359237, 1) if pounds else n.value
                    keep("weight_kg", value, m.start(), n.end + unit.end())
                else:
                    keep(kind, n.value, m.start(), n.end)
    # A bare "138/86" or "one thirty-eight over eighty-six" with no cue is still a blood pressure
    # (ranges keep out "four over five strength"); never from an EKG sentence.
    if "systolic_bp" not in found:
        for a, b in zip(numbers, numbers[1:]):
            if re.fullmatch(r"\s*(?:over|/)\s*", text[a.end : b.start]) and not _ECG_SENTENCE.search(
                text[max(0, a.start - 80) : a.start].split(".")[-1]
            ):
                if keep("systolic_bp", a.value, a.start, b.end):
                    keep("diastolic_bp", b.value, a.start, b.end)
                    break

    vitals = Vitals(**found)
    for name, (a, b) in spans.items():
        vitals.evidence[name] = tt.evidence(a, b)
    return vitals
