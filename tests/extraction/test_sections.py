import pytest

from clinidoc.encounter import Segment, Transcript, Word
from clinidoc.extraction.sections import TimedText, plan_range, sentence_spans, split_sections

from ._dev import dev_cases, timed

CASES = dev_cases()

TEXT = (
    "Seventy-four year old woman with palpitations. History of hypertension on lisinopril. "
    "Allergy to penicillin. On exam she is alert. Blood pressure one thirty-eight over eighty-six. "
    "Lungs are clear. No edema. EKG shows atrial fibrillation. "
    "Assessment: new atrial fibrillation. Plan: start apixaban five milligrams by mouth twice daily. Return in two weeks."
)


def test_split_sections_by_cues():
    s = split_sections(TEXT)
    assert list(s) == ["subjective", "objective", "assessment", "plan"]
    assert s["subjective"] == (
        "Seventy-four year old woman with palpitations. History of hypertension on lisinopril. Allergy to penicillin."
    )
    assert s["objective"] == (
        "On exam she is alert. Blood pressure one thirty-eight over eighty-six. Lungs are clear. No edema. "
        "EKG shows atrial fibrillation."
    )
    assert s["assessment"] == "new atrial fibrillation."
    assert s["plan"] == "start apixaban five milligrams by mouth twice daily. Return in two weeks."


def test_no_cues_everything_subjective():
    s = split_sections("Patient feels better. Denies chest pain.")
    assert s == {"subjective": "Patient feels better. Denies chest pain.", "objective": "", "assessment": "", "plan": ""}


def test_impression_and_plan_range():
    text = "Vitals: pulse sixty. Impression: stable angina. Plan: continue aspirin."
    s = split_sections(text)
    assert (s["objective"], s["assessment"], s["plan"]) == ("Vitals: pulse sixty.", "stable angina.", "continue aspirin.")
    a, b = plan_range(text)
    assert text[a:b] == "continue aspirin."
    assert plan_range("Doctor: any plans for the weekend?") is None


@pytest.mark.skipif(not CASES, reason="shared dev cases not present")
@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_dev_cases_have_all_parts(case):
    s = split_sections(case["expected"]["transcript"])
    assert all(s[k] for k in ("subjective", "objective", "assessment", "plan"))
    assert s["objective"].lower().count("blood pressure") == 1
    assert "milligrams" in s["plan"] or "grams" in s["plan"]
    assert "Assessment" not in s["subjective"] + s["objective"]


def test_timed_text_joins_segments_and_maps_words():
    seg1 = Segment(start=0.0, end=1.0, text=" Hello there.", words=[Word(start=0.0, end=0.4, word=" Hello"), Word(start=0.5, end=1.0, word=" there.")])
    seg2 = Segment(start=1.2, end=2.0, text=" Plan: rest.", words=[])
    tt = TimedText.of(Transcript(segments=[seg1, seg2]))
    assert tt.text == "Hello there. Plan: rest."
    ev = tt.evidence(tt.text.index("there"), tt.text.index("there") + 5)
    assert (ev.start, ev.end, ev.text) == (0.5, 1.0, "there")
    ev2 = tt.evidence(tt.text.index("rest"), tt.text.index("rest") + 4)
    assert (ev2.start, ev2.end) == (1.2, 2.0)  # no words: the segment's times


def test_sentence_spans():
    spans = sentence_spans(timed("Blood pressure is fine. Heart rate sixty.", per_word=1.0))
    assert spans == [("Blood pressure is fine.", 0.0, 3.8), ("Heart rate sixty.", 4.0, 6.8)]
    assert sentence_spans(Transcript(text="One. Two.")) == [("One.", None, None), ("Two.", None, None)]


def test_sentences_keep_dosing_abbreviations():
    from clinidoc.extraction.sections import sentences

    t = "Plan: metformin 500 mg b.i.d. Continue lisinopril 10 mg p.o. q.d. for now. ok . i see. Dr. Smith agrees."
    assert [t[a:b] for a, b in sentences(t)] == [
        "Plan: metformin 500 mg b.i.d.",
        "Continue lisinopril 10 mg p.o. q.d. for now.",
        "ok .",
        "i see.",
        "Dr. Smith agrees.",
    ]


def test_plan_is_to_counts_as_a_plan_heading():
    s = split_sections("History of CAD. The plan is to start clopidogrel.")
    assert (s["subjective"], s["plan"]) == ("History of CAD.", "start clopidogrel.")
