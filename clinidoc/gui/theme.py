"""Colours, fonts and the application style sheet: one calm, light theme."""

from __future__ import annotations

from PySide6.QtGui import QColor, QFont, QFontDatabase, QPalette
from PySide6.QtWidgets import QApplication

INK = "#1f2328"
MUTED = "#5f6b7a"
LINE = "#d9dee4"
CANVAS = "#f3f5f7"
PANEL = "#ffffff"
ACCENT = "#0b5c7a"
ACCENT_SOFT = "#e3f0f5"
HIGHLIGHT = "#fff2b3"

SEVERITY = {
    # severity: (text colour, background, label)
    "error": ("#a8201a", "#fce8e6", "Errors"),
    "warning": ("#8a5300", "#fff3dc", "Warnings"),
    "info": ("#1a5796", "#e8f0fe", "Information"),
}

# kind badge: (text, background)
KIND_COLOURS = {
    "audio": ("#5b2c83", "#efe6f7"),
    "transcript": ("#37474f", "#eceff1"),
    "lab_report": ("#0b5c7a", "#e1f1f7"),
    "ecg": ("#a8201a", "#fce8e6"),
    "xray": ("#2e3b4e", "#e4e8ee"),
    "dicom": ("#2e3b4e", "#e4e8ee"),
    "pdf": ("#7a4b00", "#fff1d6"),
    "image": ("#1e6b3a", "#e3f4e8"),
    "document": ("#7a4b00", "#fff1d6"),
    "photo": ("#1e6b3a", "#e3f4e8"),
    "unknown": ("#5f6b7a", "#eef0f3"),
}

_FAMILIES = ["Inter", "Segoe UI", "Noto Sans", "Cantarell", "Helvetica Neue", "Arial", "DejaVu Sans"]
_MONO = ["JetBrains Mono", "Cascadia Mono", "Consolas", "Noto Sans Mono", "DejaVu Sans Mono", "Monospace"]


def _first_family(candidates: list[str]) -> str:
    have = set(QFontDatabase.families())
    return next((f for f in candidates if f in have), candidates[-1])


def ui_font(point_size: float = 10) -> QFont:
    f = QFont(_first_family(_FAMILIES))
    f.setPointSizeF(point_size)
    return f


def mono_font(point_size: float = 9.5) -> QFont:
    f = QFont(_first_family(_MONO))
    f.setStyleHint(QFont.StyleHint.Monospace)
    f.setPointSizeF(point_size)
    return f


STYLE_SHEET = f"""
QMainWindow, QDialog {{ background: {CANVAS}; }}
QWidget {{ color: {INK}; }}
QToolBar {{ background: {PANEL}; border: none; border-bottom: 1px solid {LINE}; spacing: 4px; padding: 4px 8px; }}
QToolBar QToolButton {{ padding: 5px 10px; border-radius: 5px; border: 1px solid transparent; }}
QToolBar QToolButton:hover {{ background: {ACCENT_SOFT}; border-color: #c5dde7; }}
QToolBar QToolButton:disabled {{ color: #a0a8b2; }}
QToolBar QToolButton#primary {{ background: {ACCENT}; color: white; font-weight: 600; }}
QToolBar QToolButton#primary:disabled {{ background: #9fb9c4; color: #eef3f5; }}
QStatusBar {{ background: {PANEL}; border-top: 1px solid {LINE}; color: {MUTED}; }}
QFrame#card {{ background: {PANEL}; border: 1px solid {LINE}; border-radius: 8px; }}
QLabel#cardTitle {{ font-weight: 600; font-size: 10.5pt; color: {INK}; }}
QLabel#sectionTitle {{ font-weight: 600; color: {ACCENT}; letter-spacing: 0.5px; }}
QLabel#muted {{ color: {MUTED}; }}
QLabel#patientName {{ font-size: 14pt; font-weight: 600; }}
QLabel#statusDraft {{ background: #fff3dc; color: #8a5300; border-radius: 9px; padding: 2px 10px; font-weight: 600; }}
QLabel#statusSigned {{ background: #e3f4e8; color: #1e6b3a; border-radius: 9px; padding: 2px 10px; font-weight: 600; }}
QLabel#allergy {{ background: #fce8e6; color: #a8201a; border-radius: 9px; padding: 2px 8px; font-weight: 600; }}
QLabel#errorText {{ color: #a8201a; }}
QLineEdit, QPlainTextEdit, QTextEdit, QComboBox, QDateEdit, QSpinBox {{
    background: {PANEL}; border: 1px solid {LINE}; border-radius: 5px; padding: 4px 6px;
    selection-background-color: #cfe4ee; selection-color: {INK};
}}
QLineEdit:focus, QPlainTextEdit:focus, QTextEdit:focus, QComboBox:focus {{ border-color: {ACCENT}; }}
QPlainTextEdit[readOnly="true"], QTextEdit[readOnly="true"] {{ background: #f7f8fa; }}
QTableWidget, QTreeWidget, QListWidget {{
    background: {PANEL}; border: 1px solid {LINE}; border-radius: 6px; gridline-color: #eceff2;
    selection-background-color: #d5e8f0; selection-color: {INK}; alternate-background-color: #fafbfc;
}}
QHeaderView::section {{ background: #f7f8fa; color: {MUTED}; border: none; border-bottom: 1px solid {LINE};
    padding: 4px 6px; font-weight: 600; }}
QTabWidget::pane {{ border: 1px solid {LINE}; border-radius: 6px; background: {PANEL}; top: -1px; }}
QTabBar::tab {{ padding: 6px 14px; border: 1px solid transparent; color: {MUTED}; }}
QTabBar::tab:selected {{ color: {ACCENT}; border-bottom: 2px solid {ACCENT}; font-weight: 600; }}
QPushButton {{ background: {PANEL}; border: 1px solid #c3cad3; border-radius: 5px; padding: 5px 14px; }}
QPushButton:hover {{ background: {ACCENT_SOFT}; }}
QPushButton:default, QPushButton#primary {{ background: {ACCENT}; color: white; border-color: {ACCENT}; font-weight: 600; }}
QPushButton:disabled {{ color: #a0a8b2; background: #f1f3f5; border-color: {LINE}; }}
QProgressBar {{ border: 1px solid {LINE}; border-radius: 4px; background: #eef1f4; text-align: center; height: 14px; }}
QProgressBar::chunk {{ background: {ACCENT}; border-radius: 3px; }}
QSplitter::handle {{ background: {CANVAS}; }}
QScrollArea {{ border: none; background: transparent; }}
QFrame#dropZone {{ border: 2px dashed #b6c4cf; border-radius: 8px; background: #fafcfd; }}
QFrame#dropZone[active="true"] {{ border-color: {ACCENT}; background: {ACCENT_SOFT}; }}
"""


def apply(app: QApplication) -> None:
    app.setStyle("Fusion")
    app.setFont(ui_font(10))
    pal = app.palette()
    pal.setColor(QPalette.ColorRole.Window, QColor(CANVAS))
    pal.setColor(QPalette.ColorRole.Base, QColor(PANEL))
    pal.setColor(QPalette.ColorRole.AlternateBase, QColor("#fafbfc"))
    pal.setColor(QPalette.ColorRole.Text, QColor(INK))
    pal.setColor(QPalette.ColorRole.WindowText, QColor(INK))
    pal.setColor(QPalette.ColorRole.Highlight, QColor("#cfe4ee"))
    pal.setColor(QPalette.ColorRole.HighlightedText, QColor(INK))
    app.setPalette(pal)
    app.setStyleSheet(STYLE_SHEET)


def badge_style(kind: str) -> str:
    fg, bg = KIND_COLOURS.get(kind, KIND_COLOURS["unknown"])
    return (f"background: {bg}; color: {fg}; border-radius: 8px; padding: 1px 8px; "
            f"font-weight: 600; font-size: 8.5pt;")
