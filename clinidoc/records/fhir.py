"""FHIR R4 export of a signed note: one document Bundle an EHR can import.

The Bundle (type ``document``) holds, in this order: the Composition (one section per note section,
with the structured entries referenced from the matching SOAP section), the Patient, the signer as a
Practitioner, a Condition per diagnosis (ICD-10-CM), a MedicationStatement per medication, Observations
for labs, vitals and ECG findings, an AllergyIntolerance per allergy and a DocumentReference carrying
the signed PDF (base64, with its SHA-1 ``hash`` as the spec asks).

Validation uses the ``fhir.resources`` models of FHIR R4B (4.3.0, ``fhir.resources.R4B``): version 8
ships R5 as its default and R4B, not R4, beside it. R4B changed none of the resources or elements used
here from R4 (4.0.1), so the document imports into an R4 server as it is.

Codes are only given where they are certain (LOINC for vitals and ECG intervals, SNOMED CT for four
routes, UCUM for units in a fixed table, HL7 code systems); everything else is carried as text.
All ids are name-based UUIDs of the encounter, version and content hash: exporting the same signed
version twice gives the same resource ids.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import uuid
from pathlib import Path
from xml.sax.saxutils import escape

from clinidoc.encounter import EcgFinding, EncounterResult, LabResult, Medication
from clinidoc.records.pdf import ExportRefused, render_pdf
from clinidoc.records.store import Signature, Store, StoreError

FHIR_VERSION = "R4B"  # the fhir.resources subpackage used for validation

ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
UCUM = "http://unitsofmeasure.org"
V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"
V3_INTERP = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
V3_GTS = "http://terminology.hl7.org/CodeSystem/v3-GTSAbbreviation"
OBS_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
COND_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
COND_CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"
ALLERGY_CLINICAL = "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical"
URI_SYSTEM = "urn:ietf:rfc:3986"
XHTML = "http://www.w3.org/1999/xhtml"

NOTE_TYPE = {"system": LOINC, "code": "11506-3", "display": "Progress note"}
_NS = uuid.UUID("6d3f0f6e-3c55-4f0b-9a1e-5b1f3c0e7a21")  # namespace of clinidoc's name-based ids


class FhirExportError(StoreError):
    """The bundle does not validate against the FHIR models (a bug, or a value FHIR cannot carry)."""


# --- code tables -----------------------------------------------------------------------------------

# unit as written -> UCUM code. Only unambiguous ones: "units" (enzyme U or IU?) and "tab" stay text.
_UCUM_DOSE = {
    "mg": "mg", "mcg": "ug", "ug": "ug", "µg": "ug", "μg": "ug", "g": "g", "kg": "kg", "ng": "ng",
    "ml": "mL", "l": "L", "mmol": "mmol", "meq": "meq", "iu": "[iU]",
}
_UCUM_LAB = {
    "mmol/l": "mmol/L", "umol/l": "umol/L", "µmol/l": "umol/L", "μmol/l": "umol/L", "nmol/l": "nmol/L",
    "pmol/l": "pmol/L", "mol/l": "mol/L", "mg/dl": "mg/dL", "g/dl": "g/dL", "g/l": "g/L", "mg/l": "mg/L",
    "ng/ml": "ng/mL", "pg/ml": "pg/mL", "ug/l": "ug/L", "µg/l": "ug/L", "ng/l": "ng/L", "meq/l": "meq/L",
    "u/l": "U/L", "iu/l": "[IU]/L", "%": "%", "fl": "fL", "pg": "pg", "mm/h": "mm/h", "mm/hr": "mm/h",
    "10^9/l": "10*9/L", "10*9/l": "10*9/L", "x10^9/l": "10*9/L", "10^12/l": "10*12/L", "10*12/l": "10*12/L",
    "x10^12/l": "10*12/L", "s": "s", "sec": "s", "mmhg": "mm[Hg]", "mosm/kg": "mosm/kg",
}
# SNOMED CT route codes (international edition) that are certain; other routes go as text only.
_ROUTES = {
    "po": ("26643006", "Oral route"), "oral": ("26643006", "Oral route"), "by mouth": ("26643006", "Oral route"),
    "iv": ("47625008", "Intravenous route"), "intravenous": ("47625008", "Intravenous route"),
    "sc": ("34206005", "Subcutaneous route"), "sq": ("34206005", "Subcutaneous route"),
    "subcut": ("34206005", "Subcutaneous route"), "subcutaneous": ("34206005", "Subcutaneous route"),
    "im": ("78421000", "Intramuscular route"), "intramuscular": ("78421000", "Intramuscular route"),
}
# v3 GTSAbbreviation codes with their repeat (frequency per period in units)
_TIMING = {
    "qd": (1, 1, "d"), "daily": (1, 1, "d"), "once daily": (1, 1, "d"), "od": (1, 1, "d"),
    "bid": (2, 1, "d"), "twice daily": (2, 1, "d"), "tid": (3, 1, "d"), "three times daily": (3, 1, "d"),
    "qid": (4, 1, "d"), "four times daily": (4, 1, "d"), "qod": (1, 2, "d"),
    "q4h": (1, 4, "h"), "q6h": (1, 6, "h"), "q8h": (1, 8, "h"),
}
_GTS_CODE = {"qd": "QD", "daily": "QD", "once daily": "QD", "od": "QD", "bid": "BID", "twice daily": "BID",
             "tid": "TID", "three times daily": "TID", "qid": "QID", "four times daily": "QID", "qod": "QOD",
             "q4h": "Q4H", "q6h": "Q6H", "q8h": "Q8H"}
_MED_STATUS = {"start": "active", "continue": "active", "change": "active", "stop": "stopped"}
_INTERP = {"H": "High", "L": "Low", "HH": "Critical high", "LL": "Critical low", "N": "Normal", "A": "Abnormal"}
_GENDER = {"m": "male", "male": "male", "f": "female", "female": "female", "o": "other", "other": "other",
           "u": "unknown", "unknown": "unknown"}
_LOINC_RE = re.compile(r"^\d{1,7}-\d$")
_DATE_RE = re.compile(r"^\d{4}(-(0[1-9]|1[0-2])(-(0[1-9]|[12]\d|3[01]))?)?$")
_ICD10CM_RE = re.compile(r"^[A-Z]\d[0-9A-Z](\.[0-9A-Z]{1,4})?$")

# which SOAP section the structured entries are listed under (when the note has it)
_SECTION_FOR = {"Condition": "assessment", "MedicationStatement": "plan", "AllergyIntolerance": "subjective",
                "Observation": "objective"}


# --- helpers ---------------------------------------------------------------------------------------

def _ref(full_url: str, display: str | None = None) -> dict:
    ref = {"reference": full_url}
    if display:
        ref["display"] = display
    return ref


def _cc(text: str | None = None, *codings: dict) -> dict:
    out: dict = {}
    if codings:
        out["coding"] = list(codings)
    if text:
        out["text"] = text
    return out


def _coding(system: str, code: str, display: str | None = None) -> dict:
    c = {"system": system, "code": code}
    if display:
        c["display"] = display
    return c


def _num(v: float) -> int | float:
    """Whole numbers as ints (FHIR decimals keep their precision as written: 25, not 25.0)."""
    return int(v) if float(v).is_integer() else float(v)


def _narrative(text: str) -> dict:
    body = "<br/>".join(escape(line) for line in (text or "(nothing recorded)").splitlines()) or "(nothing recorded)"
    return {"status": "generated", "div": f'<div xmlns="{XHTML}">{body}</div>'}


def _quantity(value: float, ucum: str | None, unit: str | None) -> dict:
    q: dict = {"value": _num(value)}
    if ucum:
        q.update(unit=unit or ucum, system=UCUM, code=ucum)
    return q


def _split_name(name: str) -> dict:
    out: dict = {"use": "official", "text": name}
    if "," in name:
        family, _, given = name.partition(",")
        if family.strip():
            out["family"] = family.strip()
        if given.split():
            out["given"] = given.split()
    else:
        parts = name.split()
        if len(parts) >= 2:
            out["family"], out["given"] = parts[-1], parts[:-1]
    return out


def ucum_dose_unit(unit: str | None) -> str | None:
    return _UCUM_DOSE.get(unit.strip().lower()) if unit else None


def ucum_lab_unit(unit: str | None) -> str | None:
    return _UCUM_LAB.get(unit.strip().lower().replace(" ", "")) if unit else None


def route_coding(route: str | None) -> dict | None:
    hit = _ROUTES.get(route.strip().lower()) if route else None
    return _coding(SNOMED, *hit) if hit else None


# --- resources -------------------------------------------------------------------------------------

class _Ids:
    """Name-based ids: the same signed version always gets the same fullUrls."""

    def __init__(self, seed: str):
        self.seed = seed

    def __call__(self, kind: str, n: int | str = 0) -> tuple[str, str]:
        u = str(uuid.uuid5(_NS, f"{self.seed}/{kind}/{n}"))
        return u, f"urn:uuid:{u}"


def _patient(result: EncounterResult, rid: str, mrn_system: str | None) -> dict:
    pat = result.patient
    res: dict = {"resourceType": "Patient", "id": rid}
    if pat is None:
        return res
    if pat.mrn:
        ident = {"use": "usual", "type": _cc("Medical record number", _coding(V2_0203, "MR", "Medical record number")),
                 "value": pat.mrn}
        if mrn_system:
            ident["system"] = mrn_system
        res["identifier"] = [ident]
    if pat.name and pat.name.strip():
        res["name"] = [_split_name(pat.name.strip())]
    if pat.sex and pat.sex.strip().lower() in _GENDER:
        res["gender"] = _GENDER[pat.sex.strip().lower()]
    if pat.birth_date and _DATE_RE.match(pat.birth_date.strip()):
        res["birthDate"] = pat.birth_date.strip()
    return res


def _medication(m: Medication, rid: str, subject: dict, when: str) -> dict:
    res: dict = {
        "resourceType": "MedicationStatement", "id": rid,
        "status": _MED_STATUS.get(m.status or "", "unknown"),
        "medicationCodeableConcept": _cc(m.name),
        "subject": subject, "dateAsserted": when,
    }
    if m.status == "change":
        res["note"] = [{"text": "Dose or regimen changed at this encounter."}]
    dose_text = (f"{_num(m.dose)} {m.unit}" if m.unit else f"{_num(m.dose)}") if m.dose is not None else None
    text = " ".join(x for x in (dose_text, m.route, m.frequency) if x)
    dosage: dict = {}
    if text:
        dosage["text"] = text
    if m.frequency and m.frequency.strip():
        key = m.frequency.strip().lower()
        timing: dict = {}
        if key in _GTS_CODE:
            timing["code"] = _cc(m.frequency.strip(), _coding(V3_GTS, _GTS_CODE[key]))
            freq, period, unit = _TIMING[key]
            timing["repeat"] = {"frequency": freq, "period": period, "periodUnit": unit}
        elif key == "prn":
            dosage["asNeededBoolean"] = True
        else:
            timing["code"] = _cc(m.frequency.strip())
        if timing:
            dosage["timing"] = timing
    if m.route and m.route.strip():
        coding = route_coding(m.route)
        dosage["route"] = _cc(m.route.strip(), coding) if coding else _cc(m.route.strip())
    if m.dose is not None:
        dosage["doseAndRate"] = [{"doseQuantity": _quantity(m.dose, ucum_dose_unit(m.unit), m.unit)
                                  if ucum_dose_unit(m.unit) else
                                  ({"value": _num(m.dose), "unit": m.unit} if m.unit else {"value": _num(m.dose)})}]
    if dosage:
        res["dosage"] = [dosage]
    return res


def _lab(lab: LabResult, rid: str, subject: dict, issued: str) -> dict:
    code = _cc(lab.test, _coding(LOINC, lab.code)) if lab.code and _LOINC_RE.match(lab.code) else _cc(lab.test)
    res: dict = {
        "resourceType": "Observation", "id": rid, "status": "final",
        "category": [_cc(None, _coding(OBS_CATEGORY, "laboratory", "Laboratory"))],
        "code": code, "subject": subject, "issued": issued,
    }
    ucum = ucum_lab_unit(lab.unit)
    numeric = isinstance(lab.value, (int, float)) and not isinstance(lab.value, bool)
    if numeric and (ucum or not lab.unit):
        res["valueQuantity"] = _quantity(lab.value, ucum, lab.unit)
    else:
        value = f"{_num(lab.value)}" if numeric else str(lab.value)
        res["valueString"] = f"{value} {lab.unit}" if lab.unit else value
    if lab.reference_low is not None or lab.reference_high is not None:
        rng: dict = {}
        if numeric and (ucum or not lab.unit):
            if lab.reference_low is not None:
                rng["low"] = _quantity(lab.reference_low, ucum, lab.unit)
            if lab.reference_high is not None:
                rng["high"] = _quantity(lab.reference_high, ucum, lab.unit)
        else:
            lo = "" if lab.reference_low is None else f"{_num(lab.reference_low)}"
            hi = "" if lab.reference_high is None else f"{_num(lab.reference_high)}"
            rng["text"] = f"{lo}–{hi}" + (f" {lab.unit}" if lab.unit else "")
        res["referenceRange"] = [rng]
    if lab.flag:
        res["interpretation"] = [_cc(None, _coding(V3_INTERP, lab.flag, _INTERP[lab.flag]))]
    return res


# (field, LOINC, display, UCUM)
_VITALS = [
    ("heart_rate", "8867-4", "Heart rate", "/min"),
    ("respiratory_rate", "9279-1", "Respiratory rate", "/min"),
    ("temperature_c", "8310-5", "Body temperature", "Cel"),
    ("spo2", "59408-5", "Oxygen saturation in Arterial blood by Pulse oximetry", "%"),
    ("weight_kg", "29463-7", "Body weight", "kg"),
]
_VITAL_CATEGORY = _cc(None, _coding(OBS_CATEGORY, "vital-signs", "Vital Signs"))


def _vitals(result: EncounterResult, ids: _Ids, subject: dict, issued: str) -> list[tuple[str, dict]]:
    v = result.note.vitals
    out = []
    if v.systolic_bp is not None or v.diastolic_bp is not None:
        comps = []
        for value, code, display in ((v.systolic_bp, "8480-6", "Systolic blood pressure"),
                                     (v.diastolic_bp, "8462-4", "Diastolic blood pressure")):
            if value is not None:
                comps.append({"code": _cc(display, _coding(LOINC, code, display)),
                              "valueQuantity": _quantity(value, "mm[Hg]", "mmHg")})
        rid, url = ids("vital", "bp")
        out.append((url, {
            "resourceType": "Observation", "id": rid, "status": "final", "category": [_VITAL_CATEGORY],
            "code": _cc("Blood pressure", _coding(LOINC, "85354-9", "Blood pressure panel with all children optional")),
            "subject": subject, "issued": issued, "component": comps,
        }))
    for field, code, display, unit in _VITALS:
        value = getattr(v, field)
        if value is None:
            continue
        codings = [_coding(LOINC, code, display)]
        if field == "spo2":  # the R4 vital-signs profile asks for 2708-6 beside the pulse-oximetry code
            codings.insert(0, _coding(LOINC, "2708-6", "Oxygen saturation in Arterial blood"))
        rid, url = ids("vital", field)
        out.append((url, {
            "resourceType": "Observation", "id": rid, "status": "final", "category": [_VITAL_CATEGORY],
            "code": _cc(display, *codings), "subject": subject, "issued": issued,
            "valueQuantity": _quantity(value, unit, {"Cel": "°C"}.get(unit, unit)),
        }))
    return out


_ECG_INTERVALS = [
    ("pr_ms", "8625-6", "P-R interval"), ("qrs_ms", "8633-0", "QRS duration"),
    ("qt_ms", "8634-8", "Q-T interval"), ("qtc_ms", "8636-3", "Q-T interval corrected"),
]


def _ecg(e: EcgFinding, rid: str, subject: dict, issued: str) -> dict:
    comps = [{"code": _cc("Rhythm"), "valueCodeableConcept": _cc(e.rhythm.replace("_", " "))}]
    if e.heart_rate_bpm is not None:
        comps.append({"code": _cc("Heart rate", _coding(LOINC, "8867-4", "Heart rate")),
                      "valueQuantity": _quantity(e.heart_rate_bpm, "/min", "/min")})
    for field, code, display in _ECG_INTERVALS:
        value = getattr(e, field)
        if value is not None:
            comps.append({"code": _cc(display, _coding(LOINC, code, display)),
                          "valueQuantity": _quantity(value, "ms", "ms")})
    res = {
        "resourceType": "Observation", "id": rid, "status": "final",
        "category": [_cc(None, _coding(OBS_CATEGORY, "procedure", "Procedure"))],
        "code": _cc("ECG", _coding(LOINC, "11524-6", "EKG study")),
        "subject": subject, "issued": issued, "component": comps,
    }
    if e.confidence is not None:
        res["note"] = [{"text": f"Automated reading, confidence {e.confidence:.2f}; reviewed with the signed note."}]
    return res


def build_bundle(result: EncounterResult, signature: Signature, pdf_bytes: bytes, *,
                 mrn_system: str | None = None) -> dict:
    """The FHIR document Bundle (JSON-ready dict) for a signed note, validated with fhir.resources.

    `signature` must be the note's signature (the unsigned are refused); `pdf_bytes` the rendered note.
    `mrn_system` is the hospital's identifier system URI for MRNs, when known."""
    if signature is None:
        raise ExportRefused(f"encounter {result.encounter_id} is not signed; only signed notes are exported to FHIR")
    if not pdf_bytes.startswith(b"%PDF"):
        raise FhirExportError("the attachment is not a PDF")
    ids = _Ids(f"{signature.encounter_id}/v{signature.version}/{signature.content_sha256}")
    when = signature.signed_at
    entries: list[tuple[str, dict]] = []

    pat_id, pat_url = ids("patient")
    patient = _patient(result, pat_id, mrn_system)
    subject = _ref(pat_url, result.patient.name if result.patient and result.patient.name else None)
    doc_id, doc_url = ids("practitioner")
    practitioner = {"resourceType": "Practitioner", "id": doc_id, "name": [{"text": signature.signer}]}
    author = _ref(doc_url, signature.signer)

    by_kind: dict[str, list[str]] = {k: [] for k in _SECTION_FOR}

    def add(url: str, res: dict) -> None:
        entries.append((url, res))
        by_kind.setdefault(res["resourceType"], []).append(url)

    for i, d in enumerate(result.note.diagnoses):
        rid, url = ids("condition", i)
        code = d.icd10.strip() if d.icd10 else None
        codings = [_coding(ICD10CM, code, d.text)] if code and _ICD10CM_RE.match(code) else []
        res = {
            "resourceType": "Condition", "id": rid,
            "clinicalStatus": _cc(None, _coding(COND_CLINICAL, "active", "Active")),
            "category": [_cc(None, _coding(COND_CATEGORY, "encounter-diagnosis", "Encounter Diagnosis"))],
            "code": _cc(d.text, *codings), "subject": subject, "recordedDate": when, "asserter": author,
        }
        if code and not codings:
            res["note"] = [{"text": f"Code as recorded (not a valid ICD-10-CM form): {code}"}]
        add(url, res)
    for i, m in enumerate(result.note.medications):
        rid, url = ids("medication", i)
        add(url, _medication(m, rid, subject, when))
    for i, lab in enumerate(result.labs):
        rid, url = ids("lab", i)
        add(url, _lab(lab, rid, subject, when))
    for url, res in _vitals(result, ids, subject, when):
        add(url, res)
    for i, e in enumerate(result.ecg):
        rid, url = ids("ecg", i)
        add(url, _ecg(e, rid, subject, when))
    allergies = [(a.substance, a.reaction) for a in result.note.allergies]
    seen = {s.strip().lower() for s, _ in allergies}
    if result.patient:
        allergies += [(s, None) for s in result.patient.allergies if s.strip() and s.strip().lower() not in seen]
    for i, (substance, reaction) in enumerate(allergies):
        rid, url = ids("allergy", i)
        res = {
            "resourceType": "AllergyIntolerance", "id": rid,
            "clinicalStatus": _cc(None, _coding(ALLERGY_CLINICAL, "active", "Active")),
            "code": _cc(substance), "patient": subject, "recordedDate": when, "asserter": author,
        }
        if reaction:
            res["reaction"] = [{"manifestation": [_cc(reaction)]}]
        add(url, res)

    comp_id, comp_url = ids("composition")
    sections = []
    names = list(result.note.sections)
    for name, text in result.note.sections.items():
        sec: dict = {"title": name.replace("_", " ").capitalize(), "text": _narrative(text)}
        refs = [url for kind, target in _SECTION_FOR.items() if target == name for url in by_kind.get(kind, [])]
        if refs:
            sec["entry"] = [{"reference": u} for u in refs]
        sections.append(sec)
    # entries whose SOAP section the note lacks are listed under the last section, so all are reachable
    orphans = [url for kind, target in _SECTION_FOR.items() if target not in names for url in by_kind.get(kind, [])]
    if orphans:
        if not sections:
            sections.append({"title": "Note", "text": _narrative("")})
        sections[-1].setdefault("entry", []).extend({"reference": u} for u in orphans)
    composition = {
        "resourceType": "Composition", "id": comp_id,
        "identifier": {"system": URI_SYSTEM, "value": comp_url},
        "status": "final", "type": _cc("Clinical note", NOTE_TYPE), "subject": subject, "date": when,
        "author": [author], "title": f"Clinical note {signature.encounter_id} v{signature.version}",
        "attester": [{"mode": "legal", "time": when, "party": author}],
        "section": sections,
    }

    ref_id, ref_url = ids("pdf")
    document = {
        "resourceType": "DocumentReference", "id": ref_id, "status": "current", "docStatus": "final",
        "type": _cc("Clinical note", NOTE_TYPE), "subject": subject, "date": when, "author": [author],
        "authenticator": author,
        "description": f"Signed clinical note, content SHA-256 {signature.content_sha256}",
        "content": [{"attachment": {
            "contentType": "application/pdf", "data": base64.b64encode(pdf_bytes).decode("ascii"),
            "size": len(pdf_bytes), "hash": base64.b64encode(hashlib.sha1(pdf_bytes).digest()).decode("ascii"),
            "title": f"Clinical note {signature.encounter_id} v{signature.version}.pdf", "creation": when,
        }}],
        "context": {"related": [_ref(comp_url)]},
    }

    bundle_id, bundle_url = ids("bundle")
    ordered = [(comp_url, composition), (pat_url, patient), (doc_url, practitioner), *entries, (ref_url, document)]
    bundle = {
        "resourceType": "Bundle", "id": bundle_id,
        "identifier": {"system": URI_SYSTEM, "value": bundle_url},
        "type": "document", "timestamp": when,
        "entry": [{"fullUrl": url, "resource": res} for url, res in ordered],
    }
    validate_bundle(bundle)
    return bundle


def validate_bundle(bundle: dict):
    """Parse with the fhir.resources R4B models; raises FhirExportError naming the first problem."""
    from fhir.resources.R4B.bundle import Bundle

    try:
        model = Bundle.model_validate(bundle)
    except ValueError as exc:  # pydantic's ValidationError is a ValueError
        raise FhirExportError("the FHIR bundle does not validate: " + " ".join(str(exc).splitlines()[:3])) from None
    # document rules the models do not check (bdl-9, bdl-10, bdl-11, unique fullUrls, references resolve)
    entries = bundle.get("entry") or []
    problems = []
    if bundle.get("type") == "document":
        ident = bundle.get("identifier") or {}
        if not (ident.get("system") and ident.get("value")):
            problems.append("a document needs an identifier with system and value")
        if not bundle.get("timestamp"):
            problems.append("a document needs a timestamp")
        if not entries or entries[0]["resource"]["resourceType"] != "Composition":
            problems.append("the first entry of a document must be its Composition")
    urls = [e.get("fullUrl") for e in entries]
    if len(set(urls)) != len(urls):
        problems.append("fullUrls are not unique")
    known = set(urls)
    dangling = sorted({r for r in _references(bundle) if r.startswith("urn:uuid:") and r not in known})
    if dangling:
        problems.append(f"{len(dangling)} reference(s) resolve to no entry")
    if problems:
        raise FhirExportError("the FHIR bundle is not a valid document: " + "; ".join(problems))
    return model


def _references(node) -> list[str]:
    out: list[str] = []
    if isinstance(node, dict):
        if isinstance(node.get("reference"), str):
            out.append(node["reference"])
        for value in node.values():
            out += _references(value)
    elif isinstance(node, list):
        for item in node:
            out += _references(item)
    return out


def export_fhir(store: Store, encounter_id: str, out_path: Path, *, version: int | None = None,
                actor: str = "clinidoc", mrn_system: str | None = None) -> Path:
    """Write the signed note (latest version, or `version`) as a FHIR document Bundle (JSON).
    Refuses unsigned notes (ExportRefused). Audited as an export with the file's SHA-256."""
    result = store.load_result(encounter_id, version)
    version = version or store.versions(encounter_id)[-1]
    sig = store.signature(encounter_id, version)
    if sig is None:
        raise ExportRefused(f"encounter {encounter_id} v{version} is not signed; only signed notes are exported to FHIR")
    pdf_bytes = render_pdf(result, sig, version, store.input_files(encounter_id), draft=False,
                           overrides=store.overrides(encounter_id, version))
    bundle = build_bundle(result, sig, pdf_bytes, mrn_system=mrn_system)
    data = json.dumps(bundle, indent=2, ensure_ascii=False).encode("utf-8")
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(f".{out_path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, out_path)
    store.record_export(encounter_id, version, "fhir-r4", False, hashlib.sha256(data).hexdigest(),
                        str(out_path.resolve()), actor)
    return out_path
