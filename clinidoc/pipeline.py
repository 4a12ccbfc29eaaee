"""process_encounter(): the whole pipeline on one encounter, as plain stages over plain data.

Stages: transcript (speech or text) -> images (kind, DICOM facts, lab rows) -> deterministic
extraction (medications, vitals, allergies, diagnoses, section sources) -> LLM drafting of the
prose (grounded) -> validation. Engines come in as arguments so the GUI, the CLI, the benchmarks
and the tests share one code path and load each model once.
"""

from __future__ import annotations

import hashlib
import logging
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from clinidoc.encounter import (
    EcgFinding,
    EncounterResult,
    ImageArtifact,
    LabResult,
    ModelUse,
    Note,
    Patient,
    Segment,
    Transcript,
)
from clinidoc.errors import InputError
from clinidoc.progress import CancelToken, Progress, ProgressCallback, ignore_progress
from clinidoc.weights import ModelRegistry

log = logging.getLogger(__name__)

SOAP_KEYS = ("subjective", "objective", "assessment", "plan")


@dataclass
class EncounterInputs:
    audio: list[Path] = field(default_factory=list)
    transcript_file: Path | None = None
    images: list[Path] = field(default_factory=list)
    patient: Patient | None = None
    template: str = "soap"
    encounter_id: str | None = None


@dataclass
class Engines:
    """Models loaded once and reused across encounters; created lazily from the registry."""

    registry: ModelRegistry
    stt_model: str | None = None
    llm_model: str | None = None
    _stt: object = None
    _llm: object = None

    @property
    def stt(self):
        if self._stt is None:
            from clinidoc.speech.engine import FasterWhisperEngine

            self._stt = FasterWhisperEngine(self.registry.resolve("stt", self.stt_model))
        return self._stt

    @property
    def llm(self):
        if self._llm is None:
            from clinidoc.drafting.backend import LlamaCppBackend

            self._llm = LlamaCppBackend(self.registry.resolve("llm", self.llm_model))
        return self._llm


@dataclass
class PipelineOutcome:
    result: EncounterResult
    input_errors: list[InputError]


class _Timer:
    def __init__(self) -> None:
        self.timings: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str):
        started = time.perf_counter()
        try:
            yield
        finally:
            self.timings[name] = round(self.timings.get(name, 0.0) + time.perf_counter() - started, 3)


def _hotwords(patient: Patient | None) -> str | None:
    try:
        from clinidoc.knowledge.drugs import drug_dictionary
    except ImportError:
        return None
    extra = []
    for med in (patient.medications if patient else []):
        extra.append(med.split()[0])
    return drug_dictionary().hotwords(extra)


def _join_transcripts(parts: list[Transcript]) -> Transcript:
    """Several recordings of one encounter, one after another on a common clock."""
    if len(parts) == 1:
        return parts[0]
    offset = 0.0
    segments: list[Segment] = []
    for part in parts:
        for seg in part.segments:
            shifted = seg.model_copy(deep=True)
            shifted.start += offset
            shifted.end += offset
            for w in shifted.words:
                w.start += offset
                w.end += offset
            segments.append(shifted)
        offset += part.duration or (part.segments[-1].end if part.segments else 0.0)
    return Transcript(text=" ".join(p.text for p in parts), language=parts[0].language, duration=offset, segments=segments)


def transcribe_inputs(inputs: EncounterInputs, engines: Engines, errors: list[InputError], progress, cancel) -> Transcript:
    from clinidoc.speech.transcript_text import read_transcript_file

    parts: list[Transcript] = []
    if inputs.transcript_file is not None:
        try:
            parts.append(read_transcript_file(inputs.transcript_file))
        except InputError as exc:
            errors.append(exc)
    hotwords = _hotwords(inputs.patient) if inputs.audio else None
    for path in inputs.audio:
        try:
            parts.append(engines.stt.transcribe(path, hotwords=hotwords, progress=progress, cancel=cancel))
        except InputError as exc:
            errors.append(exc)
    return _join_transcripts(parts) if parts else Transcript(language="en")


def ocr_model_use(registry: ModelRegistry) -> ModelUse:
    """The OCR models inside the rapidocr wheel, each file hashed once (cached)."""
    from importlib.metadata import version

    from clinidoc.filecache import sha256_file
    from clinidoc.imaging.labs import ocr_model_files

    files = {p.name: registry.facts.get(p, "sha256", sha256_file) for p in ocr_model_files()}
    combined = hashlib.sha256("".join(f"{k}:{v}" for k, v in sorted(files.items())).encode()).hexdigest()
    return ModelUse(role="ocr", name=f"rapidocr {version('rapidocr')} PP-OCR", sha256=combined, backend="onnxruntime",
                    params={"use_cls": False, "files": files})


@dataclass
class ImageFindings:
    artifacts: list[ImageArtifact] = field(default_factory=list)
    labs: list[LabResult] = field(default_factory=list)
    ecg: list[EcgFinding] = field(default_factory=list)
    used_ocr: bool = False


def ecg_method_use() -> ModelUse:
    """ECG reading: neurokit2 R peaks, median-beat intervals and a small AF model shipped in resources/."""
    from importlib.metadata import PackageNotFoundError, version

    from clinidoc import config
    from clinidoc.filecache import sha256_file

    weights = config.resource("ecg", "af_logreg.json")
    try:
        nk = version("neurokit2")
    except PackageNotFoundError:
        nk = "absent (built-in detector)"
    return ModelUse(role="ecg", name="clinidoc AF logistic regression", sha256=sha256_file(weights),
                    backend="numpy", params={"neurokit2": nk, "weights": weights.name})


def _paper_ecg_identity(path: Path, finding) -> dict:
    """Patient identity printed on a paper ECG's header; {} for signal files or when OCR fails
    (the reading itself stands without it)."""
    from clinidoc.imaging.identity import paper_header
    from clinidoc.imaging.loading import sniff

    if sniff(path) not in ("image", "pdf"):
        return {}
    try:
        return paper_header(path, finding.source.bbox, finding.source.page)
    except (InputError, ImportError, OSError, ValueError, RuntimeError) as exc:
        # the file already read as an ECG; a header that will not read must not mark it unreadable
        log.warning("ECG header not read (%s)", type(exc).__name__)
        return {}


def read_images(paths: list[Path], errors: list[InputError], progress) -> ImageFindings:
    """Classify each file by content and read what it holds: lab rows, ECG findings, DICOM identity."""
    from clinidoc.imaging.classify import classify
    from clinidoc.imaging.ecg import analyse_file
    from clinidoc.imaging.labs import read_lab_report

    found = ImageFindings()
    for i, path in enumerate(paths):
        progress(Progress("images", i / max(1, len(paths)), path.name))
        artifact = classify(path)
        try:
            if artifact.kind == "lab_report" and not artifact.error:
                report = read_lab_report(path)
                found.used_ocr = found.used_ocr or report.ocr
                found.labs.extend(report.rows)
                if report.patient:
                    artifact.patient = report.patient  # printed identity, for the patient-mismatch check
            elif artifact.kind == "ecg" and not artifact.error:
                finding = analyse_file(path)
                found.ecg.append(finding)
                if printed := _paper_ecg_identity(path, finding):
                    artifact.patient = printed  # the name/MRN/DOB on the printout, for the mismatch check
        except InputError as exc:
            artifact.error = str(exc.args[0]) if exc.args else str(exc)
        if artifact.error:
            # classify() may already name the file in its message; name it once
            errors.append(InputError(artifact.error.removeprefix(f"{path.name}: "), file=path.name))
        found.artifacts.append(artifact)
    return found


def extract_note(transcript: Transcript, patient: Patient | None, template: str) -> tuple[Note, dict[str, str]]:
    """Structured fields by dictionary-backed extraction; returns the note and each section's source text."""
    from clinidoc.extraction.allergies import extract_allergies
    from clinidoc.extraction.diagnoses import extract_diagnoses
    from clinidoc.extraction.medications import extract_medications
    from clinidoc.extraction.sections import split_sections
    from clinidoc.extraction.vitals import extract_vitals

    sources = split_sections(transcript.text) if transcript.text else {}
    note = Note(
        template=template,
        medications=extract_medications(transcript, patient),
        vitals=extract_vitals(transcript),
        allergies=extract_allergies(transcript, patient),
        diagnoses=extract_diagnoses(sources.get("assessment", ""), transcript),
    )
    return note, sources


def process_encounter(
    inputs: EncounterInputs,
    engines: Engines,
    *,
    draft: bool = True,
    sampling=None,
    progress: ProgressCallback = ignore_progress,
    cancel: CancelToken | None = None,
) -> PipelineOutcome:
    """The whole pipeline on one encounter: an EncounterSession in batch mode (the live path's object
    and stages, fed whole files): transcript file and recordings transcribed in order, images read in
    order, then extraction, drafting and validation as ``EncounterSession.stop`` does them."""
    from clinidoc.session import EncounterSession

    with EncounterSession(engines, inputs.patient, inputs.template, encounter_id=inputs.encounter_id, batch=True,
                          sampling=sampling, cancel=cancel) as session:
        for path in inputs.images:  # queued (missing files noted); read by stop() after the transcript
            session.add_image(path)
        if inputs.transcript_file is not None:
            session.add_transcript_file(inputs.transcript_file)
        for path in inputs.audio:
            session.add_audio_file(path, progress=progress)
        return session.stop(draft=draft, progress=progress)
