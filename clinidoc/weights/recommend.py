"""Which models fit this machine, and with what context: the first-run recommendation.

Qt-free and offline. For a language model the answer is the same budget arithmetic the runtime uses
(:func:`clinidoc.drafting.budget.fit_context`): weights plus a KV cache of
``2 x layers x kv_heads x head_dim x bytes`` per token must fit in half the memory clinidoc plans to use,
with at least ``MIN_CONTEXT`` tokens (a dictation and its note). On a machine whose llama.cpp build can
offload to a GPU the same sum is checked against free VRAM. A speech model needs its weights
(CTranslate2, int8 on CPU / float16 on GPU) plus a fixed working set for decoding one 30 s window.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from clinidoc.drafting.budget import fit_context
from clinidoc.drafting.gguf import GgufInfo
from clinidoc.hardware import Hardware

GiB = 1 << 30
MIN_CONTEXT = 2048  # tokens: a short dictation, the sources and the drafted note
WANTED_CONTEXT = 8192
LLM_SHARE = 0.5  # the share of planned memory the runtime gives weights + KV cache (fit_context's default)
STT_SHARE = 0.25  # the speech model's share, beside the language model
VRAM_SHARE = 0.9
STT_WORKING_SET = 300 << 20  # mel features, encoder output and beam state for one 30 s window (measured ~250 MB for base)
# Speed on a CPU: tiny.en int8 on 2 threads transcribes at ~0.05 x real time (bench/bench_stt.py); decoding cost
# grows about linearly with the weights and shrinks with the cores. Above MAX_CPU_RTF a model is not recommended.
TINY_RTF_2_CORES = 0.05
TINY_WEIGHTS = 78_090_594
MAX_CPU_RTF = 0.5


@dataclass(frozen=True)
class LlmSpec:
    name: str
    weights_bytes: int
    layers: int
    heads: int
    kv_heads: int
    head_dim: int
    context_length: int
    licence: str = ""
    source: str = "known"  # "embedded", "installed" or "known" (not on this machine)

    def info(self) -> GgufInfo:
        return GgufInfo(architecture="llama", name=self.name, layers=self.layers, heads=self.heads,
                        kv_heads=self.kv_heads, head_dim=self.head_dim, context_length=self.context_length,
                        rope_freq_base=None, rope_scaling=None, rope_scaling_factor=None,
                        embedding_length=self.heads * self.head_dim)


@dataclass(frozen=True)
class SttSpec:
    name: str
    weights_bytes: int  # model.bin as shipped (float16 for the big ones)
    weights_dtype_bytes: float = 2.0  # bytes per parameter in model.bin
    licence: str = "MIT"
    source: str = "known"


# Known options (published sizes and architecture constants).
LLAMA_31_8B_Q4_K_M = LlmSpec("Llama-3.1-8B-Instruct-Q4_K_M", 4_920_734_016, 32, 32, 8, 128, 131072,
                             "Llama 3.1 Community Licence")
LLAMA_32_3B_Q4_K_M = LlmSpec("Llama-3.2-3B-Instruct-Q4_K_M", 2_019_377_696, 28, 24, 8, 128, 131072,
                             "Llama 3.2 Community Licence")
SMOLLM2_135M = LlmSpec("SmolLM2-135M-Instruct.Q4_1", 98_362_432, 30, 9, 3, 64, 8192, "Apache-2.0", "embedded")
WHISPER_TINY_EN = SttSpec("faster-whisper-tiny.en", 78_090_594, 2.0, "MIT", "embedded")
WHISPER_BASE = SttSpec("faster-whisper-base", 147_882_941, 2.0, "MIT")
WHISPER_LARGE_V3 = SttSpec("faster-whisper-large-v3", 3_087_284_237, 2.0, "MIT")

KNOWN_LLMS = (SMOLLM2_135M, LLAMA_32_3B_Q4_K_M, LLAMA_31_8B_Q4_K_M)
KNOWN_STT = (WHISPER_TINY_EN, WHISPER_BASE, WHISPER_LARGE_V3)


@dataclass(frozen=True)
class Fit:
    role: str
    name: str
    fits: bool
    where: str  # "gpu", "cpu" or "" when it does not fit
    memory_needed: int  # bytes for weights + KV cache (LLM) or weights + working set (STT)
    budget: int  # bytes available to it
    n_ctx: int = 0
    kv_cache_type: str = ""
    kv_bytes_per_token: int = 0
    source: str = "known"
    reason: str = ""
    realtime_factor: float | None = None  # speech on the CPU: estimated seconds of work per second of audio

    @property
    def recommendable(self) -> bool:
        return self.fits and (self.realtime_factor is None or self.realtime_factor <= MAX_CPU_RTF)

    def summary(self) -> str:
        gib = lambda n: f"{n / GiB:.1f} GB"
        if not self.fits:
            return f"{self.name}: does not fit ({self.reason})"
        if self.role == "llm":
            return (f"{self.name}: fits on {self.where.upper()}, context {self.n_ctx} tokens "
                    f"({self.kv_cache_type} KV cache, {self.kv_bytes_per_token:,} B/token), "
                    f"{gib(self.memory_needed)} of {gib(self.budget)}")
        speed = ""
        if self.realtime_factor is not None:
            speed = f", about {self.realtime_factor:.2f} x real time" + (
                " (too slow on this CPU)" if self.realtime_factor > MAX_CPU_RTF else "")
        return f"{self.name}: fits on {self.where.upper()}, {gib(self.memory_needed)} of {gib(self.budget)}{speed}"


def planned_memory(hw: Hardware) -> int:
    """Memory clinidoc plans with: what is free now, but at least three quarters of RAM (other apps' caches
    give way), and 2 GiB when the machine says nothing."""
    total, avail = hw.ram_total or 0, hw.ram_available or 0
    planned = max(avail, int(total * 0.75))
    return planned or 2 * GiB


def _usable_gpu_vram(hw: Hardware) -> int:
    return int(hw.vram_free * VRAM_SHARE) if hw.gpu_offload_build and hw.gpus else 0


def fit_llm(spec: LlmSpec, hw: Hardware) -> Fit:
    info = spec.info()
    cpu_budget = int(planned_memory(hw) * LLM_SHARE)
    targets = []
    vram = _usable_gpu_vram(hw)
    if vram:
        targets.append(("gpu", vram))
    targets.append(("cpu", cpu_budget))
    for where, budget in targets:
        room = budget - spec.weights_bytes
        smallest = info.kv_bytes_per_token("q8_0") * MIN_CONTEXT
        if room < smallest:
            continue
        b = fit_context(info, spec.weights_bytes, wanted_ctx=min(WANTED_CONTEXT, spec.context_length),
                        ram_bytes=budget, memory_share=1.0)
        return Fit("llm", spec.name, True, where, spec.weights_bytes + b.kv_bytes_total, budget, b.n_ctx,
                   b.kv_cache_type, b.kv_bytes_per_token, spec.source)
    need = spec.weights_bytes + info.kv_bytes_per_token("q8_0") * MIN_CONTEXT
    best = max(b for _, b in targets)
    return Fit("llm", spec.name, False, "", need, best, 0, "", info.kv_bytes_per_token("f16"), spec.source,
               f"needs {need / GiB:.1f} GB for the weights and a {MIN_CONTEXT}-token cache, "
               f"{best / GiB:.1f} GB available to it")


def fit_stt(spec: SttSpec, hw: Hardware) -> Fit:
    vram = _usable_gpu_vram(hw)
    if vram and spec.weights_bytes + STT_WORKING_SET <= int(vram * STT_SHARE / LLM_SHARE):
        need = spec.weights_bytes + STT_WORKING_SET  # float16 on the GPU
        return Fit("stt", spec.name, True, "gpu", need, int(vram * STT_SHARE / LLM_SHARE), source=spec.source)
    budget = int(planned_memory(hw) * STT_SHARE)
    need = int(spec.weights_bytes / spec.weights_dtype_bytes) + STT_WORKING_SET  # int8 on the CPU
    if need <= budget:
        rtf = round(TINY_RTF_2_CORES * spec.weights_bytes / TINY_WEIGHTS * 2 / max(1, hw.cores), 3)
        return Fit("stt", spec.name, True, "cpu", need, budget, source=spec.source, realtime_factor=rtf)
    return Fit("stt", spec.name, False, "", need, budget, source=spec.source,
               reason=f"needs {need / GiB:.1f} GB, {budget / GiB:.1f} GB available to it")


@dataclass
class Recommendation:
    hardware: Hardware
    llm: list[Fit] = field(default_factory=list)
    stt: list[Fit] = field(default_factory=list)

    @property
    def best_llm(self) -> Fit | None:
        return next((f for f in reversed(self.llm) if f.fits), None)

    @property
    def best_stt(self) -> Fit | None:
        return next((f for f in reversed(self.stt) if f.recommendable), None)

    def lines(self) -> list[str]:
        return [f.summary() for f in self.llm + self.stt]


def recommend(hw: Hardware, llms=KNOWN_LLMS, stts=KNOWN_STT) -> Recommendation:
    """Every candidate with whether and how it fits; candidates are ordered small to large, so `best_*`
    is the largest that fits (for speech: and transcribes faster than half real time)."""
    llms = sorted(llms, key=lambda s: s.weights_bytes)
    stts = sorted(stts, key=lambda s: s.weights_bytes)
    return Recommendation(hw, [fit_llm(s, hw) for s in llms], [fit_stt(s, hw) for s in stts])


def spec_from_model(model) -> LlmSpec | SttSpec:
    """A spec from a model on this machine (its real GGUF metadata and size), for `recommend`."""
    source = "embedded" if model.origin == "embedded" else "installed"
    if model.role == "llm":
        info = model.gguf_info()
        return LlmSpec(model.name, model.size_bytes, info.layers, info.heads, info.kv_heads, info.head_dim,
                       info.context_length, source=source)
    return SttSpec(model.name, model.weights_file.stat().st_size, source=source)
