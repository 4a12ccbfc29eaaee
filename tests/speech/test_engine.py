"""The real tiny.en model on the dev-001 dictation: accurate, drug names right, nothing dropped.

One transcription (about 5-10 s on 2 CPU threads) is shared by the tests of this module.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from clinidoc.speech.textnorm import normalize, wer

DEV = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "encounters-dev"
if not DEV.exists():
    DEV = Path("/work/shared/data/encounters-dev")
CASE = DEV / "dev-001"


# Measured 0.11-0.16 for dev-001 with the hint over several runs (plain whole-file decoding: 0.27); margin for drift.
MAX_WER = 0.20


@pytest.fixture(scope="module")
def case() -> dict:
    return json.loads((CASE / "case.json").read_text())


@pytest.fixture(scope="module")
def engine(registry):
    from clinidoc.speech.engine import FasterWhisperEngine

    return FasterWhisperEngine(registry.resolve("stt"), device="cpu", compute_type="int8", cpu_threads=2)


EVENTS: list = []


@pytest.fixture(scope="module")
def transcript(engine, case):
    from clinidoc.speech.postprocess import default_hotwords

    hot = default_hotwords(case["patient"]["medications"])
    return engine.transcribe(CASE / "dictation.wav", hotwords=hot, progress=EVENTS.append)


def test_wer_below_threshold(transcript, case):
    assert wer(case["expected"]["transcript"], transcript.text) < MAX_WER, transcript.text


@pytest.mark.parametrize("name", ["metoprolol", "lisinopril"])
def test_expected_drug_names_present(transcript, case, name):
    assert name in [m["name"] for m in case["expected"]["medications"]]
    assert name in normalize(transcript.text), transcript.text


# Not tested: "apixaban" in dev-001. tiny.en hears "Start apixaban" confidently (p > 0.85) as "It's hard to
# pick up in"; no hint or snap recovers it without risking false drug names (see the issue note).


def test_last_sentence_not_dropped(transcript, case):
    # hotwords over the whole file once made the decoder stop ~15 s early, losing the plan's end
    tail = normalize("Continue lisinopril twenty milligrams by mouth daily. Echocardiogram ordered. Return in two weeks.")
    got = normalize(transcript.text)
    missing = [w for w in tail if w not in got]
    assert len(missing) <= 1, (missing, transcript.text)  # one misheard word ("order") is not a drop
    assert got[-3:] == ["return", "in", "2"] or got[-3:] == ["in", "2", "weeks"], transcript.text
    assert transcript.segments[-1].end > transcript.duration - 5.0


def test_timestamps_and_provenance(transcript, engine):
    words = [w for s in transcript.segments for w in s.words]
    assert words and all(0 <= w.start <= w.end <= transcript.duration + 0.5 for w in words)
    assert all(a.start <= b.start + 0.01 for a, b in zip(words, words[1:]))
    assert transcript.language == "en"
    for w in words:
        if getattr(w, "snapped", False):
            assert w.original and w.original != w.word
    use = engine.model_use()
    assert use.role == "stt" and use.params["vad_chunk_s"] == engine.chunk_s


def test_progress_reaches_the_end(transcript):
    fractions = [e.fraction for e in EVENTS if e.fraction is not None]
    assert fractions and fractions[-1] == pytest.approx(1.0, abs=0.05)
    assert fractions == sorted(fractions)
