"""Note templates: a JSON file each in resources/templates (or the user's data folder's templates/)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from clinidoc import config
from clinidoc.errors import InputError


@dataclass(frozen=True)
class SectionSpec:
    key: str
    title: str
    instruction: str
    max_chars: int = 700
    # which dictated part feeds this section (subjective/objective/assessment/plan); defaults to its key
    source: str | None = None

    @property
    def source_key(self) -> str:
        return self.source or self.key


@dataclass(frozen=True)
class Template:
    name: str
    version: str
    title: str
    system: str
    sections: tuple[SectionSpec, ...]

    def section_schema(self, spec: SectionSpec) -> dict:
        # Every string bounded: small models under a loose schema loop forever.
        return {
            "type": "object",
            "properties": {"text": {"type": "string", "minLength": 1, "maxLength": spec.max_chars}},
            "required": ["text"],
        }


def template_dirs(data_dir: Path | None = None) -> list[Path]:
    dirs = [config.resource("templates")]
    if data_dir is not None:
        dirs.insert(0, data_dir / "templates")  # a user's own template wins over a bundled one of the same name
    return dirs


def load_template(name: str = "soap", data_dir: Path | None = None) -> Template:
    for folder in template_dirs(data_dir):
        path = folder / f"{name}.json"
        if path.is_file():
            raw = json.loads(path.read_text())
            return Template(
                name=raw["name"], version=str(raw["version"]), title=raw["title"], system=raw["system"],
                sections=tuple(SectionSpec(**s) for s in raw["sections"]),
            )
    known = sorted({p.stem for d in template_dirs(data_dir) if d.is_dir() for p in d.glob("*.json")})
    raise InputError(f"no note template named {name!r} (available: {', '.join(known)})")
