"""One dev encounter through `process_encounter`: wall time per stage, peak memory, and the LLM's
generation speed against llama.cpp's own throughput on the same model in the same run.

    python bench/bench_pipeline.py [CASE_DIR]      (default ../shared/data/encounters-dev/dev-001)

Figures are ratios against baselines measured in the same run, because this machine is shared:
- drafting tokens/s (schema-constrained, streamed, through clinidoc) vs llama.cpp's own eval
  tokens/s for those same calls (llama_perf_context), and vs an unconstrained generation of the
  same length with the same model (no grammar) — the cost of the JSON-schema grammar;
- transcription real-time factor.
"""

from __future__ import annotations

import json
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from clinidoc.encounter import Patient  # noqa: E402
from clinidoc.pipeline import EncounterInputs, Engines, process_encounter  # noqa: E402
from clinidoc.weights import ModelRegistry  # noqa: E402


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    case_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT.parent / "shared/data/encounters-dev/dev-001"
    case = json.loads((case_dir / "case.json").read_text())
    inputs = EncounterInputs(
        audio=[case_dir / a for a in case["inputs"]["audio"] or []],
        images=[case_dir / i for i in case["inputs"]["images"] or []],
        patient=Patient.model_validate(case["patient"]), encounter_id=case["id"],
    )
    engines = Engines(ModelRegistry(Path(tempfile.mkdtemp(prefix="clinidoc-bench-"))))
    rss_start = peak_rss_mib()

    started = time.perf_counter()
    outcome = process_encounter(inputs, engines)
    total = time.perf_counter() - started
    timings = outcome.result.provenance.timings_s

    llm = engines.llm
    stats = llm.stats
    # Baseline in the same run: the same model generating the same number of tokens with no grammar.
    import llama_cpp

    raw = llm._load()
    n = max(32, stats.completion_tokens // max(1, stats.calls))
    llama_cpp.llama_perf_context_reset(raw.ctx)
    t0 = time.perf_counter()
    out = raw.create_completion("Patient presents with", max_tokens=n, temperature=0.0, repeat_penalty=1.15)
    free_s = time.perf_counter() - t0
    free_tokens = out["usage"]["completion_tokens"]
    perf = llama_cpp.llama_perf_context(raw.ctx)
    free_engine_tps = perf.n_eval / (perf.t_eval_ms / 1000) if perf.t_eval_ms else 0.0

    duration = outcome.result.transcript.duration or 0.0
    print(f"case {case['id']}: audio {duration:.1f} s, {len(inputs.images)} images")
    print(f"{'stage':<12}{'seconds':>10}")
    for stage, secs in timings.items():
        print(f"{stage:<12}{secs:>10.2f}")
    print(f"{'total':<12}{total:>10.2f}")
    if duration:
        print(f"transcription real-time factor: {timings.get('transcribe', 0) / duration:.3f}")
    print(f"peak memory (max RSS): {peak_rss_mib():.0f} MiB (at start {rss_start:.0f} MiB)")
    print(
        f"LLM {llm.model_file.name}: {stats.calls} calls, {stats.prompt_tokens} prompt + "
        f"{stats.completion_tokens} generated tokens, threads {llm.n_threads}/{llm.n_threads_batch}"
    )
    for i, call in enumerate(stats.per_call):
        print(f"  call {i}: {call}")
    print(f"  prompt evaluation: {stats.prompt_tokens} tokens in {stats.engine_prompt_ms / 1000:.2f} s (llama.cpp's measure)")
    gen_wall = sum(c["seconds"] - c["prompt_s"] for c in stats.per_call)
    gen_tps = stats.completion_tokens / gen_wall if gen_wall > 0 else 0.0
    print(f"  clinidoc drafting, whole calls (prompt + grammar generation, streamed): {stats.tokens_per_s:8.1f} tok/s")
    print(f"  clinidoc drafting, generation only (wall time minus prompt evaluation): {gen_tps:8.1f} tok/s")
    print(f"  llama.cpp eval, same calls:            {stats.engine_tokens_per_s:8.1f} tok/s")
    print(f"  llama.cpp unconstrained, same model:   {free_tokens / free_s:8.1f} tok/s end-to-end, {free_engine_tps:.1f} tok/s eval")
    if stats.engine_tokens_per_s and free_s:
        print(f"  ratio generation-only / llama.cpp eval (same calls): {gen_tps / stats.engine_tokens_per_s:.2f}")
        print(f"  ratio generation-only / llama.cpp unconstrained:     {gen_tps / free_engine_tps:.2f}")
        print(f"  ratio whole calls / llama.cpp unconstrained end-to-end: {stats.tokens_per_s / (free_tokens / free_s):.2f}")
    origins = next((m.params.get("section_origin") for m in outcome.result.provenance.models if m.role == "llm"), {})
    print(f"sections kept from the LLM: {sum(1 for o in origins.values() if o == 'llm')}/{len(origins)} {origins}")


if __name__ == "__main__":
    main()
