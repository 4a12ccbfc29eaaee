"""Fit a GGUF model to this machine from the model's own metadata: context size, KV-cache type, and how
many layers go to the GPU (with their KV cache) given the free RAM and VRAM that clinidoc.hardware reports."""

from __future__ import annotations

from dataclasses import dataclass

from clinidoc.drafting.gguf import GgufInfo
from clinidoc.hardware import Hardware, detect


@dataclass(frozen=True)
class ContextBudget:
    n_ctx: int
    kv_cache_type: str
    kv_bytes_per_token: int
    kv_bytes_total: int
    weights_bytes: int
    n_gpu_layers: int  # 0: CPU only; k: the first k layers on the GPU; -1: every layer (and the output) on it
    trained_context: int
    rope_scaling: str = "none"  # "yarn" when n_ctx goes past the trained context
    rope_factor: float = 1.0
    gpu_name: str | None = None  # the GPU the layers go to
    vram_free: int = 0  # bytes free on it when the budget was made
    gpu_bytes: int = 0  # weights + KV cache of the offloaded layers
    ram_bytes: int = 0  # weights + KV cache left in system memory
    offload: str = "none"  # "none", "partial", "full"
    offload_reason: str = ""  # why the layers are where they are

    def to_dict(self) -> dict:
        return self.__dict__.copy()

    @property
    def kv_on_gpu(self) -> bool:
        """llama.cpp keeps each offloaded layer's KV cache on the GPU beside its weights (offload_kqv)."""
        return self.n_gpu_layers != 0

    def llama_kwargs(self) -> dict:
        """The llama.cpp context parameters this budget implies (RoPE scaling and KV placement included)."""
        import llama_cpp

        kwargs = {"n_ctx": self.n_ctx, "offload_kqv": self.kv_on_gpu}
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
# VRAM kept free beside the layers: llama.cpp's compute buffers, the CUDA context, other programs' growth.
VRAM_MARGIN_MIN = 512 << 20
VRAM_MARGIN_SHARE = 0.10


def vram_margin(vram_free: int) -> int:
    return max(VRAM_MARGIN_MIN, int(vram_free * VRAM_MARGIN_SHARE))


def layers_on_gpu(info: GgufInfo, weights_bytes: int, n_ctx: int, cache_type: str, vram_free: int) -> int:
    """How many whole layers fit in `vram_free` less the safety margin: each costs its share of the
    weights (weights / layers) plus its KV cache for n_ctx tokens (kv_bytes_per_token / layers x n_ctx)."""
    if info.layers <= 0 or vram_free <= 0:
        return 0
    per_layer = weights_bytes / info.layers + info.kv_bytes_per_token(cache_type) / info.layers * n_ctx
    room = vram_free - vram_margin(vram_free)
    return max(0, min(info.layers, int(room // per_layer))) if per_layer else info.layers


def _place(info, weights_bytes, n_ctx, cache_type, ram_room, gpu) -> tuple[int, int, int, bool]:
    """(layers on the GPU, bytes there, bytes in RAM, whether the RAM part fits ram_room)."""
    k = 0
    if gpu is not None:
        k = layers_on_gpu(info, weights_bytes, n_ctx, cache_type, gpu.vram_free or 0)
    total = weights_bytes + info.kv_bytes_per_token(cache_type) * n_ctx
    on_gpu = int(total * k / info.layers) if info.layers else 0
    in_ram = total - on_gpu
    if gpu is not None and gpu.backend == "metal":
        in_ram = total  # unified memory: what the GPU holds is system memory too
    return k, on_gpu, in_ram, in_ram <= ram_room


def fit_context(
    info: GgufInfo,
    weights_bytes: int,
    *,
    wanted_ctx: int = 8192,
    ram_bytes: int | None = None,
    memory_share: float = 0.5,
    max_rope_factor: float = MAX_ROPE_FACTOR,
    hardware: Hardware | None = None,
) -> ContextBudget:
    """The largest context up to `wanted_ctx` whose KV cache fits with the weights: the layers that fit in
    free VRAM (less a margin) go to the GPU with their KV cache, the rest stay in `memory_share` of
    available RAM. f16 cache; q8_0 when f16 would not fit a useful 2k context. Past the trained context,
    YaRN RoPE scaling stretches it up to `max_rope_factor`. No GPU, or a llama.cpp built without one: CPU.
    `hardware` defaults to clinidoc.hardware.detect(), unless `ram_bytes` alone is given."""
    # `ram_bytes` alone asks what fits in that much memory (no GPU); otherwise this machine's facts
    hw = hardware if hardware is not None else (None if ram_bytes is not None else detect())
    ram = ram_bytes if ram_bytes is not None else ((hw.ram_available if hw else None) or 4 << 30)
    ram_room = int(ram * memory_share)
    gpu = max(hw.gpus, key=lambda g: g.vram_free or 0, default=None) if hw and hw.gpu_offload_build else None
    if gpu is not None and not gpu.vram_free:
        gpu = None
    cap = max(512, min(wanted_ctx, int(info.context_length * max_rope_factor)) // 256 * 256)

    def best(cache_type: str) -> tuple[int, tuple]:
        for n in range(cap, 511, -256):
            placed = _place(info, weights_bytes, n, cache_type, ram_room, gpu)
            if placed[3]:
                return n, placed
        return 512, _place(info, weights_bytes, 512, cache_type, ram_room, gpu)  # the floor, fitting or not

    cache_type = "f16"
    n_ctx, placed = best(cache_type)
    if n_ctx < min(cap, 2048):
        cache_type = "q8_0"
        n_ctx, placed = best(cache_type)
    k, on_gpu, in_ram, _ = placed
    if gpu is None:
        offload = "none"
        reason = ("llama.cpp was built without GPU offload" if hw and hw.gpus and not hw.gpu_offload_build
                  else "memory budget given, CPU only" if hw is None else "no GPU with free memory reported")
    elif k >= info.layers:
        offload, reason = "full", f"all {info.layers} layers fit in {gpu.vram_free >> 20} MiB free"
    elif k > 0:
        offload, reason = "partial", f"{k} of {info.layers} layers fit in {gpu.vram_free >> 20} MiB free"
    else:
        offload, reason = "none", f"not one layer fits in {gpu.vram_free >> 20} MiB free"
    per_token = info.kv_bytes_per_token(cache_type)
    stretched = n_ctx > info.context_length
    return ContextBudget(
        rope_scaling="yarn" if stretched else "none",
        rope_factor=round(n_ctx / info.context_length, 3) if stretched else 1.0,
        n_ctx=n_ctx,
        kv_cache_type=cache_type,
        kv_bytes_per_token=per_token,
        kv_bytes_total=per_token * n_ctx,
        weights_bytes=weights_bytes,
        n_gpu_layers=-1 if offload == "full" else k,
        trained_context=info.context_length,
        gpu_name=gpu.name if gpu is not None else None,
        vram_free=(gpu.vram_free or 0) if gpu is not None else 0,
        gpu_bytes=on_gpu,
        ram_bytes=in_ram,
        offload=offload,
        offload_reason=reason,
    )
