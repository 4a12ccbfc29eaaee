"""Text normalisation for scoring transcripts: word error rate with numbers compared as digits.

Expected transcripts spell numbers as words ("one thirty-eight over eighty-six") while Whisper writes
digits ("138 over 86"). Both sides are lower-cased, stripped of punctuation, and every run of number
words or digits is collapsed into one digit string ("one thirty-eight" -> "138", "one hundred twelve"
-> "112", "thirty-six point eight" -> "36.8", "four zero two one" -> "4021"). Pure Python, no
dependencies, so tests and the bench share it.
"""

from __future__ import annotations

import re

_UNITS = {
    "zero": 0, "oh": None, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14,
    "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19,
}
_UNITS.pop("oh")
_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90}
_SCALES = {"hundred": 100, "thousand": 1000}
_NUMBER_WORDS = set(_UNITS) | set(_TENS) | set(_SCALES) | {"point"}
_DIGITS = re.compile(r"^\d+(\.\d+)?$")


def _is_number_token(tok: str) -> bool:
    return tok in _NUMBER_WORDS or bool(_DIGITS.match(tok))


def _run_to_digits(run: list[str]) -> list[str]:
    """One run of number tokens -> a single digit string (or the tokens back, for a lone 'point')."""
    if all(t == "point" for t in run):
        return run
    out = ""
    current: int | None = None  # value being built from tens/units/scales
    for tok in run:
        if tok == "point":
            if current is not None:
                out += str(current)
                current = None
            out += "."
        elif _DIGITS.match(tok):
            if current is not None:
                out += str(current)
                current = None
            out += tok
        elif tok == "hundred":
            high = current - current % 1000 if current else 0
            low = current % 1000 if current else 1
            current = high + (low or 1) * 100
        elif tok in _SCALES:
            current = (current or 1) * _SCALES[tok]
        elif tok in _TENS:
            if current is not None and current % 100 == 0 and current >= 100:
                current += _TENS[tok]
            else:
                if current is not None:
                    out += str(current)
                current = _TENS[tok]
        else:  # unit
            value = _UNITS[tok]
            if current is not None and (
                (current % 10 == 0 and 20 <= current % 100 and value < 10)
                or (current >= 100 and current % 100 == 0)
            ):
                current += value
            else:
                if current is not None:
                    out += str(current)
                current = value
    if current is not None:
        out += str(current)
    return [out.strip(".")] if out.strip(".") else run


def normalize(text: str) -> list[str]:
    """Lower-case word tokens, punctuation dropped, number runs collapsed to digits."""
    text = text.lower().replace("%", " percent ")
    text = re.sub(r"(?<=\d),(?=\d{3})", "", text)  # 1,000 -> 1000
    text = re.sub(r"[-‐–—/]", " ", text)
    text = re.sub(r"(?<!\d)\.|\.(?!\d)", " | ", text)  # keep decimal points only
    text = re.sub(r"[,;:!?()\"]", " | ", text)  # punctuation ends a number run
    text = re.sub(r"[^\w\s.|]", " ", text)
    tokens = text.split()
    out: list[str] = []
    run: list[str] = []
    for tok in tokens + [""]:
        if tok and _is_number_token(tok):
            run.append(tok)
            continue
        if run:
            out.extend(_run_to_digits(run))
            run = []
        if tok and tok != "|":
            out.append(tok)
    return out


def edit_distance(ref: list[str], hyp: list[str]) -> int:
    prev = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        cur = [i] + [0] * len(hyp)
        for j, h in enumerate(hyp, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r != h))
        prev = cur
    return prev[-1]


def wer(reference: str, hypothesis: str) -> float:
    ref, hyp = normalize(reference), normalize(hypothesis)
    if not ref:
        return 0.0 if not hyp else 1.0
    return edit_distance(ref, hyp) / len(ref)
