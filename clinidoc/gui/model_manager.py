"""Model manager: the models on this machine with their facts, adding a local file, downloading from a URL
(progress, cancel, resume, SHA-256), and the default speech / language model.

Listing (GGUF headers, joining split models), hashing, copying and downloading all run in background
workers; the dialog only shows their results.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from clinidoc import settings as user_settings
from clinidoc.gui.workers import Worker, run_in_background
from clinidoc.progress import Progress

EMBEDDED_CHOICE = "(embedded default)"
COLUMNS = (("role", "Role"), ("name", "Name"), ("origin", "Origin"), ("size", "Size"), ("sha256", "SHA-256"),
           ("heads", "Heads q/kv"), ("layers", "Layers"), ("kv", "KV bytes/token"), ("ctx", "Context here"))


@dataclass
class ModelRow:
    role: str
    name: str
    origin: str  # "embedded" or "user"
    path: Path
    size_bytes: int
    heads: int | None = None
    kv_heads: int | None = None
    layers: int | None = None
    kv_bytes_per_token: int | None = None
    n_ctx: int | None = None
    kv_cache_type: str | None = None
    error: str | None = None
    model: object = None  # the registry's ModelFile (hashing goes through its cache)


def alive(widget: QWidget, fn):
    """`fn` wrapped so that a worker finishing after its dialog closed (and was deleted) does nothing."""
    from shiboken6 import isValid

    def call(*args):
        if isValid(widget) and not getattr(widget, "_closing", False):
            fn(*args)

    return call


def human(n: float | None) -> str:
    if n is None:
        return ""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def list_models_job(data_dir: Path, *, progress, cancel) -> list[ModelRow]:
    """Every model the registry finds, with its GGUF facts and the context budget on this machine."""
    from clinidoc.drafting.budget import fit_context
    from clinidoc.weights import ModelRegistry

    progress(Progress("models", None, "looking for models"))
    rows = []
    for m in ModelRegistry(Path(data_dir)).available():
        cancel.raise_if_cancelled()
        row = ModelRow(m.role, m.name, "embedded" if m.origin == "embedded" else "user", m.path, m.size_bytes, model=m)
        if m.role == "llm":
            try:
                info = m.gguf_info()
                b = fit_context(info, m.size_bytes)
                row.heads, row.kv_heads, row.layers = info.heads, info.kv_heads, info.layers
                row.kv_bytes_per_token, row.n_ctx, row.kv_cache_type = info.kv_bytes_per_token("f16"), b.n_ctx, b.kv_cache_type
            except Exception as exc:  # noqa: BLE001 - one broken file must not hide the others
                row.error = str(exc)
        rows.append(row)
    return rows


def hash_job(model, *, progress, cancel) -> str:
    """The model's SHA-256 through the registry's cache; a fresh hash stops when cancelled (closing the dialog)."""
    import hashlib

    def compute(path: Path) -> str:
        digest = hashlib.sha256()
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 22), b""):
                digest.update(block)
                cancel.raise_if_cancelled()
        return digest.hexdigest()

    facts = getattr(model, "_facts", None)
    return facts.get(model.weights_file, "sha256", compute) if facts is not None else compute(model.weights_file)


class ModelManagerDialog(QDialog):
    models_changed = Signal()  # a model was added
    defaults_changed = Signal(object)  # the saved Settings
    listed = Signal()  # the table was (re)filled
    hashed = Signal()  # every SHA-256 is shown
    job_finished = Signal(bool)  # an add or download ended: installed or not

    def __init__(self, data_dir: Path, parent: QWidget | None = None, *, allow_defaults: bool = True) -> None:
        super().__init__(parent)
        self.data_dir = Path(data_dir)
        self.models_dir = self.data_dir / "models"
        self.rows: list[ModelRow] = []
        self.sha: dict[str, str] = {}
        self.list_worker: Worker | None = None
        self.hash_worker: Worker | None = None
        self.job: Worker | None = None  # an add or a download
        self.last_error: str | None = None
        self.last_installed = None
        self._hash_queue: list[ModelRow] = []
        self.setWindowTitle("Model manager")
        self.resize(980, 620)
        lay = QVBoxLayout(self)

        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels([t for _, t in COLUMNS])
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setSectionResizeMode(4, QHeaderView.ResizeMode.Stretch)
        lay.addWidget(self.table, 1)
        self.list_status = QLabel("")
        self.list_status.setObjectName("muted")
        lay.addWidget(self.list_status)

        # defaults
        self.defaults_box = QGroupBox("Defaults")
        form = QFormLayout(self.defaults_box)
        self.stt_choice = QComboBox()
        self.llm_choice = QComboBox()
        form.addRow("Speech model", self.stt_choice)
        form.addRow("Language model", self.llm_choice)
        self.save_defaults_btn = QPushButton("Use these")
        self.save_defaults_btn.clicked.connect(self.save_defaults)
        form.addRow("", self.save_defaults_btn)
        self.defaults_box.setVisible(allow_defaults)
        lay.addWidget(self.defaults_box)

        # add a local file
        add_box = QGroupBox("Add a model from this computer")
        h = QHBoxLayout(add_box)
        self.add_file_btn = QPushButton("Add GGUF file…")
        self.add_file_btn.clicked.connect(self._choose_file)
        self.add_folder_btn = QPushButton("Add faster-whisper folder…")
        self.add_folder_btn.clicked.connect(self._choose_folder)
        h.addWidget(self.add_file_btn)
        h.addWidget(self.add_folder_btn)
        h.addStretch(1)
        lay.addWidget(add_box)

        # download
        dl_box = QGroupBox("Download a GGUF model from a URL you trust")
        v = QVBoxLayout(dl_box)
        f2 = QFormLayout()
        self.url = QLineEdit()
        self.url.setPlaceholderText("https://…/Model-Q4_K_M.gguf")
        self.url.textChanged.connect(self._url_changed)
        self.sha_input = QLineEdit()
        self.sha_input.setPlaceholderText("expected SHA-256 (recommended; a mismatch installs nothing)")
        f2.addRow("URL", self.url)
        f2.addRow("SHA-256", self.sha_input)
        v.addLayout(f2)
        row = QHBoxLayout()
        self.download_btn = QPushButton("Download")
        self.download_btn.clicked.connect(self.start_download)
        self.cancel_btn = QPushButton("Cancel")
        self.cancel_btn.clicked.connect(self.cancel_job)
        self.cancel_btn.setEnabled(False)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setValue(0)
        row.addWidget(self.download_btn)
        row.addWidget(self.cancel_btn)
        row.addWidget(self.progress, 1)
        v.addLayout(row)
        self.status = QLabel("clinidoc downloads only when you press Download, and only from this URL.")
        self.status.setWordWrap(True)
        self.status.setObjectName("muted")
        v.addWidget(self.status)
        lay.addWidget(dl_box)

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        lay.addWidget(buttons)
        self.refresh()

    # -- listing ------------------------------------------------------------------------------------
    def refresh(self) -> None:
        if self.list_worker is not None:
            self.list_worker.cancel()
        self.list_status.setText("Reading models…")
        self.list_worker = run_in_background(list_models_job, self.data_dir, on_finished=alive(self, self._show_rows),
                                             on_error=alive(self, lambda e: self.list_status.setText(
                                                 f"Could not list models: {e}")),
                                             name="list models", low_priority=True)

    def _show_rows(self, rows: list[ModelRow]) -> None:
        self.rows = rows
        self.table.setRowCount(len(rows))
        for r, m in enumerate(rows):
            values = {
                "role": "speech" if m.role == "stt" else "language", "name": m.name, "origin": m.origin,
                "size": human(m.size_bytes), "sha256": self.sha.get(str(m.path), "computing…"),
                "heads": f"{m.heads}/{m.kv_heads}" if m.heads else "", "layers": str(m.layers or ""),
                "kv": f"{m.kv_bytes_per_token:,}" if m.kv_bytes_per_token else "",
                "ctx": f"{m.n_ctx} ({m.kv_cache_type})" if m.n_ctx else (m.error or ""),
            }
            for c, (key, _) in enumerate(COLUMNS):
                item = QTableWidgetItem(values[key])
                item.setToolTip(str(m.path) if key in ("name", "origin") else values[key])
                self.table.setItem(r, c, item)
        self.list_status.setText(f"{len(rows)} models; user models live in {self.models_dir}")
        self._fill_choices()
        self._hash_queue = [m for m in rows if str(m.path) not in self.sha]
        self.listed.emit()
        self._hash_next()

    def _hash_next(self) -> None:
        if self.hash_worker is not None and not self.hash_worker.wait(0):
            return  # one at a time: it picks up the queue when done
        if not self._hash_queue:
            self.hashed.emit()
            return
        m = self._hash_queue.pop(0)
        self.hash_worker = run_in_background(hash_job, m.model, on_finished=alive(self, lambda h, m=m: self._hashed(m, h)),
                                             on_done=alive(self, self._hash_done), name="sha256", low_priority=True)

    def _hash_done(self) -> None:
        self.hash_worker = None
        self._hash_next()

    def _hashed(self, m: ModelRow, digest: str) -> None:
        self.sha[str(m.path)] = digest
        for r, row in enumerate(self.rows):
            if row.path == m.path and self.table.item(r, 4) is not None:
                self.table.item(r, 4).setText(digest)
                self.table.item(r, 4).setToolTip(digest)

    def row_for(self, name: str) -> ModelRow | None:
        return next((r for r in self.rows if r.name == name), None)

    # -- defaults -----------------------------------------------------------------------------------
    def _fill_choices(self) -> None:
        s = user_settings.load(self.data_dir)
        for combo, role, current in ((self.stt_choice, "stt", s.stt_model), (self.llm_choice, "llm", s.llm_model)):
            combo.clear()
            combo.addItem(EMBEDDED_CHOICE, None)
            for m in self.rows:
                if m.role == role and not (m.origin == "embedded" and m.name in self._embedded()):  # first item
                    combo.addItem(f"{m.name}  ({human(m.size_bytes)})", m.name)
            if current:
                i = combo.findData(current)
                if i < 0:
                    combo.addItem(current, current)
                    i = combo.count() - 1
                combo.setCurrentIndex(i)

    @staticmethod
    def _embedded() -> set[str]:
        from clinidoc.weights.registry import EMBEDDED

        return {m.name for m in EMBEDDED}

    def select_default(self, role: str, name: str | None) -> None:
        combo = self.stt_choice if role == "stt" else self.llm_choice
        i = combo.findData(name)
        if i < 0:
            raise ValueError(f"no {role} model {name!r} listed")
        combo.setCurrentIndex(i)

    def save_defaults(self) -> user_settings.Settings:
        s = user_settings.load(self.data_dir)
        s.stt_model, s.llm_model = self.stt_choice.currentData(), self.llm_choice.currentData()
        user_settings.save(s, self.data_dir)
        self.list_status.setText("Defaults saved; the next processing run uses them.")
        self.defaults_changed.emit(s)
        return s

    # -- add / download -----------------------------------------------------------------------------
    def _busy(self, busy: bool) -> None:
        for w in (self.add_file_btn, self.add_folder_btn, self.download_btn, self.url, self.sha_input):
            w.setEnabled(not busy)
        self.cancel_btn.setEnabled(busy)

    def _choose_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Add a GGUF model", str(Path.home()), "GGUF models (*.gguf)")
        if path:
            self.add_path(Path(path))

    def _choose_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Add a faster-whisper model folder", str(Path.home()))
        if path:
            self.add_path(Path(path))

    def add_path(self, path: Path) -> Worker | None:
        from clinidoc.weights.download import add_local_file

        if self.job is not None:
            return None
        self._busy(True)
        self.last_installed, self.last_error = None, None
        self.progress.setValue(0)
        self.status.setText(f"Checking and copying {Path(path).name}…")
        self.job = run_in_background(add_local_file, Path(path), self.models_dir, **self._job_callbacks(),
                                     name="add model", low_priority=True)
        return self.job

    def _url_changed(self) -> None:
        from clinidoc.weights.download import partial_bytes

        have = 0
        url = self.url.text().strip()
        if url:
            try:
                have = partial_bytes(url, self.models_dir)
            except Exception:  # noqa: BLE001 - a half-typed URL
                have = 0
        self.download_btn.setText(f"Resume ({human(have)} kept)" if have else "Download")

    def start_download(self) -> Worker | None:
        from clinidoc.weights.download import download_model

        url = self.url.text().strip()
        if self.job is not None or not url:
            if not url:
                self.status.setText("Enter the URL of a .gguf file.")
            return None
        self._busy(True)
        self.status.setText("Connecting…")
        self.last_installed, self.last_error = None, None
        self.job = run_in_background(download_model, url, self.models_dir, sha256=self.sha_input.text().strip() or None,
                                     **self._job_callbacks(), name="download model", low_priority=True)
        return self.job

    def _job_callbacks(self) -> dict:
        return {"on_progress": alive(self, self._on_progress), "on_finished": alive(self, self._installed),
                "on_error": alive(self, self._failed), "on_cancelled": alive(self, self._cancelled),
                "on_done": alive(self, self._job_done)}

    def cancel_job(self) -> None:
        if self.job is not None:
            self.job.cancel()

    def _on_progress(self, p: Progress) -> None:
        if p.fraction is None:
            self.progress.setRange(0, 0)
        else:
            self.progress.setRange(0, 1000)
            self.progress.setValue(int(p.fraction * 1000))
        if p.message:
            self.status.setText(p.message)

    def _installed(self, m) -> None:
        self.last_installed = m
        self.progress.setRange(0, 1000)
        self.progress.setValue(1000)
        self.status.setText(f"Installed {m.name} ({human(m.size_bytes)}), SHA-256 {m.sha256}")
        self.sha[str(m.path)] = m.sha256
        self.models_changed.emit()
        self.refresh()

    def _failed(self, exc: BaseException) -> None:
        from clinidoc.errors import ClinidocError

        self.last_error = str(exc) if isinstance(exc, ClinidocError) else f"{exc.__class__.__name__}: {exc}"
        self.progress.setRange(0, 1000)
        self.status.setText(self.last_error)

    def _cancelled(self) -> None:
        self.progress.setRange(0, 1000)
        self.status.setText("Cancelled. What was downloaded is kept: press Resume to continue.")

    def _job_done(self) -> None:
        ok = self.last_installed is not None and self.job is not None and self.last_error is None \
            and not self.job.is_cancelled
        self.job = None
        self._busy(False)
        self._url_changed()
        self.job_finished.emit(ok)

    # -- closing ------------------------------------------------------------------------------------
    def done(self, result: int) -> None:
        for w in (self.job, self.list_worker, self.hash_worker):
            if w is not None:
                w.cancel()
        self._hash_queue = []
        self._closing = True
        super().done(result)


def open_model_manager(parent, data_dir: Path) -> ModelManagerDialog:
    dlg = ModelManagerDialog(data_dir, parent)
    dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    dlg.open()
    return dlg
