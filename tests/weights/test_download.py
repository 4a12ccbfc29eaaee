"""Downloading and adding models, against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import hashlib
import json

import pytest

from clinidoc.errors import Cancelled, InputError
from clinidoc.progress import CancelToken
from clinidoc.weights import ModelRegistry
from clinidoc.weights.download import (
    DownloadError,
    add_local_file,
    download_model,
    part_paths,
    partial_bytes,
)

from ._helpers import ModelServer, make_gguf


@pytest.fixture
def gguf_bytes(tmp_path) -> bytes:
    return make_gguf(tmp_path / "Tiny-Test.gguf").read_bytes()


@pytest.fixture
def server(gguf_bytes):
    with ModelServer() as s:
        s.files["/m/Tiny-Test.gguf"] = gguf_bytes
        yield s


def test_download_installs_file_with_progress_and_checksum(server, gguf_bytes, tmp_path):
    models = tmp_path / "home" / "models"
    seen = []
    sha = hashlib.sha256(gguf_bytes).hexdigest()
    m = download_model(server.url("/m/Tiny-Test.gguf"), models, sha256=sha.upper(), progress=seen.append)
    assert m.path == models / "Tiny-Test.gguf" and m.path.read_bytes() == gguf_bytes
    assert m.sha256 == sha and m.role == "llm" and m.size_bytes == len(gguf_bytes)
    fractions = [p.fraction for p in seen if p.fraction is not None]
    assert len(fractions) >= 4 and fractions == sorted(fractions) and fractions[-1] == 1.0
    assert not any((models / ".downloads").iterdir())  # no leftovers
    # the registry finds it, with its heads
    found = {x.name: x for x in ModelRegistry(tmp_path / "home").available("llm")}
    info = found["Tiny-Test"].gguf_info()
    assert (info.heads, info.kv_heads, info.layers) == (4, 2, 2)


def test_interrupted_download_resumes_with_a_range_request(server, gguf_bytes, tmp_path):
    models = tmp_path / "models"
    url = server.url("/m/Tiny-Test.gguf")
    server.cut_after = 100_000
    with pytest.raises(DownloadError, match="resume"):
        download_model(url, models)
    assert partial_bytes(url, models) == 100_000
    assert not (models / "Tiny-Test.gguf").exists()
    seen = []
    m = download_model(url, models, sha256=hashlib.sha256(gguf_bytes).hexdigest(), progress=seen.append)
    assert m.path.read_bytes() == gguf_bytes
    assert server.requests[-1] == ("/m/Tiny-Test.gguf", "bytes=100000-")
    assert seen[0].fraction == pytest.approx(100_000 / len(gguf_bytes))  # continued, not restarted
    assert "resuming" in seen[0].message


def test_cancel_keeps_the_part_and_a_later_call_resumes(server, gguf_bytes, tmp_path):
    models = tmp_path / "models"
    url = server.url("/m/Tiny-Test.gguf")
    token = CancelToken()

    def progress(p):
        if p.fraction and p.fraction > 0.3:
            token.cancel()

    with pytest.raises(Cancelled):
        download_model(url, models, progress=progress, cancel=token)
    have = partial_bytes(url, models)
    assert 0 < have < len(gguf_bytes)
    m = download_model(url, models)
    assert m.path.read_bytes() == gguf_bytes
    assert server.requests[-1][1] == f"bytes={have}-"


def test_server_without_range_support_restarts_cleanly(server, gguf_bytes, tmp_path):
    models = tmp_path / "models"
    url = server.url("/m/Tiny-Test.gguf")
    server.cut_after = 70_000
    with pytest.raises(DownloadError):
        download_model(url, models)
    assert partial_bytes(url, models) == 70_000
    server.ranges = False  # answers 200 with the whole file to a Range request
    m = download_model(url, models, sha256=hashlib.sha256(gguf_bytes).hexdigest())
    assert server.requests[-1][1] == "bytes=70000-"
    assert m.path.read_bytes() == gguf_bytes  # not the first 70 000 bytes twice


def test_checksum_mismatch_installs_nothing(server, tmp_path):
    models = tmp_path / "models"
    with pytest.raises(InputError, match="SHA-256 mismatch"):
        download_model(server.url("/m/Tiny-Test.gguf"), models, sha256="0" * 64)
    assert not (models / "Tiny-Test.gguf").exists()
    assert partial_bytes(server.url("/m/Tiny-Test.gguf"), models) == 0


def test_not_a_gguf_is_refused_and_http_errors_are_clear(server, tmp_path):
    models = tmp_path / "models"
    server.files["/fake.gguf"] = b"<html>login page</html>" * 50
    with pytest.raises(InputError, match="not a usable GGUF"):
        download_model(server.url("/fake.gguf"), models)
    assert not (models / "fake.gguf").exists()
    with pytest.raises(DownloadError, match="404"):
        download_model(server.url("/missing.gguf"), models)
    with pytest.raises(InputError, match="SHA-256"):
        download_model(server.url("/m/Tiny-Test.gguf"), models, sha256="abc")
    with pytest.raises(InputError):
        download_model("ftp://example.org/x.gguf", models)


def test_part_of_another_url_is_never_stitched_on(server, gguf_bytes, tmp_path):
    models = tmp_path / "models"
    part, meta = part_paths(server.url("/m/Tiny-Test.gguf"), models)
    part.parent.mkdir(parents=True)
    part.write_bytes(b"x" * 5000)
    meta.write_text(json.dumps({"url": "http://elsewhere/Tiny-Test.gguf"}))
    m = download_model(server.url("/m/Tiny-Test.gguf"), models)
    assert m.path.read_bytes() == gguf_bytes and server.requests[-1][1] is None


def test_add_local_gguf_and_whisper_folder(tmp_path):
    src = make_gguf(tmp_path / "Local-Model.gguf", heads=8, kv_heads=2)
    models = tmp_path / "home" / "models"
    m = add_local_file(src, models)
    assert m.role == "llm" and m.path.read_bytes() == src.read_bytes()
    assert m.sha256 == hashlib.sha256(src.read_bytes()).hexdigest()
    with pytest.raises(InputError, match="already installed"):
        add_local_file(src, models)
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"GGML" + b"\0" * 100)
    with pytest.raises(InputError, match="GGUF"):
        add_local_file(bad, models)
    truncated = tmp_path / "truncated.gguf"
    truncated.write_bytes(src.read_bytes()[:40])
    with pytest.raises(InputError, match="metadata"):
        add_local_file(truncated, models)
    folder = tmp_path / "whisper-x"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    with pytest.raises(InputError, match="model.bin"):
        add_local_file(folder, models)
    (folder / "model.bin").write_bytes(b"\1" * 1000)
    (folder / "vocabulary.txt").write_text("a\nb\n")
    w = add_local_file(folder, models)
    assert w.role == "stt" and (models / "whisper-x" / "vocabulary.txt").is_file()
    names = {(x.role, x.name) for x in ModelRegistry(tmp_path / "home").available()}
    assert ("llm", "Local-Model") in names and ("stt", "whisper-x") in names
    assert not list((models / ".downloads").iterdir())


def test_cli_models_add_and_download(server, gguf_bytes, tmp_path):
    from click.testing import CliRunner

    from clinidoc.cli import cli

    home = tmp_path / "home"
    src = make_gguf(tmp_path / "Cli-Model.gguf")
    r = CliRunner().invoke(cli, ["models", "add", str(src), "--data-dir", str(home)])
    assert r.exit_code == 0, r.output
    assert "installed llm Cli-Model" in r.output and (home / "models" / "Cli-Model.gguf").is_file()
    r = CliRunner().invoke(cli, ["models", "download", server.url("/m/Tiny-Test.gguf"), "--sha256", "1" * 64,
                                 "--data-dir", str(home)])
    assert r.exit_code == 2 and "SHA-256 mismatch" in r.output
    r = CliRunner().invoke(cli, ["models", "download", server.url("/m/Tiny-Test.gguf"), "--quiet",
                                 "--sha256", hashlib.sha256(gguf_bytes).hexdigest(), "--data-dir", str(home)])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(cli, ["models", "list", "--json", "--data-dir", str(home)])
    rows = {x["name"]: x for x in json.loads(r.output)}
    assert rows["Tiny-Test"]["kv_heads"] == 2 and rows["Cli-Model"]["heads"] == 4


def test_complete_part_left_by_a_crash_before_the_rename_is_installed_without_refetching(server, gguf_bytes, tmp_path):
    models = tmp_path / "models"
    url = server.url("/m/Tiny-Test.gguf")
    part, meta = part_paths(url, models)
    part.parent.mkdir(parents=True)
    part.write_bytes(gguf_bytes)
    meta.write_text(json.dumps({"url": url, "sha256": None, "total": len(gguf_bytes), "validator": None}))
    m = download_model(url, models, sha256=hashlib.sha256(gguf_bytes).hexdigest())
    assert m.path.read_bytes() == gguf_bytes
    assert server.requests == [("/m/Tiny-Test.gguf", f"bytes={len(gguf_bytes)}-")]  # answered 416, nothing re-sent
