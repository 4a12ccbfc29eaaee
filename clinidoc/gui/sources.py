"""Left side of the editor: the sources a note was made from.

The transcript (segments with their times, searchable) and each image (zoomable, with the boxes
of the lab rows read from it). ``show_evidence`` highlights where a fact came from: a transcript
segment by time or by text, or a box on an image.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from PySide6.QtCore import QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QBrush, QColor, QImage, QPainter, QPen, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView, QFrame, QGraphicsPixmapItem, QGraphicsRectItem, QGraphicsScene, QGraphicsView, QHBoxLayout,
    QHeaderView, QLabel, QLineEdit, QPushButton, QTableWidget, QTableWidgetItem, QTabWidget, QVBoxLayout, QWidget,
)

from clinidoc.encounter import EncounterResult, Evidence
from clinidoc.gui import theme
from clinidoc.gui.workers import run_in_background


def clock(seconds: float) -> str:
    m, s = divmod(max(0.0, seconds), 60)
    return f"{int(m):02d}:{s:04.1f}"


def _norm(text: str) -> str:
    return " ".join(text.lower().split())


# -- transcript ---------------------------------------------------------------------------------

class TranscriptView(QWidget):
    play_requested = Signal(int)  # a segment's row: its time was clicked

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(8, 8, 8, 8)
        lay.setSpacing(6)
        bar = QHBoxLayout()
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search the transcript")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(self.apply_search)
        bar.addWidget(self.search, 1)
        self.count = QLabel("")
        self.count.setObjectName("muted")
        bar.addWidget(self.count)
        lay.addLayout(bar)
        self.play_status = QLabel("")
        self.play_status.setObjectName("muted")
        self.play_status.setWordWrap(True)
        self.play_status.hide()
        lay.addWidget(self.play_status)
        self.table = QTableWidget(0, 2)
        self.table.setHorizontalHeaderLabels(["Time", "Said"])
        self.table.verticalHeader().hide()
        self.table.setShowGrid(False)
        self.table.setWordWrap(True)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        lay.addWidget(self.table, 1)
        self.table.cellClicked.connect(self._clicked)
        self.segments = []
        self.highlighted: list[int] = []
        self.playable = False

    def set_playable(self, on: bool) -> None:
        """Times become click-to-play (a recording is there to play)."""
        if on != self.playable:
            self.playable = on
            self._fill_times()

    def _clicked(self, row: int, col: int) -> None:
        if col == 0 and self.playable and 0 <= row < len(self.segments) and self.segments[row].end > 0:
            self.play_requested.emit(row)

    def _fill_times(self) -> None:
        timed = any(s.end > 0 for s in self.segments)
        for i, seg in enumerate(self.segments):
            t = self.table.item(i, 0)
            if t is None:
                continue
            play = self.playable and timed
            t.setText((f"▶ {clock(seg.start)}" if play else clock(seg.start)) if timed else f"#{i + 1}")
            t.setForeground(QColor(theme.ACCENT if play else theme.MUTED))
            t.setToolTip((f"{seg.start:.2f} s - {seg.end:.2f} s" + (": click to play" if play else "")) if timed
                         else "typed transcript: no times")

    def show_play_status(self, text: str) -> None:
        self.play_status.setText(text)
        self.play_status.setVisible(bool(text))

    def set_transcript(self, transcript, follow: bool = False) -> None:
        """``follow``: a live transcript; keep the newest words in view."""
        self.segments = list(transcript.segments)
        self.table.setRowCount(len(self.segments))
        for i, seg in enumerate(self.segments):
            t = QTableWidgetItem("")
            t.setFont(theme.mono_font(9))
            t.setTextAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
            text = f"[{seg.speaker}] {seg.text}" if seg.speaker else seg.text
            self.table.setItem(i, 0, t)
            self.table.setItem(i, 1, QTableWidgetItem(text))
        self._fill_times()
        self.highlighted = []
        self.apply_search(self.search.text())
        if follow and self.segments:
            self.table.scrollToBottom()

    def apply_search(self, query: str) -> None:
        q = _norm(query)
        hits = 0
        for i, seg in enumerate(self.segments):
            match = not q or q in _norm(seg.text)
            self.table.setRowHidden(i, not match)
            hits += match
        self.count.setText(f"{hits} of {len(self.segments)}" if q else f"{len(self.segments)} segments")

    def rows_for(self, ev: Evidence) -> list[int]:
        rows: list[int] = []
        if ev.start is not None and ev.end is not None and ev.end > 0:
            rows = [i for i, s in enumerate(self.segments) if s.start < ev.end and s.end > ev.start]
        if not rows and ev.text:
            needle = _norm(ev.text)[:60]
            rows = [i for i, s in enumerate(self.segments) if needle and needle in _norm(s.text)]
            if not rows:  # evidence may span segments: match its first words
                head = " ".join(needle.split()[:4])
                rows = [i for i, s in enumerate(self.segments) if head and head in _norm(s.text)][:1]
        return rows

    def highlight(self, rows: list[int]) -> None:
        for i in self.highlighted:
            for c in range(2):
                item = self.table.item(i, c)
                if item:
                    item.setBackground(QBrush())
        self.highlighted = rows
        for i in rows:
            for c in range(2):
                item = self.table.item(i, c)
                if item:
                    item.setBackground(QColor(theme.HIGHLIGHT))
        if rows:
            if self.table.isRowHidden(rows[0]):
                self.search.clear()
            self.table.scrollToItem(self.table.item(rows[0], 1), QAbstractItemView.ScrollHint.PositionAtCenter)


# -- images -------------------------------------------------------------------------------------

@contextmanager
def staged_input(path: Path | None = None, data: bytes | None = None, suffix: str = "") -> Iterator[Path]:
    """A readable path for an input: its own path, or for inputs kept in the encrypted store (bytes) a
    private temporary file that is removed as soon as the block ends."""
    if path is not None:
        yield Path(path)
        return
    with tempfile.TemporaryDirectory(prefix="clinidoc-view-") as tmpdir:
        os.chmod(tmpdir, 0o700)
        staged = Path(tmpdir) / f"input{suffix}"
        staged.write_bytes(data or b"")
        yield staged


def stored_pages(path: Path | None = None, data: bytes | None = None, suffix: str = "") -> list:
    """The pages of an input as PIL images, read into memory (runs in a worker)."""
    from clinidoc.imaging.loading import load_pages

    with staged_input(path, data, suffix) as readable:
        pages = load_pages(readable)
        for page in pages:
            page.load()  # the pixels in memory before a staged file goes
        return pages


def load_qimage(path: Path | None = None, data: bytes | None = None, suffix: str = "") -> QImage:
    """First page of an image, PDF or DICOM as a QImage (runs in a worker; QImage is thread-safe)."""
    im = stored_pages(path, data, suffix)[0].convert("RGB")
    raw = im.tobytes()
    q = QImage(raw, im.width, im.height, 3 * im.width, QImage.Format.Format_RGB888)
    return q.copy()  # own the pixels: `raw` goes away


class ImageView(QGraphicsView):
    """A zoomable image with evidence boxes; wheel zooms, drag pans."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setScene(QGraphicsScene(self))
        self.setRenderHints(QPainter.RenderHint.Antialiasing | QPainter.RenderHint.SmoothPixmapTransform)
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setBackgroundBrush(QColor("#e9ecef"))
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.pixmap_item: QGraphicsPixmapItem | None = None
        self.boxes: list[tuple[list[float], QGraphicsRectItem]] = []
        self._fit = True

    def set_image(self, image: QImage) -> None:
        self.scene().clear()
        self.boxes = []
        self.pixmap_item = self.scene().addPixmap(QPixmap.fromImage(image))
        self.scene().setSceneRect(QRectF(image.rect()))
        self.fit()

    def add_box(self, bbox: list[float], tooltip: str, abnormal: bool) -> None:
        x0, y0, x1, y1 = bbox
        colour = QColor("#c0392b" if abnormal else theme.ACCENT)
        item = QGraphicsRectItem(QRectF(x0 - 3, y0 - 3, x1 - x0 + 6, y1 - y0 + 6))
        pen = QPen(colour, 1.5)
        pen.setCosmetic(True)
        item.setPen(pen)
        fill = QColor(colour)
        fill.setAlpha(18)
        item.setBrush(fill)
        item.setToolTip(tooltip)
        self.scene().addItem(item)
        self.boxes.append((bbox, item))

    def highlight(self, bbox: list[float] | None) -> None:
        for b, item in self.boxes:
            on = bbox is not None and all(abs(p - q) < 1.0 for p, q in zip(b, bbox))
            pen = item.pen()
            pen.setWidthF(3.0 if on else 1.5)
            item.setPen(pen)
            fill = QColor(theme.HIGHLIGHT if on else pen.color())
            fill.setAlpha(120 if on else 18)
            item.setBrush(fill)
            if on:  # after the pane has its final size (it may have just become the current tab)
                QTimer.singleShot(0, lambda item=item: self.show_box(item))

    def show_box(self, item: QGraphicsRectItem) -> None:
        """Zoom until the row reads at text size (about 26 px tall), centred on its box."""
        if self.pixmap_item is None or item.scene() is not self.scene():
            return
        page, box = self.pixmap_item.boundingRect(), item.rect()
        fit = min(self.viewport().width() / max(1.0, page.width()), self.viewport().height() / max(1.0, page.height()))
        factor = min(2.0, max(fit, 26.0 / max(1.0, box.height())))
        self._fit = False
        self.resetTransform()
        self.scale(factor, factor)
        self.centerOn(item)

    def fit(self) -> None:
        if self.pixmap_item is not None:
            self._fit = True
            self.fitInView(self.pixmap_item, Qt.AspectRatioMode.KeepAspectRatio)

    def zoom(self, factor: float) -> None:
        self._fit = False
        self.scale(factor, factor)

    def wheelEvent(self, event) -> None:  # noqa: N802
        self.zoom(1.15 if event.angleDelta().y() > 0 else 1 / 1.15)

    def resizeEvent(self, event) -> None:  # noqa: N802
        super().resizeEvent(event)
        if self._fit:
            self.fit()


class ImagePane(QWidget):
    def __init__(self, name: str, kind: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.name = name
        lay = QVBoxLayout(self)
        lay.setContentsMargins(8, 8, 8, 8)
        lay.setSpacing(6)
        bar = QHBoxLayout()
        self.caption = QLabel(f"{name}  ·  {kind.replace('_', ' ')}")
        self.caption.setObjectName("muted")
        bar.addWidget(self.caption, 1)
        self.view = ImageView()
        for text, tip, slot in (("−", "Zoom out", lambda: self.view.zoom(1 / 1.25)),
                                ("+", "Zoom in", lambda: self.view.zoom(1.25)),
                                ("Fit", "Fit to the pane", self.view.fit)):
            b = QPushButton(text)
            b.setToolTip(tip)
            b.setFixedWidth(44)
            b.clicked.connect(slot)
            bar.addWidget(b)
        lay.addLayout(bar)
        self.status = QLabel("Loading image…")
        self.status.setObjectName("muted")
        self.status.setAlignment(Qt.AlignmentFlag.AlignCenter)
        lay.addWidget(self.status)
        lay.addWidget(self.view, 1)
        self.pending_boxes: list[tuple[list[float], str, bool]] = []
        self.pending_highlight: list[float] | None = None
        self.loaded = False

    def set_image(self, image: QImage) -> None:
        self.status.hide()
        self.view.set_image(image)
        for b in self.pending_boxes:
            self.view.add_box(*b)
        self.loaded = True
        if self.pending_highlight:
            self.view.highlight(self.pending_highlight)

    def set_failed(self, message: str) -> None:
        self.status.setText(f"Cannot show this file: {message}")

    def highlight(self, bbox: list[float] | None) -> None:
        self.pending_highlight = bbox
        if self.loaded:
            self.view.highlight(bbox)


class SourcesPanel(QFrame):
    """Tabs: the transcript, then one per image."""

    image_loaded = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("card")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(10, 10, 10, 10)
        lay.setSpacing(6)
        title = QLabel("Sources")
        title.setObjectName("cardTitle")
        lay.addWidget(title)
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.transcript = TranscriptView()
        self.tabs.addTab(self.transcript, "Transcript")
        lay.addWidget(self.tabs, 1)
        self.images: dict[str, ImagePane] = {}
        self._workers = []
        from clinidoc.gui.playback import Player

        self.player = Player()
        self.audio_source = None  # a path, or (fetch() -> bytes, suffix) for a stored recording
        self._decoding = None
        self._play_row: int | None = None
        self.transcript.play_requested.connect(self.play_segment)

    def set_audio(self, source) -> None:
        """The recording behind the transcript (decoded on the first click), or None."""
        self.player.load(None)
        self.audio_source = source
        self._decoding = None
        self.transcript.show_play_status("")
        self.transcript.set_playable(source is not None)

    def play_segment(self, row: int):
        """Play one transcript segment (decoding the recording first, in a worker, if needed)."""
        from clinidoc.gui.playback import NoOutputDevice, decode_source

        if self.audio_source is None or not (0 <= row < len(self.transcript.segments)):
            return None
        self._play_row = row
        if self.player.samples is None:
            if self._decoding is None:
                src = self.audio_source
                if isinstance(src, tuple) and callable(src[0]):
                    src = (src[0](), src[1])  # the store is read on this thread only
                self.transcript.show_play_status("Loading the recording…")
                self._decoding = run_in_background(decode_source, src, name="decode recording",
                                                   on_finished=self._decoded, on_error=self._decode_failed)
            return None
        seg = self.transcript.segments[row]
        try:
            span = self.player.play_span(seg.start, seg.end)
        except NoOutputDevice as exc:
            self.transcript.show_play_status(str(exc))
            return None
        except ValueError as exc:
            self.transcript.show_play_status(f"Cannot play this segment: {exc}")
            return None
        self.transcript.show_play_status(f"Playing {clock(seg.start)} – {clock(seg.end)}")
        return span

    def _decoded(self, samples) -> None:
        self.player.load(samples)
        self._decoding = None
        self.transcript.show_play_status("")
        if self._play_row is not None:
            self.play_segment(self._play_row)

    def _decode_failed(self, exc: BaseException) -> None:
        self._decoding = None
        self.transcript.show_play_status(f"The recording cannot be played: {exc}")

    def clear(self) -> None:
        for w in self._workers:
            w.cancel()
        self._workers = []
        self.set_audio(None)
        while self.tabs.count() > 1:
            self.tabs.removeTab(1)
        self.images = {}
        from clinidoc.encounter import Transcript

        self.transcript.set_transcript(Transcript())

    def set_result(self, result: EncounterResult, files: dict[str, Path | tuple[int, bytes]] | None = None) -> None:
        """``files`` maps an input's name to its path on disk, or to (input id, bytes) from the store."""
        self.clear()
        self.transcript.set_transcript(result.transcript)
        files = files or {}
        from clinidoc.gui.ecg_view import EcgImagePane, EcgSignalPane

        for art in result.images:
            src = files.get(art.file)
            finding = next((e for e in result.ecg if e.source.source == art.file), None) if art.kind == "ecg" else None
            if finding is not None and finding.source.bbox is None and not art.error:  # a signal ECG: plot its lead
                spane = EcgSignalPane(art.file, finding)
                self.images[art.file] = spane  # type: ignore[assignment]
                self.tabs.addTab(spane, art.file)
                if src is not None:
                    spane.load(src if isinstance(src, Path) else (src[1], Path(art.file).suffix))
                continue
            pane = EcgImagePane(art.file, art.kind, finding) if art.kind == "ecg" else ImagePane(art.file, art.kind)
            self.images[art.file] = pane
            self.tabs.addTab(pane, art.file)
            for lab in result.labs:
                if lab.source.source == art.file and lab.source.bbox:
                    tip = f"{lab.test}: {lab.value} {lab.unit or ''} {lab.flag or ''}".strip()
                    pane.pending_boxes.append((lab.source.bbox, tip, lab.flag not in (None, "N")))
            src = files.get(art.file)
            if art.error:
                pane.set_failed(art.error)
            elif src is None:
                pane.set_failed("the file is not available")
            else:
                kwargs = {"path": src} if isinstance(src, Path) else {"data": src[1], "suffix": Path(art.file).suffix}
                if isinstance(pane, EcgImagePane):
                    pane.load_trace(**kwargs)
                self._workers.append(run_in_background(
                    load_qimage, name=f"load {art.file}", **kwargs,
                    on_finished=lambda img, p=pane: (p.set_image(img), self.image_loaded.emit(p.name)),
                    on_error=lambda exc, p=pane: p.set_failed(str(exc)),
                ))

    def show_evidence(self, evidence: list[Evidence]) -> None:
        rows: list[int] = []
        shown_image = False
        for ev in evidence:
            if ev.source in self.images:
                pane = self.images[ev.source]
                if not shown_image:
                    self.tabs.setCurrentWidget(pane)
                    shown_image = True
                pane.highlight(ev.bbox)
            else:
                rows.extend(self.transcript.rows_for(ev))
        if rows or not shown_image:
            self.transcript.highlight(sorted(set(rows)))
            if rows:
                self.tabs.setCurrentWidget(self.transcript)
