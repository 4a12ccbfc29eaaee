"""Plain typed data that flows through the pipeline and makes up the output contract.

The field names follow ../shared/contract/encounter-output.schema.json; `to_contract()` on
EncounterResult gives exactly that document. pydantic gives validation on load (``clinidoc
validate`` reads a document back) and JSON dumping for free.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

ImageKind = Literal["lab_report", "ecg", "xray", "photo", "document", "unknown"]
LabFlag = Literal["L", "H", "LL", "HH", "N", "A"]
Rhythm = Literal[
    "sinus_rhythm", "sinus_bradycardia", "sinus_tachycardia", "atrial_fibrillation", "other", "indeterminate"
]
Severity = Literal["error", "warning", "info"]
MedStatus = Literal["continue", "start", "stop", "change"]


class _Model(BaseModel):
    # Unknown keys in documents written by other tools are kept rather than rejected.
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class Evidence(_Model):
    """Where a fact came from: the transcript (seconds) or an input file (pixel box, page)."""

    source: str
    start: float | None = None
    end: float | None = None
    text: str | None = None
    bbox: list[float] | None = None
    page: int | None = None


class Patient(_Model):
    name: str | None = None
    mrn: str | None = None
    birth_date: str | None = None
    sex: str | None = None
    allergies: list[str] = Field(default_factory=list)
    medications: list[str] = Field(default_factory=list)


class Word(_Model):
    start: float
    end: float
    word: str
    probability: float | None = None


class Segment(_Model):
    start: float
    end: float
    text: str
    speaker: str | None = None
    words: list[Word] = Field(default_factory=list)


class Transcript(_Model):
    text: str = ""
    language: str | None = None
    duration: float | None = None
    segments: list[Segment] = Field(default_factory=list)


class ImageArtifact(_Model):
    file: str
    kind: ImageKind = "unknown"
    dicom: dict | None = None
    error: str | None = None


class LabResult(_Model):
    test: str
    code: str | None = None
    value: float | str
    unit: str | None = None
    reference_low: float | None = None
    reference_high: float | None = None
    flag: LabFlag | None = None
    source: Evidence


class EcgFinding(_Model):
    rhythm: Rhythm = "indeterminate"
    heart_rate_bpm: float | None = None
    pr_ms: float | None = None
    qrs_ms: float | None = None
    qt_ms: float | None = None
    qtc_ms: float | None = None
    confidence: float | None = None
    source: Evidence


class Diagnosis(_Model):
    text: str
    icd10: str | None = None
    evidence: list[Evidence] = Field(default_factory=list)


class Medication(_Model):
    name: str
    dose: float | None = None
    unit: str | None = None
    route: str | None = None
    frequency: str | None = None
    status: MedStatus | None = None
    evidence: list[Evidence] = Field(default_factory=list)


class Allergy(_Model):
    substance: str
    reaction: str | None = None


class Vitals(_Model):
    systolic_bp: float | None = None
    diastolic_bp: float | None = None
    heart_rate: float | None = None
    respiratory_rate: float | None = None
    temperature_c: float | None = None
    spo2: float | None = None
    weight_kg: float | None = None
    # field name -> where it was said; not part of the contract's required keys
    evidence: dict[str, Evidence] = Field(default_factory=dict)


class Note(_Model):
    template: str = "soap"
    sections: dict[str, str] = Field(
        default_factory=lambda: {"subjective": "", "objective": "", "assessment": "", "plan": ""}
    )
    diagnoses: list[Diagnosis] = Field(default_factory=list)
    medications: list[Medication] = Field(default_factory=list)
    allergies: list[Allergy] = Field(default_factory=list)
    vitals: Vitals = Field(default_factory=Vitals)


class ValidationIssue(_Model):
    severity: Severity
    code: str
    message: str
    field: str | None = None
    suggestion: str | None = None
    evidence: list[Evidence] = Field(default_factory=list)


class ModelUse(_Model):
    """One model used for a result, for provenance: which file exactly, and how it was run."""

    role: Literal["stt", "llm", "ocr", "ecg", "other"]
    name: str
    sha256: str | None = None
    backend: str | None = None
    params: dict = Field(default_factory=dict)


class Provenance(_Model):
    clinidoc_version: str
    models: list[ModelUse] = Field(default_factory=list)
    timings_s: dict[str, float] = Field(default_factory=dict)


# Optional keys that the schema types as plain strings: absent, never null.
_NON_NULLABLE = frozenset({"encounter_id", "language", "backend"})


def _drop_unset(node, keys: frozenset) -> None:
    if isinstance(node, dict):
        for key in [k for k in keys if k in node and node[k] is None]:
            del node[key]
        for value in node.values():
            _drop_unset(value, keys)
    elif isinstance(node, list):
        for item in node:
            _drop_unset(item, keys)


class EncounterResult(_Model):
    schema_version: Literal["1"] = "1"
    encounter_id: str | None = None
    patient: Patient | None = None
    transcript: Transcript = Field(default_factory=Transcript)
    images: list[ImageArtifact] = Field(default_factory=list)
    labs: list[LabResult] = Field(default_factory=list)
    ecg: list[EcgFinding] = Field(default_factory=list)
    note: Note = Field(default_factory=Note)
    warnings: list[ValidationIssue] = Field(default_factory=list)
    provenance: Provenance

    def to_contract(self) -> dict:
        """The output document, JSON-ready, as the shared schema describes it."""
        doc = self.model_dump(mode="json", exclude={"patient"})
        _drop_unset(doc, _NON_NULLABLE)
        if self.patient is not None:
            # the schema types patient fields as plain strings: unknown ones are left out, not null
            doc["patient"] = self.patient.model_dump(mode="json", exclude_none=True)
        return doc
