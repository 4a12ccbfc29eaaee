"""n_gpu_layers from free VRAM: each layer costs its share of the weights plus its KV cache for n_ctx;
the layers that fit (less a safety margin) go to the GPU with their KV cache, the rest stay on the CPU."""

from clinidoc.drafting.budget import (
    VRAM_MARGIN_MIN,
    fit_context,
    layers_on_gpu,
    vram_margin,
)
from clinidoc.drafting.gguf import GgufInfo
from clinidoc.hardware import Gpu, Hardware

LLAMA3_8B = GgufInfo(
    architecture="llama", name="Llama-3.1-8B", layers=32, heads=32, kv_heads=8, head_dim=128,
    context_length=131072, rope_freq_base=500000.0, rope_scaling=None, rope_scaling_factor=None,
    embedding_length=4096,
)
WEIGHTS = 4_920_000_000  # Q4_K_M file size
GIB = 1 << 30


def machine(vram_free: int | None, *, offload_build: bool = True, ram_available: int = 32 * GIB) -> Hardware:
    gpus = () if vram_free is None else (Gpu("Fake RTX 8 GB", 8 * GIB, vram_free, "cuda"),)
    return Hardware(system="Linux", machine="x86_64", cpu_name="fake", cores=8, cpu_features=("avx2",),
                    ram_total=64 * GIB, ram_available=ram_available, gpus=gpus, gpu_offload_build=offload_build)


def per_layer(n_ctx: int, kv_bytes_per_token: int = 131072) -> float:
    # weights / layers + KV bytes per token / layers x n_ctx
    return WEIGHTS / 32 + kv_bytes_per_token / 32 * n_ctx


def test_8gb_gpu_holds_all_layers_at_8k_context():
    b = fit_context(LLAMA3_8B, WEIGHTS, wanted_ctx=8192, hardware=machine(8 * GIB))
    # 8 GiB - 10% margin = 7.2 GiB; a layer is 153.75 MB of weights + 33.5 MB of f16 KV at 8k: 41 would fit
    assert int((8 * GIB - 0.1 * 8 * GIB) // per_layer(8192)) == 41
    assert (b.n_ctx, b.kv_cache_type, b.n_gpu_layers, b.offload) == (8192, "f16", -1, "full")
    assert b.kv_on_gpu and b.gpu_name == "Fake RTX 8 GB"
    assert b.ram_bytes == 0 and b.gpu_bytes == WEIGHTS + 131072 * 8192


def test_8gb_gpu_at_32k_context_offloads_part_of_the_model():
    b = fit_context(LLAMA3_8B, WEIGHTS, wanted_ctx=32768, hardware=machine(8 * GIB))
    # the KV cache grows to 134 MB a layer: (8 GiB - 0.8 GiB) / 287.9 MB = 26.8 -> 26 layers
    expected = int((8 * GIB - int(0.1 * 8 * GIB)) // per_layer(32768))
    assert expected == 26
    assert (b.n_ctx, b.kv_cache_type, b.n_gpu_layers, b.offload) == (32768, "f16", 26, "partial")
    total = WEIGHTS + 131072 * 32768
    assert b.gpu_bytes == int(total * 26 / 32) and b.ram_bytes == total - b.gpu_bytes
    assert b.gpu_bytes <= 8 * GIB - vram_margin(8 * GIB)
    assert b.llama_kwargs()["offload_kqv"] is True  # each offloaded layer keeps its KV cache on the GPU


def test_vram_in_use_by_others_leaves_fewer_layers():
    free = 6 * GIB  # 2 GiB of the 8 taken by another program
    b = fit_context(LLAMA3_8B, WEIGHTS, wanted_ctx=8192, hardware=machine(free))
    assert b.n_gpu_layers == int((free - int(0.1 * free)) // per_layer(8192)) == 30
    assert b.offload == "partial"
    assert layers_on_gpu(LLAMA3_8B, WEIGHTS, 8192, "f16", 650 << 20) == 0  # under the 512 MiB margin + a layer
    assert vram_margin(1 * GIB) == VRAM_MARGIN_MIN


def test_no_gpu_or_a_cpu_only_build_falls_back_to_the_cpu():
    for hw in (machine(None), machine(8 * GIB, offload_build=False), machine(100 << 20)):
        b = fit_context(LLAMA3_8B, WEIGHTS, wanted_ctx=8192, hardware=hw)
        assert b.n_gpu_layers == 0 and b.offload == "none" and not b.kv_on_gpu
        assert b.llama_kwargs()["offload_kqv"] is False
        assert b.ram_bytes == WEIGHTS + b.kv_bytes_total
    assert "built without" in fit_context(LLAMA3_8B, WEIGHTS, hardware=machine(8 * GIB, offload_build=False)).offload_reason


def test_layers_on_the_gpu_free_ram_for_a_longer_context():
    # 12 GiB RAM free -> 6 GiB for the model: on the CPU alone 4.9 GB of weights leave room for ~8k f16 tokens
    cpu = fit_context(LLAMA3_8B, WEIGHTS, wanted_ctx=32768, hardware=machine(None, ram_available=12 * GIB))
    assert cpu.n_ctx < 32768 and cpu.weights_bytes + cpu.kv_bytes_total <= 6 * GIB
    gpu = fit_context(LLAMA3_8B, WEIGHTS, wanted_ctx=32768, hardware=machine(8 * GIB, ram_available=12 * GIB))
    assert gpu.n_ctx == 32768 and gpu.n_gpu_layers == 26 and gpu.ram_bytes <= 6 * GIB


def test_ram_comes_from_clinidoc_hardware():
    import inspect

    from clinidoc.drafting import budget

    assert not hasattr(budget, "available_ram_bytes") and "meminfo" not in inspect.getsource(budget)
    small = fit_context(LLAMA3_8B, WEIGHTS, wanted_ctx=16384, hardware=machine(None, ram_available=11 * GIB))
    assert small.n_ctx < 16384 and small.weights_bytes + small.kv_bytes_total <= 11 * GIB * 0.5


def test_a_memory_budget_alone_is_cpu_arithmetic_whatever_the_machine(monkeypatch):
    from clinidoc.drafting import budget

    monkeypatch.setattr(budget, "detect", lambda: machine(80 * GIB))  # a big GPU that must not be used
    b = fit_context(LLAMA3_8B, WEIGHTS, wanted_ctx=16384, ram_bytes=11 * GIB)
    assert b.n_gpu_layers == 0 and b.weights_bytes + b.kv_bytes_total <= 11 * GIB * 0.5
    assert fit_context(LLAMA3_8B, WEIGHTS, wanted_ctx=8192).n_gpu_layers == -1  # no budget given: detected
