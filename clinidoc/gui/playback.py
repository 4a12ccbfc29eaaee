"""Click-to-play in the transcript: a span of the decoded recording through sounddevice.

QtMultimedia is not part of PySide6-Essentials, so playback goes through sounddevice/PortAudio, which
the recorder already uses. Decoding stays in the core (``clinidoc.speech.audio.decode``: 16 kHz mono
float32) and runs in a worker; this module only picks the samples of a span and hands them to
``sounddevice.play`` (which returns at once; a new click stops the previous span). No output device,
no PortAudio: a clear message, never an exception into the GUI.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

SAMPLE_RATE = 16000
PAD_S = 0.15  # a little before and after the segment, so its first and last words are not clipped


class NoOutputDevice(Exception):
    """Nothing can play sound here (no PortAudio, no output device)."""


def span_samples(start_s: float, end_s: float, total: int, *, sr: int = SAMPLE_RATE, pad_s: float = PAD_S) -> tuple[int, int]:
    """[a, b) sample indices of the span start_s..end_s (padded, clipped to the recording)."""
    if end_s < start_s:
        start_s, end_s = end_s, start_s
    a = max(0, round((start_s - pad_s) * sr))
    b = min(int(total), round((end_s + pad_s) * sr))
    if b <= a:
        raise ValueError(f"the span {start_s:.2f}-{end_s:.2f} s is outside the recording ({total / sr:.2f} s)")
    return a, b


def _sounddevice():
    try:
        import sounddevice
    except (ImportError, OSError) as exc:  # OSError: PortAudio's library is missing
        raise NoOutputDevice(f"audio playback needs PortAudio and sounddevice ({exc.__class__.__name__})") from exc
    return sounddevice


def output_device() -> str:
    """The default output device's name; NoOutputDevice when there is none."""
    sd = _sounddevice()
    try:
        devices = sd.query_devices()
        outputs = [d for d in (devices or []) if int(d.get("max_output_channels", 0) or 0) > 0]
    except Exception as exc:
        raise NoOutputDevice(f"the audio output devices could not be listed ({exc})") from exc
    if not outputs:
        raise NoOutputDevice("No audio output device found: connect speakers or headphones to play the recording.")
    try:
        dev = sd.query_devices(kind="output")
    except Exception:  # noqa: BLE001
        dev = outputs[0]
    return str(dev.get("name") or outputs[0].get("name") or "speakers")


def decode_source(src) -> np.ndarray:
    """A worker job: a recording (a path, or (fetched bytes, suffix)) as 16 kHz mono float32."""
    from clinidoc.speech import audio as audio_io

    if isinstance(src, (str, Path)):
        return audio_io.decode(Path(src))
    data, suffix = src
    tmpdir = tempfile.mkdtemp(prefix="clinidoc-play-")
    os.chmod(tmpdir, 0o700)
    path = Path(tmpdir) / f"recording{suffix}"
    try:
        path.write_bytes(data)
        return audio_io.decode(path)
    finally:
        path.unlink(missing_ok=True)
        os.rmdir(tmpdir)


class Player:
    """Plays spans of one decoded recording; a new span stops the one playing."""

    def __init__(self) -> None:
        self.samples: np.ndarray | None = None
        self.device: str | None = None
        self.last_span: tuple[int, int] | None = None

    def load(self, samples: np.ndarray | None) -> None:
        self.stop()
        self.samples = samples
        self.last_span = None

    def play_span(self, start_s: float, end_s: float) -> tuple[int, int]:
        """Start playing start_s..end_s; returns the sample range. NoOutputDevice when nothing can play."""
        if self.samples is None:
            raise ValueError("no recording is loaded")
        a, b = span_samples(start_s, end_s, self.samples.size)
        self.last_span = (a, b)
        if self.device is None:
            self.device = output_device()
        sd = _sounddevice()
        try:
            sd.stop()
            sd.play(self.samples[a:b], SAMPLE_RATE)
        except Exception as exc:
            self.device = None
            raise NoOutputDevice(f"the recording could not be played ({exc})") from exc
        return a, b

    def stop(self) -> None:
        if self.device is None:
            return
        try:
            _sounddevice().stop()
        except Exception:  # noqa: BLE001
            pass
