"""A crash-safe, encrypted spool for a recording in progress.

Audio is appended to ``<folder>/<id>.cdspool`` as it arrives, in records of about ``flush_s`` seconds,
each written with one ``write`` and followed by ``fsync`` (the file's directory entry is fsync'd once,
at creation). A crash, a kill or a power cut therefore loses at most the record being assembled: with
the default ``flush_s=0.5`` less than a second of audio.

Layout (all integers little-endian)::

    b"CDSPOOL1" | u16 header length | header (JSON: format, sample_rate, channels, id)
    then records: u32 ciphertext length | 12-byte nonce | AES-256-GCM ciphertext (+16-byte tag)

A record's plaintext is one kind byte and its payload: ``S`` start (JSON metadata), ``A`` audio
(s16le mono at the header's rate), ``E`` end (the recording was stopped cleanly). Its associated data is
the header plus the record's index, so records cannot be reordered, dropped from the middle or moved
between spools without the tag failing. A torn last record (short length, short body, bad tag) is what
a crash mid-write leaves: reading stops there and reports the dropped bytes.

While a recording runs, its writer holds an exclusive ``flock`` on the file: ``find_interrupted``
lists only spools no live process holds. The key (16, 24 or 32 bytes) is the caller's (the store's key).
"""

from __future__ import annotations

import json
import os
import struct
import time
import uuid
import wave
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from clinidoc.errors import ClinidocError

try:  # POSIX advisory locks; on Windows a spool is never reported as "in use"
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None

MAGIC = b"CDSPOOL1"
SUFFIX = ".cdspool"
NONCE_LEN = 12
TAG_LEN = 16
MAX_RECORD = 16 * 1024 * 1024  # a length beyond this is damage, not audio
KIND_START, KIND_AUDIO, KIND_END = b"S", b"A", b"E"


class SpoolError(ClinidocError):
    """A spool file is unreadable, damaged at its start, or not a spool."""

    exit_code = 2


class SpoolKeyError(SpoolError):
    """The spool's first record does not decrypt: a wrong key (or a spool damaged from its start)."""


def _aead(key: bytes):
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    if not isinstance(key, (bytes, bytearray)) or len(key) not in (16, 24, 32):
        raise SpoolError("the spool key must be 16, 24 or 32 bytes")
    return AESGCM(bytes(key))


def _aad(header: bytes, index: int) -> bytes:
    return header + struct.pack("<Q", index)


def to_int16(samples: np.ndarray) -> np.ndarray:
    """int16 as is; float in [-1, 1] scaled and clipped (so int16 -> float32 -> int16 is exact)."""
    a = np.asarray(samples)
    if a.dtype == np.int16:
        return a.reshape(-1)
    return np.clip(np.round(a.astype(np.float32).reshape(-1) * 32768.0), -32768, 32767).astype(np.int16)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(str(path), os.O_RDONLY)
    except OSError:  # pragma: no cover - Windows cannot open directories
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


class SpoolWriter:
    """Append-only writer. ``write`` buffers; a record is sealed every ``flush_s`` seconds of audio or of
    wall time (``tick`` lets an idle writer flush by time), then written and fsync'd.

    Not thread-safe: one thread (the recorder's writer thread) owns it.
    """

    def __init__(self, folder: Path | str, key: bytes, *, sample_rate: int = 16000, flush_s: float = 0.5,
                 meta: dict | None = None, recording_id: str | None = None):
        self._aes = _aead(key)
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.sample_rate = int(sample_rate)
        self.flush_s = float(flush_s)
        self.id = recording_id or datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ-") + uuid.uuid4().hex[:8]
        self.path = self.folder / f"{self.id}{SUFFIX}"
        self._header = json.dumps(
            {"format": "s16le", "sample_rate": self.sample_rate, "channels": 1, "id": self.id, "version": 1},
            separators=(",", ":"),
        ).encode()
        self._fd = os.open(str(self.path), os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o600)
        if fcntl is not None:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        self._index = 0
        self._pending: list[np.ndarray] = []
        self._pending_n = 0
        self._last_flush = time.monotonic()
        self.samples_written = 0  # sealed and fsync'd
        self.fsyncs = 0
        self.closed = False
        os.write(self._fd, MAGIC + struct.pack("<H", len(self._header)) + self._header)
        started = {"started_at": datetime.now(UTC).isoformat(timespec="seconds"), **(meta or {})}
        self._append(KIND_START + json.dumps(started).encode())
        _fsync_dir(self.folder)

    def _append(self, plaintext: bytes) -> None:
        nonce = os.urandom(NONCE_LEN)
        ct = self._aes.encrypt(nonce, plaintext, _aad(self._header, self._index))
        self._index += 1
        data = struct.pack("<I", len(ct)) + nonce + ct
        view = memoryview(data)
        while view:
            n = os.write(self._fd, view)
            view = view[n:]
        os.fsync(self._fd)
        self.fsyncs += 1
        self._last_flush = time.monotonic()

    def write(self, samples: np.ndarray) -> None:
        pcm = to_int16(samples)
        if pcm.size:
            self._pending.append(pcm.copy())
            self._pending_n += pcm.size
        if self._pending_n >= self.flush_s * self.sample_rate:
            self.flush()
        else:
            self.tick()

    def tick(self) -> None:
        """Seal what is pending when ``flush_s`` of wall time has passed since the last fsync."""
        if self._pending_n and time.monotonic() - self._last_flush >= self.flush_s:
            self.flush()

    def flush(self) -> None:
        if not self._pending_n or self.closed:
            return
        pcm = np.concatenate(self._pending).astype("<i2", copy=False)
        self._pending, self._pending_n = [], 0
        self._append(KIND_AUDIO + pcm.tobytes())
        self.samples_written += pcm.size

    def close(self, *, complete: bool = True) -> None:
        """Flush, mark the recording as cleanly stopped (``complete``) and release the lock."""
        if self.closed:
            return
        self.flush()
        if complete:
            self._append(KIND_END)
        self.closed = True
        os.close(self._fd)  # releases the flock

    def discard(self) -> None:
        """Close and delete the spool (once the recording is safely saved elsewhere)."""
        self.close()
        self.path.unlink(missing_ok=True)
        _fsync_dir(self.folder)


@dataclass
class SpoolContents:
    path: Path
    sample_rate: int
    pcm: np.ndarray  # int16 mono
    meta: dict = field(default_factory=dict)
    complete: bool = False  # the end record was found: the recording was stopped cleanly
    records: int = 0
    dropped_bytes: int = 0  # a torn or damaged tail that was left out

    @property
    def samples(self) -> np.ndarray:
        """float32 in [-1, 1), as clinidoc.speech.audio.decode returns."""
        return self.pcm.astype(np.float32) / 32768.0

    @property
    def duration_s(self) -> float:
        return self.pcm.size / self.sample_rate


def _read_header(data: bytes, path: Path) -> tuple[bytes, dict, int]:
    if len(data) < len(MAGIC) + 2 or data[: len(MAGIC)] != MAGIC:
        raise SpoolError(f"{path}: is not a clinidoc recording spool")
    (hlen,) = struct.unpack_from("<H", data, len(MAGIC))
    start = len(MAGIC) + 2
    header = data[start : start + hlen]
    try:
        info = json.loads(header)
        int(info["sample_rate"])
    except (ValueError, KeyError, TypeError):
        raise SpoolError(f"{path}: the spool header is damaged")
    return header, info, start + hlen


def read_spool(path: Path | str, key: bytes) -> SpoolContents:
    """Every intact record of a spool, in order; a torn or damaged tail is dropped and counted."""
    from cryptography.exceptions import InvalidTag

    path = Path(path)
    aes = _aead(key)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SpoolError(f"{path}: cannot be read ({exc.strerror or exc})")
    header, info, pos = _read_header(data, path)
    out = SpoolContents(path=path, sample_rate=int(info["sample_rate"]), pcm=np.zeros(0, np.int16))
    chunks: list[np.ndarray] = []
    index = 0
    while pos < len(data):
        if pos + 4 + NONCE_LEN > len(data):
            break
        (n,) = struct.unpack_from("<I", data, pos)
        if n < TAG_LEN + 1 or n > MAX_RECORD or pos + 4 + NONCE_LEN + n > len(data):
            break
        nonce = data[pos + 4 : pos + 4 + NONCE_LEN]
        try:
            plain = aes.decrypt(nonce, data[pos + 4 + NONCE_LEN : pos + 4 + NONCE_LEN + n], _aad(header, index))
        except InvalidTag:
            if index == 0:
                raise SpoolKeyError(f"{path}: cannot be decrypted: wrong key, or the spool is damaged from its start")
            break
        pos += 4 + NONCE_LEN + n
        index += 1
        kind, body = plain[:1], plain[1:]
        if kind == KIND_AUDIO:
            chunks.append(np.frombuffer(body, dtype="<i2").astype(np.int16))
        elif kind == KIND_START:
            try:
                out.meta = json.loads(body)
            except ValueError:
                pass
        elif kind == KIND_END:
            out.complete = True
    if index == 0 and pos < len(data):
        raise SpoolKeyError(f"{path}: cannot be decrypted: wrong key, or the spool is damaged from its start")
    out.records = index
    out.dropped_bytes = len(data) - pos
    out.pcm = np.concatenate(chunks) if chunks else np.zeros(0, np.int16)
    return out


def write_wav(path: Path | str, pcm: np.ndarray, sample_rate: int = 16000) -> Path:
    """16-bit mono WAV, written via a temporary file, fsync'd and renamed (never half a file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as f:
        with wave.open(f, "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(sample_rate)
            w.writeframes(to_int16(pcm).astype("<i2").tobytes())
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return path


def recover(path: Path | str, key: bytes, output: Path | str | None = None) -> np.ndarray:
    """The recoverable audio of a spool as float32 samples; also written as a WAV to ``output`` if given."""
    contents = read_spool(path, key)
    if output is not None:
        write_wav(output, contents.pcm, contents.sample_rate)
    return contents.samples


@dataclass(frozen=True)
class InterruptedRecording:
    path: Path
    id: str
    modified: float  # POSIX time of the last write
    approx_seconds: float  # from the file size; read_spool gives the exact figure


def _locked(path: Path) -> bool:
    if fcntl is None:
        return False
    try:
        fd = os.open(str(path), os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return False
    except OSError:
        return True
    finally:
        os.close(fd)


def find_interrupted(folder: Path | str) -> list[InterruptedRecording]:
    """Spools left behind by a recording that did not finish (a crash, a kill, a power cut), oldest first.

    A clean stop deletes its spool once the recording is saved, so any spool that no running recorder
    holds is interrupted. Needs no key: the duration is estimated from the file size.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    found = []
    for p in sorted(folder.glob(f"*{SUFFIX}")):
        if _locked(p):
            continue  # a recording in progress (this or another process)
        try:
            st = p.stat()
            with open(p, "rb") as f:
                head = f.read(4096)
            _, info, pos = _read_header(head, p)
        except (OSError, SpoolError):
            continue
        per_second = 2 * int(info["sample_rate"])
        found.append(InterruptedRecording(
            path=p, id=str(info.get("id") or p.stem), modified=st.st_mtime,
            approx_seconds=round(max(0, st.st_size - pos) / per_second, 1),
        ))
    return sorted(found, key=lambda r: r.modified)
