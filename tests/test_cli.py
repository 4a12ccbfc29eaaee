"""The command line end to end, as a script or another tool would drive it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from conftest import DEV_CASES, ROOT


def run_cli(*args: str, home: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "CLINIDOC_HOME": str(home)}
    return subprocess.run([sys.executable, "-m", "clinidoc", *args], capture_output=True, text=True, env=env, cwd=ROOT, timeout=600)


def write_patient(tmp_path: Path, case_dir: Path) -> Path:
    patient = tmp_path / "patient.json"
    patient.write_text(json.dumps(json.loads((case_dir / "case.json").read_text())["patient"]))
    return patient


def test_process_writes_a_schema_valid_document_for_a_dev_case(tmp_path, session_home, output_schema):
    case = DEV_CASES / "dev-004"
    out = tmp_path / "out.json"
    proc = run_cli(
        "process", "--audio", str(case / "dictation.wav"), "--image", str(case / "labs.png"),
        "--image", str(case / "xray.dcm"), "--patient", str(write_patient(tmp_path, case)),
        "--output", str(out), "--quiet", home=session_home,
    )
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(out.read_text())
    jsonschema.validate(doc, output_schema)
    # the espeak voice's "azithromycin" is lost by tiny.en; the other two plan drugs are heard
    assert {m["name"] for m in doc["note"]["medications"]} >= {"amoxicillin", "acetaminophen"}
    assert doc["transcript"]["segments"][0]["words"], "word timestamps missing"
    kinds = {img["file"]: img["kind"] for img in doc["images"]}
    assert kinds == {"labs.png": "lab_report", "xray.dcm": "xray"}
    assert {m["role"] for m in doc["provenance"]["models"]} >= {"stt", "llm"}
    assert all(len(m["sha256"]) == 64 for m in doc["provenance"]["models"] if m["role"] in ("stt", "llm"))
    assert set(doc["provenance"]["timings_s"]) >= {"transcribe", "images", "extract", "draft", "validate"}


def test_one_bad_image_fails_with_exit_2_but_the_rest_is_processed(tmp_path, session_home, output_schema):
    transcript = tmp_path / "dictation.txt"
    transcript.write_text("Blood pressure 150 over 95. Plan: start lisinopril 10 milligrams by mouth daily.")
    junk = tmp_path / "scan.png"
    junk.write_bytes(os.urandom(4096))
    out = tmp_path / "out.json"
    proc = run_cli("process", "--transcript", str(transcript), "--image", str(junk), "--output", str(out), "--quiet", home=session_home)
    assert proc.returncode == 2
    err_lines = [line for line in proc.stderr.splitlines() if line.startswith("clinidoc:")]
    assert len(err_lines) == 1 and err_lines[0].count("scan.png") == 1
    doc = json.loads(out.read_text())
    jsonschema.validate(doc, output_schema)
    assert doc["images"][0]["file"] == "scan.png" and doc["images"][0]["error"]
    assert doc["note"]["medications"][0]["name"] == "lisinopril"
    assert doc["note"]["vitals"]["systolic_bp"] == 150


@pytest.mark.parametrize("make", ["missing", "empty", "not_audio"])
def test_transcribe_bad_audio_exits_2_naming_the_file(tmp_path, session_home, make):
    path = tmp_path / "visit.wav"
    if make == "empty":
        path.write_bytes(b"")
    elif make == "not_audio":
        path.write_text("this is not a recording\n" * 50)
    proc = run_cli("transcribe", str(path), home=session_home)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "visit.wav" in proc.stderr


def test_process_with_nothing_to_do_is_bad_input(tmp_path, session_home):
    proc = run_cli("process", "--output", str(tmp_path / "o.json"), home=session_home)
    assert proc.returncode == 2 and "nothing to process" in proc.stderr


def test_models_list_shows_gqa_heads_and_kv_bytes(session_home):
    proc = run_cli("models", "list", "--json", home=session_home)
    assert proc.returncode == 0, proc.stderr
    rows = {r["role"]: r for r in json.loads(proc.stdout)}
    llm = rows["llm"]
    assert (llm["layers"], llm["heads"], llm["kv_heads"]) == (30, 9, 3)
    assert llm["kv_bytes_per_token_f16"] == 2 * 30 * 3 * 64 * 2
    assert len(rows["stt"]["sha256"]) == 64


def test_demo_prints_the_dictated_medications_and_vitals(session_home):
    proc = run_cli("demo", home=session_home)
    assert proc.returncode == 0, proc.stderr
    case = json.loads((ROOT / "resources/demo/case.json").read_text())
    out_path = Path(proc.stdout.strip().splitlines()[-1].removeprefix("Note written to "))
    doc = json.loads(out_path.read_text())
    got = {(m["name"], m["dose"], m["unit"], m["route"], m["frequency"]) for m in doc["note"]["medications"]}
    want = {(m["name"], m["dose"], m["unit"], m["route"], m["frequency"]) for m in case["expected"]["medications"]}
    assert got == want
    vitals = {k: v for k, v in doc["note"]["vitals"].items() if k in case["expected"]["vitals"]}
    assert vitals == case["expected"]["vitals"]
    for m in case["expected"]["medications"]:
        assert m["name"] in proc.stdout


def test_labs_and_ecg_commands_print_contract_json(session_home, output_schema):
    case = DEV_CASES / "dev-001"
    labs = run_cli("labs", str(case / "labs.png"), "--json", home=session_home)
    assert labs.returncode == 0, labs.stderr
    rows = json.loads(labs.stdout)
    jsonschema.validate(rows, {"$defs": output_schema["$defs"], **output_schema["properties"]["labs"]})
    expected = json.loads((case / "case.json").read_text())["expected"]["labs"]
    assert [(r["test"], r["value"], r["flag"]) for r in rows] == [(e["test"], e["value"], e["flag"]) for e in expected]
    ecg = run_cli("ecg", str(case / "ecg.png"), "--json", home=session_home)
    assert ecg.returncode == 0, ecg.stderr
    finding = json.loads(ecg.stdout)
    jsonschema.validate([finding], {"$defs": output_schema["$defs"], **output_schema["properties"]["ecg"]})
    assert finding["rhythm"] == "atrial_fibrillation" and abs(finding["heart_rate_bpm"] - 84) <= 5


def test_ecg_command_on_a_non_ecg_file_is_bad_input(tmp_path, session_home):
    junk = tmp_path / "notes.txt"
    junk.write_text("not an ECG")
    proc = run_cli("ecg", str(junk), home=session_home)
    assert proc.returncode == 2 and "notes.txt" in proc.stderr
