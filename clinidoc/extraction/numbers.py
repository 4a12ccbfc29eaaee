"""Spoken numbers -> numbers, for dictated clinical text.

Handles number words ("one hundred twelve", "thirty-six point eight", "zero point one two
five", "twenty-five hundred", "one thousand two hundred forty"), the clinical shorthand
"one thirty-eight" (= 138, as in blood pressures) and digits as faster-whisper writes them
("138", "0.125", "2,500"). Libraries such as word2number/text2num read "one thirty-eight" as
1 + 38 or two numbers, so this small parser is our own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

UNITS = {
    "zero": 0, "oh": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
    "seven": 7, "eight": 8, "nine": 9,
}
TEENS = {
    "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15,
    "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19,
}
TENS = {
    "twenty": 20, "thirty": 30, "forty": 40, "fourty": 40, "fifty": 50, "sixty": 60,
    "seventy": 70, "eighty": 80, "ninety": 90,
}
SCALES = {"hundred": 100, "thousand": 1000}

# words and digit groups, with hyphenated compounds kept whole ("thirty-eight"). ASR writes
# thousands as "1,000", "1 ,000", "1, 000" or "1 000": "," or " ," before three digits, while
# ", " or a bare space only before "000" ("heart rate 84, 120 over" and "2 500" stay two numbers).
_TOKEN = re.compile(
    r"\d{1,3}(?: ?,\d{3}(?!\d)|(?:, |[ \u00a0])000(?![\d,.]))+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+|[A-Za-z]+(?:-[A-Za-z]+)*"
)


@dataclass(frozen=True)
class NumberSpan:
    value: float
    start: int  # char offsets into the scanned text
    end: int
    text: str


def _small(word: str) -> int | None:
    """0-99 for one word or a hyphenated compound ("thirty-eight"), else None."""
    parts = word.lower().split("-")
    if len(parts) == 1:
        w = parts[0]
        if w == "oh":  # "oh" only counts inside digit strings, handled by the caller
            return None
        return UNITS.get(w, TEENS.get(w, TENS.get(w)))
    if len(parts) == 2 and parts[0] in TENS and parts[1] in UNITS and parts[1] not in ("zero", "oh"):
        return TENS[parts[0]] + UNITS[parts[1]]
    return None


def _digit_token(tok: str) -> float | None:
    if tok[0].isdigit() or tok[0] == ".":
        try:
            return float(re.sub(r"[,\s]", "", tok))
        except ValueError:
            return None
    return None


def _is_numberish(tok: str) -> bool:
    low = tok.lower()
    return _digit_token(tok) is not None or _small(tok) is not None or low in SCALES or low == "oh"


def _parse_words(toks: list[str]) -> tuple[float, int] | None:
    """Parse the longest number at the head of ``toks``; return (value, tokens used)."""
    low = [t.lower() for t in toks]
    n = len(toks)
    if n == 0:
        return None
    first = _digit_token(toks[0])
    if first is not None:
        i, value = 1, first
        # "25 hundred", "2 thousand"
        if i < n and low[i] in SCALES and first == int(first):
            value *= SCALES[low[i]]
            i += 1
        return value, i

    # A run of three or more single digits is read digit by digit (MRNs, "one one eight").
    digits = []
    while len(digits) < n and low[len(digits)] in UNITS:
        digits.append(UNITS[low[len(digits)]])
    total = 0  # completed thousands
    current = 0  # value below the current scale
    i = 0
    last = None  # kind of the previous token: unit/teen/tens/compound/scale
    if len(digits) >= 3:
        current, i, last = int("".join(map(str, digits))), len(digits), "digits"
    while i < n and last != "digits":
        w = low[i]
        small = _small(toks[i])
        if w == "oh" and last == "unit" and i + 1 < n and low[i + 1] in UNITS:
            # "one oh five" -> 105
            current = current * 100 + UNITS[low[i + 1]]
            i += 2
            last = "compound"
            break
        if small is not None:
            kind = (
                "unit" if toks[i].lower() in UNITS
                else "teen" if toks[i].lower() in TEENS
                else "tens" if toks[i].lower() in TENS
                else "compound"
            )
            if last is None or last == "scale":
                current += small
            elif last == "tens" and kind == "unit" and small:
                current += small  # "thirty eight" written without the hyphen
            elif last == "unit" and kind in ("teen", "tens", "compound") and total == 0 and current < 10:
                # clinical shorthand: "one thirty-eight" = 138, "one twenty" = 120
                current = current * 100 + small
                i += 1
                last = "compound"
                break
            else:
                break  # two separate numbers ("two three" is not a number)
            last = kind
            i += 1
            continue
        if w in SCALES and last is not None and last != "scale":
            if w == "hundred":
                # "twenty-five hundred" = 2500; "one thousand two hundred" keeps the thousands
                current = (current or 1) * 100
            else:
                total += (current or 1) * 1000
                current = 0
            last = "scale"
            i += 1
            continue
        if w == "and" and last == "scale" and i + 1 < n and _small(toks[i + 1]) is not None:
            i += 1  # "one hundred and twelve"
            continue
        break
    if last is None:
        return None
    value: float = total + current
    # decimals: "thirty-six point eight", "zero point one two five", "point five"
    if i + 1 < n and low[i] == "point":
        frac = ""
        j = i + 1
        while j < n and low[j] in UNITS:
            frac += str(UNITS[low[j]])
            j += 1
        if not frac and _small(toks[j]) is not None:  # "point twenty-five"
            frac = str(_small(toks[j]))
            j += 1
        if frac:
            value = float(f"{int(value)}.{frac}")
            i = j
    return float(value), i


def find_numbers(text: str) -> list[NumberSpan]:
    """Every number in ``text``, spoken or written in digits, with char offsets."""
    toks = [(m.group(), m.start(), m.end()) for m in _TOKEN.finditer(text)]
    out: list[NumberSpan] = []
    i = 0
    while i < len(toks):
        tok = toks[i][0]
        if tok.lower() == "point" and i + 1 < len(toks) and toks[i + 1][0].lower() in UNITS:
            # leading "point five" = 0.5
            parsed = _parse_words(["zero"] + [t[0] for t in toks[i : i + 12]])
            if parsed:
                value, used = parsed
                j = i + used - 2
                out.append(NumberSpan(value, toks[i][1], toks[j][2], text[toks[i][1] : toks[j][2]]))
                i = j + 1
                continue
        if _is_numberish(tok) and tok.lower() not in SCALES:
            # only look ahead across adjacent tokens (no punctuation between them but spaces)
            window = [toks[i]]
            for k in range(i + 1, min(i + 16, len(toks))):
                gap = text[window[-1][2] : toks[k][1]]
                if gap.strip() or not (_is_numberish(toks[k][0]) or toks[k][0].lower() in ("point", "and")):
                    break
                window.append(toks[k])
            parsed = _parse_words([t[0] for t in window])
            if parsed:
                value, used = parsed
                s, e = window[0][1], window[used - 1][2]
                out.append(NumberSpan(as_number(value), s, e, text[s:e]))
                i += used
                continue
        i += 1
    return out


def parse_number(text: str) -> float | None:
    """The number that ``text`` consists of, e.g. "thirty-six point eight" -> 36.8; else None."""
    found = find_numbers(text)
    if len(found) == 1 and not text[: found[0].start].strip() and not text[found[0].end :].strip():
        return found[0].value
    return None


def as_number(value: float) -> float:
    """Round away float noise (0.1 + 0.025) and keep integers integral."""
    value = round(value, 6)
    return float(int(value)) if value == int(value) else value
