"""`clinidoc replay CASE_DIR [--speed 1.0] [--json]`: one dataset case through the live path in real time.

The case's audio is decoded and fed to an EncounterSession in callback-sized blocks (32 ms) at
``--speed`` x real time, its images are dropped in at 20% and 50% of the audio, and the session is
stopped when the audio ends. Then the same case runs through batch ``process_encounter`` (the same
Engines) for comparison. Reported (the contract's keys):

  stop_to_draft_s       end of the audio -> validated draft (session.stop() returned)
  transcript_lag_p95_s  per word, first shown minus spoken (its end), in audio seconds (wall x speed)
  batch_s               process_encounter on the same case
  fields_match_batch    medications, vitals, diagnosis codes, allergies, labs and ECG rhythm equal
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import click
import numpy as np

from clinidoc.errors import InputError

SR = 16000
BLOCK_S = 0.032  # a microphone callback's block


def load_case(case_dir: Path) -> dict:
    """The case's patient, audio, images and id (paths resolved against the case folder)."""
    from clinidoc.encounter import Patient

    case_dir = Path(case_dir)
    path = case_dir / "case.json"
    if not path.is_file():
        raise InputError("not a dataset case (no case.json)", file=str(case_dir))
    try:
        case = json.loads(path.read_text())
    except ValueError as exc:
        raise InputError(f"case.json is not valid JSON ({exc.__class__.__name__})", file=str(path))
    inputs = case.get("inputs") or {}
    patient = case.get("patient")
    if patient is None and (case_dir / "patient.json").is_file():  # the bundled demo keeps it beside case.json
        patient = json.loads((case_dir / "patient.json").read_text())
    audio = [case_dir / a for a in inputs.get("audio") or []]
    if not audio:
        raise InputError("the case has no audio to replay", file=str(case_dir))
    return {
        "id": case.get("id") or case_dir.name,
        "patient": Patient.model_validate(patient) if patient else None,
        "audio": audio,
        "images": [case_dir / i for i in inputs.get("images") or []],
    }


def drop_times(n: int) -> list[float]:
    """Where each image is dropped, as a fraction of the audio: the first half at 20%, the rest at 50%."""
    first = (n + 1) // 2
    return [0.2 if i < first else 0.5 for i in range(n)]


def percentile(values: list[float], q: float) -> float | None:
    return float(np.percentile(np.asarray(values), q)) if values else None


def play(session, samples: np.ndarray, *, speed: float, images=(), block_s: float = BLOCK_S) -> tuple[float, float]:
    """Feed ``samples`` to the session block by block at ``speed`` x real time, dropping ``images``
    ((fraction, path) pairs) in when the audio reaches them. Returns (start, end) in time.monotonic()."""
    block = max(1, int(SR * block_s))
    drops = sorted(((int(frac * samples.size), Path(p)) for frac, p in images), key=lambda d: d[0])
    t0 = time.monotonic()
    for i in range(0, samples.size, block):
        due = t0 + (i + block) / SR / speed  # a block is captured once its last sample is spoken
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        session.feed_audio(samples[i : i + block])
        while drops and drops[0][0] <= i + block:
            session.add_image(drops.pop(0)[1])
    for _, path in drops:
        session.add_image(path)
    return t0, time.monotonic()


def replay_case(case_dir: Path, engines, *, speed: float = 1.0, batch: bool = True, draft: bool = True,
                live_options: dict | None = None) -> dict:
    """Replay one case through EncounterSession, then (with batch) through process_encounter."""
    from clinidoc.pipeline import EncounterInputs, process_encounter
    from clinidoc.session import EncounterSession, fields_differ
    from clinidoc.speech import audio as audio_io

    if speed <= 0:
        raise InputError("--speed must be positive")
    case = load_case(case_dir)
    parts = [audio_io.decode(p) for p in case["audio"]]
    session = EncounterSession(engines, case["patient"], encounter_id=case["id"], live_options=live_options)
    try:
        images = list(zip(drop_times(len(case["images"])), case["images"]))
        t0 = end = None
        for k, samples in enumerate(parts):  # several recordings of one case: stop/resume between them
            if k:
                session.resume()
            t0, end = play(session, samples, speed=speed, images=images if k == 0 else ())
            if k < len(parts) - 1:
                session.stop(draft=False)
        live = session.stop(draft=draft)
        stop_to_draft = time.monotonic() - end
    finally:
        session.close()
    log = session.publish_logs[-1] if session.publish_logs else []
    lags = [(shown - t0) * speed - word_end for word_end, shown in log]
    out = {
        "case": case["id"],
        "speed": speed,
        "audio_s": round(sum(p.size for p in parts) / SR, 2),
        "stop_to_draft_s": round(stop_to_draft, 3),
        "transcript_lag_p95_s": round(percentile(lags, 95), 3) if lags else None,
        "batch_s": None,
        "fields_match_batch": None,
        "live_timings_s": session.timings,
        "live_result": live.result,
    }
    out["live_prompt"] = getattr(session, "prompt_stats", None)  # drafting's prompt evaluation on stop (warmed)
    out["warm_background_s"] = round(sum(w["seconds"] for w in session.warm_log), 3)
    if batch:
        if hasattr(engines.llm, "forget_warm_states"):  # batch as `clinidoc process` runs it: from a cold cache
            engines.llm.forget_warm_states()
        inputs = EncounterInputs(audio=case["audio"], images=case["images"], patient=case["patient"],
                                 encounter_id=case["id"])
        started = time.perf_counter()
        outcome = process_encounter(inputs, engines, draft=draft)
        out["batch_s"] = round(time.perf_counter() - started, 3)
        llm = engines._llm
        if llm is not None and draft and outcome.result.transcript.text:
            calls = llm.stats.per_call[-len(outcome.result.note.sections):]
            out["batch_prompt"] = {"evaluated_tokens": sum(c.get("prompt_tokens") or 0 for c in calls),
                                   "prompt_s": round(sum(c.get("prompt_s") or 0 for c in calls), 3)}
        out["batch_timings_s"] = outcome.result.provenance.timings_s
        diff = fields_differ(live.result, outcome.result)
        out["fields_match_batch"] = not diff
        out["mismatched_fields"] = {k: [repr(a), repr(b)] for k, (a, b) in diff.items()}
        out["batch_result"] = outcome.result
    return out


CONTRACT_KEYS = ("stop_to_draft_s", "transcript_lag_p95_s", "batch_s", "fields_match_batch")


def register(cli: click.Group) -> None:
    from clinidoc.cli import CONTEXT, _registry, clean_errors, data_dir_option

    @cli.command("replay", context_settings=CONTEXT)
    @click.argument("case_dir", type=click.Path(path_type=Path))
    @click.option("--speed", type=float, default=1.0, show_default=True, help="Audio fed at this many x real time.")
    @click.option("--json", "as_json", is_flag=True, help="Print the contract's JSON object.")
    @click.option("--stt-model", default=None, help="Speech model name or folder (default: embedded tiny.en).")
    @click.option("--llm-model", default=None, help="GGUF model name or path (default: embedded).")
    @data_dir_option
    @clean_errors
    def replay(case_dir, speed, as_json, stt_model, llm_model, data_dir):
        """Replay a dataset case through the live path in real time and compare with the batch pipeline."""
        from clinidoc.pipeline import Engines

        engines = Engines(_registry(data_dir), stt_model=stt_model, llm_model=llm_model)
        out = replay_case(case_dir, engines, speed=speed)
        doc = {k: out[k] for k in CONTRACT_KEYS}
        doc.update({"case": out["case"], "speed": out["speed"], "audio_s": out["audio_s"],
                    "mismatched_fields": out.get("mismatched_fields", {}), "live_timings_s": out["live_timings_s"]})
        if as_json:
            click.echo(json.dumps(doc, indent=2))
            return
        click.echo(
            f"{out['case']}: {out['audio_s']:.1f} s of audio at {speed:g}x; stop -> draft {out['stop_to_draft_s']:.2f} s, "
            f"transcript lag p95 {out['transcript_lag_p95_s']} s, batch {out['batch_s']:.2f} s, "
            f"fields match batch: {'yes' if out['fields_match_batch'] else 'NO'}"
        )
        for key, (a, b) in (out.get("mismatched_fields") or {}).items():
            click.echo(f"  {key}: live {a} / batch {b}")
