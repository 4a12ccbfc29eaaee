"""Speech-to-text bench: tiny.en on N CPU threads over the dev dictations.

Per configuration: real-time factor (decode seconds / audio seconds, model already loaded), WER (case,
punctuation and numbers normalised: number words and digits both collapse to digit strings, see
clinidoc.speech.textnorm), and drug-name recall (expected medication generic names found in the
normalised transcript). Configurations:

  baseline        one faster-whisper call over the whole file (vad_filter, beam 5), no hint
  baseline+hint   the same with hotwords = patient medications + curated drug list
  engine          FasterWhisperEngine (VAD chunks, coverage check, loop removal), no hint
  engine+hint     the same with the hotwords (and drug-name snapping)

Usage: python bench/bench_stt.py [DATA_DIR] [--threads 2] [--cases dev-001,dev-002] [--only engine+hint] [-v]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from clinidoc.speech import audio as audio_io
from clinidoc.speech.engine import FasterWhisperEngine
from clinidoc.speech.postprocess import default_hotwords
from clinidoc.speech.textnorm import normalize, wer
from clinidoc.weights.registry import ModelRegistry

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "encounters-dev"
if not DEFAULT_DATA.exists():
    DEFAULT_DATA = Path("/work/shared/data/encounters-dev")


def drug_recall(text: str, names: list[str]) -> tuple[int, int]:
    hay = " " + " ".join(normalize(text)) + " "
    return sum(f" {' '.join(normalize(n))} " in hay for n in names), len(names)


def tail_kept(ref: str, hyp: str, n: int = 6) -> bool:
    """Most of the reference's last n words are among the hypothesis's last 2n (the end was not dropped)."""
    r, h = normalize(ref), normalize(hyp)
    return sum(w in h[-2 * n :] for w in r[-n:]) >= n / 2


def baseline(engine: FasterWhisperEngine, samples, hotwords):
    """The engine's previous behaviour: one call over the whole file."""
    model = engine._load()
    segs, _ = model.transcribe(
        samples, language="en", beam_size=engine.beam_size, word_timestamps=True, vad_filter=True,
        hotwords=hotwords or None, condition_on_previous_text=False,
    )
    return " ".join(s.text.strip() for s in segs)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("data", nargs="?", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--model", default=None, help="speech model name or folder (default: embedded tiny.en; "
                    "faster-whisper-base with the whisper-base extra)")
    ap.add_argument("--cases", default="")
    ap.add_argument("--only", default="")
    ap.add_argument("-v", action="store_true", help="print each hypothesis")
    ap.add_argument("--hotword-style", default="comma", choices=["comma", "plain", "title"])
    ap.add_argument("--rolling", type=int, default=None, help="engine: words of the previous chunk as prompt")
    args = ap.parse_args()

    model_file = ModelRegistry(Path(tempfile.mkdtemp(prefix="bench-stt-"))).resolve("stt", args.model)
    print(f"model: {model_file.name}")
    opts = {"hotword_style": args.hotword_style}
    if args.rolling is not None:
        opts["rolling_words"] = args.rolling
    engine = FasterWhisperEngine(model_file, device="cpu", compute_type="int8", cpu_threads=args.threads, **opts)
    engine._load()

    cases = []
    for d in sorted(p for p in args.data.iterdir() if (p / "case.json").exists()):
        if args.cases and d.name not in args.cases.split(","):
            continue
        case = json.loads((d / "case.json").read_text())
        audio = next(d.glob("dictation.*"))
        meds = (case.get("patient") or {}).get("medications") or []
        cases.append((d.name, audio_io.decode(audio), case["expected"]["transcript"],
                      [m["name"] for m in case["expected"]["medications"]], default_hotwords(meds)))

    configs = {
        "baseline": lambda s, h: baseline(engine, s, None),
        "baseline+hint": lambda s, h: baseline(engine, s, h),
        "engine": lambda s, h: engine.transcribe_array(s).text,
        "engine+hint": lambda s, h: engine.transcribe_array(s, hotwords=h).text,
    }
    if args.only:
        configs = {k: v for k, v in configs.items() if k in args.only.split(",")}
    # warm-up (first call pays one-off allocations)
    engine.transcribe_array(cases[0][1][: 16000 * 5]) if cases else None

    results: dict[str, dict] = {}
    print(f"{'config':<14} {'case':<8} {'audio_s':>7} {'time_s':>6} {'RTF':>6} {'WER':>6} {'drugs':>6} {'tail':>5}")
    for name, fn in configs.items():
        tot_audio = tot_time = 0.0
        wers, hits, total, tails = [], 0, 0, 0
        for case_id, samples, ref, meds, hot in cases:
            t0 = time.perf_counter()
            hyp = fn(samples, hot)
            dt = time.perf_counter() - t0
            secs = len(samples) / audio_io.SAMPLE_RATE
            w = wer(ref, hyp)
            h, n = drug_recall(hyp, meds)
            t = tail_kept(ref, hyp)
            tails += t
            tot_audio += secs
            tot_time += dt
            wers.append(w)
            hits += h
            total += n
            print(f"{name:<14} {case_id:<8} {secs:7.1f} {dt:6.2f} {dt / secs:6.3f} {w:6.3f} {h:>3}/{n:<2} {'ok' if t else 'LOST':>5}", flush=True)
            if args.v:
                print("   ", hyp)
        results[name] = {"rtf": tot_time / tot_audio, "wer": sum(wers) / len(wers), "recall": hits / max(total, 1),
                         "hits": f"{hits}/{total}", "tails": f"{tails}/{len(cases)}"}

    print()
    print(f"{'config':<14} {'RTF':>6} {'meanWER':>8} {'drug recall':>12} {'WER/base':>9} {'RTF/base':>9} {'tail kept':>9}")
    base = results.get("baseline")
    for name, r in results.items():
        rel_w = f"{r['wer'] / base['wer']:.2f}" if base else "-"
        rel_t = f"{r['rtf'] / base['rtf']:.2f}" if base else "-"
        print(f"{name:<14} {r['rtf']:6.3f} {r['wer']:8.3f} {r['hits']:>7} {r['recall']:4.0%} {rel_w:>9} {rel_t:>9} {r['tails']:>9}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
