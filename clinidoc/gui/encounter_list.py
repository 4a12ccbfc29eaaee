"""The encounters in the store: search by patient, filter by status (draft / signed)."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox, QFrame, QHBoxLayout, QLabel, QLineEdit, QListWidget, QListWidgetItem, QPushButton, QSizePolicy, QVBoxLayout, QWidget,
)

from clinidoc.gui import theme


@dataclass(frozen=True)
class EncounterEntry:
    encounter_id: str
    created_at: str
    version: int
    signed: bool
    open_errors: int
    patient_name: str
    mrn: str

    @property
    def status(self) -> str:
        return "signed" if self.signed else "draft"


def load_entries(store) -> list[EncounterEntry]:
    """Summaries plus the patient of each encounter (decrypted from the store, kept in memory only)."""
    out = []
    for s in store.list_encounters():
        try:
            p = store.load_result(s.encounter_id).patient
        except Exception:  # noqa: BLE001 - one unreadable row must not hide the others
            p = None
        out.append(EncounterEntry(s.encounter_id, s.created_at, s.current_version, s.signed, s.open_errors,
                                  (p.name if p and p.name else "Unnamed patient"), (p.mrn if p and p.mrn else "")))
    return out


class _EntryRow(QWidget):
    def __init__(self, e: EncounterEntry) -> None:
        super().__init__()
        lay = QVBoxLayout(self)
        lay.setContentsMargins(8, 6, 8, 6)
        lay.setSpacing(1)
        top = QHBoxLayout()
        name = QLabel(e.patient_name)
        name.setStyleSheet("font-weight: 600; background: transparent;")
        name.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        top.addWidget(name, 1)
        if e.signed:
            chip, fg, bg = "Signed", "#1e6b3a", "#e3f4e8"
        elif e.open_errors:
            chip, fg, bg = f"{e.open_errors} error{'s' if e.open_errors != 1 else ''}", "#a8201a", "#fce8e6"
        else:
            chip, fg, bg = "Draft", "#8a5300", "#fff3dc"
        state = QLabel(chip)
        state.setStyleSheet(f"background: {bg}; color: {fg}; border-radius: 7px; padding: 0px 7px; font-size: 8.5pt;"
                            " font-weight: 600;")
        top.addWidget(state)
        lay.addLayout(top)
        sub = QLabel(f"{('MRN ' + e.mrn + '  ·  ') if e.mrn else ''}{e.created_at[:10]}  ·  v{e.version}")
        sub.setStyleSheet(f"color: {theme.MUTED}; font-size: 8.5pt; background: transparent;")
        sub.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        lay.addWidget(sub)


class EncounterList(QFrame):
    encounter_chosen = Signal(str)
    new_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("card")
        self.entries: list[EncounterEntry] = []
        lay = QVBoxLayout(self)
        lay.setContentsMargins(10, 10, 10, 10)
        lay.setSpacing(6)
        head = QHBoxLayout()
        title = QLabel("Encounters")
        title.setObjectName("cardTitle")
        head.addWidget(title)
        head.addStretch(1)
        self.new_button = QPushButton("New…")
        self.new_button.setToolTip("New encounter with patient details (Ctrl+N)")
        self.new_button.clicked.connect(self.new_requested)
        head.addWidget(self.new_button)
        lay.addLayout(head)
        filt = QHBoxLayout()
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search patient or MRN")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(self.apply_filter)
        filt.addWidget(self.search, 1)
        self.status = QComboBox()
        self.status.addItems(["All", "Draft", "Signed"])
        self.status.currentIndexChanged.connect(self.apply_filter)
        filt.addWidget(self.status)
        lay.addLayout(filt)
        self.list = QListWidget()
        self.list.setVerticalScrollMode(QListWidget.ScrollMode.ScrollPerPixel)
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.list.currentItemChanged.connect(self._chosen)
        lay.addWidget(self.list, 1)
        self._silent = False

    def set_entries(self, entries: list[EncounterEntry], current: str | None = None) -> None:
        self.entries = entries
        self._silent = True
        try:
            self.list.clear()
            for e in sorted(entries, key=lambda e: e.created_at, reverse=True):
                item = QListWidgetItem()
                item.setData(Qt.ItemDataRole.UserRole, e.encounter_id)
                item.setToolTip(e.encounter_id)
                row = _EntryRow(e)
                item.setSizeHint(row.sizeHint())
                self.list.addItem(item)
                self.list.setItemWidget(item, row)
                if e.encounter_id == current:
                    self.list.setCurrentItem(item)
            if not entries:
                item = QListWidgetItem("No encounters yet.")
                item.setFlags(Qt.ItemFlag.NoItemFlags)
                item.setData(Qt.ItemDataRole.UserRole, None)
                self.list.addItem(item)
        finally:
            self._silent = False
        self.apply_filter()

    def apply_filter(self, *_args) -> None:
        q = self.search.text().strip().lower()
        want = self.status.currentText().lower()
        by_id = {e.encounter_id: e for e in self.entries}
        for i in range(self.list.count()):
            item = self.list.item(i)
            e = by_id.get(item.data(Qt.ItemDataRole.UserRole))
            if e is None:
                continue
            visible = (not q or q in e.patient_name.lower() or q in e.mrn.lower() or q in e.encounter_id.lower()) and (
                want == "all" or want == e.status)
            item.setHidden(not visible)

    def visible_ids(self) -> list[str]:
        return [self.list.item(i).data(Qt.ItemDataRole.UserRole) for i in range(self.list.count())
                if not self.list.item(i).isHidden() and self.list.item(i).data(Qt.ItemDataRole.UserRole)]

    def _chosen(self, item: QListWidgetItem | None, _prev) -> None:
        if item is not None and not self._silent and item.data(Qt.ItemDataRole.UserRole):
            self.encounter_chosen.emit(item.data(Qt.ItemDataRole.UserRole))
