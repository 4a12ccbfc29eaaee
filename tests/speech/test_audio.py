"""Bad audio inputs give InputError with a clear message; scoring and clean-up helpers (no model)."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest

from clinidoc.encounter import Segment, Word
from clinidoc.errors import InputError, NoSpeech
from clinidoc.speech import audio
from clinidoc.speech import postprocess as pp
from clinidoc.speech.textnorm import normalize, wer

DEV = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "encounters-dev"
if not DEV.exists():
    DEV = Path("/work/shared/data/encounters-dev")
needs_dev = pytest.mark.skipif(not (DEV / "dev-001").exists(), reason="dev data not present")


def _write_wav(path: Path, samples: np.ndarray, rate: int = 16000) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())
    return path


def test_empty_file(tmp_path):
    f = tmp_path / "empty.wav"
    f.write_bytes(b"")
    with pytest.raises(InputError, match="empty"):
        audio.decode(f)


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="not found"):
        audio.decode(tmp_path / "nope.wav")


def test_not_audio(tmp_path):
    f = tmp_path / "notes.wav"
    f.write_text("Patient seen today for palpitations.\n" * 20)
    with pytest.raises(InputError, match="not an audio file"):
        audio.decode(f)


def test_truncated_wav(tmp_path):
    full = _write_wav(tmp_path / "full.wav", 0.1 * np.sin(np.arange(16000 * 10) / 10))
    cut = tmp_path / "cut.wav"
    cut.write_bytes(full.read_bytes()[: 16000 * 2 * 3])  # 3 of 10 s
    with pytest.raises(InputError, match="truncated") as err:
        audio.decode(cut)
    assert "10.0 s" in str(err.value)
    header_only = tmp_path / "header.wav"
    header_only.write_bytes(full.read_bytes()[:44])
    with pytest.raises(InputError, match="truncated"):
        audio.decode(header_only)
    assert audio.decode(full).size == 16000 * 10  # the complete file is fine


@needs_dev
def test_truncated_flac(tmp_path):
    src = DEV / "dev-002" / "dictation.flac"
    cut = tmp_path / "cut.flac"
    cut.write_bytes(src.read_bytes()[: src.stat().st_size // 3])
    with pytest.raises(InputError, match="truncated"):
        audio.decode(cut)


def test_silent_wav_is_no_speech(tmp_path, registry):
    from clinidoc.speech.engine import FasterWhisperEngine

    f = _write_wav(tmp_path / "silence.wav", np.zeros(16000 * 5, dtype=np.float32))
    engine = FasterWhisperEngine(registry.resolve("stt"), device="cpu", compute_type="int8", cpu_threads=2)
    with pytest.raises(NoSpeech, match="no speech"):
        engine.transcribe(f)
    assert engine._model is None  # decided by the VAD alone, the model never loaded


# -- scoring ---------------------------------------------------------------------------------------


def test_normalize_numbers_words_and_digits_agree():
    said = "Blood pressure one thirty-eight over eighty-six, temperature thirty-six point eight, one hundred twelve."
    written = "Blood pressure 138 over 86, temperature 36.8, 112."
    assert normalize(said) == normalize(written)
    assert normalize("number four zero two one") == ["number", "4021"]
    assert normalize("97% on room air") == ["97", "percent", "on", "room", "air"]
    assert wer("start apixaban five milligrams", "Start apixaban 5 milligrams.") == 0.0
    assert wer("a b c d", "a x c") == 0.5


# -- clean-up passes -------------------------------------------------------------------------------


def _seg(*words: tuple[str, float], t0: float = 0.0) -> Segment:
    ws = [Word(start=t0 + i, end=t0 + i + 0.6, word=w, probability=p) for i, (w, p) in enumerate(words)]
    return Segment(start=ws[0].start, end=ws[-1].end, text=" ".join(w.word for w in ws), words=ws)


def test_snap_weak_near_miss_keeps_original():
    seg = _seg(("start", 0.9), ("metapralol", 0.3), ("tartrate", 0.8), ("continue", 0.9), ("lisinapril,", 0.2))
    n = pp.snap_drug_names([seg], ["metoprolol", "lisinopril", "apixaban"])
    assert n == 2
    assert seg.text == "start metoprolol tartrate continue lisinopril,"
    assert seg.words[1].original == "metapralol" and seg.words[1].snapped is True


def test_snap_leaves_confident_and_unrelated_words():
    seg = _seg(("metapralol", 0.95), ("on", 0.2), ("lisinopril", 0.3), ("listen", 0.1), ("hypertension", 0.1))
    assert pp.snap_drug_names([seg], ["metoprolol", "lisinopril"]) == 0
    assert seg.text == "metapralol on lisinopril listen hypertension"


def test_snap_refuses_the_wrong_family_member():
    # nearer simvastatin in the hint list, but the dictionary's nearest is mevastatin: not snapped
    pytest.importorskip("drug_named_entity_recognition")
    seg = _seg(("mastatin", 0.2))
    assert pp.snap_drug_names([seg], ["simvastatin", "atorvastatin"], single_cutoff=70) == 0


def test_by_mouse_is_by_mouth():
    seg = _seg(("5", 0.9), ("milligrams", 0.9), ("by", 0.9), ("mouse,", 0.5))
    assert pp.fix_phrases([seg]) == 1
    assert seg.text == "5 milligrams by mouth," and seg.words[-1].original == "mouse,"


def test_hotword_insertion_dropped():
    seg = _seg(("weeks.", 0.9), ("sertraline", 0.01))
    seg.words[-1].end = seg.words[-1].start + 0.1
    out = pp.drop_hotword_insertions([seg], ["sertraline"])
    assert out[0].text == "weeks."


def test_loops_dropped():
    assert pp.has_loop("amylolololololololololol") and not pp.has_loop("four zero two one one 1000000")
    a = _seg(("no", 0.9), ("no", 0.9), ("no", 0.9), ("no", 0.9), ("edema.", 0.9))
    b = _seg(("no", 0.9), ("edema.", 0.9), t0=10)
    c = _seg(("no", 0.9), ("edema.", 0.9), t0=20)
    out = pp.drop_hallucinations([a, b, c])
    assert [s.text for s in out] == ["no edema."]  # the loop collapsed, the repeated segments dropped
