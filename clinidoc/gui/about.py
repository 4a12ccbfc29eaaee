"""About: versions of clinidoc and the libraries it runs on, the models with their licences, the data folder."""

from __future__ import annotations

import platform
from importlib import metadata
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QVBoxLayout, QWidget

LIBRARIES = (("llama-cpp-python", "llama_cpp_python"), ("faster-whisper", "faster-whisper"),
             ("CTranslate2", "ctranslate2"), ("RapidOCR", "rapidocr"), ("gguf", "gguf"))


def _version(dist: str) -> str:
    for name in (dist, dist.replace("_", "-"), dist.replace("-", "_")):
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    if dist.startswith("rapidocr"):
        for alt in ("rapidocr_onnxruntime", "rapidocr-onnxruntime"):
            try:
                return metadata.version(alt)
            except metadata.PackageNotFoundError:
                pass
    return "not installed"


def about_facts(data_dir: Path) -> dict:
    """Plain facts (no Qt objects) so they can be tested and copied."""
    import PySide6
    from PySide6 import QtCore

    from clinidoc import __version__
    from clinidoc import settings as user_settings
    from clinidoc.weights.registry import EMBEDDED, SPLIT

    s = user_settings.load(data_dir)
    versions = {"clinidoc": __version__, "Python": platform.python_version(), "Qt": QtCore.qVersion(),
                "PySide6": PySide6.__version__}
    versions.update({label: _version(dist) for label, dist in LIBRARIES})
    models = [{"role": m.role, "name": m.name, "licence": m.licence, "kind": "embedded"} for m in EMBEDDED]
    models += [{"role": m.role, "name": m.name, "licence": m.licence, "kind": "optional extra"} for m in SPLIT]
    chosen = {"stt": s.stt_model, "llm": s.llm_model}
    return {"versions": versions, "models": models, "chosen": chosen, "data_dir": str(data_dir),
            "endpoint_url": s.endpoint_url}


class AboutDialog(QDialog):
    def __init__(self, data_dir: Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.facts = about_facts(Path(data_dir))
        self.setWindowTitle("About clinidoc")
        self.setMinimumWidth(520)
        lay = QVBoxLayout(self)
        title = QLabel(f"clinidoc {self.facts['versions']['clinidoc']}")
        title.setObjectName("patientName")
        lay.addWidget(title)
        sub = QLabel("Clinical notes from an encounter, entirely on this computer. No patient data leaves it "
                     "unless you configure an on-premises drafting server.")
        sub.setWordWrap(True)
        sub.setObjectName("muted")
        lay.addWidget(sub)
        rows = "".join(f"<tr><td>{k}</td><td>&nbsp;&nbsp;{v}</td></tr>" for k, v in self.facts["versions"].items())
        models = "".join(
            f"<tr><td>{'speech' if m['role'] == 'stt' else 'language'}</td><td>&nbsp;&nbsp;{m['name']}</td>"
            f"<td>&nbsp;&nbsp;{m['licence']}</td><td>&nbsp;&nbsp;{m['kind']}</td></tr>" for m in self.facts["models"])
        chosen = ", ".join(f"{'speech' if r == 'stt' else 'language'}: {n or 'embedded default'}"
                           for r, n in self.facts["chosen"].items())
        self.text = QLabel(
            f"<h4>Versions</h4><table>{rows}</table>"
            f"<h4>Models</h4><table>{models}</table><p>In use: {chosen}. Models you add carry their own "
            f"licences (e.g. Llama 3.x: the Llama Community Licence; Whisper: MIT).</p>"
            f"<h4>Data folder</h4><p>{self.facts['data_dir']}</p>")
        self.text.setTextFormat(Qt.TextFormat.RichText)
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.text.setWordWrap(True)
        lay.addWidget(self.text)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        lay.addWidget(buttons)


def open_about(window) -> AboutDialog:
    dlg = AboutDialog(window.data_dir, window)
    dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    dlg.open()
    return dlg
