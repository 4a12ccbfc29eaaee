"""Audio probing and decoding (PyAV, the decoder faster-whisper itself uses), with clear errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from clinidoc.errors import InputError

SAMPLE_RATE = 16000
# Decoding holds the whole file as float32 (64 kB per second); past this, ask for a split rather than exhaust memory.
MAX_SECONDS = 4 * 3600


# Codecs whose container states the exact length: decoding much less than that means a cut-off file.
_EXACT_LENGTH_CODECS = ("pcm_", "flac", "alac", "wavpack")


def probe_duration(path: Path) -> float:
    """Seconds of audio, read from the container without decoding; InputError when it is not audio."""
    return _probe(path)[0]


def _probe(path: Path) -> tuple[float, str]:
    """(declared seconds, codec name)."""
    import av

    if not path.is_file():
        raise InputError("file not found", file=str(path))
    if path.stat().st_size == 0:
        raise InputError("the audio file is empty (0 bytes): record again or choose another file", file=str(path))
    try:
        with av.open(str(path)) as container:
            streams = [s for s in container.streams if s.type == "audio"]
            if not streams:
                raise InputError("has no audio stream: is it an audio file?", file=str(path))
            s = streams[0]
            codec = (s.codec_context.name or "") if s.codec_context else ""
            if container.duration:
                return container.duration / 1_000_000, codec
            if s.duration and s.time_base:
                return float(s.duration * s.time_base), codec
            return 0.0, codec
    except InputError:
        raise
    except Exception as exc:  # PyAV raises many types for damaged or foreign files
        raise InputError(
            f"is not an audio file or is damaged ({type(exc).__name__}): use WAV, FLAC, MP3, OGG or M4A",
            file=str(path),
        ) from exc


def _check_wav_complete(path: Path) -> None:
    """A RIFF/WAVE file whose data chunk claims more bytes than the file holds was cut off."""
    import struct

    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return
        pos = 12
        byte_rate = 0
        while pos + 8 <= size:
            f.seek(pos)
            cid, clen = struct.unpack("<4sI", f.read(8))
            if cid == b"fmt " and clen >= 12:
                byte_rate = struct.unpack("<HHII", f.read(12))[3]
            if cid == b"data":
                have = size - pos - 8
                # 0 and 0xFFFFFFFF are placeholders written by streaming recorders: nothing to check
                if clen not in (0, 0xFFFFFFFF) and have < clen * 0.98 and byte_rate:
                    raise InputError(
                        f"is truncated: its header says {clen / byte_rate:.1f} s of audio but the file holds only "
                        f"{have / byte_rate:.1f} s (an interrupted copy or recording?)",
                        file=str(path),
                    )
                return
            pos += 8 + clen + (clen & 1)


def _decode_pcm16(path: Path) -> np.ndarray | None:
    """16 kHz mono 16-bit WAV / FLAC through libsndfile: the very samples PyAV gives (s16 / 32768), but
    without faster-whisper's ``gc.collect()`` after decoding, which holds the GIL for up to a second in a
    large process (the desktop app) and freezes its window. None for anything else (PyAV decodes it)."""
    try:
        import soundfile as sf

        info = sf.info(str(path))
    except Exception:  # not installed, or a format libsndfile does not read
        return None
    if info.samplerate != SAMPLE_RATE or info.channels != 1 or info.subtype != "PCM_16" or info.format not in ("WAV", "FLAC"):
        return None
    data, _ = sf.read(str(path), dtype="int16", always_2d=False)
    return data.astype(np.float32) / 32768.0


def decode(path: Path) -> np.ndarray:
    """Mono float32 at 16 kHz."""
    from faster_whisper.audio import decode_audio

    duration, codec = _probe(path)
    _check_wav_complete(path)
    if duration > MAX_SECONDS:
        raise InputError(
            f"is {duration / 3600:.1f} hours long; clinidoc transcribes up to {MAX_SECONDS // 3600} hours "
            "per file: split it (e.g. `sox in.wav out.wav trim 0 3:00:00 : newfile : restart`)",
            file=str(path),
        )
    try:
        audio = _decode_pcm16(path)
        if audio is None:
            audio = decode_audio(str(path), sampling_rate=SAMPLE_RATE)
    except Exception as exc:
        raise InputError(f"audio could not be decoded ({type(exc).__name__}): the file may be truncated", file=str(path)) from exc
    if audio.size == 0:
        raise InputError("contains no audio samples: the file is truncated or empty", file=str(path))
    decoded = audio.size / SAMPLE_RATE
    if codec.startswith(_EXACT_LENGTH_CODECS) and duration > 1.0 and decoded < 0.9 * duration - 0.5:
        raise InputError(
            f"is truncated: its header says {duration:.1f} s of audio but only {decoded:.1f} s could be read "
            "(an interrupted copy or recording?)",
            file=str(path),
        )
    return audio
