"""Dialogs: unlock (or create) the store, patient context for a new encounter, override a
warning with a reason, sign with the passphrase."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QDate, Qt
from PySide6.QtWidgets import (
    QComboBox, QDateEdit, QDialog, QDialogButtonBox, QFormLayout, QLabel, QLineEdit, QPlainTextEdit, QProgressBar,
    QVBoxLayout, QWidget,
)

from clinidoc.encounter import Patient, ValidationIssue
from clinidoc.errors import ClinidocError
from clinidoc.gui import theme
from clinidoc.gui.workers import run_in_background


def _title(text: str, sub: str = "") -> QWidget:
    box = QWidget()
    lay = QVBoxLayout(box)
    lay.setContentsMargins(0, 0, 0, 6)
    t = QLabel(text)
    t.setObjectName("patientName")
    lay.addWidget(t)
    if sub:
        s = QLabel(sub)
        s.setObjectName("muted")
        s.setWordWrap(True)
        lay.addWidget(s)
    return box


def _error_label() -> QLabel:
    label = QLabel("")
    label.setObjectName("errorText")
    label.setWordWrap(True)
    label.hide()
    return label


def _friendly(exc: BaseException) -> str:
    from clinidoc.records import WrongPassphrase

    if isinstance(exc, WrongPassphrase):
        return "Wrong passphrase. Check it and try again."
    if isinstance(exc, ClinidocError):
        return str(exc)
    return f"Unexpected problem: {exc.__class__.__name__}: {exc}"


class UnlockDialog(QDialog):
    """Opens the encrypted store; on first run creates it (passphrase twice). The key derivation
    (Argon2id, about a second) runs in a worker, so the window keeps painting."""

    def __init__(self, data_dir: Path, parent: QWidget | None = None, *, kdf=None) -> None:
        super().__init__(parent)
        from clinidoc.records import Store

        self.data_dir = Path(data_dir)
        self.creating = not Store.exists(self.data_dir)
        self.kdf = kdf
        self.store = None
        self.worker = None
        self.setWindowTitle("clinidoc - unlock")
        self.setMinimumWidth(420)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(24, 20, 24, 18)
        if self.creating:
            lay.addWidget(_title("Create your encrypted store",
                                 "Notes and recordings are kept encrypted on this computer. Choose a passphrase; "
                                 "it cannot be recovered if lost."))
        else:
            lay.addWidget(_title("Unlock clinidoc", "Enter the passphrase of your encrypted store."))
        form = QFormLayout()
        self.passphrase = QLineEdit()
        self.passphrase.setEchoMode(QLineEdit.EchoMode.Password)
        self.passphrase.setPlaceholderText("passphrase")
        form.addRow("Passphrase", self.passphrase)
        self.confirm = QLineEdit()
        self.confirm.setEchoMode(QLineEdit.EchoMode.Password)
        self.confirm.setPlaceholderText("the same again")
        if self.creating:
            form.addRow("Repeat", self.confirm)
        lay.addLayout(form)
        self.busy = QProgressBar()
        self.busy.setRange(0, 0)
        self.busy.setTextVisible(False)
        self.busy.setMaximumHeight(6)
        self.busy.hide()
        lay.addWidget(self.busy)
        self.error_label = _error_label()
        lay.addWidget(self.error_label)
        where = QLabel(f"Store: {self.data_dir}")
        where.setObjectName("muted")
        where.setWordWrap(True)
        lay.addWidget(where)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Create" if self.creating else "Unlock")
        self.buttons.accepted.connect(self.try_unlock)
        self.buttons.rejected.connect(self.reject)
        lay.addWidget(self.buttons)

    def show_error(self, text: str) -> None:
        self.error_label.setText(text)
        self.error_label.show()

    def _set_busy(self, busy: bool) -> None:
        self.busy.setVisible(busy)
        for w in (self.passphrase, self.confirm, self.buttons):
            w.setEnabled(not busy)

    def try_unlock(self) -> None:
        from clinidoc.records import Store

        pw = self.passphrase.text()
        if not pw:
            self.show_error("Enter the passphrase.")
            return
        if self.creating and pw != self.confirm.text():
            self.show_error("The two passphrases differ.")
            return
        self.error_label.hide()
        self._set_busy(True)
        if self.creating:
            self.worker = run_in_background(Store.create, self.data_dir, pw, self.kdf, on_finished=self._opened,
                                            on_error=self._failed, name="create store")
        else:
            self.worker = run_in_background(Store.open, self.data_dir, pw, on_finished=self._opened,
                                            on_error=self._failed, name="open store")

    def _opened(self, store) -> None:
        self.store = store
        self._set_busy(False)
        self.accept()

    def _failed(self, exc: BaseException) -> None:
        self._set_busy(False)
        self.passphrase.clear()
        self.confirm.clear()
        self.passphrase.setFocus()
        self.show_error(_friendly(exc))


class PatientDialog(QDialog):
    """Patient context for a new encounter."""

    def __init__(self, parent: QWidget | None = None, patient: Patient | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("New encounter")
        self.setMinimumWidth(460)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(24, 20, 24, 18)
        lay.addWidget(_title("New encounter", "Who is the patient? This is checked against names on reports and images."))
        form = QFormLayout()
        self.name = QLineEdit()
        self.mrn = QLineEdit()
        self.birth_date = QDateEdit()
        self.birth_date.setDisplayFormat("yyyy-MM-dd")
        self.birth_date.setCalendarPopup(True)
        self.birth_date.setDate(QDate(1970, 1, 1))
        self.sex = QComboBox()
        self.sex.addItems(["", "F", "M", "X"])
        self.allergies = QLineEdit()
        self.allergies.setPlaceholderText("comma separated, e.g. penicillin, latex")
        self.medications = QPlainTextEdit()
        self.medications.setPlaceholderText("one per line, e.g. metformin 500 mg BID")
        self.medications.setFixedHeight(90)
        form.addRow("Name", self.name)
        form.addRow("MRN", self.mrn)
        form.addRow("Date of birth", self.birth_date)
        form.addRow("Sex", self.sex)
        form.addRow("Allergies", self.allergies)
        form.addRow("Current medications", self.medications)
        lay.addLayout(form)
        self.error_label = _error_label()
        lay.addWidget(self.error_label)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Create")
        buttons.accepted.connect(self._check)
        buttons.rejected.connect(self.reject)
        lay.addWidget(buttons)
        if patient is not None:
            self.set_patient(patient)

    def set_patient(self, p: Patient) -> None:
        self.name.setText(p.name or "")
        self.mrn.setText(p.mrn or "")
        if p.birth_date:
            d = QDate.fromString(p.birth_date, "yyyy-MM-dd")
            if d.isValid():
                self.birth_date.setDate(d)
        self.sex.setCurrentText(p.sex or "")
        self.allergies.setText(", ".join(p.allergies))
        self.medications.setPlainText("\n".join(p.medications))

    def patient(self) -> Patient:
        return Patient(
            name=self.name.text().strip() or None,
            mrn=self.mrn.text().strip() or None,
            birth_date=self.birth_date.date().toString("yyyy-MM-dd"),
            sex=self.sex.currentText() or None,
            allergies=[a.strip() for a in self.allergies.text().split(",") if a.strip()],
            medications=[m.strip() for m in self.medications.toPlainText().splitlines() if m.strip()],
        )

    def _check(self) -> None:
        if not self.name.text().strip():
            self.error_label.setText("The patient's name is needed.")
            self.error_label.show()
            return
        self.accept()


class OverrideDialog(QDialog):
    """Accept a warning with a reason (the reason is kept in the audit trail)."""

    def __init__(self, issue: ValidationIssue, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Override warning")
        self.setMinimumWidth(440)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(22, 18, 22, 16)
        fg, bg, _ = theme.SEVERITY[issue.severity]
        head = QLabel(f"{issue.severity.upper()}  ·  {issue.code}")
        head.setStyleSheet(f"color: {fg}; background: {bg}; padding: 4px 8px; border-radius: 4px; font-weight: 600;")
        lay.addWidget(head)
        msg = QLabel(issue.message)
        msg.setWordWrap(True)
        lay.addWidget(msg)
        lay.addWidget(QLabel("Reason (recorded in the audit trail):"))
        self.reason = QPlainTextEdit()
        self.reason.setFixedHeight(80)
        lay.addWidget(self.reason)
        self.error_label = _error_label()
        lay.addWidget(self.error_label)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Override")
        buttons.accepted.connect(self._check)
        buttons.rejected.connect(self.reject)
        lay.addWidget(buttons)

    def text(self) -> str:
        return self.reason.toPlainText().strip()

    def _check(self) -> None:
        if not self.text():
            self.error_label.setText("An override needs a reason.")
            self.error_label.show()
            return
        self.accept()


class SignDialog(QDialog):
    """Signer's name and the store passphrase (re-authentication)."""

    def __init__(self, clinician: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Sign note")
        self.setMinimumWidth(420)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(22, 18, 22, 16)
        lay.addWidget(_title("Sign note", "Signing freezes this version. Later changes need an amendment."))
        form = QFormLayout()
        self.clinician = QLineEdit(clinician)
        self.passphrase = QLineEdit()
        self.passphrase.setEchoMode(QLineEdit.EchoMode.Password)
        form.addRow("Clinician", self.clinician)
        form.addRow("Passphrase", self.passphrase)
        lay.addLayout(form)
        self.error_label = _error_label()
        lay.addWidget(self.error_label)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Sign")
        buttons.accepted.connect(self._check)
        buttons.rejected.connect(self.reject)
        lay.addWidget(buttons)
        (self.passphrase if clinician else self.clinician).setFocus(Qt.FocusReason.OtherFocusReason)

    def _check(self) -> None:
        if not self.clinician.text().strip() or not self.passphrase.text():
            self.error_label.setText("Name and passphrase are both needed.")
            self.error_label.show()
            return
        self.accept()
