"""Metrics on small hand-made cases whose answers are worked out by hand."""

from __future__ import annotations

import pytest

from clinidoc.evaluation import metrics as M
from clinidoc.evaluation.metrics import Counts, aggregate, match_counts, score_case


def test_counts_ratios_and_f1_edge_cases():
    c = Counts(tp=2, fp=1, fn=2)
    assert c.precision == pytest.approx(2 / 3)
    assert c.recall == pytest.approx(0.5)
    assert c.f1 == pytest.approx(4 / 7)
    assert Counts(0, 0, 3).f1 == 0.0  # expected items, nothing produced: F1 0, not undefined
    assert Counts(0, 0, 3).precision is None
    assert Counts().f1 is None and Counts().recall is None


def test_match_counts_is_a_multiset_match():
    c = match_counts(["a", "a", "b"], ["a", "c"])
    assert (c.tp, c.fp, c.fn) == (1, 1, 2)


EXPECTED_MEDS = [
    {"name": "metoprolol", "dose": 25, "unit": "mg", "route": "PO", "frequency": "BID"},
    {"name": "apixaban", "dose": 5, "unit": "mg", "route": "PO", "frequency": "BID"},
    {"name": "lisinopril", "dose": 20, "unit": "mg", "route": "PO", "frequency": "daily"},
]


def test_medications_three_levels():
    produced = [
        # brand/salt spelled differently, route and frequency in words: still an exact full match
        {"name": "Metoprolol Tartrate", "dose": 25.0, "unit": "milligrams", "route": "by mouth", "frequency": "twice daily"},
        {"name": "apixaban", "dose": 2.5, "unit": "mg", "route": "PO", "frequency": "BID"},  # wrong dose
        {"name": "lisinopril", "dose": 20, "unit": "mg", "route": "PO", "frequency": "BID"},  # wrong frequency
        {"name": "aspirin", "dose": 81, "unit": "mg", "route": "PO", "frequency": "daily"},  # not dictated
    ]
    s = M.score_medications(EXPECTED_MEDS, produced)
    assert (s["name"].tp, s["name"].fp, s["name"].fn) == (3, 1, 0)
    assert (s["dose"].tp, s["dose"].fp, s["dose"].fn) == (2, 2, 1)
    assert (s["full"].tp, s["full"].fp, s["full"].fn) == (1, 3, 2)
    assert s["name"].recall == 1.0 and s["full"].f1 == pytest.approx(2 / 7)
    assert "status" not in s  # no statuses expected, none scored


def test_medication_status_level_when_the_dataset_gives_statuses():
    expected = [{"name": "lisinopril", "status": "continue"}, {"name": "metoprolol", "status": "start"}]
    produced = [{"name": "lisinopril", "status": "start"}, {"name": "metoprolol", "status": "start"}]
    s = M.score_medications(expected, produced)
    assert (s["name"].tp, s["status"].tp, s["status"].fp, s["status"].fn) == (2, 1, 1, 1)


def test_frequency_route_unit_normalisation():
    assert M.norm_frequency("BID") == M.norm_frequency("twice a day") == "bid"
    assert M.norm_frequency("daily PRN") == M.norm_frequency("once daily as needed") == "daily prn"
    assert M.norm_frequency("q6h") == "q6h"
    assert M.norm_route("PO") == M.norm_route("orally") == "po"
    assert M.norm_unit("µg") == M.norm_unit("mcg")
    assert M.norm_dose("25") == M.norm_dose(25.0) == 25.0


def test_diagnoses_text_and_codes():
    expected = [{"text": "atrial fibrillation", "icd10": "I48.91"}, {"text": "essential hypertension", "icd10": "I10"},
                {"text": "type 2 diabetes mellitus", "icd10": "E11.9"}]
    produced = [{"text": "New onset atrial fibrillation", "icd10": "I48.0"},  # words match, code same category
                {"text": "Essential (primary) hypertension", "icd10": "I10"},
                {"text": "hyperlipidemia", "icd10": "E78.5"}]
    s = M.score_diagnoses(expected, produced)
    assert (s["text"].tp, s["text"].fp, s["text"].fn) == (2, 1, 1)
    assert (s["icd10_exact"].tp, s["icd10_exact"].fp, s["icd10_exact"].fn) == (1, 2, 2)
    assert (s["icd10_category"].tp, s["icd10_category"].fp, s["icd10_category"].fn) == (2, 1, 1)
    assert not M.diagnosis_text_match("heart failure", "renal failure")


def test_vitals_per_key_exact_numbers():
    expected = {"systolic_bp": 138, "diastolic_bp": 86, "heart_rate": 84, "temperature_c": 36.8}
    produced = {"systolic_bp": 138.0, "diastolic_bp": 68.0, "heart_rate": None, "temperature_c": 36.8, "spo2": 97.0}
    s = M.score_vitals(expected, produced)
    assert s["systolic_bp"].tp == 1
    assert (s["diastolic_bp"].fp, s["diastolic_bp"].fn) == (1, 1)  # wrong number counts both ways
    assert (s["heart_rate"].tp, s["heart_rate"].fn) == (0, 1)
    assert s["temperature_c"].tp == 1
    assert (s["spo2"].fp, s["spo2"].fn) == (1, 0)  # produced but never dictated
    assert "weight_kg" not in s


def test_labs_match_by_canonical_name_value_unit_flag():
    expected = [{"test": "Potassium", "value": 5.9, "unit": "mmol/L", "flag": "H"},
                {"test": "Creatinine", "value": 0.9, "unit": "mg/dL", "flag": "N"},
                {"test": "eGFR", "value": ">60", "unit": "mL/min/1.73m2", "flag": "N"}]
    produced = [{"test": "K", "value": 5.9, "unit": "mmol/L", "flag": "H"},  # synonym of potassium
                {"test": "Creatinine", "value": 0.9, "unit": "mg/dL", "flag": None},  # blank flag = N
                {"test": "eGFR", "value": "> 60", "unit": "mL/min/1.73m2", "flag": "L"}]  # wrong flag
    s = M.score_labs(expected, produced)
    assert (s["test"].tp, s["test"].fp, s["test"].fn) == (3, 0, 0)
    assert (s["full"].tp, s["full"].fp, s["full"].fn) == (2, 1, 1)
    assert s["flag"].tp == 2


def test_ecg_and_warnings():
    e = M.score_ecg({"rhythm": "atrial_fibrillation", "heart_rate_bpm": 84},
                    [{"rhythm": "atrial_fibrillation", "heart_rate_bpm": 90.5}])
    assert e["rhythm_correct"] == 1 and e["hr_abs_error"] == pytest.approx(6.5)
    missing = M.score_ecg({"rhythm": "sinus_rhythm"}, [])
    assert missing["rhythm_correct"] == 0 and missing["rhythm_total"] == 1
    w = M.score_warnings(["allergy_conflict", "critical_lab"],
                         ["critical_lab", "ecg_abnormal", "unsupported_claim", "dose_out_of_range", "critical_lab"])
    assert (w["counts"].tp, w["counts"].fp, w["counts"].fn) == (1, 1, 1)  # other codes ignored, duplicates once
    assert w["missed"] == ["allergy_conflict"] and w["false"] == ["dose_out_of_range"]


def test_transcript_wer_cer_with_spoken_and_written_numbers():
    ref = "Blood pressure one thirty-eight over eighty-six. Start metoprolol twenty-five milligrams twice daily."
    hyp = "blood pressure 138 over 86, start metoprolol 25 mg twice daily"
    t = M.score_transcript(ref, hyp)
    assert t["word_errors"] == 0 and t["wer"] == 0.0 and t["cer"] == 0.0
    t2 = M.score_transcript(ref, "blood pressure 138 over 68 start metoprolol 25 mg twice")
    assert t2["ref_words"] == 11
    assert t2["word_errors"] == 2 and t2["wer"] == pytest.approx(2 / 11, abs=1e-4)
    assert t2["char_errors"] > 0
    d = M.score_transcript("start apixaban and metoprolol", "start a picks a band and metoprolol")["drug_names"]
    assert (d.tp, d.fn) == (1, 1)


def test_rouge_l_known_values():
    r = M.rouge_l("the cat sat on the mat", "the cat on the mat")
    assert r["lcs"] == 5
    assert r["precision"] == 1.0 and r["recall"] == pytest.approx(5 / 6, abs=1e-4)
    assert r["f1"] == pytest.approx(2 * (5 / 6) / (1 + 5 / 6), abs=1e-4)
    assert M.rouge_l("a b c", "x y")["f1"] == 0.0


def test_reference_note_split_problems_and_recall():
    note = ("CHIEF COMPLAINT\n\nFollow-up.\n\nHISTORY OF PRESENT ILLNESS\n\nHe takes lisinopril 20 mg a day.\n\n"
            "PHYSICAL EXAMINATION\n\nLungs clear.\n\nASSESSMENT AND PLAN\n\nHypertension.\n"
            "• Medical Treatment: Continue lisinopril 20 mg daily.\n\nAtrial fibrillation.\n• Start apixaban 5 mg twice daily.\n")
    groups = M.split_reference_note(note)
    assert "lisinopril 20 mg a day" in groups["subjective"] and groups["objective"] == "Lungs clear."
    problems = M.reference_problems(groups["assessment_plan"])
    assert [p["icd10"][:3] for p in problems] == ["I10", "I48"]
    produced = {"note": {"sections": {"subjective": "He takes lisinopril 20 mg a day.", "objective": "Lungs clear.",
                                      "assessment": "Hypertension.", "plan": ""},
                         "medications": [{"name": "lisinopril"}], "diagnoses": [{"text": "hypertension", "icd10": "I10"}]}}
    s = M.score_reference_note(note, produced)
    assert s["rouge_l"]["objective"]["f1"] == 1.0
    assert (s["drugs"].tp, s["drugs"].fn) == (1, 1)  # apixaban missing
    assert (s["problems"].tp, s["problems"].fn) == (1, 1)


def _case_doc(meds, warnings=(), sections=None, timings=None):
    return {"transcript": {"text": "x"}, "labs": [], "ecg": [],
            "note": {"sections": sections or {"subjective": "s", "objective": "", "assessment": "a", "plan": "p"},
                     "medications": meds, "diagnoses": [], "allergies": [], "vitals": {}},
            "warnings": [{"code": c} for c in warnings], "provenance": {"timings_s": timings or {"transcribe": 1.0}}}


def test_score_case_and_aggregate_sum_counts():
    exp = {"medications": EXPECTED_MEDS, "warnings": ["critical_lab"]}
    a = score_case(exp, _case_doc(EXPECTED_MEDS, ["critical_lab", "unsupported_claim"]),
                   required_sections=["subjective", "objective", "assessment", "plan"])
    b = score_case(exp, _case_doc(EXPECTED_MEDS[:1], ["allergy_conflict"], timings={"transcribe": 3.0, "draft": 2.0}),
                   required_sections=["subjective", "objective", "assessment", "plan"])
    assert a["medications"]["full"]["f1"] == 1.0 and b["medications"]["name"]["recall"] == pytest.approx(1 / 3, abs=1e-4)
    assert a["sections"] == {"filled": 3, "required": 4, "empty": ["objective"]}
    o = aggregate([a, b])
    assert o["medications"]["name"]["tp"] == 4 and o["medications"]["name"]["fn"] == 2
    assert o["medications"]["name"]["recall"] == pytest.approx(4 / 6, abs=1e-4)
    assert o["warnings"]["recall"] == 0.5 and o["warnings"]["fp"] == 1 and o["warnings"]["false_per_case"] == 0.5
    assert o["unsupported_claims"] == {"total": 1, "per_case": 0.5}
    assert o["sections"]["completeness"] == 0.75
    assert o["timings_s"]["transcribe"]["mean"] == 2.0 and o["timings_s"]["draft"]["total"] == 2.0
    flat = M.headline(o)
    assert flat["medications.name.f1"] == o["medications"]["name"]["f1"]
    assert M.lower_is_better("transcript.wer") and not M.lower_is_better("medications.name.f1")
