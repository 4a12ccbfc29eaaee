"""`clinidoc doctor`: the report, its checks, and the exit status (0 healthy, 1 something to fix)."""

from __future__ import annotations

import importlib
import importlib.metadata
import json
from collections import namedtuple
from pathlib import Path

import pytest
from click.testing import CliRunner

import clinidoc
from clinidoc import doctor
from clinidoc.cli import cli
from clinidoc.records.store import KdfParams, Store

FAST = KdfParams(time_cost=1, memory_cost=8 * 1024, parallelism=1)
PASS = "correct horse battery staple"  # what tests/conftest.py puts in CLINIDOC_PASSPHRASE


def run_doctor(*args: str, input: str | None = None):
    result = CliRunner().invoke(cli, ["doctor", *args], input=input, catch_exceptions=False)
    return result


def make_store(folder: Path, events: int = 2) -> None:
    with Store.create(folder, PASS, FAST) as store:
        for i in range(events):
            store.append_audit("export", actor="doctor-test", data={"n": i})


@pytest.fixture(scope="module")
def rows(tmp_path_factory):
    """What `clinidoc models list --json` prints, through doctor's reuse of it."""
    return doctor.model_rows(tmp_path_factory.mktemp("doctor-models"))


@pytest.fixture
def listed_once(rows, monkeypatch):
    """Store tests: the model rows listed once for the module (hashing the models per data folder is slow;
    the model part is checked by test_healthy_machine_reports_everything_and_exits_0)."""
    monkeypatch.setattr(doctor, "model_rows", lambda data_dir: rows)


def test_healthy_machine_reports_everything_and_exits_0(tmp_path):
    home = tmp_path / "home"
    result = run_doctor("--json", "--data-dir", str(home))
    report = json.loads(result.output)
    assert result.exit_code == 0, report["fixes"]
    assert report["healthy"] and report["fixes"] == []

    inst = report["installed"]
    assert inst["clinidoc"] == clinidoc.__version__ and inst["frozen"] is False
    assert inst["packages"]["llama_cpp_python"] == importlib.metadata.version("llama_cpp_python")
    assert inst["packages"]["faster-whisper"] == importlib.metadata.version("faster-whisper")
    assert inst["import_failures"] == {}
    assert report["hardware"]["cores"] >= 1 and report["hardware"]["ram_total"] > 0

    # model fit: the same budget `clinidoc models list` computes, for both embedded defaults
    listed = json.loads(CliRunner().invoke(cli, ["models", "list", "--json", "--data-dir", str(home)]).output)
    by_name = {m["name"]: m for m in report["models"]}
    assert {"stt", "llm"} <= {m["role"] for m in report["models"]}
    for row in listed:
        assert by_name[row["name"]]["size_bytes"] == row["size_bytes"]
        if "budget" in row:
            assert by_name[row["name"]]["n_ctx"] == row["budget"]["n_ctx"]
            assert by_name[row["name"]]["fits"] is True

    store = report["store"]
    assert store["data_dir"] == str(home) and store["exists"] and store["writable"]
    assert store["store_present"] is False and store["audit"] is None
    assert report["disk"]["free_bytes"] > 0 and report["disk"]["total_bytes"] >= report["disk"]["free_bytes"]


def test_text_report_has_every_section_and_no_passphrase(listed_once, tmp_path):
    home = tmp_path / "home"
    make_store(home)
    result = run_doctor("--data-dir", str(home))
    assert result.exit_code == 0, result.output
    for heading in ("INSTALLED", "HARDWARE", "MODELS", "STORE", "DISK", "WHAT TO FIX"):
        assert f"\n{heading}\n" in f"\n{result.output}"
    assert "audit trail intact (2 events" in result.output
    assert "nothing: clinidoc is ready" in result.output
    assert PASS not in result.output


def test_audit_chain_is_verified_and_a_tampered_one_exits_1(listed_once, tmp_path):
    home = tmp_path / "home"
    make_store(home, events=3)
    report = json.loads(run_doctor("--json", "--data-dir", str(home)).output)
    assert report["store"]["audit"]["ok"] is True and report["store"]["audit"]["events"] == 3

    with Store.open(home, PASS) as store:
        store.conn.executescript("DROP TRIGGER audit_no_update; UPDATE audit SET actor = 'mallory' WHERE id = 2;")
    result = run_doctor("--json", "--data-dir", str(home))
    report = json.loads(result.output)
    assert result.exit_code == 1 and not report["healthy"]
    assert report["store"]["audit"]["ok"] is False and report["store"]["audit"]["first_bad_id"] == 2
    assert any("audit trail is broken at event 2" in f for f in report["fixes"])


def test_wrong_passphrase_is_something_to_fix(listed_once, tmp_path, monkeypatch):
    home = tmp_path / "home"
    make_store(home)
    monkeypatch.setenv("CLINIDOC_PASSPHRASE", "not the passphrase")
    result = run_doctor("--json", "--data-dir", str(home))
    report = json.loads(result.output)
    assert result.exit_code == 1
    assert report["store"]["audit"] == {"ok": None, "error": "wrong passphrase"}
    assert any("passphrase does not open the store" in f for f in report["fixes"])


def test_without_a_passphrase_the_store_stays_closed_and_the_flag_asks(listed_once, tmp_path, monkeypatch):
    home = tmp_path / "home"
    make_store(home)
    monkeypatch.delenv("CLINIDOC_PASSPHRASE")
    info, fixes, notes = doctor.store_health(home, None)
    assert info["store_present"] and info["audit"] is None and fixes == []
    assert any("--passphrase" in n for n in notes)

    result = run_doctor("--json", "--passphrase", "--data-dir", str(home), input=f"{PASS}\n")
    report = json.loads(result.output[result.output.index("{"):])  # after the hidden prompt
    assert result.exit_code == 0 and report["store"]["audit"]["ok"] is True


def test_a_data_dir_that_cannot_exist_is_something_to_fix(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    info, fixes, _ = doctor.store_health(blocker / "home", None)
    assert info["writable"] is False and info["store_present"] is False
    assert len(fixes) == 1 and "cannot be created" in fixes[0]
    result = run_doctor("--json", "--data-dir", str(blocker / "home"))
    assert result.exit_code == 1 and json.loads(result.output)["models"] == []


def test_low_disk_is_something_to_fix(tmp_path, monkeypatch):
    Usage = namedtuple("Usage", "total used free")
    monkeypatch.setattr(doctor.shutil, "disk_usage", lambda p: Usage(100 << 30, (100 << 30) - (200 << 20), 200 << 20))
    info, fixes = doctor.disk(tmp_path)
    assert info["free_bytes"] == 200 << 20
    assert len(fixes) == 1 and "200.0 MiB free" in fixes[0]
    monkeypatch.setattr(doctor.shutil, "disk_usage", lambda p: Usage(100 << 30, 0, 50 << 30))
    assert doctor.disk(tmp_path)[1] == []


def test_model_fit_follows_free_memory_and_missing_roles(rows):
    models, fixes, notes = doctor.model_fit(rows, ram_available=64 << 30)
    assert fixes == [] and notes == [] and all(m["fits"] for m in models)
    llm = next(m for m in models if m["role"] == "llm")
    assert llm["ram_needed"] >= llm["size_bytes"]  # weights plus the KV cache

    models, fixes, notes = doctor.model_fit(rows, ram_available=1 << 20)
    assert not any(m["fits"] for m in models)
    assert any("no speech-to-text model fits" in f for f in fixes)
    assert any("no language model fits" in f for f in fixes)
    assert len(notes) == len(models)

    _, fixes, _ = doctor.model_fit([r for r in rows if r["role"] != "llm"], ram_available=64 << 30)
    assert fixes == [("no language model found: reinstall clinidoc (the embedded defaults ship with it) "
                      "or put one in the models folder")]


def test_llama_build_for_missing_cpu_features_is_flagged():
    info = "CPU : SSE3 = 1 | AVX = 1 | AVX2 = 1 | F16C = 1 | FMA = 1 | AMX_INT8 = 1 | OPENMP = 1"
    fixes = doctor.llama_build_fixes(info, ("sse4_2", "avx", "avx2", "fma", "f16c"))
    assert len(fixes) == 1 and "AMX_INT8" in fixes[0] and "AVX2" not in fixes[0]
    assert doctor.llama_build_fixes(info, ("avx", "avx2", "fma", "f16c", "amx_int8")) == []
    assert "AVX2, FMA" in doctor.llama_build_fixes(info.replace(" AMX_INT8 = 1 |", ""), ("avx", "f16c"))[0]
    assert doctor.llama_build_fixes(None, ("avx",)) == []
    assert doctor.llama_build_fixes(info, ()) == []  # CPU flags unreadable: say nothing rather than guess


def test_a_module_that_does_not_load_is_reported(monkeypatch):
    real = importlib.import_module

    def broken(name, *args, **kwargs):
        if name == "clinidoc.imaging.dicom":
            raise ImportError("libopenjp2.so.7: cannot open shared object file")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(doctor.importlib, "import_module", broken)
    failures = doctor.import_failures()
    assert list(failures) == ["clinidoc.imaging.dicom"]
    assert "libopenjp2" in failures["clinidoc.imaging.dicom"]
