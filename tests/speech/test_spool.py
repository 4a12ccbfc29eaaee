"""The encrypted recording spool: round trip, torn and damaged tails, wrong key, fsync cadence, and a
recording process killed with SIGKILL mid-dictation losing at most its last second."""

from __future__ import annotations

import os
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from clinidoc.speech import audio
from clinidoc.speech import spool as sp

ROOT = Path(__file__).resolve().parents[2]
SR = 16000


@pytest.fixture
def key() -> bytes:
    return os.urandom(32)


def _noise(seconds: float, seed: int = 0) -> np.ndarray:
    return (np.random.default_rng(seed).normal(0, 3000, int(seconds * SR))).clip(-32768, 32767).astype(np.int16)


def _write(folder: Path, key: bytes, pcm: np.ndarray, block: int = 512, complete: bool = True) -> Path:
    w = sp.SpoolWriter(folder, key, flush_s=0.5)
    for i in range(0, pcm.size, block):
        w.write(pcm[i : i + block])
    w.close(complete=complete)
    return w.path


def test_round_trip_is_exact(tmp_path, key):
    pcm = _noise(3.3)
    path = _write(tmp_path, key, pcm)
    got = sp.read_spool(path, key)
    assert np.array_equal(got.pcm, pcm) and got.complete and got.dropped_bytes == 0
    assert got.sample_rate == SR and "started_at" in got.meta
    assert pcm.tobytes()[:4000] not in path.read_bytes()  # encrypted at rest
    out = tmp_path / "rec.wav"
    samples = sp.recover(path, key, out)
    assert np.array_equal(sp.to_int16(samples), pcm)
    assert np.array_equal(sp.to_int16(audio.decode(out)), pcm)  # a WAV the pipeline reads


def _record_offsets(path: Path) -> list[int]:
    data = path.read_bytes()
    (hlen,) = struct.unpack_from("<H", data, 8)
    pos, offs = 10 + hlen, []
    while pos < len(data):
        offs.append(pos)
        (n,) = struct.unpack_from("<I", data, pos)
        pos += 4 + sp.NONCE_LEN + n
    return offs


@pytest.mark.parametrize("cut", [1, 3, 10, 200, -1])
def test_torn_last_record_is_dropped(tmp_path, key, cut):
    pcm = _noise(2.0)
    path = _write(tmp_path, key, pcm, complete=False)
    offs = _record_offsets(path)
    data = path.read_bytes()
    last = offs[-1]
    keep = len(data) - 1 if cut == -1 else last + cut  # torn inside the length, nonce, body or tag
    path.write_bytes(data[:keep])
    got = sp.read_spool(path, key)
    assert not got.complete and got.dropped_bytes == keep - last
    assert got.records == len(offs) - 1
    assert got.pcm.size > 0 and np.array_equal(got.pcm, pcm[: got.pcm.size])  # what remains is exact
    assert got.pcm.size >= pcm.size - SR  # one record (0.5 s) lost, no more


def test_damaged_middle_record_stops_there(tmp_path, key):
    pcm = _noise(3.0)
    path = _write(tmp_path, key, pcm)
    offs = _record_offsets(path)
    data = bytearray(path.read_bytes())
    data[offs[3] + 40] ^= 0xFF
    path.write_bytes(bytes(data))
    got = sp.read_spool(path, key)
    assert got.records == 3 and not got.complete and got.dropped_bytes == len(data) - offs[3]
    assert np.array_equal(got.pcm, pcm[: got.pcm.size])


def test_wrong_key_and_foreign_files(tmp_path, key):
    path = _write(tmp_path, key, _noise(1.0))
    with pytest.raises(sp.SpoolKeyError, match="wrong key"):
        sp.read_spool(path, os.urandom(32))
    other = tmp_path / "notes.cdspool"
    other.write_text("not audio at all")
    with pytest.raises(sp.SpoolError, match="not a clinidoc recording spool"):
        sp.read_spool(other, key)
    with pytest.raises(sp.SpoolError, match="16, 24 or 32 bytes"):
        sp.SpoolWriter(tmp_path, b"short")


def test_fsync_cadence(tmp_path, key):
    w = sp.SpoolWriter(tmp_path, key, flush_s=0.5)
    start = w.fsyncs
    pcm = _noise(3.0)
    for i in range(0, pcm.size, 512):  # 3 s of audio arriving in 32 ms blocks
        w.write(pcm[i : i + 512])
    assert w.fsyncs - start >= 5 and w.samples_written >= pcm.size - SR // 2
    w.write(pcm[:100])  # a trickle (paused input): flushed by wall time, not by size
    before = w.fsyncs
    time.sleep(0.55)
    w.tick()
    assert w.fsyncs == before + 1
    w.close()


def test_find_interrupted_skips_a_live_recording(tmp_path, key):
    live = sp.SpoolWriter(tmp_path, key)
    live.write(_noise(1.0))
    live.flush()
    assert sp.find_interrupted(tmp_path) == []  # its writer holds the lock
    dead = _write(tmp_path, key, _noise(2.0), complete=False)
    found = sp.find_interrupted(tmp_path)
    assert [f.path for f in found] == [dead] and found[0].approx_seconds == pytest.approx(2.0, abs=0.2)
    live.discard()
    assert sp.find_interrupted(tmp_path / "missing") == []


_CHILD = """
import os, sys, time
from clinidoc.speech.recorder import Recorder, WavFileSource
src = WavFileSource(sys.argv[1], speed=1.0)
rec = Recorder(src, spool_dir=sys.argv[2], key=bytes.fromhex(os.environ["SPOOL_KEY"]))
rec.start()
print("recording", flush=True)
time.sleep(60)
"""


def test_sigkill_mid_dictation_loses_at_most_the_last_second(tmp_path, key):
    pcm = _noise(12.0, seed=7)
    source = sp.write_wav(tmp_path / "dictation.wav", pcm)
    folder = tmp_path / "spool"
    env = dict(os.environ, SPOOL_KEY=key.hex(), PYTHONPATH=str(ROOT))
    child = subprocess.Popen([sys.executable, "-c", _CHILD, str(source), str(folder)], env=env,
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "recording"
        started = time.monotonic()
        time.sleep(3.0)
        elapsed = time.monotonic() - started
        child.send_signal(signal.SIGKILL)
        child.wait(10)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == -signal.SIGKILL
    found = sp.find_interrupted(folder)
    assert len(found) == 1
    got = sp.read_spool(found[0].path, key)
    assert not got.complete
    assert np.array_equal(got.pcm, pcm[: got.pcm.size])  # exactly the dictation's first seconds
    assert got.pcm.size >= (elapsed - 1.0) * SR, (got.pcm.size / SR, elapsed)
    assert got.pcm.size <= (elapsed + 0.5) * SR
