"""The main window: encounters and inputs on the left, sources and checks in the middle, the note on the right.

All long work (processing, signing, PDF export, image loading) goes through gui.workers; the store
is only touched from the GUI thread, except while a store job runs, when the window holds every
other store access back (``_store_busy``).
"""

from __future__ import annotations

import time
from datetime import date
from pathlib import Path

from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QApplication, QFileDialog, QFrame, QHBoxLayout, QLabel, QMainWindow, QMessageBox, QProgressBar, QPushButton,
    QSplitter, QStackedWidget, QTextBrowser, QToolBar, QToolButton, QVBoxLayout, QWidget,
)

from clinidoc.encounter import Patient, ValidationIssue
from clinidoc.errors import ClinidocError
from clinidoc.gui import theme
from clinidoc.gui.dialogs import OverrideDialog, PatientDialog, SignDialog
from clinidoc.gui.document import EncounterDocument
from clinidoc.gui.encounter_list import EncounterList, load_entries
from clinidoc.gui.inputs import FILE_FILTER, InputsPanel, guess_kind, local_files
from clinidoc.gui.note_editor import NoteEditor
from clinidoc.gui.recording import RecordingController, RecordPanel
from clinidoc.gui.sources import SourcesPanel
from clinidoc.gui.warnings_panel import WarningsPanel
from clinidoc.gui.workers import Worker, run_in_background
from clinidoc.progress import Progress

REVALIDATE_MS = 400
AUDIO_SUFFIXES = {".wav", ".flac", ".mp3", ".ogg", ".m4a"}
AUTOSAVE_MS = 2000


def process_job(inputs, engines, *, draft: bool = True, after: Worker | None = None, progress, cancel):
    """Runs on a worker thread: the core pipeline, nothing else (after the warm-up, if one runs)."""
    from clinidoc.pipeline import process_encounter

    if after is not None:
        progress(Progress("load", 0.0, "loading models"))
        while not after.wait(0.1):
            cancel.raise_if_cancelled()
    return process_encounter(inputs, engines, draft=draft, progress=progress, cancel=cancel)


def warm_up_job(engines, *, models: bool = True, progress, cancel):
    """Load what the first encounter would otherwise load mid-way (dictionaries, code sets, models).
    Some of these loads hold the GIL for a few hundred ms in C code (unpickling, GGUF metadata), so
    the app does them at start-up, while nobody is typing into the note, rather than during processing."""
    import importlib

    from clinidoc.encounter import EncounterResult, Provenance, Transcript
    from clinidoc.pipeline import extract_note
    from clinidoc.validation import validate

    progress(Progress("load", 0.05, "modules"))
    # importing the stage modules pulls in scipy, OpenCV, ONNX Runtime ...: C-level imports hold the GIL
    for name in ("clinidoc.imaging.classify", "clinidoc.imaging.labs", "clinidoc.imaging.ecg", "clinidoc.imaging.dicom",
                 "clinidoc.speech.engine", "clinidoc.drafting.draft", "clinidoc.records.pdf"):
        try:
            importlib.import_module(name)
        except ImportError:
            pass
        cancel.raise_if_cancelled()
    progress(Progress("load", 0.1, "dictionaries"))
    transcript = Transcript(text="Assessment: essential hypertension. Plan: start amlodipine 5 mg by mouth daily.")
    note, _ = extract_note(transcript, None, "soap")
    validate(EncounterResult(transcript=transcript, note=note, provenance=Provenance(clinidoc_version="warm-up")))
    cancel.raise_if_cancelled()
    if models:
        progress(Progress("load", 0.3, "OCR model"))
        from clinidoc.imaging import labs

        ocr = getattr(labs, "_engine", None)  # the core builds it lazily; no public hook yet
        if callable(ocr):
            ocr()
            # rapidocr loads its detection and recognition models on first use: read a tiny label now
            from PIL import Image, ImageDraw

            im = Image.new("RGB", (220, 40), "white")
            ImageDraw.Draw(im).text((8, 12), "Glucose 168 mg/dL", fill="black")
            labs.ocr_boxes(im)
        cancel.raise_if_cancelled()
        progress(Progress("load", 0.5, "language model"))
        engines.llm  # noqa: B018 - loading is the point
        cancel.raise_if_cancelled()
        progress(Progress("load", 0.8, "speech model"))
        stt = engines.stt
        load = getattr(stt, "_load", None)  # the engine builds its model lazily; no public hook yet
        if callable(load):
            load()
    progress(Progress("load", 1.0, "ready"))
    return True


def _age(birth_date: str | None) -> str:
    try:
        born = date.fromisoformat(birth_date or "")
    except ValueError:
        return ""
    today = date.today()
    return str(today.year - born.year - ((today.month, today.day) < (born.month, born.day)))


def _friendly(exc: BaseException) -> str:
    if isinstance(exc, ClinidocError):
        return str(exc)
    return f"unexpected {exc.__class__.__name__}: {exc}"


class PatientBanner(QFrame):
    def __init__(self) -> None:
        super().__init__()
        self.setObjectName("card")
        lay = QHBoxLayout(self)
        lay.setContentsMargins(14, 8, 14, 8)
        lay.setSpacing(12)
        self.name = QLabel("No encounter open")
        self.name.setObjectName("patientName")
        lay.addWidget(self.name)
        self.facts = QLabel("")
        self.facts.setObjectName("muted")
        lay.addWidget(self.facts)
        self.allergy_box = QHBoxLayout()
        self.allergy_box.setSpacing(4)
        lay.addLayout(self.allergy_box)
        lay.addStretch(1)
        self.meds = QLabel("")
        self.meds.setObjectName("muted")
        lay.addWidget(self.meds)
        self.status = QLabel("")
        lay.addWidget(self.status)

    def set_patient(self, p: Patient | None, status: str = "", signed_by: str | None = None) -> None:
        while self.allergy_box.count():
            w = self.allergy_box.takeAt(0).widget()
            if w:
                w.deleteLater()
        if p is None:
            self.name.setText("No encounter open")
            self.facts.setText("")
            self.meds.setText("")
        else:
            self.name.setText(p.name or "Unnamed patient")
            bits = []
            if p.mrn:
                bits.append(f"MRN {p.mrn}")
            if p.birth_date:
                age = _age(p.birth_date)
                bits.append(f"DOB {p.birth_date}" + (f" ({age} y)" if age else ""))
            if p.sex:
                bits.append(p.sex)
            self.facts.setText("  ·  ".join(bits))
            for a in p.allergies:
                chip = QLabel(f"⚠ {a}")
                chip.setObjectName("allergy")
                chip.setToolTip("Allergy")
                self.allergy_box.addWidget(chip)
            if not p.allergies:
                chip = QLabel("NKDA")
                chip.setObjectName("muted")
                self.allergy_box.addWidget(chip)
            self.meds.setText(f"{len(p.medications)} home med{'s' if len(p.medications) != 1 else ''}" if p.medications else "")
            self.meds.setToolTip("\n".join(p.medications))
        self.status.setText(status)
        self.status.setObjectName("statusSigned" if signed_by else ("statusDraft" if status else "muted"))
        self.status.setToolTip(f"Signed by {signed_by}" if signed_by else "")
        self.status.style().unpolish(self.status)
        self.status.style().polish(self.status)


class MessageBar(QFrame):
    """One line of feedback above the editor (refusals, errors, confirmations); not modal."""

    def __init__(self) -> None:
        super().__init__()
        lay = QHBoxLayout(self)
        lay.setContentsMargins(12, 6, 8, 6)
        self.label = QLabel("")
        self.label.setWordWrap(True)
        lay.addWidget(self.label, 1)
        close = QToolButton()
        close.setText("✕")
        close.setAutoRaise(True)
        close.clicked.connect(self.hide)
        lay.addWidget(close)
        self.level = ""
        self.hide()

    def show_message(self, text: str, level: str = "info") -> None:
        fg, bg, _ = theme.SEVERITY.get(level, theme.SEVERITY["info"])
        if level == "ok":
            fg, bg = "#1e6b3a", "#e3f4e8"
        self.level = level
        self.setStyleSheet(f"MessageBar {{ background: {bg}; border: 1px solid {fg}33; border-radius: 6px; }}"
                           f" QLabel {{ color: {fg}; font-weight: 600; }}")
        self.label.setText(text)
        self.show()


class _DropFilter(QObject):
    """Files dropped anywhere on the window (text editors included) go to the inputs list."""

    def __init__(self, window: "MainWindow") -> None:
        super().__init__(window)
        self.window = window

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802
        t = event.type()
        if t in (QEvent.Type.DragEnter, QEvent.Type.DragMove, QEvent.Type.Drop, QEvent.Type.DragLeave):
            if not isinstance(obj, QWidget) or obj.window() is not self.window:
                return False
            if t == QEvent.Type.DragLeave:
                self.window.inputs.set_active(False)
                return False
            if not local_files(event.mimeData()):
                return False
            if t == QEvent.Type.Drop:
                self.window.inputs.set_active(False)
                self.window.handle_drop(event.mimeData())
            else:
                self.window.inputs.set_active(True)
            event.acceptProposedAction()
            return True
        return False


class MainWindow(QMainWindow):
    ready = Signal()  # an encounter is shown with its sources loaded
    processing_finished = Signal(bool)  # True on success
    revalidated = Signal(list)
    store_job_finished = Signal(str, bool)  # job name, success

    def __init__(self, store, data_dir: Path, *, engines=None, author: str = "clinician") -> None:
        super().__init__()
        self.store = store
        self.data_dir = Path(data_dir)
        self.author = author
        self._engines = engines
        self.doc: EncounterDocument | None = None
        self.new_patient: Patient | None = None
        self.new_encounter_id: str | None = None
        self.worker: Worker | None = None
        self._store_busy = False
        self._warmup: Worker | None = None
        self._process_ok = False
        self.draft_with_llm = True
        self.last_error: str | None = None
        self.setWindowTitle("clinidoc")
        self.resize(1440, 900)
        self.setAcceptDrops(True)
        self._build()
        self._build_actions()
        self._build_record_actions()
        self._revalidate_timer = QTimer(self, singleShot=True, interval=REVALIDATE_MS)
        self._revalidate_timer.timeout.connect(self.revalidate)
        self._autosave_timer = QTimer(self, singleShot=True, interval=AUTOSAVE_MS)
        self._autosave_timer.timeout.connect(self.save)
        self._drop_filter = _DropFilter(self)
        QApplication.instance().installEventFilter(self._drop_filter)
        self._after_steps: list = []
        self._done_waiting = False
        self.refresh_list()
        self._update_state()
        QTimer.singleShot(0, self.recorder.check_devices)  # after the first paint: start-up stays quick

    # -- layout ---------------------------------------------------------------------------------
    def _build(self) -> None:
        root = QWidget()
        outer = QHBoxLayout(root)
        outer.setContentsMargins(10, 10, 10, 6)
        outer.setSpacing(0)
        self.split = QSplitter(Qt.Orientation.Horizontal)
        self.split.setHandleWidth(10)
        outer.addWidget(self.split)

        side = QSplitter(Qt.Orientation.Vertical)
        side.setHandleWidth(10)
        self.encounters = EncounterList()
        self.encounters.encounter_chosen.connect(self.open_encounter)
        self.encounters.new_requested.connect(self.new_encounter)
        self.inputs = InputsPanel()
        self.inputs.add_requested.connect(self.add_files_dialog)
        self.inputs.files_added.connect(lambda _paths: self._update_state())
        self.record_panel = RecordPanel()
        self.recorder = RecordingController(self, self.record_panel)
        side.addWidget(self.encounters)
        side.addWidget(self.record_panel)
        side.addWidget(self.inputs)
        side.setStretchFactor(0, 1)
        side.setStretchFactor(1, 0)
        side.setStretchFactor(2, 1)
        side.setSizes([330, 180, 300])
        self.split.addWidget(side)

        main = QWidget()
        ml = QVBoxLayout(main)
        ml.setContentsMargins(0, 0, 0, 0)
        ml.setSpacing(8)
        self.banner = PatientBanner()
        ml.addWidget(self.banner)
        self.message = MessageBar()
        ml.addWidget(self.message)
        work = QSplitter(Qt.Orientation.Horizontal)
        work.setHandleWidth(10)
        middle = QSplitter(Qt.Orientation.Vertical)
        middle.setHandleWidth(10)
        self.sources = SourcesPanel()
        self.sources.image_loaded.connect(lambda _name: self._check_ready())
        self.checks = WarningsPanel()
        self.checks.field_requested.connect(self.select_field)
        self.checks.issue_selected.connect(lambda w: self.sources.show_evidence(w.evidence) if w.evidence else None)
        self.checks.override_requested.connect(self.override_issue)
        middle.addWidget(self.sources)
        middle.addWidget(self.checks)
        middle.setSizes([470, 260])
        work.addWidget(middle)

        note_card = QFrame()
        note_card.setObjectName("card")
        nl = QVBoxLayout(note_card)
        nl.setContentsMargins(10, 10, 4, 4)
        nl.setSpacing(4)
        head = QHBoxLayout()
        title = QLabel("Note")
        title.setObjectName("cardTitle")
        head.addWidget(title)
        self.note_state = QLabel("")
        self.note_state.setObjectName("muted")
        head.addStretch(1)
        head.addWidget(self.note_state)
        head.addSpacing(6)
        nl.addLayout(head)
        self.note_stack = QStackedWidget()
        self.placeholder = QLabel()
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.placeholder.setWordWrap(True)
        self.placeholder.setObjectName("muted")
        self.editor = NoteEditor()
        self.editor.field_edited.connect(self.edit_field)
        self.editor.text_changed.connect(self.edit_text)
        self.editor.evidence_selected.connect(self.sources.show_evidence)
        self.editor.edit_rejected.connect(lambda m: self.message.show_message(m, "warning"))
        self.note_stack.addWidget(self.placeholder)
        self.note_stack.addWidget(self.editor)
        self.draft_preview = QTextBrowser()  # the sections as the model writes them, after a recording stops
        self.draft_preview.setObjectName("draftPreview")
        self.draft_preview.setFrameShape(QFrame.Shape.NoFrame)
        self.note_stack.addWidget(self.draft_preview)
        self._draft_sections: dict[str, str] = {}
        self._draft_timer = QTimer(self, singleShot=True, interval=120)
        self._draft_timer.timeout.connect(self._render_draft)
        nl.addWidget(self.note_stack, 1)
        work.addWidget(note_card)
        work.setStretchFactor(0, 4)
        work.setStretchFactor(1, 6)
        work.setSizes([400, 680])
        ml.addWidget(work, 1)
        self.split.addWidget(main)
        self.split.setStretchFactor(0, 0)
        self.split.setStretchFactor(1, 1)
        self.split.setSizes([270, 1100])
        self.setCentralWidget(root)

        sb = self.statusBar()
        self.progress_label = QLabel("")
        self.progress_bar = QProgressBar()
        self.progress_bar.setRange(0, 1000)
        self.progress_bar.setFixedWidth(260)
        self.progress_bar.setTextVisible(False)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel_processing)
        sb.addPermanentWidget(self.progress_label)
        sb.addPermanentWidget(self.progress_bar)
        sb.addPermanentWidget(self.cancel_button)
        self._show_progress(False)
        where = QLabel(f"Encrypted store · {self.data_dir}")
        where.setObjectName("muted")
        sb.addWidget(where)

    def _build_actions(self) -> None:
        tb = QToolBar("Main")
        tb.setMovable(False)
        tb.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        self.addToolBar(tb)

        def act(text: str, shortcut, slot, tip: str, primary: bool = False) -> QAction:
            a = QAction(text, self)
            if shortcut:
                a.setShortcuts(shortcut if isinstance(shortcut, list) else [shortcut])
            a.setToolTip(f"{tip} ({QKeySequence(a.shortcut()).toString(QKeySequence.SequenceFormat.NativeText)})"
                         if shortcut else tip)
            a.triggered.connect(slot)
            tb.addAction(a)
            self.addAction(a)
            if primary:
                tb.widgetForAction(a).setObjectName("primary")
            return a

        self.act_new = act("New encounter", QKeySequence("Ctrl+N"), self.new_encounter, "New encounter")
        self.act_add = act("Add files", QKeySequence("Ctrl+O"), self.add_files_dialog, "Add recordings and images")
        self.act_process = act("Process", [QKeySequence("Ctrl+Return"), QKeySequence("Ctrl+Enter")], self.process,
                               "Transcribe, read the images and draft the note", primary=True)
        tb.addSeparator()
        self.act_save = act("Save", QKeySequence("Ctrl+S"), self.save_now, "Save edits to the encrypted store")
        self.act_sign = act("Sign…", QKeySequence("Ctrl+Shift+S"), self.sign, "Sign the note")
        self.act_amend = act("Amend", None, self.amend, "Start a new editable version of a signed note")
        self.act_pdf = act("Export PDF…", QKeySequence("Ctrl+E"), self.export_pdf_dialog, "Export the note as PDF")
        spacer = QWidget()
        spacer.setSizePolicy(spacer.sizePolicy().horizontalPolicy().Expanding, spacer.sizePolicy().verticalPolicy())
        tb.addWidget(spacer)
        self.brand = QLabel("clinidoc  ")
        self.brand.setStyleSheet(f"color: {theme.ACCENT}; font-weight: 700; font-size: 12pt;")
        tb.addWidget(self.brand)
        esc = QAction(self)
        esc.setShortcut(QKeySequence("Escape"))
        esc.triggered.connect(self.cancel_processing)
        self.addAction(esc)
        from clinidoc.gui.about import open_about
        from clinidoc.gui.model_manager import open_model_manager
        from clinidoc.gui.settings import open_settings

        tools = self.menuBar().addMenu("&Tools")
        for text, keys, slot in (("Settings…", "Ctrl+,", lambda: open_settings(self)),
                                 ("Model manager…", None, lambda: open_model_manager(self, self.data_dir)),
                                 ("About clinidoc", None, lambda: open_about(self))):
            a = tools.addAction(text)
            if keys:
                a.setShortcut(QKeySequence(keys))
            a.triggered.connect(slot)
            self.addAction(a)
        self.act_settings, self.act_models, self.act_about = tools.actions()

    def _build_record_actions(self) -> None:
        """Recording and review shortcuts (window-wide; not on the toolbar: the Record panel has the button)."""

        def act(text: str, keys: list[str], slot) -> QAction:
            a = QAction(text, self)
            a.setShortcuts([QKeySequence(k) for k in keys])
            a.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
            a.triggered.connect(slot)
            self.addAction(a)
            return a

        self.act_record = act("Record / stop", ["Ctrl+R"], self.recorder.toggle)
        self.act_pause = act("Pause / resume recording", ["Ctrl+Shift+R"], self.recorder.toggle_pause)
        self.act_next_issue = act("Next check", ["F8"], lambda: self.next_issue(1))
        self.act_prev_issue = act("Previous check", ["Shift+F8"], lambda: self.next_issue(-1))
        self.record_panel.button.setToolTip("Start recording (Ctrl+R)")

    def next_issue(self, step: int = 1) -> bool:
        """Select the next (or previous) check, as a click would: its field is selected in the note."""
        cards = self.checks.cards
        if not cards:
            return False
        cur = cards.index(self.checks.current) if self.checks.current in cards else (-1 if step > 0 else 0)
        card = cards[(cur + step) % len(cards)]
        self.checks._card_clicked(card)
        return True

    # -- state ----------------------------------------------------------------------------------
    @property
    def processing(self) -> bool:
        return self.worker is not None and self.worker.name == "process"

    def _update_state(self) -> None:
        has_doc = self.doc is not None
        signed = has_doc and self.doc.signed
        recording = self.recorder.active
        idle = not self.processing and not self._store_busy and not recording
        can_process = idle and bool(self.inputs.pending()) and (self.new_patient is not None or has_doc or True)
        self.act_process.setEnabled(can_process)
        self.act_add.setEnabled(idle or self.recorder.state in ("recording", "paused"))
        self.act_new.setEnabled(idle)
        self.act_save.setEnabled(idle and has_doc and not signed)
        self.act_sign.setEnabled(idle and has_doc and not signed)
        self.act_amend.setEnabled(idle and has_doc and signed)
        self.act_pdf.setEnabled(idle and has_doc)
        self.editor.setEnabled(not self._store_busy)
        if self.recorder.state == "idle":  # nothing to record into a signed note (amend first), or while busy
            self.record_panel.button.setEnabled(not signed and not self.processing and not self._store_busy)
        if has_doc:
            self.note_stack.setCurrentWidget(self.editor)
            status = f"Signed · v{self.doc.version}" if signed else f"Draft · v{self.doc.version}"
            self.banner.set_patient(self.doc.patient, status, self.doc.signature.signer if signed else None)
            sig = self.doc.signature
            self.note_state.setText(
                f"Signed by {sig.signer} · {sig.signed_at[:16].replace('T', ' ')} · read-only" if sig
                else f"{self.doc.encounter_id} · edits are saved and audited")
        elif self.recorder.state == "finishing" and self._draft_sections:
            self.note_stack.setCurrentWidget(self.draft_preview)
        else:
            self.note_stack.setCurrentWidget(self.placeholder)
            self.banner.set_patient(self.new_patient, "New" if self.new_patient else "")
            self.note_state.setText("")
            if self.recorder.state in ("starting", "recording", "paused"):
                self.placeholder.setText("Recording… the transcript grows on the left.\n"
                                         "Stop (Ctrl+R) and the note is drafted here.")
            elif self.processing:
                self.placeholder.setText("Processing… the note appears here when it is ready.")
            elif self.inputs.pending():
                self.placeholder.setText("Press Process (Ctrl+Enter) to transcribe the recording,\n"
                                         "read the reports and draft the note.")
            else:
                self.placeholder.setText("Start a new encounter (Ctrl+N), then drop the dictation,\n"
                                         "lab reports, ECGs or X-rays anywhere on this window.")

    def refresh_list(self) -> None:
        if self._store_busy:
            return
        self.encounters.set_entries(load_entries(self.store), self.doc.encounter_id if self.doc else None)

    # -- encounters -----------------------------------------------------------------------------
    def new_encounter(self, patient: Patient | None = None, encounter_id: str | None = None) -> bool:
        if self.processing or self.recorder.active:
            return False
        if not isinstance(patient, Patient):
            dlg = PatientDialog(self)
            if dlg.exec() != PatientDialog.DialogCode.Accepted:
                return False
            patient = dlg.patient()
        self.save()
        self.doc = None
        self.new_patient = patient
        self.new_encounter_id = encounter_id
        self.inputs.clear()
        self.sources.clear()
        self._show_issues()
        self.encounters.list.clearSelection()
        self.message.hide()
        self._update_state()
        return True

    def open_encounter(self, encounter_id: str) -> None:
        if self.processing or self._store_busy or self.recorder.active:
            return
        if self.doc is not None and self.doc.encounter_id == encounter_id:
            return
        self.save()
        try:
            self.doc = EncounterDocument(self.store, encounter_id, self.author)
        except ClinidocError as exc:
            self.message.show_message(f"Cannot open {encounter_id}: {exc}", "error")
            return
        self.new_patient = None
        self.message.hide()
        self._show_document(revalidate=True)

    def _show_document(self, revalidate: bool) -> None:
        doc = self.doc
        self.inputs.clear()
        kinds = {a.file: a.kind for a in doc.result.images}
        files: dict[str, object] = {}
        for inp in doc.inputs:
            suffix = Path(inp["name"]).suffix.lower()
            kind = kinds.get(inp["name"], "audio" if suffix in AUDIO_SUFFIXES else "unknown")
            self.inputs.add_stored(inp["name"], kind)
            if inp["name"] in kinds:
                files[inp["name"]] = (inp["id"], self.store.input_data(inp["id"]))
        self._ready_pending = {a.file for a in doc.result.images if not a.error and a.file in files}
        self.sources.set_result(doc.result, files)  # type: ignore[arg-type]
        audio = next((inp for inp in doc.inputs if Path(inp["name"]).suffix.lower() in AUDIO_SUFFIXES), None)
        store = self.store
        self.sources.set_audio((lambda i=audio["id"]: store.input_data(i), Path(audio["name"]).suffix) if audio else None)
        self.editor.set_result(doc.result, read_only=doc.signed)
        if revalidate and not doc.signed:
            doc.revalidate()
        self._show_issues()
        self._update_state()
        self._check_ready()

    def _check_ready(self) -> None:
        if self.doc is None:
            return
        pending = getattr(self, "_ready_pending", set())
        if all(self.sources.images.get(n) is not None and self.sources.images[n].loaded for n in pending):
            self._ready_pending = set()
            self.ready.emit()

    def _show_issues(self) -> None:
        if self.doc is None:
            self.checks.set_issues([], None, empty_text="Checks appear here once the encounter is processed.")
            return
        self.checks.set_issues(self.doc.warnings, self.doc.override_for, read_only=self.doc.signed)

    # -- input files ----------------------------------------------------------------------------
    def add_files_dialog(self) -> None:
        if self.processing:
            return
        paths, _ = QFileDialog.getOpenFileNames(self, "Add files to the encounter", str(Path.home()), FILE_FILTER)
        self.add_files([Path(p) for p in paths])

    def add_files(self, paths: list[Path]) -> list:
        if self.processing:
            self.message.show_message("Wait for processing to finish (or cancel it) before adding files.", "warning")
            return []
        if self.doc is not None and self.doc.signed:
            self.message.show_message("This note is signed. Amend it, or start a new encounter, to add files.", "warning")
            return []
        if self.recorder.active:
            if self.recorder.state not in ("recording", "paused"):
                self.message.show_message("Wait for the recording to finish before adding files.", "warning")
                return []
            audio = [p for p in paths if guess_kind(Path(p)) in ("audio", "transcript")]
            if audio:
                self.message.show_message("Stop the recording before adding another recording or transcript.", "warning")
            paths = [p for p in paths if p not in audio]
        added = self.inputs.add_paths(paths)
        for f in added:  # while recording, images are read at once
            if f.kind not in ("audio", "transcript"):
                self.recorder.add_image(f.path)
        self._update_state()
        return added

    def handle_drop(self, mime) -> None:
        self.add_files(local_files(mime))

    # -- processing -----------------------------------------------------------------------------
    @property
    def engines(self):
        if self._engines is None:
            from clinidoc.gui.settings import engines_for

            self._engines = engines_for(self.data_dir)  # the models chosen in Settings / Model manager
        return self._engines

    def build_inputs(self):
        from clinidoc.pipeline import EncounterInputs

        files = self.inputs.pending()
        audio = [f.path for f in files if f.kind == "audio"]
        texts = [f.path for f in files if f.kind == "transcript"]
        images = [f.path for f in files if f.kind not in ("audio", "transcript")]
        patient = self.doc.patient if self.doc is not None else self.new_patient
        from clinidoc import settings as user_settings

        return EncounterInputs(audio=audio, transcript_file=texts[0] if texts else None, images=images, patient=patient,
                               template=user_settings.load(self.data_dir).template, encounter_id=self.doc.encounter_id if self.doc is not None else self.new_encounter_id)

    def process(self) -> Worker | None:
        if self.processing or self._store_busy or self.recorder.active or not self.inputs.pending():
            return None
        self.save()
        inputs = self.build_inputs()
        self._stage_ranges = ({"load": (0.0, 0.0), "transcribe": (0.0, 0.55), "images": (0.55, 0.7), "draft": (0.7, 1.0)} if inputs.audio
                              else {"load": (0.0, 0.0), "transcribe": (0.0, 0.05), "images": (0.05, 0.45), "draft": (0.45, 1.0)})
        self._audio_index, self._last_fraction = 0, 0.0
        self._processing_started = time.monotonic()
        self.inputs.set_all("ready")
        for f in self.inputs.pending():
            if f.kind == "transcript":
                f.status, f.fraction = "done", 1.0
                self.inputs.refresh(f)
        self._pending_inputs = inputs
        self.message.hide()
        warm = self._warmup if self._warmup is not None and not self._warmup.wait(0) else None
        self.worker = run_in_background(
            process_job, inputs, self.engines, draft=self.draft_with_llm, after=warm, name="process", low_priority=True,
            on_progress=self._on_progress, on_finished=self._on_processed, on_error=self._on_process_error,
            on_cancelled=self._on_process_cancelled, on_done=self._on_process_done,
        )
        self._show_progress(True, "Starting…")
        self._update_state()
        return self.worker

    def warm_up(self, models: bool = True) -> Worker:
        """Load dictionaries and models in the background now, so the first Process does not wait on them."""
        if self._warmup is None:
            self._warmup = run_in_background(
                warm_up_job, self.engines, models=models, name="warm-up", low_priority=True,
                on_finished=lambda _r: self.statusBar().showMessage("Models loaded", 3000),
                on_error=lambda exc: self.statusBar().showMessage(f"Models not loaded yet: {_friendly(exc)}", 8000))
        return self._warmup

    def cancel_processing(self) -> None:
        if self.processing:
            self.worker.cancel()
            self.progress_label.setText("Cancelling…")
            self.cancel_button.setEnabled(False)

    def _show_progress(self, on: bool, text: str = "") -> None:
        self.progress_label.setVisible(on)
        self.progress_bar.setVisible(on)
        self.cancel_button.setVisible(on)
        self.cancel_button.setEnabled(on)
        self.progress_label.setText(text)
        if not on:
            self.progress_bar.setValue(0)

    _STAGE_WORDS = {"load": "Loading models", "transcribe": "Transcribing", "images": "Reading images", "draft": "Drafting the note"}

    def _on_progress(self, p: Progress) -> None:
        lo, hi = self._stage_ranges.get(p.stage, (0.0, 1.0))
        frac = p.fraction if p.fraction is not None else 0.0
        overall = max(self._last_fraction, lo + (hi - lo) * frac)
        self._last_fraction = overall
        self.progress_bar.setValue(int(overall * 1000))
        word = self._STAGE_WORDS.get(p.stage, p.stage.title())
        if p.stage == "draft" and p.message and p.message != "done":  # drafting names each section as it starts
            word = f"Drafting {p.message.lower()}"
        self.progress_label.setText(f"{word}… {int(overall * 100)}%")
        files = self.inputs.pending()
        if p.stage == "transcribe":
            audio = [f for f in files if f.kind == "audio"]
            if audio:
                cur = audio[min(self._audio_index, len(audio) - 1)]
                if frac < cur.fraction - 0.3 and self._audio_index + 1 < len(audio):  # the next recording began
                    cur.status, cur.fraction = "done", 1.0
                    self.inputs.refresh(cur)
                    self._audio_index += 1
                    cur = audio[self._audio_index]
                cur.status, cur.fraction = ("done", 1.0) if frac >= 1.0 else ("working", frac)
                self.inputs.refresh(cur)
        elif p.stage == "images":
            for f in files:
                if f.kind == "audio" and f.status != "done":
                    f.status, f.fraction = "done", 1.0
                    self.inputs.refresh(f)
            for f in files:
                if f.kind in ("audio", "transcript"):
                    continue
                if f.path.name == p.message:
                    f.status, f.fraction = "working", 0.3
                elif f.status == "working":
                    f.status, f.fraction = "done", 1.0
                self.inputs.refresh(f)

    # -- recording ------------------------------------------------------------------------------
    def show_live(self, view) -> None:
        """While recording: the transcript so far, the checks on it, and what was heard (from the core's LiveView)."""
        self.sources.transcript.set_transcript(view.transcript, follow=True)
        if self.doc is None:
            self.checks.set_issues(view.warnings, None, empty_text="No checks raised so far.")
        n = view.note
        vitals = sum(1 for k, v in n.vitals.model_dump(exclude={"evidence"}).items() if v is not None)
        text = (f"Heard so far: {len(n.medications)} medication{'s' if len(n.medications) != 1 else ''}, "
                f"{vitals} vital{'s' if vitals != 1 else ''}, {len(n.diagnoses)} diagnos{'e' if len(n.diagnoses) != 1 else 'i'}s")
        if view.images_pending:
            text += f"; reading {view.images_pending} image{'s' if view.images_pending != 1 else ''}"
        for f in self.inputs.pending():  # images dropped while recording are read now, not at stop
            if f.kind not in ("audio", "transcript"):
                state = ("working", 0.5) if view.images_pending else ("done", 1.0)
                if (f.status, f.fraction) != state:
                    f.status, f.fraction = state
                    self.inputs.refresh(f)
        self.record_panel.status.setText(text + ".")

    def finish_recording(self, recorder, session, output: Path, draft: bool) -> Worker:
        """Stop: the recorder's WAV is written, the session finishes (tail, images, draft, checks) in a worker
        that the window treats as processing; the result is stored with the recording and the images."""
        from clinidoc.gui.recording import finish_job
        from clinidoc.pipeline import EncounterInputs

        images = [f.path for f in self.inputs.pending() if f.kind not in ("audio", "transcript")]
        patient = self.doc.patient if self.doc is not None else self.new_patient
        self._pending_inputs = EncounterInputs(
            audio=[output], images=images, patient=patient,
            encounter_id=self.doc.encounter_id if self.doc is not None else self.new_encounter_id)
        self._stage_ranges = {"load": (0.0, 0.0), "transcribe": (0.0, 0.15), "images": (0.15, 0.2), "draft": (0.2, 1.0)}
        self._audio_index, self._last_fraction = 0, 0.0
        self._processing_started = time.monotonic()
        self.message.hide()

        def keep_recording() -> None:
            if output.is_file() and not any(f.path == output for f in self.inputs.files):
                for f in self.inputs.add_paths([output]):
                    f.status, f.fraction = "done", 1.0
                    self.inputs.refresh(f)

        def finished(value) -> None:
            recording, outcome = value
            self.record_panel.set_elapsed(recording.duration_s)  # all of it, written out at stop
            keep_recording()
            self._on_processed(outcome)

        def failed(exc: BaseException) -> None:
            keep_recording()  # the audio is not lost: it can be processed again
            self._on_process_error(exc)

        def cancelled() -> None:
            keep_recording()
            self._on_process_cancelled()

        self._draft_sections = {}
        self.worker = run_in_background(
            finish_job, recorder, session, draft=draft, on_draft=self.recorder._relay.draft.emit, name="process",
            low_priority=True,
            on_progress=self._on_progress, on_finished=finished, on_error=failed, on_cancelled=cancelled,
            on_done=self._on_process_done)
        self._show_progress(True, "Finishing the recording…")
        self._update_state()
        return self.worker

    def show_draft_event(self, event) -> None:
        """A section's text so far, while the note is drafted after a recording (re-drawn at most every 120 ms)."""
        if self.recorder.state != "finishing":
            return
        self._draft_sections[event.section] = event.text
        if not self._draft_timer.isActive():
            self._draft_timer.start()

    def _render_draft(self) -> None:
        if self.recorder.state != "finishing" or self.doc is not None:
            return
        import html

        parts = ["<p style='color:#5f6b7a'>Drafting the note… the sections appear as the model writes them.</p>"]
        for key, text in self._draft_sections.items():
            parts.append(f"<h3 style='color:{theme.ACCENT}; margin-bottom:2px'>{html.escape(key.replace('_', ' ').upper())}</h3>"
                         f"<p>{html.escape(text)}</p>")
        self.draft_preview.setHtml("".join(parts))
        self.draft_preview.verticalScrollBar().setValue(self.draft_preview.verticalScrollBar().maximum())
        if self.note_stack.currentWidget() is not self.draft_preview:
            self.note_stack.setCurrentWidget(self.draft_preview)

    def _on_processed(self, outcome) -> None:
        result = outcome.result
        names = {a.file: a for a in result.images}
        errors = {Path(e.file or "").name: str(e).split(": ", 1)[-1] for e in outcome.input_errors}
        for f in self.inputs.pending():
            art = names.get(f.path.name)
            if art is not None:
                f.kind = art.kind if art.kind != "unknown" else f.kind
            err = (art.error if art is not None else None) or errors.get(f.path.name)
            f.status, f.fraction, f.error = ("error", 0.0, err) if err else ("done", 1.0, None)
            self.inputs.refresh(f)
        inputs = self._pending_inputs
        try:
            paths = [p for p in [*inputs.audio, *([inputs.transcript_file] if inputs.transcript_file else []), *inputs.images]
                     if p.is_file()]
            eid = self.store.save_encounter(result, paths, author=self.author)
            self.doc = EncounterDocument(self.store, eid, self.author)
        except ClinidocError as exc:
            self.last_error = _friendly(exc)
            self.message.show_message(f"Processed, but not saved: {self.last_error}", "error")
            self._process_ok = False
            return
        self.new_patient, self.new_encounter_id = None, None
        elapsed = time.monotonic() - self._processing_started
        bad = [f for f in self.inputs.pending() if f.status == "error"]
        files = {f.path.name: f.path for f in self.inputs.pending()}
        audio = next((f.path for f in self.inputs.pending() if f.kind == "audio"), None)
        kept = list(self.inputs.files)
        doc = self.doc

        # the rest in short steps, one per turn of the event loop, so the window keeps painting
        def show_sources() -> None:
            self.sources.set_result(doc.result, files)  # type: ignore[arg-type]
            self.sources.set_audio(audio)
            self._ready_pending = {a.file for a in doc.result.images if not a.error and a.file in files}

        def show_checks() -> None:
            self._show_issues()

        def finish() -> None:
            self.refresh_list()
            self.inputs.clear()
            for f in kept:  # keep the per-file outcome visible, now as stored inputs
                f.stored = True
                self.inputs._append(f)
            msg = f"Note drafted in {elapsed:.0f} s: {len(result.note.medications)} medications, {len(result.labs)} lab rows, " \
                  f"{len(doc.warnings)} check{'s' if len(doc.warnings) != 1 else ''} to review."
            if bad:
                msg += f" {len(bad)} file(s) could not be used."
            self.message.show_message(msg, "warning" if bad else "ok")
            self._process_ok = True

        self._run_steps([show_sources, lambda: self.editor.set_result(doc.result), show_checks, finish])

    def _run_steps(self, steps: list) -> None:
        self._after_steps = list(steps)
        QTimer.singleShot(0, self._next_step)

    def _next_step(self) -> None:
        if self._after_steps:
            step = self._after_steps.pop(0)
            try:
                step()
            finally:
                if self._after_steps:
                    QTimer.singleShot(0, self._next_step)
        if not self._after_steps and self._done_waiting:
            self._done_waiting = False
            self._on_process_done()

    def _on_process_error(self, exc: BaseException) -> None:
        self.last_error = _friendly(exc)
        self.message.show_message(f"Processing failed: {self.last_error}", "error")
        self.inputs.set_all("ready")

    def _on_process_cancelled(self) -> None:
        self.message.show_message("Processing cancelled. Nothing was saved.", "warning")
        self.inputs.set_all("ready")

    def _on_process_done(self) -> None:
        """Always last: the window is idle again before anyone hears that processing ended."""
        if self._after_steps:  # the result is still being shown: finish that first
            self._done_waiting = True
            return
        self.worker = None
        if self.recorder.state == "finishing":
            self.recorder.finished()
        self._show_progress(False)
        self._update_state()
        ok, self._process_ok = self._process_ok, False
        self.processing_finished.emit(ok)
        if ok:
            self._check_ready()

    # -- editing --------------------------------------------------------------------------------
    def edit_field(self, path: str, value) -> None:
        if self.doc is None or self.doc.signed or self._store_busy:
            return
        try:
            self.doc.flush()
            changed = self.doc.set_value(path, value)
        except ClinidocError as exc:
            self.message.show_message(f"Edit not saved: {exc}", "error")
            self.editor.update_result(self.doc.result)
            return
        if changed:
            self.editor.update_result(self.doc.result)
            self.note_state.setText(f"{self.doc.encounter_id} · saved {time.strftime('%H:%M:%S')}")
            self._revalidate_timer.start()
            self._autosave_timer.start()

    def edit_text(self, path: str, text: str) -> None:
        if self.doc is None or self.doc.signed:
            return
        self.doc.set_text(path, text)
        self.note_state.setText(f"{self.doc.encounter_id} · editing…")
        self._revalidate_timer.start()
        self._autosave_timer.start()

    def revalidate(self) -> list[ValidationIssue]:
        if self.doc is None or self.doc.signed:
            return []
        issues = self.doc.revalidate()
        self._show_issues()
        self.revalidated.emit(issues)
        return issues

    def save(self) -> bool:
        """Write pending text edits and the live warnings to the store (audited)."""
        if self.doc is None or self.doc.signed or self._store_busy:
            return False
        self._autosave_timer.stop()
        try:
            if self._revalidate_timer.isActive():
                self._revalidate_timer.stop()
                self.revalidate()
            wrote = self.doc.flush()
            synced = self.doc.sync_warnings()
        except ClinidocError as exc:
            self.message.show_message(f"Not saved: {exc}", "error")
            return False
        if wrote or synced:
            self.note_state.setText(f"{self.doc.encounter_id} · saved {time.strftime('%H:%M:%S')}")
            self.refresh_list()
        return True

    def save_now(self) -> None:
        if self.save():
            self.statusBar().showMessage("Saved to the encrypted store", 3000)

    def select_field(self, field: str) -> QWidget | None:
        return self.editor.select_field(field)

    def override_issue(self, issue: ValidationIssue, reason: str | None = None) -> bool:
        if self.doc is None or self.doc.signed:
            return False
        if reason is None:
            dlg = OverrideDialog(issue, self)
            if dlg.exec() != OverrideDialog.DialogCode.Accepted:
                return False
            reason = dlg.text()
        try:
            self.save()
            self.doc.override(issue, reason)
        except ClinidocError as exc:
            self.message.show_message(f"Override not recorded: {exc}", "error")
            return False
        self._show_issues()
        self.refresh_list()
        self.message.show_message(f"Override of {issue.code} recorded with your reason.", "ok")
        return True

    # -- signing, amending, exporting ----------------------------------------------------------
    def sign(self, clinician: str | None = None, passphrase: str | None = None) -> bool:
        """Refused (with the reason shown) while error-level checks are open; else asks the passphrase
        and signs in a worker (the key derivation takes about a second)."""
        if self.doc is None or self.doc.signed or self._store_busy:
            return False
        self.save()
        self.revalidate()
        self.save()
        errors = self.doc.open_errors()
        if errors:
            codes = ", ".join(sorted({w.code for w in errors}))
            self.message.show_message(
                f"Signing refused: {len(errors)} error-level check{'s' if len(errors) != 1 else ''} still open ({codes}). "
                "Fix the field or override it with a reason.", "error")
            self.checks.click_issue(errors[0].code, errors[0].field)
            return False
        if clinician is None or passphrase is None:
            dlg = SignDialog(clinician or (self.author if self.author != "clinician" else ""), self)
            if dlg.exec() != SignDialog.DialogCode.Accepted:
                return False
            clinician, passphrase = dlg.clinician.text().strip(), dlg.passphrase.text()
        eid = self.doc.encounter_id
        self._run_store_job("sign", self.store.sign, eid, clinician, passphrase, on_finished=self._signed)
        return True

    def _signed(self, sig) -> None:
        self.doc.reload()
        self.editor.set_result(self.doc.result, read_only=True)
        self._show_issues()
        self.refresh_list()
        self.message.show_message(f"Signed by {sig.signer}. This version is now read-only; use Amend to change it.", "ok")

    def amend(self) -> None:
        if self.doc is None or not self.doc.signed or self._store_busy:
            return
        try:
            version = self.doc.amend()
        except ClinidocError as exc:
            self.message.show_message(f"Cannot amend: {exc}", "error")
            return
        self._show_document(revalidate=True)
        self.refresh_list()
        self.message.show_message(f"Amendment started as version {version}; the signed version stays unchanged.", "info")

    def export_pdf_dialog(self) -> None:
        if self.doc is None:
            return
        suggested = str(Path.home() / f"{self.doc.encounter_id}-v{self.doc.version}.pdf")
        path, _ = QFileDialog.getSaveFileName(self, "Export note as PDF", suggested, "PDF (*.pdf)")
        if path:
            self.export_pdf(Path(path))

    def export_pdf(self, path: Path) -> None:
        from clinidoc.records.pdf import export_pdf

        if self.doc is None or self._store_busy:
            return
        self.save()
        draft = not self.doc.signed
        self._run_store_job("export", export_pdf, self.store, self.doc.encounter_id, path, draft=draft, actor=self.author,
                            on_finished=lambda p: self.message.show_message(
                                f"Exported {'DRAFT ' if draft else ''}PDF to {p}", "ok"))

    def _run_store_job(self, name: str, fn, *args, on_finished, **kwargs) -> None:
        """A store call that may take a while (key derivation, PDF layout) on a worker; every other
        store access waits until it is done."""
        self._store_busy = True
        self._update_state()
        self._show_progress(True, {"sign": "Signing…", "export": "Writing PDF…"}.get(name, "Working…"))
        self.progress_bar.setRange(0, 0)
        self.cancel_button.hide()

        outcome = {"ok": False}

        def done() -> None:
            self.worker = None
            self._store_busy = False
            self.progress_bar.setRange(0, 1000)
            self._show_progress(False)
            self._update_state()
            self.store_job_finished.emit(name, outcome["ok"])  # last: the window is idle again

        def failed(exc: BaseException) -> None:
            self.last_error = _friendly(exc)
            from clinidoc.records import WrongPassphrase

            text = "Wrong passphrase; the note was not signed." if isinstance(exc, WrongPassphrase) else self.last_error
            self.message.show_message(f"{name.title()} failed: {text}", "error")

        def finished(value) -> None:
            self._store_busy = False
            outcome["ok"] = True
            on_finished(value)

        self.worker = run_in_background(fn, *args, name=name, on_finished=finished, on_error=failed, on_done=done,
                                        **kwargs)

    # -- closing --------------------------------------------------------------------------------
    def closeEvent(self, event) -> None:  # noqa: N802
        from clinidoc.gui.workers import wait_for_workers

        if self.processing:
            answer = QMessageBox.question(self, "Processing", "Processing is still running. Cancel it and quit?")
            if answer != QMessageBox.StandardButton.Yes:
                event.ignore()
                return
        self.save()
        for timer in (self._revalidate_timer, self._autosave_timer):
            timer.stop()
        self.recorder.close()
        self.hide()  # a model still loading may take a few seconds to notice the cancel
        wait_for_workers(timeout=15.0)
        QApplication.instance().removeEventFilter(self._drop_filter)
        self.doc = None  # nothing touches the store after this (it is closed by whoever opened it)
        self.editor.blockSignals(True)
        event.accept()
