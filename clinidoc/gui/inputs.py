"""The encounter's input files: a drop zone and a list with kind badges, per-file progress and errors.

Files can be dropped anywhere on the main window (it forwards drops here); the kind shown first
comes from the extension and the file's first bytes, and is refined by the pipeline's own
classification (lab report, ECG, X-ray ...) once processing has run.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QMimeData, Qt, Signal
from PySide6.QtWidgets import (
    QFrame, QHBoxLayout, QLabel, QListWidget, QListWidgetItem, QProgressBar, QPushButton, QSizePolicy, QVBoxLayout,
    QWidget,
)

from clinidoc.gui import theme

AUDIO_EXT = {".wav", ".flac", ".mp3", ".ogg", ".oga", ".opus", ".m4a", ".webm"}
IMAGE_EXT = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".gif", ".webp"}
TEXT_EXT = {".txt", ".md"}
PDF_EXT = {".pdf"}
DICOM_EXT = {".dcm", ".dicom"}
ACCEPTED_EXT = AUDIO_EXT | IMAGE_EXT | TEXT_EXT | PDF_EXT | DICOM_EXT
FILE_FILTER = (
    "Encounter files (" + " ".join(f"*{e}" for e in sorted(ACCEPTED_EXT)) + ");;"
    "Audio (" + " ".join(f"*{e}" for e in sorted(AUDIO_EXT)) + ");;"
    "Images and reports (" + " ".join(f"*{e}" for e in sorted(IMAGE_EXT | PDF_EXT | DICOM_EXT)) + ");;All files (*)"
)

KIND_LABELS = {
    "audio": "AUDIO", "transcript": "TEXT", "image": "IMAGE", "pdf": "PDF", "dicom": "DICOM",
    "lab_report": "LABS", "ecg": "ECG", "xray": "X-RAY", "photo": "PHOTO", "document": "DOC", "unknown": "?",
}


def guess_kind(path: Path) -> str:
    """audio / transcript / image / pdf / dicom / unknown, from the name and the first bytes."""
    ext = path.suffix.lower()
    if ext in AUDIO_EXT:
        return "audio"
    if ext in TEXT_EXT:
        return "transcript"
    try:
        from clinidoc.imaging.loading import sniff

        sniffed = sniff(path)
    except (OSError, ImportError):
        sniffed = "other"
    if sniffed == "dicom" or ext in DICOM_EXT:
        return "dicom"
    if sniffed == "pdf" or ext in PDF_EXT:
        return "pdf"
    if sniffed == "image" or ext in IMAGE_EXT:
        return "image"
    return "unknown"


def local_files(mime: QMimeData) -> list[Path]:
    """Local files (and files inside dropped folders, one level) from a drag's data."""
    out: list[Path] = []
    if not mime.hasUrls():
        return out
    for url in mime.urls():
        if not url.isLocalFile():
            continue
        p = Path(url.toLocalFile())
        if p.is_dir():
            out.extend(sorted(c for c in p.iterdir() if c.is_file() and c.suffix.lower() in ACCEPTED_EXT))
        elif p.is_file():
            out.append(p)
    return out


@dataclass
class InputFile:
    path: Path
    kind: str
    status: str = "ready"  # ready / working / done / error / stored
    fraction: float = 0.0
    error: str | None = None
    stored: bool = False  # already in the store (reopened encounter), not on disk


class _Row(QWidget):
    def __init__(self, f: InputFile) -> None:
        super().__init__()
        lay = QHBoxLayout(self)
        lay.setContentsMargins(6, 4, 6, 4)
        lay.setSpacing(8)
        self.badge = QLabel()
        self.badge.setFixedWidth(62)
        self.badge.setAlignment(Qt.AlignmentFlag.AlignCenter)
        lay.addWidget(self.badge)
        col = QVBoxLayout()
        col.setSpacing(1)
        self.name = QLabel(f.path.name)
        self.name.setToolTip(str(f.path))
        self.name.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        col.addWidget(self.name)
        self.status = QLabel()
        self.status.setObjectName("muted")
        self.status.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        col.addWidget(self.status)
        lay.addLayout(col, 1)
        self.bar = QProgressBar()
        self.bar.setRange(0, 100)
        self.bar.setTextVisible(False)
        self.bar.setFixedSize(54, 6)
        lay.addWidget(self.bar)
        self.update_from(f)

    def update_from(self, f: InputFile) -> None:
        self.badge.setText(KIND_LABELS.get(f.kind, f.kind.upper()))
        self.badge.setStyleSheet(theme.badge_style(f.kind))
        self.bar.setValue(int(round(f.fraction * 100)))
        self.bar.setVisible(f.status == "working")
        if f.status == "error":
            self.status.setText(f.error or "could not be read")
            self.status.setStyleSheet("color: #a8201a;")
            self.status.setToolTip(f.error or "")
        else:
            text = {"ready": "ready to process", "working": "processing...", "done": "processed",
                    "stored": "in the encrypted store"}.get(f.status, f.status)
            self.status.setText(text)
            self.status.setStyleSheet("")


class InputsPanel(QFrame):
    """Drop zone + file list. ``files_added`` fires with the new paths."""

    files_added = Signal(list)
    add_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("card")
        self.files: list[InputFile] = []
        self._rows: list[_Row] = []
        lay = QVBoxLayout(self)
        lay.setContentsMargins(10, 10, 10, 10)
        lay.setSpacing(6)
        head = QHBoxLayout()
        title = QLabel("Inputs")
        title.setObjectName("cardTitle")
        head.addWidget(title)
        head.addStretch(1)
        self.add_button = QPushButton("Add files…")
        self.add_button.setToolTip("Add recordings, lab reports, ECGs, X-rays (Ctrl+O)")
        self.add_button.clicked.connect(self.add_requested)
        head.addWidget(self.add_button)
        lay.addLayout(head)
        self.zone = QFrame()
        self.zone.setObjectName("dropZone")
        zl = QVBoxLayout(self.zone)
        zl.setContentsMargins(8, 8, 8, 8)
        hint = QLabel("Drop files anywhere on the window\naudio · lab reports · ECG · X-ray · PDF · DICOM")
        hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        hint.setObjectName("muted")
        zl.addWidget(hint)
        lay.addWidget(self.zone)
        self.list = QListWidget()
        self.list.setSelectionMode(QListWidget.SelectionMode.SingleSelection)
        self.list.setVerticalScrollMode(QListWidget.ScrollMode.ScrollPerPixel)
        lay.addWidget(self.list, 1)
        self.setAcceptDrops(True)

    # -- files ----------------------------------------------------------------------------------
    def add_paths(self, paths: list[Path]) -> list[InputFile]:
        known = {f.path.resolve() for f in self.files if not f.stored}
        added = []
        for p in map(Path, paths):
            if p.resolve() in known or not p.is_file():
                continue
            known.add(p.resolve())
            f = InputFile(p, guess_kind(p))
            self._append(f)
            added.append(f)
        if added:
            self.files_added.emit([f.path for f in added])
        return added

    def add_stored(self, name: str, kind: str) -> None:
        self._append(InputFile(Path(name), kind, status="stored", stored=True))

    def _append(self, f: InputFile) -> None:
        self.files.append(f)
        row = _Row(f)
        item = QListWidgetItem()
        item.setSizeHint(row.sizeHint())
        self.list.addItem(item)
        self.list.setItemWidget(item, row)
        self._rows.append(row)

    def clear(self) -> None:
        self.files.clear()
        self._rows.clear()
        self.list.clear()

    def pending(self) -> list[InputFile]:
        return [f for f in self.files if not f.stored]

    def refresh(self, f: InputFile) -> None:
        i = self.files.index(f)
        self._rows[i].update_from(f)

    def set_all(self, status: str, fraction: float = 0.0) -> None:
        for f in self.pending():
            f.status, f.fraction, f.error = status, fraction, None
            self.refresh(f)

    def set_active(self, drop_active: bool) -> None:
        self.zone.setProperty("active", drop_active)
        self.zone.style().unpolish(self.zone)
        self.zone.style().polish(self.zone)

    def kinds(self) -> dict[str, str]:
        return {f.path.name: f.kind for f in self.files}

    # -- drops straight onto the panel ------------------------------------------------------------
    def dragEnterEvent(self, event) -> None:  # noqa: N802
        if local_files(event.mimeData()):
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:  # noqa: N802
        self.add_paths(local_files(event.mimeData()))
        event.acceptProposedAction()
