"""Live transcription: an espeak-ng dictation (~40 s) fed in 32 ms device blocks at 4x real time ends in
the offline transcript of the same audio (WER <= 2%), with words shown while it is being spoken."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time

import numpy as np
import pytest

from clinidoc.errors import Cancelled, NoSpeech
from clinidoc.progress import CancelToken
from clinidoc.speech import audio
from clinidoc.speech import spool as sp
from clinidoc.speech.textnorm import wer

SR = 16000
SENTENCES = [
    ("Dictation for John Carter, medical record number four two seven one.", 0.6),
    ("Sixty two year old man seen today for chest tightness on exertion for two weeks.", 0.9),
    ("No syncope. No fever.", 0.4),
    ("He takes metformin five hundred milligrams twice daily and lisinopril ten milligrams daily.", 0.7),
    ("Blood pressure one forty two over eighty eight, heart rate seventy six.", 1.0),
    ("Lungs are clear. Heart sounds regular without murmur.", 0.8),
    ("Plan: start aspirin eighty one milligrams daily and atorvastatin forty milligrams at night.", 0.6),
    ("Return in two weeks, sooner if the pain comes at rest.", 0.5),
]
HOTWORDS_MEDS = ["metformin 500 mg twice daily", "lisinopril 10 mg daily"]

pytestmark = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")


@pytest.fixture(scope="session")
def dictation(tmp_path_factory):
    """(path, float32 samples): the sentences spoken by espeak-ng with the pauses of a dictation."""
    folder = tmp_path_factory.mktemp("dictation")
    parts = [np.zeros(SR // 2, np.float32)]
    for i, (text, pause) in enumerate(SENTENCES):
        wav = folder / f"s{i}.wav"
        subprocess.run(["espeak-ng", "-v", "en-us", "-s", "165", "-w", str(wav), text], check=True)
        parts += [audio.decode(wav), np.zeros(int(pause * SR), np.float32)]
    samples = np.concatenate(parts)
    path = sp.write_wav(folder / "dictation.wav", samples)
    return path, sp.to_int16(samples).astype(np.float32) / 32768.0


@pytest.fixture(scope="module")
def engine(registry):
    from clinidoc.speech.engine import FasterWhisperEngine

    return FasterWhisperEngine(registry.resolve("stt"), device="cpu", compute_type="int8", cpu_threads=2)


@pytest.fixture(scope="module")
def hotwords():
    from clinidoc.speech.postprocess import default_hotwords

    return default_hotwords(HOTWORDS_MEDS)


def test_live_equals_offline(dictation, engine, hotwords, tmp_path):
    from clinidoc.speech.live import LiveTranscriber
    from clinidoc.speech.recorder import Recorder, WavFileSource

    path, samples = dictation
    assert 30 <= samples.size / SR <= 50
    offline = engine.transcribe_array(samples, hotwords=hotwords)

    shown: list[tuple[float, int]] = []
    live = LiveTranscriber(engine, hotwords=hotwords, partial_every_s=4.0,
                           on_segments=lambda segs: shown.append((time.monotonic(), len(segs))))
    live.start()
    pulled: list[int] = []  # the generator interface, read from another thread (a GUI's)
    reader = threading.Thread(target=lambda: pulled.extend(len(segs) for segs in live.partials()), daemon=True)
    reader.start()
    source = WavFileSource(path, speed=4.0, block_s=0.032)
    rec = Recorder(source, spool_dir=tmp_path / "spool", key=os.urandom(32), output=tmp_path / "rec.wav",
                   listeners=[live.feed])
    rec.start()
    assert rec.wait(60)
    fed_until = time.monotonic()
    recording = rec.stop()
    stopped = time.monotonic()
    transcript = live.finish(timeout=60)
    final_s = time.monotonic() - stopped

    assert wer(offline.text, transcript.text) <= 0.02, (offline.text, transcript.text)
    reader.join(5)
    assert not reader.is_alive() and pulled  # the generator ends with the transcription
    assert recording.duration_s == pytest.approx(samples.size / SR, abs=0.01)
    # words appeared while the dictation was still being spoken, not only at the end
    assert any(t < fed_until - 2.0 for t, n in shown), shown
    assert live.stats["provisional_windows"] >= 3 and live.stats["chunks"] >= 2
    # bounded: only the open chunk's audio is kept, never the whole recording
    assert live.stats["max_buffer_s"] <= engine.chunk_s + 5
    assert final_s < 10, final_s  # (2 s at 1x on 2 free cores: bench/bench_live.py)
    words = [w for s in transcript.segments for w in s.words]
    assert all(a.start <= b.start + 0.01 for a, b in zip(words, words[1:]))  # nothing doubled or reordered
    assert words[-1].end <= samples.size / SR + 0.5
    assert transcript.language == "en" and transcript.duration == pytest.approx(samples.size / SR, abs=0.05)


@pytest.mark.parametrize("trim", [0, 100, 7 * 512])
def test_streaming_vad_equals_offline_vad(dictation, trim):
    """Fed in uneven blocks and asked for spans at random points, the streaming VAD ends with exactly the
    spans of faster-whisper's one-shot VAD over the whole recording (the chunks of an offline run)."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    from clinidoc.speech.live import StreamingVad

    x = dictation[1][: dictation[1].size - trim]
    opts = VadOptions(min_silence_duration_ms=500, speech_pad_ms=200, max_speech_duration_s=8.0)  # forces splits
    offline = [(int(s["start"]), int(s["end"])) for s in get_speech_timestamps(x, opts, sampling_rate=SR)]
    vad = StreamingVad(8.0)
    rng = np.random.default_rng(trim)
    i = 0
    while i < x.size:
        k = int(rng.integers(50, 4000))
        vad.feed(x[i : i + k])
        i += k
        if rng.random() < 0.3:
            partial, length = vad.spans()
            assert all(e <= length for _, e in partial)
    spans, length = vad.spans(final=True)
    assert length == x.size and len(offline) >= 5
    assert spans == offline


def _feed(live, samples: np.ndarray, block: int = 512) -> None:
    for i in range(0, samples.size, block):
        live.feed(samples[i : i + block])


def test_silence_keeps_the_buffer_small_and_is_no_speech(engine):
    from clinidoc.speech.live import LiveTranscriber

    live = LiveTranscriber(engine).start()
    _feed(live, np.zeros(SR * 60, np.float32))  # a minute of silence, all at once
    with pytest.raises(NoSpeech, match="no speech"):
        live.finish(timeout=30)
    # never the whole minute: a VAD step at a time, or 10 s pieces when catching up after stop
    assert live.stats["max_buffer_s"] <= 11.0 and live.stats["chunks"] == 0


def test_cancel_between_segments(engine, dictation):
    from clinidoc.speech.live import LiveTranscriber

    token = CancelToken()
    live = LiveTranscriber(engine, cancel=token).start()
    token.cancel()
    _feed(live, dictation[1][: SR * 10])
    with pytest.raises(Cancelled):
        live.finish(timeout=30)
    live.feed(np.zeros(512, np.float32))  # ignored once finished, never piles up
