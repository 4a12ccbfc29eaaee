"""Right side of the editor: the structured note.

SOAP sections as text, tables for medications, diagnoses, allergies, vitals and labs. Each row
knows its field path (``note.medications.1.dose``) and its evidence; selecting a row asks the
sources panel to show where it came from. Edits leave as ``field_edited(path, value)``; the
window records them in the store. No clinical rules here.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView, QComboBox, QFrame, QHeaderView, QLabel, QScrollArea, QSizePolicy, QStyledItemDelegate,
    QTextEdit, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget,
)

from clinidoc.encounter import EncounterResult, Evidence
from clinidoc.gui import theme
from clinidoc.gui.document import path_parts
from clinidoc.gui.sources import clock

MED_COLUMNS = [("name", "Medication"), ("dose", "Dose"), ("unit", "Unit"), ("route", "Route"),
               ("frequency", "Frequency"), ("status", "Status")]
DX_COLUMNS = [("text", "Diagnosis"), ("icd10", "ICD-10-CM")]
ALLERGY_COLUMNS = [("substance", "Substance"), ("reaction", "Reaction")]
VITALS = [("systolic_bp", "Systolic BP", "mmHg"), ("diastolic_bp", "Diastolic BP", "mmHg"),
          ("heart_rate", "Heart rate", "/min"), ("respiratory_rate", "Respiratory rate", "/min"),
          ("temperature_c", "Temperature", "°C"), ("spo2", "SpO₂", "%"), ("weight_kg", "Weight", "kg")]
NUMERIC = {"dose"} | {v[0] for v in VITALS}
SECTION_TITLES = {"subjective": "Subjective", "objective": "Objective", "assessment": "Assessment", "plan": "Plan"}
FLAG_COLOURS = {"H": "#a8201a", "HH": "#a8201a", "L": "#1a5796", "LL": "#1a5796", "A": "#8a5300"}


def evidence_label(evidence: list[Evidence]) -> str:
    if not evidence:
        return "—"
    ev = evidence[0]
    if ev.source == "transcript":
        return f"▸ {clock(ev.start)}" if ev.start is not None and (ev.end or 0) > 0 else "▸ transcript"
    return f"▸ {ev.source}"


def parse_cell(key: str, text: str):
    """A cell's text as the note's value: numbers for doses and vitals, None for empty."""
    text = text.strip()
    if not text:
        return None
    if key in NUMERIC:
        try:
            return float(text.replace(",", ""))
        except ValueError:
            raise ValueError(f"{text!r} is not a number") from None
    return text


def show_value(v) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


class _Table(QTableWidget):
    """A compact table that grows to its rows (the note scrolls as a whole)."""

    def __init__(self, headers: list[str], stretch: int = 0) -> None:
        super().__init__(0, len(headers))
        self.setHorizontalHeaderLabels(headers)
        self.verticalHeader().hide()
        self.setAlternatingRowColors(True)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectItems)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        h = self.horizontalHeader()
        h.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        h.setSectionResizeMode(stretch, QHeaderView.ResizeMode.Stretch)
        self.verticalHeader().setDefaultSectionSize(26)
        self.setEditTriggers(QAbstractItemView.EditTrigger.DoubleClicked | QAbstractItemView.EditTrigger.EditKeyPressed
                             | QAbstractItemView.EditTrigger.AnyKeyPressed)
        self.empty_text = ""

    def fit_height(self) -> None:
        rows = max(1, self.rowCount())
        self.setFixedHeight(self.horizontalHeader().height() + rows * self.verticalHeader().defaultSectionSize() + 4)

    def wheelEvent(self, event) -> None:  # noqa: N802 - let the note scroll
        event.ignore()


def code_choices(diagnosis: str, current: str | None, k: int = 8) -> list[tuple[str, str]]:
    """The codes the picker offers for a diagnosis: the current code first, then billable candidates
    retrieved from the ICD-10-CM descriptions (the same retrieval the drafting uses)."""
    from clinidoc.knowledge import icd10  # the code tables load on first use, not at start-up

    out = icd10.candidates(diagnosis or "", first=current or None, k=k)
    if current and all(code != current for code, _ in out):
        out.insert(0, (current, icd10.description(current) or "not in ICD-10-CM"))
    return out


class CodePicker(QStyledItemDelegate):
    """ICD-10-CM cell editor: an editable list of candidate codes with their descriptions; typing a
    code by hand still works (validation then checks it). Only the code goes into the note."""

    def __init__(self, table: QTableWidget, text_column: int = 0) -> None:
        super().__init__(table)
        self.table, self.text_column = table, text_column

    def createEditor(self, parent, option, index):  # noqa: N802
        box = QComboBox(parent)
        box.setEditable(True)
        box.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        diagnosis = self.table.item(index.row(), self.text_column)
        current = index.data() or ""
        for code, desc in code_choices(diagnosis.text() if diagnosis else "", current):
            box.addItem(f"{code} — {desc}", code)
            box.setItemData(box.count() - 1, desc, Qt.ItemDataRole.ToolTipRole)
        return box

    def setEditorData(self, editor, index):  # noqa: N802
        i = editor.findData(index.data() or "")
        if i >= 0:
            editor.setCurrentIndex(i)
        else:
            editor.setEditText(index.data() or "")

    def setModelData(self, editor, model, index):  # noqa: N802
        text = editor.currentText().strip()
        i = editor.findText(text)
        code = editor.itemData(i) if i >= 0 else text.split(" ", 1)[0] if text else ""
        model.setData(index, code.upper())

    def updateEditorGeometry(self, editor, option, index):  # noqa: N802
        rect = option.rect
        rect.setWidth(max(rect.width(), 420))  # room for the descriptions
        editor.setGeometry(rect)


class _Section(QTextEdit):
    """A section's plain text; grows with its content so the note reads top to bottom."""

    MIN_H, MAX_H = 52, 360

    def __init__(self) -> None:
        super().__init__()
        self.setAcceptRichText(False)
        self.setTabChangesFocus(True)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.document().documentLayout().documentSizeChanged.connect(self._grow)
        self.setFixedHeight(self.MIN_H)

    def _grow(self, size=None) -> None:
        h = int((size or self.document().size()).height()) + 2 * self.frameWidth() + 6
        self.setFixedHeight(max(self.MIN_H, min(h, self.MAX_H)))


class NoteEditor(QScrollArea):
    field_edited = Signal(str, object)  # store path, new value
    text_changed = Signal(str, str)  # section path, text (debounced by the window)
    evidence_selected = Signal(list)  # list[Evidence]
    edit_rejected = Signal(str)  # a value that cannot be parsed

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        body = QWidget()
        body.setObjectName("noteBody")
        body.setStyleSheet(f"QWidget#noteBody {{ background: {theme.PANEL}; }}")
        self.setWidget(body)
        self.lay = QVBoxLayout(body)
        self.lay.setContentsMargins(14, 12, 14, 16)
        self.lay.setSpacing(6)
        self.result: EncounterResult | None = None
        self.read_only = False
        self._loading = False
        self.sections: dict[str, _Section] = {}
        self.section_titles: dict[str, QLabel] = {}
        self.sections_box = QVBoxLayout()
        self.sections_box.setSpacing(4)
        self.lay.addLayout(self.sections_box)

        self.meds = self._add_table("Medications", [h for _, h in MED_COLUMNS] + ["Source"])
        self.dx = self._add_table("Diagnoses", [h for _, h in DX_COLUMNS] + ["Source"])
        self.dx.setItemDelegateForColumn(1, CodePicker(self.dx))
        self.allergies = self._add_table("Allergies", [h for _, h in ALLERGY_COLUMNS])
        self.vitals = self._add_table("Vitals", ["Vital sign", "Value", "Unit", "Source"], stretch=0)
        self.labs = self._add_table("Labs", ["Test", "Value", "Unit", "Reference", "Flag", "Source"])
        self.labs.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.lay.addStretch(1)
        self._flash = QTimer(self)
        self._flash.setSingleShot(True)

    # -- building -------------------------------------------------------------------------------
    def _heading(self, text: str) -> QLabel:
        label = QLabel(text.upper())
        label.setObjectName("sectionTitle")
        label.setContentsMargins(0, 8, 0, 0)
        return label

    def _add_table(self, title: str, headers: list[str], stretch: int = 0) -> _Table:
        self.lay.addWidget(self._heading(title))
        t = _Table(headers, stretch)
        t.itemChanged.connect(lambda item, t=t: self._cell_changed(t, item))
        t.currentCellChanged.connect(lambda r, c, *_ , t=t: self._cell_selected(t, r, c))
        self.lay.addWidget(t)
        return t

    def _item(self, text: str, path: str | None, editable: bool = True, evidence: list[Evidence] | None = None) -> QTableWidgetItem:
        item = QTableWidgetItem(text)
        item.setData(Qt.ItemDataRole.UserRole, path)
        item.setData(Qt.ItemDataRole.UserRole + 1, evidence or [])
        flags = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
        if editable and not self.read_only and path is not None:
            flags |= Qt.ItemFlag.ItemIsEditable
        item.setFlags(flags)
        return item

    def set_result(self, result: EncounterResult, read_only: bool = False) -> None:
        self._loading = True
        try:
            self.result, self.read_only = result, read_only
            self._fill_sections(result)
            self._fill_meds(result)
            self._fill_dx(result)
            self._fill_allergies(result)
            self._fill_vitals(result)
            self._fill_labs(result)
        finally:
            self._loading = False

    def update_result(self, result: EncounterResult) -> None:
        """New values after an edit, without rebuilding the section editors the user types in."""
        self.result = result
        self._loading = True
        try:
            for key, edit in self.sections.items():
                text = result.note.sections.get(key, "")
                if edit.toPlainText() != text and not edit.hasFocus():
                    edit.setPlainText(text)
            for fill in (self._fill_meds, self._fill_dx, self._fill_allergies, self._fill_vitals):
                fill(result)
        finally:
            self._loading = False

    def _fill_sections(self, result: EncounterResult) -> None:
        while self.sections_box.count():
            w = self.sections_box.takeAt(0).widget()
            if w is not None:
                w.deleteLater()
        self.sections, self.section_titles = {}, {}
        for key, text in result.note.sections.items():
            title = self._heading(SECTION_TITLES.get(key, key.replace("_", " ").title()))
            edit = _Section()
            edit.setPlainText(text)
            edit.setPlaceholderText("Nothing dictated for this section. Type here.")
            edit.setReadOnly(self.read_only)
            edit.textChanged.connect(lambda k=key, e=edit: self._section_changed(k, e))
            edit.installEventFilter(self)
            self.sections_box.addWidget(title)
            self.sections_box.addWidget(edit)
            self.sections[key] = edit
            self.section_titles[key] = title

    def _section_changed(self, key: str, edit: QTextEdit) -> None:
        if not self._loading:
            self.text_changed.emit(f"note.sections.{key}", edit.toPlainText())

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802
        if event.type() == QEvent.Type.FocusIn and isinstance(obj, _Section):
            self.evidence_selected.emit([])
        return False

    def _fill_rows(self, table: _Table, rows: list[list[QTableWidgetItem]]) -> None:
        table.blockSignals(True)
        table.setRowCount(len(rows))
        for r, cells in enumerate(rows):
            for c, item in enumerate(cells):
                table.setItem(r, c, item)
        table.blockSignals(False)
        table.fit_height()

    def _source_item(self, evidence: list[Evidence]) -> QTableWidgetItem:
        item = self._item(evidence_label(evidence), None, editable=False, evidence=evidence)
        item.setForeground(QColor(theme.ACCENT if evidence else theme.MUTED))
        if evidence and evidence[0].text:
            item.setToolTip(evidence[0].text)
        return item

    def _fill_meds(self, result: EncounterResult) -> None:
        rows = []
        for i, m in enumerate(result.note.medications):
            cells = [self._item(show_value(getattr(m, k)), f"note.medications.{i}.{k}", evidence=m.evidence) for k, _ in MED_COLUMNS]
            rows.append(cells + [self._source_item(m.evidence)])
        self._fill_rows(self.meds, rows)

    def _fill_dx(self, result: EncounterResult) -> None:
        rows = []
        for i, d in enumerate(result.note.diagnoses):
            cells = [self._item(show_value(getattr(d, k)), f"note.diagnoses.{i}.{k}", evidence=d.evidence) for k, _ in DX_COLUMNS]
            rows.append(cells + [self._source_item(d.evidence)])
        self._fill_rows(self.dx, rows)

    def _fill_allergies(self, result: EncounterResult) -> None:
        rows = []
        for i, a in enumerate(result.note.allergies):
            rows.append([self._item(show_value(getattr(a, k)), f"note.allergies.{i}.{k}") for k, _ in ALLERGY_COLUMNS])
        self._fill_rows(self.allergies, rows)

    def _fill_vitals(self, result: EncounterResult) -> None:
        v = result.note.vitals
        rows = []
        for key, label, unit in VITALS:
            ev = [v.evidence[key]] if key in v.evidence else []
            name = self._item(label, None, editable=False, evidence=ev)
            name.setForeground(QColor(theme.MUTED))
            rows.append([name, self._item(show_value(getattr(v, key)), f"note.vitals.{key}", evidence=ev),
                         self._item(unit, None, editable=False, evidence=ev), self._source_item(ev)])
        self._fill_rows(self.vitals, rows)

    def _fill_labs(self, result: EncounterResult) -> None:
        rows = []
        for i, lab in enumerate(result.labs):
            ev = [lab.source]
            ref = ""
            if lab.reference_low is not None or lab.reference_high is not None:
                ref = f"{show_value(lab.reference_low)} – {show_value(lab.reference_high)}"
            cells = [self._item(lab.test, f"labs.{i}", False, ev), self._item(show_value(lab.value), f"labs.{i}.value", False, ev),
                     self._item(lab.unit or "", f"labs.{i}.unit", False, ev), self._item(ref, f"labs.{i}", False, ev),
                     self._item(lab.flag or "", f"labs.{i}.flag", False, ev), self._source_item(ev)]
            colour = FLAG_COLOURS.get(lab.flag or "")
            if colour:
                for c in (1, 4):
                    cells[c].setForeground(QColor(colour))
                    f = cells[c].font()
                    f.setBold(True)
                    cells[c].setFont(f)
            rows.append(cells)
        self._fill_rows(self.labs, rows)

    # -- interaction ----------------------------------------------------------------------------
    def _cell_changed(self, table: _Table, item: QTableWidgetItem) -> None:
        if self._loading:
            return
        path = item.data(Qt.ItemDataRole.UserRole)
        if not path:
            return
        key = path.rsplit(".", 1)[-1]
        try:
            value = parse_cell(key, item.text())
        except ValueError as exc:
            self.edit_rejected.emit(f"{exc}; the {key} was not changed")
            if self.result is not None:
                self.update_result(self.result)
            return
        self.field_edited.emit(path, value)

    def _cell_selected(self, table: _Table, row: int, col: int) -> None:
        if row < 0:
            return
        item = table.item(row, col) or table.item(row, 0)
        if item is not None:
            self.evidence_selected.emit(list(item.data(Qt.ItemDataRole.UserRole + 1) or []))

    def set_read_only(self, read_only: bool) -> None:
        if self.result is not None:
            self.set_result(self.result, read_only)

    def select_field(self, field: str) -> QWidget | None:
        """Bring a field (``note.medications[1].dose``, ``note.sections.plan``, ``labs[2]``) into view and
        select it; returns the widget it lives in."""
        parts = path_parts(field)
        widget: QWidget | None = None
        if len(parts) >= 3 and parts[:2] == ["note", "sections"]:
            widget = self.sections.get(parts[2])
            if widget is not None:
                widget.setFocus(Qt.FocusReason.OtherFocusReason)
        elif parts and parts[0] == "labs":
            widget = self._select_row(self.labs, parts, 1, {"value": 1, "unit": 2, "flag": 4})
        elif len(parts) >= 2 and parts[0] == "note":
            table, cols = {
                "medications": (self.meds, {k: i for i, (k, _) in enumerate(MED_COLUMNS)}),
                "diagnoses": (self.dx, {k: i for i, (k, _) in enumerate(DX_COLUMNS)}),
                "allergies": (self.allergies, {k: i for i, (k, _) in enumerate(ALLERGY_COLUMNS)}),
            }.get(parts[1], (None, None))
            if table is not None:
                widget = self._select_row(table, parts, 2, cols)
            elif parts[1] == "vitals":
                keys = [k for k, _, _ in VITALS]
                if len(parts) > 2 and parts[2] in keys:
                    r = keys.index(parts[2])
                    self.vitals.setCurrentCell(r, 1)
                    widget = self.vitals
                    self._flash_row(self.vitals, r)
        if widget is not None:
            self.ensureWidgetVisible(widget, 20, 40)
        return widget

    def _select_row(self, table: _Table, parts: list[str], index_at: int, cols: dict[str, int]) -> _Table | None:
        if len(parts) <= index_at or not parts[index_at].isdigit():
            self.ensureWidgetVisible(table)
            return table
        row = int(parts[index_at])
        if row >= table.rowCount():
            return table
        col = cols.get(parts[index_at + 1], 0) if len(parts) > index_at + 1 else 0
        table.setFocus(Qt.FocusReason.OtherFocusReason)
        table.setCurrentCell(row, col)
        self._flash_row(table, row)
        rect = table.visualItemRect(table.item(row, col))
        self.ensureVisible(0, table.y() + rect.y() + rect.height() // 2, 20, 80)
        return table

    def _flash_row(self, table: _Table, row: int) -> None:
        """A short yellow wash over the row, so the eye finds it."""
        items = [table.item(row, c) for c in range(table.columnCount())]
        for it in items:
            if it is not None:
                it.setBackground(QColor(theme.HIGHLIGHT))

        def clear() -> None:
            for it in items:
                try:
                    if it is not None:
                        it.setBackground(QColor(0, 0, 0, 0))
                except RuntimeError:  # the table was refilled meanwhile
                    pass

        QTimer.singleShot(1200, clear)

    def current_path(self) -> str | None:
        for t in (self.meds, self.dx, self.allergies, self.vitals, self.labs):
            if t.hasFocus() and t.currentItem() is not None:
                return t.currentItem().data(Qt.ItemDataRole.UserRole)
        return None

