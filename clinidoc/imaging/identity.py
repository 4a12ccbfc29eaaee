"""The patient identity printed on a page header: name, MRN, birth date, sex.

ECG carts and many labs print a bare line such as "Thomas Becker   MRN 40522316   DOB 05/30/1969
Sex M", with the name unlabelled in front. This reads such lines (OCR text, any box split) so the
patient-mismatch check can compare them with the encounter; labelled "Name: ..." fields are read
too. Only what is clearly there is returned: a wrong identity here raises a false alarm.
"""

from __future__ import annotations

import re

from clinidoc.imaging.loading import TextBox

_DATE = r"\d{1,2}[/.\-]\d{1,2}[/.\-]\d{4}|\d{4}-\d{2}-\d{2}|\d{1,2} [A-Za-z]{3,9} \d{4}|[A-Za-z]{3,9} \d{1,2}, \d{4}"
_MRN = re.compile(r"\b(?:MRN|MR#|MR\s*No\.?|Medical\s+record(?:\s+(?:number|no\.?))?|Patient\s+ID|PID)\s*[:#]?\s*"
                  r"([A-Z0-9][A-Z0-9\-]{3,})\b", re.IGNORECASE)
# OCR reads the O of DOB as a zero
_DOB = re.compile(rf"\b(?:D[O0]B|D\.[O0]\.B\.?|Date\s+of\s+birth|Birth\s*date|Born)\s*[:#]?\s*({_DATE})", re.IGNORECASE)
_SEX = re.compile(r"\b(?:Sex|Gender)\s*[:#]?\s*(Male|Female|M|F)\b", re.IGNORECASE)
_NOT_NAME = r"(?!(?:MRN|MR#|MR|DOB|D0B|Sex|Gender|ID|PID|Age|Born|Date)\b)"
_NAME_LABELLED = re.compile(
    rf"\b(?:Patient\s+name|Patient|Name)\s*[:#]\s*({_NOT_NAME}[A-Za-z][A-Za-z'\-]+(?:,?\s+{_NOT_NAME}[A-Za-z][A-Za-z'.\-]*){{0,3}})")
# an unlabelled name: two to four capitalised words (or "FAMILY, Given") right before the MRN
_NAME_BEFORE_MRN = re.compile(r"^\s*([A-Z][A-Za-z'\-]+(?:,?\s+[A-Z][A-Za-z'.\-]*){1,3})\s+(?=(?:MRN|MR#|Patient\s+ID)\b)")


def lines(boxes: list[TextBox]) -> list[str]:
    """OCR boxes joined into text lines, top to bottom (boxes overlapping in height are one line)."""
    rows: list[list[TextBox]] = []
    for b in sorted(boxes, key=lambda b: (b.y0 + b.y1) / 2):
        mid = (b.y0 + b.y1) / 2
        if rows and abs(mid - sum((r.y0 + r.y1) / 2 for r in rows[-1]) / len(rows[-1])) < 0.5 * (b.y1 - b.y0):
            rows[-1].append(b)
        else:
            rows.append([b])
    return [" ".join(b.text for b in sorted(r, key=lambda b: b.x0)) for r in rows]


def printed_identity(text_lines: list[str]) -> dict:
    """{'name', 'mrn', 'birth_date' (ISO), 'birth_date_printed', 'sex'}: whichever are printed."""
    from clinidoc.imaging.labs import iso_date

    out: dict = {}
    for line in text_lines:
        line = re.sub(r"\s+", " ", line)
        if "mrn" not in out and (m := _MRN.search(line)):
            out["mrn"] = m[1]
        if "birth_date" not in out and (m := _DOB.search(line)):
            out["birth_date_printed"] = m[1]
            out["birth_date"] = iso_date(m[1]) or m[1]
        if "sex" not in out and (m := _SEX.search(line)):
            out["sex"] = m[1][0].upper()
        if "name" not in out and (m := _NAME_LABELLED.search(line) or _NAME_BEFORE_MRN.search(line)):
            out["name"] = m[1].strip()
    return out


def paper_header(path, strip_bbox: list[float] | None, page: int | None = None) -> dict:
    """Identity printed above the trace of a paper ECG (an image, or a PDF page): the band from
    the top of the page down to the strip (at most 30% of the page) is read with OCR."""
    from clinidoc.imaging import loading
    from clinidoc.imaging.labs import ocr_boxes

    # the first page alone when that is the one (most ECGs): a PDF's other pages are not rendered
    if (page or 1) == 1:
        im = loading.load_image(path)
    else:
        pages = loading.load_pages(path)
        if len(pages) < page:
            return {}
        im = pages[page - 1]
    limit = max(60, int(0.3 * im.height))
    bottom = int(min(strip_bbox[1], limit)) if strip_bbox else limit
    if bottom < 12:
        return {}
    return printed_identity(lines(ocr_boxes(im.crop((0, 0, im.width, bottom)))))
