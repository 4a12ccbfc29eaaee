"""The core never imports Qt: only clinidoc/gui may."""

import ast
import subprocess
import sys
from pathlib import Path

CORE = Path(__file__).resolve().parents[2] / "clinidoc"
QT = ("PySide6", "PyQt5", "PyQt6", "shiboken6")


def _core_files():
    return [p for p in CORE.rglob("*.py") if "gui" not in p.relative_to(CORE).parts]


def test_no_core_module_imports_qt_statically():
    offenders = []
    for path in _core_files():
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{path.relative_to(CORE)}: {n}" for n in names if n.split(".")[0] in QT]
    assert _core_files(), "no core modules found"
    assert offenders == []


def test_importing_every_core_module_loads_no_qt():
    modules = sorted(
        "clinidoc." + ".".join(p.relative_to(CORE).with_suffix("").parts).replace(".__init__", "")
        for p in _core_files()
    )
    modules = [m[: -len(".__init__")] if m.endswith(".__init__") else m for m in modules]
    code = (
        "import importlib, sys\n"
        f"for m in {modules!r}:\n    importlib.import_module(m)\n"
        f"print([q for q in {QT!r} if q in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
