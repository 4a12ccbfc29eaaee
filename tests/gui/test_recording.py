"""The Record panel, click-to-play, the ECG view and the review shortcuts (pytest-qt, offscreen, real models)."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt

from .conftest import DEMO, ROOT
from .test_window import _drop

SHARED = ROOT.parent / "shared" / "data"


def _no_devices(monkeypatch):
    """PortAudio as on a machine with no sound card: no device at all."""
    import sounddevice

    monkeypatch.setattr(sounddevice, "query_devices", lambda *a, **k: [] if not k.get("kind") else None)


# -- recording ----------------------------------------------------------------------------------------

def test_no_microphone_state_keeps_file_drop_working(window, qtbot, monkeypatch, tmp_path):
    _no_devices(monkeypatch)
    window.recorder.check_devices()
    qtbot.waitUntil(lambda: window.record_panel.state == "no_mic", timeout=10000)
    panel = window.record_panel
    assert panel.button.text() == "No microphone found" and not panel.button.isEnabled()
    assert "microphone" in panel.status.text().lower() and "dropped" in panel.status.text()
    window.act_record.trigger()  # Ctrl+R does nothing rather than fail
    assert window.record_panel.state == "no_mic" and window.recorder.session is None
    _drop(window.editor.viewport(), [DEMO / "labs.png"])
    assert [f.path.name for f in window.inputs.files] == ["labs.png"]
    assert window.act_process.isEnabled()


def test_injected_source_grows_live_transcript_then_drafts_the_note(window, qtbot, patient, store, monkeypatch):
    from clinidoc.gui.recording import elapsed_text
    from clinidoc.speech.recorder import WavFileSource

    window.recorder.set_source_factory(lambda: WavFileSource(DEMO / "dictation.flac", speed=4.0))
    assert window.record_panel.state == "idle" and window.record_panel.button.isEnabled()
    assert window.new_encounter(patient)
    window.add_files([DEMO / "labs.png"])
    heard: list[float] = []  # per live update: where the transcript so far ends, in the recording's seconds
    window.recorder.live_updated.connect(
        lambda view: heard.append(view.transcript.segments[-1].end if view.transcript.segments else 0.0))
    levels: list[int] = []
    window.recorder._timer.timeout.connect(lambda: levels.append(window.record_panel.meter.value()))
    drafted: list = []  # the sections as the model writes them, streamed into the note pane
    window.recorder._relay.draft.connect(drafted.append)
    pages: list = []
    window.note_stack.currentChanged.connect(lambda i: pages.append(window.note_stack.widget(i)))
    window.act_record.trigger()  # Ctrl+R
    qtbot.waitUntil(lambda: window.record_panel.state == "recording", timeout=120000)
    assert window.record_panel.button.text().endswith("Stop")
    assert not window.act_process.isEnabled() and not window.act_new.isEnabled()
    # the transcript grows while "speaking"
    qtbot.waitUntil(lambda: len(window.sources.transcript.segments) >= 2, timeout=120000)
    assert window.record_panel.state == "recording"
    shown = " ".join(s.text for s in window.sources.transcript.segments).lower()
    assert "carter" in shown or "hypertension" in shown, shown
    assert "Heard so far" in window.record_panel.status.text()
    # pause: nothing is recorded meanwhile
    window.act_pause.trigger()
    assert window.record_panel.state == "paused"
    held = window.recorder.recorder.duration_s
    qtbot.wait(600)
    assert window.recorder.recorder.duration_s == pytest.approx(held, abs=0.1)
    window.act_pause.trigger()
    assert window.record_panel.state == "recording"
    # the file ends: the recording stops itself, the note is drafted and stored with the recording
    with qtbot.waitSignal(window.processing_finished, timeout=600000) as blocker:
        pass
    assert blocker.args == [True], window.last_error
    assert window.record_panel.state == "idle"
    assert max(levels) > 0
    spoken = [h for h in heard if h > 0]
    # it grew while "speaking" (at 4x real time a busy 2-core machine decodes the rest at stop)
    assert len(spoken) >= 5 and spoken[0] < 30 and max(spoken) >= 10, heard
    assert window.doc.result.transcript.segments[-1].end > 70  # and the note has all of it
    import soundfile as sf

    wav = next(f.path for f in window.inputs.files if f.kind == "audio")
    recorded = sf.info(wav).duration
    assert 70 < recorded < 79.5  # the dictation, less what was "said" while paused
    assert window.record_panel.elapsed.text() == elapsed_text(recorded)
    doc = window.doc
    assert doc is not None and doc.patient.name == patient.name
    # drafting streamed: partial texts first, each section's final text last, shown before the note was
    assert any(not e.done for e in drafted) and any(e.done and e.text for e in drafted)
    final = {e.section: e.text for e in drafted if e.done}
    assert final == {k: v for k, v in doc.result.note.sections.items() if k in final}
    assert window.draft_preview in pages and pages[-1] is window.editor
    names = [m.name.lower() for m in doc.result.note.medications]
    assert "metformin" in names
    assert window.editor.labs.rowCount() == 6
    assert any(e.toPlainText().strip() for e in window.editor.sections.values())
    kinds = {f.path.suffix: f.kind for f in window.inputs.files}
    assert kinds == {".wav": "audio", ".png": "lab_report"}
    stored = {i["name"] for i in store.input_files(doc.encounter_id)}
    assert any(n.endswith(".wav") for n in stored) and "labs.png" in stored
    assert not list(window.recorder.spool_dir().glob("*.spool*")), "the spool was not removed after a clean stop"
    assert window.sources.transcript.playable  # the recording is there to play


def test_interrupted_recording_is_offered_and_recovered(window, qtbot):
    from clinidoc.gui.recording import spool_key_for
    from clinidoc.speech.spool import SpoolWriter

    # a recording that "crashed": its spool was never closed as complete
    tone = (0.2 * np.sin(np.arange(32000) * 2 * np.pi * 440 / 16000) * 32767).astype(np.int16)
    writer = SpoolWriter(window.recorder.spool_dir(), spool_key_for(window.store))
    writer.write(tone)
    writer.flush()
    writer.close(complete=False)
    window.recorder.find_interrupted()
    panel = window.record_panel
    assert panel.recover_bar.isVisible() and "1 interrupted recording" in panel.recover_label.text()
    qtbot.mouseClick(panel.recover_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: any(f.kind == "audio" for f in window.inputs.files), timeout=20000)
    rec = next(f for f in window.inputs.files if f.kind == "audio")
    import soundfile as sf

    audio, rate = sf.read(rec.path, dtype="int16")
    assert rate == 16000 and np.array_equal(audio, tone)
    qtbot.waitUntil(lambda: not panel.recover_bar.isVisible(), timeout=10000)
    assert not list(window.recorder.spool_dir().iterdir()) or all(
        not p.name.endswith(".spool") for p in window.recorder.spool_dir().iterdir())


# -- playback -----------------------------------------------------------------------------------------

def test_span_samples():
    from clinidoc.gui.playback import PAD_S, span_samples

    pad = int(PAD_S * 16000)
    assert span_samples(1.0, 2.0, 160000) == (16000 - pad, 32000 + pad)
    assert span_samples(0.0, 0.5, 160000) == (0, 8000 + pad)  # clipped at the start
    assert span_samples(9.8, 12.0, 160000) == (156800 - pad, 160000)  # and at the end
    assert span_samples(2.0, 1.0, 160000) == span_samples(1.0, 2.0, 160000)
    with pytest.raises(ValueError):
        span_samples(20.0, 21.0, 160000)


def _timed_panel(qtbot):
    from clinidoc.encounter import EncounterResult, Provenance, Segment, Transcript
    from clinidoc.gui.sources import SourcesPanel

    panel = SourcesPanel()
    qtbot.addWidget(panel)
    panel.resize(600, 500)
    panel.show()
    segs = [Segment(start=0.5, end=4.0, text="first"), Segment(start=10.25, end=13.5, text="second")]
    panel.set_result(EncounterResult(transcript=Transcript(text="first second", segments=segs, duration=14.0),
                                     provenance=Provenance(clinidoc_version="test")), {})
    panel.set_audio(DEMO / "dictation.flac")
    return panel


def _click_time(qtbot, panel, row: int) -> None:
    table = panel.transcript.table
    rect = table.visualItemRect(table.item(row, 0))
    qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())


def test_click_on_a_time_plays_that_span(qtbot, monkeypatch):
    import sounddevice

    from clinidoc.gui.playback import span_samples
    from clinidoc.speech.audio import decode

    played = []
    monkeypatch.setattr(sounddevice, "query_devices",
                        lambda *a, **k: {"name": "test out", "max_output_channels": 2} if k.get("kind")
                        else [{"name": "test out", "max_output_channels": 2, "max_input_channels": 0}])
    monkeypatch.setattr(sounddevice, "play", lambda data, rate: played.append((np.array(data), rate)))
    monkeypatch.setattr(sounddevice, "stop", lambda: None)
    panel = _timed_panel(qtbot)
    assert panel.transcript.table.item(1, 0).text().startswith("▶")
    _click_time(qtbot, panel, 1)
    qtbot.waitUntil(lambda: bool(played), timeout=30000)
    audio = decode(DEMO / "dictation.flac")
    a, b = span_samples(10.25, 13.5, audio.size)
    assert panel.player.last_span == (a, b)
    data, rate = played[-1]
    assert rate == 16000 and np.array_equal(data, audio[a:b])
    assert panel.transcript.play_status.text().startswith("Playing 00:10.2")
    _click_time(qtbot, panel, 0)  # a new click: the next span
    assert len(played) == 2 and panel.player.last_span == span_samples(0.5, 4.0, audio.size)


def test_playback_without_an_output_device_says_so(qtbot, monkeypatch):
    _no_devices(monkeypatch)
    panel = _timed_panel(qtbot)
    _click_time(qtbot, panel, 0)
    qtbot.waitUntil(lambda: "No audio output device" in panel.transcript.play_status.text(), timeout=30000)
    assert panel.transcript.play_status.isVisible()
    _click_time(qtbot, panel, 1)  # and again: still a message, never an exception
    assert "No audio output device" in panel.transcript.play_status.text()


# -- ECG ----------------------------------------------------------------------------------------------

def test_paper_ecg_shows_the_digitised_trace_and_the_measurements(qtbot):
    from clinidoc.encounter import EncounterResult, ImageArtifact, Provenance
    from clinidoc.gui.sources import SourcesPanel
    from clinidoc.imaging.ecg import analyse_file

    path = SHARED / "encounters-dev" / "dev-001" / "ecg.png"
    finding = analyse_file(path)
    assert finding.heart_rate_bpm and finding.source.bbox
    panel = SourcesPanel()
    qtbot.addWidget(panel)
    panel.resize(900, 500)
    panel.show()
    panel.set_result(EncounterResult(images=[ImageArtifact(file="ecg.png", kind="ecg")], ecg=[finding],
                                     provenance=Provenance(clinidoc_version="test")),
                     {"ecg.png": path})
    pane = panel.images["ecg.png"]
    qtbot.waitUntil(lambda: pane.loaded and pane.trace_item is not None, timeout=60000)
    facts = pane.facts.values
    assert facts["Heart rate"].text() == f"{finding.heart_rate_bpm:.0f} /min"
    assert facts["QTc"].text() == (f"{finding.qtc_ms:.0f} ms" if finding.qtc_ms is not None else "—")
    assert facts["Rhythm"].text() != "—"
    # the trace lies inside the strip the reader used
    x0, y0, x1, y1 = finding.source.bbox
    r = pane.trace_item.path().boundingRect()
    assert r.width() > 0.5 * (x1 - x0)
    assert x0 - 2 <= r.left() and r.right() <= x1 + 2 and y0 - 2 <= r.top() and r.bottom() <= y1 + 2


def test_signal_ecg_plots_the_lead_with_r_peaks(qtbot):
    from clinidoc.encounter import EncounterResult, ImageArtifact, Provenance
    from clinidoc.gui.ecg_view import EcgSignalPane
    from clinidoc.gui.sources import SourcesPanel
    from clinidoc.imaging.ecg import analyse_file

    path = min((SHARED / "ecg" / "cinc2017" / "records").glob("*.mat"))
    finding = analyse_file(path)
    panel = SourcesPanel()
    qtbot.addWidget(panel)
    panel.resize(900, 400)
    panel.show()
    panel.set_result(EncounterResult(images=[ImageArtifact(file=path.name, kind="ecg")], ecg=[finding],
                                     provenance=Provenance(clinidoc_version="test")),
                     {path.name: path})
    pane = panel.images[path.name]
    assert isinstance(pane, EcgSignalPane)
    qtbot.waitUntil(lambda: pane.plot.signal is not None, timeout=60000)
    seconds = pane.plot.signal.size / pane.plot.fs
    assert pane.plot.peaks.size >= 3
    # the plotted R-peaks give the rate the finding reports
    rate = 60.0 * (pane.plot.peaks.size - 1) / ((pane.plot.peaks[-1] - pane.plot.peaks[0]) / pane.plot.fs)
    assert finding.heart_rate_bpm is not None and abs(rate - finding.heart_rate_bpm) < 0.15 * finding.heart_rate_bpm
    assert seconds > 5
    assert pane.grab().width() > 0


# -- keyboard, autosave -------------------------------------------------------------------------------

def test_shortcuts_for_record_next_check_and_sign(opened, qtbot):
    from .test_window import _med_dose_item

    w = opened
    keys = {a.text(): a.shortcut().toString() for a in w.actions()}
    assert keys["Record / stop"] == "Ctrl+R" and keys["Next check"] == "F8" and keys["Sign…"] == "Ctrl+Shift+S"
    for row in (0, 1):  # two absurd doses: two checks that point at fields
        _med_dose_item(w, row)[0].setText("90000")
    w.revalidate()
    cards = w.checks.cards
    assert len(cards) >= 2
    w.act_next_issue.trigger()  # F8
    assert w.checks.current is cards[0]
    w.act_next_issue.trigger()
    assert w.checks.current is cards[1]
    w.act_prev_issue.trigger()  # Shift+F8
    assert w.checks.current is cards[0]
    # like a click, F8 selected the check's field in the note
    dose = [c for c in cards if c.issue.code == "dose_out_of_range"]
    assert dose
    w.checks.current = None
    while w.checks.current is not dose[0]:
        w.act_next_issue.trigger()
    assert w.editor.meds.currentRow() == int(dose[0].issue.field.split("[")[1].split("]")[0])


def test_edits_are_autosaved_and_saved_on_close(opened, qtbot, store):
    from clinidoc.gui.main_window import AUTOSAVE_MS

    w = opened
    eid = w.doc.encounter_id
    plan = w.editor.sections["plan"]
    plan.moveCursor(plan.textCursor().MoveOperation.End)
    qtbot.keyClicks(plan, " Walk daily.")
    qtbot.wait(AUTOSAVE_MS + 800)  # the debounced autosave
    assert store.load_result(eid).note.sections["plan"].endswith("Walk daily.")
    qtbot.keyClicks(plan, " Return in June.")
    w.close()  # saved on close, before the autosave would run
    assert store.load_result(eid).note.sections["plan"].endswith("Return in June.")
