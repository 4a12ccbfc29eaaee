"""Put a bigger model into the user's models folder: download it from a URL the user gives, or add a local file.

This is the only place clinidoc fetches weights, and only when a user asks (the GUI's model manager,
`clinidoc models download URL`). Nothing here runs on its own.

A download streams into ``models/.downloads/NAME.part`` with a small ``.json`` beside it (the URL, the
expected SHA-256, the server's validator). Interrupted or cancelled, the part stays; the next call for the
same URL asks for the rest with an HTTP Range request (and starts again cleanly when the server ignores
ranges). A finished file is checked (SHA-256 when given, GGUF header readable) before one atomic rename
puts it into ``models/``: a mismatching or broken file is deleted and never installed.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import re
import shutil
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from clinidoc.errors import ClinidocError, InputError, ModelMissing
from clinidoc.progress import CancelToken, Progress, ProgressCallback, ignore_progress

GGUF_MAGIC = b"GGUF"
CHUNK = 1 << 16
PARTS_DIR = ".downloads"


class DownloadError(ClinidocError):
    """A download failed (network, server, checksum, not a model); the message says what to do."""


@dataclass(frozen=True)
class InstalledModel:
    role: str  # "llm" or "stt"
    name: str
    path: Path
    size_bytes: int
    sha256: str


def user_models_dir(data_dir: Path | None = None) -> Path:
    from clinidoc import config

    return config.paths(data_dir).user_models_dir


# -- checks -----------------------------------------------------------------------------------------

def check_gguf(path: Path) -> None:
    """Raise InputError unless `path` starts with the GGUF magic and its metadata reads."""
    try:
        with open(path, "rb") as fh:
            magic = fh.read(4)
    except OSError as exc:
        raise InputError(f"cannot read ({exc.strerror or exc})", file=str(path)) from exc
    if magic != GGUF_MAGIC:
        raise InputError("not a GGUF model file (the file does not start with 'GGUF')", file=str(path))
    from clinidoc.drafting.gguf import read_gguf_info

    try:
        info = read_gguf_info(path)
    except ModelMissing as exc:
        raise InputError(f"GGUF metadata is unreadable ({exc})", file=str(path)) from exc
    except Exception as exc:
        raise InputError(f"GGUF metadata is unreadable ({exc.__class__.__name__}: {exc})", file=str(path)) from exc
    if info.layers <= 0 or info.heads <= 0:
        raise InputError("GGUF metadata lacks the layer / attention-head counts a language model needs", file=str(path))


def check_ct2_folder(path: Path) -> None:
    """Raise InputError unless `path` is a faster-whisper (CTranslate2) folder: model.bin + a JSON config.json."""
    if not path.is_dir():
        raise InputError("not a folder", file=str(path))
    missing = [n for n in ("model.bin", "config.json") if not (path / n).is_file()]
    if missing:
        raise InputError(f"not a faster-whisper model folder (missing {', '.join(missing)})", file=str(path))
    try:
        json.loads((path / "config.json").read_text())
    except (OSError, ValueError) as exc:
        raise InputError(f"config.json is not valid JSON ({exc})", file=str(path)) from exc


def model_role(path: Path) -> str:
    """'llm' for a GGUF file, 'stt' for a CTranslate2 folder; InputError otherwise (after validating)."""
    path = Path(path)
    if path.is_dir():
        check_ct2_folder(path)
        return "stt"
    if path.is_file():
        check_gguf(path)
        return "llm"
    raise InputError("no such file or folder", file=str(path))


def _normalise_sha(sha256: str | None) -> str | None:
    if not sha256:
        return None
    sha = sha256.strip().lower()
    sha = sha.removeprefix("sha256:")
    if not re.fullmatch(r"[0-9a-f]{64}", sha):
        raise InputError(f"{sha256!r} is not a SHA-256 (64 hexadecimal digits)")
    return sha


def _safe_name(name: str) -> str:
    name = Path(name.replace("\\", "/")).name
    if not name or name in (".", "..") or name.startswith("."):
        raise InputError(f"cannot use {name!r} as a model file name")
    return name


# -- adding a local file ----------------------------------------------------------------------------

def _copy_with_progress(src: Path, dst: Path, digest, done: int, total: int, progress, cancel) -> int:
    with open(src, "rb") as fin, open(dst, "wb") as fout:
        while True:
            block = fin.read(1 << 20)
            if not block:
                break
            fout.write(block)
            if digest is not None:
                digest.update(block)
            done += len(block)
            progress(Progress("copy", done / total if total else None, f"{done >> 20} of {total >> 20} MiB"))
            if cancel is not None:
                cancel.raise_if_cancelled()
        fout.flush()
        os.fsync(fout.fileno())
    return done


def add_local_file(
    path: str | os.PathLike,
    models_dir: Path | None = None,
    *,
    link: bool = False,
    progress: ProgressCallback = ignore_progress,
    cancel: CancelToken | None = None,
) -> InstalledModel:
    """Copy (or symlink, `link=True`) a local GGUF file or faster-whisper folder into the models folder,
    after checking it is one. The copy goes to a hidden temporary name and is renamed when complete."""
    from clinidoc.filecache import sha256_file

    src = Path(path).expanduser()
    role = model_role(src)  # validates
    models_dir = Path(models_dir) if models_dir else user_models_dir()
    models_dir.mkdir(parents=True, exist_ok=True)
    dest = models_dir / _safe_name(src.name)
    if src.resolve() == dest.resolve() or (dest.exists() and dest.resolve() == src.resolve()):
        raise InputError("is already in the models folder", file=str(src))
    if dest.exists() or dest.is_symlink():
        raise InputError(f"a model named {dest.name} is already installed ({dest})", file=str(src))
    weights = src / "model.bin" if role == "stt" else src
    if link:
        os.symlink(src.resolve(), dest, target_is_directory=src.is_dir())
        progress(Progress("copy", 1.0, "linked"))
        return InstalledModel(role, dest.stem if role == "llm" else dest.name, dest, weights.stat().st_size,
                              sha256_file(weights))
    tmp = models_dir / PARTS_DIR / f"{dest.name}.copying"
    tmp.parent.mkdir(parents=True, exist_ok=True)
    if tmp.is_dir():
        shutil.rmtree(tmp)
    elif tmp.exists():
        tmp.unlink()
    digest = hashlib.sha256()
    try:
        if role == "llm":
            total = src.stat().st_size
            _copy_with_progress(src, tmp, digest, 0, total, progress, cancel)
            size = total
        else:
            files = sorted(p for p in src.iterdir() if p.is_file())
            total = sum(p.stat().st_size for p in files)
            tmp.mkdir()
            done = 0
            for f in files:
                done = _copy_with_progress(f, tmp / f.name, hashlib.sha256() if f.name != "model.bin" else digest,
                                           done, total, progress, cancel)
            size = (tmp / "model.bin").stat().st_size
        os.replace(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True) if tmp.is_dir() else tmp.unlink(missing_ok=True)
        raise
    return InstalledModel(role, dest.stem if role == "llm" else dest.name, dest, size, digest.hexdigest())


# -- downloading ------------------------------------------------------------------------------------

def _name_from_url(url: str) -> str:
    return urllib.parse.unquote(Path(urllib.parse.urlparse(url).path).name)


def part_paths(url: str, models_dir: Path, filename: str | None = None) -> tuple[Path, Path]:
    """The partial file and its metadata for a download (so a caller can show 'resume' is possible)."""
    name = _safe_name(filename or _name_from_url(url))
    folder = Path(models_dir) / PARTS_DIR
    return folder / f"{name}.part", folder / f"{name}.part.json"


def partial_bytes(url: str, models_dir: Path, filename: str | None = None) -> int:
    """Bytes already downloaded for this URL (0 when none, or when the part belongs to another URL)."""
    try:
        part, meta_file = part_paths(url, models_dir, filename)
        meta = json.loads(meta_file.read_text())
    except (OSError, ValueError, InputError):
        return 0
    if meta.get("url") != url or not part.is_file():
        return 0
    return part.stat().st_size


def _open(url: str, start: int, validator: str | None, timeout: float):
    req = urllib.request.Request(url, headers={"User-Agent": "clinidoc-model-download", "Accept-Encoding": "identity"})
    if start:
        req.add_header("Range", f"bytes={start}-")
        if validator:
            req.add_header("If-Range", validator)
    return urllib.request.urlopen(req, timeout=timeout)


def _human(n: int) -> str:
    return f"{n / (1 << 20):.1f} MiB" if n < (1 << 30) else f"{n / (1 << 30):.2f} GiB"


def download_model(
    url: str,
    models_dir: Path | None = None,
    *,
    sha256: str | None = None,
    filename: str | None = None,
    progress: ProgressCallback = ignore_progress,
    cancel: CancelToken | None = None,
    timeout: float = 30.0,
) -> InstalledModel:
    """Download a GGUF model from `url` into the models folder, resuming an earlier partial download.

    Raises DownloadError for network/server problems (the partial file is kept: call again to resume),
    InputError for a bad URL or a file that is not a model or whose SHA-256 differs (nothing installed),
    Cancelled when `cancel` is set (partial file kept)."""
    parsed = urllib.parse.urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise InputError(f"{url!r} is not an http(s) URL")
    expected = _normalise_sha(sha256)
    name = _safe_name(filename or _name_from_url(url))
    if not name.lower().endswith(".gguf"):
        raise InputError(f"{name!r}: only single-file GGUF models can be downloaded (add a faster-whisper folder "
                         "from disk instead)")
    models_dir = Path(models_dir) if models_dir else user_models_dir()
    dest = models_dir / name
    if dest.exists():
        raise InputError(f"a model named {name} is already installed ({dest})")
    part, meta_file = part_paths(url, models_dir, name)
    part.parent.mkdir(parents=True, exist_ok=True)

    meta: dict = {}
    try:
        meta = json.loads(meta_file.read_text())
    except (OSError, ValueError):
        pass
    if meta.get("url") != url or (expected and meta.get("sha256") not in (None, expected)):
        part.unlink(missing_ok=True)  # a leftover of another download: never stitch two files together
        meta = {}
    start = part.stat().st_size if part.is_file() else 0
    validator = meta.get("validator")

    try:
        resp = _open(url, start, validator, timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and start and meta.get("total") == start:
            resp = None  # we already have every byte
        elif exc.code == 416:
            part.unlink(missing_ok=True)
            start = 0
            try:
                resp = _open(url, 0, None, timeout)
            except (urllib.error.URLError, OSError) as exc2:
                raise DownloadError(f"download failed: {exc2}") from exc2
        else:
            raise DownloadError(f"the server answered HTTP {exc.code} {exc.reason} for {url}") from exc
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DownloadError(f"cannot reach {parsed.netloc}: {reason}") from exc

    digest = hashlib.sha256()
    if resp is not None:
        with resp:
            status = resp.status
            if status == 206 and start:
                m = re.match(r"bytes (\d+)-(\d+)/(\d+|\*)", resp.headers.get("Content-Range", ""))
                if not m or int(m.group(1)) != start:
                    raise DownloadError("the server sent a different byte range than asked; try again")
                total = int(m.group(3)) if m.group(3) != "*" else None
                mode = "ab"
            else:  # 200: a fresh download, or the server ignored the Range request -> start again cleanly
                start = 0
                length = resp.headers.get("Content-Length")
                total = int(length) if length and length.isdigit() else None
                mode = "wb"
            meta = {"url": url, "sha256": expected, "total": total,
                    "validator": resp.headers.get("ETag") or resp.headers.get("Last-Modified")}
            meta_file.write_text(json.dumps(meta))
            if mode == "ab":
                with open(part, "rb") as fh:  # the bytes we have count towards the checksum
                    for block in iter(lambda: fh.read(1 << 20), b""):
                        digest.update(block)
            done = start
            label = f"{'resuming' if start else 'downloading'} {name}"
            progress(Progress("download", done / total if total else None, label))
            try:
                with open(part, mode) as out:
                    while True:
                        if cancel is not None:
                            cancel.raise_if_cancelled()
                        block = resp.read(CHUNK)
                        if not block:
                            break
                        out.write(block)
                        digest.update(block)
                        done += len(block)
                        progress(Progress("download", done / total if total else None,
                                          f"{_human(done)} of {_human(total) if total else '?'}"))
                    out.flush()
                    os.fsync(out.fileno())
            except (OSError, urllib.error.URLError, http.client.HTTPException) as exc:  # resets, timeouts, short reads
                raise DownloadError(f"download interrupted after {_human(done)}"
                                    f"{f' of {_human(total)}' if total else ''} ({exc.__class__.__name__}); "
                                    "run it again to resume") from exc
            if total is not None and done != total:
                raise DownloadError(f"download interrupted after {_human(done)} of {_human(total)}; run it again to resume")
    else:
        with open(part, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)

    got = digest.hexdigest()
    if expected and got != expected:
        part.unlink(missing_ok=True)
        meta_file.unlink(missing_ok=True)
        raise InputError(f"SHA-256 mismatch for {name}: expected {expected}, got {got}. The file was deleted and "
                         "not installed; check the URL and the checksum")
    try:
        check_gguf(part)
    except InputError as exc:
        part.unlink(missing_ok=True)
        meta_file.unlink(missing_ok=True)
        raise InputError(f"{name} downloaded but is not a usable GGUF model; not installed ({exc})") from exc
    progress(Progress("download", 1.0, f"installing {name}"))
    os.replace(part, dest)  # same folder tree: atomic
    meta_file.unlink(missing_ok=True)
    return InstalledModel("llm", dest.stem, dest, dest.stat().st_size, got)
