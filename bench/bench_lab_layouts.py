"""Lab report reading on layouts that are NOT the dev set's: a generator draws ~14 pages in 11
layouts (other column orders and header words, flags as codes / words / arrows / asterisks /
absent, comma decimals, '<0.01' values, sections inside the table, zebra rows, inverted
headers, comments and footers, scan effects, a multi-page raster PDF and a PDF with a real text
layer), with the expected rows known by construction, then reads them back.

A row is right only when test (as printed, case-insensitive), value, unit (as printed) and flag
code all match; a missing flag counts as N (as the contract's scorer does). Rows read that match
no expected row are counted as extra.

    python bench/bench_lab_layouts.py [--out DIR] [--only NAME[,NAME]] [-v]

Deterministic: fixed seeds, fixed fonts (DejaVu). Seconds are wall time per page.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")


def font(name: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(FONT_DIR / f"{name}.ttf"), size)


# ---------------------------------------------------------------- rows by construction


@dataclass
class Row:
    test: str
    value: str  # as printed: "5.9", "5,9", "<0.01", ">60"
    unit: str  # as printed, "" for none
    rng: str  # as printed, "" for none
    flag: str  # H, L, HH, LL or N: the truth

    def expected(self) -> tuple:
        v = self.value
        value: float | str = v if v[0] in "<>" else float(v.replace(",", "."))
        return (self.test, value, self.unit or None, self.flag)


def _num(s: str) -> float:
    return float(s.replace(",", "."))


def range_flag(value: str, rng: str) -> str:
    """Independent check of the truth: what the printed range says about the printed value."""
    r = rng.replace(" ", "").replace("–", "-")
    m = re.fullmatch(r"([\d.,]+)-([\d.,]+)", r)
    lo = hi = None
    if m:
        lo, hi = _num(m[1]), _num(m[2])
    elif (m := re.fullmatch(r"(<=|<|≤)([\d.,]+)", r)):
        hi = _num(m[2])
    elif (m := re.fullmatch(r"(>=|>|≥)([\d.,]+)", r)):
        lo = _num(m[2])
    else:
        return "N"
    op = value[0] if value[0] in "<>" else ""
    v = _num(value.lstrip("<>"))
    if op == ">":
        return "H" if hi is not None and v >= hi else "N"
    if op == "<":
        return "L" if lo is not None and v <= lo else "N"
    if lo is not None and v < lo:
        return "L"
    if hi is not None and v > hi:
        return "H"
    return "N"


def check_rows(rows: list[Row], allow_critical: bool = True) -> None:
    for r in rows:
        base = range_flag(r.value, r.rng)
        want = r.flag[0] if r.flag in ("HH", "LL") else r.flag
        assert base == want, (r, base)
        assert allow_critical or r.flag not in ("HH", "LL"), r


def flag_text(style: str, flag: str) -> str:
    if flag == "N":
        return ""
    if style == "code":
        return flag
    if style == "word":
        return {"H": "High", "L": "Low", "HH": "Critical High", "LL": "Critical Low"}[flag]
    if style == "upper_word":  # criticals printed without a direction: the range tells it
        return {"H": "HIGH", "L": "LOW", "HH": "CRITICAL", "LL": "CRITICAL"}[flag]
    if style == "arrow":
        return {"H": "↑", "L": "↓", "HH": "↑↑", "LL": "↓↓"}[flag]
    if style == "asterisk":
        return "*"
    if style == "paren":
        return f"({flag})"
    return ""


# ---------------------------------------------------------------- drawing


@dataclass
class Col:
    key: str  # test, result, unit, range, flag
    header: str
    x: int
    width: int
    align: str = "left"


@dataclass
class Layout:
    name: str
    cols: list[Col]
    rows: list[Row | str]  # a str is a section heading inside the table
    flag_style: str  # code, word, upper_word, arrow, asterisk, none, paren
    flag_in_result: bool = False  # flag printed after the value in the result cell
    unit_in_result: bool = False  # "139 mmol/L" in the result cell, no units column
    extra_cells: dict = field(default_factory=dict)  # col key -> one text per Row (columns that are not results)
    size: tuple[int, int] = (1275, 1650)
    body_font: str = "DejaVuSans"
    bold_font: str = "DejaVuSans-Bold"
    font_px: int = 22
    row_h: int = 40
    title: str = "Laboratory Report"
    patient: list[str] = field(default_factory=list)  # lines of the patient block
    zebra: bool = False
    grid: bool = False
    inverted_header: bool = False
    header_rule: bool = True
    two_line_header: dict = field(default_factory=dict)  # col key -> second header line
    footer: list[str] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)
    table_y: int = 0
    scan: dict = field(default_factory=dict)  # rotate, blur, noise, grey, jpeg
    fmt: str = "png"
    seed: int = 0

    def truth(self) -> list[tuple]:
        return [r.expected() for r in self.rows if isinstance(r, Row)]


def draw_page(lay: Layout, rows: list[Row | str], page_no: int = 1, pages: int = 1, header: bool = True) -> Image.Image:
    W, H = lay.size
    im = Image.new("RGB", (W, H), "white")
    d = ImageDraw.Draw(im)
    f = font(lay.body_font, lay.font_px)
    fb = font(lay.bold_font, lay.font_px)
    ft = font(lay.bold_font, int(lay.font_px * 1.6))
    fs = font(lay.body_font, int(lay.font_px * 0.8))
    left = min(c.x for c in lay.cols)
    right = max(c.x + c.width for c in lay.cols)
    d.text((left, 50), lay.title, font=ft, fill="black")
    y = 50 + int(lay.font_px * 2.4)
    for line in lay.patient:
        d.text((left, y), line, font=f, fill="black")
        y += int(lay.font_px * 1.5)
    y = max(y + 30, lay.table_y)
    if page_no > 1:
        d.text((left, y), "(continued)", font=fs, fill="black")
        y += int(lay.font_px * 2)
    top = y
    pad = 8

    def cell(col: Col, text: str, yy: int, fnt, fill="black") -> None:
        if not text:
            return
        w = d.textlength(text, font=fnt)
        x = col.x + pad if col.align == "left" else col.x + col.width - pad - w
        d.text((x, yy + (lay.row_h - lay.font_px) // 2 - 2), text, font=fnt, fill=fill)

    if header:
        hh = lay.row_h * (2 if lay.two_line_header else 1)
        if lay.inverted_header:
            d.rectangle([left, y, right, y + hh], fill=(40, 40, 40))
        for c in lay.cols:
            fill = "white" if lay.inverted_header else "black"
            cell(c, c.header, y, fb, fill)
            if c.key in lay.two_line_header:
                cell(c, lay.two_line_header[c.key], y + lay.row_h - 6, fb, fill)
        y += hh
        if lay.header_rule and not lay.inverted_header:
            d.line([left, y, right, y], fill="black", width=2)
    i = 0
    data_rows = [r for r in lay.rows if isinstance(r, Row)]
    for r in rows:
        if isinstance(r, str):
            d.text((left + pad, y + (lay.row_h - lay.font_px) // 2), r, font=fb, fill="black")
            y += lay.row_h
            if lay.grid:
                d.line([left, y, right, y], fill=(120, 120, 120), width=1)
            continue
        if lay.zebra and i % 2 == 1:
            d.rectangle([left, y, right, y + lay.row_h], fill=(228, 232, 238))
        ft_ = flag_text(lay.flag_style, r.flag)
        value = r.value
        if lay.unit_in_result and r.unit:
            value = f"{value} {r.unit}"
        if lay.flag_in_result and ft_:
            value = f"{value}{ft_}" if lay.flag_style == "asterisk" else f"{value} {ft_}"
        abnormal = r.flag != "N"
        texts = {"test": r.test, "result": value, "unit": r.unit, "range": r.rng, "flag": "" if lay.flag_in_result else ft_}
        for k, cells in lay.extra_cells.items():
            texts[k] = cells[data_rows.index(r)]
        for c in lay.cols:
            cell(c, texts[c.key], y, fb if (abnormal and c.key in ("result", "flag")) else f)
        y += lay.row_h
        if lay.grid:
            d.line([left, y, right, y], fill=(120, 120, 120), width=1)
        i += 1
    if lay.grid:
        d.rectangle([left, top, right, y], outline=(120, 120, 120), width=1)
        for c in lay.cols[1:]:
            d.line([c.x, top, c.x, y], fill=(120, 120, 120), width=1)
    y += int(lay.font_px * 1.4)
    if page_no == pages:
        for line in lay.comments:
            d.text((left, y), line, font=f, fill="black")
            y += int(lay.font_px * 1.4)
    for k, line in enumerate(lay.footer + [f"Page {page_no} of {pages}"]):
        d.text((left, H - 60 - 28 * (len(lay.footer) - k)), line, font=fs, fill=(60, 60, 60))
    return im


def scan(im: Image.Image, opts: dict, seed: int) -> Image.Image:
    if not opts:
        return im
    rnd = np.random.default_rng(seed)
    grey = opts.get("grey", 0)
    if opts.get("rotate"):
        im = im.rotate(opts["rotate"], resample=Image.Resampling.BICUBIC, expand=True, fillcolor=(255, 255, 255))
    if opts.get("scale"):
        im = im.resize((int(im.width * opts["scale"]), int(im.height * opts["scale"])), Image.Resampling.LANCZOS)
    if opts.get("blur"):
        im = im.filter(ImageFilter.GaussianBlur(opts["blur"]))
    arr = np.asarray(im).astype(np.float32)
    if grey:
        arr = arr * (1 - grey / 255) + 0  # darker paper
    if opts.get("noise"):
        arr = arr + rnd.normal(0, opts["noise"], arr.shape[:2])[..., None]
    im = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))
    return im


def save(im_pages: list[Image.Image], path: Path, fmt: str, quality: int = 85) -> None:
    if fmt == "jpg":
        im_pages[0].save(path, quality=quality)
    elif fmt == "pdf":
        im_pages[0].save(path, save_all=True, append_images=im_pages[1:], resolution=150)
    else:
        im_pages[0].save(path)


# ---------------------------------------------------------------- the layouts


def layouts() -> list[Layout]:
    L: list[Layout] = []

    # 1. Analyte | Flag | Result | Units | Ref. interval; zebra rows, right-aligned results, codes
    rows = [
        Row("WBC", "13.8", "x10^9/L", "4.0-11.0", "H"),
        Row("RBC", "3.92", "x10^12/L", "4.20-5.40", "L"),
        Row("Hemoglobin", "98", "g/L", "120-155", "L"),
        Row("Hematocrit", "0.31", "L/L", "0.36-0.46", "L"),
        Row("MCV", "79", "fL", "80-100", "L"),
        Row("MCH", "25.0", "pg", "27.0-33.0", "L"),
        Row("MCHC", "316", "g/L", "320-360", "L"),
        Row("RDW", "16.9", "%", "11.5-14.5", "H"),
        Row("Platelets", "41", "x10^9/L", "150-400", "LL"),
        Row("Neutrophils", "11.2", "x10^9/L", "2.0-7.5", "H"),
        Row("Lymphocytes", "1.4", "x10^9/L", "1.0-4.0", "N"),
        Row("Monocytes", "0.6", "x10^9/L", "0.2-0.8", "N"),
        Row("Eosinophils", "0.1", "x10^9/L", "0.0-0.4", "N"),
    ]
    L.append(Layout(
        "zebra_flag_second",
        [Col("test", "Analyte", 70, 330), Col("flag", "Flag", 400, 90), Col("result", "Result", 490, 150, "right"),
         Col("unit", "Units", 660, 190), Col("range", "Ref. interval", 850, 300)],
        rows, "code", body_font="DejaVuSansCondensed", bold_font="DejaVuSansCondensed-Bold", zebra=True,
        title="EASTGATE HOSPITAL - HAEMATOLOGY",
        patient=["Patient: HOLLOWAY, Brian K        Hosp No: E4471902", "D.O.B.: 22/11/1956    Sex: M    Ward: 4B"],
        footer=["Authorised by: J. Marsh, Biomedical Scientist"],
    ))

    # 2. Investigation | Observed Value | Unit | Biological Ref. Interval | Status (words); sections; scan
    rows = [
        "HAEMATOLOGY",
        Row("Haemoglobin", "10.1", "g/dL", "13.0-17.0", "L"),
        Row("Total Leucocyte Count", "9.6", "10^3/uL", "4.0-10.0", "N"),
        Row("Platelet Count", "182", "10^3/uL", "150-410", "N"),
        "BIOCHEMISTRY",
        Row("Sodium", "124", "mEq/L", "136-145", "LL"),
        Row("Potassium", "5.8", "mEq/L", "3.5-5.1", "H"),
        Row("Chloride", "95", "mEq/L", "98-107", "L"),
        Row("Urea", "64", "mg/dL", "17-43", "H"),
        Row("Creatinine", "2.31", "mg/dL", "0.67-1.17", "H"),
        Row("Uric Acid", "6.2", "mg/dL", "3.5-7.2", "N"),
        Row("Calcium", "8.9", "mg/dL", "8.6-10.3", "N"),
        Row("Glucose Fasting", "412", "mg/dL", "70-100", "HH"),
    ]
    L.append(Layout(
        "words_sections_scan",
        [Col("test", "Investigation", 60, 380), Col("result", "Observed Value", 440, 210), Col("unit", "Unit", 650, 150),
         Col("range", "Biological Ref. Interval", 800, 300), Col("flag", "Status", 1100, 150)],
        rows, "word", body_font="DejaVuSerif", bold_font="DejaVuSerif-Bold", font_px=21,
        title="Sunrise Diagnostics Pvt Ltd",
        patient=["Name : Mr. RAJESH KUMAR          Age/Sex : 61 Y / M", "Patient ID : SD-220931     DOB : 05-Jun-1964"],
        scan={"rotate": 1.3, "blur": 0.9, "noise": 9, "grey": 18}, fmt="jpg", seed=2,
    ))

    # 3. Component | Value (arrow after it) | Normal Range | Units -- range before units; mono; grid
    rows = [
        Row("ALT", "88", "U/L", "7-56", "H"),
        Row("AST", "102", "U/L", "10-40", "H"),
        Row("Alkaline Phosphatase", "131", "U/L", "44-147", "N"),
        Row("Total Bilirubin", "3.4", "mg/dL", "0.1-1.2", "H"),
        Row("Albumin", "2.9", "g/dL", "3.5-5.0", "L"),
        Row("Total Protein", "6.1", "g/dL", "6.0-8.3", "N"),
        Row("GGT", "210", "U/L", "9-48", "H"),
        Row("Lipase", "38", "U/L", "13-60", "N"),
        Row("Ammonia", "41", "umol/L", "11-32", "H"),
        Row("INR", "1.9", "", "0.8-1.2", "H"),
        Row("Potassium", "2.6", "mmol/L", "3.5-5.1", "LL"),
    ]
    L.append(Layout(
        "arrows_grid_mono",
        [Col("test", "Component", 60, 420), Col("result", "Value", 480, 190), Col("range", "Normal Range", 670, 240),
         Col("unit", "Units", 910, 200)],
        rows, "arrow", flag_in_result=True, body_font="DejaVuSansMono", bold_font="DejaVuSansMono-Bold", font_px=21,
        grid=True, row_h=44, title="Hepatic Function Panel",
        patient=["PATIENT  GARCIA, LUIS        MRN# 5512309", "BORN  1962-07-30        COLLECTED 2026-03-12 06:10"],
    ))

    # 4. Parameter | Result | Unit | Reference range; comma decimals, µmol/L, no flag column at all
    rows = [
        Row("Natrium", "141", "mmol/L", "135 - 145", "N"),
        Row("Kalium", "5,6", "mmol/L", "3,5 - 5,1", "H"),
        Row("Kreatinin", "132", "µmol/L", "59 - 104", "H"),
        Row("Harnstoff", "9,8", "mmol/L", "2,8 - 7,2", "H"),
        Row("Glukose", "5,2", "mmol/L", "3,9 - 5,6", "N"),
        Row("CRP", "<5", "mg/L", "< 5", "N"),
        Row("Bilirubin", "14", "µmol/L", "5 - 21", "N"),
        Row("ALT", "0,62", "µkat/L", "0,17 - 0,85", "N"),
        Row("TSH", "0,21", "mIU/L", "0,27 - 4,20", "L"),
        Row("Ferritin", "12", "µg/L", "30 - 400", "L"),
        Row("HbA1c", "48", "mmol/mol", "20 - 42", "H"),
    ]
    L.append(Layout(
        "european_noflag_grey",
        [Col("test", "Parameter", 70, 360), Col("result", "Result", 430, 170), Col("unit", "Unit", 600, 200),
         Col("range", "Reference range", 800, 320)],
        rows, "none", title="Labor Dr. Weber & Kollegen",
        patient=["Patient: Müller, Anna    Geb.-Datum: 14.03.1961    Pat.-Nr.: 778812"],
        scan={"noise": 12, "grey": 25, "blur": 0.6}, seed=4,
    ))

    # 5. Test Name | Result (asterisk when abnormal) | Ref Range | Units; lipids and diabetes, inequalities
    rows = [
        Row("Cholesterol, Total", "246", "mg/dL", "< 200", "H"),
        Row("Triglycerides", "312", "mg/dL", "< 150", "H"),
        Row("HDL Cholesterol", "34", "mg/dL", ">= 40", "L"),
        Row("LDL Cholesterol (calc)", "150", "mg/dL", "< 100", "H"),
        Row("Non-HDL Cholesterol", "212", "mg/dL", "< 130", "H"),
        Row("Hemoglobin A1c", "7.9", "%", "4.0 - 5.6", "H"),
        Row("Glucose", "162", "mg/dL", "70 - 99", "H"),
        Row("eGFR", ">60", "mL/min/1.73m2", ">= 60", "N"),
        Row("Microalbumin/Creatinine", "18", "mg/g", "< 30", "N"),
        Row("TSH", "2.35", "uIU/mL", "0.45 - 4.50", "N"),
    ]
    L.append(Layout(
        "asterisk_inline_serif",
        [Col("test", "Test Name", 70, 430), Col("result", "Result", 500, 170), Col("range", "Ref Range", 670, 220),
         Col("unit", "Units", 890, 250)],
        rows, "asterisk", flag_in_result=True, body_font="DejaVuSerif", bold_font="DejaVuSerif-Bold",
        title="Quest Valley Reference Lab",
        patient=["Patient Name: Doe, Jane A.          Patient ID: 00998877",
                 "Date of Birth: March 12, 1958        Collected: 03/12/2026 08:15"],
        comments=["* Result outside the reference range.",
                  "Comment: Fasting status 12 hours. LDL calculated by Friedewald; triglycerides above 400 mg/dL invalidate it."],
    ))

    # 6. Test | Result | Flag | Units | Reference Range; inverted header; upper-case words, CRITICAL with no direction
    rows = [
        Row("Troponin I", "1.84", "ng/mL", "< 0.04", "HH"),
        Row("Troponin T", "<0.01", "ng/mL", "< 0.03", "N"),
        Row("BNP", "845", "pg/mL", "< 100", "H"),
        Row("NT-proBNP", "3120", "pg/mL", "< 300", "H"),
        Row("CK-MB", "18.2", "ng/mL", "0.0-6.3", "H"),
        Row("D-dimer", "0.42", "mg/L FEU", "< 0.50", "N"),
        Row("PT", "13.1", "sec", "11.0-13.5", "N"),
        Row("INR", "4.9", "", "0.9-1.1", "HH"),
        Row("aPTT", "41", "sec", "25-35", "H"),
        Row("Fibrinogen", "1.2", "g/L", "2.0-4.0", "L"),
        Row("CRP", "48.5", "mg/L", "0.0-5.0", "H"),
        Row("Procalcitonin", "0.08", "ng/mL", "< 0.10", "N"),
    ]
    L.append(Layout(
        "inverted_header_comments",
        [Col("test", "Test", 60, 330), Col("result", "Result", 390, 160), Col("flag", "Flag", 550, 170),
         Col("unit", "Units", 720, 180), Col("range", "Reference Range", 900, 300)],
        rows, "upper_word", inverted_header=True, header_rule=False,
        title="ST. MARY'S EMERGENCY LABORATORY",
        patient=["Name: Robert K. Hill     MRN: 60021457     DOB: 1949-11-03 (76 y)"],
        comments=["COMMENTS:",
                  "Critical troponin I and INR results phoned to Dr. Okafor at 04:52 and read back.",
                  "Troponin T was run on a second analyser for comparison; the result is below 0.01 ng/mL.",
                  "Specimen: serum 2 tubes, citrate 1 tube. Received 04:20, verified 04:49."],
        footer=["CLIA 22D0099123   Laboratory Director: M. Ortiz, MD"],
    ))

    # 7. Test | Result | Reference Range | Units | Flag as "(H)", "(LL)"; two-line header; fax-like scan
    rows = [
        Row("Sodium", "147", "mmol/L", "135-145", "H"),
        Row("Potassium", "3.3", "mmol/L", "3.5-5.1", "L"),
        Row("Chloride", "110", "mmol/L", "98-107", "H"),
        Row("Bicarbonate", "17", "mmol/L", "22-29", "L"),
        Row("Anion Gap", "20", "mmol/L", "8-16", "H"),
        Row("BUN", "31", "mg/dL", "7-20", "H"),
        Row("Creatinine", "1.6", "mg/dL", "0.7-1.3", "H"),
        Row("Glucose", "38", "mg/dL", "70-99", "LL"),
        Row("Magnesium", "1.5", "mg/dL", "1.7-2.2", "L"),
        Row("Phosphorus", "4.1", "mg/dL", "2.5-4.5", "N"),
        Row("Lactate", "4.8", "mmol/L", "0.5-2.2", "HH"),
    ]
    L.append(Layout(
        "two_line_header_fax",
        [Col("test", "Test", 60, 340), Col("result", "Result", 400, 160), Col("range", "Reference", 560, 240),
         Col("unit", "Units", 800, 180), Col("flag", "Abnormal", 980, 200)],
        rows, "paren", two_line_header={"range": "Range", "flag": "Flag"}, body_font="DejaVuSans",
        title="County General - Chemistry",
        patient=["Pt: NGUYEN, THI    MR#: 3340981", "DOB 07/04/1971   F   Loc: ICU-2"],
        footer=["(H)/(L) = outside reference range; (HH)/(LL) = critical value, called to caregiver."],
        scan={"rotate": -2.0, "scale": 0.8, "blur": 1.1, "noise": 14}, fmt="jpg", seed=7,
    ))

    # 8. No table header: one result per line with dotted leaders
    rows = [
        Row("Hemoglobin", "11.2", "g/dL", "12.0-15.5", "L"),
        Row("WBC", "7.4", "K/uL", "4.5-11.0", "N"),
        Row("Platelets", "455", "K/uL", "150-450", "H"),
        Row("Ferritin", "9", "ng/mL", "15-150", "L"),
        Row("Iron", "31", "ug/dL", "50-170", "L"),
        Row("Vitamin B12", "412", "pg/mL", "200-900", "N"),
        Row("Folate", "8.9", "ng/mL", "3.0-17.0", "N"),
        Row("TSH", "1.9", "mIU/L", "0.4-4.0", "N"),
        Row("Vitamin D", "18", "ng/mL", "30-100", "L"),
    ]
    L.append(Layout("no_header_lines", [Col("test", "", 70, 1100)], rows, "code",
                    title="Anemia work-up - outpatient",
                    patient=["Patient: Ann Lee     MRN: 3141     DOB: 02/29/1960"]))

    # 9. multi-page raster PDF: Test Description | Result | Reference Range | Units | Flag, header only on page 1
    rows = [
        "CHEMISTRY",
        Row("Sodium", "133", "mmol/L", "136-145", "L"),
        Row("Potassium", "4.6", "mmol/L", "3.5-5.1", "N"),
        Row("Chloride", "99", "mmol/L", "98-107", "N"),
        Row("CO2", "25", "mmol/L", "22-29", "N"),
        Row("BUN", "22", "mg/dL", "7-20", "H"),
        Row("Creatinine", "1.2", "mg/dL", "0.6-1.2", "N"),
        Row("Calcium", "10.9", "mg/dL", "8.6-10.3", "H"),
        Row("ALT", "24", "U/L", "7-56", "N"),
        Row("AST", "19", "U/L", "10-40", "N"),
        "LIPIDS",
        Row("Total Cholesterol", "188", "mg/dL", "<200", "N"),
        Row("LDL-C", "109", "mg/dL", "<100", "H"),
        Row("HDL-C", "52", "mg/dL", ">40", "N"),
        Row("Triglycerides", "135", "mg/dL", "<150", "N"),
        "ENDOCRINE",
        Row("TSH", "6.8", "uIU/mL", "0.45-4.50", "H"),
        Row("Free T4", "0.9", "ng/dL", "0.8-1.8", "N"),
        Row("HbA1c", "6.1", "%", "<5.7", "H"),
    ]
    L.append(Layout(
        "multipage_raster_pdf",
        [Col("test", "Test Description", 60, 380), Col("result", "Result", 440, 150), Col("range", "Reference Range", 590, 240),
         Col("unit", "Units", 830, 180), Col("flag", "Flag", 1010, 120)],
        rows, "code", font_px=22, row_h=44, title="Lakeside Medical Laboratory",
        patient=["Patient Name: PRESTON, Claire M      DOB: 1967-01-25", "Medical Record No.: LMC-0042187      Sex: F"],
        footer=["Results continue on the next page when printed over several pages."], fmt="pdf",
    ))

    # 10. text-layer PDF (reportlab): Component | Your Value | Flag | Standard Range | Units
    rows = [
        Row("Sodium", "138", "mEq/L", "135 - 145", "N"),
        Row("Potassium", "6.7", "mEq/L", "3.5 - 5.2", "HH"),
        Row("Creatinine", "3.82", "mg/dL", "0.57 - 1.00", "H"),
        Row("eGFR", "14", "mL/min/1.73m2", ">59", "L"),
        Row("Calcium", "7.9", "mg/dL", "8.7 - 10.2", "L"),
        Row("Phosphorus", "6.4", "mg/dL", "3.0 - 4.3", "H"),
        Row("Albumin", "3.6", "g/dL", "3.8 - 4.9", "L"),
        Row("Hemoglobin", "8.7", "g/dL", "11.1 - 15.9", "L"),
        Row("PTH, Intact", "412", "pg/mL", "15 - 65", "H"),
        Row("Magnesium", "2.3", "mg/dL", "1.6 - 2.3", "N"),
        Row("Bicarbonate", "16", "mEq/L", "20 - 29", "L"),
        Row("Uric Acid", "9.1", "mg/dL", "2.6 - 6.2", "H"),
    ]
    L.append(Layout(
        "text_layer_pdf",
        [Col("test", "Component", 50, 0), Col("result", "Your Value", 210, 0), Col("flag", "Flag", 290, 0),
         Col("range", "Standard Range", 370, 0), Col("unit", "Units", 480, 0)],
        rows, "word", title="Renal Function Panel",
        patient=["Patient: Maria Gonzalez", "MRN: 8812736", "DOB: 09/17/1954"], fmt="textpdf",
    ))

    # 11. A4, Examination | Result | Units | Ref. Range | H/L with codes; light grid + slight rotation, PNG
    rows = [
        Row("Hb", "142", "g/L", "130-170", "N"),
        Row("WCC", "3.1", "x10^9/L", "4.0-11.0", "L"),
        Row("Plt", "512", "x10^9/L", "150-400", "H"),
        Row("Neut", "0.4", "x10^9/L", "2.0-7.5", "LL"),
        Row("Na", "139", "mmol/L", "133-146", "N"),
        Row("K", "4.2", "mmol/L", "3.5-5.3", "N"),
        Row("Urea", "5.1", "mmol/L", "2.5-7.8", "N"),
        Row("Creat", "77", "umol/L", "59-104", "N"),
        Row("CRP", "212", "mg/L", "0-5", "H"),
        Row("Bili", "9", "umol/L", "0-21", "N"),
        Row("ALP", "66", "U/L", "30-130", "N"),
        Row("Mg", "0.62", "mmol/L", "0.70-1.00", "L"),
    ]
    L.append(Layout(
        "a4_abbrev_grid_tilt",
        [Col("test", "Examination", 70, 300), Col("result", "Result", 370, 160), Col("unit", "Units", 530, 190),
         Col("range", "Ref. Range", 720, 230), Col("flag", "H/L", 950, 110)],
        rows, "code", size=(1240, 1754), grid=True, body_font="DejaVuSansCondensed", bold_font="DejaVuSansCondensed-Bold",
        font_px=23, row_h=46, title="NHS Trust Pathology - Blood Sciences",
        patient=["Surname: OKONKWO   Forename: Chidi   NHS No: 943 476 5919", "DOB: 03-Feb-1988   Hospital No: RX1029384"],
        scan={"rotate": 0.6, "blur": 0.5}, seed=11,
    ))
    # 12. Test | Result (value and unit in one cell) | Previous | Flag | Reference Interval; no units column
    rows = [
        Row("Hemoglobin", "12.8", "g/dL", "13.5-17.5", "L"),
        Row("WBC", "5.9", "K/uL", "4.0-10.5", "N"),
        Row("Platelets", "138", "K/uL", "150-400", "L"),
        Row("Sodium", "139", "mmol/L", "136-145", "N"),
        Row("Potassium", "4.0", "mmol/L", "3.5-5.1", "N"),
        Row("Creatinine", "1.42", "mg/dL", "0.70-1.30", "H"),
        Row("Glucose", "131", "mg/dL", "70-99", "H"),
        Row("BNP", "96", "pg/mL", "0-100", "N"),
        Row("Troponin I, hs", "4", "ng/L", "0-34", "N"),
        Row("Ferritin", "22", "ng/mL", "24-336", "L"),
        Row("CRP", "0.6", "mg/dL", "0.0-0.9", "N"),
    ]
    prev = ["13.1", "6.4", "151", "140", "4.4", "1.35", "118", "", "", "19", "1.2"]
    L.append(Layout(
        "value_unit_cell_previous",
        [Col("test", "Test", 60, 330), Col("result", "Result", 390, 230), Col("prev", "Previous (02/14/26)", 620, 250),
         Col("flag", "Flag", 870, 90), Col("range", "Reference Interval", 960, 280)],
        rows, "code", unit_in_result=True, extra_cells={"prev": prev},
        body_font="DejaVuSerifCondensed", bold_font="DejaVuSerifCondensed-Bold", font_px=22, zebra=True,
        title="Harbor View Clinic Laboratory",
        patient=["PATIENT: WASHINGTON, DENISE R", "MRN: 0071-55-92   DOB: 8/3/1948   AGE: 77Y   SEX: F"],
    ))

    # 13. Analyte | Reference Range | Result | Unit | Interpretation; range first, words with CRITICAL; scanned JPEG
    rows = [
        Row("Hemoglobin A1c", "10.4", "%", "4.0-5.6", "H"),
        Row("Glucose, Fasting", "42", "mg/dL", "70-99", "LL"),
        Row("Cholesterol, Total", "162", "mg/dL", "<200", "N"),
        Row("LDL Cholesterol", "88", "mg/dL", "<100", "N"),
        Row("HDL Cholesterol", "29", "mg/dL", ">=40", "L"),
        Row("Triglycerides", "1140", "mg/dL", "<150", "HH"),
        Row("ALT (SGPT)", "61", "IU/L", "0-44", "H"),
        Row("AST (SGOT)", "35", "IU/L", "0-40", "N"),
        Row("TSH", "0.005", "uIU/mL", "0.450-4.500", "LL"),
        Row("Free T4", "3.9", "ng/dL", "0.82-1.77", "H"),
        Row("Vitamin B12", "1503", "pg/mL", "232-1245", "H"),
        Row("Folate", ">20.0", "ng/mL", ">3.0", "N"),
    ]
    L.append(Layout(
        "range_first_interpretation_scan",
        [Col("test", "Analyte", 60, 360), Col("range", "Reference Range", 420, 250), Col("result", "Result", 670, 160),
         Col("unit", "Unit", 830, 150), Col("flag", "Interpretation", 980, 240)],
        rows, "word", body_font="DejaVuSans", bold_font="DejaVuSans-Bold", font_px=21, header_rule=True,
        title="Metro Reference Laboratories",
        patient=["Patient: Thomas A. Becker    DOB: 1980-12-05    Acct: 4458120", "Specimen collected: 03/14/2026 07:02"],
        comments=["Interpretation: CRITICAL values were telephoned to the ordering provider and read back."],
        scan={"rotate": 0.9, "blur": 0.8, "noise": 8, "grey": 12}, fmt="jpg", seed=13,
    ))
    # -- written after the fixes to labs.py and run once as they came (a check on over-fitting)
    # F1. Investigation | Unit | Observed | Normal range | Abn: units before the result; grid; tilted JPEG
    rows = [
        Row("Serum Sodium", "131", "mmol/L", "135-145", "L"),
        Row("Serum Potassium", "6.9", "mmol/L", "3.5-5.0", "HH"),
        Row("Serum Creatinine", "186", "µmol/L", "62-115", "H"),
        Row("Blood Urea Nitrogen", "12.4", "mmol/L", "2.5-7.1", "H"),
        Row("Random Glucose", "7.1", "mmol/L", "3.9-7.8", "N"),
        Row("Total Bilirubin", "22", "µmol/L", "3-21", "H"),
        Row("Albumin", "31", "g/L", "35-50", "L"),
        Row("Amylase", "74", "U/L", "28-100", "N"),
        Row("Lactate", "1.1", "mmol/L", "0.5-2.2", "N"),
        Row("Procalcitonin", "2.7", "ng/mL", "0.00-0.50", "H"),
    ]
    L.append(Layout(
        "fresh_units_before_result",
        [Col("test", "Investigation", 60, 400), Col("unit", "Unit", 460, 170), Col("result", "Observed", 630, 170),
         Col("range", "Normal range", 800, 230), Col("flag", "Abn", 1030, 120)],
        rows, "code", body_font="DejaVuSerifCondensed", bold_font="DejaVuSerifCondensed-Bold", grid=True,
        title="Royal Infirmary - Clinical Biochemistry",
        patient=["Patient name: Fiona MacLeod   CHI: 1204567890", "Date of birth: 12 Apr 1959   Sex: Female"],
        scan={"rotate": -1.5, "blur": 0.7, "noise": 10}, fmt="jpg", seed=21,
    ))
    # F2. Tests | Results (flag after the value) | Units | Reference Interval; sections; raster PDF with noise
    rows = [
        "CHEMISTRY",
        Row("Glucose", "58", "mg/dL", "65-99", "L"),
        Row("BUN", "9", "mg/dL", "6-24", "N"),
        Row("Creatinine", "0.61", "mg/dL", "0.57-1.00", "N"),
        Row("eGFR", ">90", "mL/min/1.73m2", ">59", "N"),
        Row("Sodium", "121", "mmol/L", "134-144", "LL"),
        Row("Potassium", "3.1", "mmol/L", "3.5-5.2", "L"),
        "CARDIAC",
        Row("Troponin T, hs", "<6", "ng/L", "0-14", "N"),
        Row("NT-proBNP", "1890", "pg/mL", "0-125", "H"),
        Row("CK", "412", "U/L", "32-182", "H"),
        "INFLAMMATION",
        Row("hs-CRP", "11.3", "mg/L", "0.0-3.0", "H"),
        Row("ESR", "44", "mm/hr", "0-30", "H"),
    ]
    L.append(Layout(
        "fresh_flag_after_value_pdf",
        [Col("test", "Tests", 60, 380), Col("result", "Results", 440, 200), Col("unit", "Units", 640, 230),
         Col("range", "Reference Interval", 870, 300)],
        rows, "code", flag_in_result=True, body_font="DejaVuSansMono", bold_font="DejaVuSansMono-Bold", font_px=20,
        title="LabNorth Patient Report",
        patient=["Patient: KOWALSKI, PIOTR   DOB: 01/30/1975", "Patient ID: 300-442-118   Ordered by: Dr. S. Ahmed"],
        comments=["Reference intervals are for adults. Results flagged are outside the interval."],
        scan={"blur": 0.8, "noise": 9}, fmt="pdf1", seed=22,
    ))
    for lay in L:
        check_rows([r for r in lay.rows if isinstance(r, Row)], allow_critical=lay.flag_style not in ("none", "asterisk"))
    return L


def render(lay: Layout, out: Path) -> tuple[Path, int]:
    if lay.fmt == "textpdf":
        return render_text_pdf(lay, out), 1
    rows = lay.rows
    if lay.name == "no_header_lines":
        return render_lines(lay, out), 1
    if lay.fmt == "pdf1":
        pages = [scan(draw_page(lay, rows), lay.scan, lay.seed)]
        path = out / f"{lay.name}.pdf"
        save(pages, path, "pdf")
        return path, 1
    if lay.fmt == "pdf":
        split = 11
        pages = [draw_page(lay, rows[:split], 1, 2), draw_page(lay, rows[split:], 2, 2, header=False)]
    else:
        pages = [draw_page(lay, rows)]
    pages = [scan(p, lay.scan, lay.seed + i) for i, p in enumerate(pages)]
    path = out / f"{lay.name}.{'jpg' if lay.fmt == 'jpg' else lay.fmt}"
    save(pages, path, lay.fmt, quality=55 if lay.scan.get("noise") else 85)
    return path, len(pages)


def render_lines(lay: Layout, out: Path) -> Path:
    W, H = lay.size
    im = Image.new("RGB", (W, H), "white")
    d = ImageDraw.Draw(im)
    f = font("DejaVuSans", 24)
    d.text((70, 50), lay.title, font=font("DejaVuSans-Bold", 34), fill="black")
    d.text((70, 120), lay.patient[0], font=f, fill="black")
    d.text((70, 160), "Collected 03/03/2026 07:35   Reported 03/03/2026 11:02", font=f, fill="black")
    y = 240
    for r in lay.rows:
        assert isinstance(r, Row)
        left = f"{r.test} "
        right = f"{r.value} {flag_text('code', r.flag)} {r.unit} ({r.rng})".replace("  ", " ")
        d.text((70, y), left, font=f, fill="black")
        # dotted leaders to a fixed column
        x0 = 70 + d.textlength(left, font=f)
        d.text((x0, y), "." * int((420 - x0) / d.textlength(".", font=f)), font=f, fill="black")
        d.text((440, y), right, font=f, fill="black")
        y += 46
    d.text((70, y + 40), "Reviewed by: Dr. P. Singh. Iron deficiency pattern; repeat in 3 months.", font=f, fill="black")
    path = out / f"{lay.name}.png"
    im.save(path)
    return path


def render_text_pdf(lay: Layout, out: Path) -> Path:
    from reportlab.lib.pagesizes import letter
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont
    from reportlab.pdfgen import canvas

    pdfmetrics.registerFont(TTFont("DV", str(FONT_DIR / "DejaVuSans.ttf")))
    pdfmetrics.registerFont(TTFont("DVB", str(FONT_DIR / "DejaVuSans-Bold.ttf")))
    path = out / f"{lay.name}.pdf"
    c = canvas.Canvas(str(path), pagesize=letter, invariant=1)
    c.setFont("DVB", 14)
    c.drawString(50, 750, lay.title)
    c.setFont("DV", 9.5)
    c.drawString(50, 730, lay.patient[0])
    c.drawString(250, 730, lay.patient[1])
    c.drawString(400, 730, lay.patient[2])
    c.line(50, 722, 562, 722)
    y = 700
    c.setFont("DVB", 9.5)
    for col in lay.cols:
        c.drawString(col.x, y, col.header)
    c.line(50, y - 4, 562, y - 4)
    y -= 18
    for r in lay.rows:
        assert isinstance(r, Row)
        texts = {"test": r.test, "result": r.value, "unit": r.unit, "range": r.rng, "flag": flag_text(lay.flag_style, r.flag)}
        for col in lay.cols:
            c.setFont("DVB" if col.key in ("result", "flag") and r.flag != "N" else "DV", 9.5)
            if texts[col.key]:
                c.drawString(col.x, y, texts[col.key])
        y -= 16
    c.setFont("DV", 8)
    c.drawString(50, y - 20, "Flags: values outside the standard range are marked High or Low; Critical values were called.")
    c.drawString(50, 40, "Printed from the patient portal. Page 1 of 1")
    c.showPage()
    c.save()
    return path


# ---------------------------------------------------------------- scoring


def key(test, value, unit, flag) -> tuple:
    try:
        value = float(value)
    except (TypeError, ValueError):
        value = str(value)
    return (str(test).strip().lower(), value, unit or None, flag or "N")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=None, help="keep the rendered reports here")
    ap.add_argument("--only", default="", help="comma-separated layout names")
    ap.add_argument("-v", "--verbose", action="store_true", help="print each wrong, missing and extra row")
    args = ap.parse_args()
    from clinidoc.imaging.labs import read_lab_report

    out = args.out or Path(tempfile.mkdtemp(prefix="lab_layouts_"))
    out.mkdir(parents=True, exist_ok=True)
    lays = [lay for lay in layouts() if not args.only or lay.name in args.only.split(",")]
    read_lab_report(ROOT / "resources/demo/labs.png")  # models loaded outside the timings
    total = right = extra_total = pages_total = 0
    secs_total = 0.0
    print(f"{'layout':<34}{'file':<6}{'rows':>9}{'extra':>7}{'s/page':>8}")
    for lay in lays:
        path, npages = render(lay, out)
        started = time.perf_counter()
        report = read_lab_report(path)
        secs = time.perf_counter() - started
        got = [key(r.test, r.value, r.unit, r.flag) for r in report.rows]
        want = [key(*t) for t in lay.truth()]
        ok = sum(1 for w in want if w in got)
        extra = [g for g in got if g not in want]
        total += len(want)
        right += ok
        extra_total += len(extra)
        pages_total += npages
        secs_total += secs
        print(f"{lay.name:<34}{path.suffix[1:]:<6}{ok:>4}/{len(want):<4}{len(extra):>7}{secs / npages:>8.2f}")
        if args.verbose:
            by_test = {g[0]: g for g in got}
            for w in want:
                if w not in got:
                    print(f"    want {w}  got {by_test.get(w[0])}")
            for g in extra:
                if g[0] not in {w[0] for w in want}:
                    print(f"    extra {g}")
    print(f"rows exactly right: {right}/{total} = {right / max(total, 1):.1%}; extra rows: {extra_total}; "
          f"pages {pages_total}, seconds per page {secs_total / max(pages_total, 1):.2f} "
          f"(load {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores); files in {out}")


if __name__ == "__main__":
    main()
