"""Starting the desktop application: unlock the store, show the window; or render one screenshot.

``run_gui(data_dir)`` is the interactive app. ``run_gui(data_dir, screenshot=PATH)`` opens the demo
encounter (from the demo store beside the real one, passphrase "demo", as ``clinidoc demo`` uses;
processed on the embedded models in a worker the first time), waits until the note and its images
are shown, saves a PNG of the window and exits.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

DEMO_PASSPHRASE = "demo"
DEMO_ID = "demo-001"


def _has_display() -> bool:
    if sys.platform != "linux" or os.environ.get("QT_QPA_PLATFORM"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def make_app(argv: list[str] | None = None):
    from PySide6.QtWidgets import QApplication

    from clinidoc import __version__
    from clinidoc.gui import theme

    app = QApplication.instance() or QApplication(argv or [sys.argv[0]])
    app.setApplicationName("clinidoc")
    app.setApplicationDisplayName("clinidoc")
    app.setApplicationVersion(__version__)
    app.setOrganizationName("clinidoc")
    theme.apply(app)
    return app


def _finish_workers() -> None:
    """Cancel background work and wait for it: a thread still inside a model load when the
    interpreter shuts down can crash the process on the way out."""
    from clinidoc.gui.workers import wait_for_workers

    wait_for_workers(timeout=300.0)


def open_demo_store(data_dir: Path):
    from clinidoc.records import Store

    home = Path(data_dir) / "demo"
    if Store.exists(home):
        return Store.open(home, DEMO_PASSPHRASE), home
    return Store.create(home, DEMO_PASSPHRASE), home


def load_demo(window) -> None:
    """Show the demo encounter: from the store when it was processed before, else process it now."""
    from clinidoc import config
    from clinidoc.encounter import Patient

    if any(e.encounter_id == DEMO_ID for e in window.encounters.entries):
        window.open_encounter(DEMO_ID)
        return
    demo = config.resource("demo")
    case = json.loads((demo / "case.json").read_text())
    patient = Patient.model_validate(json.loads((demo / "patient.json").read_text()))
    window.warm_up()
    window.new_encounter(patient, encounter_id=case["id"])
    window.add_files([demo / a for a in case["inputs"]["audio"]] + [demo / i for i in case["inputs"]["images"]])
    window.process()


def take_screenshot(window, out: Path) -> bool:
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    return window.grab().save(str(out), "PNG")


def run_screenshot(data_dir: Path, out: Path, size: tuple[int, int] = (1280, 800), timeout_s: float = 900) -> int:
    from PySide6.QtCore import QTimer

    from clinidoc.gui.main_window import MainWindow

    if not _has_display():
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    app = make_app()
    store, home = open_demo_store(data_dir)
    window = MainWindow(store, home, author="Demo Clinician")
    window.resize(*size)
    window.show()
    status = {"code": 1, "done": False}

    def finish(code: int, why: str = "") -> None:
        if status["done"]:
            return
        status["done"] = True
        ok = take_screenshot(window, out)
        if why:
            print(f"clinidoc: {why}", file=sys.stderr)
        status["code"] = code if ok else 1
        app.exit(status["code"])

    def on_ready() -> None:
        # show what the editor does: a medication selected, its transcript evidence highlighted
        if window.editor.meds.rowCount():
            window.editor.meds.setCurrentCell(0, 0)
        elif window.editor.labs.rowCount():
            window.editor.labs.setCurrentCell(0, 0)
        QTimer.singleShot(400, lambda: finish(0))

    window.ready.connect(on_ready)
    window.processing_finished.connect(
        lambda ok: None if ok else QTimer.singleShot(200, lambda: finish(1, f"demo not processed: {window.last_error}")))
    QTimer.singleShot(int(timeout_s * 1000), lambda: finish(1, f"not ready after {timeout_s:.0f} s"))
    QTimer.singleShot(0, lambda: load_demo(window))
    try:
        app.exec()
    finally:
        window.close()
        _finish_workers()
        store.close()
    if status["code"] == 0:
        print(f"wrote {out}")
    return status["code"]


def run_first_run(folder: Path, kdf=None):
    """The first-run wizard (modal): (store, chosen data folder), or None when cancelled."""
    from clinidoc.gui.first_run import FirstRunWizard

    wizard = FirstRunWizard(folder, kdf=kdf)
    try:
        if wizard.exec() != FirstRunWizard.DialogCode.Accepted or wizard.store is None:
            return None
        return wizard.store, wizard.data_dir
    finally:
        wizard.deleteLater()


def run_gui(data_dir: Path | None = None, screenshot: Path | None = None, size: tuple[int, int] = (1280, 800),
            timeout_s: float = 900) -> int:
    from clinidoc import config

    folder = config.data_dir(data_dir)
    if screenshot is not None:
        return run_screenshot(folder, screenshot, size, timeout_s)
    if not _has_display():
        print("clinidoc: no display found (DISPLAY / WAYLAND_DISPLAY); use --screenshot or set QT_QPA_PLATFORM",
              file=sys.stderr)
        return 1
    from clinidoc import settings as user_settings
    from clinidoc.gui.dialogs import UnlockDialog
    from clinidoc.gui.main_window import MainWindow, warm_up_job
    from clinidoc.gui.settings import apply_font_scale, engines_for
    from clinidoc.gui.workers import run_in_background
    from clinidoc.records import Store

    app = make_app()
    if not Store.exists(folder):
        opened = run_first_run(folder)  # data folder, the encrypted store, hardware and the models that fit
        if opened is None:
            return 0
        store, folder = opened
        apply_font_scale(user_settings.load(folder).font_scale, app)
        engines = engines_for(folder)
        warm = run_in_background(warm_up_job, engines, name="warm-up", low_priority=True)
    else:
        apply_font_scale(user_settings.load(folder).font_scale, app)
        # models and dictionaries load while the passphrase is typed
        engines = engines_for(folder)
        warm = run_in_background(warm_up_job, engines, name="warm-up", low_priority=True)
        dlg = UnlockDialog(folder)
        if dlg.exec() != UnlockDialog.DialogCode.Accepted or dlg.store is None:
            warm.cancel()
            return 0
        store = dlg.store
    window = MainWindow(store, folder, engines=engines, author=os.environ.get("CLINIDOC_CLINICIAN", "clinician"))
    window._warmup = warm
    window.show()
    try:
        return app.exec()
    finally:
        window.close()
        _finish_workers()
        store.close()


def main() -> None:
    """Entry point of ``clinidoc-gui``."""
    from clinidoc.gui.commands import gui_command

    gui_command(prog_name="clinidoc-gui")
