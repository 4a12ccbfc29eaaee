import hashlib
import os

import pytest

from clinidoc.errors import ModelMissing
from clinidoc.weights import ModelRegistry


def test_embedded_defaults_resolve_to_real_files(registry):
    stt = registry.resolve("stt")
    llm = registry.resolve("llm")
    assert stt.origin == llm.origin == "embedded"
    assert (stt.path / "model.bin").stat().st_size > 30_000_000
    assert llm.path.name == "SmolLM2-135M-Instruct.Q4_1.gguf"


def test_sha256_is_real_and_cached_by_path_mtime_size(tmp_path):
    reg = ModelRegistry(tmp_path / "home")
    model = tmp_path / "tiny.gguf"
    model.write_bytes(b"GGUF" + os.urandom(1000))
    m = reg.resolve("llm", model)
    assert m.origin == "user"
    assert m.sha256 == hashlib.sha256(model.read_bytes()).hexdigest()
    # same path, size and mtime -> the cached value, even though the bytes changed underneath
    stat = model.stat()
    model.write_bytes(b"GGUF" + os.urandom(1000))
    os.utime(model, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert m.sha256 != hashlib.sha256(model.read_bytes()).hexdigest()
    # a new mtime invalidates it
    os.utime(model, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10_000_000_000))
    assert m.sha256 == hashlib.sha256(model.read_bytes()).hexdigest()


def test_models_folder_and_unknown_names(tmp_path, monkeypatch):
    folder = tmp_path / "models"
    folder.mkdir()
    (folder / "Local-Model-Q4_K_M.gguf").write_bytes(b"GGUF")
    monkeypatch.setenv("CLINIDOC_MODELS", str(folder))
    reg = ModelRegistry(tmp_path / "home")
    assert reg.resolve("llm", "Local-Model-Q4_K_M").path == folder / "Local-Model-Q4_K_M.gguf"
    with pytest.raises(ModelMissing, match="no llm model named 'nope'"):
        reg.resolve("llm", "nope")
    with pytest.raises(ModelMissing, match="not a faster-whisper"):
        reg.resolve("stt", folder / "Local-Model-Q4_K_M.gguf")


def test_a_model_split_across_packages_is_joined_once_and_atomically(tmp_path, monkeypatch):
    from clinidoc.weights.registry import SplitModel, assemble_split

    for n, payload in ((1, b"A" * 1000), (2, b"B" * 700)):
        pkg = tmp_path / "site" / f"fakeparts{n}"
        (pkg / "data").mkdir(parents=True)
        (pkg / "__init__.py").write_text("")
        (pkg / "data" / f"model.bin.part{n}").write_bytes(payload)
    (tmp_path / "site" / "fakeparts1" / "data" / "config.json").write_text("{}")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    model = SplitModel("stt", "fake-base", "fakeparts1",
                       (("fakeparts1", "data/model.bin.part1"), ("fakeparts2", "data/model.bin.part2")), "MIT")
    folder = assemble_split(model, tmp_path / "assembled")
    assert (folder / "model.bin").read_bytes() == b"A" * 1000 + b"B" * 700
    assert (folder / "config.json").is_file()
    assert not any(p.name.endswith(".partial") for p in (tmp_path / "assembled").iterdir())
    mtime = (folder / "model.bin").stat().st_mtime_ns
    assert assemble_split(model, tmp_path / "assembled") == folder
    assert (folder / "model.bin").stat().st_mtime_ns == mtime  # not joined again
    missing = SplitModel("stt", "gone", "fakeparts1", (("fakeparts1", "data/model.bin.part1"), ("nopkg_xyz", "x")), "MIT")
    assert assemble_split(missing, tmp_path / "assembled") is None
