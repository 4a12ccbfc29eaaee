import pytest

from clinidoc.encounter import Patient, Transcript
from clinidoc.extraction.allergies import extract_allergies

from ._dev import dev_cases

CASES = dev_cases()


def allergies(text, patient=None):
    return [(a.substance, a.reaction) for a in extract_allergies(Transcript(text=text), patient)]


@pytest.mark.skipif(not CASES, reason="shared dev cases not present")
@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_dev_case_allergies(case):
    got = extract_allergies(Transcript(text=case["expected"]["transcript"]), Patient(**case["patient"]))
    assert [a.substance for a in got] == case["expected"]["allergies"]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Allergy to penicillin, which causes hives.", [("penicillin", "hives")]),
        ("Allergy to sulfa drugs, rash.", [("sulfa", "rash")]),
        ("Latex allergy, no drug allergies.", [("latex", None)]),
        ("No known drug allergies.", []),
        ("NKDA.", []),
        ("Allergic to penicillin and sulfa, causing anaphylaxis.", [("penicillin", "anaphylaxis"), ("sulfa", "anaphylaxis")]),
        ("Allergies include latex, codeine.", [("latex", None), ("codeine", None)]),
        ("Shellfish allergy causes throat swelling.", [("shellfish", "throat swelling")]),
    ],
)
def test_dictated_allergies(text, expected):
    assert allergies(text) == expected


def test_recorded_and_dictated_are_merged_without_duplicates():
    patient = Patient(allergies=["Penicillins", "ciprofloxacin"])
    got = allergies("Allergy to penicillin, which causes hives. Latex allergy.", patient)
    assert got == [("penicillins", "hives"), ("ciprofloxacin", None), ("latex", None)]
