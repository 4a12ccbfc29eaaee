"""Screenshots of the main states of the window, made by driving the real application on the demo encounter.

    clinidoc gui --screenshots docs/screenshots            # empty.png, recording.png, review.png, signed.png
    clinidoc gui --screenshot OUT.png --state recording    # one of them

The demo goes through the live path: a fresh demo store (``<data dir>/screenshots``, recreated each run, so
the pictures do not depend on earlier runs), the demo patient, the lab report dropped, then the bundled
dictation played as the "microphone" (a file source, faster than real time) into the Record panel; the
picture "recording" is taken once the live transcript has several lines; stop drafts the note on the
embedded models ("review": a check clicked, its field selected); the open checks are overridden with a
reason and the note signed ("signed").
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

STATES = ("empty", "recording", "review", "signed")
PASSPHRASE = "demo"
CLINICIAN = "Dr Demo Clinician"
SPEED = 3.0  # the dictation played at 3x real time
RECORDING_CHARS = 220  # live transcript text before the "recording" picture


def run_states(data_dir: Path, outputs: dict[str, Path], size: tuple[int, int] = (1440, 900),
               timeout_s: float = 900.0) -> int:
    """Write the PNG of each state named in ``outputs`` (state -> path); 0 when all were written."""
    from PySide6.QtCore import QTimer

    from clinidoc import config
    from clinidoc.encounter import Patient
    from clinidoc.gui.app import (
        _finish_workers,
        _has_display,
        make_app,
        take_screenshot,
    )
    from clinidoc.gui.main_window import MainWindow
    from clinidoc.records import KdfParams, Store
    from clinidoc.speech.recorder import WavFileSource

    if not _has_display():
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    unknown = set(outputs) - set(STATES)
    if unknown:
        print(f"clinidoc: unknown state(s) {sorted(unknown)}: use {', '.join(STATES)}", file=sys.stderr)
        return 2
    app = make_app()
    home = Path(data_dir) / "screenshots"
    shutil.rmtree(home, ignore_errors=True)
    store = Store.create(home, PASSPHRASE, KdfParams(time_cost=1, memory_cost=8 * 1024, parallelism=1))
    demo = config.resource("demo")
    case = json.loads((demo / "case.json").read_text())
    patient = Patient.model_validate(json.loads((demo / "patient.json").read_text()))
    window = MainWindow(store, home, author=CLINICIAN)
    window.resize(*size)
    window.recorder.set_source_factory(lambda: WavFileSource(demo / case["inputs"]["audio"][0], speed=SPEED))
    window.show()
    todo = [s for s in STATES if s in outputs]
    status = {"code": 0, "done": False}

    def shoot(state: str) -> None:
        if state in outputs and state in todo:
            ok = take_screenshot(window, outputs[state])
            todo.remove(state)
            print(f"wrote {outputs[state]}" if ok else f"clinidoc: could not write {outputs[state]}",
                  file=sys.stdout if ok else sys.stderr)
            if not ok:
                status["code"] = 1
        if not todo:
            finish(status["code"])

    def finish(code: int, why: str = "") -> None:
        if status["done"]:
            return
        status["done"] = True
        if why:
            print(f"clinidoc: {why}", file=sys.stderr)
        status["code"] = code
        app.exit(code)

    def start() -> None:
        shoot("empty")
        if status["done"]:
            return
        window.warm_up()
        window.new_encounter(patient, encounter_id=case["id"])
        window.add_files([demo / i for i in case["inputs"]["images"]])
        window.recorder.live_updated.connect(on_live)
        window.recorder.start()

    def on_live(view) -> None:
        said = sum(len(seg.text) for seg in view.transcript.segments)
        if "recording" in todo and not status.get("recording_due") and said >= RECORDING_CHARS:
            status["recording_due"] = True
            QTimer.singleShot(150, lambda: shoot("recording") if window.recorder.state == "recording" else None)

    def on_recorder(state: str) -> None:
        if state == "finishing" and "recording" in todo:
            finish(1, "the live transcript did not show enough text before the recording ended")

    def on_processed(ok: bool) -> None:
        if not ok:
            finish(1, f"the recording was not drafted: {window.last_error}")

    def on_ready() -> None:
        if status["done"] or window.doc is None or window.doc.signed:
            return
        cards = [c for c in window.checks.cards if c.issue.field]
        if cards:  # a check clicked: its field selected in the note, its evidence in the sources
            window.checks._card_clicked(cards[0])
            QTimer.singleShot(200, lambda: window.checks.scroll.verticalScrollBar().setValue(0))  # the card whole
        QTimer.singleShot(500, after_review)

    def after_review() -> None:
        shoot("review")
        if status["done"]:
            return
        for issue in list(window.doc.open_errors()):
            window.override_issue(issue, "reviewed with the patient (demo)")
        window.sign(CLINICIAN, PASSPHRASE)

    def on_store_job(name: str, ok: bool) -> None:
        if name == "sign":
            if not ok:
                finish(1, f"not signed: {window.last_error}")
                return
            window.sources.tabs.setCurrentIndex(0)
            window.editor.verticalScrollBar().setValue(0)  # the signed note from its top
            QTimer.singleShot(500, lambda: shoot("signed"))

    window.ready.connect(on_ready)
    window.recorder.state_changed.connect(on_recorder)
    window.processing_finished.connect(on_processed)
    window.store_job_finished.connect(on_store_job)
    QTimer.singleShot(int(timeout_s * 1000), lambda: finish(1, f"not done after {timeout_s:.0f} s (left: {todo})"))
    QTimer.singleShot(600, start)  # the first paint, the microphone check
    try:
        app.exec()
    finally:
        window.close()
        _finish_workers()
        store.close()
        shutil.rmtree(home, ignore_errors=True)
    return status["code"]
