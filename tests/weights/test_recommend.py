"""First-run model recommendation: budget arithmetic against hardware facts."""

from __future__ import annotations

from clinidoc.hardware import Gpu, Hardware
from clinidoc.weights.recommend import (
    LLAMA_31_8B_Q4_K_M,
    MIN_CONTEXT,
    SMOLLM2_135M,
    WHISPER_LARGE_V3,
    WHISPER_TINY_EN,
    GiB,
    fit_llm,
    recommend,
    spec_from_model,
)


def machine(ram_gib: float, avail_gib: float | None = None, vram_gib: float = 0, offload: bool = False) -> Hardware:
    gpus = (Gpu("Test GPU", int(vram_gib * GiB), int(vram_gib * GiB), "cuda"),) if vram_gib else ()
    return Hardware("Linux", "x86_64", "test cpu", 4, ("avx2",), int(ram_gib * GiB),
                    int((avail_gib if avail_gib is not None else ram_gib * 0.6) * GiB), gpus, offload)


def test_llama_8b_q4km_does_not_fit_4gb_but_fits_16gb():
    small = fit_llm(LLAMA_31_8B_Q4_K_M, machine(4))
    assert not small.fits and small.n_ctx == 0 and "does not fit" in small.summary()
    big = fit_llm(LLAMA_31_8B_Q4_K_M, machine(16))
    assert big.fits and big.where == "cpu"
    # 2 x 32 layers x 8 KV heads x 128 x 2 bytes (f16) = 131072 bytes per token
    assert big.kv_cache_type == "f16" and big.kv_bytes_per_token == 131072
    assert MIN_CONTEXT <= big.n_ctx <= 8192
    assert big.memory_needed == LLAMA_31_8B_Q4_K_M.weights_bytes + big.n_ctx * 131072 <= big.budget


def test_context_shrinks_with_memory_and_falls_back_to_q8_cache():
    roomy = fit_llm(LLAMA_31_8B_Q4_K_M, machine(32))
    tight = fit_llm(LLAMA_31_8B_Q4_K_M, machine(14))
    tighter = fit_llm(LLAMA_31_8B_Q4_K_M, machine(12.8))
    assert roomy.fits and roomy.n_ctx == 8192 and roomy.kv_cache_type == "f16"
    assert tight.fits and 2048 <= tight.n_ctx < 8192 and tight.kv_cache_type == "f16"
    # under 2048 f16 tokens of room: the q8_0 cache (34 bytes per 32 values) keeps a useful context
    assert tighter.fits and tighter.kv_cache_type == "q8_0" and tighter.kv_bytes_per_token == 69632
    assert tighter.n_ctx >= MIN_CONTEXT and tighter.memory_needed <= tighter.budget
    assert not fit_llm(LLAMA_31_8B_Q4_K_M, machine(12)).fits


def test_gpu_is_preferred_when_the_build_can_offload_and_vram_suffices():
    fit = fit_llm(LLAMA_31_8B_Q4_K_M, machine(8, vram_gib=12, offload=True))
    assert fit.fits and fit.where == "gpu"
    no_build = fit_llm(LLAMA_31_8B_Q4_K_M, machine(8, vram_gib=12, offload=False))
    assert not no_build.fits  # 8 GB RAM and a CPU-only llama.cpp build


def test_recommendation_picks_largest_that_fits():
    rec = recommend(machine(4))
    assert rec.best_llm.name == SMOLLM2_135M.name or rec.best_llm.name.startswith("Llama-3.2")
    assert not [f for f in rec.llm if f.name == LLAMA_31_8B_Q4_K_M.name][0].fits
    assert [f for f in rec.stt if f.name == WHISPER_TINY_EN.name][0].fits
    assert not [f for f in rec.stt if f.name == WHISPER_LARGE_V3.name][0].fits
    rec16 = recommend(machine(16))
    assert rec16.best_llm.name == LLAMA_31_8B_Q4_K_M.name
    large = [f for f in rec16.stt if f.name == WHISPER_LARGE_V3.name][0]
    # fits in memory, but on 4 CPU cores it would take about real time: not the recommendation
    assert large.fits and large.realtime_factor > 0.5 and "too slow" in large.summary()
    assert rec16.best_stt.name == "faster-whisper-base"
    tiny = [f for f in rec16.stt if f.name == WHISPER_TINY_EN.name][0]
    assert tiny.realtime_factor == 0.025  # 0.05 measured on 2 cores, halved on 4
    with_gpu = recommend(machine(16, vram_gib=8, offload=True))
    assert with_gpu.best_stt.name == WHISPER_LARGE_V3.name and with_gpu.best_stt.where == "gpu"
    assert len(rec16.lines()) == len(rec16.llm) + len(rec16.stt)


def test_spec_from_the_embedded_model_uses_its_gguf(registry):
    spec = spec_from_model(registry.resolve("llm"))
    assert (spec.layers, spec.heads, spec.kv_heads, spec.head_dim) == (30, 9, 3, 64)
    assert spec.source == "embedded"
    assert fit_llm(spec, machine(2)).fits
