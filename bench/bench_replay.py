"""Live encounter bench: each dev encounter replayed through EncounterSession in real time, then batch.

For every case (the same code as `clinidoc replay CASE_DIR --json`): the dictation is fed in 32 ms
blocks at --speed x real time, the images are dropped in at 20% and 50% of the audio, the session is
stopped when the audio ends, then the case runs through batch process_encounter on the same Engines.

  stop_to_draft_s       end of the audio -> validated draft            (target: median <= 5 s)
  transcript_lag_p95_s  word first shown minus spoken, audio seconds   (target: <= 3 s)
  batch_s               process_encounter on the same case
  fields_match_batch    the structured fields equal between live and batch

A full 1x run costs the audio's length per case (~70 s) plus the batch run (~8 s on 2 cores).

Usage: python bench/bench_replay.py [DATA_DIR] [--speed 1] [--cases dev-001,dev-004] [--limit N] [-o out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from clinidoc.pipeline import Engines
from clinidoc.session_commands import replay_case
from clinidoc.weights import ModelRegistry

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "encounters-dev"
if not DEFAULT_DATA.exists():
    DEFAULT_DATA = Path("/work/shared/data/encounters-dev")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data", nargs="?", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--speed", type=float, default=1.0)
    ap.add_argument("--cases", default="", help="comma-separated case folder names (default: all)")
    ap.add_argument("--limit", type=int, default=0, help="only the first N cases")
    ap.add_argument("-o", "--output", type=Path)
    args = ap.parse_args()

    cases = sorted(p for p in args.data.iterdir() if (p / "case.json").is_file())
    if args.cases:
        wanted = set(args.cases.split(","))
        cases = [c for c in cases if c.name in wanted]
    if args.limit:
        cases = cases[: args.limit]
    if not cases:
        raise SystemExit(f"no cases under {args.data}")
    home = Path(tempfile.mkdtemp(prefix="bench-replay-"))
    engines = Engines(ModelRegistry(home))
    print(f"{len(cases)} case(s) at {args.speed:g}x on {os.cpu_count()} cores", file=sys.stderr)
    print(f"{'case':<9}{'audio_s':>8}{'stop->draft':>12}{'lag_p95':>9}{'batch_s':>9}{'match':>7}  stop path (s)")
    rows = []
    for case_dir in cases:
        out = replay_case(case_dir, engines, speed=args.speed)
        t = out["live_timings_s"]
        path = " ".join(f"{k}={t[k]:.2f}" for k in ("transcribe_tail", "images_wait", "extract", "draft", "validate") if k in t)
        print(f"{out['case']:<9}{out['audio_s']:>8.1f}{out['stop_to_draft_s']:>12.2f}{out['transcript_lag_p95_s']:>9.2f}"
              f"{out['batch_s']:>9.2f}{'yes' if out['fields_match_batch'] else 'NO':>7}  {path}", flush=True)
        for key, (a, b) in (out.get("mismatched_fields") or {}).items():
            print(f"    {key}: live {a} / batch {b}")
        rows.append({k: v for k, v in out.items() if not k.endswith("_result")})
    med = {k: round(statistics.median(r[k] for r in rows), 3)
           for k in ("stop_to_draft_s", "transcript_lag_p95_s", "batch_s")}
    matched = sum(bool(r["fields_match_batch"]) for r in rows)
    print(f"{'median':<9}{'':>8}{med['stop_to_draft_s']:>12.2f}{med['transcript_lag_p95_s']:>9.2f}{med['batch_s']:>9.2f}"
          f"{f'{matched}/{len(rows)}':>7}")
    ok = med["stop_to_draft_s"] <= 5.0 and med["transcript_lag_p95_s"] <= 3.0
    print(f"targets (median stop->draft <= 5 s, lag p95 <= 3 s): {'met' if ok else 'NOT met'}")
    if args.output:
        args.output.write_text(json.dumps({"speed": args.speed, "cases": rows, "median": med,
                                           "fields_match": f"{matched}/{len(rows)}"}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
