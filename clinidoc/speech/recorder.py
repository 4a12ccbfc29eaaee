"""Recording from a microphone (or a WAV file played in simulated real time) to a crash-safe spool.

    source = MicrophoneSource()                 # or WavFileSource(path, speed=4.0) in tests
    rec = Recorder(source, spool_dir=folder, key=key, output=Path("visit.wav"), listeners=[live.feed])
    rec.start(); ...; rec.pause(); rec.resume(); rec.level_dbfs; ...; recording = rec.stop()

Threads: the source calls ``Recorder._on_audio`` from its own thread (PortAudio's callback thread for
a microphone). That callback never blocks: it measures the level and puts a copy of the block on a
queue. The recorder's writer thread takes blocks off the queue, resamples to 16 kHz if the device
could not record at that rate, appends them to the encrypted spool (fsync'd every ``flush_s``), to the
output WAV, and hands them to the listeners (e.g. ``LiveTranscriber.feed``, itself non-blocking).
Nothing unencrypted is written while recording: on a clean stop the output WAV is written from the
spool (fsync'd, renamed into place) and the spool deleted; after a crash the spool stays and
``clinidoc recordings recover`` (spool.find_interrupted / spool.recover) restores it.
"""

from __future__ import annotations

import math
import os
import queue
import threading
import time
import wave
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from clinidoc.errors import ClinidocError
from clinidoc.speech import audio as audio_io
from clinidoc.speech import spool as spool_mod

SAMPLE_RATE = audio_io.SAMPLE_RATE
SILENCE_DBFS = -100.0  # the level meter's floor

BlockCallback = Callable[[np.ndarray], None]  # int16 mono block at the source's rate; must not block


class NoInputDevice(ClinidocError):
    """No microphone can be opened: PortAudio or sounddevice is missing, or no input device exists."""

    exit_code = 2


class RecorderError(ClinidocError):
    """The recorder was used out of order (started twice, stopped before starting)."""


class AudioSource(Protocol):
    """Something that calls ``callback(block)`` with int16 mono blocks from its own thread."""

    sample_rate: int

    def start(self, callback: BlockCallback) -> None: ...

    def stop(self) -> None: ...

    @property
    def finished(self) -> bool: ...  # a finite source (a file) has delivered everything


def level_dbfs(block: np.ndarray) -> float:
    """RMS level of an int16 (or float in [-1, 1]) block in dBFS: 0 for a full-scale square wave."""
    if block.size == 0:
        return SILENCE_DBFS
    x = block.astype(np.float32)
    if block.dtype == np.int16:
        x /= 32768.0
    rms = float(np.sqrt(np.mean(x * x)))
    return max(SILENCE_DBFS, 20.0 * math.log10(rms)) if rms > 0 else SILENCE_DBFS


# --- sources -----------------------------------------------------------------------------------------

_NO_DEVICE_HELP = (
    "connect a microphone (and check the system's sound settings and microphone permission), "
    "or transcribe a recorded file with `clinidoc transcribe FILE`"
)


def _import_sounddevice():
    try:
        import sounddevice
    except ImportError as exc:
        raise NoInputDevice("recording needs the sounddevice package: `pip install sounddevice`") from exc
    except OSError as exc:  # sounddevice imports but PortAudio's shared library is missing
        raise NoInputDevice(
            "recording needs the PortAudio library: `apt-get install -y libportaudio2` (Debian/Ubuntu), "
            f"`brew install portaudio` (macOS) ({exc})"
        ) from exc
    return sounddevice


def default_input_device() -> dict:
    """The default input device as sounddevice describes it; NoInputDevice when there is none."""
    sd = _import_sounddevice()
    try:
        devices = sd.query_devices()
    except Exception as exc:  # PortAudioError and friends
        raise NoInputDevice(f"the audio input devices could not be listed ({exc}): {_NO_DEVICE_HELP}") from exc
    inputs = [d for d in (devices or []) if int(d.get("max_input_channels", 0) or 0) > 0]
    if not inputs:
        raise NoInputDevice(f"no audio input device (microphone) was found: {_NO_DEVICE_HELP}")
    try:
        dev = sd.query_devices(kind="input")
    except Exception:
        dev = inputs[0]
    if not dev or int(dev.get("max_input_channels", 0) or 0) <= 0:
        dev = inputs[0]
    return dict(dev)


class MicrophoneSource:
    """The default (or a named) input device through sounddevice/PortAudio, mono int16.

    Records at 16 kHz when the device accepts it, else at its default rate (the Recorder resamples).
    """

    def __init__(self, device: int | str | None = None, *, block_s: float = 0.05):
        self.device = device
        self.block_s = block_s
        self.sample_rate = SAMPLE_RATE
        self.overflows = 0
        self._stream = None

    @property
    def finished(self) -> bool:
        return False

    def start(self, callback: BlockCallback) -> None:
        sd = _import_sounddevice()
        dev = default_input_device() if self.device is None else None
        device = self.device if self.device is not None else dev.get("index")
        try:
            sd.check_input_settings(device=device, channels=1, dtype="int16", samplerate=SAMPLE_RATE)
            rate = SAMPLE_RATE
        except Exception:
            info = dev or sd.query_devices(device, kind="input")
            rate = int(info.get("default_samplerate") or 48000)
        self.sample_rate = rate

        def _cb(indata, frames, time_info, status):  # PortAudio's thread: copy and hand over, nothing else
            if status and status.input_overflow:
                self.overflows += 1
            callback(indata[:, 0].copy())

        try:
            self._stream = sd.InputStream(
                device=device, channels=1, dtype="int16", samplerate=rate,
                blocksize=max(1, int(rate * self.block_s)), callback=_cb,
            )
            self._stream.start()
        except Exception as exc:
            self._stream = None
            raise NoInputDevice(f"the microphone could not be opened ({exc}): {_NO_DEVICE_HELP}") from exc

    def stop(self) -> None:
        if self._stream is not None:
            try:
                self._stream.stop()
                self._stream.close()
            finally:
                self._stream = None


class WavFileSource:
    """An audio file fed to the callback in callback-sized blocks at ``speed`` x real time (tests,
    benchmarks, demos without a microphone). Decodes with clinidoc.speech.audio (its clear errors for
    empty, truncated and non-audio files), i.e. 16 kHz mono."""

    def __init__(self, path: Path | str, *, speed: float = 1.0, block_s: float = 0.032,
                 samples: np.ndarray | None = None):
        self.path = Path(path)
        self.speed = float(speed)
        self.sample_rate = SAMPLE_RATE
        self.block = max(1, int(SAMPLE_RATE * block_s))
        self._pcm = spool_mod.to_int16(samples if samples is not None else audio_io.decode(self.path))
        self._stop = threading.Event()
        self._done = threading.Event()
        self._thread: threading.Thread | None = None
        self.started_at: float | None = None  # time.monotonic() of the first block

    @property
    def duration_s(self) -> float:
        return self._pcm.size / self.sample_rate

    @property
    def pcm(self) -> np.ndarray:
        return self._pcm

    @property
    def finished(self) -> bool:
        return self._done.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        return self._done.wait(timeout)

    def start(self, callback: BlockCallback) -> None:
        def run():
            t0 = self.started_at = time.monotonic()
            for k, i in enumerate(range(0, self._pcm.size, self.block)):
                if self._stop.is_set():
                    break
                if self.speed > 0:  # block k is "captured" once its last sample has been spoken
                    due = t0 + (i + self.block) / self.sample_rate / self.speed
                    delay = due - time.monotonic()
                    if delay > 0 and self._stop.wait(delay):
                        break
                callback(self._pcm[i : i + self.block].copy())
            self._done.set()

        self._thread = threading.Thread(target=run, name="wav-source", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()


# --- resampling --------------------------------------------------------------------------------------

class StreamResampler:
    """Streaming rate conversion to 16 kHz for devices that cannot record at 16 kHz (48 / 44.1 kHz):
    an anti-alias low-pass with carried filter state, then linear interpolation with a carried phase,
    so block edges leave no clicks."""

    def __init__(self, rate_in: int, rate_out: int = SAMPLE_RATE):
        from scipy import signal

        self.rate_in, self.rate_out = int(rate_in), int(rate_out)
        self.step = self.rate_in / self.rate_out
        self._sos = signal.butter(8, 0.9 * (rate_out / 2), btype="low", fs=rate_in, output="sos") if rate_in > rate_out else None
        self._zi = signal.sosfilt_zi(self._sos) * 0.0 if self._sos is not None else None
        self._pos = 0.0  # next output position, in input samples, relative to the carried sample
        self._prev = np.zeros(1, np.float32)

    def __call__(self, block: np.ndarray) -> np.ndarray:
        from scipy import signal

        if self.rate_in == self.rate_out:
            return spool_mod.to_int16(block)
        x = block.astype(np.float32) / 32768.0 if block.dtype == np.int16 else block.astype(np.float32)
        if self._sos is not None:
            x, self._zi = signal.sosfilt(self._sos, x, zi=self._zi)
        x = np.concatenate([self._prev, x.astype(np.float32)])  # x[0] is the last sample of the previous block
        pos = np.arange(self._pos, len(x) - 1, self.step)
        out = np.interp(pos, np.arange(len(x)), x) if pos.size else np.zeros(0, np.float32)
        self._pos = (pos[-1] + self.step - (len(x) - 1)) if pos.size else self._pos - (len(x) - 1)
        self._prev = x[-1:]
        return spool_mod.to_int16(out)


# --- recorder ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Recording:
    output: Path | None  # the WAV written, when one was asked for
    spool_path: Path | None  # kept (closed as complete) only with keep_spool; else deleted after a clean stop
    duration_s: float  # recorded audio (pauses excluded)
    overflows: int  # blocks the writer saw arrive late or lost by the device


_STOP = object()


class Recorder:
    """Records a source to an encrypted spool (and optionally a WAV), with pause/resume and a level meter.

    ``listeners`` get every recorded 16 kHz int16 block from the writer thread, in order; they must be
    quick (LiveTranscriber.feed only queues).
    """

    def __init__(
        self,
        source: AudioSource,
        *,
        spool_dir: Path | str | None = None,
        key: bytes | None = None,
        output: Path | str | None = None,
        listeners: Sequence[BlockCallback] = (),
        flush_s: float = 0.5,
        keep_spool: bool = False,
        meta: dict | None = None,
    ):
        if spool_dir is not None and key is None:
            raise RecorderError("the recording spool is encrypted: pass the key")
        self.source = source
        self.spool_dir = Path(spool_dir) if spool_dir is not None else None
        self.key = key
        self.output = Path(output) if output is not None else None
        self.listeners = list(listeners)
        self.flush_s = flush_s
        self.keep_spool = keep_spool
        self.meta = meta or {}
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._paused = threading.Event()
        self._level = SILENCE_DBFS
        self._samples = 0  # 16 kHz samples recorded (writer thread)
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self._spool: spool_mod.SpoolWriter | None = None
        self._wav = None
        self._wav_tmp: Path | None = None
        self._started = False
        self._stopped = False
        self._resampler: StreamResampler | None = None

    # -- state seen by the GUI ---------------------------------------------------------------------
    @property
    def level_dbfs(self) -> float:
        """RMS level of the latest block in dBFS (-100 for silence), updated while paused too."""
        return self._level

    @property
    def paused(self) -> bool:
        return self._paused.is_set()

    @property
    def duration_s(self) -> float:
        return self._samples / SAMPLE_RATE

    @property
    def spool_path(self) -> Path | None:
        return self._spool.path if self._spool else None

    def pause(self) -> None:
        self._paused.set()

    def resume(self) -> None:
        self._paused.clear()

    # -- the source's thread -----------------------------------------------------------------------
    def _on_audio(self, block: np.ndarray) -> None:
        """Called by the source (PortAudio's thread): never blocks, never raises."""
        try:
            self._level = level_dbfs(block)
            if not self._paused.is_set():
                self._queue.put_nowait(block)
        except Exception:  # pragma: no cover - a callback must not throw into PortAudio
            pass

    # -- the writer thread -------------------------------------------------------------------------
    def _writer(self) -> None:
        try:
            tick = min(0.25, self.flush_s / 2)
            while True:
                try:
                    block = self._queue.get(timeout=tick)
                except queue.Empty:
                    if self._spool:
                        self._spool.tick()
                    continue
                if block is _STOP:
                    break
                rate = int(getattr(self.source, "sample_rate", SAMPLE_RATE))
                if rate != SAMPLE_RATE:  # a device that could not record at 16 kHz
                    if self._resampler is None or self._resampler.rate_in != rate:
                        self._resampler = StreamResampler(rate, SAMPLE_RATE)
                    block = self._resampler(block)
                block = spool_mod.to_int16(block)
                if not block.size:
                    continue
                if self._spool:
                    self._spool.write(block)
                if self._wav is not None:
                    self._wav.writeframes(block.astype("<i2").tobytes())
                self._samples += block.size
                for fn in self.listeners:
                    fn(block)
        except BaseException as exc:  # surfaced by stop()
            self._error = exc
            while True:  # keep draining so nothing piles up
                try:
                    if self._queue.get(timeout=0.5) is _STOP:
                        break
                except queue.Empty:
                    continue

    def start(self) -> None:
        if self._started:
            raise RecorderError("the recorder was already started")
        self._started = True
        if self.spool_dir is not None:
            self._spool = spool_mod.SpoolWriter(self.spool_dir, self.key, sample_rate=SAMPLE_RATE,
                                                flush_s=self.flush_s, meta=self.meta)
        if self.output is not None and self._spool is None:
            # without a spool the WAV is written as the audio arrives; with one, nothing plaintext touches
            # the disk while recording: the WAV is written from the spool at stop
            self.output.parent.mkdir(parents=True, exist_ok=True)
            self._wav_tmp = self.output.with_name(f".{self.output.name}.part")
            self._wav = wave.open(str(self._wav_tmp), "wb")
            self._wav.setnchannels(1)
            self._wav.setsampwidth(2)
            self._wav.setframerate(SAMPLE_RATE)
        self._thread = threading.Thread(target=self._writer, name="recorder-writer", daemon=True)
        self._thread.start()
        try:
            self.source.start(self._on_audio)
        except BaseException:
            self._queue.put(_STOP)
            self._thread.join()
            self._abort()
            raise

    def _abort(self) -> None:
        if self._spool:
            self._spool.discard()
        if self._wav is not None:
            self._wav.close()
            self._wav_tmp.unlink(missing_ok=True)
            self._wav = None

    def wait(self, timeout: float | None = None) -> bool:
        """For a finite source: wait until it has delivered everything (True) or ``timeout`` passed."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.source.finished:
            if deadline is not None and time.monotonic() >= deadline:
                return False
            time.sleep(0.02)
        return True

    def stop(self) -> Recording:
        """Stop the source, write out everything queued, complete the WAV, then delete the spool."""
        if not self._started:
            raise RecorderError("the recorder was not started")
        if self._stopped:
            raise RecorderError("the recorder was already stopped")
        self._stopped = True
        self.source.stop()
        self._queue.put(_STOP)
        self._thread.join()
        if self._error is not None:
            # leave the spool as it is: it is the recording's only safe copy
            if self._spool:
                self._spool.close(complete=False)
            raise self._error
        if self._wav is not None:
            self._wav.close()
            with open(self._wav_tmp, "rb+") as f:
                os.fsync(f.fileno())
            os.replace(self._wav_tmp, self.output)
            self._wav = None
        spool_path = None
        if self._spool:
            self._spool.close(complete=True)
            if self.output is not None:
                contents = spool_mod.read_spool(self._spool.path, self.key)
                spool_mod.write_wav(self.output, contents.pcm, contents.sample_rate)  # fsync'd, then renamed
            if self.keep_spool:
                spool_path = self._spool.path
            else:
                self._spool.discard()  # the WAV is complete and fsync'd: the spool has done its job
        return Recording(output=self.output, spool_path=spool_path, duration_s=round(self.duration_s, 3),
                         overflows=int(getattr(self.source, "overflows", 0)))
