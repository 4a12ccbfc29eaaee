"""Fit a GGUF model to this machine: context size and GPU layers from the model's own metadata."""

from __future__ import annotations

import os
from dataclasses import dataclass

from clinidoc.drafting.gguf import GgufInfo


def available_ram_bytes() -> int:
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 4 << 30


def gpu_offload_supported() -> bool:
    """True when this llama.cpp build can put layers on a GPU (CUDA, Metal, Vulkan ...)."""
    try:
        import llama_cpp

        return bool(llama_cpp.llama_supports_gpu_offload())
    except Exception:
        return False


@dataclass(frozen=True)
class ContextBudget:
    n_ctx: int
    kv_cache_type: str
    kv_bytes_per_token: int
    kv_bytes_total: int
    weights_bytes: int
    n_gpu_layers: int
    trained_context: int
    rope_scaling: str = "none"  # "yarn" when n_ctx goes past the trained context
    rope_factor: float = 1.0

    def to_dict(self) -> dict:
        return self.__dict__.copy()

    def llama_kwargs(self) -> dict:
        """The llama.cpp context parameters this budget implies (RoPE scaling included)."""
        import llama_cpp

        kwargs = {"n_ctx": self.n_ctx}
        if self.rope_scaling == "yarn":
            # YaRN: positions are compressed by the factor, with llama.cpp's attention-temperature correction
            kwargs.update(
                rope_scaling_type=llama_cpp.LLAMA_ROPE_SCALING_TYPE_YARN,
                rope_freq_scale=1.0 / self.rope_factor,
                yarn_orig_ctx=self.trained_context,
            )
        return kwargs


# Past this factor a model's quality drops off even with YaRN; longer inputs are drafted in chunks.
MAX_ROPE_FACTOR = 4.0


def fit_context(
    info: GgufInfo,
    weights_bytes: int,
    *,
    wanted_ctx: int = 8192,
    ram_bytes: int | None = None,
    memory_share: float = 0.5,
    max_rope_factor: float = MAX_ROPE_FACTOR,
) -> ContextBudget:
    """The largest context up to `wanted_ctx` whose KV cache fits beside the weights in `memory_share` of
    available memory; f16 cache, q8_0 when f16 would not fit a useful 2k context. Past the trained
    context, YaRN RoPE scaling stretches it up to `max_rope_factor`."""
    ram = ram_bytes if ram_bytes is not None else available_ram_bytes()
    room = max(0, int(ram * memory_share) - weights_bytes)
    n_ctx = min(wanted_ctx, int(info.context_length * max_rope_factor))
    cache_type = "f16"
    per_token = info.kv_bytes_per_token(cache_type)
    if per_token * min(n_ctx, 2048) > room:
        cache_type = "q8_0"
        per_token = info.kv_bytes_per_token(cache_type)
    fitting = room // per_token if per_token else n_ctx
    n_ctx = int(max(512, min(n_ctx, fitting)) // 256 * 256)
    stretched = n_ctx > info.context_length
    return ContextBudget(
        rope_scaling="yarn" if stretched else "none",
        rope_factor=round(n_ctx / info.context_length, 3) if stretched else 1.0,
        n_ctx=n_ctx,
        kv_cache_type=cache_type,
        kv_bytes_per_token=per_token,
        kv_bytes_total=per_token * n_ctx,
        weights_bytes=weights_bytes,
        n_gpu_layers=-1 if gpu_offload_supported() else 0,
        trained_context=info.context_length,
    )
