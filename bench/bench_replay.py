"""Live encounter bench: each dev encounter replayed through EncounterSession in real time, then batch.

For every case (the same code as `clinidoc replay CASE_DIR --json`): the dictation is fed in 32 ms
blocks at --speed x real time, the images are dropped in at 20% and 50% of the audio, the session is
stopped when the audio ends, then the case runs through batch process_encounter on the same Engines.

  stop_to_draft_s       end of the audio -> validated draft            (target: median <= 5 s)
  transcript_lag_p95_s  word first shown minus spoken, audio seconds   (target: <= 3 s)
  batch_s               process_encounter on the same case
  fields_match_batch    the structured fields equal between live and batch
  stop prompt           drafting's prompt evaluation on stop, with the prompts warmed while recording:
                        tokens evaluated / seconds (llama.cpp's own timing); "batch prompt" is the same
                        for the batch run, which starts from a cold cache: the with / without figure
  warm_bg_s             seconds spent warming prompts in the background while recording
  batch_before_s        (--baseline-src DIR) batch process_encounter of another checkout (e.g. this tree with
                        the live-path files at the last commit), timed in a worker process; "batch_now_s" is
                        this tree's, timed by an identical worker right before or after it (alternating),
                        so both see the same machine load and the same fresh-process conditions (the
                        in-process batch_s runs after a live session whose nice-5 image workers created
                        the OCR thread pool, so it is not comparable with a fresh process)

A full 1x run costs the audio's length per case (~70 s) plus the batch run(s) (~8-20 s on 2 cores).

Usage: python bench/bench_replay.py [DATA_DIR] [--speed 1] [--cases dev-001,dev-004] [--limit N]
                                    [--baseline-src DIR] [-o out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
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


BASELINE_WORKER = r"""
import json, sys, tempfile, time
from pathlib import Path
sys.path.insert(0, sys.argv[1])
import clinidoc
from clinidoc.pipeline import EncounterInputs, Engines, process_encounter
from clinidoc.session_commands import load_case
from clinidoc.weights import ModelRegistry
assert clinidoc.__file__.startswith(sys.argv[1]), clinidoc.__file__
engines = Engines(ModelRegistry(Path(tempfile.mkdtemp(prefix="bench-baseline-"))))
for line in sys.stdin:
    case = load_case(Path(line.strip()))
    inputs = EncounterInputs(audio=case["audio"], images=case["images"], patient=case["patient"], encounter_id=case["id"])
    started = time.perf_counter()
    process_encounter(inputs, engines)
    print(json.dumps({"batch_s": round(time.perf_counter() - started, 3)}), flush=True)
"""


class Baseline:
    """process_encounter of another source tree, in a worker process (models loaded once, like ours)."""

    def __init__(self, src: Path, warm_case: Path | None):
        self.proc = subprocess.Popen([sys.executable, "-c", BASELINE_WORKER, str(src.resolve())], cwd=src,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        if warm_case is not None:
            self.time(warm_case)  # loads its models, as ours are loaded by the time batch runs

    def time(self, case_dir: Path) -> float:
        self.proc.stdin.write(f"{case_dir}\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise SystemExit("the baseline worker failed")
        return json.loads(line)["batch_s"]

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=60)


def _prompt(p: dict | None) -> str:
    return f"{p['evaluated_tokens']}t/{p['prompt_s']:.2f}s" if p else "-"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data", nargs="?", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--speed", type=float, default=1.0)
    ap.add_argument("--cases", default="", help="comma-separated case folder names (default: all)")
    ap.add_argument("--limit", type=int, default=0, help="only the first N cases")
    ap.add_argument("--baseline-src", type=Path, help="time batch process_encounter of this source tree too")
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
    baseline = Baseline(args.baseline_src, cases[0]) if args.baseline_src else None
    current = Baseline(ROOT, cases[0]) if args.baseline_src else None
    print(f"{'case':<9}{'audio_s':>8}{'stop->draft':>12}{'lag_p95':>9}{'batch_s':>9}{'now/before_s':>13}{'match':>7}"
          f"{'stop prompt':>14}{'batch prompt':>14}{'warm_bg_s':>10}  stop path (s)")
    rows = []
    for case_dir in cases:
        out = replay_case(case_dir, engines, speed=args.speed)
        out["batch_before_s"] = out["batch_now_s"] = None
        if baseline:
            if len(rows) % 2:
                out["batch_before_s"], out["batch_now_s"] = baseline.time(case_dir), current.time(case_dir)
            else:
                out["batch_now_s"], out["batch_before_s"] = current.time(case_dir), baseline.time(case_dir)
        t = out["live_timings_s"]
        path = " ".join(f"{k}={t[k]:.2f}" for k in ("transcribe_tail", "images_wait", "extract", "draft", "validate") if k in t)
        before = f"{out['batch_now_s']:.2f}/{out['batch_before_s']:.2f}" if out["batch_before_s"] is not None else "-"
        print(f"{out['case']:<9}{out['audio_s']:>8.1f}{out['stop_to_draft_s']:>12.2f}{out['transcript_lag_p95_s']:>9.2f}"
              f"{out['batch_s']:>9.2f}{before:>13}{'yes' if out['fields_match_batch'] else 'NO':>7}"
              f"{_prompt(out.get('live_prompt')):>14}{_prompt(out.get('batch_prompt')):>14}{out['warm_background_s']:>10.2f}"
              f"  {path}", flush=True)
        for key, (a, b) in (out.get("mismatched_fields") or {}).items():
            print(f"    {key}: live {a} / batch {b}")
        rows.append({k: v for k, v in out.items() if not k.endswith("_result")})
    if baseline:
        baseline.close()
        current.close()
    keys = ["stop_to_draft_s", "transcript_lag_p95_s", "batch_s"] + (["batch_now_s", "batch_before_s"] if baseline else [])
    med = {k: round(statistics.median(r[k] for r in rows), 3) for k in keys}
    live_p = [r["live_prompt"]["prompt_s"] for r in rows if r.get("live_prompt")]
    batch_p = [r["batch_prompt"]["prompt_s"] for r in rows if r.get("batch_prompt")]
    matched = sum(bool(r["fields_match_batch"]) for r in rows)
    before = f"{med['batch_now_s']:.2f}/{med['batch_before_s']:.2f}" if baseline else "-"
    print(f"{'median':<9}{'':>8}{med['stop_to_draft_s']:>12.2f}{med['transcript_lag_p95_s']:>9.2f}{med['batch_s']:>9.2f}"
          f"{before:>13}{f'{matched}/{len(rows)}':>7}"
          f"{(f'{statistics.median(live_p):.2f}s' if live_p else '-'):>14}{(f'{statistics.median(batch_p):.2f}s' if batch_p else '-'):>14}")
    if baseline:
        ratios = [r["batch_now_s"] / r["batch_before_s"] for r in rows if r["batch_before_s"]]
        med["batch_ratio"] = round(statistics.median(ratios), 3)
        print(f"batch now / before (fresh worker processes): median ratio {med['batch_ratio']:.3f} "
              f"(per case {', '.join(f'{x:.2f}' for x in ratios)})")
    if live_p and batch_p:
        print(f"prompt evaluation on stop (warmed) vs batch (cold): median {statistics.median(live_p):.2f} s vs "
              f"{statistics.median(batch_p):.2f} s")
    ok = med["stop_to_draft_s"] <= 5.0 and med["transcript_lag_p95_s"] <= 3.0
    print(f"targets (median stop->draft <= 5 s, lag p95 <= 3 s): {'met' if ok else 'NOT met'}")
    if args.output:
        args.output.write_text(json.dumps({"speed": args.speed, "cases": rows, "median": med,
                                           "fields_match": f"{matched}/{len(rows)}"}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
