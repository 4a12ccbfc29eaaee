"""Run every case of a dataset through the pipeline once, score it, and build the run document.

The run document (``--output RUN.json``) is self-contained: dataset, models (name, SHA-256), the
overall figures, and per case the scores, the expected block and a compact view of what was
produced (with evidence), so reports and comparisons never need the pipeline again.
"""

from __future__ import annotations

import datetime as _dt
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from clinidoc import __version__
from clinidoc.evaluation import judge as judge_mod
from clinidoc.evaluation.dataset import Case
from clinidoc.evaluation.metrics import aggregate, headline, score_case

RUN_SCHEMA = "clinidoc-eval-run/1"
CaseCallback = Callable[[int, int, str, dict], None]


def _ev(evidence) -> list[str]:
    out = []
    for e in evidence or []:
        if not e:
            continue
        where = e.get("source", "")
        if e.get("start") is not None and where == "transcript":
            where += f"@{e['start']:.1f}s"
        out.append(f"{where}: {e.get('text') or ''}".strip())
    return out


def produced_view(doc: dict) -> dict:
    """The parts of an output document a reviewer compares with `expected`, evidence kept as text."""
    note = doc.get("note", {})
    vitals = {k: v for k, v in (note.get("vitals") or {}).items() if k != "evidence" and v is not None}
    return {
        "transcript": (doc.get("transcript") or {}).get("text", ""),
        "sections": note.get("sections", {}),
        "medications": [{**{k: m.get(k) for k in ("name", "dose", "unit", "route", "frequency", "status")},
                         "evidence": _ev(m.get("evidence"))} for m in note.get("medications", [])],
        "diagnoses": [{"text": d.get("text"), "icd10": d.get("icd10"), "evidence": _ev(d.get("evidence"))}
                      for d in note.get("diagnoses", [])],
        "allergies": [a.get("substance") for a in note.get("allergies", [])],
        "vitals": vitals,
        "vitals_evidence": {k: _ev([e])[0] for k, e in ((note.get("vitals") or {}).get("evidence") or {}).items() if e},
        "labs": [{**{k: l.get(k) for k in ("test", "code", "value", "unit", "flag")}, "evidence": _ev([l.get("source")])}
                 for l in doc.get("labs", [])],
        "ecg": [{k: e.get(k) for k in ("rhythm", "heart_rate_bpm", "confidence")} for e in doc.get("ecg", [])],
        "warnings": [{k: w.get(k) for k in ("severity", "code", "message", "field")} for w in doc.get("warnings", [])],
        "images": [{k: i.get(k) for k in ("file", "kind", "error")} for i in doc.get("images", [])],
    }


def _inputs(case: Case, template: str, scratch: Path):
    from clinidoc.pipeline import EncounterInputs

    transcript_file = case.transcript_file
    if case.transcript_text is not None and transcript_file is None:
        transcript_file = scratch / f"{case.id}.txt"
        transcript_file.write_text(case.transcript_text, encoding="utf-8")
    return EncounterInputs(audio=list(case.audio), transcript_file=transcript_file, images=list(case.images),
                           patient=case.patient, template=template, encounter_id=case.id)


def _source_text(case: Case, doc: dict) -> str:
    return (doc.get("transcript") or {}).get("text") or case.transcript_text or ""


def run_eval(
    cases: list[Case],
    engines,
    *,
    dataset: str = "",
    dataset_format: str = "",
    template: str = "soap",
    draft: bool = True,
    judge_sample: float = 0.0,
    judge_seed: int = 0,
    on_case: CaseCallback | None = None,
) -> dict:
    """Process and score every case with one set of loaded engines; returns the run document."""
    from clinidoc.drafting.templates import load_template
    from clinidoc.pipeline import process_encounter

    required = [s.key for s in load_template(template, engines.registry.data_dir).sections]
    judged_ids = set(judge_mod.choose_sample([c.id for c in cases], judge_sample, judge_seed))
    started_at = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
    t0 = time.perf_counter()
    records: list[dict] = []
    models: dict[str, dict] = {}
    judgements: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="clinidoc-eval-") as scratch:
        for i, case in enumerate(cases):
            rec: dict = {"id": case.id, "format": case.format, "expected": case.expected}
            if case.reference_note:
                rec["reference_note"] = case.reference_note
            began = time.perf_counter()
            try:
                outcome = process_encounter(_inputs(case, template, Path(scratch)), engines, draft=draft)
                doc = outcome.result.to_contract()
                rec["input_errors"] = [str(e) for e in outcome.input_errors]
                rec["scores"] = score_case(case.expected, doc, required_sections=required, reference_note=case.reference_note)
                rec["produced"] = produced_view(doc)
                for m in doc.get("provenance", {}).get("models", []):
                    models.setdefault(m["role"], {k: m.get(k) for k in ("role", "name", "sha256", "backend")})
                if case.id in judged_ids:
                    judge_began = time.perf_counter()
                    judgements[case.id] = judge_mod.judge_note(engines.llm, _source_text(case, doc),
                                                               doc.get("note", {}).get("sections", {}))
                    rec["judge"] = judgements[case.id]
                    rec["judge_s"] = round(time.perf_counter() - judge_began, 3)
                    models.setdefault("llm", engines.llm.model_use().model_dump(include={"role", "name", "sha256", "backend"}))
            except Exception as exc:  # noqa: BLE001 - one broken case is reported, the run goes on
                rec["error"] = f"{exc.__class__.__name__}: {exc}"
            rec["wall_s"] = round(time.perf_counter() - began, 3)
            records.append(rec)
            if on_case:
                on_case(i + 1, len(cases), case.id, rec)
    scored = [r["scores"] for r in records if "scores" in r]
    overall = aggregate(scored)
    overall["cases_failed"] = sum(1 for r in records if "error" in r)
    overall["wall_s_total"] = round(time.perf_counter() - t0, 3)
    run = {
        "schema": RUN_SCHEMA,
        "clinidoc_version": __version__,
        "started_at": started_at,
        "dataset": dataset,
        "format": dataset_format,
        "template": template,
        "draft": draft,
        "n_cases": len(cases),
        "models": list(models.values()),
        "overall": overall,
        "headline": headline(overall),
        "cases": records,
    }
    if judge_sample > 0:
        llm_name = (models.get("llm") or {}).get("name")
        run["judge"] = {"sample_fraction": judge_sample, "seed": judge_seed, "cases": sorted(judgements),
                        "rubric": "PDQI-9 (1-5 each) + hallucination yes/no", "model": llm_name,
                        "caveat": judge_mod.judge_caveat(llm_name), "summary": judge_mod.summarize(judgements)}
    return run
