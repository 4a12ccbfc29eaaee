"""Settings file: defaults, round trip, damaged file, validation, the recorded data folder."""

from __future__ import annotations

import json

import pytest

from clinidoc import config, settings
from clinidoc.errors import InputError


def test_defaults_round_trip_and_unknown_keys_kept(tmp_path):
    assert settings.load(tmp_path) == settings.Settings()
    s = settings.Settings(llm_model="Tiny", template="hp", threads=3, device="cpu", font_scale=1.25,
                          endpoint_url="http://10.0.0.5:8080")
    path = settings.save(s, tmp_path)
    assert path == tmp_path / "settings.json"
    assert settings.load(tmp_path) == s
    raw = json.loads(path.read_text())
    raw["future_key"] = 7
    path.write_text(json.dumps(raw))
    loaded = settings.load(tmp_path)
    assert loaded.template == "hp" and loaded.extra == {"future_key": 7}
    settings.save(loaded, tmp_path)
    assert json.loads(path.read_text())["future_key"] == 7


def test_damaged_or_invalid_file_gives_defaults(tmp_path):
    (tmp_path / "settings.json").write_text("{not json")
    assert settings.load(tmp_path) == settings.Settings()
    (tmp_path / "settings.json").write_text(json.dumps({"device": "tpu"}))
    assert settings.load(tmp_path).device == "auto"
    with pytest.raises(InputError):
        settings.save(settings.Settings(font_scale=9), tmp_path)


def test_on_premises_hint():
    assert settings.is_on_premises("http://localhost:8080")
    assert settings.is_on_premises("http://192.168.1.20:8000/v1")
    assert settings.is_on_premises("https://llm.clinic.local")
    assert not settings.is_on_premises("https://api.openai.com/v1")
    assert not settings.is_on_premises("http://8.8.8.8/v1")


def test_templates_listed():
    assert {"soap", "hp", "progress", "consult"} <= set(settings.available_templates())


def test_recorded_data_dir_is_used_when_no_override(tmp_path, monkeypatch):
    monkeypatch.setenv("CLINIDOC_CONFIG_DIR", str(tmp_path / "cfg"))
    monkeypatch.delenv("CLINIDOC_HOME", raising=False)
    assert config.recorded_data_dir() is None
    config.record_data_dir(tmp_path / "chosen")
    assert config.data_dir() == (tmp_path / "chosen").resolve()
    monkeypatch.setenv("CLINIDOC_HOME", str(tmp_path / "env"))
    assert config.data_dir() == tmp_path / "env"


def test_engines_follow_the_settings(tmp_path):
    from clinidoc.drafting.backend import LlamaCppBackend

    from ._helpers import make_gguf

    (tmp_path / "models").mkdir()
    make_gguf(tmp_path / "models" / "Chosen.gguf", heads=8, kv_heads=2)
    settings.save(settings.Settings(llm_model="Chosen", stt_model="faster-whisper-tiny.en", device="cpu", threads=1),
                  tmp_path)
    e = settings.build_engines(tmp_path)
    assert (e.llm_model, e.stt_model, e.device, e.threads) == ("Chosen", "faster-whisper-tiny.en", "cpu", 1)
    llm = e.llm  # sized from the GGUF header; weights load only when drafting
    assert isinstance(llm, LlamaCppBackend) and llm.model_file.name == "Chosen"
    assert (llm.n_threads, llm.n_gpu_layers, llm.info.kv_heads) == (1, 0, 2)
    stt = e.stt
    assert (stt.device, stt.compute_type, stt.cpu_threads) == ("cpu", "int8", 1)
    assert stt.model_file.name == "faster-whisper-tiny.en"
    default = settings.build_engines(tmp_path / "fresh")
    assert default.llm_model is None and default.endpoint_url is None


def test_cli_process_uses_the_saved_template_and_model_unless_given(tmp_path):
    from click.testing import CliRunner

    from clinidoc.cli import cli

    text = tmp_path / "t.txt"
    text.write_text("Assessment: hypertension. Plan: amlodipine 5 mg by mouth daily.")
    home = tmp_path / "home"
    args = ["process", "--transcript", str(text), "--output", str(tmp_path / "o.json"), "--no-store", "--quiet",
            "--data-dir", str(home)]
    settings.save(settings.Settings(template="no-such-template"), home)
    r = CliRunner().invoke(cli, args)
    assert r.exit_code == 2 and "no-such-template" in r.output
    settings.save(settings.Settings(template="hp", llm_model="Missing-Model"), home)
    r = CliRunner().invoke(cli, args)
    assert r.exit_code == 1 and "Missing-Model" in r.output
    r = CliRunner().invoke(cli, [*args, "--template", "no-such-either"])
    assert r.exit_code == 2 and "no-such-either" in r.output  # an option wins over the settings
