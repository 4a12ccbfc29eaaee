"""Each validation rule: a true positive and a near-miss true negative."""

import time

import pytest

from clinidoc.encounter import (
    Allergy, Diagnosis, EcgFinding, EncounterResult, Evidence, ImageArtifact, LabResult, Medication, Note, Patient,
    Provenance, Transcript,
)
from clinidoc.validation import rules, validate

FULL = {"subjective": "s", "objective": "o", "assessment": "a", "plan": "p"}


def result(meds=(), dx=(), labs=(), ecg=(), images=(), allergies=(), text="", sections=None, patient=None):
    return EncounterResult(
        provenance=Provenance(clinidoc_version="test"), patient=patient, transcript=Transcript(text=text),
        images=list(images), labs=list(labs), ecg=list(ecg),
        note=Note(sections=sections or dict(FULL), diagnoses=list(dx), medications=list(meds),
                  allergies=[Allergy(substance=a) for a in allergies]),
    )


def med(name, dose=None, unit="mg", route="PO", freq="daily", status="start"):
    return Medication(name=name, dose=dose, unit=unit if dose is not None else None, route=route, frequency=freq,
                      status=status)


def lab(test, value, flag=None, unit=None, code=None, ref_high=None):
    return LabResult(test=test, code=code, value=value, unit=unit, flag=flag, reference_high=ref_high,
                     source=Evidence(source="labs.png"))


def codes(issues):
    return [i.code for i in issues]


# ---- ICD-10

def test_invalid_icd10():
    issues = rules.invalid_icd10(result(dx=[Diagnosis(text="atrial fibrillation", icd10="I48.99")]), None)
    assert codes(issues) == ["invalid_icd10"] and issues[0].severity == "error"
    assert issues[0].field == "note.diagnoses[0].icd10" and "I48.91" in issues[0].suggestion
    assert rules.invalid_icd10(result(dx=[Diagnosis(text="atrial fibrillation", icd10="i4891")]), None) == []


def test_non_billable_icd10():
    issues = rules.non_billable_icd10(result(dx=[Diagnosis(text="atrial fibrillation", icd10="I48")]), None)
    assert codes(issues) == ["non_billable_icd10"] and "I48.0" in issues[0].suggestion
    assert rules.non_billable_icd10(result(dx=[Diagnosis(text="hypertension", icd10="I10")]), None) == []


def test_icd10_text_mismatch():
    issues = rules.icd10_text_mismatch(result(dx=[Diagnosis(text="hypothyroidism", icd10="I10")]), None)
    assert codes(issues) == ["icd10_text_mismatch"] and "E03.9" in issues[0].suggestion
    ok = [Diagnosis(text="NSTEMI", icd10="I21.4"), Diagnosis(text="atrial fibrillation", icd10="I48.91"),
          Diagnosis(text="supratherapeutic INR", icd10="R79.1"), Diagnosis(text="AKI", icd10="N17.9"),
          Diagnosis(text="type 2 diabetes with high sugars", icd10="E11.65")]
    assert rules.icd10_text_mismatch(result(dx=ok), None) == []


# ---- medications

def test_unknown_drug():
    pytest.importorskip("drug_named_entity_recognition")
    issues = rules.unknown_drug(result(meds=[med("apixiban", 5, freq="BID")]), None)
    assert codes(issues) == ["unknown_drug"] and issues[0].suggestion == "Did you mean apixaban?"
    assert rules.unknown_drug(result(meds=[med("apixaban", 5, freq="BID"), med("Lopressor", 25)]), None) == []


def test_duplicate_medication():
    same = rules.duplicate_medication(result(meds=[med("metoprolol", 25), med("metoprolol", 50)]), None)
    assert codes(same) == ["duplicate_medication"]
    cls = rules.duplicate_medication(result(meds=[med("warfarin", 5), med("apixaban", 5, freq="BID")]), None)
    assert codes(cls) == ["duplicate_medication"] and "anticoagulants" in cls[0].message
    assert codes(rules.duplicate_medication(result(meds=[med("lisinopril", 10), med("enalapril", 10)]), None)) \
        == ["duplicate_medication"]
    # near misses: different classes; a stopped drug replaced by another of its class
    assert rules.duplicate_medication(result(meds=[med("aspirin", 81), med("ticagrelor", 90, freq="BID"),
                                                   med("atorvastatin", 80), med("metoprolol", 25)]), None) == []
    assert rules.duplicate_medication(result(meds=[med("simvastatin", status="stop"), med("atorvastatin", 40)]),
                                      None) == []


@pytest.mark.parametrize("allergy,drug,severity", [
    ("penicillin", "amoxicillin", "error"), ("penicillin", "piperacillin", "error"),
    ("sulfa", "sulfamethoxazole", "error"), ("ciprofloxacin", "levofloxacin", "error"),
    ("ciprofloxacin", "moxifloxacin", "error"), ("NSAIDs", "ibuprofen", "error"), ("statins", "rosuvastatin", "error"),
    ("penicillin", "cephalexin", "warning"), ("amoxicillin", "amoxicillin", "error"),
    ("Penicillin (hives)", "ampicillin", "error"), ("allergic to sulfa drugs: rash", "Bactrim", "error"),
    ("codeine", "morphine", "warning"),
])
def test_allergy_conflict(allergy, drug, severity):
    issues = rules.allergy_conflict(result(meds=[med(drug, 500)]), Patient(allergies=[allergy]))
    assert codes(issues) == ["allergy_conflict"] and issues[0].severity == severity
    assert issues[0].field == "note.medications[0].name"


@pytest.mark.parametrize("allergy,drug", [
    ("codeine", "furosemide"), ("latex", "amoxicillin"), ("sulfa", "levofloxacin"), ("penicillin", "azithromycin"),
    ("ciprofloxacin", "phenazopyridine"),
])
def test_no_allergy_conflict(allergy, drug):
    assert rules.allergy_conflict(result(meds=[med(drug, 40)]), Patient(allergies=[allergy])) == []


def test_allergy_from_note_and_stopped_drug():
    r = result(meds=[med("amoxicillin", 500, freq="TID")], allergies=["Penicillins"])
    assert codes(rules.allergy_conflict(r, None)) == ["allergy_conflict"]
    r = result(meds=[med("amoxicillin", status="stop")], allergies=["penicillin"])
    assert rules.allergy_conflict(r, None) == []


@pytest.mark.parametrize("name,dose,unit,route,freq", [
    ("metoprolol", 2500, "mg", "PO", "BID"), ("atorvastatin", 400, "mg", "PO", "QHS"),
    ("atorvastatin", 60, "mg", "PO", "BID"), ("levothyroxine", 1, "mg", "PO", "daily"),
    ("acetaminophen", 1000, "mg", "PO", "q4h PRN"), ("digoxin", 2.5, "mg", "PO", "daily"),
    ("sodium zirconium cyclosilicate", 10, "g", "PO", "QID"), ("colchicine", 1.2, "mg", "PO", "TID"),
])
def test_dose_out_of_range_fires(name, dose, unit, route, freq):
    issues = rules.dose_out_of_range(result(meds=[med(name, dose, unit, route, freq)]), None)
    assert codes(issues) == ["dose_out_of_range"] and issues[0].field == "note.medications[0].dose"
    assert name in issues[0].message and "label" in issues[0].message


@pytest.mark.parametrize("name,dose,unit,route,freq", [
    ("metoprolol", 25, "mg", "PO", "BID"), ("apixaban", 5, "mg", "PO", "BID"), ("lisinopril", 20, "mg", "PO", "daily"),
    ("metformin", 1000, "mg", "PO", "BID"), ("furosemide", 40, "mg", "IV", "BID"), ("digoxin", 0.125, "mg", "PO", "daily"),
    ("levothyroxine", 100, "mcg", "PO", "daily"), ("amoxicillin", 1000, "mg", "PO", "TID"),
    ("azithromycin", 500, "mg", "PO", "daily"), ("acetaminophen", 650, "mg", "PO", "q6h PRN"),
    ("aspirin", 81, "mg", "PO", "daily"), ("ticagrelor", 180, "mg", "PO", "once"), ("atorvastatin", 80, "mg", "PO", "daily"),
    ("levofloxacin", 250, "mg", "PO", "daily"), ("phenazopyridine", 200, "mg", "PO", "TID"),
    ("amlodipine", 5, "mg", "PO", "daily"), ("sertraline", 50, "mg", "PO", "daily"), ("warfarin", 2, "mg", "PO", "daily"),
    ("phytonadione", 2.5, "mg", "PO", "once"), ("sodium zirconium cyclosilicate", 10, "g", "PO", "TID"),
    ("metoprolol", 50, "mg", "PO", "daily"), ("levothyroxine", 0.1, "mg", "PO", "daily"),
    ("Lopressor", 50, "mg", "PO", "BID"), ("alendronate", 70, "mg", "PO", "weekly"),
])
def test_dose_in_range_does_not_fire(name, dose, unit, route, freq):
    assert rules.dose_out_of_range(result(meds=[med(name, dose, unit, route, freq)]), None) == []


@pytest.mark.parametrize("freq,per_day", [("daily", 1), ("BID", 2), ("TID", 3), ("QID", 4), ("QHS", 1), ("q6h", 4),
                                          ("q8h", 3), ("q12h", 2), ("once", 1), ("three times daily", 3), ("every six hours as needed", 4), ("q6h PRN", 4), ("q4-6h PRN", 6),
                                          ("PRN", None), (None, None)])
def test_doses_per_day(freq, per_day):
    assert rules.doses_per_day(freq) == per_day
    assert rules.doses_per_day("weekly") == pytest.approx(1 / 7)


def test_convert_units():
    assert rules.convert(100, "mcg", "mg") == pytest.approx(0.1)
    assert rules.convert(10, "g", "mg") == 10000 and rules.convert(5, "mL", "mg") is None


# ---- labs and ECG

def test_critical_lab():
    assert codes(rules.critical_lab(result(labs=[lab("Potassium", 6.4, "HH", "mmol/L")]), None)) == ["critical_lab"]
    # beyond the table even when the report did not flag it critical
    assert codes(rules.critical_lab(result(labs=[lab("K", 6.1, "H", "mmol/L")]), None)) == ["critical_lab"]
    assert codes(rules.critical_lab(result(labs=[lab("INR", 6.8, "H")]), None)) == ["critical_lab"]
    assert codes(rules.critical_lab(result(labs=[lab("Troponin I, hs", 2450, "H", "ng/L", ref_high=34)]), None)) \
        == ["critical_lab"]
    near = [lab("Potassium", 5.9, "H", "mmol/L"), lab("Sodium", 134, "L", "mmol/L"), lab("INR", 3.1, "H"),
            lab("Glucose", 186, "H", "mg/dL"), lab("Hemoglobin A1c", 8.4, "H", "%"), lab("Hemoglobin", 10.9, "L", "g/dL"),
            lab("Troponin I, hs", 60, "H", "ng/L", ref_high=34), lab("eGFR", ">60", "N")]
    assert rules.critical_lab(result(labs=near), None) == []


def test_abnormal_lab_unaddressed():
    labs = [lab("WBC", 15.8, "H"), lab("Hemoglobin", 10.9, "L"), lab("Hemoglobin A1c", 8.4, "H"),
            lab("LDL cholesterol", 131, "H"), lab("Free T4", 0.7, "L"), lab("Sodium", 139, "N")]
    said = "White count fifteen point eight. Hemoglobin A1c is eight point four. Free T four is low. LDL is high."
    issues = rules.abnormal_lab_unaddressed(result(labs=labs, text=said), None)
    assert [i.field for i in issues] == ["labs[1]"]  # only hemoglobin: "hemoglobin A1c" is another test
    assert "Hemoglobin" in issues[0].message
    # mentioned only in the note's plan also counts
    r = result(labs=[lab("Hemoglobin", 10.9, "L")], text="",
               sections={**FULL, "plan": "Recheck hemoglobin in one week."})
    assert rules.abnormal_lab_unaddressed(r, None) == []


def test_an_unmentioned_critical_value_is_one_alert_not_two():
    # the report flags troponin critical and the dictation garbles its name: critical_lab already
    # demands it be acted on and documented, so abnormal_lab_unaddressed stays quiet for that row
    labs = [lab("Troponin I, hs", 2450, "HH", "ng/L", ref_high=34), lab("Potassium", 5.6, "H", "mmol/L")]
    r = result(labs=labs, text="high sensitivity drop on it critically elevated.")
    assert codes(rules.critical_lab(r, None)) == ["critical_lab"]
    assert [i.field for i in rules.abnormal_lab_unaddressed(r, None)] == ["labs[1]"]


def test_abnormal_lab_read_out_with_a_garbled_name_counts_as_addressed():
    # tiny.en wrote these; the clinician clearly read the results out
    said = "hemoglobin 81C 8.4 percent. bu and 38 and create a 9.1.9. tropin 2,450."
    labs = [lab("Hemoglobin A1c", 8.4, "H", "%"), lab("BUN", 38, "H", "mg/dL"), lab("Creatinine", 1.9, "H", "mg/dL"),
            lab("Troponin I, hs", 2450, "H", "ng/L")]
    assert rules.abnormal_lab_unaddressed(result(labs=labs, text=said), None) == []


def test_a_short_number_elsewhere_does_not_address_a_lab():
    # "38" is an age here, not the BUN: the warning must stay
    said = "38 year old man with cough. Plan: rest."
    issues = rules.abnormal_lab_unaddressed(result(labs=[lab("BUN", 38, "H", "mg/dL")], text=said), None)
    assert [i.code for i in issues] == ["abnormal_lab_unaddressed"]


def test_ecg_abnormal():
    src = Evidence(source="ecg.png")
    bad = [EcgFinding(rhythm="atrial_fibrillation", heart_rate_bpm=84, source=src),
           EcgFinding(rhythm="sinus_rhythm", heart_rate_bpm=70, qtc_ms=520, source=src),
           EcgFinding(rhythm="sinus_bradycardia", heart_rate_bpm=35, source=src)]
    assert codes(rules.ecg_abnormal(result(ecg=bad), None)) == ["ecg_abnormal"] * 3
    ok = [EcgFinding(rhythm="sinus_bradycardia", heart_rate_bpm=53, qtc_ms=480, source=src),
          EcgFinding(rhythm="sinus_tachycardia", heart_rate_bpm=150, source=src)]
    assert rules.ecg_abnormal(result(ecg=ok), None) == []


# ---- identity

JANE = Patient(name="Jane Roe", mrn="00123456", birth_date="1956-03-02")


def test_patient_mismatch_dicom():
    other = ImageArtifact(file="cxr.dcm", kind="xray",
                          dicom={"PatientName": "WALSH^BRIAN", "PatientID": "40933871", "PatientBirthDate": "19750212"})
    issues = rules.patient_mismatch(result(images=[other]), JANE)
    assert codes(issues) == ["patient_mismatch"] and issues[0].severity == "error"
    assert "WALSH^BRIAN" in issues[0].message and issues[0].field == "images[0].dicom"
    # same name, other birth date is still another patient
    dob = ImageArtifact(file="cxr.dcm", kind="xray", dicom={"PatientName": "ROE^JANE", "PatientBirthDate": "19560304"})
    assert codes(rules.patient_mismatch(result(images=[dob]), JANE)) == ["patient_mismatch"]


def test_patient_match_dicom_variants():
    same = [ImageArtifact(file="a.dcm", dicom={"PatientName": "ROE^JANE", "PatientID": "123456",
                                                  "PatientBirthDate": "19560302"}),
            ImageArtifact(file="b.dcm", dicom={"PatientName": "Roe^J^^^", "PatientID": "", "PatientBirthDate": ""}),
            ImageArtifact(file="c.dcm", dicom={"Modality": "CR"})]
    assert rules.patient_mismatch(result(images=same), JANE) == []
    assert rules.patient_mismatch(result(images=same), Patient(name="roe, jane")) == []


def test_patient_mismatch_printed_report():
    report = ImageArtifact(file="labs.png", kind="lab_report", patient={"name": "John Smith", "mrn": "123456"})
    assert codes(rules.patient_mismatch(result(images=[report]), JANE)) == ["patient_mismatch"]
    ok = ImageArtifact(file="labs.png", kind="lab_report", patient={"name": "JANE ROE", "dob": "03/02/1956"})
    assert rules.patient_mismatch(result(images=[ok]), JANE) == []


# ---- completeness and support

def test_missing_section():
    issues = rules.missing_section(result(sections={**FULL, "plan": "  "}), None)
    assert codes(issues) == ["missing_section"] and issues[0].field == "note.sections.plan"
    assert rules.missing_section(result(), None) == []


def test_unsupported_claim():
    said = "Start metoprolol tartrate twenty-five milligrams twice daily. Assessment: atrial fibrillation."
    bad = result(text=said, meds=[med("metoprolol", 50, freq="BID"), med("apixaban", 5, freq="BID")],
                 dx=[Diagnosis(text="pulmonary embolism", icd10="I26.99")])
    issues = rules.unsupported_claim(bad, Patient(medications=["lisinopril 20 mg daily"]))
    assert [i.field for i in issues] == ["note.medications[0].dose", "note.medications[1].name", "note.diagnoses[0]"]
    good = result(text=said, meds=[med("metoprolol", 25, freq="BID"), med("lisinopril", 20)],
                  dx=[Diagnosis(text="atrial fibrillation", icd10="I48.91")])
    assert rules.unsupported_claim(good, Patient(medications=["lisinopril 20 mg daily"])) == []


def test_unreadable_input():
    issues = rules.unreadable_input(result(images=[ImageArtifact(file="x.png", error="cannot decode")]), None)
    assert codes(issues) == ["unreadable_input"] and "x.png" in issues[0].message
    assert rules.unreadable_input(result(images=[ImageArtifact(file="x.png")]), None) == []


def test_validate_runs_every_rule_fast():
    r = result(meds=[med("metoprolol", 2500, freq="BID"), med("amoxicillin", 500, freq="TID")],
               dx=[Diagnosis(text="atrial fibrillation", icd10="I48")], labs=[lab("Potassium", 6.4, "HH")],
               text="metoprolol twenty-five hundred, amoxicillin five hundred, potassium six point four",
               patient=Patient(allergies=["penicillin"]))
    found = set(codes(validate(r)))
    assert {"dose_out_of_range", "allergy_conflict", "critical_lab", "non_billable_icd10"} <= found
    assert "unsupported_claim" in codes(validate(r, transcript_text="nothing said"))
    t = time.perf_counter()
    for _ in range(10):
        validate(r)
    assert (time.perf_counter() - t) / 10 < 0.05


# ---- QT-prolonging drugs with a long QTc; weakly heard medications

def _ecg(qtc):
    return EcgFinding(rhythm="sinus_rhythm", heart_rate_bpm=70, qtc_ms=qtc, source=Evidence(source="ecg.png"))


def test_qt_prolonging_drug_with_long_qtc_is_flagged():
    issues = rules.ecg_abnormal(result(meds=[med("azithromycin", 500)], ecg=[_ecg(488)]), None)
    assert [(i.code, i.field) for i in issues] == [("ecg_abnormal", "note.medications[0].name")]
    assert "488" in issues[0].message


def test_qt_checks_stay_quiet_below_470_or_for_other_drugs():
    assert rules.ecg_abnormal(result(meds=[med("azithromycin", 500)], ecg=[_ecg(460)]), None) == []
    assert rules.ecg_abnormal(result(meds=[med("amoxicillin", 500)], ecg=[_ecg(488)]), None) == []
    # two QT-prolonging drugs are not one class: no duplicate warning
    assert rules.duplicate_medication(result(meds=[med("azithromycin", 500), med("ondansetron", 4)]), None) == []


def _heard(prob, original=None):
    from clinidoc.encounter import Segment, Word

    extra = {"original": original} if original else {}
    words = [Word(start=10.0, end=10.5, word="metoprolol", probability=prob, **extra),
             Word(start=10.5, end=10.8, word="25", probability=0.95),
             Word(start=10.8, end=11.2, word="milligrams", probability=0.97)]
    text = "metoprolol 25 milligrams"
    m = Medication(name="metoprolol", dose=25, unit="mg", evidence=[Evidence(source="transcript", start=10.0, end=11.2)])
    r = result(meds=[m], text=text)
    r.transcript.segments = [Segment(start=10.0, end=11.2, text=text, words=words)]
    return r


def test_weakly_heard_or_corrected_medication_asks_for_a_listen():
    issues = rules.low_confidence_transcript(_heard(0.21), None)
    assert [(i.code, i.field) for i in issues] == [("low_confidence_transcript", "note.medications[0]")]
    assert "0:10" in issues[0].message and "0.21" in issues[0].message
    snapped = rules.low_confidence_transcript(_heard(0.9, original="metapralol"), None)
    assert "metapralol" in snapped[0].message


def test_clearly_heard_medication_gives_no_low_confidence_warning():
    assert rules.low_confidence_transcript(_heard(0.88), None) == []
