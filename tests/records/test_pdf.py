"""PDF export: renders (poppler), carries signer, time and hash, refuses unsigned notes unless draft."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from clinidoc.records import audit
from clinidoc.records.pdf import ExportRefused, export_pdf
from test_store import NAME, PASS, inputs, make_store, sample_result  # noqa: F401  (inputs: a fixture)

needs_poppler = pytest.mark.skipif(not shutil.which("pdftotext"), reason="poppler-utils not installed")


@pytest.fixture
def store(tmp_path):
    s = make_store(tmp_path / "data")
    yield s
    s.close()


def _text(pdf) -> str:
    return subprocess.run(["pdftotext", "-layout", str(pdf), "-"], check=True, capture_output=True, text=True).stdout


@needs_poppler
def test_signed_note_pdf(store, inputs, tmp_path):
    eid = store.save_encounter(sample_result(), inputs)
    store.override_warning(eid, "allergy_conflict", None, "tolerated before", "Dr Ada Lovelace")
    sig = store.sign(eid, "Dr Ada Lovelace", PASS)
    out = export_pdf(store, eid, tmp_path / "out" / "note.pdf")
    text = _text(out)
    for needle in ("Dr Ada Lovelace", sig.signed_at, sig.content_sha256, "AI-assisted draft reviewed and signed by",
                   NAME, "I48.91", "Potassium", "metoprolol tartrate", "atrial fibrillation", "Appendix: provenance",
                   "SmolLM2-135M-Instruct-Q8_0.gguf", "b" * 64):
        assert needle in text.replace("\n", " ") or needle in text, needle
    assert "DRAFT" not in text
    info = subprocess.run(["pdfinfo", str(out)], check=True, capture_output=True, text=True).stdout
    assert "Dr Ada Lovelace" in info and f"Clinical note {eid} v1" in info and sig.content_sha256 in info
    fonts = subprocess.run(["pdffonts", str(out)], check=True, capture_output=True, text=True).stdout
    assert "DejaVuSans" in fonts or "Helvetica" in fonts
    png = tmp_path / "page"
    subprocess.run(["pdftoppm", "-png", "-r", "40", "-f", "1", "-l", "1", str(out), str(png)], check=True)
    assert list(tmp_path.glob("page*.png"))
    ev = audit.events(store.conn, eid)[-1]
    assert ev.kind == "export" and ev.data["format"] == "pdf" and not ev.data["draft"]


@needs_poppler
def test_unsigned_refused_unless_draft(store, tmp_path):
    eid = store.save_encounter(sample_result(), [])
    with pytest.raises(ExportRefused):
        export_pdf(store, eid, tmp_path / "n.pdf")
    assert not (tmp_path / "n.pdf").exists()
    out = export_pdf(store, eid, tmp_path / "n.pdf", draft=True)
    text = _text(out)
    assert "DRAFT" in text and "Not signed" in text
    assert audit.events(store.conn, eid)[-1].data["draft"] is True


def test_helvetica_fallback(monkeypatch, tmp_path):
    from clinidoc.records import pdf

    monkeypatch.setattr(pdf, "DEJAVU", tmp_path / "nowhere")
    monkeypatch.setattr(pdf.pdfmetrics, "getRegisteredFontNames", lambda: [])
    data = pdf.render_pdf(sample_result("enc-1"), None, 1, [], True)
    assert data.startswith(b"%PDF") and b"Helvetica" in data
