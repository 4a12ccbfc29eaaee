import time

import pytest

from clinidoc.encounter import Patient, Transcript
from clinidoc.extraction.medications import extract_medications

from ._dev import dev_cases, timed

KEYS = ("name", "dose", "unit", "route", "frequency", "status")
CASES = dev_cases()


def _rows(meds):
    return [tuple(getattr(m, k) for k in KEYS) for m in meds]


def meds(text, patient=None):
    return _rows(extract_medications(Transcript(text=text), patient))


@pytest.mark.skipif(not CASES, reason="shared dev cases not present")
@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_dev_case_medications(case):
    got = extract_medications(Transcript(text=case["expected"]["transcript"]), Patient(**case["patient"]))
    expected = [tuple(m[k] for k in KEYS) for m in case["expected"]["medications"]]
    assert sorted(_rows(got), key=str) == sorted(expected, key=str)
    assert all(m.evidence and m.evidence[0].text for m in got)


def test_plan_only_and_history_informs_status():
    text = (
        "History of hypertension on lisinopril. Reports adherence to metformin five hundred milligrams "
        "twice daily. Assessment: diabetes. Plan: increase metformin to one thousand milligrams by mouth "
        "twice daily. Lisinopril twenty milligrams by mouth daily. Start empagliflozin ten milligrams by mouth daily."
    )
    assert meds(text) == [
        ("metformin", 1000, "mg", "PO", "BID", "change"),
        ("lisinopril", 20, "mg", "PO", "daily", "continue"),
        ("empagliflozin", 10, "mg", "PO", "daily", "start"),
    ]


def test_from_to_takes_the_new_dose():
    text = "Plan: increase levothyroxine from seventy-five to one hundred micrograms by mouth daily."
    assert meds(text) == [("levothyroxine", 100, "mcg", "PO", "daily", "change")]


def test_stop_list_and_hold_then_resume():
    text = (
        "Plan: Stop lisinopril and spironolactone. Hold warfarin for two days. "
        "Then resume warfarin at two milligrams by mouth daily."
    )
    patient = Patient(medications=["warfarin 5 mg daily", "lisinopril 10 mg daily"])
    assert meds(text, patient) == [
        ("lisinopril", None, None, None, None, "stop"),
        ("spironolactone", None, None, None, None, "stop"),
        ("warfarin", 2, "mg", "PO", "daily", "change"),
    ]


def test_no_verb_status_from_medication_list():
    patient = Patient(medications=["furosemide 20 mg daily", "amlodipine 5 mg daily"])
    text = "Plan: furosemide forty milligrams intravenously twice daily. Amlodipine five milligrams by mouth daily."
    assert meds(text, patient) == [
        ("furosemide", 40, "mg", "IV", "BID", "change"),
        ("amlodipine", 5, "mg", "PO", "daily", "continue"),
    ]


def test_unusual_numbers_and_units():
    text = (
        "Plan: Metoprolol tartrate twenty-five hundred milligrams by mouth twice daily. "
        "Digoxin zero point one two five milligrams by mouth daily. "
        "Sodium zirconium cyclosilicate ten grams by mouth three times daily. "
        "Acetaminophen six hundred fifty milligrams by mouth every six hours, as needed for fever. "
        "Ticagrelor one hundred eighty milligrams by mouth once. "
        "Aspirin eighty-one milligrams by mouth daily, he received a full dose in the emergency department."
    )
    assert meds(text) == [
        ("metoprolol", 2500, "mg", "PO", "BID", "start"),
        ("digoxin", 0.125, "mg", "PO", "daily", "start"),
        ("sodium zirconium cyclosilicate", 10, "g", "PO", "TID", "start"),
        ("acetaminophen", 650, "mg", "PO", "q6h PRN", "start"),
        ("ticagrelor", 180, "mg", "PO", "once", "start"),
        ("aspirin", 81, "mg", "PO", "daily", "start"),
    ]


def test_abbreviations_and_other_phrasing():
    text = (
        "Plan: lisinopril 10 mg p.o. q.d. Atorvastatin 40 milligram nightly. "
        "Cephalexin 500 mg per os every 8 hours for 7 days. Insulin glargine 20 units subcutaneously at bedtime. "
        "Albuterol 2 puffs inhaled every 4 hours as needed for wheezing. Metformin 500 mg b.i.d. "
        "Enoxaparin 40 mg SC q.d. Ondansetron 4 mg IV q8h PRN nausea. Discontinue glipizide."
    )
    assert meds(text) == [
        ("lisinopril", 10, "mg", "PO", "daily", "start"),
        ("atorvastatin", 40, "mg", None, "QHS", "start"),
        ("cephalexin", 500, "mg", "PO", "q8h", "start"),
        ("insulin glargine", 20, "units", "SC", "QHS", "start"),
        ("albuterol", 2, "puffs", "INH", "q4h PRN", "start"),
        ("metformin", 500, "mg", None, "BID", "start"),
        ("enoxaparin", 40, "mg", "SC", "daily", "start"),
        ("ondansetron", 4, "mg", "IV", "q8h PRN", "start"),
        ("glipizide", None, None, None, None, "stop"),
    ]


def test_tiny_en_digits_and_misspelling():
    text = (
        "Blood pressure 138 over 86. Assessment: atrial fibrillation. Plan: start metoprolol tartrate "
        "25 milligrams by mouth twice daily. Start apixiban 5 milligrams by mouth twice daily. "
        "Continue lisinopril 20 mg by mouth daily."
    )
    patient = Patient(medications=["lisinopril 20 mg daily"])
    assert meds(text, patient) == [
        ("metoprolol", 25, "mg", "PO", "BID", "start"),
        ("apixaban", 5, "mg", "PO", "BID", "start"),
        ("lisinopril", 20, "mg", "PO", "daily", "continue"),
    ]
    # a weak look-alike before a dose is not turned into a drug
    assert meds("Plan: start apixxxxban 5 milligrams daily.") == []
    # after an order verb, with no dose
    assert meds("Plan: Stop lisinoprel. Continue the atorvastatin.") == [
        ("lisinopril", None, None, None, None, "stop"),
        ("atorvastatin", None, None, None, None, "continue"),
    ]
    assert meds("Plan: continue exercise. Start walking daily.") == []


def test_dialogue_without_plan_takes_dosed_or_prescribed_mentions():
    text = (
        "Doctor: What do you take? Patient: I take lisinopril 20 milligrams once a day and my inhaler. "
        "Doctor: I read that aspirin helps some people. Your sugar is high, so let's increase the metformin "
        "to 1000 milligrams twice a day and start atorvastatin 20 milligrams at night."
    )
    patient = Patient(medications=["lisinopril 20 mg daily", "metformin 500 mg BID"])
    assert meds(text, patient) == [
        ("lisinopril", 20, "mg", None, "daily", "continue"),
        ("metformin", 1000, "mg", None, "BID", "change"),
        ("atorvastatin", 20, "mg", None, "QHS", "start"),
    ]


def test_switch_and_negation():
    text = "Plan: switch lisinopril to losartan fifty milligrams daily. Avoid ibuprofen. Allergic to penicillin."
    assert meds(text) == [
        ("lisinopril", None, None, None, None, "stop"),
        ("losartan", 50, "mg", None, "daily", "start"),
    ]


def test_evidence_times_and_speed():
    text = (
        "Dictation for a patient seen today for palpitations. " * 12
        + "Assessment: atrial fibrillation. Plan: start metoprolol tartrate twenty-five milligrams by mouth "
        "twice daily. Continue lisinopril twenty milligrams by mouth daily."
    )
    tr = timed(text, per_word=0.4)
    patient = Patient(medications=["lisinopril 20 mg daily"])
    extract_medications(tr, patient)  # warm-up: dictionary load
    t0 = time.perf_counter()
    got = extract_medications(tr, patient)
    elapsed = time.perf_counter() - t0
    assert elapsed < 0.05
    ev = got[0].evidence[0]
    words = tr.text.split()
    i = words.index("metoprolol")
    assert ev.start == pytest.approx(i * 0.4) and ev.end > ev.start
    assert ev.text == "metoprolol tartrate twenty-five milligrams by mouth twice daily"


def test_assessment_mentions_and_context():
    text = (
        "Assessment: hypertension, well controlled on lisinopril twenty milligrams daily, and "
        "supratherapeutic INR on long term warfarin. Plan: recheck INR while on warfarin. "
        "Warfarin education given. Glucose 112 mg/dL. Tylenol as needed for pain. "
        "Atorvastatin dose from forty to eighty milligrams nightly."
    )
    assert meds(text) == [
        ("lisinopril", 20, "mg", None, "daily", "continue"),
        ("acetaminophen", None, None, None, "PRN", "start"),
        ("atorvastatin", 80, "mg", None, "QHS", "change"),
    ]


def test_frequency_phrases():
    text = (
        "Plan: alendronate seventy milligrams by mouth once weekly. Melatonin three milligrams once nightly. "
        "Lorazepam zero point five milligrams at bedtime as needed for sleep. Vancomycin one gram IV q12h. "
        "Prednisone forty milligrams by mouth every morning. Cefazolin two grams IV every eight hours."
    )
    assert [(m[0], m[4]) for m in meds(text)] == [
        ("alendronate", "weekly"), ("melatonin", "QHS"), ("lorazepam", "QHS PRN"),
        ("vancomycin", "q12h"), ("prednisone", "daily"), ("cefazolin", "q8h"),
    ]


def test_typed_dialogue_segments_have_no_times():
    from clinidoc.encounter import Segment

    tr = Transcript(
        text="",
        segments=[
            Segment(start=0, end=0, text="so we will start lisinopril ten milligrams daily", speaker="doctor"),
            Segment(start=0, end=0, text="okay thanks", speaker="patient"),
        ],
    )
    (med,) = extract_medications(tr)
    assert (med.name, med.dose, med.frequency, med.status) == ("lisinopril", 10, "daily", "start")
    assert med.evidence[0].start is None and med.evidence[0].text == "lisinopril ten milligrams daily"
