"""GUI tests: pytest-qt, offscreen, stores with a cheap key derivation, one shared pipeline result."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before anything imports Qt

import json
from pathlib import Path

import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "resources" / "demo"
PASSPHRASE = "correct horse battery staple"

# A dictation as text: three medications, vitals, an assessment; keeps processing fast (no speech model).
DICTATION = """Dictation for John Carter, medical record number 551208. 61 year old man seen for follow up of
hypertension and type 2 diabetes. He reports occasional morning headaches. No chest pain.

Allergy to penicillin, which causes a rash. Blood pressure 148 over 92. Heart rate 76. Temperature 36.9.
Oxygen saturation 98 percent on room air. Lungs are clear. No edema.

Labs reviewed: glucose 168 and hemoglobin A1c 7.9, both above goal. LDL 131.

Assessment: essential hypertension, not at goal, and type 2 diabetes with hyperglycemia.

Plan: start amlodipine 5 milligrams by mouth daily. Continue metformin 1000 milligrams by mouth twice daily.
Start atorvastatin 40 milligrams by mouth daily. Recheck blood pressure in 4 weeks.
"""


@pytest.fixture(scope="session")
def fast_kdf():
    from clinidoc.records import KdfParams

    return KdfParams(time_cost=1, memory_cost=8 * 1024, parallelism=1)


@pytest.fixture(scope="session")
def patient():
    from clinidoc.encounter import Patient

    return Patient.model_validate(json.loads((DEMO / "patient.json").read_text()))


@pytest.fixture(scope="session")
def dictation_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("inputs") / "dictation.txt"
    path.write_text(DICTATION)
    return path


@pytest.fixture(scope="session")
def base_result(engines, dictation_file, patient):
    """The real pipeline (text + lab report image, no LLM drafting) run once for the editing tests."""
    from clinidoc.pipeline import EncounterInputs, process_encounter

    inputs = EncounterInputs(transcript_file=dictation_file, images=[DEMO / "labs.png"], patient=patient)
    return process_encounter(inputs, engines, draft=False).result


@pytest.fixture
def data_dir(tmp_path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def store(data_dir, fast_kdf):
    from clinidoc.records import Store

    s = Store.create(data_dir, PASSPHRASE, fast_kdf)
    yield s
    s.close()


@pytest.fixture
def window(qtbot, store, data_dir, engines):
    from clinidoc.gui.app import make_app
    from clinidoc.gui.main_window import MainWindow

    make_app()
    w = MainWindow(store, data_dir, engines=engines, author="Dr Test")
    qtbot.addWidget(w)
    w.resize(1280, 800)
    w.show()
    qtbot.waitExposed(w)
    yield w
    from clinidoc.gui.workers import wait_for_workers

    w.close()  # saves and lets go of the store before the store fixture closes it
    wait_for_workers(timeout=60)


@pytest.fixture
def opened(window, store, base_result, dictation_file, qtbot):
    """The window with the shared result saved as an encounter and opened."""
    eid = store.save_encounter(base_result, [dictation_file, DEMO / "labs.png"], author="Dr Test")
    window.refresh_list()
    with qtbot.waitSignal(window.ready, timeout=30000):
        window.open_encounter(eid)
    return window
