"""LLM drafting on ACI-Bench dialogues: what the embedded model and an on-prem server add over no LLM at all.

    python bench/bench_drafting.py [--dataset ../shared/data/aci-bench/valid.csv] [--limit N] [--template soap]
                                   [--no-server] [--code-selection] [--json OUT.json]

Each dialogue goes through the pipeline's transcript-text path (`EncounterInputs(transcript_file=...)`) three ways:
- `extract`: the baseline in the same run, draft=False: sections are the dictated source text, structured
  fields come from the deterministic extractors (the note without any LLM);
- `embedded`: draft=True with the embedded SmolLM2 model in this process (LlamaCppBackend);
- `server`: draft=True through `python -m llama_cpp.server` on 127.0.0.1 serving the same model file
  (OpenAICompatibleBackend, given to Engines as `engines._llm`).

Per dialogue and mode: medication recall/precision and diagnosis recall/precision against the drugs and
problems the reference note names (evaluation.metrics.score_reference_note; a produced diagnosis that matches
no reference problem counts against precision), ROUGE-L F1 of the whole note against the
reference, the `unsupported_claim` warnings, drafting seconds, completion tokens/s (backend `stats`, whole
calls: prompt evaluation + generation) and the fraction of sections whose LLM rewrite was kept
(provenance `section_origin`). With --code-selection, the drafted modes also let the model choose each
diagnosis's ICD-10-CM code among the retrieved candidates (clinidoc.drafting.coding) and score that.
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from clinidoc.evaluation.dataset import load_dataset
from clinidoc.evaluation.metrics import (
    Counts,
    drug_mentions,
    match_counts,
    score_reference_note,
)
from clinidoc.pipeline import EncounterInputs, Engines, process_encounter
from clinidoc.weights import ModelRegistry

MODES = ("extract", "embedded", "server")


@dataclass
class Row:
    case: str
    mode: str
    drugs: Counts
    problems: Counts
    text_drugs: Counts  # reference drugs named anywhere in the note's section text
    rouge_f1: float
    unsupported: int
    draft_s: float = 0.0
    tokens: int = 0
    gen_s: float = 0.0
    empty: int = 0  # template sections with no dictated source (not sent to the model)
    kept: int = 0  # sections whose LLM rewrite was kept whole (origin "llm")
    mixed: int = 0  # long sections drafted in chunks, some kept (origin "mixed")
    chunked: int = 0  # sections whose source outgrew the context (strategy chunked:N)
    eval_tokens: int = 0  # llama.cpp's own generation measure (embedded only)
    eval_ms: float = 0.0
    sections: int = 0
    coded: Counts | None = None  # diagnoses after the LLM chose among ICD-10-CM candidates (--code-selection)
    code_paths: dict | None = None  # how many codes each path gave: llm / deterministic / single

    @property
    def tps(self) -> float:
        return self.tokens / self.gen_s if self.gen_s else 0.0

    @property
    def eval_tps(self) -> float | None:
        return self.eval_tokens / (self.eval_ms / 1000) if self.eval_ms else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(model, n_ctx: int) -> tuple[subprocess.Popen, str, Path]:
    """llama-cpp-python's OpenAI-compatible server on 127.0.0.1, one thread like the embedded backend."""
    port = _free_port()
    log = Path(tempfile.mkstemp(prefix="llama-server-", suffix=".log")[1])
    proc = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(model.path), "--host", "127.0.0.1",
         "--port", str(port), "--n_ctx", str(n_ctx), "--n_threads", "1", "--n_threads_batch", "1",
         "--model_alias", model.name],
        stdout=log.open("w"), stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url + "/v1/models", timeout=1).read()
            return proc, url, log
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError(f"llama_cpp.server exited at start; see {log}")
            time.sleep(0.5)
    proc.terminate()
    raise RuntimeError("llama_cpp.server did not start within 120 s")


def _counts_sum(items) -> Counts:
    c = Counts()
    for x in items:
        c.tp, c.fp, c.fn = c.tp + x.tp, c.fp + x.fp, c.fn + x.fn
    return c


def _snapshot(llm) -> tuple:
    if llm is None:
        return (0, 0.0, 0, 0.0)
    st = llm.stats
    return (st.completion_tokens, st.seconds, st.engine_eval_tokens, st.engine_eval_ms)


def run_case(case, transcript_file: Path, engines: Engines, mode: str, template: str,
             code_selection: bool = False) -> Row:
    draft = mode != "extract"
    llm = engines._llm if draft else None
    before = _snapshot(llm)
    outcome = process_encounter(
        EncounterInputs(transcript_file=transcript_file, template=template, encounter_id=case.id), engines, draft=draft
    )
    llm = engines._llm if draft else None
    doc = outcome.result.to_contract()
    ref = score_reference_note(case.reference_note, doc)
    sections = doc["note"]["sections"]
    text_drugs = match_counts(set(ref["reference_drugs"]), drug_mentions("\n".join(sections.values())))
    row = Row(
        case=case.id, mode=mode, drugs=ref["drugs"], problems=ref["problems"], text_drugs=text_drugs,
        rouge_f1=ref["rouge_l"]["note"]["f1"],
        unsupported=sum(1 for w in doc.get("warnings", []) if w.get("code") == "unsupported_claim"),
    )
    if draft:
        row.draft_s = doc["provenance"]["timings_s"].get("draft", 0.0)
        after = _snapshot(llm)
        row.tokens, row.gen_s, row.eval_tokens, row.eval_ms = (a - b for a, b in zip(after, before))
        params = next((m["params"] for m in doc["provenance"]["models"] if m["role"] == "llm"), {})
        origins = params.get("section_origin", {})
        # sections with nothing dictated for them never reach the model: count only those it was asked for
        row.sections = sum(1 for k in origins if (sections.get(k) or "").strip())
        row.empty = len(origins) - row.sections
        row.kept = sum(1 for o in origins.values() if o == "llm")
        row.mixed = sum(1 for o in origins.values() if o == "mixed")
        row.chunked = sum(1 for st in params.get("context_strategy", {}).values() if str(st).startswith("chunked"))
        if code_selection:
            from clinidoc.drafting.coding import choose_codes

            dx = [d.model_copy(deep=True) for d in outcome.result.note.diagnoses]
            choices = choose_codes(dx, llm)
            row.code_paths = {}
            for c in choices:
                row.code_paths[c.path] = row.code_paths.get(c.path, 0) + 1
            doc["note"]["diagnoses"] = [{"text": d.text, "icd10": d.icd10} for d in dx]
            row.coded = score_reference_note(case.reference_note, doc)["problems"]
    return row


def _f(x: float | None, nd: int = 2) -> str:
    return "-" if x is None else f"{x:.{nd}f}"


HEADER = (f"{'case':<22}{'mode':<10}{'med R':>7}{'med P':>7}{'dx R':>7}{'dx P':>7}{'txtmed R':>9}{'ROUGE-L':>8}"
          f"{'unsup':>6}{'draft s':>9}{'tok/s':>7}{'eval/s':>7}{'kept':>7}")


def fmt_row(r: Row) -> str:
    drafted = r.mode != "extract"
    return (f"{r.case:<22}{r.mode:<10}{_f(r.drugs.recall):>7}{_f(r.drugs.precision):>7}{_f(r.problems.recall):>7}"
            f"{_f(r.problems.precision):>7}{_f(r.text_drugs.recall):>9}{_f(r.rouge_f1, 3):>8}{r.unsupported:>6}"
            f"{(f'{r.draft_s:.1f}' if drafted else '-'):>9}{(f'{r.tps:.1f}' if drafted else '-'):>7}{_f(r.eval_tps, 1):>7}"
            f"{(f'{r.kept}/{r.sections}' if drafted else '-'):>7}")


def totals(rows: list[Row], mode: str) -> dict:
    rs = [r for r in rows if r.mode == mode]
    if not rs:
        return {}
    d, p, t = _counts_sum(r.drugs for r in rs), _counts_sum(r.problems for r in rs), _counts_sum(r.text_drugs for r in rs)
    tokens, gen_s = sum(r.tokens for r in rs), sum(r.gen_s for r in rs)
    secs = sorted(r.draft_s for r in rs)
    return {
        "mode": mode, "cases": len(rs),
        "med_recall": d.recall, "med_precision": d.precision, "med_tp_fp_fn": (d.tp, d.fp, d.fn),
        "dx_recall": p.recall, "dx_precision": p.precision, "dx_tp_fp_fn": (p.tp, p.fp, p.fn),
        "text_med_recall": t.recall,
        "rouge_l_f1_mean": sum(r.rouge_f1 for r in rs) / len(rs),
        "unsupported_total": sum(r.unsupported for r in rs),
        "draft_s_total": sum(secs), "draft_s_mean": sum(secs) / len(rs), "draft_s_median": secs[len(secs) // 2],
        "tokens_per_s": tokens / gen_s if gen_s else 0.0, "tokens": tokens,
        "eval_tokens_per_s": (sum(r.eval_tokens for r in rs) / (sum(r.eval_ms for r in rs) / 1000)
                              if sum(r.eval_ms for r in rs) else None),
        "kept": sum(r.kept for r in rs), "mixed": sum(r.mixed for r in rs), "chunked": sum(r.chunked for r in rs),
        "sections": sum(r.sections for r in rs), "empty_sections": sum(r.empty for r in rs),
        **_coded_totals(rs),
    }


def _coded_totals(rs: list[Row]) -> dict:
    coded = [r for r in rs if r.coded is not None]
    if not coded:
        return {}
    c = _counts_sum(r.coded for r in coded)
    paths: dict[str, int] = {}
    for r in coded:
        for k, v in (r.code_paths or {}).items():
            paths[k] = paths.get(k, 0) + v
    return {"llm_coded_dx_recall": c.recall, "llm_coded_dx_precision": c.precision,
            "llm_coded_dx_tp_fp_fn": (c.tp, c.fp, c.fn), "code_paths": paths}


def print_totals(rows: list[Row]) -> list[dict]:
    out = []
    print()
    print(f"{'totals':<10}{'cases':>6}{'med R':>7}{'med P':>7}{'dx R':>7}{'dx P':>7}{'txtmed R':>9}{'ROUGE-L':>8}{'unsup':>6}"
          f"{'draft s':>9}{'mean s':>8}{'tok/s':>7}{'eval/s':>7}{'kept':>12}")
    for mode in MODES:
        t = totals(rows, mode)
        if not t:
            continue
        out.append(t)
        if mode == "extract":
            draft_s = mean_s = tps = kept = "-"
        else:
            draft_s, mean_s, tps = f"{t['draft_s_total']:.1f}", f"{t['draft_s_mean']:.1f}", f"{t['tokens_per_s']:.1f}"
            kept = f"{t['kept']}/{t['sections']} {t['kept'] / t['sections']:.0%}" if t["sections"] else "-"
        print(f"{mode:<10}{t['cases']:>6}{_f(t['med_recall']):>7}{_f(t['med_precision']):>7}{_f(t['dx_recall']):>7}"
              f"{_f(t['dx_precision']):>7}{_f(t['text_med_recall']):>9}{t['rouge_l_f1_mean']:>8.3f}{t['unsupported_total']:>6}"
              f"{draft_s:>9}{mean_s:>8}{tps:>7}{_f(t['eval_tokens_per_s'], 1):>7}{kept:>12}")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", type=Path, default=ROOT.parent / "shared/data/aci-bench/valid.csv")
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--template", default="soap")
    ap.add_argument("--no-server", action="store_true", help="skip the llama_cpp.server pass")
    ap.add_argument("--n-ctx", type=int, default=8192, help="server context (dialogues run to ~3k tokens)")
    ap.add_argument("--json", type=Path, default=None, help="write per-case rows and totals here")
    ap.add_argument("--code-selection", action="store_true",
                    help="also let the LLM choose each diagnosis's code among the retrieved candidates and score that")
    args = ap.parse_args()

    cases = load_dataset(args.dataset, "aci-bench", limit=args.limit)
    scratch = Path(tempfile.mkdtemp(prefix="clinidoc-bench-drafting-"))
    files = {}
    for case in cases:
        files[case.id] = scratch / f"{case.id}.txt"
        files[case.id].write_text(case.transcript_text, encoding="utf-8")

    registry = ModelRegistry(scratch / "home")
    engines = Engines(registry)
    model = registry.resolve("llm")
    print(f"{len(cases)} dialogues from {args.dataset}, template {args.template}, model {model.name}")
    print("med R/P: reference-note drugs vs note.medications; dx R: reference problems vs note.diagnoses;")
    print("txtmed R: reference drugs named in the note's section text; tok/s: completion tokens / call seconds")
    print()
    print(HEADER)
    rows: list[Row] = []
    wall = time.perf_counter()
    for case in cases:
        for mode in ("extract", "embedded"):
            if mode == "embedded":
                engines.llm  # noqa: B018 - load the embedded backend
            rows.append(run_case(case, files[case.id], engines, mode, args.template, args.code_selection))
            print(fmt_row(rows[-1]), flush=True)

    if not args.no_server:
        from clinidoc.drafting.backend import OpenAICompatibleBackend

        proc, url, _log = start_server(model, args.n_ctx)
        try:
            srv_engines = Engines(registry)
            srv_engines._llm = OpenAICompatibleBackend(url)
            srv_engines._llm.context_tokens = args.n_ctx  # so clinidoc splits a source the server cannot hold
            print(f"\nserver {url} ({srv_engines._llm.server_model()}), n_ctx {args.n_ctx}")
            for case in cases:
                rows.append(run_case(case, files[case.id], srv_engines, "server", args.template, args.code_selection))
                print(fmt_row(rows[-1]), flush=True)
        finally:
            proc.terminate()
            proc.wait(timeout=20)

    summary = print_totals(rows)
    for t in summary:
        if "llm_coded_dx_recall" in t:
            print(f"{t['mode']}: with the LLM choosing among ICD-10-CM candidates: dx R {_f(t['llm_coded_dx_recall'])} "
                  f"P {_f(t['llm_coded_dx_precision'])} (deterministic codes: R {_f(t['dx_recall'])} "
                  f"P {_f(t['dx_precision'])}); paths {t['code_paths']}")
        if t["mode"] != "extract":
            print(f"{t['mode']}: kept = LLM rewrite kept / sections sent to the model; {t['empty_sections']} template "
                  f"sections had nothing dictated for them; {t['mixed']} partly kept, {t['chunked']} drafted in chunks")
    print(f"\nwall time {time.perf_counter() - wall:.0f} s")
    emb = engines._llm
    if emb is not None:
        print(f"embedded: {emb.stats.calls} calls, {emb.stats.prompt_tokens} prompt tokens, llama.cpp eval "
              f"{emb.stats.engine_tokens_per_s:.1f} tok/s, threads {emb.n_threads}/{emb.n_threads_batch}, "
              f"n_ctx {emb.budget.n_ctx}")
    if args.json:
        args.json.write_text(json.dumps({
            "rows": [{**r.__dict__, "drugs": r.drugs.to_dict(), "problems": r.problems.to_dict(),
                      "coded": r.coded.to_dict() if r.coded else None,
                      "text_drugs": r.text_drugs.to_dict(), "tokens_per_s": r.tps} for r in rows],
            "totals": summary,
        }, indent=2, default=str))


if __name__ == "__main__":
    main()
