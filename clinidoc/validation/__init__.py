"""Validation of an encounter result: every rule in rules.RULES, in order."""

from __future__ import annotations

from clinidoc.encounter import EncounterResult, Patient, ValidationIssue
from clinidoc.validation.rules import RULES

__all__ = ["validate", "RULES"]


def validate(result: EncounterResult, patient: Patient | None = None,
             transcript_text: str | None = None) -> list[ValidationIssue]:
    """All issues found by every rule. `patient` defaults to result.patient; `transcript_text`
    (e.g. a reference transcript) replaces result.transcript.text as the source text."""
    if transcript_text is not None and transcript_text != result.transcript.text:
        # a shallow copy: rules only read
        transcript = result.transcript.model_copy(update={"text": transcript_text})
        result = result.model_copy(update={"transcript": transcript})
    patient = patient or result.patient
    issues: list[ValidationIssue] = []
    for rule in RULES:
        issues.extend(rule(result, patient))
    return issues
