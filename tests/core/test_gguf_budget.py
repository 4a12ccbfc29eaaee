from clinidoc.drafting.budget import fit_context
from clinidoc.drafting.gguf import GgufInfo


def test_embedded_smollm2_metadata_is_read_from_the_file(registry):
    info = registry.resolve("llm").gguf_info()
    assert (info.architecture, info.layers, info.heads, info.kv_heads, info.head_dim) == ("llama", 30, 9, 3, 64)
    assert info.context_length == 8192
    # 2 (K and V) x 30 layers x 3 KV heads x 64 x 2 bytes (f16)
    assert info.kv_bytes_per_token("f16") == 2 * 30 * 3 * 64 * 2
    assert info.gqa_group == 3


LLAMA3_8B = GgufInfo(
    architecture="llama", name="Llama-3.1-8B", layers=32, heads=32, kv_heads=8, head_dim=128,
    context_length=131072, rope_freq_base=500000.0, rope_scaling=None, rope_scaling_factor=None,
    embedding_length=4096,
)


def test_budget_fits_context_to_memory_for_an_8b_model():
    weights = 4_900_000_000
    roomy = fit_context(LLAMA3_8B, weights, wanted_ctx=16384, ram_bytes=64 << 30)
    assert roomy.n_ctx == 16384 and roomy.kv_cache_type == "f16"
    assert roomy.kv_bytes_per_token == 131072  # 2 x 32 x 8 x 128 x 2: GQA makes it 4x smaller than MHA
    tight = fit_context(LLAMA3_8B, weights, wanted_ctx=16384, ram_bytes=11 << 30)
    assert tight.n_ctx < 16384
    assert tight.kv_bytes_total + weights <= (11 << 30) * 0.5
