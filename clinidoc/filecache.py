"""Facts about big files (hashes, GGUF metadata), cached by path + mtime + size so they are computed once."""

from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path
from typing import Callable

_lock = threading.Lock()


def _key(path: Path) -> str:
    st = path.stat()
    return f"{path.resolve()}|{st.st_mtime_ns}|{st.st_size}"


class FileFacts:
    """A small JSON file mapping (file identity, fact name) -> a JSON value. Holds no patient data."""

    def __init__(self, cache_file: Path):
        self.cache_file = cache_file

    def _load(self) -> dict:
        try:
            return json.loads(self.cache_file.read_text())
        except (OSError, ValueError):
            return {}  # a missing or damaged cache is only a slower run

    def get(self, path: Path, fact: str, compute: Callable[[Path], object]):
        key = f"{fact}|{_key(path)}"
        with _lock:
            cached = self._load()
            if key in cached:
                return cached[key]
        value = compute(path)
        with _lock:
            cached = self._load()
            cached[key] = value
            self.cache_file.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.cache_file.with_suffix(".tmp")
            tmp.write_text(json.dumps(cached, indent=0))
            os.replace(tmp, self.cache_file)  # atomic: a crash never leaves half a cache
        return value


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()
