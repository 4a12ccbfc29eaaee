"""Where clinidoc keeps things. One place, overridable by environment, so tests never touch a user's data."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

import platformdirs

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def frozen() -> bool:
    """True inside the PyInstaller bundle (packaging/clinidoc.spec)."""
    return bool(getattr(sys, "frozen", False)) and hasattr(sys, "_MEIPASS")


def bundle_dir() -> Path:
    """Where the bundle's data lives (sys._MEIPASS: the one-folder app's _internal/); the project root otherwise."""
    return Path(sys._MEIPASS) if frozen() else PROJECT_ROOT


def app_dir() -> Path:
    """The folder of the frozen executable (the one-folder app); the project root otherwise."""
    return Path(sys.executable).resolve().parent if frozen() else PROJECT_ROOT


def resources_dir() -> Path:
    """Templates, dictionaries and the demo encounter (top-level resources/, or CLINIDOC_RESOURCES)."""
    return Path(os.environ.get("CLINIDOC_RESOURCES", bundle_dir() / "resources"))


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


def location_file() -> Path:
    """Where the first run records the data folder the user chose (outside that folder; CLINIDOC_CONFIG_DIR overrides)."""
    folder = os.environ.get("CLINIDOC_CONFIG_DIR") or platformdirs.user_config_dir("clinidoc", appauthor=False)
    return Path(folder) / "location.json"


def recorded_data_dir() -> Path | None:
    import json

    try:
        return Path(json.loads(location_file().read_text())["data_dir"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def record_data_dir(path: str | os.PathLike) -> Path:
    """Remember a data folder for later starts (atomically)."""
    import json

    target = location_file()
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.write_text(json.dumps({"data_dir": str(Path(path).expanduser().resolve())}))
    os.replace(tmp, target)
    return target


def default_data_dir() -> Path:
    """CLINIDOC_HOME, else the folder the first run recorded, else the platform's user data folder."""
    chosen = os.environ.get("CLINIDOC_HOME") or recorded_data_dir() or platformdirs.user_data_dir("clinidoc", appauthor=False)
    return Path(chosen).expanduser()


def data_dir(explicit: str | os.PathLike | None = None) -> Path:
    """--data-dir, else CLINIDOC_HOME, else the folder the first run recorded, else the platform's user data folder."""
    chosen = explicit or default_data_dir()
    path = Path(chosen).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


def paths(explicit: str | os.PathLike | None = None) -> Paths:
    return Paths(data_dir(explicit))


def project_models_dir() -> Path:
    """models/ at the project root (frozen: beside the executable): where a developer or admin drops local weights."""
    return Path(os.environ.get("CLINIDOC_MODELS", app_dir() / "models"))
