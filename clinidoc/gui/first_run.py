"""First run: where data lives, the encrypted store (passphrase twice, strength hint, no-recovery warning),
this machine's hardware and the models that fit it, and a way to add bigger ones (the model manager).

Shown by ``run_gui`` when no store exists. The store is created in a worker (Argon2id takes a second); the
hardware detection and the recommendation too. Finishing records the data folder for later starts.
"""

from __future__ import annotations

import string
from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
    QWizard,
    QWizardPage,
)

from clinidoc.gui.workers import Worker, run_in_background

MIN_LENGTH = 8


def passphrase_strength(pw: str) -> tuple[int, str]:
    """(score 0..4, hint) from length and character variety; a hint, not a guarantee."""
    if not pw:
        return 0, "Enter a passphrase."
    classes = sum(any(c in group for c in pw) for group in
                  (string.ascii_lowercase, string.ascii_uppercase, string.digits, string.punctuation + " "))
    words = len(pw.split())
    score = 0
    if len(pw) >= MIN_LENGTH:
        score += 1
    if len(pw) >= 12:
        score += 1
    if len(pw) >= 20 or words >= 4:
        score += 1
    if classes >= 3:
        score += 1
    if len(set(pw)) <= 3:
        score = 0
    label = ("too weak", "weak", "fair", "good", "strong")[score]
    advice = []
    if len(pw) < 12:
        advice.append("use at least 12 characters (four or more random words work well)")
    if classes < 3 and words < 4:
        advice.append("mix lower and upper case, digits and symbols")
    return score, f"Strength: {label}" + (f" — {'; '.join(advice)}." if advice else ".")


def hardware_job(data_dir: Path | None = None, *, progress, cancel):
    """Hardware facts and the fit of every candidate: the known options, and the models on this machine
    (their real GGUF metadata replaces the known figures)."""
    from clinidoc.hardware import detect
    from clinidoc.weights.recommend import (
        KNOWN_LLMS,
        KNOWN_STT,
        recommend,
        spec_from_model,
    )

    hw = detect()
    cancel.raise_if_cancelled()
    llms, stts = list(KNOWN_LLMS), list(KNOWN_STT)
    if data_dir is not None:
        from clinidoc.weights import ModelRegistry

        for m in ModelRegistry(Path(data_dir)).available():
            cancel.raise_if_cancelled()
            try:
                spec = spec_from_model(m)
            except Exception:  # noqa: BLE001 - an unreadable file is left out of the advice
                continue
            pool = llms if m.role == "llm" else stts
            pool[:] = [x for x in pool if x.name != spec.name] + [spec]
    return recommend(hw, llms, stts)


class LocationPage(QWizardPage):
    def __init__(self, default: Path) -> None:
        super().__init__()
        self.setTitle("Where should clinidoc keep its data?")
        self.setSubTitle("The encrypted store (notes, recordings, audit trail), settings and added models live in "
                         "this folder. Choose a folder on this computer's own disk, not a shared or cloud folder.")
        lay = QVBoxLayout(self)
        row = QHBoxLayout()
        self.folder = QLineEdit(str(default))
        browse = QPushButton("Choose…")
        browse.clicked.connect(self._browse)
        row.addWidget(self.folder, 1)
        row.addWidget(browse)
        lay.addLayout(row)
        self.note = QLabel("")
        self.note.setWordWrap(True)
        self.note.setObjectName("muted")
        lay.addWidget(self.note)
        self.folder.textChanged.connect(self._check)
        self.folder.textChanged.connect(self.completeChanged)
        self._check()

    def _browse(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Data folder", self.folder.text())
        if path:
            self.folder.setText(path)

    def chosen(self) -> Path:
        return Path(self.folder.text().strip()).expanduser()

    def _check(self) -> None:
        from clinidoc.records import Store

        p = self.chosen()
        if not self.folder.text().strip():
            self.note.setText("Choose a folder.")
        elif Store.exists(p):
            self.note.setText("This folder already holds a clinidoc store: you will unlock it with its passphrase.")
        elif p.exists() and not p.is_dir():
            self.note.setText("This is a file, not a folder.")
        else:
            self.note.setText("A new encrypted store will be created here.")

    def isComplete(self) -> bool:
        p = self.chosen()
        return bool(self.folder.text().strip()) and not (p.exists() and not p.is_dir())


class StorePage(QWizardPage):
    store_ready = Signal()

    def __init__(self, wizard: FirstRunWizard) -> None:
        super().__init__()
        self.wiz = wizard
        self.worker: Worker | None = None
        self.setTitle("Protect your notes with a passphrase")
        lay = QVBoxLayout(self)
        form = QFormLayout()
        self.passphrase = QLineEdit()
        self.passphrase.setEchoMode(QLineEdit.EchoMode.Password)
        self.confirm = QLineEdit()
        self.confirm.setEchoMode(QLineEdit.EchoMode.Password)
        self.confirm.setPlaceholderText("the same again")
        form.addRow("Passphrase", self.passphrase)
        self.confirm_label = QLabel("Repeat")
        form.addRow(self.confirm_label, self.confirm)
        lay.addLayout(form)
        self.strength = QLabel("")
        self.strength.setWordWrap(True)
        lay.addWidget(self.strength)
        self.warning = QLabel(
            "<b>A lost passphrase cannot be recovered.</b> There is no reset and no master key: without it the "
            "notes and recordings in this store cannot be read by anyone, including you. Write it down and keep "
            "it somewhere safe.")
        self.warning.setWordWrap(True)
        self.warning.setObjectName("errorText")
        lay.addWidget(self.warning)
        self.understood = QCheckBox("I understand that a lost passphrase cannot be recovered")
        lay.addWidget(self.understood)
        self.busy = QProgressBar()
        self.busy.setRange(0, 0)
        self.busy.setMaximumHeight(6)
        self.busy.setTextVisible(False)
        self.busy.hide()
        lay.addWidget(self.busy)
        self.error = QLabel("")
        self.error.setObjectName("errorText")
        self.error.setWordWrap(True)
        self.error.hide()
        lay.addWidget(self.error)
        for w in (self.passphrase, self.confirm):
            w.textChanged.connect(self._update)
        self.understood.toggled.connect(self._update)

    @property
    def unlocking(self) -> bool:
        from clinidoc.records import Store

        return Store.exists(self.wiz.data_dir)

    def initializePage(self) -> None:
        unlock = self.unlocking
        self.setSubTitle(f"Unlock the existing store in {self.wiz.data_dir}." if unlock else
                         f"The store in {self.wiz.data_dir} is encrypted with a key derived from this passphrase.")
        for w in (self.confirm, self.confirm_label, self.understood, self.strength, self.warning):
            w.setVisible(not unlock)
        self._update()

    def _update(self) -> None:
        score, hint = passphrase_strength(self.passphrase.text())
        self.strength.setText(hint)
        self.strength.setObjectName("errorText" if score < 2 else "muted")
        self.strength.style().unpolish(self.strength)
        self.strength.style().polish(self.strength)
        self.error.hide()
        self.completeChanged.emit()

    def problem(self) -> str | None:
        pw = self.passphrase.text()
        if not pw:
            return "Enter the passphrase."
        if self.unlocking:
            return None
        if len(pw) < MIN_LENGTH:
            return f"Use at least {MIN_LENGTH} characters."
        if pw != self.confirm.text():
            return "The two passphrases differ."
        if not self.understood.isChecked():
            return "Tick the box to confirm you understand the passphrase cannot be recovered."
        return None

    def isComplete(self) -> bool:
        return self.wiz.store is not None or (self.worker is None and bool(self.passphrase.text()))

    def validatePage(self) -> bool:
        """Creating (or opening) the store happens in a worker; the page moves on when it is done."""
        from clinidoc.records import Store

        if self.wiz.store is not None:
            return True
        if self.worker is not None:
            return False
        why = self.problem()
        if why:
            self.error.setText(why)
            self.error.show()
            return False
        from shiboken6 import isValid

        from clinidoc.gui.model_manager import alive

        def ready(store) -> None:
            if not isValid(self) or getattr(self.wiz, "_closing", False):
                store.close()  # the wizard was cancelled while the key was being derived
                return
            self._ready(store)

        self._set_busy(True)
        pw, folder = self.passphrase.text(), self.wiz.data_dir
        if self.unlocking:
            self.worker = run_in_background(Store.open, folder, pw, on_finished=ready, on_error=alive(self, self._failed),
                                            name="open store")
        else:
            self.worker = run_in_background(Store.create, folder, pw, self.wiz.kdf, on_finished=ready,
                                            on_error=alive(self, self._failed), name="create store")
        return False

    def _set_busy(self, busy: bool) -> None:
        self.busy.setVisible(busy)
        for w in (self.passphrase, self.confirm, self.understood):
            w.setEnabled(not busy)
        self.completeChanged.emit()

    def _ready(self, store) -> None:
        self.wiz.store = store
        self.worker = None
        self._set_busy(False)
        self.passphrase.clear()
        self.confirm.clear()
        self.store_ready.emit()
        self.wiz.next()

    def _failed(self, exc: BaseException) -> None:
        from clinidoc.gui.dialogs import _friendly

        self.worker = None
        self._set_busy(False)
        self.passphrase.clear()
        self.confirm.clear()
        self.error.setText(_friendly(exc))
        self.error.show()


class ModelsPage(QWizardPage):
    recommended = Signal(object)  # the Recommendation

    def __init__(self, wizard: FirstRunWizard) -> None:
        super().__init__()
        self.wiz = wizard
        self.recommendation = None
        self.worker: Worker | None = None
        self.manager = None
        self.setTitle("Models for this computer")
        self.setSubTitle("clinidoc works with the small built-in models. Larger ones write and hear better; "
                         "here is what fits this machine's memory, with the context each would get.")
        lay = QVBoxLayout(self)
        self.hardware = QLabel("Looking at this computer…")
        self.hardware.setWordWrap(True)
        lay.addWidget(self.hardware)
        self.fits = QLabel("")
        self.fits.setWordWrap(True)
        self.fits.setTextFormat(self.fits.textFormat().RichText)
        lay.addWidget(self.fits, 1)
        self.add_btn = QPushButton("Add a bigger model (file or URL)…")
        self.add_btn.clicked.connect(self.open_manager)
        lay.addWidget(self.add_btn)
        note = QLabel("Nothing is downloaded unless you give a URL in the model manager and press Download.")
        note.setObjectName("muted")
        note.setWordWrap(True)
        lay.addWidget(note)

    def initializePage(self) -> None:
        if self.recommendation is None:
            self.assess()

    def assess(self) -> None:
        if self.worker is None:
            from clinidoc.gui.model_manager import alive

            self.worker = run_in_background(hardware_job, self.wiz.data_dir, on_finished=alive(self, self._show),
                                            on_error=alive(self, self._failed),
                                            name="hardware", low_priority=True)

    def _failed(self, exc: BaseException) -> None:
        self.worker = None
        self.hardware.setText(f"Could not read this computer's hardware ({exc}); the built-in models will be used.")

    def _show(self, rec) -> None:
        from clinidoc.weights.recommend import GiB, planned_memory

        self.worker = None
        self.recommendation = rec
        hw = rec.hardware
        gpu = ", ".join(f"{g.name} ({(g.vram_free or 0) / GiB:.1f} GB free)" for g in hw.gpus) or "none"
        self.hardware.setText(
            f"<b>{hw.cpu_name}</b>, {hw.cores} cores ({', '.join(hw.cpu_features) or 'no AVX'}); "
            f"RAM {(hw.ram_total or 0) / GiB:.1f} GB ({(hw.ram_available or 0) / GiB:.1f} GB free, "
            f"planning with {planned_memory(hw) / GiB:.1f} GB); GPU: {gpu}"
            + ("" if hw.gpu_offload_build or not hw.gpus else " (this llama.cpp build runs on the CPU only)"))
        items = []
        for f in rec.llm + rec.stt:
            mark = "✔" if f.fits else "✘"
            best = f is rec.best_llm or f is rec.best_stt
            where = {"embedded": " — built in", "installed": " — installed"}.get(f.source, "")
            text = f.summary() + where
            items.append(f"<li>{mark} {'<b>' + text + '</b>' if best else text}</li>")
        self.fits.setText("<ul>" + "".join(items) + "</ul><p>Bold: the largest that fits (speech: and keeps up on this machine).</p>")
        self.recommended.emit(rec)

    def open_manager(self):
        from clinidoc.gui.model_manager import ModelManagerDialog

        self.manager = ModelManagerDialog(self.wiz.data_dir, self)
        self.manager.models_changed.connect(self.assess)  # an added model joins the advice
        self.manager.open()
        return self.manager


class FirstRunWizard(QWizard):
    """`store` and `data_dir` are the outcome (store None when cancelled)."""

    def __init__(self, default_dir: Path, parent: QWidget | None = None, *, kdf=None, record_location: bool = True):
        super().__init__(parent)
        self.kdf = kdf
        self.store = None
        self.record_location = record_location
        self.recorded = None
        self.setWindowTitle("Welcome to clinidoc")
        self.setMinimumSize(680, 520)
        self.location_page = LocationPage(Path(default_dir))
        self.store_page = StorePage(self)
        self.models_page = ModelsPage(self)
        for p in (self.location_page, self.store_page, self.models_page):
            self.addPage(p)
        self.store_page.setCommitPage(True)  # once the store exists, no going back to another folder
        self.setButtonText(QWizard.WizardButton.CommitButton, "Create store")
        self.button(QWizard.WizardButton.CommitButton).setMinimumWidth(130)
        self.setOption(QWizard.WizardOption.NoBackButtonOnLastPage, True)

    @property
    def data_dir(self) -> Path:
        return self.location_page.chosen()

    def validateCurrentPage(self) -> bool:
        if self.currentPage() is self.location_page and self.location_page.isComplete():
            try:
                self.data_dir.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                self.location_page.note.setText(f"Cannot use this folder: {exc.strerror or exc}")
                return False
        return super().validateCurrentPage()

    def accept(self) -> None:
        if self.store is None:
            return
        self.save_defaults()
        if self.record_location:
            from clinidoc import config

            self.recorded = config.record_data_dir(self.data_dir)
        super().accept()

    def save_defaults(self):
        """Installed models the user added that fit become the defaults (the built-in ones need no setting)."""
        from clinidoc import settings as user_settings

        rec = self.models_page.recommendation
        if rec is None:
            return None
        s = user_settings.load(self.data_dir)
        for fits, attr in ((rec.llm, "llm_model"), (rec.stt, "stt_model")):
            added = [f for f in fits if f.fits and f.source == "installed"]  # small to large
            if added and getattr(s, attr) is None:
                setattr(s, attr, added[-1].name)
        user_settings.save(s, self.data_dir)
        return s

    def reject(self) -> None:
        self._closing = True
        for w in (self.store_page.worker, self.models_page.worker):
            if w is not None:
                w.cancel()
        if self.store is not None:
            self.store.close()
            self.store = None
        super().reject()
