"""Lab report (image or PDF) -> rows of LabResult, plus the patient header as printed.

Text comes from the PDF's own text layer when it has one, else from OCR (RapidOCR, PP-OCR
models shipped in its wheel). The table is rebuilt from box geometry: boxes are grouped into
rows by their (deskewed) vertical centre, and cells into columns by the positions of the header
words (Test / Result / Units / Reference range / Flag, in whatever order the lab prints them).
"""

from __future__ import annotations

import csv
import math
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path

from PIL import Image

from clinidoc import config
from clinidoc.encounter import Evidence, LabFlag, LabResult
from clinidoc.errors import InputError
from clinidoc.imaging.identity import printed_identity
from clinidoc.imaging.loading import TextBox, load_pages, pdf_text_boxes, sniff

# ---------------------------------------------------------------- OCR

_ENGINE = None
_ENGINE_LOCK = threading.Lock()


def _engine():
    """One RapidOCR engine per process, built on first use (loading the models takes a moment)."""
    global _ENGINE
    with _ENGINE_LOCK:
        if _ENGINE is None:
            from rapidocr import RapidOCR

            # Documents are upright: the 180-degree classifier only costs time and can flip text.
            # Detection on a page shrunk to 1280 px is as good for print and ~3x faster; the
            # recogniser still reads crops from the full-resolution page.
            _ENGINE = RapidOCR(
                params={
                    "Global.use_cls": False,
                    "Global.log_level": "error",  # "no text found" is an answer, not a warning
                    "Det.limit_type": "max",
                    "Det.limit_side_len": 1280,
                }
            )
        return _ENGINE


def ocr_model_files() -> list[Path]:
    """The OCR model files in use, for provenance (hash them if needed)."""
    import rapidocr

    return sorted((Path(rapidocr.__file__).parent / "models").glob("*.onnx"))


def ocr_boxes(im: Image.Image) -> list[TextBox]:
    """Text boxes of one page image, in its pixel coordinates."""
    result = _engine()(im.convert("RGB"))
    if result.boxes is None or result.txts is None:
        return []
    boxes = []
    for quad, text in zip(result.boxes, result.txts):
        text = str(text).strip()
        if not text:
            continue
        xs = [float(p[0]) for p in quad]
        ys = [float(p[1]) for p in quad]
        boxes.append(TextBox(text, min(xs), min(ys), max(xs), max(ys), tuple((float(p[0]), float(p[1])) for p in quad)))
    return boxes


# ---------------------------------------------------------------- vocabulary


@lru_cache(maxsize=1)
def _synonyms() -> dict[str, tuple[str, str]]:
    """Normalised synonym -> (synonym as usually printed, canonical code)."""
    path = config.resource("lab_synonyms.csv")
    with path.open(encoding="utf-8") as fh:
        lines = [line for line in fh if not line.startswith("#")]
    return {_norm_name(row["synonym"]): (row["synonym"], row["code"]) for row in csv.DictReader(lines)}


def _norm_name(name: str) -> str:
    name = re.sub(r"[^a-z0-9+/\- ]", " ", name.lower())
    return re.sub(r"\s+", " ", name).strip()


# letters OCR takes for one another in short names ("Pit" for "Plt", "C02" for "CO2")
_OCR_CONFUSIONS = (("0", "o"), ("1", "l"), ("i", "l"), ("l", "i"), ("1", "i"), ("5", "s"))


def _lookup(test: str) -> tuple[str, str, bool] | None:
    """(printed synonym, code, exact?) for a test name, tolerating OCR slips in longer names."""
    from rapidfuzz import fuzz, process

    table = _synonyms()
    key = _norm_name(test)
    bare = _norm_name(re.sub(r"\s*\([^)]*\)\s*", " ", test))  # "Glucose (fasting)", "LDL (calc)"
    for candidate in (key, bare):
        if candidate in table:
            return (*table[candidate], True)
    # OCR confuses O/0, l/1/i in short names ("C02", "Pit"); try those readings as well
    letters = key.translate(str.maketrans("01", "ol"))
    if letters in table:
        return (*table[letters], False)
    if len(key) <= 6:
        for a, b in _OCR_CONFUSIONS:
            for i, ch in enumerate(key):
                if ch == a and (alt := key[:i] + b + key[i + 1 :]) in table:
                    return (*table[alt], False)
    if len(key) >= 5:  # short names are too ambiguous for fuzzy matching
        # an OCR slip changes a letter or two; a name that is longer or shorter by a word
        # ("Non-HDL cholesterol", "LDL cholesterol calc") is another test, not a misreading
        near = [name for name in table if abs(len(name) - len(key)) <= 2]
        for name, _, _ in process.extract(key, near, scorer=fuzz.ratio, score_cutoff=85, limit=3):
            if _looks_misread(key, name):
                return (*table[name], False)
    return None


# characters that print alike, so that OCR reads one for another; a name that differs from a
# known one in other letters ("Glukose" / "Glucose") is a spelling, kept as printed
_LOOKALIKE = [set("eoca"), set("il1j!|"), set("uvn"), set("0o"), set("5s"), set("bh"), set("gq9"), set("2z"),
              set("rnm")]  # fmt: skip


def _looks_misread(read: str, name: str) -> bool:
    from rapidfuzz.distance import Levenshtein

    for op, i, j in Levenshtein.editops(read, name):
        if op == "replace":
            a, b = read[i], name[j]
            if not any(a in group and b in group for group in _LOOKALIKE):
                return False
        else:  # a lost or extra character: OCR drops and adds thin marks, spaces and r/n of an m
            ch = read[i] if op == "delete" else name[j]
            if ch not in " -.,'il1rn":
                return False
    return True


def lab_code(test: str) -> str | None:
    """Canonical code of a test name as printed ('K', 'Kalium' -> 'potassium'), None if unknown."""
    hit = _lookup(test)
    return hit[1] if hit else None


def _clean_test(test: str) -> str:
    """The test name as printed; an OCR misreading of a known name ('Platelots', 'Pit') is
    spelled as that name, in the case it was printed in ('Platelets', 'Plt'); exact spellings
    (whatever their case) are kept."""
    hit = _lookup(test)
    return _respell(test, hit[0]) if hit and not hit[2] else test


def _respell(read: str, name: str) -> str:
    """`read` with the characters that differ from `name` replaced by name's, cased like the
    characters they replace (upper case throughout when everything read is upper case)."""
    from rapidfuzz.distance import Levenshtein

    upper = read.upper() == read and any(c.isalpha() for c in read)
    out = []
    for tag, i0, i1, j0, j1 in Levenshtein.opcodes(read.lower(), name.lower()):
        if tag == "equal":
            out.append(read[i0:i1])
            continue
        for k, ch in enumerate(name[j0:j1]):
            like = read[i0 + k] if i0 + k < i1 else ""
            up = like.isupper() if like.isalpha() else upper
            out.append(ch.upper() if up else ch.lower())
    return "".join(out)


_UNITS = (
    "mmol/L", "mg/dL", "g/dL", "g/L", "mg/L", "U/L", "IU/L", "mIU/L", "mU/L", "uIU/mL", "mIU/mL", "ng/mL", "ng/L",
    "pg/mL", "ng/dL", "pmol/L", "nmol/L", "umol/L", "µmol/L", "mEq/L", "x10^3/uL", "x10^6/uL", "x10^9/L",
    "x10^12/L", "10^3/uL", "10^6/uL", "10^9/L", "10^12/L", "%", "fL", "pg", "sec", "s", "mm/hr", "mm/h",
    "mL/min/1.73m2", "mg/g", "mOsm/kg", "g/24h", "K/uL", "M/uL", "cells/uL",
)  # fmt: skip


def _unit_key(unit: str) -> str:
    # "u" and "µ" stay apart: a unit is given back as printed, and both spellings are printed
    u = unit.lower().translate(str.maketrans({"×": "x", "°": "^", "~": "^", "μ": "µ", " ": None}))
    return u.rstrip(".,;:").replace("^", "")


_UNIT_BY_KEY = {_unit_key(u): u for u in _UNITS}


def clean_unit(unit: str) -> str | None:
    """A unit as printed, with OCR noise (case, '×', stray '.', lost '^') mapped back to the
    usual spelling when it is a common lab unit."""
    unit = unit.strip().replace("μ", "µ")  # OCR gives the Greek letter for the micro sign
    if not unit:
        return None
    return _UNIT_BY_KEY.get(_unit_key(unit), unit.rstrip(".,;:") or None)


_UNIT_RE = re.compile(
    r"(mmol/l|mg/dl|g/dl|g/l|mg/l|u/l|iu/l|miu/l|ng/ml|ng/l|pg/ml|ng/dl|umol/l|µmol/l|meq/l|x10\^|10\^\d+/|/ul|/l\b|fl\b|%)",
    re.I,
)


def looks_like_lab_text(lines: list[str]) -> bool:
    """Enough lab vocabulary (units, test names, result/reference headers) to call it a lab report."""
    text = " ".join(lines)
    units = len(_UNIT_RE.findall(text))
    tests = sum(1 for line in lines for word in re.split(r"\s{2,}|\t", line) if _lookup(word) is not None)
    headers = len(re.findall(r"\b(result|reference|units?|flag|range|interval)\b", text, re.I))
    return units >= 3 or (tests >= 3 and headers >= 1) or (units >= 1 and tests >= 2 and headers >= 2)


# ---------------------------------------------------------------- value parsing

_NUM = r"[-+]?\d+(?:[.,]\d+)?"
_OP = r"<=|>=|≤|≥|<|>"
_VALUE_RE = re.compile(rf"^\s*(?P<op>{_OP})?\s*(?P<num>{_NUM})(?![\d.,/])\s*(?P<rest>.*)$")
_FLAG_WORDS = {
    "H": "H", "HI": "H", "HIGH": "H", "L": "L", "LO": "L", "LOW": "L",
    "HH": "HH", "LL": "LL", "N": "N", "NORMAL": "N", "A": "A", "ABN": "A", "ABNORMAL": "A",
}  # fmt: skip


def parse_number(text: str) -> float | None:
    text = text.strip()
    if not re.fullmatch(_NUM, text):
        return None
    # a comma is a decimal separator in "5,9"; in "1,240" it groups thousands
    if "," in text:
        text = text.replace(",", "") if re.fullmatch(r"[-+]?\d{1,3},\d{3}", text) else text.replace(",", ".")
    return float(text)


_CRITICAL_WORDS = ("CRITICAL", "CRIT", "PANIC", "C", "ALERT")
_ARROWS = {"↑": "H", "↓": "L", "▲": "H", "▼": "L", "⇧": "H", "⇩": "L"}


def _is_critical(text: str) -> bool:
    words = re.sub(r"[^A-Za-z]", " ", text).upper().split()
    return "!" in text or any(w in _CRITICAL_WORDS for w in words)


def parse_flag(text: str) -> LabFlag | None:
    """'H', 'HH', 'Critical High', 'Low', '*', 'H*', '↑', '↓↓', '(H)' ... -> a LabFlag; None when
    blank or not a flag. A bare 'Critical' or '*' says only 'abnormal' ('A'): the range gives
    the direction."""
    raw = text.strip()
    if not raw:
        return None
    arrows = [_ARROWS[ch] for ch in raw if ch in _ARROWS]
    if arrows and not re.search(r"[A-Za-z0-9]", raw.replace("(", "").replace(")", "")):
        if len(set(arrows)) > 1:
            return None
        return (arrows[0] * 2 if len(arrows) > 1 else arrows[0])  # type: ignore[return-value]
    words = re.sub(r"[^A-Za-z]", " ", raw).upper().split()
    critical = _is_critical(raw)
    words = [w for w in words if w not in _CRITICAL_WORDS]
    if not words:
        return "A" if ("*" in raw or critical) else None
    if len(words) > 1 or words[0] not in _FLAG_WORDS:
        return None
    flag = _FLAG_WORDS[words[0]]
    if critical and flag in ("H", "L"):
        flag = flag * 2
    return flag  # type: ignore[return-value]


def parse_range(text: str) -> tuple[float | None, float | None] | None:
    """'3.5-5.1', '3.5 - 5.1', '3,5–5,1', '<200', '>= 60', 'up to 5' -> (low, high); None if no range."""
    t = text.strip().replace("–", "-").replace("—", "-")
    t = re.sub(rf"({_NUM})\s+to\s+({_NUM})", r"\1-\2", t)
    m = re.search(rf"({_NUM})\s*-\s*({_NUM})", t)
    if m:
        return parse_number(m[1]), parse_number(m[2].lstrip("+"))
    m = re.search(rf"({_OP}|up to)\s*({_NUM})", t, re.I)
    if m:
        bound = parse_number(m[2])
        return (None, bound) if m[1] in ("<", "<=", "≤") or m[1].lower() == "up to" else (bound, None)
    return None


def _flag_from_range(value: float | str, low: float | None, high: float | None) -> LabFlag | None:
    m = _VALUE_RE.match(str(value))
    if not m or (low is None and high is None):
        return None
    num, op = parse_number(m["num"]), m["op"] or ""
    if num is None:
        return None
    if op.startswith(">") or op == "≥":  # the true value is above num
        return "H" if high is not None and num >= high else "N"
    if op.startswith("<") or op == "≤":
        return "L" if low is not None and num <= low else "N"
    if low is not None and num < low:
        return "L"
    if high is not None and num > high:
        return "H"
    return "N"


# ---------------------------------------------------------------- layout

_HEADER_WORDS = {
    "test": ("test", "tests", "analyte", "parameter", "investigation", "component", "examination", "determination"),
    "result": ("result", "results", "value", "observed"),
    "unit": ("unit", "units"),
    "range": ("reference", "range", "interval", "normal", "ref", "ref."),
    "flag": ("flag", "flags", "abn", "abnormal", "status", "h/l", "indicator", "interpretation"),
}


@dataclass
class _Word:
    text: str
    x0: float
    x1: float
    box: TextBox  # the box it came from (original page coordinates)


@dataclass
class _Row:
    y: float
    height: float
    boxes: list[TextBox] = field(default_factory=list)
    words: list[_Word] = field(default_factory=list)

    @property
    def text(self) -> str:
        return " ".join(w.text for w in self.words)


def _skew(boxes: list[TextBox]) -> float:
    """Page rotation (radians) from the top edges of long OCR boxes; 0 for axis-aligned boxes."""
    angles = []
    for b in boxes:
        if b.quad and b.x1 - b.x0 > 3 * max(b.height, 1):
            (ax, ay), (bx, by) = b.quad[0], b.quad[1]
            if bx > ax:
                angles.append(math.atan2(by - ay, bx - ax))
    if len(angles) < 3:
        return 0.0
    angles.sort()
    return angles[len(angles) // 2]


def _deskewed(b: TextBox, angle: float) -> TextBox:
    """Box with its corners rotated by -angle: rows of a tilted scan become horizontal."""
    if angle == 0.0 or not b.quad:
        return b
    c, s = math.cos(angle), math.sin(angle)
    pts = [(x * c + y * s, -x * s + y * c) for x, y in b.quad]
    xs, ys = [p[0] for p in pts], [p[1] for p in pts]
    return TextBox(b.text, min(xs), min(ys), max(xs), max(ys), b.quad)


def _rows(boxes: list[TextBox]) -> list[_Row]:
    angle = _skew(boxes)
    pairs = sorted(((_deskewed(b, angle), b) for b in boxes), key=lambda p: p[0].cy)
    heights = sorted(d.height for d, _ in pairs)
    line_h = heights[len(heights) // 2] if heights else 10.0
    rows: list[_Row] = []
    for d, orig in pairs:
        if rows and abs(d.cy - rows[-1].y) < 0.5 * line_h:
            row = rows[-1]
            row.y = (row.y * len(row.boxes) + d.cy) / (len(row.boxes) + 1)
        else:
            row = _Row(y=d.cy, height=line_h)
            rows.append(row)
        row.boxes.append(orig)
        # split a box into words, placing each by its share of characters: OCR sometimes
        # merges neighbouring cells ("5.9 H") into one box
        n = max(len(d.text), 1)
        for m in re.finditer(r"\S+", d.text):
            x0 = d.x0 + (d.x1 - d.x0) * m.start() / n
            x1 = d.x0 + (d.x1 - d.x0) * m.end() / n
            row.words.append(_Word(m.group(), x0, x1, orig))
    for row in rows:
        row.words.sort(key=lambda w: w.x0)
    return rows


def _header_names(row: _Row) -> list[str | None]:
    """The column each word of a header row names. A word that names none ("Your", "Biological",
    "Standard") belongs to the header phrase it is printed in: the known word next to it in the
    same box, else one a word space away (under half a line height; columns are further apart),
    so "Biological Ref. Interval" spans the whole phrase and cells printed under its first word
    land in that column."""
    names: list[str | None] = []
    for w in row.words:
        token = w.text.lower().strip(":")
        name = next((k for k, words in _HEADER_WORDS.items() if token in words), None)
        if name is None and token in ("name", "description") and "test" not in names:
            name = "test"
        names.append(name)
    known = list(names)
    for i, w in enumerate(row.words):
        if known[i] is not None or not re.search(r"[A-Za-z]", w.text):
            continue
        best, best_gap = None, 0.5 * row.height
        for j in (i - 1, i + 1):
            if 0 <= j < len(row.words) and known[j] is not None:
                other = row.words[j]
                gap = other.x0 - w.x1 if j > i else w.x0 - other.x1
                if other.box is w.box:
                    gap = min(gap, 0.0)  # one OCR box: one phrase
                if gap < best_gap:
                    best, best_gap = known[j], gap
        names[i] = best
    return names


def _header_columns(row: _Row) -> dict[str, tuple[float, float]] | None:
    """Column name -> x span, when this row is a table header (>= 3 known columns incl. result)."""
    cols: dict[str, tuple[float, float]] = {}
    others: list[list[float]] = []  # headers of columns that hold no part of a result
    last, last_box = None, None
    for w, name in zip(row.words, _header_names(row)):
        if name is None:
            if last == "_other" and (w.box is last_box or w.x0 - others[-1][1] < 0.5 * row.height):
                others[-1][1] = w.x1  # "Previous (02/14/26)"
            else:
                others.append([w.x0, w.x1])
            last, last_box = "_other", w.box
            continue
        if name in cols:
            if name == last:  # a two-word header ("Reference range") widens one column
                x0, x1 = cols[name]
                cols[name] = (min(x0, w.x0), max(x1, w.x1))
        else:
            cols[name] = (w.x0, w.x1)
        last = name
    if "result" in cols and len(cols) >= 3 and len(row.words) <= 2 * len(cols) + 2:
        # a column the header names but we do not read ("Previous", "Method") still takes its
        # cells, so that they are not pushed into the result or range next to it
        for i, (x0, x1) in enumerate(others):
            cols[f"_other{i}"] = (x0, x1)
        return cols
    return None


def _assign(words: list[_Word], cols: dict[str, tuple[float, float]], line_h: float) -> dict[str, list[_Word]]:
    """Words to columns: the header span holding the word's centre, else the last column that
    starts left of the word (left-aligned cells wider than their header)."""
    order = sorted(cols.items(), key=lambda kv: kv[1][0])
    cells: dict[str, list[_Word]] = {name: [] for name in cols}
    for w in words:
        cx = (w.x0 + w.x1) / 2
        name = next((n for n, (x0, x1) in order if x0 - 0.2 * line_h <= cx <= x1 + 0.2 * line_h), None)
        if name is None:
            left = [n for n, (x0, _) in order if x0 <= w.x0 + 0.6 * line_h]
            name = left[-1] if left else order[0][0]
        cells[name].append(w)
    return cells


def _fix_ocr_digits(text: str) -> str:
    """'1O.9' -> '10.9', 'l2' -> '12': only inside tokens that are otherwise numeric."""
    if re.fullmatch(r"[<>]?[\dOoIl.,]+", text) and re.search(r"\d", text):
        return text.translate(str.maketrans({"O": "0", "o": "0", "I": "1", "l": "1"}))
    return text


def _parse_row(row: _Row, cols: dict[str, tuple[float, float]], source: str, page: int | None) -> LabResult | None:
    cells = _assign(row.words, cols, row.height)
    text = {k: " ".join(w.text for w in v).strip() for k, v in cells.items()}
    boxes = list({id(w.box): w.box for ws in cells.values() for w in ws}.values())
    return _parse_cells(text, _Row(row.y, row.height, boxes, row.words), cols, source, page)


def _parse_cells(
    text: dict[str, str], row: _Row, cols: dict[str, tuple[float, float]], source: str, page: int | None
) -> LabResult | None:
    test = _clean_test(re.sub(r"^[\W_]+|[\s:.]+$", "", text.get("test", "")))
    result = " ".join(_fix_ocr_digits(t) for t in text.get("result", "").split())
    if not test or not re.search(r"[A-Za-z]", test) or not result:
        return None
    m = _VALUE_RE.match(result.replace("*", " ").strip())
    flag_text = text.get("flag", "")
    for key in ("range", "unit"):  # a flag printed close to its neighbour can land in that cell
        words = text.get(key, "").split()
        for n in (2, 1):  # "Critical High", "H"
            if flag_text or len(words) <= n:
                continue
            tail = " ".join(words[-n:])
            if parse_flag(tail) in ("H", "L", "HH", "LL"):
                text[key], flag_text = " ".join(words[:-n]), tail
    unit = clean_unit(text.get("unit", ""))
    value: float | str
    if m:
        num = parse_number(m["num"])
        if num is None:
            return None
        value = f"{m['op']}{m['num']}" if m["op"] else num
        rest = m["rest"].strip()
        if "*" in result:
            rest = (rest + " *").strip()
        if rest:
            if parse_flag(rest) is not None:
                flag_text = f"{flag_text} {rest}".strip()
            elif "unit" not in cols and re.fullmatch(r"\S+", rest):
                unit = clean_unit(rest)
            else:
                return None
    elif lab_code(test) is not None and re.fullmatch(r"[A-Za-z][A-Za-z ]{1,24}", result):
        value = result  # qualitative result ("Negative", "Not detected")
    else:
        return None
    rng = parse_range(text.get("range", "")) if text.get("range") else None
    low, high = rng if rng else (None, None)
    flag = parse_flag(flag_text)
    if flag is None or flag == "A":
        flag = _flag_from_range(value, low, high) if flag is None else (_flag_from_range(value, low, high) or "A")
        if flag == "N" and parse_flag(flag_text) == "A":
            flag = "A"  # the lab marked it abnormal although the number is inside the range
        elif flag in ("H", "L") and _is_critical(flag_text):
            flag = flag * 2  # "CRITICAL" without a direction: the range says which side
    boxes = row.boxes
    bbox = [
        round(min(b.x0 for b in boxes), 1),
        round(min(b.y0 for b in boxes), 1),
        round(max(b.x1 for b in boxes), 1),
        round(max(b.y1 for b in boxes), 1),
    ]
    return LabResult(
        test=test,
        code=lab_code(test),
        value=value,
        unit=unit,
        reference_low=low,
        reference_high=high,
        flag=flag,
        source=Evidence(source=source, bbox=bbox, page=page, text=row.text),
    )


_LINE_RE = re.compile(
    rf"^(?P<test>[A-Za-z][A-Za-z0-9 ,()'/+\-.]*?)\s*:?\s+(?P<result>(?:{_OP})?\s*{_NUM})"
    rf"(?:\s+(?P<flag1>HH|LL|H|L|High|Low))?(?:\s+(?P<unit>[^\s\d(<>][^\s]*|10\^\S+))?"
    rf"(?:\s+\(?(?P<range>(?:{_OP})?\s*{_NUM}(?:\s*[-–]\s*{_NUM})?)\)?)?(?:\s+(?P<flag2>HH|LL|H|L|High|Low|\*))?$"
)


def _free_rows(rows: list[_Row], source: str, page: int | None) -> list[LabResult]:
    """Pages without a recognisable header: 'Sodium 139 mmol/L (136-145) H' style lines,
    accepted only for known test names so that addresses and dates are not taken for results."""
    out = []
    for row in rows:
        m = _LINE_RE.match(row.text)
        if not m or lab_code(m["test"]) is None:
            continue
        words = [_Word(t, 0, 0, b) for t, b in ((w.text, w.box) for w in row.words)]
        fake = _Row(row.y, row.height, row.boxes, words)
        cells = {"test": m["test"], "result": m["result"], "unit": m["unit"] or "", "range": m["range"] or "",
                 "flag": m["flag1"] or m["flag2"] or ""}  # fmt: skip
        parsed = _parse_cells(cells, fake, {k: (0.0, 0.0) for k in cells}, source, page)
        if parsed is not None:
            out.append(parsed)
    return out


def _table_rows(
    rows: list[_Row], source: str, page: int | None, carried: dict[str, tuple[float, float]] | None = None
) -> tuple[list[LabResult], dict[str, tuple[float, float]] | None]:
    """Rows of the tables on one page, and the columns of the last table that gave rows.
    `carried` are the columns of a table left open at the end of the previous page:
    a continuation page that does not repeat the header is read with them."""
    out: list[LabResult] = []
    cols = None
    last_y = None
    open_at_end = None
    headers = [_header_columns(r) for r in rows]
    if carried is not None and not any(headers):
        cols = carried
    for row, header in zip(rows, headers):
        if header is not None:
            cols, last_y = header, row.y
            continue
        if cols is None:
            continue
        if last_y is not None and row.y - last_y > 4 * row.height:
            cols = None  # a wide gap ends the table: footers are not results
            continue
        parsed = _parse_row(row, cols, source, page)
        if parsed is not None and cols is carried and parsed.code is None and parsed.reference_low is None \
                and parsed.reference_high is None:
            parsed = None  # without its header, a line of a continuation page must look like a result
        if parsed is not None:
            out.append(parsed)
            last_y = row.y
            open_at_end = cols
        elif len(row.words) <= 3 and last_y is not None:
            last_y = row.y  # a section title ("Lipids") keeps the table open
    if not out and not any(headers):
        out = _free_rows(rows, source, page)
    return out, open_at_end  # the page's footer closes the table on the page, not in the report


# ---------------------------------------------------------------- patient header

_LABELS = {
    "name": r"patient(?:\s+name)?|name|patient's name",
    "mrn": r"mrn|mr#|mr\s*no\.?|medical record(?:\s+(?:number|no\.?))?|patient\s+id|hospital\s+(?:number|no\.?)|id",
    "birth_date": r"dob|d\.o\.b\.?|date of birth|birth\s*date|born",
    "sex": r"sex|gender",
}
_LABEL_RE = {k: re.compile(rf"^(?:{v})\s*[:#]\s*(.*)$|^(?:{v})$", re.I) for k, v in _LABELS.items()}


def iso_date(text: str) -> str | None:
    """A printed date as ISO 'YYYY-MM-DD'; slashed dates are read month-first unless that is impossible."""
    t = text.strip().rstrip(".,")
    m = re.fullmatch(r"(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{4})", t)
    if m:
        a, b, y = int(m[1]), int(m[2]), int(m[3])
        # dots are the European day-first style; slashes US month-first unless a > 12
        month, day = (b, a) if ("." in t or a > 12) else (a, b)
        try:
            return date(y, month, day).isoformat()
        except ValueError:
            return None
    for fmt in ("%Y-%m-%d", "%Y/%m/%d", "%d-%b-%Y", "%d %b %Y", "%b %d, %Y", "%B %d, %Y", "%d %B %Y", "%Y%m%d"):
        try:
            return datetime.strptime(t, fmt).date().isoformat()
        except ValueError:
            continue
    return None


def _patient(rows: list[_Row]) -> dict:
    found: dict[str, str] = {}
    for row in rows:
        boxes = sorted(row.boxes, key=lambda b: b.x0)
        for i, b in enumerate(boxes):
            for key, rx in _LABEL_RE.items():
                if key in found:
                    continue
                m = rx.match(b.text.strip())
                if not m:
                    continue
                value = (m[1] or "").strip()
                if not value and i + 1 < len(boxes):
                    nxt = boxes[i + 1]
                    if not any(r.match(nxt.text.strip()) for r in _LABEL_RE.values()):
                        value = nxt.text.strip()
                if value:
                    found[key] = value
                break
    out: dict = {}
    if "name" in found:
        out["name"] = found["name"]
    if "mrn" in found:
        out["mrn"] = found["mrn"]
    if "birth_date" in found:
        out["birth_date_printed"] = found["birth_date"]
        out["birth_date"] = iso_date(found["birth_date"]) or found["birth_date"]
    if "sex" in found:
        out["sex"] = found["sex"]
    return out


# ---------------------------------------------------------------- public


@dataclass
class LabReport:
    file: str
    rows: list[LabResult]
    patient: dict  # name, mrn, birth_date (ISO when parseable), birth_date_printed, sex
    seconds: float
    pages: int = 1
    ocr: bool = True  # False when the PDF's own text layer was used


def _page_boxes(path: Path) -> tuple[list[list[TextBox]], bool]:
    if sniff(path) == "pdf":
        layers = pdf_text_boxes(path)
        if sum(len(p) for p in layers) >= 10:  # a real text layer, not a stray stamp on a scan
            return layers, False
    return [ocr_boxes(im) for im in load_pages(path)], True


def read_lab_report(path: str | Path) -> LabReport:
    """Rows of a lab report image or PDF. InputError when the file cannot be read."""
    started = time.perf_counter()
    path = Path(path)
    if not path.is_file():
        raise InputError("file not found", file=path.name)
    pages, used_ocr = _page_boxes(path)
    is_pdf = sniff(path) == "pdf"
    results: list[LabResult] = []
    patient: dict = {}
    carried = None
    for number, boxes in enumerate(pages, start=1):
        if not boxes:
            carried = None
            continue
        rows = _rows(boxes)
        page_rows, carried = _table_rows(rows, path.name, number if is_pdf else None, carried)
        results.extend(page_rows)
        if not patient:
            # labelled fields first; else a bare header line ("Jane Doe  MRN 123  DOB ...")
            patient = _patient(rows) or printed_identity(
                [" ".join(b.text for b in sorted(r.boxes, key=lambda b: b.x0)) for r in rows[:8]])
    return LabReport(
        file=path.name,
        rows=results,
        patient=patient,
        seconds=round(time.perf_counter() - started, 3),
        pages=len(pages),
        ocr=used_ocr,
    )
