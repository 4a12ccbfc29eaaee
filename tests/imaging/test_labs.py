"""Lab report reading: the dev reports (every printed row must come out exactly), synthetic
layouts with other column orders and value styles, a text-layer PDF, and the parsers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from clinidoc.imaging.labs import (
    clean_unit,
    iso_date,
    lab_code,
    parse_flag,
    parse_range,
    read_lab_report,
)

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
DEV = DATA / "encounters-dev"
CASES = sorted(p.name for p in DEV.glob("dev-*")) if DEV.exists() else []
needs_data = pytest.mark.skipif(not CASES, reason="shared dev data not present")


def _labs_file(case: str) -> Path:
    doc = json.loads((DEV / case / "case.json").read_text())
    return DEV / case / next(n for n in doc["inputs"]["images"] if n.startswith("labs"))


def _same_value(got, want) -> bool:
    return str(got) == want if isinstance(want, str) else isinstance(got, float) and got == pytest.approx(want)


@needs_data
@pytest.mark.parametrize("case", CASES)
def test_dev_report_rows_exact(case: str) -> None:
    doc = json.loads((DEV / case / "case.json").read_text())
    report = read_lab_report(_labs_file(case))
    got = {r.test: r for r in report.rows}
    assert len(report.rows) == len(doc["expected"]["labs"]), [r.test for r in report.rows]
    for want in doc["expected"]["labs"]:
        row = got.get(want["test"])
        assert row is not None, f"{want['test']} missing; got {list(got)}"
        assert _same_value(row.value, want["value"]), (want, row.value)
        assert row.unit == want["unit"], (want, row.unit)
        assert row.flag == want["flag"], (want, row.flag)
        assert row.source.source == _labs_file(case).name
        x0, y0, x1, y1 = row.source.bbox
        assert 0 <= x0 < x1 and 0 <= y0 < y1
        assert want["test"] in row.source.text
    patient = doc["patient"]
    assert report.patient["name"] == patient["name"]
    assert report.patient["mrn"] == patient["mrn"]
    assert report.patient["birth_date"] == patient["birth_date"]


@needs_data
def test_pdf_rows_carry_page_number_and_codes() -> None:
    report = read_lab_report(DEV / "dev-005" / "labs.pdf")
    assert report.pages == 1
    assert {r.source.page for r in report.rows} == {1}
    inr = next(r for r in report.rows if r.code == "inr")
    assert inr.unit is None and inr.flag == "HH" and inr.value == 6.8
    assert (inr.reference_low, inr.reference_high) == (0.9, 1.1)


# ---------------------------------------------------------------- synthetic layouts


def _render_table(header: list[str], rows: list[list[str]], widths: list[int], title: str) -> Image.Image:
    font = ImageFont.load_default(size=30)
    bold = ImageFont.load_default(size=34)
    im = Image.new("RGB", (1300, 300 + 60 * len(rows)), "white")
    d = ImageDraw.Draw(im)
    d.text((60, 40), title, font=bold, fill="black")
    d.text((60, 100), "Name: Jane Q Doe      MRN: 778812      DOB: 14.03.1961", font=font, fill="black")
    y = 190
    for cells in [header] + rows:
        x = 60
        for cell, w in zip(cells, widths):
            d.text((x, y), cell, font=font, fill="black")
            x += w
        y += 60
    return im


LAYOUT_A = (
    ["Analyte", "Value", "Reference range", "Units", "Flag"],
    [
        ["Kalium", "5,9", "3,5 - 5,1", "mmol/L", "High"],
        ["Troponin T", "<0.01", "< 0.03", "ng/mL", ""],
        ["Hgb", "6.1", "12.0-15.5", "g/dL", "Critical Low"],
        ["INR", "1.1", "0.9-1.2", "", ""],
        ["WBC", "12.4", "4.0-11.0", "10^9/L", "*"],
        ["Glucose", "250", "70 - 99", "mg/dL", "HH"],
        ["eGFR", ">90", ">60", "mL/min", ""],
    ],
    [270, 180, 300, 220, 200],
)
WANT_A = [
    ("Kalium", "potassium", 5.9, "mmol/L", "H"),
    ("Troponin T", "troponin", "<0.01", "ng/mL", "N"),
    ("Hgb", "hemoglobin", 6.1, "g/dL", "LL"),
    ("INR", "inr", 1.1, None, "N"),
    ("WBC", "wbc", 12.4, "10^9/L", "H"),
    ("Glucose", "glucose", 250.0, "mg/dL", "HH"),
    ("eGFR", "egfr", ">90", "mL/min", "N"),
]
# no flag column: flags printed after the value, one value without a range
LAYOUT_B = (
    ["Test", "Result", "Units", "Reference range"],
    [
        ["Sodium", "128 L", "mmol/L", "136-145"],
        ["Potassium", "5.9 H", "mmol/L", "3.5-5.1"],
        ["Creatinine", "0.8", "mg/dL", "0.6-1.2"],
        ["TSH", "4.2", "mIU/L", ""],
        ["HbA1c", "6.8", "%", "4.0 - 5.6"],
    ],
    [330, 250, 250, 300],
)
WANT_B = [
    ("Sodium", "sodium", 128.0, "mmol/L", "L"),
    ("Potassium", "potassium", 5.9, "mmol/L", "H"),
    ("Creatinine", "creatinine", 0.8, "mg/dL", "N"),
    ("TSH", "tsh", 4.2, "mIU/L", None),
    ("HbA1c", "hba1c", 6.8, "%", "H"),
]


def _check(rows, want) -> None:
    got = {r.test: r for r in rows}
    assert set(got) == {w[0] for w in want}, list(got)
    for test, code, value, unit, flag in want:
        r = got[test]
        assert (r.code, r.value, r.unit, r.flag) == (code, value, unit, flag), test


@pytest.mark.parametrize("layout,want", [(LAYOUT_A, WANT_A), (LAYOUT_B, WANT_B)], ids=["A", "B"])
def test_synthetic_layouts(tmp_path: Path, layout, want) -> None:
    path = tmp_path / "report.png"
    _render_table(*layout, title="Synthetic Lab").save(path)
    report = read_lab_report(path)
    _check(report.rows, want)
    assert report.patient["mrn"] == "778812"
    assert report.patient["birth_date"] == "1961-03-14"  # dotted dates are day first


# header phrases with words that name no column ("Your Value", "Biological Ref. Interval"), a
# column that is not read ("Previous"), flags as arrows and as "CRITICAL" without a direction
LAYOUT_C = (
    ["Investigation", "Your Value", "Previous", "Biological Ref. Interval", "Units", "Status"],
    [
        ["Sodium", "138", "141", "135-145", "mmol/L", ""],
        ["Potassium", "6.9", "4.4", "3.5-5.1", "mmol/L", "CRITICAL"],
        ["Glucose", "41", "88", "70-99", "mg/dL", "CRITICAL"],
        ["ALT", "88", "35", "7-56", "U/L", "↑"],
        ["Albumin", "2.9", "3.6", "3.5-5.0", "g/dL", "↓"],
    ],
    [260, 190, 150, 340, 170, 180],
)
WANT_C = [
    ("Sodium", "sodium", 138.0, "mmol/L", "N"),
    ("Potassium", "potassium", 6.9, "mmol/L", "HH"),
    ("Glucose", "glucose", 41.0, "mg/dL", "LL"),
    ("ALT", "alt", 88.0, "U/L", "H"),
    ("Albumin", "albumin", 2.9, "g/dL", "L"),
]


def test_header_phrases_unread_columns_arrows_and_bare_critical(tmp_path: Path) -> None:
    path = tmp_path / "report.png"
    _render_table(*LAYOUT_C, title="Synthetic Lab").save(path)
    _check(read_lab_report(path).rows, WANT_C)


def test_continuation_page_without_header_uses_previous_columns(tmp_path: Path) -> None:
    header, rows, widths = LAYOUT_A
    page1 = _render_table(header, rows[:4], widths, title="Synthetic Lab")
    page2 = _render_table(["(continued)"], rows[4:], widths, title="Synthetic Lab, page 2")
    path = tmp_path / "two_pages.pdf"
    page1.save(path, save_all=True, append_images=[page2], resolution=150)
    report = read_lab_report(path)
    assert report.pages == 2
    _check(report.rows, WANT_A)
    assert [r.source.page for r in report.rows] == [1] * 4 + [2] * 3


def test_scan_like_rotated_blurred_jpeg(tmp_path: Path) -> None:
    im = _render_table(*LAYOUT_A, title="Synthetic Lab")
    im = im.rotate(-2.0, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=(235, 235, 230))
    im = im.filter(ImageFilter.GaussianBlur(1.2))
    path = tmp_path / "scan.jpg"
    im.save(path, quality=60)
    _check(read_lab_report(path).rows, WANT_A)


def _text_pdf(lines: list[tuple[float, float, str]]) -> bytes:
    """A one-page PDF whose text is real text (Helvetica), positioned at (x, y) in points."""
    ops = "".join(f"BT /F1 11 Tf {x} {y} Td ({t}) Tj ET\n" for x, y, t in lines)
    objs = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R"
        " /Resources << /Font << /F1 5 0 R >> >> >>",
        f"<< /Length {len(ops)} >>\nstream\n{ops}endstream",
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out, offsets = "%PDF-1.4\n", []
    for i, body in enumerate(objs, start=1):
        offsets.append(len(out))
        out += f"{i} 0 obj\n{body}\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objs) + 1}\n0000000000 65535 f \n" + "".join(f"{o:010d} 00000 n \n" for o in offsets)
    out += f"trailer\n<< /Size {len(objs) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n"
    return out.encode("latin-1")


def test_pdf_text_layer_used_instead_of_ocr(tmp_path: Path) -> None:
    cols = [50, 200, 290, 380, 500]
    lines = [(50, 740, "Patient: John Smith"), (300, 740, "MRN: 5550123"), (50, 722, "DOB: 1970-02-28")]
    table = [
        ["Test", "Result", "Units", "Reference range", "Flag"],
        ["Sodium", "131", "mmol/L", "136-145", "L"],
        ["Creatinine", "2.4", "mg/dL", "0.7-1.3", "H"],
        ["Platelets", "250", "10^9/L", "150-400", ""],
    ]
    for r, cells in enumerate(table):
        lines += [(x, 680 - 20 * r, c) for x, c in zip(cols, cells) if c]
    path = tmp_path / "text.pdf"
    path.write_bytes(_text_pdf(lines))
    report = read_lab_report(path)
    assert report.ocr is False
    from clinidoc.imaging import classify

    assert classify(path).kind == "lab_report"
    _check(
        report.rows,
        [
            ("Sodium", "sodium", 131.0, "mmol/L", "L"),
            ("Creatinine", "creatinine", 2.4, "mg/dL", "H"),
            ("Platelets", "platelets", 250.0, "10^9/L", "N"),
        ],
    )
    assert all(r.source.page == 1 for r in report.rows)
    assert report.patient == {
        "name": "John Smith",
        "mrn": "5550123",
        "birth_date": "1970-02-28",
        "birth_date_printed": "1970-02-28",
    }


# ---------------------------------------------------------------- parsers


@pytest.mark.parametrize(
    "text,want",
    [
        ("H", "H"), ("L", "L"), ("HH", "HH"), ("LL", "LL"), ("High", "H"), ("low", "L"),
        ("Critical High", "HH"), ("CRITICAL LOW", "LL"), ("H*", "H"), ("*", "A"), ("", None),
        ("mmol/L", None), ("Abnormal", "A"), ("↑", "H"), ("↓", "L"), ("↑↑", "HH"), ("↓↓", "LL"), ("(LL)", "LL"),
        ("↑↓", None), ("CRITICAL", "A"),
    ],
)  # fmt: skip
def test_parse_flag(text: str, want) -> None:
    assert parse_flag(text) == want


@pytest.mark.parametrize(
    "text,want",
    [
        ("3.5-5.1", (3.5, 5.1)), ("3.5 - 5.1", (3.5, 5.1)), ("3,5–5,1", (3.5, 5.1)), ("< 200", (None, 200.0)),
        ("<16", (None, 16.0)), (">=60", (60.0, None)), ("> 40", (40.0, None)), ("up to 5", (None, 5.0)),
        ("", None), ("see note", None),
    ],
)  # fmt: skip
def test_parse_range(text: str, want) -> None:
    assert parse_range(text) == want


@pytest.mark.parametrize(
    "name,code",
    [("K", "potassium"), ("Kalium", "potassium"), ("Potassium", "potassium"), ("Na", "sodium"), ("Hgb", "hemoglobin"),
     ("White blood cells", "wbc"), ("Cr", "creatinine"), ("Troponin I, hs", "troponin"), ("A1c", "hba1c"),
     ("Potasslum", "potassium"), ("C02", "bicarbonate"), ("Platelots", "platelets"), ("Unobtainium", None)],
)  # fmt: skip
def test_lab_code(name: str, code) -> None:
    assert lab_code(name) == code


@pytest.mark.parametrize(
    "raw,want",
    [("mg/dl", "mg/dL"), ("mg/L.", "mg/L"), ("×10^3/uL", "x10^3/uL"), ("x103/uL", "x10^3/uL"), ("%", "%"),
     ("furlongs", "furlongs"), ("", None),
     # "u" and the micro sign are both printed: each is given back as it was (OCR's Greek mu is the micro sign)
     ("umol/L", "umol/L"), ("µmol/L", "µmol/L"), ("μmol/L", "µmol/L"), ("μkat/L", "µkat/L")],
)  # fmt: skip
def test_clean_unit(raw: str, want) -> None:
    assert clean_unit(raw) == want


def test_ocr_misreading_of_test_name_is_corrected_exact_kept() -> None:
    from clinidoc.imaging.labs import _clean_test

    assert _clean_test("Platelots") == "Platelets"
    assert _clean_test("Troponin I, hs") == "Troponin I, hs"
    assert _clean_test("HEMOGLOBIN") == "HEMOGLOBIN"


@pytest.mark.parametrize(
    "read,printed,code",
    [
        ("Pit", "Plt", "platelets"),  # l read as i in a short name; the case stays as printed
        ("HEMOGIOBIN", "HEMOGLOBIN", "hemoglobin"),
        # other tests and other spellings are not OCR slips: kept as printed
        ("Non-HDL Cholesterol", "Non-HDL Cholesterol", None),
        ("LDL Cholesterol (calc)", "LDL Cholesterol (calc)", "ldl"),
        ("Glukose", "Glukose", None),
        ("Troponin T, hs", "Troponin T, hs", "troponin"),
    ],
)
def test_test_names_only_lookalike_slips_are_respelled(read: str, printed: str, code) -> None:
    from clinidoc.imaging.labs import _clean_test

    assert _clean_test(read) == printed
    assert lab_code(read) == code


@pytest.mark.parametrize(
    "text,want",
    [("07/14/1951", "1951-07-14"), ("14/07/1951", "1951-07-14"), ("14.07.1951", "1951-07-14"),
     ("1951-07-14", "1951-07-14"), ("14-Jul-1951", "1951-07-14"), ("Jul 14, 1951", "1951-07-14"), ("soon", None)],
)  # fmt: skip
def test_iso_date(text: str, want) -> None:
    assert iso_date(text) == want


def test_report_without_table_header(tmp_path: Path) -> None:
    font = ImageFont.load_default(size=30)
    im = Image.new("RGB", (1200, 600), "white")
    d = ImageDraw.Draw(im)
    lines = [
        "Patient: Ann Lee   MRN: 3141   DOB: 02/29/1960",
        "Collected 03/03/2026 07:35 at Ward 4",
        "Sodium 139 mmol/L (136-145)",
        "Potassium 5.9 H mmol/L (3.5-5.1)",
        "Creatinine 2.1 mg/dL (0.7-1.3)",
        "INR 2.3",
    ]
    for i, line in enumerate(lines):
        d.text((60, 50 + 70 * i), line, font=font, fill="black")
    path = tmp_path / "plain.png"
    im.save(path)
    _check(
        read_lab_report(path).rows,
        [
            ("Sodium", "sodium", 139.0, "mmol/L", "N"),
            ("Potassium", "potassium", 5.9, "mmol/L", "H"),
            ("Creatinine", "creatinine", 2.1, "mg/dL", "H"),
            ("INR", "inr", 2.3, None, None),
        ],
    )
