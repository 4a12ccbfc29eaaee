import pytest

from clinidoc.encounter import Transcript
from clinidoc.extraction.vitals import extract_vitals

from ._dev import dev_cases, timed

FIELDS = ("systolic_bp", "diastolic_bp", "heart_rate", "respiratory_rate", "temperature_c", "spo2", "weight_kg")
CASES = dev_cases()


def _values(v):
    return {f: getattr(v, f) for f in FIELDS if getattr(v, f) is not None}


@pytest.mark.skipif(not CASES, reason="shared dev cases not present")
@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_dev_case_vitals(case):
    got = extract_vitals(Transcript(text=case["expected"]["transcript"]))
    expected = {k: v for k, v in case["expected"]["vitals"].items() if v is not None}
    assert _values(got) == expected
    # untimed transcript: evidence carries the phrase, no times
    ev = got.evidence["systolic_bp"]
    assert ev.source == "transcript" and ev.start is None and ev.text.lower().startswith("blood pressure")


def test_digits_fahrenheit_pounds():
    text = (
        "Blood pressure 138 over 86, pulse 72, respiratory rate 18, temperature 101.3 Fahrenheit, "
        "O2 sat 94% on room air. Weight 180 pounds."
    )
    assert _values(extract_vitals(Transcript(text=text))) == {
        "systolic_bp": 138, "diastolic_bp": 86, "heart_rate": 72, "respiratory_rate": 18,
        "temperature_c": 38.5, "spo2": 94, "weight_kg": 81.6,
    }


def test_spoken_fahrenheit_and_slash_bp():
    text = "BP 148/92. Temp ninety-eight point six. SpO2 ninety-nine percent. Weighs seventy kilograms."
    assert _values(extract_vitals(Transcript(text=text))) == {
        "systolic_bp": 148, "diastolic_bp": 92, "temperature_c": 37.0, "spo2": 99, "weight_kg": 70,
    }


def test_ekg_rate_and_weight_gain_are_not_vitals():
    text = (
        "Six pound weight gain. EKG shows atrial fibrillation, ventricular rate about eighty-four. "
        "Telemetry heart rate one ten. Blood pressure goal less than one thirty."
    )
    assert _values(extract_vitals(Transcript(text=text))) == {}


def test_heart_rate_given_elsewhere_wins_over_ekg():
    text = "EKG shows sinus rhythm, rate ninety-three. Heart rate ninety, blood pressure one twenty over eighty."
    v = extract_vitals(Transcript(text=text))
    assert (v.heart_rate, v.systolic_bp, v.diastolic_bp) == (90, 120, 80)


def test_evidence_times_come_from_words():
    tr = timed("Alert. Blood pressure one thirty-eight over eighty-six, heart rate eighty-four.")
    v = extract_vitals(tr)
    # words: 0 Alert. 1 Blood 2 pressure 3 one 4 thirty-eight 5 over 6 eighty-six, 7 heart 8 rate 9 eighty-four.
    assert (v.evidence["systolic_bp"].start, v.evidence["systolic_bp"].end) == (0.4, 2.72)
    assert (v.evidence["heart_rate"].start, v.evidence["heart_rate"].end) == (2.8, 3.92)
    assert v.evidence["heart_rate"].text == "heart rate eighty-four"
