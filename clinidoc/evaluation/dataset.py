"""Evaluation datasets as a list of `Case`s.

Formats:
- ``cases``: the contract's dataset format, a folder with one folder per case holding ``case.json``
  (see ../shared/contract/README.md, "Dataset format"); a single case folder works too.
- ``aci-bench``: ACI-Bench CSVs (``dataset,encounter_id,dialogue,note``): the dialogue is the
  transcript input, the note is the reference (no structured ``expected``). A folder holding
  ``valid.csv`` reads that split; a CSV file reads that file.
- ``mts-dialog``: MTS-Dialog CSVs (``ID,section_header,section_text,dialogue``): a dialogue snippet
  and the one reference section it should produce.
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from clinidoc.encounter import Patient
from clinidoc.errors import InputError

FORMATS = ("auto", "cases", "aci-bench", "mts-dialog")


@dataclass
class Case:
    id: str
    format: str
    folder: Path | None = None
    patient: Patient | None = None
    audio: list[Path] = field(default_factory=list)
    transcript_file: Path | None = None
    transcript_text: str | None = None  # a transcript given inline (CSV datasets); runner writes it to a file
    images: list[Path] = field(default_factory=list)
    expected: dict = field(default_factory=dict)
    reference_note: str | None = None
    meta: dict = field(default_factory=dict)


def _csv_rows(path: Path) -> list[dict]:
    csv.field_size_limit(1 << 28)
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def detect_format(path: Path) -> str:
    path = Path(path)
    if path.is_file():
        if path.suffix.lower() != ".csv":
            raise InputError("a dataset is a folder of case folders or a CSV file", file=str(path))
        with path.open(encoding="utf-8") as fh:
            header = fh.readline().lower()
        if "encounter_id" in header and "dialogue" in header and "note" in header:
            return "aci-bench"
        if "section_header" in header and "dialogue" in header:
            return "mts-dialog"
        raise InputError("CSV is neither ACI-Bench (encounter_id,dialogue,note) nor MTS-Dialog", file=str(path))
    if not path.is_dir():
        raise InputError("dataset not found", file=str(path))
    if (path / "case.json").is_file() or any(p.is_file() for p in path.glob("*/case.json")):
        return "cases"
    if (path / "valid.csv").is_file() or (path / "train.csv").is_file():
        return "aci-bench"
    if any(path.glob("MTS-Dialog-*.csv")):
        return "mts-dialog"
    raise InputError("no cases found: expected case folders with case.json, or ACI-Bench / MTS-Dialog CSVs", file=str(path))


def read_case(folder: Path) -> Case:
    folder = Path(folder)
    try:
        raw = json.loads((folder / "case.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError("case.json not found", file=str(folder))
    except ValueError as exc:
        raise InputError(f"case.json is not valid JSON ({exc})", file=str(folder / "case.json"))
    inputs = raw.get("inputs") or {}
    patient = Patient.model_validate(raw["patient"]) if raw.get("patient") else None
    tfile = inputs.get("transcript")
    return Case(
        id=str(raw.get("id") or folder.name), format="cases", folder=folder, patient=patient,
        audio=[folder / a for a in inputs.get("audio") or []],
        transcript_file=folder / tfile if tfile else None,
        images=[folder / i for i in inputs.get("images") or []],
        expected=raw.get("expected") or {},
        reference_note=raw.get("reference_note"),
        meta={k: raw[k] for k in ("encounter_date", "source") if k in raw},
    )


def read_cases(path: Path) -> list[Case]:
    path = Path(path)
    if (path / "case.json").is_file():
        return [read_case(path)]
    return [read_case(p) for p in sorted(path.iterdir()) if (p / "case.json").is_file()]


def read_aci_bench(path: Path) -> list[Case]:
    path = Path(path)
    files = [path] if path.is_file() else ([path / "valid.csv"] if (path / "valid.csv").is_file() else sorted(path.glob("*.csv")))
    cases: list[Case] = []
    for f in files:
        for row in _csv_rows(f):
            if not {"dialogue", "note"} <= set(row):
                continue
            cid = f"{row.get('dataset') or f.stem}-{row.get('encounter_id') or len(cases)}"
            cases.append(Case(
                id=cid, format="aci-bench", transcript_text=row["dialogue"], reference_note=row["note"],
                expected={}, meta={"file": f.name, "dataset": row.get("dataset"), "encounter_id": row.get("encounter_id")},
            ))
    return cases


_MTS_HEADERS = {
    "GENHX": "history of present illness", "CC": "chief complaint", "PASTMEDICALHX": "past medical history",
    "FAM/SOCHX": "family history", "PASTSURGICAL": "past surgical history", "MEDICATIONS": "medications",
    "ALLERGY": "allergies", "ROS": "review of systems", "EXAM": "physical examination",
    "ASSESSMENT": "assessment", "PLAN": "plan", "DIAGNOSIS": "diagnosis", "DISPOSITION": "disposition plan",
    "LABS": "labs", "IMAGING": "imaging", "PROCEDURES": "procedures", "IMMUNIZATIONS": "immunizations",
    "EDCOURSE": "emergency department course", "OTHER_HISTORY": "other history", "GYNHX": "gynecologic history",
}


def read_mts_dialog(path: Path) -> list[Case]:
    path = Path(path)
    files = [path] if path.is_file() else sorted(path.glob("MTS-Dialog-Validation*.csv")) or sorted(path.glob("*.csv"))
    cases: list[Case] = []
    for f in files:
        for row in _csv_rows(f):
            header = (row.get("section_header") or "").strip()
            title = _MTS_HEADERS.get(header.upper(), header.lower())
            # "Doctor: ..." turns -> the "[doctor] ..." form the transcript reader keeps speakers from
            dialogue = re.sub(r"(?im)^\s*(doctor|patient|guest_family|guest_clinician)\s*:\s*", lambda m: f"[{m.group(1).lower()}] ", row.get("dialogue") or "")
            cases.append(Case(
                id=f"mts-{row.get('ID', len(cases))}", format="mts-dialog", transcript_text=dialogue,
                reference_note=f"{title.upper()}\n{row.get('section_text') or ''}", expected={},
                meta={"file": f.name, "section_header": header},
            ))
    return cases


def load_dataset(path: str | Path, fmt: str = "auto", limit: int | None = None) -> list[Case]:
    path = Path(path)
    if fmt not in FORMATS:
        raise InputError(f"unknown dataset format {fmt!r} (one of {', '.join(FORMATS)})")
    if not path.exists():
        raise InputError("dataset not found", file=str(path))
    if fmt == "auto":
        fmt = detect_format(path)
    reader = {"cases": read_cases, "aci-bench": read_aci_bench, "mts-dialog": read_mts_dialog}[fmt]
    cases = reader(path)
    if not cases:
        raise InputError(f"no {fmt} cases found", file=str(path))
    ids = [c.id for c in cases]
    if len(set(ids)) != len(ids):
        dup = next(i for i in ids if ids.count(i) > 1)
        raise InputError(f"case id {dup!r} appears twice", file=str(path))
    return cases[:limit] if limit else cases
