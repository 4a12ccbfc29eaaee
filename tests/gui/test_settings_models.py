"""Model manager, settings, about and the first-run wizard, driven through their widgets (offscreen)."""

from __future__ import annotations

import hashlib
import json

import pytest
from weights._helpers import ModelServer, make_gguf


@pytest.fixture
def home(tmp_path):
    return tmp_path / "home"


def _manager(qtbot, home):
    from clinidoc.gui.app import make_app
    from clinidoc.gui.model_manager import ModelManagerDialog

    make_app()
    dlg = ModelManagerDialog(home)
    qtbot.addWidget(dlg)
    dlg.show()
    qtbot.waitUntil(lambda: bool(dlg.rows), timeout=60000)
    return dlg


def _cell(dlg, name, column):
    from clinidoc.gui.model_manager import COLUMNS

    c = [k for k, _ in COLUMNS].index(column)
    rows = [r for r in range(dlg.table.rowCount()) if dlg.table.item(r, 1).text() == name]
    assert rows, f"{name} not listed"
    return [dlg.table.item(r, c).text() for r in rows]


def test_model_manager_adds_a_copy_of_the_embedded_llm_and_shows_heads_and_hash(qtbot, home, registry):
    dlg = _manager(qtbot, home)
    emb = registry.resolve("llm")
    assert _cell(dlg, emb.name, "origin") == ["embedded"]
    assert _cell(dlg, emb.name, "heads") == ["9/3"] and _cell(dlg, emb.name, "layers") == ["30"]
    # 2 x 30 layers x 3 KV heads x 64 x 2 bytes
    assert _cell(dlg, emb.name, "kv") == [f"{2 * 30 * 3 * 64 * 2:,}"]
    with qtbot.waitSignal(dlg.job_finished, timeout=120000) as done:
        dlg.add_path(emb.path)
    assert done.args == [True], dlg.last_error
    qtbot.waitUntil(lambda: len([r for r in dlg.rows if r.name == emb.name]) == 2, timeout=60000)
    user = [r for r in dlg.rows if r.name == emb.name and r.origin == "user"][0]
    assert user.path == home / "models" / emb.path.name and (user.heads, user.kv_heads) == (9, 3)
    assert sorted(_cell(dlg, emb.name, "origin")) == ["embedded", "user"]
    qtbot.waitUntil(lambda: "computing…" not in _cell(dlg, emb.name, "sha256"), timeout=120000)
    assert set(_cell(dlg, emb.name, "sha256")) == {emb.sha256}
    # a file that is not a model is refused with a message, nothing installed
    junk = home.parent / "junk.gguf"
    junk.write_bytes(b"not a model at all" * 10)
    with qtbot.waitSignal(dlg.job_finished, timeout=30000) as done:
        dlg.add_path(junk)
    assert done.args == [False] and "GGUF" in dlg.status.text()
    assert not (home / "models" / "junk.gguf").exists()


def test_model_manager_downloads_with_progress_cancel_and_resume_then_sets_default(qtbot, home, tmp_path):
    from clinidoc import settings

    data = make_gguf(tmp_path / "Served-Model.gguf", heads=8, kv_heads=4, tensor_floats=1 << 19).read_bytes()
    with ModelServer() as server:
        server.files["/Served-Model.gguf"] = data
        server.delay_s = 0.02
        dlg = _manager(qtbot, home)
        dlg.url.setText(server.url("/Served-Model.gguf"))
        dlg.sha_input.setText(hashlib.sha256(data).hexdigest())
        assert dlg.download_btn.text() == "Download"
        with qtbot.waitSignal(dlg.job_finished, timeout=60000) as done:
            dlg.start_download()
            assert dlg.cancel_btn.isEnabled() and not dlg.download_btn.isEnabled()
            qtbot.waitUntil(lambda: dlg.progress.value() > 100, timeout=30000)
            dlg.cancel_btn.click()
        assert done.args == [False]
        assert "Cancelled" in dlg.status.text() and dlg.download_btn.text().startswith("Resume")
        kept = dlg.progress.value()
        assert 100 < kept < 1000
        values = []
        dlg.progress.valueChanged.connect(values.append)
        server.delay_s = 0.0
        with qtbot.waitSignal(dlg.job_finished, timeout=60000) as done:
            dlg.download_btn.click()
        assert done.args == [True], dlg.last_error
        assert server.requests[-1][1] and server.requests[-1][1].startswith("bytes=")
        assert values and min(values) >= kept - 100  # resumed, did not start from zero
        assert (home / "models" / "Served-Model.gguf").read_bytes() == data
    qtbot.waitUntil(lambda: dlg.row_for("Served-Model") is not None, timeout=60000)
    assert _cell(dlg, "Served-Model", "heads") == ["8/4"]
    with qtbot.waitSignal(dlg.defaults_changed, timeout=5000):
        dlg.select_default("llm", "Served-Model")
        dlg.save_defaults_btn.click()
    assert settings.load(home).llm_model == "Served-Model"
    assert json.loads((home / "settings.json").read_text())["llm_model"] == "Served-Model"


def test_settings_round_trip_to_disk_and_change_the_model_and_template_used(window, qtbot, data_dir, tmp_path):
    from clinidoc import settings
    from clinidoc.gui.settings import SettingsDialog

    (data_dir / "models").mkdir(parents=True, exist_ok=True)
    make_gguf(data_dir / "models" / "Settings-Model.gguf")  # a user model the dialog should offer
    before = window.engines
    assert before.llm_model is None and window.build_inputs().template == "soap"
    dlg = window.act_settings.trigger() or window.findChild(SettingsDialog)
    assert isinstance(dlg, SettingsDialog) and dlg.isVisible()
    qtbot.waitUntil(lambda: dlg.llm.findData("Settings-Model") >= 0, timeout=60000)
    dlg.select_model("llm", "Settings-Model")
    dlg.template.setCurrentIndex(dlg.template.findData("hp"))
    dlg.threads.setValue(3)
    dlg.device.setCurrentIndex(dlg.device.findData("cpu"))
    dlg.font_scale.setValue(1.25)
    dlg.endpoint.setText("https://api.example.com/v1")
    assert "does not look like" in dlg.endpoint_warning.text()
    dlg.endpoint.setText("http://10.1.2.3:8080")
    assert "does not look like" not in dlg.endpoint_warning.text() and "on-premises" in dlg.endpoint_warning.text()
    with qtbot.waitSignal(dlg.saved, timeout=5000):
        assert dlg.save()
    s = settings.load(data_dir)
    assert (s.llm_model, s.template, s.threads, s.device, s.font_scale, s.endpoint_url) == (
        "Settings-Model", "hp", 3, "cpu", 1.25, "http://10.1.2.3:8080")
    # the processing path picks them up
    assert window.engines is not before and window.engines.llm_model == "Settings-Model"
    assert window.engines.registry.resolve("llm", window.engines.llm_model).path == data_dir / "models" / "Settings-Model.gguf"
    assert window.build_inputs().template == "hp"
    assert (window.engines.device, window.engines.threads) == ("cpu", 3)
    from clinidoc.drafting.backend import OpenAICompatibleBackend

    assert isinstance(window.engines.llm, OpenAICompatibleBackend)  # drafting goes to the on-prem server
    assert window.engines.llm.base_url == "http://10.1.2.3:8080/v1"
    # reopening shows what was saved
    again = SettingsDialog(data_dir)
    qtbot.addWidget(again)
    qtbot.waitUntil(lambda: again.llm.findData("Settings-Model") >= 0, timeout=60000)
    assert again.values() == s
    from clinidoc.gui.settings import apply_font_scale

    apply_font_scale(1.0)


def test_menu_opens_model_manager_and_about(window, qtbot, data_dir):
    from clinidoc.gui.about import AboutDialog
    from clinidoc.gui.model_manager import ModelManagerDialog

    assert {a.text() for a in window.actions()} >= {"Settings…", "Model manager…", "About clinidoc"}
    window.act_about.trigger()
    about = window.findChild(AboutDialog)
    assert about is not None and about.isVisible()
    text = about.text.text()
    for needle in ("clinidoc", "Python", "Qt", "llama-cpp-python", "faster-whisper", "CTranslate2", "RapidOCR",
                   "SmolLM2-135M-Instruct.Q4_1", "Apache-2.0", "faster-whisper-tiny.en", "MIT", str(data_dir)):
        assert needle in text, needle
    assert "not installed" not in about.facts["versions"]["llama-cpp-python"]
    about.close()
    window.act_models.trigger()
    mm = window.findChild(ModelManagerDialog)
    assert mm is not None and mm.isVisible()
    qtbot.waitUntil(lambda: bool(mm.rows), timeout=60000)
    mm.close()


def test_passphrase_strength_hint():
    from clinidoc.gui.first_run import passphrase_strength

    assert passphrase_strength("")[0] == 0
    weak, hint = passphrase_strength("abc")
    assert weak <= 1 and "12 characters" in hint
    assert passphrase_strength("aaaaaaaaaaaaaaaaaaaaaaa")[0] == 0
    strong, hint = passphrase_strength("Correct-Horse-7-Battery-Staple")
    assert strong == 4 and "strong" in hint
    assert passphrase_strength("correct horse battery staple")[0] >= 2


def test_first_run_wizard_creates_store_records_folder_and_recommends(qtbot, tmp_path, fast_kdf, monkeypatch):
    from clinidoc import config
    from clinidoc.gui.app import make_app
    from clinidoc.gui.first_run import FirstRunWizard
    from clinidoc.records import Store

    monkeypatch.setenv("CLINIDOC_CONFIG_DIR", str(tmp_path / "config"))
    make_app()
    wiz = FirstRunWizard(tmp_path / "default", kdf=fast_kdf)
    qtbot.addWidget(wiz)
    wiz.show()
    chosen = tmp_path / "chosen data"
    wiz.location_page.folder.setText(str(chosen))
    assert "new encrypted store" in wiz.location_page.note.text()
    wiz.next()
    page = wiz.store_page
    assert wiz.currentPage() is page
    assert "cannot be recovered" in page.warning.text() and page.warning.isVisible()
    page.passphrase.setText("Correct-Horse-7-Battery")
    page.confirm.setText("Correct-Horse-7-Batterx")
    page.understood.setChecked(True)
    wiz.next()
    assert wiz.currentPage() is page and "differ" in page.error.text() and not Store.exists(chosen)
    page.passphrase.setText("short")
    page.confirm.setText("short")
    wiz.next()
    assert "at least" in page.error.text()
    page.passphrase.setText("Correct-Horse-7-Battery")
    page.confirm.setText("Correct-Horse-7-Battery")
    page.understood.setChecked(False)
    wiz.next()
    assert "understand" in page.error.text() and not Store.exists(chosen)
    page.understood.setChecked(True)
    with qtbot.waitSignal(wiz.models_page.recommended, timeout=60000) as rec:
        wiz.next()
    assert Store.exists(chosen) and wiz.store is not None and wiz.currentPage() is wiz.models_page
    r = rec.args[0]
    assert r.best_llm is not None and r.best_stt is not None
    assert "fits" in wiz.models_page.fits.text() and "Llama-3.1-8B" in wiz.models_page.fits.text()
    assert "SmolLM2-135M-Instruct.Q4_1" in wiz.models_page.fits.text()
    mm = wiz.models_page.open_manager()
    assert mm.data_dir == chosen and mm.isVisible()
    qtbot.waitUntil(lambda: bool(mm.rows), timeout=60000)
    with qtbot.waitSignal(wiz.models_page.recommended, timeout=60000) as rec:  # re-assessed with the new model
        mm.add_path(make_gguf(tmp_path / "Added-Model.gguf", heads=8, kv_heads=2))
    added = [f for f in rec.args[0].llm if f.name == "Added-Model"][0]
    assert added.fits and added.source == "installed" and added.kv_bytes_per_token == 2 * 2 * 2 * 16 * 2
    assert "Added-Model" in wiz.models_page.fits.text()
    mm.close()
    wiz.accept()
    assert wiz.result() == FirstRunWizard.DialogCode.Accepted
    from clinidoc import settings

    assert settings.load(chosen).llm_model == "Added-Model"  # an added model that fits becomes the default
    assert config.recorded_data_dir() == chosen.resolve()
    monkeypatch.delenv("CLINIDOC_HOME")
    assert config.data_dir() == chosen.resolve()
    wiz.store.close()
    Store.open(chosen, "Correct-Horse-7-Battery").close()


def test_first_run_wizard_on_a_folder_with_a_store_unlocks_it(qtbot, tmp_path, fast_kdf, monkeypatch):
    from clinidoc.gui.app import make_app
    from clinidoc.gui.first_run import FirstRunWizard
    from clinidoc.records import Store

    monkeypatch.setenv("CLINIDOC_CONFIG_DIR", str(tmp_path / "config"))
    Store.create(tmp_path / "existing", "an old passphrase", fast_kdf).close()
    make_app()
    wiz = FirstRunWizard(tmp_path / "existing", kdf=fast_kdf)
    qtbot.addWidget(wiz)
    wiz.show()
    assert "already holds" in wiz.location_page.note.text()
    wiz.next()
    assert not wiz.store_page.confirm.isVisible()
    wiz.store_page.passphrase.setText("wrong one")
    wiz.next()
    qtbot.waitUntil(lambda: wiz.store_page.error.isVisible(), timeout=10000)
    assert "Wrong passphrase" in wiz.store_page.error.text() and wiz.store is None
    wiz.store_page.passphrase.setText("an old passphrase")
    with qtbot.waitSignal(wiz.store_page.store_ready, timeout=10000):
        wiz.next()
    assert wiz.store is not None
    wiz.reject()
    assert wiz.store is None


def test_first_run_call_site_drives_the_wizard_to_an_open_store(qtbot, tmp_path, monkeypatch, fast_kdf):
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from clinidoc import config
    from clinidoc.gui import first_run
    from clinidoc.gui.app import make_app, run_first_run
    from clinidoc.records import Store

    monkeypatch.setenv("CLINIDOC_CONFIG_DIR", str(tmp_path / "config"))
    make_app()
    chosen = tmp_path / "picked"
    seen = {}

    def drive():
        wiz = next((w for w in QApplication.topLevelWidgets()
                    if isinstance(w, first_run.FirstRunWizard) and w.isVisible()), None)
        if wiz is None:
            QTimer.singleShot(50, drive)
            return
        seen["wizard"] = True
        wiz.location_page.folder.setText(str(chosen))
        wiz.next()
        wiz.store_page.passphrase.setText("Correct-Horse-7-Battery")
        wiz.store_page.confirm.setText("Correct-Horse-7-Battery")
        wiz.store_page.understood.setChecked(True)
        wiz.store_page.store_ready.connect(lambda: QTimer.singleShot(0, wiz.accept))
        wiz.next()

    QTimer.singleShot(0, drive)
    store, folder = run_first_run(tmp_path / "default", kdf=fast_kdf)
    try:
        assert seen == {"wizard": True} and folder == chosen
        assert Store.exists(chosen) and not Store.exists(tmp_path / "default")
        assert config.recorded_data_dir() == chosen.resolve()
    finally:
        store.close()
    QTimer.singleShot(0, lambda: [w.reject() for w in QApplication.topLevelWidgets()
                                  if isinstance(w, first_run.FirstRunWizard) and w.isVisible()])
    assert run_first_run(tmp_path / "other", kdf=fast_kdf) is None  # cancelled: nothing opened
    assert not Store.exists(tmp_path / "other")
