"""ICD-10-CM helpers and the curated synonym table."""

import csv
import time

import pytest
import simple_icd_10_cm as cm

from clinidoc.knowledge import icd10


def test_every_synonym_code_is_a_valid_billable_leaf():
    with open(icd10.RESOURCES / "icd10_synonyms.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) >= 150
    bad = [r for r in rows if not (cm.is_valid_item(r["code"]) and cm.is_leaf(r["code"]))]
    assert bad == []
    phrases = [icd10.normalise_phrase(r["phrase"]) for r in rows]
    assert len(phrases) == len(set(phrases)), "duplicate phrases in the synonym table"


@pytest.mark.parametrize("raw,expected", [("i4891", "I48.91"), ("I48.91", "I48.91"), ("i10", "I10"),
                                          (" e11.65 ", "E11.65"), ("Z7901", "Z79.01")])
def test_normalise_code(raw, expected):
    assert icd10.normalise_code(raw) == expected


def test_exists_billable_description():
    assert icd10.exists("I48.91") and icd10.is_billable("i4891")
    assert icd10.exists("I48") and not icd10.is_billable("I48")
    assert not icd10.exists("I48.99") and not icd10.exists("XYZ") and not icd10.exists("")
    assert icd10.description("I10") == "Essential (primary) hypertension"
    assert icd10.description("Q99.99") is None


def test_billable_children():
    kids = icd10.billable_children("I48", limit=3)
    assert len(kids) == 3 and all(icd10.is_billable(k) and k.startswith("I48") for k in kids)
    assert icd10.billable_children("I10") == ["I10"]
    assert icd10.billable_children("nonsense") == []


@pytest.mark.parametrize("phrase,code", [
    ("atrial fibrillation", "I48.91"), ("new onset atrial fibrillation", "I48.91"),
    ("permanent atrial fibrillation", "I48.21"), ("essential hypertension", "I10"), ("hypertension", "I10"),
    ("type two diabetes with hyperglycemia", "E11.65"), ("type 2 diabetes", "E11.9"), ("hyperlipidemia", "E78.5"),
    ("acute on chronic systolic heart failure", "I50.23"), ("hyperkalemia", "E87.5"),
    ("acute kidney injury", "N17.9"), ("community acquired pneumonia", "J18.9"), ("supratherapeutic INR", "R79.1"),
    ("long term (current) use of anticoagulants", "Z79.01"), ("hypothyroidism", "E03.9"),
    ("generalized anxiety disorder", "F41.1"), ("NSTEMI", "I21.4"), ("non S T elevation myocardial infarction", "I21.4"),
    ("acute cystitis without hematuria", "N30.00"),
])
def test_search_synonyms(phrase, code):
    hits = icd10.search(phrase)
    assert hits and hits[0][0] == code
    assert hits[0][2] >= 95


@pytest.mark.parametrize("phrase,code", [
    ("pneumonia due to streptococcus pneumoniae", "J13"),
    ("hypertensive heart disease without heart failure", "I11.9"),
    ("iron deficiency anemia secondary to blood loss", "D50.0"),
])
def test_search_fuzzy_fallback_returns_billable_codes(phrase, code):
    hits = icd10.search(phrase, limit=5)
    assert code in [h[0] for h in hits]
    assert all(icd10.is_billable(h[0]) for h in hits)
    assert [h[2] for h in hits] == sorted((h[2] for h in hits), reverse=True)


def test_search_is_fast_after_warm_up():
    icd10.search("warm up")
    t = time.perf_counter()
    for q in ("chronic migraine without aura", "fracture of left wrist", "otitis externa"):
        icd10.search(q)
    assert (time.perf_counter() - t) / 3 < 0.2
