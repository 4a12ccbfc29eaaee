"""Live dictation bench: a ~2-minute dictation played in real time through Recorder + LiveTranscriber.

The dev dictations are concatenated (1.5 s of silence between them) up to --seconds, fed by
WavFileSource in 32 ms device blocks at --speed x real time (1 = a real microphone) through the
Recorder (encrypted spool, fsync'd every 0.5 s) into LiveTranscriber. Reported:

  stop_to_final_s   Recorder.stop() + LiveTranscriber.finish(): from "stop" to the final transcript
  lag_p50/p95/max   per word, the time it was first shown minus the time it was spoken (its end)
  wer_vs_offline    the final live transcript vs FasterWhisperEngine.transcribe_array on the same audio
  wer_vs_reference  both against the dictated text
  cpu_rtf           decoding + VAD seconds per second of audio, while recording

Usage: python bench/bench_live.py [DATA_DIR] [--seconds 120] [--speed 1] [--threads 2] [-o out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from clinidoc.speech import audio as audio_io
from clinidoc.speech import spool as sp
from clinidoc.speech.engine import FasterWhisperEngine
from clinidoc.speech.live import LiveTranscriber
from clinidoc.speech.postprocess import default_hotwords
from clinidoc.speech.recorder import Recorder, WavFileSource
from clinidoc.speech.textnorm import wer
from clinidoc.weights.registry import ModelRegistry

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "encounters-dev"
if not DEFAULT_DATA.exists():
    DEFAULT_DATA = Path("/work/shared/data/encounters-dev")
SR = audio_io.SAMPLE_RATE


def build_dictation(data: Path, seconds: float) -> tuple[np.ndarray, str, list[str]]:
    """(samples, reference text, medications) from whole dev dictations, up to ``seconds``."""
    parts, refs, meds = [], [], []
    total = 0
    for case in sorted(data.glob("dev-*")):
        files = sorted(case.glob("dictation.*"))
        if not files or not (case / "case.json").is_file():
            continue
        doc = json.loads((case / "case.json").read_text())
        x = audio_io.decode(files[0])
        parts += [x, np.zeros(int(1.5 * SR), np.float32)]
        refs.append(doc["expected"]["transcript"])
        meds += (doc.get("patient") or {}).get("medications", [])
        total += x.size + int(1.5 * SR)
        if total >= seconds * SR:
            break
    if not parts:
        raise SystemExit(f"no dev dictations under {data}")
    return np.concatenate(parts), " ".join(refs), meds


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q)) if values else float("nan")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data", nargs="?", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--seconds", type=float, default=120.0)
    ap.add_argument("--speed", type=float, default=1.0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no-offline", action="store_true", help="skip the offline comparison")
    ap.add_argument("-o", "--output", type=Path)
    args = ap.parse_args()

    samples, reference, meds = build_dictation(args.data, args.seconds)
    samples = sp.to_int16(samples).astype(np.float32) / 32768.0  # exactly what the recorder will see
    home = Path(tempfile.mkdtemp(prefix="bench-live-"))
    engine = FasterWhisperEngine(ModelRegistry(home).resolve("stt"), device="cpu", compute_type="int8",
                                 cpu_threads=args.threads)
    hotwords = default_hotwords(meds)
    live = LiveTranscriber(engine, hotwords=hotwords).start()  # loads the model before recording starts
    source = WavFileSource("dictation.wav", speed=args.speed, block_s=0.032, samples=samples)
    rec = Recorder(source, spool_dir=home / "spool", key=os.urandom(32), output=home / "dictation.wav",
                   listeners=[live.feed])
    print(f"dictation: {samples.size / SR:.1f} s at {args.speed:g}x, {args.threads} threads", file=sys.stderr)
    rec.start()
    rec.wait()
    stop = time.monotonic()
    recording = rec.stop()
    transcript = live.finish()
    stop_to_final = time.monotonic() - stop

    t0 = source.started_at
    lags = [shown - (t0 + end / args.speed) for end, shown in live.publish_log]
    st = live.stats
    audio_s = samples.size / SR
    out = {
        "audio_s": round(audio_s, 1),
        "speed": args.speed,
        "threads": args.threads,
        "cpu_count": os.cpu_count(),
        "stop_to_final_s": round(stop_to_final, 2),
        "lag_p50_s": round(percentile(lags, 50), 2),
        "lag_p95_s": round(percentile(lags, 95), 2),
        "lag_max_s": round(max(lags), 2) if lags else None,
        "words": len(transcript.text.split()),
        "cpu_rtf": round((st["decode_s"] + st["provisional_s"] + st["vad_s"]) / audio_s, 3),
        "recorded_s": recording.duration_s,
        "stats": {k: round(v, 3) if isinstance(v, float) else v for k, v in st.items()},
        "wer_live_vs_reference": round(wer(reference, transcript.text), 4),
    }
    if not args.no_offline:
        t = time.monotonic()
        offline = engine.transcribe_array(samples, hotwords=hotwords)
        out["offline_s"] = round(time.monotonic() - t, 2)
        out["wer_live_vs_offline"] = round(wer(offline.text, transcript.text), 4)
        out["wer_offline_vs_reference"] = round(wer(reference, offline.text), 4)
    text = json.dumps(out, indent=2)
    print(text)
    if args.output:
        args.output.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
