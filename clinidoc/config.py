"""Where clinidoc keeps things. One place, overridable by environment, so tests never touch a user's data."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import platformdirs

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def resources_dir() -> Path:
    """Templates, dictionaries and the demo encounter (top-level resources/, or CLINIDOC_RESOURCES)."""
    return Path(os.environ.get("CLINIDOC_RESOURCES", PROJECT_ROOT / "resources"))


def resource(*parts: str) -> Path:
    return resources_dir().joinpath(*parts)


@dataclass(frozen=True)
class Paths:
    data_dir: Path

    @property
    def cache_dir(self) -> Path:
        return self.data_dir / "cache"

    @property
    def user_models_dir(self) -> Path:
        return self.data_dir / "models"


def data_dir(explicit: str | os.PathLike | None = None) -> Path:
    """--data-dir, else CLINIDOC_HOME, else the platform's user data folder."""
    chosen = explicit or os.environ.get("CLINIDOC_HOME") or platformdirs.user_data_dir("clinidoc", appauthor=False)
    path = Path(chosen).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


def paths(explicit: str | os.PathLike | None = None) -> Paths:
    return Paths(data_dir(explicit))


def project_models_dir() -> Path:
    """models/ at the project root: where a developer drops local weights."""
    return Path(os.environ.get("CLINIDOC_MODELS", PROJECT_ROOT / "models"))
