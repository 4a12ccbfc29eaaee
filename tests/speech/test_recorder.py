"""Recorder: WAV source in callback-sized blocks, pause/resume, level meter, a callback that never
blocks, resampling, and a typed error when there is no microphone. No model, no sound card needed."""

from __future__ import annotations

import os
import sys
import threading
import time
import types
import wave

import numpy as np
import pytest

from clinidoc.speech import spool as sp
from clinidoc.speech.recorder import (
    MicrophoneSource,
    NoInputDevice,
    Recorder,
    StreamResampler,
    WavFileSource,
    default_input_device,
    level_dbfs,
)

SR = 16000


class ManualSource:
    """A source the test drives: each push() is one device callback."""

    def __init__(self, rate: int = SR):
        self.sample_rate = rate
        self.callback = None
        self.finished = False

    def start(self, callback):
        self.callback = callback

    def stop(self):
        self.finished = True

    def push(self, block: np.ndarray):
        self.callback(block)


def _tone(seconds: float, amp: float = 0.5, rate: int = SR, freq: float = 440.0) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return sp.to_int16(amp * np.sin(2 * np.pi * freq * t))


def test_wav_source_records_exactly_and_cleans_up(tmp_path):
    pcm = (np.random.default_rng(1).normal(0, 2000, SR * 4)).astype(np.int16)
    src_path = sp.write_wav(tmp_path / "in.wav", pcm)
    got: list[np.ndarray] = []
    src = WavFileSource(src_path, speed=0)  # as fast as possible, still in 32 ms device blocks
    rec = Recorder(src, spool_dir=tmp_path / "spool", key=os.urandom(32), output=tmp_path / "out.wav",
                   listeners=[got.append])
    rec.start()
    assert rec.spool_path.exists()
    assert not list(tmp_path.glob("*out.wav*"))  # nothing unencrypted on disk while recording
    assert rec.wait(10)
    r = rec.stop()
    assert r.duration_s == pytest.approx(4.0) and r.spool_path is None
    with wave.open(str(tmp_path / "out.wav")) as w:
        assert w.getframerate() == SR and w.getnchannels() == 1
        assert np.array_equal(np.frombuffer(w.readframes(w.getnframes()), "<i2"), pcm)
    assert np.array_equal(np.concatenate(got), pcm) and max(b.size for b in got) == 512
    assert not list((tmp_path / "spool").glob("*.cdspool"))  # the clean stop deleted the spool
    assert sp.find_interrupted(tmp_path / "spool") == []


def test_wav_source_runs_in_real_time():
    src = WavFileSource("mem.wav", speed=4.0, samples=np.zeros(SR * 2, np.float32))
    n = []
    t0 = time.monotonic()
    src.start(lambda b: n.append(b.size))
    assert src.wait(5)
    assert 0.45 <= time.monotonic() - t0 <= 1.0 and sum(n) == SR * 2  # 2 s of audio at 4x


def test_pause_resume_and_level(tmp_path):
    src = ManualSource()
    key = os.urandom(32)
    rec = Recorder(src, spool_dir=tmp_path, key=key, keep_spool=True)
    rec.start()
    tone = _tone(1.0, amp=0.5)
    for i in range(0, 8000, 800):
        src.push(tone[i : i + 800])
    assert rec.level_dbfs == pytest.approx(-9.03, abs=0.1)  # RMS of a 0.5 sine
    rec.pause()
    assert rec.paused
    for _ in range(10):
        src.push(np.zeros(800, np.int16))  # dropped while paused; the meter still moves
    assert rec.level_dbfs == -100.0
    rec.resume()
    for i in range(8000, 16000, 800):
        src.push(tone[i : i + 800])
    r = rec.stop()
    assert r.duration_s == pytest.approx(1.0)
    assert np.array_equal(sp.read_spool(r.spool_path, key).pcm, tone)  # the paused audio is not in it


def test_level_dbfs_values():
    assert level_dbfs(np.zeros(100, np.int16)) == -100.0
    assert level_dbfs(np.full(100, 32767, np.int16)) == pytest.approx(0.0, abs=0.01)
    assert level_dbfs(np.full(100, 0.1, np.float32)) == pytest.approx(-20.0, abs=0.01)


def test_callback_never_blocks_on_a_slow_consumer(tmp_path):
    src = ManualSource()
    rec = Recorder(src, listeners=[lambda b: time.sleep(0.01)])
    rec.start()
    t0 = time.monotonic()
    for _ in range(100):
        src.push(np.ones(512, np.int16))
    assert time.monotonic() - t0 < 0.05  # 100 callbacks queued while the listener takes 1 s in all
    r = rec.stop()
    assert r.duration_s == pytest.approx(100 * 512 / SR)


def test_resampling_48k_device(tmp_path):
    src = ManualSource(rate=48000)
    out = tmp_path / "out.wav"
    rec = Recorder(src, output=out)
    rec.start()
    tone = _tone(2.0, amp=0.5, rate=48000)
    for i in range(0, tone.size, 480):
        src.push(tone[i : i + 480])
    assert rec.stop().duration_s == pytest.approx(2.0, abs=0.01)
    with wave.open(str(out)) as w:
        x = np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(float)
    spectrum = np.abs(np.fft.rfft(x[SR // 2 : SR // 2 + SR]))
    assert np.argmax(spectrum) == 440 and level_dbfs(x[SR // 2 :] / 32768) == pytest.approx(-9.03, abs=0.2)
    assert StreamResampler(44100)(np.zeros(4410, np.int16)).size == 1600


def test_recorder_needs_a_key_for_the_spool(tmp_path):
    with pytest.raises(Exception, match="key"):
        Recorder(ManualSource(), spool_dir=tmp_path)


# -- no microphone ----------------------------------------------------------------------------------

def _fake_sd(monkeypatch, query):
    mod = types.SimpleNamespace(query_devices=query)
    monkeypatch.setitem(sys.modules, "sounddevice", mod)


def test_no_input_device_listed(monkeypatch):
    _fake_sd(monkeypatch, lambda *a, **k: [])
    with pytest.raises(NoInputDevice, match="no audio input device .*microphone.* was found"):
        default_input_device()
    _fake_sd(monkeypatch, lambda *a, **k: [{"name": "HDMI out", "max_input_channels": 0, "max_output_channels": 2}])
    with pytest.raises(NoInputDevice, match="connect a microphone"):
        MicrophoneSource().start(lambda b: None)


def test_query_devices_raising(monkeypatch):
    def boom(*a, **k):
        raise RuntimeError("Error querying device -1")

    _fake_sd(monkeypatch, boom)
    with pytest.raises(NoInputDevice, match="could not be listed"):
        default_input_device()


def test_sounddevice_or_portaudio_missing(monkeypatch):
    monkeypatch.setitem(sys.modules, "sounddevice", None)  # import fails
    with pytest.raises(NoInputDevice, match="pip install sounddevice"):
        default_input_device()


def test_recorder_without_microphone_leaves_nothing(monkeypatch, tmp_path):
    _fake_sd(monkeypatch, lambda *a, **k: [])
    rec = Recorder(MicrophoneSource(), spool_dir=tmp_path / "spool", key=os.urandom(32), output=tmp_path / "o.wav")
    with pytest.raises(NoInputDevice):
        rec.start()
    assert not list((tmp_path / "spool").glob("*")) and not list(tmp_path.glob("*.wav*"))
    assert threading.active_count() < 20


def test_real_sounddevice_without_devices():
    sd = pytest.importorskip("sounddevice")
    if any(d["max_input_channels"] > 0 for d in sd.query_devices()):
        pytest.skip("this machine has a microphone")
    with pytest.raises(NoInputDevice):
        MicrophoneSource().start(lambda b: None)


# -- CLI --------------------------------------------------------------------------------------------

def test_cli_record_and_recover(tmp_path, monkeypatch):
    import click
    from click.testing import CliRunner

    from clinidoc.speech import commands

    @click.group()
    def cli():
        pass

    commands.register(cli)
    monkeypatch.setattr(commands, "spool_key", lambda folder, passphrase: b"k" * 32)  # skip Argon2 in tests
    pcm = (np.random.default_rng(2).normal(0, 2000, SR * 2)).astype(np.int16)
    src = sp.write_wav(tmp_path / "in.wav", pcm)
    home = tmp_path / "home"
    runner = CliRunner()
    res = runner.invoke(cli, ["record", "--output", str(tmp_path / "o.wav"), "--from-file", str(src), "--speed", "0",
                              "--quiet", "--data-dir", str(home)])
    assert res.exit_code == 0, res.output
    assert "wrote" in res.output and np.array_equal(sp.to_int16(audio_decode(tmp_path / "o.wav")), pcm)
    # a recording killed mid-way leaves its spool: list it, recover it
    folder = commands.spool_dir(home)
    w = sp.SpoolWriter(folder, b"k" * 32)
    w.write(pcm)
    w.flush()
    os.close(w._fd)  # the process "dies": no end record, lock released
    res = runner.invoke(cli, ["recordings", "list", "--data-dir", str(home)])
    assert w.id in res.output
    res = runner.invoke(cli, ["recordings", "recover", "--output-dir", str(tmp_path / "rec"), "--data-dir", str(home)])
    assert res.exit_code == 0 and "recovered" in res.output, res.output
    assert np.array_equal(sp.to_int16(audio_decode(tmp_path / "rec" / f"{w.id}.wav")), pcm)
    assert runner.invoke(cli, ["recordings", "list", "--data-dir", str(home)]).output.strip() == "no interrupted recordings"


def test_cli_record_without_microphone(tmp_path, monkeypatch):
    import click
    from click.testing import CliRunner

    from clinidoc.speech import commands

    @click.group()
    def cli():
        pass

    commands.register(cli)
    _fake_sd(monkeypatch, lambda *a, **k: [])
    res = CliRunner().invoke(cli, ["record", "--output", str(tmp_path / "o.wav"), "--data-dir", str(tmp_path)])
    assert res.exit_code == 2 and "no audio input device" in res.output


def audio_decode(path):
    from clinidoc.speech import audio

    return audio.decode(path)
