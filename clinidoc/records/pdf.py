"""A printable note: sections, tables, a signature block and a provenance appendix (reportlab)."""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.enums import TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import KeepTogether, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from clinidoc.encounter import EncounterResult
from clinidoc.records.store import Signature, Store, StoreError

DEJAVU = Path("/usr/share/fonts/truetype/dejavu")
INK, MUTED, RULE, SHADE = colors.HexColor("#1a1a1a"), colors.HexColor("#5f6368"), colors.HexColor("#c4c7c5"), colors.HexColor("#eef1f4")
ALERT = colors.HexColor("#b3261e")


class ExportRefused(StoreError):
    """The note is not signed and a draft was not asked for."""


def _fonts() -> tuple[str, str, str]:
    """DejaVu (embedded, covers accents, µ, ≥) when the system has it, else the built-in Helvetica."""
    try:
        if "DejaVuSans" not in pdfmetrics.getRegisteredFontNames():
            for name in ("DejaVuSans", "DejaVuSans-Bold", "DejaVuSansMono"):
                pdfmetrics.registerFont(TTFont(name, str(DEJAVU / f"{name}.ttf")))
        return "DejaVuSans", "DejaVuSans-Bold", "DejaVuSansMono"
    except Exception:  # fonts missing or unreadable: a plain PDF beats no PDF
        return "Helvetica", "Helvetica-Bold", "Courier"


def _styles(regular: str, bold: str, mono: str) -> dict[str, ParagraphStyle]:
    base = ParagraphStyle("body", fontName=regular, fontSize=9.5, leading=13, textColor=INK)
    return {
        "body": base,
        "small": ParagraphStyle("small", parent=base, fontSize=8, leading=10.5, textColor=MUTED),
        "cell": ParagraphStyle("cell", parent=base, fontSize=8.5, leading=11),
        "hash": ParagraphStyle("hash", parent=base, fontName=mono, fontSize=6.2, leading=8.5),
        "label": ParagraphStyle("label", parent=base, fontSize=7.5, leading=9.5, textColor=MUTED),
        "value": ParagraphStyle("value", parent=base, fontName=bold, fontSize=10, leading=13),
        "title": ParagraphStyle("title", parent=base, fontName=bold, fontSize=16, leading=20),
        "right": ParagraphStyle("right", parent=base, fontSize=8.5, leading=11, alignment=TA_RIGHT, textColor=MUTED),
        "h2": ParagraphStyle("h2", parent=base, fontName=bold, fontSize=11, leading=14, spaceBefore=9, spaceAfter=3,
                             textColor=colors.HexColor("#0b3d5c")),
        "bold": ParagraphStyle("bold", parent=base, fontName=bold),
    }


def _p(text: object, style: ParagraphStyle) -> Paragraph:
    return Paragraph(escape(str(text)).replace("\n", "<br/>"), style)


def _num(v: float | str | None, unit: str | None = None) -> str:
    if v is None:
        return "—"
    s = f"{v:g}" if isinstance(v, float) else str(v)
    return f"{s} {unit}" if unit else s


def _table(rows: list[list], widths: list[float], st: dict, flag_col: int | None = None, hash_col: int | None = None) -> Table:
    data = [[_p(c, st["bold"] if i == 0 else st["hash"] if j == hash_col else st["cell"]) for j, c in enumerate(row)]
            for i, row in enumerate(rows)]
    t = Table(data, colWidths=widths, repeatRows=1, hAlign="LEFT")
    style = [
        ("BACKGROUND", (0, 0), (-1, 0), SHADE),
        ("LINEBELOW", (0, 0), (-1, 0), 0.6, RULE),
        ("LINEBELOW", (0, 1), (-1, -1), 0.25, RULE),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("TOPPADDING", (0, 0), (-1, -1), 2.5),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 2.5),
    ]
    if flag_col is not None:  # abnormal lab rows stand out on paper, in colour or not
        for i, row in enumerate(rows[1:], start=1):
            if row[flag_col] not in ("", "N"):
                style.append(("BACKGROUND", (0, i), (-1, i), colors.HexColor("#fdecea")))
    t.setStyle(TableStyle(style))
    return t


def _story(result: EncounterResult, sig: Signature | None, version: int, inputs: list[dict], overrides: list[dict],
           st: dict, width: float) -> list:
    note, pat = result.note, result.patient
    out: list = []
    title = "Clinical note" if sig else "Clinical note (draft)"
    out.append(Table(
        [[_p(title, st["title"]), _p(f"Encounter {result.encounter_id}\nVersion {version}", st["right"])]],
        colWidths=[width * 0.65, width * 0.35],
        style=[("VALIGN", (0, 0), (-1, -1), "BOTTOM"), ("LINEBELOW", (0, 0), (-1, 0), 1.2, INK),
               ("LEFTPADDING", (0, 0), (-1, -1), 0), ("RIGHTPADDING", (0, 0), (-1, -1), 0)]))
    if pat is not None:
        facts = [("Patient", pat.name), ("MRN", pat.mrn), ("Date of birth", pat.birth_date), ("Sex", pat.sex)]
        out.append(Table([[_p(k, st["label"]) for k, _ in facts], [_p(v or "—", st["value"]) for _, v in facts]],
                         colWidths=[width * 0.4, width * 0.2, width * 0.2, width * 0.2],
                         style=[("LEFTPADDING", (0, 0), (-1, -1), 0), ("TOPPADDING", (0, 0), (-1, 0), 6),
                                ("BOTTOMPADDING", (0, 0), (-1, -1), 1)]))
    allergies = [a.substance + (f" ({a.reaction})" if a.reaction else "") for a in note.allergies] or (pat.allergies if pat else [])
    out.append(_p(f"Allergies: {', '.join(allergies) if allergies else 'none recorded'}", st["body"]))

    for name, text in note.sections.items():
        out += [_p(name.replace("_", " ").capitalize(), st["h2"]), _p(text or "(nothing recorded)", st["body"])]

    v = note.vitals
    vit = [("BP", f"{v.systolic_bp:g}/{v.diastolic_bp:g} mmHg" if v.systolic_bp and v.diastolic_bp else None),
           ("Heart rate", _num(v.heart_rate, "/min") if v.heart_rate else None),
           ("Resp. rate", _num(v.respiratory_rate, "/min") if v.respiratory_rate else None),
           ("Temp", _num(v.temperature_c, "°C") if v.temperature_c else None),
           ("SpO₂", _num(v.spo2, "%") if v.spo2 else None),
           ("Weight", _num(v.weight_kg, "kg") if v.weight_kg else None)]
    vit = [(k, x) for k, x in vit if x]
    if vit:
        out += [_p("Vitals", st["h2"]), _table([[k for k, _ in vit], [x for _, x in vit]], [width / len(vit)] * len(vit), st)]

    if note.diagnoses:
        rows = [["ICD-10-CM", "Diagnosis"]] + [[d.icd10 or "—", d.text] for d in note.diagnoses]
        out += [_p("Diagnoses", st["h2"]), _table(rows, [width * 0.18, width * 0.82], st)]

    if note.medications:
        rows = [["Medication", "Dose", "Route", "Frequency", "Status"]] + [
            [m.name, _num(m.dose, m.unit) if m.dose is not None else "—", m.route or "—", m.frequency or "—", m.status or "—"]
            for m in note.medications]
        out += [_p("Medications", st["h2"]), _table(rows, [width * f for f in (0.34, 0.16, 0.12, 0.2, 0.18)], st)]

    if result.labs:
        rows = [["Test", "Value", "Unit", "Reference", "Flag"]] + [
            [l.test, _num(l.value), l.unit or "", f"{_num(l.reference_low)} – {_num(l.reference_high)}"
             if l.reference_low is not None or l.reference_high is not None else "", l.flag or ""]
            for l in result.labs]
        out += [_p("Laboratory results", st["h2"]), _table(rows, [width * f for f in (0.34, 0.14, 0.16, 0.24, 0.12)], st, flag_col=4)]

    if result.ecg:
        rows = [["Rhythm", "Rate", "PR", "QRS", "QT / QTc", "Source"]] + [
            [e.rhythm.replace("_", " "), _num(e.heart_rate_bpm, "bpm"), _num(e.pr_ms, "ms"), _num(e.qrs_ms, "ms"),
             f"{_num(e.qt_ms)} / {_num(e.qtc_ms, 'ms')}", Path(e.source.source).name]
            for e in result.ecg]
        out += [_p("ECG findings", st["h2"]), _table(rows, [width * f for f in (0.22, 0.12, 0.11, 0.11, 0.18, 0.26)], st)]

    if result.warnings:
        def resolution(w) -> str:
            o = next((o for o in overrides if o["code"] == w.code and o["field"] in (None, w.field)), None)
            return f"overridden by {o['author']}: {o['reason']}" if o else ("open" if w.severity == "error" else "")
        rows = [["Severity", "Check", "Message", "Resolution"]] + [
            [w.severity, w.code.replace("_", " "), w.message, resolution(w)] for w in result.warnings]
        out += [_p("Validation warnings", st["h2"]), _table(rows, [width * f for f in (0.12, 0.21, 0.4, 0.27)], st)]

    # signature block, kept on one page
    if sig:
        block = [
            _p("Signature", st["h2"]),
            _p(f"AI-assisted draft reviewed and signed by {sig.signer}.", st["bold"]),
            _table([["Signed by", "Signed at (UTC)", "Version"], [sig.signer, sig.signed_at, str(sig.version)]],
                   [width * 0.4, width * 0.4, width * 0.2], st),
            Spacer(1, 3),
            _p("Content SHA-256 (canonical JSON of the signed note)", st["small"]),
            _p(sig.content_sha256, ParagraphStyle("sighash", parent=st["hash"], fontSize=8.5, leading=11)),
        ]
    else:
        block = [_p("Signature", st["h2"]), _p("Not signed. This is an AI-assisted draft awaiting clinician review.", st["bold"])]
    out.append(KeepTogether(block))

    # provenance appendix
    prov = result.provenance
    out += [Spacer(1, 8), _p("Appendix: provenance", st["h2"]),
            _p(f"clinidoc {prov.clinidoc_version}; template {note.template}", st["small"])]
    if prov.models:
        rows = [["Role", "Model (backend)", "SHA-256"]] + [
            [m.role, m.name + (f" ({m.backend})" if m.backend else ""), m.sha256 or "—"] for m in prov.models]
        out.append(_table(rows, [width * f for f in (0.08, 0.36, 0.56)], st, hash_col=2))
    if inputs:
        rows = [["Input", "Bytes", "SHA-256"]] + [[i["name"], str(i["size"]), i["sha256"]] for i in inputs]
        out += [Spacer(1, 4), _table(rows, [width * f for f in (0.34, 0.1, 0.56)], st, hash_col=2)]
    return out


def render_pdf(result: EncounterResult, sig: Signature | None, version: int, inputs: list[dict], draft: bool,
               overrides: list[dict] | None = None) -> bytes:
    regular, bold, mono = _fonts()
    st = _styles(regular, bold, mono)
    buf = io.BytesIO()
    margin = 18 * mm
    doc = SimpleDocTemplate(
        buf, pagesize=A4, leftMargin=margin, rightMargin=margin, topMargin=16 * mm, bottomMargin=18 * mm,
        title=f"Clinical note {result.encounter_id} v{version}", author=sig.signer if sig else "clinidoc (draft)",
        subject="AI-assisted clinical note" + (f", content SHA-256 {sig.content_sha256}" if sig else ", unsigned draft"),
        creator="clinidoc", keywords=f"clinidoc, {result.encounter_id}, version {version}",
    )

    def decorate(canvas, d) -> None:
        canvas.saveState()
        canvas.setFont(regular, 7.5)
        canvas.setFillColor(MUTED)
        status = f"signed {sig.signed_at} by {sig.signer}" if sig else "UNSIGNED DRAFT"
        canvas.drawString(margin, 10 * mm, f"Encounter {result.encounter_id} v{version} · {status}")
        canvas.drawRightString(A4[0] - margin, 10 * mm, f"page {d.page}")
        if draft:
            canvas.setFont(bold, 110)
            canvas.setFillColor(ALERT, alpha=0.12)
            canvas.translate(A4[0] / 2, A4[1] / 2)
            canvas.rotate(45)
            canvas.drawCentredString(0, -35, "DRAFT")
        canvas.restoreState()

    frame_width = doc.width - 12  # the page frame keeps 6 pt padding on each side
    doc.build(_story(result, sig, version, inputs, overrides or [], st, frame_width), onFirstPage=decorate, onLaterPages=decorate)
    return buf.getvalue()


def export_pdf(store: Store, encounter_id: str, out_path: Path, draft: bool = False, version: int | None = None,
               actor: str = "clinidoc") -> Path:
    """Write the note as PDF. Unsigned notes only with draft=True (watermarked DRAFT). Audited as an export."""
    result = store.load_result(encounter_id, version)
    version = version or store.versions(encounter_id)[-1]
    sig = store.signature(encounter_id, version)
    if sig is None and not draft:
        raise ExportRefused(f"encounter {encounter_id} v{version} is not signed; sign it or export with --draft")
    data = render_pdf(result, sig, version, store.input_files(encounter_id), draft=draft or sig is None,
                      overrides=store.overrides(encounter_id, version))
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(f".{out_path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, out_path)
    store.record_export(encounter_id, version, "pdf", draft or sig is None, hashlib.sha256(data).hexdigest(),
                        str(out_path.resolve()), actor)
    return out_path

