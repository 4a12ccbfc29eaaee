"""The open encounter as the editor sees it: the result, dotted field paths, and store sync.

No clinical logic here: values are read and written by path, validation is the core's
``validate()``, and every change goes to the store through ``record_edit``. Field paths come in two
spellings: validation issues say ``note.medications[1].dose``, the store says
``note.medications.1.dose``; :func:`store_path` turns the first into the second.
"""

from __future__ import annotations

import re
from typing import Any

from clinidoc.encounter import EncounterResult, ValidationIssue

_INDEX = re.compile(r"\[(\d+)\]")


def store_path(field: str) -> str:
    """``note.medications[1].dose`` -> ``note.medications.1.dose`` (the store's spelling)."""
    return _INDEX.sub(r".\1", field).strip(".")


def path_parts(field: str) -> list[str]:
    return [p for p in store_path(field).split(".") if p]


def get_path(doc: Any, field: str) -> Any:
    node = doc
    for part in path_parts(field):
        node = node[int(part)] if isinstance(node, list) else node.get(part) if isinstance(node, dict) else None
        if node is None:
            return None
    return node


def issue_key(issue: ValidationIssue) -> tuple[str, str | None]:
    return issue.code, issue.field


class EncounterDocument:
    """An encounter loaded from the store (or just processed), with its live warnings."""

    AUTHOR_DEFAULT = "clinician"

    def __init__(self, store, encounter_id: str, author: str = AUTHOR_DEFAULT) -> None:
        self.store = store
        self.encounter_id = encounter_id
        self.author = author
        self.reload()

    # -- loading --------------------------------------------------------------------------------
    def reload(self) -> None:
        self.result: EncounterResult = self.store.load_result(self.encounter_id)
        self.version: int = self.store.versions(self.encounter_id)[-1]
        self.signature = self.store.signature(self.encounter_id)
        self.overrides: list[dict] = self.store.overrides(self.encounter_id)
        self.inputs: list[dict] = self.store.input_files(self.encounter_id)
        self.warnings: list[ValidationIssue] = list(self.result.warnings)
        self.pending: dict[str, str] = {}  # section text typed but not yet in the store

    @property
    def signed(self) -> bool:
        return self.signature is not None

    @property
    def patient(self):
        return self.result.patient

    # -- values ---------------------------------------------------------------------------------
    def doc(self) -> dict:
        return self.result.model_dump(mode="json")

    def value(self, field: str) -> Any:
        return get_path(self.doc(), field)

    def set_text(self, field: str, text: str) -> None:
        """Section text as it is typed: in memory now (validation sees it), in the store at flush()."""
        path = store_path(field)
        parts = path.split(".")
        if parts[:2] != ["note", "sections"] or len(parts) != 3:
            raise ValueError(f"not a section: {field}")
        self.result.note.sections[parts[2]] = text
        self.pending[path] = text

    def flush(self) -> bool:
        """Record the pending section edits in the store (one audited edit each); True if any."""
        if not self.pending:
            return False
        stored = self.store.load_result(self.encounter_id).model_dump(mode="json")
        wrote = False
        for path, text in list(self.pending.items()):
            old = get_path(stored, path)
            if (old or "") != text:
                self.store.record_edit(self.encounter_id, path, old, text, self.author)
                wrote = True
            del self.pending[path]
        self.result = self.store.load_result(self.encounter_id)
        return wrote

    def set_value(self, field: str, new: Any) -> bool:
        """Record one edit in the store (audited) and in memory; False when nothing changed."""
        self.flush()
        path = store_path(field)
        old = self.value(path)
        if old == new:
            return False
        self.store.record_edit(self.encounter_id, path, old, new, self.author)
        self.result = self.store.load_result(self.encounter_id)
        # the stored doc carries the warnings as of the last sync; keep showing the live ones
        return True

    # -- warnings -------------------------------------------------------------------------------
    def revalidate(self) -> list[ValidationIssue]:
        """The core's validate() on the current note (fast: tens of ms)."""
        from clinidoc.validation import validate  # imported on first use: the ICD-10 tables take ~1.5 s to load

        self.warnings = validate(self.result, self.result.patient, self.result.transcript.text)
        return self.warnings

    def sync_warnings(self) -> bool:
        """Write the live warnings into the stored version, so the store's sign check and overrides
        see what the clinician sees. Audited like any other edit; False when they were current."""
        if self.signed:
            return False
        stored = [w.model_dump(mode="json") for w in self.store.load_result(self.encounter_id).warnings]
        live = [w.model_dump(mode="json") for w in self.warnings]
        if stored == live:
            return False
        self.store.record_edit(self.encounter_id, "warnings", stored, live, self.author)
        self.result = self.store.load_result(self.encounter_id)
        return True

    def override_for(self, issue: ValidationIssue) -> dict | None:
        for o in self.overrides:
            if o["code"] == issue.code and (o["field"] is None or o["field"] == issue.field):
                return o
        return None

    def open_errors(self) -> list[ValidationIssue]:
        return [w for w in self.warnings if w.severity == "error" and self.override_for(w) is None]

    def override(self, issue: ValidationIssue, reason: str) -> None:
        self.sync_warnings()
        self.store.override_warning(self.encounter_id, issue.code, issue.field, reason, self.author)
        self.overrides = self.store.overrides(self.encounter_id)

    # -- signing and versions -------------------------------------------------------------------
    def amend(self) -> int:
        """A new, editable version starting from the signed one."""
        base = self.store.load_result(self.encounter_id)
        version = self.store.amend(self.encounter_id, base, self.author)
        self.reload()
        return version
