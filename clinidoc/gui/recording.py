"""The Record panel: record / pause / stop, a level meter, the elapsed time, and the live path behind it.

The core does the work (``clinidoc.speech.recorder.Recorder`` writes the encrypted crash-safe spool and
hands each block to ``clinidoc.session.EncounterSession``, which transcribes while the clinician talks,
reads dropped images at once and re-extracts as the transcript grows). This module only wires them to Qt:

* the session is built (speech model loaded) in a worker, then the recorder starts;
* the session's ``on_update`` runs on its own thread: it is relayed to the GUI thread by a queued signal
  and the transcript, the checks and a one-line summary grow while recording;
* stop runs ``Recorder.stop`` and ``EncounterSession.stop`` (tail, images, drafting, validation) in a
  worker named "process", so the window treats it exactly like Process (progress bar, cancel, store);
* the audio source is injectable (``source_factory``): a microphone by default, a file played faster than
  real time in tests and screenshots (``WavFileSource``);
* no microphone: the panel says "No microphone found" and file drop keeps working;
* spools left by a crash are offered for recovery (decrypted to a WAV and added to the inputs).

The spool key is derived from the unlocked store's key, so recordings are readable only with the store.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from clinidoc.gui import theme
from clinidoc.gui.workers import run_in_background

if TYPE_CHECKING:  # pragma: no cover
    from clinidoc.gui.main_window import MainWindow

LEVEL_FLOOR_DB = -60.0
TICK_MS = 80
SPOOL_FOLDER = ("recordings", "app-spool")  # under the data folder; the CLI's own spools are elsewhere

STATES = ("checking", "idle", "no_mic", "starting", "recording", "paused", "finishing")


def elapsed_text(seconds: float) -> str:
    m, s = divmod(int(max(0.0, seconds)), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


def level_fraction(dbfs: float, floor: float = LEVEL_FLOOR_DB) -> float:
    """The meter's fill (0..1) for a level in dBFS: the floor and below is empty, 0 dBFS is full."""
    return max(0.0, min(1.0, (dbfs - floor) / -floor))


def spool_key_for(store) -> bytes:
    """32-byte key for the app's recording spools, bound to the unlocked store (its data key)."""
    return hmac.new(store._key, b"clinidoc recording spool v1", hashlib.sha256).digest()


# -- jobs (worker threads; no Qt) -------------------------------------------------------------------

def probe_microphone() -> str:
    """The default input device's name; NoInputDevice when there is none."""
    from clinidoc.speech.recorder import default_input_device

    return str(default_input_device().get("name") or "microphone")


def open_session_job(engines, patient, encounter_id, on_update, *, cancel):
    """Build the live session: loads the speech model (the LLM follows in the session's own thread)."""
    from clinidoc.session import EncounterSession

    session = EncounterSession(engines, patient, encounter_id=encounter_id, on_update=on_update)
    if cancel.cancelled:
        session.close()
        cancel.raise_if_cancelled()
    return session


def finish_job(recorder, session, *, draft: bool, on_draft=None, progress, cancel):
    """Stop the recorder (the WAV is written from the spool), then the session: tail, images, draft, checks.
    ``on_draft`` gets each section's text as the model writes it (where the session streams it)."""
    import inspect

    from clinidoc.progress import Progress

    progress(Progress("transcribe", 0.2, "finishing the recording"))
    recording = recorder.stop()
    progress(Progress("transcribe", 0.6, "transcribing the last words"))
    watcher_stop = _link_cancel(cancel, session)
    try:
        extra = {"on_draft": on_draft} if on_draft is not None and "on_draft" in inspect.signature(session.stop).parameters else {}
        outcome = session.stop(draft=draft, progress=progress, **extra)
    finally:
        watcher_stop()
        session.close()
    return recording, outcome


def _link_cancel(token, session) -> Callable[[], None]:
    """Forward the worker's cancel to the session's own token (the session checks its token)."""
    import threading

    done = threading.Event()

    def watch() -> None:
        while not done.wait(0.1):
            if token.cancelled:
                session.cancel.cancel()
                return

    threading.Thread(target=watch, name="record-cancel", daemon=True).start()
    return done.set


def recover_job(path: Path, key: bytes, output: Path) -> Path:
    from clinidoc.speech import spool

    spool.recover(path, key, output)
    Path(path).unlink(missing_ok=True)
    return output


# -- the panel --------------------------------------------------------------------------------------

class RecordPanel(QFrame):
    """Big record/stop button, pause, level meter, elapsed time, one status line, recovery offer."""

    record_clicked = Signal()
    pause_clicked = Signal()
    recover_clicked = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("card")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(10, 10, 10, 10)
        lay.setSpacing(6)
        head = QHBoxLayout()
        title = QLabel("Record")
        title.setObjectName("cardTitle")
        head.addWidget(title)
        head.addStretch(1)
        self.elapsed = QLabel("00:00")
        self.elapsed.setFont(theme.mono_font(13))
        self.elapsed.setObjectName("recordElapsed")
        head.addWidget(self.elapsed)
        lay.addLayout(head)

        row = QHBoxLayout()
        row.setSpacing(8)
        self.button = QPushButton("●  Record")
        self.button.setObjectName("recordButton")
        self.button.setMinimumHeight(44)
        self.button.setCursor(Qt.CursorShape.PointingHandCursor)
        self.button.clicked.connect(self.record_clicked)
        row.addWidget(self.button, 1)
        self.pause = QPushButton("❚❚")
        self.pause.setObjectName("pauseButton")
        self.pause.setToolTip("Pause / resume (Ctrl+Shift+R)")
        self.pause.setFixedSize(48, 44)
        self.pause.clicked.connect(self.pause_clicked)
        row.addWidget(self.pause)
        lay.addLayout(row)

        self.meter = QProgressBar()
        self.meter.setObjectName("levelMeter")
        self.meter.setRange(0, 1000)
        self.meter.setTextVisible(False)
        self.meter.setFixedHeight(8)
        self.meter.setToolTip("Input level")
        lay.addWidget(self.meter)

        self.status = QLabel("")
        self.status.setObjectName("muted")
        self.status.setWordWrap(True)
        lay.addWidget(self.status)

        self.recover_bar = QFrame()
        rb = QHBoxLayout(self.recover_bar)
        rb.setContentsMargins(0, 0, 0, 0)
        self.recover_label = QLabel("")
        self.recover_label.setWordWrap(True)
        self.recover_label.setStyleSheet(f"color: {theme.SEVERITY['warning'][0]}; font-weight: 600;")
        rb.addWidget(self.recover_label, 1)
        self.recover_button = QPushButton("Recover")
        self.recover_button.clicked.connect(self.recover_clicked)
        rb.addWidget(self.recover_button)
        lay.addWidget(self.recover_bar)
        self.recover_bar.hide()
        self.setStyleSheet(
            "QPushButton#recordButton { background: #b42318; color: white; border: 1px solid #b42318;"
            " border-radius: 22px; font-size: 12pt; font-weight: 700; }"
            " QPushButton#recordButton:hover { background: #d0342a; }"
            " QPushButton#recordButton[recording=\"true\"] { background: #2b2f36; border-color: #2b2f36; }"
            " QPushButton#recordButton:disabled { background: #e6e8eb; color: #8a939e; border-color: #d5d9de; }"
            " QPushButton#pauseButton { border-radius: 22px; font-weight: 700; }"
            " QProgressBar#levelMeter { background: #e9ecef; border: none; border-radius: 4px; }"
            " QProgressBar#levelMeter::chunk { border-radius: 4px; background: qlineargradient(x1:0, y1:0, x2:1, y2:0,"
            " stop:0 #2e9e5b, stop:0.75 #e0b400, stop:1 #c0392b); }")
        self.state = ""
        self.set_state("checking")

    def set_state(self, state: str, detail: str = "") -> None:
        assert state in STATES, state
        self.state = state
        b = self.button
        recording = state in ("recording", "paused")
        b.setProperty("recording", "true" if recording else "false")
        b.style().unpolish(b)
        b.style().polish(b)
        b.setText({"recording": "■  Stop", "paused": "■  Stop", "starting": "Starting…", "finishing": "Drafting…",
                   "no_mic": "No microphone found"}.get(state, "●  Record"))
        b.setEnabled(state in ("idle", "recording", "paused"))
        b.setToolTip("Start recording (Ctrl+R)" if state == "idle" else "Stop and draft the note (Ctrl+R)")
        self.pause.setEnabled(recording)
        self.pause.setText("▶" if state == "paused" else "❚❚")
        if not recording:
            self.meter.setValue(0)
        text = {
            "checking": "Looking for a microphone…",
            "idle": "Dictate or record the visit; the transcript grows while you talk.",
            "no_mic": "Connect a microphone to record here. Recordings and images can still be dropped on the window.",
            "starting": "Loading the speech model…",
            "recording": "Recording. Drop lab reports or ECGs now: they are read at once.",
            "paused": "Paused. Nothing is recorded until you resume.",
            "finishing": "Transcribing the last words and drafting the note…",
        }[state]
        self.status.setText(detail or text)

    def set_level(self, dbfs: float) -> None:
        self.meter.setValue(int(level_fraction(dbfs) * 1000))

    def set_elapsed(self, seconds: float) -> None:
        self.elapsed.setText(elapsed_text(seconds))

    def offer_recovery(self, count: int, seconds: float) -> None:
        if count <= 0:
            self.recover_bar.hide()
            return
        what = "recording" if count == 1 else "recordings"
        self.recover_label.setText(f"{count} interrupted {what} (about {elapsed_text(seconds)}) can be recovered.")
        self.recover_bar.show()


class _Relay(QObject):
    """Carries the session's updates (its own thread) to the GUI thread (queued)."""

    update = Signal(object)
    draft = Signal(object)  # clinidoc.drafting.draft.DraftEvent


# -- the controller ---------------------------------------------------------------------------------

class RecordingController(QObject):
    """Owns one live recording at a time for the window; the panel is its face."""

    state_changed = Signal(str)
    live_updated = Signal(object)  # clinidoc.session.LiveView, on the GUI thread

    def __init__(self, window: MainWindow, panel: RecordPanel) -> None:
        super().__init__(window)
        self.window = window
        self.panel = panel
        self.source_factory: Callable[[], object] | None = None  # None: the microphone
        self.auto_stop = True  # a finite source (a file) that has delivered everything ends the recording
        self.mic_name: str | None = None
        self.session = None
        self.recorder = None
        self.source = None
        self.output: Path | None = None
        self.last_view = None
        self._tmpdirs: list[Path] = []
        self._opening = None
        self._started_at = 0.0
        self._relay = _Relay()
        self._relay.update.connect(self._on_update, Qt.ConnectionType.QueuedConnection)
        self._relay.draft.connect(window.show_draft_event, Qt.ConnectionType.QueuedConnection)
        self._timer = QTimer(self, interval=TICK_MS)
        self._timer.timeout.connect(self._tick)
        panel.record_clicked.connect(self.toggle)
        panel.pause_clicked.connect(self.toggle_pause)
        panel.recover_clicked.connect(self.recover)
        self._interrupted: list = []

    # -- state ---------------------------------------------------------------------------------
    @property
    def state(self) -> str:
        return self.panel.state

    @property
    def active(self) -> bool:
        """A recording is open (starting, recording, paused) or being finished."""
        return self.state in ("starting", "recording", "paused", "finishing")

    def _set_state(self, state: str, detail: str = "") -> None:
        self.panel.set_state(state, detail)
        self.state_changed.emit(state)
        self.window._update_state()

    def spool_dir(self) -> Path:
        folder = self.window.data_dir.joinpath(*SPOOL_FOLDER)
        folder.mkdir(parents=True, exist_ok=True)
        os.chmod(folder, 0o700)
        return folder

    # -- start-up checks (after the window is shown: nothing here slows the start) ---------------------
    def check_devices(self) -> None:
        """Look for a microphone (in a worker: PortAudio's start-up is slow) and for interrupted recordings."""
        if self.source_factory is not None:
            self._set_state("idle")
        else:
            run_in_background(probe_microphone, name="probe microphone", on_finished=self._mic_found,
                              on_error=self._mic_missing)
        self.find_interrupted()

    def _mic_found(self, name: str) -> None:
        self.mic_name = name
        if self.state in ("checking", "no_mic"):
            self._set_state("idle")

    def _mic_missing(self, exc: BaseException) -> None:
        self.mic_name = None
        if self.source_factory is not None:
            self._set_state("idle")
        elif self.state in ("checking", "idle"):
            self._set_state("no_mic")
            self.panel.button.setToolTip(str(exc))

    def set_source_factory(self, factory: Callable[[], object] | None) -> None:
        """Inject an audio source (tests, demos): ``factory()`` returns a fresh AudioSource per recording."""
        self.source_factory = factory
        if not self.active:
            self._set_state("idle" if factory is not None or self.mic_name else "no_mic")

    # -- record / pause / stop -----------------------------------------------------------------
    def toggle(self) -> None:
        if self.state == "idle":
            self.start()
        elif self.state in ("recording", "paused"):
            self.stop()

    def toggle_pause(self) -> None:
        if self.recorder is None:
            return
        if self.state == "recording":
            self.recorder.pause()
            self._set_state("paused")
        elif self.state == "paused":
            self.recorder.resume()
            self._set_state("recording")

    def start(self) -> bool:
        w = self.window
        if self.state != "idle" or w.processing or w._store_busy:
            return False
        if w.doc is not None and w.doc.signed:
            w.message.show_message("This note is signed. Amend it, or start a new encounter, to record.", "warning")
            return False
        w.save()
        patient = w.doc.patient if w.doc is not None else w.new_patient
        eid = w.doc.encounter_id if w.doc is not None else w.new_encounter_id
        self._set_state("starting")
        self._opening = run_in_background(
            open_session_job, w.engines, patient, eid, self._relay.update.emit, name="open recording",
            on_finished=self._session_ready, on_error=self._start_failed,
            on_cancelled=lambda: self._set_state("idle"))
        return True

    def _session_ready(self, session) -> None:
        from clinidoc.speech.recorder import MicrophoneSource, Recorder

        self._opening = None
        self.session = session
        self.last_view = None
        tmp = Path(tempfile.mkdtemp(prefix="clinidoc-rec-"))
        os.chmod(tmp, 0o700)
        self._tmpdirs.append(tmp)
        self.output = tmp / f"recording-{time.strftime('%Y%m%d-%H%M%S')}.wav"
        self.source = self.source_factory() if self.source_factory is not None else MicrophoneSource()
        self.recorder = Recorder(self.source, spool_dir=self.spool_dir(), key=spool_key_for(self.window.store),
                                 output=self.output, listeners=[session.feed_audio],
                                 meta={"encounter": session.encounter_id or ""})
        try:
            self.recorder.start()
        except Exception as exc:  # noqa: BLE001 - NoInputDevice above all: say so, keep the window usable
            session.close()
            self.session = self.recorder = self.source = None
            self._set_state("no_mic" if self.source_factory is None else "idle")
            self.window.message.show_message(f"Cannot record: {exc}", "error")
            return
        for f in self.window.inputs.pending():  # images dropped before recording are read now too
            if f.kind not in ("audio", "transcript"):
                session.add_image(f.path)
        self._started_at = time.monotonic()
        self._timer.start()
        self._set_state("recording")
        self.window.sources.tabs.setCurrentWidget(self.window.sources.transcript)

    def _start_failed(self, exc: BaseException) -> None:
        self._opening = None
        self._set_state("idle")
        self.window.message.show_message(f"Cannot start recording: {exc}", "error")

    def add_image(self, path: Path) -> None:
        """An image dropped while recording: read at once by the session's background reader."""
        if self.session is not None and self.state in ("recording", "paused"):
            self.session.add_image(path)

    def _tick(self) -> None:
        rec = self.recorder
        if rec is None:
            return
        self.panel.set_level(rec.level_dbfs if self.state == "recording" else -100.0)
        self.panel.set_elapsed(rec.duration_s)
        if self.auto_stop and self.state == "recording" and getattr(self.source, "finished", False):
            self.stop()

    def _on_update(self, view) -> None:
        if self.session is None or self.state not in ("recording", "paused", "finishing"):
            return
        self.last_view = view
        self.window.show_live(view)
        self.live_updated.emit(view)

    def stop(self, draft: bool | None = None):
        """Stop recording; the draft is made in a worker the window treats as processing."""
        if self.state not in ("recording", "paused") or self.recorder is None:
            return None
        self._timer.stop()
        self.panel.set_level(-100.0)
        recorder, session = self.recorder, self.session
        self._set_state("finishing")
        return self.window.finish_recording(recorder, session, self.output,
                                            self.window.draft_with_llm if draft is None else draft)

    def finished(self) -> None:
        """Called by the window once the draft is shown (or failed)."""
        self.session = self.recorder = self.source = None
        self._set_state("idle" if self.source_factory is not None or self.mic_name else "no_mic")

    # -- crash recovery ------------------------------------------------------------------------
    def find_interrupted(self) -> list:
        from clinidoc.speech.spool import find_interrupted

        self._interrupted = find_interrupted(self.spool_dir())
        self.panel.offer_recovery(len(self._interrupted), sum(r.approx_seconds for r in self._interrupted))
        return self._interrupted

    def recover(self) -> None:
        """Decrypt each interrupted spool to a WAV (in a worker) and add it to the inputs."""
        if not self._interrupted:
            return
        key = spool_key_for(self.window.store)
        tmp = Path(tempfile.mkdtemp(prefix="clinidoc-rec-"))
        os.chmod(tmp, 0o700)
        self._tmpdirs.append(tmp)
        self.panel.recover_button.setEnabled(False)
        pending = list(self._interrupted)
        self._interrupted = []

        def recovered(path: Path) -> None:
            self.window.add_files([path])
            self.window.message.show_message(f"Recovered {path.name}: press Process to transcribe it.", "ok")

        def failed(exc: BaseException) -> None:
            self.window.message.show_message(f"Recording not recovered: {exc}", "error")

        def done() -> None:
            self.panel.recover_button.setEnabled(True)
            self.find_interrupted()

        for i, item in enumerate(pending):
            stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(item.modified))
            out = tmp / f"recovered-{stamp}-{i + 1}.wav"
            run_in_background(recover_job, item.path, key, out, name="recover recording", on_finished=recovered,
                              on_error=failed, on_done=done)

    def close(self) -> None:
        """The window is closing: a recording in progress is stopped without drafting (its spool is kept
        for recovery next time), and temporary WAVs are removed."""
        self._timer.stop()
        if self._opening is not None:
            self._opening.cancel()
        if self.recorder is not None and self.state in ("recording", "paused"):
            self.recorder.keep_spool = True  # not drafted: the spool stays and is offered for recovery next time
            try:
                self.recorder.stop()
            except Exception:  # noqa: BLE001 - the spool stays for recovery
                pass
        if self.session is not None:
            self.session.close()
        self.session = self.recorder = self.source = None
        for d in self._tmpdirs:
            shutil.rmtree(d, ignore_errors=True)
        self._tmpdirs = []
