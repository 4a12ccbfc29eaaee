"""The ECG tab of the sources: what the reader saw, beside what it measured.

A paper ECG (image, PDF page, scanned DICOM) is shown with the digitised trace drawn over it (the
core's ``ecg_image.digitise_detail``: the traced columns and the trace's row at each, in the image's
pixels) and the strip that was read boxed. A signal ECG (DICOM waveform, MATLAB, WFDB) has no picture:
its lead is plotted with the R-peaks the analysis found. Beside either: heart rate, rhythm, PR, QRS, QT,
QTc and the reader's confidence.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import (
    QFrame,
    QGraphicsPathItem,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QVBoxLayout,
    QWidget,
)

from clinidoc.encounter import EcgFinding
from clinidoc.gui import theme
from clinidoc.gui.sources import ImagePane, staged_input, stored_pages
from clinidoc.gui.workers import run_in_background

TRACE_COLOUR = "#0077ff"

RHYTHM_WORDS = {
    "sinus_rhythm": "Sinus rhythm", "sinus_tachycardia": "Sinus tachycardia", "sinus_bradycardia": "Sinus bradycardia",
    "atrial_fibrillation": "Atrial fibrillation", "atrial_flutter": "Atrial flutter", "indeterminate": "Indeterminate",
}


def rhythm_text(rhythm: str | None) -> str:
    if not rhythm:
        return "—"
    return RHYTHM_WORDS.get(rhythm, rhythm.replace("_", " ").capitalize())


def finding_rows(f: EcgFinding | None) -> list[tuple[str, str]]:
    """(label, value) rows shown beside the ECG."""
    def ms(v):
        return f"{v:.0f} ms" if v is not None else "—"

    if f is None:
        return [("Rhythm", "not read")]
    return [
        ("Heart rate", f"{f.heart_rate_bpm:.0f} /min" if f.heart_rate_bpm is not None else "—"),
        ("Rhythm", rhythm_text(f.rhythm) + (f" ({why})" if (why := (f.model_extra or {}).get("rhythm_reason")) else "")),
        ("PR", ms(f.pr_ms)),
        ("QRS", ms(f.qrs_ms)),
        ("QT", ms(f.qt_ms)),
        ("QTc", ms(f.qtc_ms)),
        ("Confidence", f"{f.confidence:.2f}" if f.confidence is not None else "—"),
    ]


def trace_job(path: Path | None = None, data: bytes | None = None, suffix: str = "", page: int | None = None):
    """Worker: the digitised trace of a paper ECG as (xs, ys, bbox) in the page's pixels, or None."""
    from clinidoc.imaging import ecg_image

    pages = stored_pages(path, data, suffix)
    im = pages[(page or 1) - 1] if page and page <= len(pages) else pages[0]
    d = ecg_image.digitise_detail(im)
    if d is None or len(d.xs) < 2:
        return None
    return np.asarray(d.xs, float), np.asarray(d.ys, float), list(d.bbox)


def trace_path(xs: np.ndarray, ys: np.ndarray, max_gap: float = 3.0) -> QPainterPath:
    """A polyline through the traced points, broken where columns were skipped or the row is unknown."""
    path = QPainterPath()
    pen_down = False
    prev_x = None
    for x, y in zip(xs.tolist(), ys.tolist()):
        if not np.isfinite(y):
            pen_down = False
            continue
        if pen_down and prev_x is not None and x - prev_x <= max_gap:
            path.lineTo(x, y)
        else:
            path.moveTo(x, y)
            pen_down = True
        prev_x = x
    return path


class FactsPanel(QFrame):
    def __init__(self, finding: EcgFinding | None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFixedWidth(170)
        self.setStyleSheet("FactsPanel { background: #f6f8fa; border: 1px solid #e1e5ea; border-radius: 6px; }")
        grid = QGridLayout(self)
        grid.setContentsMargins(10, 10, 10, 10)
        grid.setVerticalSpacing(6)
        self.values: dict[str, QLabel] = {}
        for r, (label, value) in enumerate(finding_rows(finding)):
            k = QLabel(label)
            k.setObjectName("muted")
            v = QLabel(value)
            v.setStyleSheet("font-weight: 600;")
            v.setWordWrap(True)
            grid.addWidget(k, r, 0, Qt.AlignmentFlag.AlignTop)
            grid.addWidget(v, r, 1, Qt.AlignmentFlag.AlignTop)
            self.values[label] = v
        if finding is not None and finding.source.text:
            note = QLabel(finding.source.text)
            note.setObjectName("muted")
            note.setWordWrap(True)
            grid.addWidget(note, len(self.values), 0, 1, 2)
        grid.setRowStretch(len(self.values) + 1, 1)


class EcgImagePane(ImagePane):
    """A paper ECG: the image, the digitised trace over it, the measurements beside it."""

    def __init__(self, name: str, kind: str, finding: EcgFinding | None, parent: QWidget | None = None) -> None:
        super().__init__(name, kind, parent)
        self.finding = finding
        lay: QVBoxLayout = self.layout()  # type: ignore[assignment]
        lay.removeWidget(self.view)
        row = QHBoxLayout()
        row.setSpacing(8)
        row.addWidget(self.view, 1)
        self.facts = FactsPanel(finding)
        row.addWidget(self.facts)
        lay.addLayout(row, 1)
        self.trace_item: QGraphicsPathItem | None = None
        self.trace: tuple | None = None
        self._trace_src: dict | None = None

    def load_trace(self, **src) -> None:
        """Digitise in a worker (the same reader the analysis used); drawn once the image is shown."""
        if self.finding is not None and self.finding.source.page:
            src["page"] = self.finding.source.page
        run_in_background(trace_job, name=f"trace {self.name}", **src,
                          on_finished=self._traced, on_error=lambda exc: None)

    def _traced(self, trace) -> None:
        self.trace = trace
        self._draw_trace()

    def set_image(self, image) -> None:
        super().set_image(image)
        self._draw_trace()

    def _draw_trace(self) -> None:
        if not self.loaded or self.trace is None or self.trace_item is not None:
            return
        xs, ys, bbox = self.trace
        pen = QPen(QColor(TRACE_COLOUR), 2.0)
        pen.setCosmetic(True)
        colour = QColor(TRACE_COLOUR)
        colour.setAlpha(200)
        pen.setColor(colour)
        self.trace_item = self.view.scene().addPath(trace_path(xs, ys), pen)
        self.trace_item.setToolTip("Digitised trace: what the ECG reader measured")
        box = QPen(QColor(TRACE_COLOUR), 1.0, Qt.PenStyle.DashLine)
        box.setCosmetic(True)
        x0, y0, x1, y1 = bbox
        self.view.scene().addRect(QRectF(x0, y0, x1 - x0, y1 - y0), box).setToolTip("The strip that was read")


class SignalPlot(QWidget):
    """One lead in mV over seconds, R-peaks marked; paints itself (no plotting library)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumHeight(160)
        self.signal: np.ndarray | None = None
        self.fs = 250.0
        self.peaks: np.ndarray = np.zeros(0, int)
        self.caption = ""

    def set_signal(self, signal: np.ndarray, fs: float, peaks: np.ndarray, caption: str = "") -> None:
        self.signal, self.fs, self.peaks, self.caption = np.asarray(signal, float), float(fs), np.asarray(peaks, int), caption
        self.update()

    def paintEvent(self, event) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        r = self.rect().adjusted(8, 8, -8, -22)
        p.fillRect(self.rect(), QColor("#fff7f7"))
        grid = QPen(QColor("#f3c9c9"), 1)
        p.setPen(grid)
        if self.signal is None or self.signal.size < 2:
            p.setPen(QColor(theme.MUTED))
            p.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, "Reading the signal…")
            return
        seconds = self.signal.size / self.fs
        show = min(seconds, 10.0)  # the first 10 s, as a paper strip shows
        n = int(show * self.fs)
        sig = self.signal[:n]
        lo, hi = float(np.nanmin(sig)), float(np.nanmax(sig))
        if hi - lo < 1e-6:
            hi, lo = hi + 0.5, lo - 0.5
        pad = 0.1 * (hi - lo)
        lo, hi = lo - pad, hi + pad

        def pt(i: int, v: float) -> QPointF:
            return QPointF(r.left() + r.width() * i / max(1, n - 1), r.bottom() - r.height() * (v - lo) / (hi - lo))

        for s in range(int(show * 5) + 1):  # 0.2 s grid
            x = r.left() + r.width() * (s / 5) / show
            p.drawLine(QPointF(x, r.top()), QPointF(x, r.bottom()))
        step = max(1, n // max(1, r.width() * 2))
        path = QPainterPath(pt(0, sig[0]))
        for i in range(step, n, step):
            path.lineTo(pt(i, sig[i]))
        p.setPen(QPen(QColor("#1c2430"), 1.4))
        p.drawPath(path)
        p.setPen(QPen(QColor("#c0392b"), 1.2))
        p.setBrush(QColor("#c0392b"))
        for k in self.peaks[self.peaks < n]:
            c = pt(int(k), sig[int(k)])
            p.drawEllipse(c, 3.5, 3.5)
        p.setPen(QColor(theme.MUTED))
        p.drawText(QRectF(r.left(), r.bottom() + 4, r.width(), 16), Qt.AlignmentFlag.AlignLeft,
                   f"{self.caption}  ·  first {show:.0f} s of {seconds:.0f} s  ·  ● R-peaks")
        p.end()


def signal_job(src):
    """Worker: (signal in mV, fs, R-peak indices, lead caption) of a signal ECG, through the core's reader.
    ``src``: a path, or (bytes, suffix) of a stored input (through a private temporary file)."""
    from clinidoc.imaging.ecg import lead_signal
    from clinidoc.imaging.ecg_signal import r_peaks

    path, data, suffix = (Path(src), None, "") if isinstance(src, (str, Path)) else (None, src[0], src[1])
    with staged_input(path, data, suffix) as readable:
        sig, fs, caption = lead_signal(readable)
    return sig, fs, r_peaks(sig, fs), caption


class EcgSignalPane(QWidget):
    """A signal ECG: the lead with its R-peaks, and the measurements."""

    def __init__(self, name: str, finding: EcgFinding | None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.name = name
        self.finding = finding
        self.loaded = True  # nothing the window waits for
        lay = QVBoxLayout(self)
        lay.setContentsMargins(8, 8, 8, 8)
        cap = QLabel(f"{name}  ·  ECG signal")
        cap.setObjectName("muted")
        lay.addWidget(cap)
        row = QHBoxLayout()
        self.plot = SignalPlot()
        row.addWidget(self.plot, 1)
        self.facts = FactsPanel(finding)
        row.addWidget(self.facts)
        lay.addLayout(row, 1)
        self.status = QLabel("")
        self.status.setObjectName("muted")
        lay.addWidget(self.status)

    def load(self, src) -> None:
        run_in_background(signal_job, src, name=f"ecg {self.name}",
                          on_finished=lambda r: self.plot.set_signal(*r),
                          on_error=lambda exc: self.status.setText(f"The lead cannot be shown: {exc}"))

    def highlight(self, bbox) -> None:  # the sources panel's evidence interface
        pass
