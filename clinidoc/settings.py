"""User settings: a small JSON file in the data folder (``settings.json``), typed, with defaults.

Qt-free, so the CLI and the desktop app read the same file. Holds no patient data. An unknown key is
kept on save (a newer version may have written it); a damaged file falls back to the defaults.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from clinidoc.errors import InputError

FILE_NAME = "settings.json"
DEVICES = ("auto", "cpu", "gpu")
TEMPLATES = ("soap", "hp", "progress", "consult")
ON_PREM_HOSTS_HINT = "only a server inside your organisation's network (localhost, 10.x, 172.16-31.x, 192.168.x, *.local)"


@dataclass
class Settings:
    stt_model: str | None = None  # a name `clinidoc models list` shows, or a path; None: the embedded default
    llm_model: str | None = None
    device: str = "auto"  # "auto", "cpu", "gpu"
    threads: int | None = None  # None: clinidoc picks (one short of the cores)
    template: str = "soap"
    endpoint_url: str | None = None  # an on-premises OpenAI-compatible server; None: the local model
    font_scale: float = 1.0
    extra: dict = field(default_factory=dict, repr=False)  # keys this version does not know

    def validate(self) -> Settings:
        if self.device not in DEVICES:
            raise InputError(f"device must be one of {', '.join(DEVICES)}, not {self.device!r}")
        if self.threads is not None and not (1 <= int(self.threads) <= 256):
            raise InputError(f"threads must be between 1 and 256, not {self.threads}")
        if not (0.5 <= float(self.font_scale) <= 3.0):
            raise InputError(f"font scale must be between 0.5 and 3, not {self.font_scale}")
        if not self.template or "/" in self.template or "\\" in self.template:
            raise InputError(f"{self.template!r} is not a template name")
        if self.endpoint_url and not self.endpoint_url.startswith(("http://", "https://")):
            raise InputError(f"{self.endpoint_url!r} is not an http(s) URL")
        return self

    def to_dict(self) -> dict:
        d = asdict(self)
        extra = d.pop("extra")
        return {**extra, **d}

    @classmethod
    def from_dict(cls, d: dict) -> Settings:
        known = {f.name for f in fields(cls)} - {"extra"}
        s = cls(**{k: v for k, v in d.items() if k in known}, extra={k: v for k, v in d.items() if k not in known})
        if s.threads is not None:
            s.threads = int(s.threads)
        s.font_scale = float(s.font_scale)
        return s


def settings_file(data_dir: Path | None = None) -> Path:
    from clinidoc import config

    return config.data_dir(data_dir) / FILE_NAME


def load(data_dir: Path | None = None) -> Settings:
    """The saved settings, or the defaults (missing, unreadable or invalid file)."""
    try:
        return Settings.from_dict(json.loads(settings_file(data_dir).read_text())).validate()
    except (OSError, ValueError, TypeError, InputError):
        return Settings()


def save(s: Settings, data_dir: Path | None = None) -> Path:
    """Write atomically (temporary file, then rename)."""
    s.validate()
    path = settings_file(data_dir)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(s.to_dict(), indent=2, sort_keys=True))
    os.replace(tmp, path)
    return path


def is_on_premises(url: str) -> bool:
    """True for URLs whose host is this machine or a private-network address / local name. A hint for the
    settings warning, not a guarantee: a private name can still resolve elsewhere."""
    import ipaddress
    import urllib.parse

    host = (urllib.parse.urlparse(url).hostname or "").lower()
    if not host:
        return False
    if host == "localhost" or host.endswith((".local", ".lan", ".internal", ".localdomain", ".home.arpa")):
        return True
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return "." not in host  # a bare intranet host name
    return ip.is_private or ip.is_loopback or ip.is_link_local


def available_templates() -> list[str]:
    from clinidoc import config

    folder = config.resource("templates")
    names = sorted(p.stem for p in folder.glob("*.json")) if folder.is_dir() else []
    return names or list(TEMPLATES)


def build_engines(data_dir: Path | None = None, s: Settings | None = None):
    """Pipeline engines configured by the settings: chosen models, device, threads, and the on-premises
    server when one is set (drafting then goes to it; speech stays local)."""
    from dataclasses import dataclass as _dataclass

    from clinidoc import config
    from clinidoc.pipeline import Engines
    from clinidoc.weights import ModelRegistry

    s = s or load(data_dir)

    @_dataclass
    class ConfiguredEngines(Engines):
        device: str = "auto"
        threads: int | None = None
        endpoint_url: str | None = None

        @property
        def stt(self):
            if self._stt is None:
                from clinidoc.speech.engine import FasterWhisperEngine

                kwargs = {"cpu": {"device": "cpu", "compute_type": "int8"},
                          "gpu": {"device": "cuda", "compute_type": "float16"}}.get(self.device, {})
                self._stt = FasterWhisperEngine(self.registry.resolve("stt", self.stt_model), cpu_threads=self.threads,
                                                **kwargs)
            return self._stt

        @property
        def llm(self):
            if self._llm is None:
                if self.endpoint_url:
                    from clinidoc.drafting.backend import OpenAICompatibleBackend

                    self._llm = OpenAICompatibleBackend(self.endpoint_url)  # the server's own model
                else:
                    from clinidoc.drafting.backend import LlamaCppBackend

                    self._llm = LlamaCppBackend(self.registry.resolve("llm", self.llm_model), n_threads=self.threads,
                                                n_gpu_layers=0 if self.device == "cpu" else None)
            return self._llm

    return ConfiguredEngines(ModelRegistry(config.data_dir(data_dir)), stt_model=s.stt_model, llm_model=s.llm_model,
                             device=s.device, threads=s.threads, endpoint_url=s.endpoint_url)
