"""Validation checks grouped by severity. A click selects the field in the note and shows the
suggestion; "Override…" accepts a check with a reason (kept in the audit trail)."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QFrame, QHBoxLayout, QLabel, QPushButton, QScrollArea, QSizePolicy, QVBoxLayout, QWidget,
)

from clinidoc.encounter import ValidationIssue
from clinidoc.gui import theme

ORDER = ("error", "warning", "info")


class IssueCard(QFrame):
    clicked = Signal(object)  # the card
    override_clicked = Signal(object)  # ValidationIssue

    def __init__(self, issue: ValidationIssue, override: dict | None, read_only: bool) -> None:
        super().__init__()
        self.issue, self.override, self.read_only = issue, override, read_only
        self.selected = False
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Maximum)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(10, 6, 8, 6)
        lay.setSpacing(2)
        self.message = QLabel(("Overridden: " if override else "") + issue.message)
        self.message.setWordWrap(True)
        lay.addWidget(self.message)
        meta = issue.code + (f"  ·  {issue.field}" if issue.field else "")
        self.meta = QLabel(meta)
        self.meta.setObjectName("muted")
        self.meta.setStyleSheet("font-size: 8.5pt;")
        lay.addWidget(self.meta)
        self.suggestion = QLabel(f"→ {issue.suggestion}" if issue.suggestion else "")
        self.suggestion.setWordWrap(True)
        self.suggestion.setVisible(False)
        lay.addWidget(self.suggestion)
        self.override_note = QLabel(
            f"Overridden by {override.get('author', '?')}: {override.get('reason', '')}" if override else "")
        self.override_note.setWordWrap(True)
        self.override_note.setObjectName("muted")
        self.override_note.setVisible(False)
        lay.addWidget(self.override_note)
        row = QHBoxLayout()
        row.addStretch(1)
        self.override_button = QPushButton("Override…")
        self.override_button.setToolTip("Accept this check with a reason (kept in the audit trail)")
        self.override_button.clicked.connect(lambda: self.override_clicked.emit(self.issue))
        self.override_button.setVisible(False)
        row.addWidget(self.override_button)
        lay.addLayout(row)
        self._style()

    def _style(self) -> None:
        fg, bg, _ = theme.SEVERITY[self.issue.severity]
        if self.override:
            fg, bg = "#9aa3ad", "#f5f6f8"
        border = f"2px solid {fg}" if self.selected else "1px solid transparent"
        self.setStyleSheet(
            f"IssueCard {{ background: {bg}; border-left: 4px solid {fg}; border-top: {border}; border-right: {border};"
            f" border-bottom: {border}; border-radius: 4px; }}"
            f" QLabel {{ background: transparent; }}")
        self.message.setStyleSheet(f"color: {theme.MUTED if self.override else theme.INK};")
        self.suggestion.setStyleSheet(f"color: {fg}; font-weight: 600;")

    def set_selected(self, on: bool) -> None:
        self.selected = on
        self.suggestion.setVisible(on and bool(self.issue.suggestion))
        self.override_note.setVisible(on and self.override is not None)
        self.override_button.setVisible(on and self.override is None and not self.read_only)
        self._style()

    def mousePressEvent(self, event) -> None:  # noqa: N802
        self.clicked.emit(self)
        super().mousePressEvent(event)


class WarningsPanel(QFrame):
    field_requested = Signal(str)  # the issue's field path
    issue_selected = Signal(object)  # ValidationIssue
    override_requested = Signal(object)  # ValidationIssue

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("card")
        self.issues: list[ValidationIssue] = []
        self.cards: list[IssueCard] = []
        self.current: IssueCard | None = None
        lay = QVBoxLayout(self)
        lay.setContentsMargins(10, 10, 10, 10)
        lay.setSpacing(6)
        head = QHBoxLayout()
        title = QLabel("Checks")
        title.setObjectName("cardTitle")
        head.addWidget(title)
        head.addStretch(1)
        self.summary = QLabel("")
        head.addWidget(self.summary)
        lay.addLayout(head)
        self.scroll = QScrollArea()
        self.scroll.setWidgetResizable(True)
        self.scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        body = QWidget()
        body.setObjectName("checksBody")
        body.setStyleSheet(f"QWidget#checksBody {{ background: {theme.PANEL}; }}")
        self.body = QVBoxLayout(body)
        self.body.setContentsMargins(0, 0, 4, 0)
        self.body.setSpacing(5)
        self.scroll.setWidget(body)
        lay.addWidget(self.scroll, 1)
        self.read_only = False
        self.set_issues([], None, empty_text="Checks appear here once the encounter is processed.")

    def set_issues(self, issues: list[ValidationIssue], override_for, read_only: bool = False,
                   empty_text: str = "No checks raised. Review the note, then sign.") -> None:
        """``override_for(issue)`` gives the override record covering an issue, or None."""
        keep = (self.current.issue.code, self.current.issue.field) if self.current else None
        self.read_only = read_only
        self.issues = list(issues)
        while self.body.count():
            w = self.body.takeAt(0).widget()
            if w is not None:
                w.deleteLater()
        self.cards, self.current = [], None
        counts = {}
        for sev in ORDER:
            group = [w for w in self.issues if w.severity == sev]
            counts[sev] = sum(1 for w in group if override_for is None or override_for(w) is None)
            if not group:
                continue
            fg, _bg, label = theme.SEVERITY[sev]
            head = QLabel(f"{label.upper()}  ({len(group)})")
            head.setStyleSheet(f"color: {fg}; font-weight: 700; font-size: 8.5pt; letter-spacing: 0.5px;")
            self.body.addWidget(head)
            for w in group:
                card = IssueCard(w, override_for(w) if override_for else None, read_only)
                card.clicked.connect(self._card_clicked)
                card.override_clicked.connect(self.override_requested)
                self.body.addWidget(card)
                self.cards.append(card)
        if not self.issues:
            empty = QLabel(empty_text)
            empty.setObjectName("muted")
            empty.setWordWrap(True)
            self.body.addWidget(empty)
        self.body.addStretch(1)
        parts = []
        for sev, word in (("error", "error"), ("warning", "warning"), ("info", "note")):
            if counts.get(sev):
                n = counts[sev]
                parts.append(f"<span style='color:{theme.SEVERITY[sev][0]}; font-weight:600'>{n} {word}{'s' if n != 1 else ''}</span>")
        if parts:
            self.summary.setText(" · ".join(parts))
        elif override_for is None:
            self.summary.setText("")
        else:
            self.summary.setText("<span style='color:#1e6b3a; font-weight:600'>✓ nothing open</span>")
        if keep is not None:
            card = self.card_for(*keep)
            if card is not None:
                self._select(card)

    def card_for(self, code: str, field: str | None = None) -> IssueCard | None:
        for c in self.cards:
            if c.issue.code == code and (field is None or c.issue.field == field):
                return c
        return None

    def current_issue(self) -> ValidationIssue | None:
        return self.current.issue if self.current else None

    def _select(self, card: IssueCard) -> None:
        if self.current is not None and self.current is not card:
            self.current.set_selected(False)
        self.current = card
        card.set_selected(True)
        self.scroll.ensureWidgetVisible(card)

    def _card_clicked(self, card: IssueCard) -> None:
        self._select(card)
        self.issue_selected.emit(card.issue)
        if card.issue.field:
            self.field_requested.emit(card.issue.field)

    def click_issue(self, code: str, field: str | None = None) -> bool:
        """Select a check as a click would (keyboard users and tests)."""
        card = self.card_for(code, field)
        if card is None:
            return False
        self._card_clicked(card)
        return True
