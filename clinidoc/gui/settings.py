"""Settings dialog: default models, device and threads, note template, data folder, an optional on-premises
OpenAI-compatible server, font size. Reads and writes clinidoc.settings (settings.json in the data folder)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QApplication,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from clinidoc import config
from clinidoc import settings as user_settings
from clinidoc.gui.workers import Worker, run_in_background

EMBEDDED_CHOICE = "(embedded default)"
ENDPOINT_WARNING = ("Patient text is sent to this server when drafting. Use only a server run by your organisation "
                    "on its own network (on-premises), never a public cloud service.")


def engines_for(data_dir: Path):
    """Engines on the models, device, threads and server the settings choose (embedded defaults when none)."""
    return user_settings.build_engines(Path(data_dir))


def apply_font_scale(scale: float, app: QApplication | None = None) -> None:
    app = app or QApplication.instance()
    if app is None:
        return
    base = app.property("clinidoc_base_point_size")
    if base is None:
        base = app.font().pointSizeF()
        app.setProperty("clinidoc_base_point_size", base)
    font = app.font()
    font.setPointSizeF(float(base) * scale)
    app.setFont(font)


def _model_names_job(data_dir: Path, *, progress, cancel) -> dict[str, list[str]]:
    from clinidoc.weights import ModelRegistry
    from clinidoc.weights.registry import EMBEDDED

    default = {m.name for m in EMBEDDED}
    out: dict[str, list[str]] = {"stt": [], "llm": []}
    for m in ModelRegistry(Path(data_dir)).available():
        cancel.raise_if_cancelled()
        if not (m.origin == "embedded" and m.name in default) and m.name not in out[m.role]:
            out[m.role].append(m.name)
    return out


class SettingsDialog(QDialog):
    saved = Signal(object)  # the Settings written
    models_listed = Signal()

    def __init__(self, data_dir: Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.data_dir = Path(data_dir)
        self.settings = user_settings.load(self.data_dir)
        self.new_data_dir: Path | None = None
        self.worker: Worker | None = None
        self.setWindowTitle("Settings")
        self.setMinimumWidth(560)
        lay = QVBoxLayout(self)

        models = QGroupBox("Models")
        f = QFormLayout(models)
        self.stt = QComboBox()
        self.llm = QComboBox()
        for combo, current in ((self.stt, self.settings.stt_model), (self.llm, self.settings.llm_model)):
            combo.addItem(EMBEDDED_CHOICE, None)
            if current:
                combo.addItem(current, current)
                combo.setCurrentIndex(1)
        f.addRow("Speech model", self.stt)
        f.addRow("Language model", self.llm)
        manage = QPushButton("Model manager…")
        manage.clicked.connect(self.open_model_manager)
        f.addRow("", manage)
        lay.addWidget(models)

        compute = QGroupBox("Computation")
        f = QFormLayout(compute)
        self.device = QComboBox()
        for key, text in (("auto", "Automatic (GPU when available)"), ("cpu", "CPU only"), ("gpu", "GPU")):
            self.device.addItem(text, key)
        self.device.setCurrentIndex(max(0, self.device.findData(self.settings.device)))
        self.threads = QSpinBox()
        self.threads.setRange(0, 256)
        self.threads.setSpecialValueText("automatic")
        self.threads.setValue(self.settings.threads or 0)
        f.addRow("Device", self.device)
        f.addRow("Threads", self.threads)
        lay.addWidget(compute)

        note = QGroupBox("Notes")
        f = QFormLayout(note)
        self.template = QComboBox()
        for name in user_settings.available_templates():
            self.template.addItem(name, name)
        i = self.template.findData(self.settings.template)
        if i < 0:
            self.template.addItem(self.settings.template, self.settings.template)
            i = self.template.count() - 1
        self.template.setCurrentIndex(i)
        f.addRow("Template", self.template)
        self.font_scale = QDoubleSpinBox()
        self.font_scale.setRange(0.75, 2.0)
        self.font_scale.setSingleStep(0.05)
        self.font_scale.setSuffix(" ×")
        self.font_scale.setValue(self.settings.font_scale)
        f.addRow("Font size", self.font_scale)
        lay.addWidget(note)

        data = QGroupBox("Data folder")
        v = QVBoxLayout(data)
        row = QHBoxLayout()
        self.data_label = QLineEdit(str(self.data_dir))
        self.data_label.setReadOnly(True)
        change = QPushButton("Change…")
        change.clicked.connect(self._choose_data_dir)
        row.addWidget(self.data_label, 1)
        row.addWidget(change)
        v.addLayout(row)
        self.data_note = QLabel("A new folder is used from the next start; the current store is not moved.")
        self.data_note.setObjectName("muted")
        self.data_note.setWordWrap(True)
        v.addWidget(self.data_note)
        lay.addWidget(data)

        server = QGroupBox("On-premises drafting server (optional)")
        v = QVBoxLayout(server)
        self.endpoint = QLineEdit(self.settings.endpoint_url or "")
        self.endpoint.setPlaceholderText("http://llm.clinic.local:8080  (OpenAI-compatible; empty: the local model)")
        self.endpoint.textChanged.connect(self._check_endpoint)
        v.addWidget(self.endpoint)
        self.endpoint_warning = QLabel(ENDPOINT_WARNING)
        self.endpoint_warning.setWordWrap(True)
        self.endpoint_warning.setObjectName("muted")
        v.addWidget(self.endpoint_warning)
        lay.addWidget(server)

        self.error = QLabel("")
        self.error.setObjectName("errorText")
        self.error.setWordWrap(True)
        self.error.hide()
        lay.addWidget(self.error)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.save)
        buttons.rejected.connect(self.reject)
        lay.addWidget(buttons)
        self._check_endpoint()
        self.refresh_models()

    # -- models -------------------------------------------------------------------------------------
    def refresh_models(self) -> None:
        from clinidoc.gui.model_manager import alive

        self.worker = run_in_background(_model_names_job, self.data_dir, on_finished=alive(self, self._fill_models),
                                        name="list models", low_priority=True)

    def _fill_models(self, names: dict[str, list[str]]) -> None:
        for combo, role in ((self.stt, "stt"), (self.llm, "llm")):
            current = combo.currentData()
            combo.clear()
            combo.addItem(EMBEDDED_CHOICE, None)
            for n in names[role]:
                combo.addItem(n, n)
            if current and combo.findData(current) < 0:
                combo.addItem(f"{current} (not found)", current)
            combo.setCurrentIndex(max(0, combo.findData(current)))
        self.models_listed.emit()

    def select_model(self, role: str, name: str | None) -> None:
        combo = self.stt if role == "stt" else self.llm
        i = combo.findData(name)
        if i < 0:
            raise ValueError(f"no {role} model {name!r} listed")
        combo.setCurrentIndex(i)

    def open_model_manager(self):
        from clinidoc.gui.model_manager import ModelManagerDialog

        dlg = ModelManagerDialog(self.data_dir, self, allow_defaults=False)
        dlg.models_changed.connect(self.refresh_models)
        dlg.open()
        return dlg

    # -- other fields -------------------------------------------------------------------------------
    def _choose_data_dir(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Data folder", str(self.data_dir))
        if path:
            self.set_data_dir(Path(path))

    def set_data_dir(self, path: Path) -> None:
        self.new_data_dir = Path(path)
        self.data_label.setText(str(path))

    def _check_endpoint(self) -> None:
        url = self.endpoint.text().strip()
        public = bool(url) and not user_settings.is_on_premises(url)
        self.endpoint_warning.setText(ENDPOINT_WARNING + (
            "\n\n⚠ This address does not look like a server on your own network." if public else ""))
        self.endpoint_warning.setObjectName("errorText" if public else "muted")
        self.endpoint_warning.style().unpolish(self.endpoint_warning)
        self.endpoint_warning.style().polish(self.endpoint_warning)

    def values(self) -> user_settings.Settings:
        s = user_settings.Settings(**self.settings.__dict__)
        s.stt_model, s.llm_model = self.stt.currentData(), self.llm.currentData()
        s.device = self.device.currentData()
        s.threads = self.threads.value() or None
        s.template = self.template.currentData()
        s.font_scale = round(self.font_scale.value(), 2)
        s.endpoint_url = self.endpoint.text().strip() or None
        return s

    def save(self) -> bool:
        from clinidoc.errors import ClinidocError

        try:
            s = self.values().validate()
            user_settings.save(s, self.data_dir)
            if self.new_data_dir is not None and self.new_data_dir != self.data_dir:
                self.new_data_dir.mkdir(parents=True, exist_ok=True)
                config.record_data_dir(self.new_data_dir)
                user_settings.save(s, self.new_data_dir)  # the new folder starts with the same choices
        except (ClinidocError, OSError) as exc:
            self.error.setText(str(exc))
            self.error.show()
            return False
        self.settings = s
        apply_font_scale(s.font_scale)
        self.saved.emit(s)
        self.accept()
        return True

    def done(self, result: int) -> None:
        if self.worker is not None:
            self.worker.cancel()
        self._closing = True
        super().done(result)


def apply_settings(window, s: user_settings.Settings) -> None:
    """After a save: the next processing run loads the chosen models (a run in progress keeps its own)."""
    old = window._engines
    now = (s.stt_model, s.llm_model, s.device, s.threads, s.endpoint_url)
    if old is None or (old.stt_model, old.llm_model, getattr(old, "device", "auto"), getattr(old, "threads", None),
                       getattr(old, "endpoint_url", None)) != now:
        window._engines = None  # MainWindow.engines builds new ones from the settings on next use


def open_settings(window) -> SettingsDialog:
    dlg = SettingsDialog(window.data_dir, window)
    dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    dlg.saved.connect(lambda s: apply_settings(window, s))
    dlg.open()
    return dlg
