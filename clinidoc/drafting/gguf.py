"""GGUF metadata -> the numbers that decide whether a model fits: layers, GQA heads, KV-cache bytes per token."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from clinidoc.errors import ModelMissing

# bytes per element of the KV cache for llama.cpp's cache types
KV_TYPE_BYTES = {"f32": 4.0, "f16": 2.0, "q8_0": 34 / 32, "q4_0": 18 / 32}


@dataclass(frozen=True)
class GgufInfo:
    architecture: str
    name: str
    layers: int
    heads: int
    kv_heads: int
    head_dim: int
    context_length: int
    rope_freq_base: float | None
    rope_scaling: str | None
    rope_scaling_factor: float | None
    embedding_length: int
    chat_template: str | None = None

    @property
    def gqa_group(self) -> int:
        """Query heads per KV head: how much GQA shrinks the KV cache against plain multi-head attention."""
        return self.heads // max(1, self.kv_heads)

    def kv_bytes_per_token(self, cache_type: str = "f16") -> int:
        """K and V, every layer, every KV head: 2 x layers x kv_heads x head_dim x bytes."""
        return int(2 * self.layers * self.kv_heads * self.head_dim * KV_TYPE_BYTES[cache_type])

    def to_dict(self) -> dict:
        d = asdict(self)
        d.pop("chat_template")
        return d


def read_gguf_info(path: Path) -> GgufInfo:
    """Read the header with the `gguf` package (llama.cpp's own reader)."""
    from gguf import GGUFReader  # heavy import, only when a model is inspected

    try:
        reader = GGUFReader(str(path))
    except (OSError, ValueError) as exc:
        raise ModelMissing(f"{path.name} is not a readable GGUF model file ({exc})") from exc

    def field(key: str, default=None):
        f = reader.fields.get(key)
        if f is None:
            return default
        try:
            return f.contents()
        except Exception:  # an odd type in one optional key must not hide the rest
            return default

    arch = field("general.architecture", "unknown")
    heads = int(field(f"{arch}.attention.head_count", 0) or 0)
    kv_heads = int(field(f"{arch}.attention.head_count_kv", heads) or heads)
    embedding = int(field(f"{arch}.embedding_length", 0) or 0)
    head_dim = int(field(f"{arch}.attention.key_length", 0) or (embedding // heads if heads else 0))
    return GgufInfo(
        architecture=arch,
        name=str(field("general.name", path.stem)),
        layers=int(field(f"{arch}.block_count", 0) or 0),
        heads=heads,
        kv_heads=kv_heads,
        head_dim=head_dim,
        context_length=int(field(f"{arch}.context_length", 2048) or 2048),
        rope_freq_base=field(f"{arch}.rope.freq_base"),
        rope_scaling=field(f"{arch}.rope.scaling.type"),
        rope_scaling_factor=field(f"{arch}.rope.scaling.factor"),
        embedding_length=embedding,
        chat_template=field("tokenizer.chat_template"),
    )
